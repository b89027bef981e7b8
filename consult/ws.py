"""The base of every websocket consumer: validation, limits, errors, re-authentication.

Messages are JSON objects ``{"type": "...", ...}``. Each type has a pydantic
schema; anything malformed, unknown, oversized or too frequent gets
``{"type": "error", "code": ..., "detail": ...}`` and the socket stays up.
Handlers are ``on_<type>`` methods (dots become underscores) and receive the
validated model. A ``ConsultError`` raised by a handler becomes an error
reply with its code.

For consumers that set ``survives_layer_outage``, a channel-layer outage
(Redis down or restarted) never ends a socket: the layer receive waits it
out, groups joined through ``join_groups`` are re-joined when the layer is
back (``consult.layer_watch``), and ``on_layer_restored`` lets the consumer
tell its client to resync.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import time
from typing import Any, ClassVar

from channels.auth import get_user
from channels.consumer import get_handler_name
from channels.db import aclose_old_connections
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from pydantic import BaseModel, ConfigDict, ValidationError

from consult import layer_watch
from consult.exceptions import ConsultError
from consult.layer_watch import LAYER_ERRORS

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_POLICY = 1008
#: The same participant opened the socket again (another window or device).
CLOSE_SUPERSEDED = 4409


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

    # Consumers that join through ``join_groups`` and tell their client to
    # resync set this: a layer outage then keeps their sockets up. Others keep
    # Channels' behaviour (the socket ends, the client reconnects and re-joins),
    # since nothing would restore the groups they joined themselves.
    survives_layer_outage: ClassVar[bool] = False
    # Set when a layer call failed: the watch re-joins this consumer's groups.
    layer_stale: bool = False
    # Resyncs after an outage are spread over this many seconds, so a restart
    # does not send every client's reload and backfill at the same instant.
    resync_spread_s: ClassVar[float] = 2.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' ``AsyncConsumer.__call__`` (4.3), outage-proof layer receive.

        Channels dispatches ``channel_layer.receive`` straight into the
        consumer, so one Redis error raised there would end the socket.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        self.groups_joined: list[str] = []
        self._watch: layer_watch.LayerWatch | None = None
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(
                self.channel_layer.receive, self.channel_name
            )
            sources.append(self._layer_receive)
        try:
            await await_many_dispatch(sources, self.dispatch)
        except StopConsumer:
            pass
        finally:
            if self._watch is not None:
                self._watch.discard(self)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' ``AsyncConsumer.dispatch`` (4.3) without its thread hop.

        Channels runs ``aclose_old_connections`` before every handler: a trip
        to the process's one sync thread for each frame and each channel-layer
        event, which under load (200 ambulances, 1,000 batches a second) was a
        fifth of a web process's CPU and a queue every socket waited in. Our
        consumers reach the database only through ``database_sync_to_async``,
        which closes stale connections before and after each call on the
        thread that owns them, so the extra trip bought nothing.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def _layer_receive(self) -> dict[str, Any]:
        """The next channel-layer event; a layer outage is waited out, not fatal."""
        pause = 0.25
        while True:
            try:
                return await self.channel_receive()
            except LAYER_ERRORS as exc:
                if not self.survives_layer_outage:
                    raise
                logger.info("channel layer receive failed: %s", type(exc).__name__)
                self._layer_trouble()
            await asyncio.sleep(pause)
            pause = min(2.0, pause * 2)

    def _layer_trouble(self) -> None:
        self.layer_stale = True
        if self._watch is not None:
            self._watch.trouble()

    async def join_groups(self, *groups: str) -> None:
        """Join groups now, and again whenever the channel layer comes back.

        If the layer is down the socket still opens: it has no live events
        until the watch restores its groups and ``on_layer_restored`` runs.
        """
        self.groups_joined += [g for g in groups if g not in self.groups_joined]
        if self._watch is None:
            self._watch = layer_watch.watch_for(self.channel_layer)
            if self._watch is not None:
                self._watch.add(self)
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
        except LAYER_ERRORS:
            logger.warning("channel layer down: groups re-joined when it is back")
            self._layer_trouble()

    async def leave_group(self, group: str) -> None:
        """Leave one group (a layer outage forgets the membership anyway)."""
        if group in self.groups_joined:
            self.groups_joined.remove(group)
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except LAYER_ERRORS:
            self._layer_trouble()

    async def leave_groups(self) -> None:
        """Leave every group this socket joined (on disconnect)."""
        for group in list(self.groups_joined):
            await self.leave_group(group)

    async def send_to_group(self, group: str, event: dict[str, Any]) -> None:
        """Send a live event; while the layer is down it is lost, not fatal
        (clients catch up after the resync)."""
        try:
            await self.channel_layer.group_send(group, event)
        except LAYER_ERRORS:
            self._layer_trouble()

    async def refresh_groups(self) -> None:
        """Re-add every group, which pushes back its expiry (heartbeats)."""
        try:
            for group in self.groups_joined:
                await self.channel_layer.group_add(group, self.channel_name)
        except LAYER_ERRORS:
            self._layer_trouble()

    async def layer_restored(self) -> None:
        """From the layer watch: re-join every group, then ``on_layer_restored``."""
        if getattr(self, "_closed", False):
            return
        for group in list(self.groups_joined):
            await self.channel_layer.group_add(group, self.channel_name)
        # Live events flow again from here; the catch-up is spread out.
        await asyncio.sleep(random.uniform(0, self.resync_spread_s))  # noqa: S311
        # Before the accept nothing may be sent, and the client loads afresh anyway.
        if getattr(self, "_accepted", False) and not getattr(self, "_closed", False):
            await self.on_layer_restored()

    async def on_layer_restored(self) -> None:
        """Hook: the layer was down or restarted, so live events may be missing."""

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        """Set up limits and the re-authentication task, then call ``connect``."""
        self._bucket = TokenBucket(self.rate_per_second, self.burst)
        self._violations = 0
        self._recheck: asyncio.Task[None] | None = None
        await super().websocket_connect(message)

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Accept, and start re-checking the session for user sockets."""
        await super().accept(subprotocol, headers)
        self._accepted = True
        if self.requires_user:
            self._recheck = asyncio.create_task(self._recheck_user())

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Stop background work before the subclass's ``disconnect``."""
        self._closed = True
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

    @property
    def closing(self) -> bool:
        """Whether this socket was closed (by either side): nothing more goes out."""
        return getattr(self, "_closing", False) or getattr(self, "_closed", False)

    async def close(
        self, code: int | bool | None = None, reason: str | None = None
    ) -> None:
        """Close once; later sends are dropped (an ASGI server raises on them)."""
        if self.closing:
            return
        self._closing = True
        await super().close(code=code, reason=reason)

    async def send(
        self,
        text_data: str | None = None,
        bytes_data: bytes | None = None,
        close: bool = False,
    ) -> None:
        """Send unless closed: an event that races a close is dropped, not fatal."""
        if self.closing:
            return
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

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
