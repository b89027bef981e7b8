"""Keys that seal a crew phone's vitals outbox at rest (its IndexedDB).

The phone must keep unsent vitals through dead zones and reloads, so they sit
in IndexedDB; a lost phone must not give them away. Each record is sealed
with AES-256-GCM under a key the server derives and never stores:

    key = HMAC-SHA256(SHA-256(salt + SECRET_KEY), "<user id>:<device id>")

(Django's ``salted_hmac`` with its own salt, so no other use of the secret
yields the same bytes). The page fetches it for the signed-in paramedic and
the phone's device id, imports it as a non-extractable ``CryptoKey`` and keeps
it in memory only; the stored outbox alone (a lost phone) reveals no vitals.
The same user and device get the same key after a reload or a new session,
so nothing written during an outage becomes unreadable. One key per entry of
``SECRET_KEY_FALLBACKS`` is also returned, so records sealed before a secret
rotation still open; ``kid`` names the key a record was sealed with.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

from consult.emergency.selectors import require_crew
from consult.exceptions import ConsultError

SALT = "consult.emergency.outbox.v1"
DEVICE_ID = re.compile(r"^[\w.:-]{1,64}$")


def _key(secret: str, user_id: int, device_id: str) -> bytes:
    return salted_hmac(
        SALT, f"{user_id}:{device_id}", secret=secret, algorithm="sha256"
    ).digest()


def outbox_keys(*, actor: Any, device_id: str) -> list[dict[str, str]]:
    """The actor's outbox keys for this device, current first (base64, with kid).

    Crew only (``PermissionDenied`` otherwise); ``invalid_device`` for a
    device id that is not ``[\\w.:-]{1,64}``.
    """
    require_crew(actor)
    if not DEVICE_ID.match(device_id):
        raise ConsultError("Unknown device id.", code="invalid_device")
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    keys = []
    for secret in secrets:
        key = _key(secret, actor.pk, device_id)
        keys.append(
            {
                # Names the key without revealing it (domain-separated hash).
                "kid": hashlib.sha256(b"outbox-kid:" + key).hexdigest()[:16],
                "key": base64.b64encode(key).decode("ascii"),
            }
        )
    return keys
