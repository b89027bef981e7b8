"""ICE servers for browsers and media workers, with short-lived TURN credentials.

TURN uses the TURN REST API scheme (draft-uberti-behave-turn-rest, coturn's
``use-auth-secret``): ``username = "<expiry unix time>:<user key>"`` and
``credential = base64(HMAC-SHA1(shared secret, username))``. The TURN server
checks the HMAC and the expiry itself; nothing is stored. The user key is never
a secret: a session key is hashed before it goes into a username, because TURN
usernames travel in clear in STUN messages and server logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from django.conf import settings

WORKER_USER_KEY = "media-worker"


def turn_credentials(
    user_key: str, *, secret: str, ttl_s: int, now: float | None = None
) -> tuple[str, str]:
    """``(username, credential)`` valid for ``ttl_s`` seconds from ``now``."""
    expiry = int(time.time() if now is None else now) + ttl_s
    username = f"{expiry}:{user_key}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def user_key(user_or_session_key: Any) -> str:
    """A stable, non-secret key: a user's id, or a digest of a session key."""
    pk = getattr(user_or_session_key, "pk", None)
    if pk is not None:
        return str(pk)
    if isinstance(user_or_session_key, int):
        return str(user_or_session_key)
    digest = hashlib.sha256(str(user_or_session_key).encode()).hexdigest()
    return f"s-{digest[:16]}"


def turn_enabled() -> bool:
    """TURN is on when TURN_URLS is set (the E002 check makes the secret mandatory)."""
    return bool(settings.TURN_URLS)


def ice_servers_for(user_or_session_key: Any) -> list[dict[str, Any]]:
    """``RTCConfiguration.iceServers`` for a browser (a user, or a session key)."""
    return _ice_servers(user_key(user_or_session_key))


def _ice_servers(key: str) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    if settings.WEBRTC_STUN_URLS:
        servers.append({"urls": list(settings.WEBRTC_STUN_URLS)})
    if turn_enabled():
        username, credential = turn_credentials(
            key,
            secret=settings.TURN_SHARED_SECRET,
            ttl_s=settings.TURN_CREDENTIAL_TTL,
        )
        servers.append(
            {
                "urls": list(settings.TURN_URLS),
                "username": username,
                "credential": credential,
            }
        )
    return servers


def _aiortc_servers() -> list[Any]:
    from aiortc import RTCIceServer

    return [
        RTCIceServer(
            urls=server["urls"],
            username=server.get("username"),
            credential=server.get("credential"),
        )
        for server in _ice_servers(WORKER_USER_KEY)
    ]


def rtc_configuration() -> Any:
    """An aiortc ``RTCConfiguration`` for a media worker.

    A worker lives for days, far longer than a TURN credential, so the returned
    configuration mints fresh credentials each time a peer connection reads its
    ``iceServers`` (aiortc reads them when it creates an ICE gatherer).
    """
    from aiortc import RTCConfiguration

    class _FreshCredentials(RTCConfiguration):
        @property  # type: ignore[misc]
        def iceServers(self) -> list[Any]:  # noqa: N802  (aiortc's name)
            return _aiortc_servers()

        @iceServers.setter
        def iceServers(self, value: Any) -> None:  # noqa: N802
            pass

    return _FreshCredentials()
