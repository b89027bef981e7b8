"""System checks of the media settings (``manage.py check``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

MODES = ("embedded", "external")


@register()
def turn_configured(app_configs: Any, **kwargs: Any) -> list[Error]:
    """consult.E002: TURN is enabled by TURN_URLS and then needs its secret."""
    urls, secret = settings.TURN_URLS, settings.TURN_SHARED_SECRET
    if bool(urls) == bool(secret):
        return []
    missing = "TURN_SHARED_SECRET" if urls else "TURN_URLS"
    return [
        Error(
            f"TURN is half configured: {missing} is missing.",
            hint=(
                "Set both TURN_URLS (e.g. turn:turn.example.org:3478?transport=udp)"
                " and TURN_SHARED_SECRET (the TURN server's static-auth-secret),"
                " or neither on a LAN."
            ),
            id="consult.E002",
        )
    ]


@register()
def media_workers_mode(app_configs: Any, **kwargs: Any) -> list[Error]:
    """consult.E020 / E021: MEDIA_WORKERS is known, and external workers need Redis."""
    mode = settings.MEDIA_WORKERS
    if mode not in MODES:
        return [
            Error(
                f"MEDIA_WORKERS is {mode!r}.",
                hint='Use "embedded" (one process) or "external" (media_worker).',
                id="consult.E020",
            )
        ]
    if mode == "external" and not settings.REDIS_URL:
        return [
            Error(
                "MEDIA_WORKERS=external needs a shared Redis.",
                hint="Set REDIS_URL for the web processes and the media workers.",
                id="consult.E021",
            )
        ]
    return []
