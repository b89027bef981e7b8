"""The base of every websocket consumer: validation, limits, errors, re-authentication.

Messages are JSON objects ``{"type": "...", ...}``. Each type has a pydantic
schema; anything malformed, unknown, oversized or too frequent gets
``{"type": "error", "code": ..., "detail": ...}`` and the socket stays up.
Handlers are ``on_<type>`` methods (dots become underscores) and receive the
validated model. A ``ConsultError`` raised by a handler becomes an error
reply with its code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, ClassVar

from channels.auth import get_user
from channels.db import aclose_old_connections
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from pydantic import BaseModel, ConfigDict, ValidationError

from consult.exceptions import ConsultError

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_POLICY = 1008


class Message(BaseModel):
    """Base schema of an inbound message: strict, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str


class TokenBucket:
    """``rate`` messages per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class ValidatedJsonConsumer(AsyncJsonWebsocketConsumer):
    """A JSON consumer whose every inbound message is checked before dispatch."""

    schemas: ClassVar[dict[str, type[Message]]] = {}
    max_message_bytes: ClassVar[int] = 64 * 1024
    rate_per_second: ClassVar[float] = 20.0
    burst: ClassVar[int] = 40
    # Close after this many rate-limit violations in a row (abuse, not a blip).
    max_violations: ClassVar[int] = 50
    # How often the session is re-checked; a logged-out user is disconnected.
    recheck_seconds: ClassVar[float] = 60.0
    requires_user: ClassVar[bool] = True

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        """Set up limits and the re-authentication task, then call ``connect``."""
        self._bucket = TokenBucket(self.rate_per_second, self.burst)
        self._violations = 0
        self._recheck: asyncio.Task[None] | None = None
        await super().websocket_connect(message)

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Accept, and start re-checking the session for user sockets."""
        await super().accept(subprotocol, headers)
        if self.requires_user:
            self._recheck = asyncio.create_task(self._recheck_user())

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Stop background work before the subclass's ``disconnect``."""
        if getattr(self, "_recheck", None) is not None:
            self._recheck.cancel()
        await super().websocket_disconnect(message)

    async def _recheck_user(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.recheck_seconds)
                await aclose_old_connections()
                user = await get_user(self.scope)
                if not user.is_authenticated or user.pk != self.scope["user"].pk:
                    logger.info("closing socket of a signed-out session")
                    await self.close(code=CLOSE_UNAUTHENTICATED)
                    return
        except asyncio.CancelledError:
            return
        except Exception:
            logger.exception("session re-check failed")

    async def refuse(self, code: int) -> None:
        """Accept, then close with ``code``: a browser sees 4401/4403 and can stop.

        Closing before the handshake completes reaches browsers as a bare
        1006 (the server answers the upgrade with HTTP 403), which a client
        cannot tell from a network failure, so it would retry for ever.
        """
        await super().accept()
        await self.close(code=code)

    async def send_error(self, code: str, detail: str = "", **extra: Any) -> None:
        """Reply with a stable error code; the socket stays up."""
        await self.send_json({"type": "error", "code": code, "detail": detail, **extra})

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        """Validate and dispatch one frame."""
        if text_data is None:
            await self.send_error("binary_not_supported", "Send JSON text frames.")
            return
        if len(text_data.encode()) > self.max_message_bytes:
            await self.send_error(
                "message_too_large", f"At most {self.max_message_bytes} bytes."
            )
            return
        if not self._bucket.take():
            self._violations += 1
            if self._violations >= self.max_violations:
                await self.close(code=CLOSE_POLICY)
                return
            await self.send_error("rate_limited", "Too many messages; slow down.")
            return
        self._violations = 0
        try:
            content = json.loads(text_data, parse_constant=_refuse_constant)
        except ValueError:
            await self.send_error("malformed_json", "Not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Check the envelope and the type's schema, then call ``on_<type>``."""
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error("malformed_message", 'Expected {"type": "...", ...}.')
            return
        kind = content["type"]
        schema = self.schemas.get(kind)
        if schema is None:
            await self.send_error(
                "unknown_type", f"Unknown message type {kind[:40]!r}."
            )
            return
        try:
            message = schema.model_validate(content)
        except ValidationError as exc:
            fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
            await self.send_error(
                "invalid_message", "Invalid fields.", fields=fields[:10]
            )
            return
        handler = getattr(self, "on_" + kind.replace(".", "_"))
        try:
            await handler(message)
        except ConsultError as exc:
            await self.send_error(exc.code, exc.message, **{"for": kind})


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
