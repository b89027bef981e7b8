"""Where an access came from, carried into every audit event."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest


@dataclass(frozen=True, slots=True)
class AccessContext:
    """The channel (api, page, admin, websocket, command) and the client's address."""

    channel: str
    ip: str = ""
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest, *, channel: str) -> AccessContext:
        """Build from a request. REMOTE_ADDR is trusted; the proxy must set it."""
        return cls(
            channel=channel,
            ip=request.META.get("REMOTE_ADDR", "")[:45],
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:200],
        )


SYSTEM = AccessContext(channel="system")
COMMAND = AccessContext(channel="command")
