"""System checks with stable ids (``manage.py check``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from consult.records import crypto


@register(deploy=True)
def in_memory_layer_in_production(app_configs: Any, **kwargs: Any) -> list[Error]:
    """consult.E001: the in-memory channel layer cannot serve several processes."""
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if not settings.DEBUG and backend.endswith("InMemoryChannelLayer"):
        return [
            Error(
                "The in-memory channel layer is in use with DEBUG off.",
                hint="Set REDIS_URL so web and media workers share a channel layer.",
                id="consult.E001",
            )
        ]
    return []


@register()
def phi_keys_valid(app_configs: Any, **kwargs: Any) -> list[Error]:
    """consult.E003: PHI_KEYS must parse into 32-byte keys."""
    try:
        crypto.KeyRing.parse(settings.PHI_KEYS)
    except Exception as exc:  # noqa: BLE001  (reported as a check error)
        return [
            Error(
                f"PHI_KEYS is invalid: {exc}",
                hint="Format: kid:base64(32 bytes),...",
                id="consult.E003",
            )
        ]
    return []
