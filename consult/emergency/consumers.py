"""Websockets of emergency cases: the crew's uplink and the command board.

Crew (``/ws/emergency/crew/<case_id>/``): the lossless uplink. ``hello``
resumes a stream, ``batch``/``batches`` ingest, and the ``ack`` is sent only
after the ingest transaction has committed. A device may authenticate with
``Authorization: Token <key>`` instead of a session cookie.

Board (``/ws/emergency/board/``): live summaries of every inbound case of the
user's hospital, and waveforms of the cases it ``subscribe``s to.

Both refuse by accepting and closing (4401/4403), so browsers see the code,
and both outlive a channel-layer outage: when Redis is back they re-join
their groups and send ``resync`` (see README.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, ClassVar

from channels.db import aclose_old_connections, database_sync_to_async
from django.db import DatabaseError

from consult.emergency import (
    events,
    group_commit,
    ingest,
    ingest_queue,
    schemas,
    selectors,
    services,
)
from consult.exceptions import AccessBlocked, NotFound, PermissionDenied
from consult.records.context import AccessContext
from consult.ws import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    Message,
    ValidatedJsonConsumer,
)

logger = logging.getLogger(__name__)
MAX_FOCUSED_CASES = 6


def _pong(message: schemas.Ping) -> dict[str, Any]:
    return {"type": "pong", "t0": message.t0, "server_ms": time.time() * 1000}


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


class _EmergencyConsumer(ValidatedJsonConsumer):
    """Shared: the access context and the event forwarders."""

    # Ingest and acks never need the layer, and both clients catch up on resync.
    survives_layer_outage = True

    def ctx(self) -> AccessContext:
        """Where this socket's accesses come from, for the audit trail."""
        client = self.scope.get("client") or [""]
        return AccessContext(
            channel="websocket",
            ip=str(client[0] or "")[:45],
            user_agent=_header(self.scope, b"user-agent")[:200],
        )

    async def disconnect(self, code: int) -> None:
        """Leave every group (no zombie memberships)."""
        await self.leave_groups()
        token_task = getattr(self, "_token_task", None)
        if token_task is not None:
            token_task.cancel()

    async def on_ping(self, message: schemas.Ping) -> None:
        """Heartbeat: refresh group memberships (their expiry) and answer."""
        await self.refresh_groups()
        await self.send_json(_pong(message))

    async def on_layer_restored(self) -> None:
        """Live events may have been lost: the client reloads and backfills by seq."""
        await self.send_json({"type": "resync", "reason": "layer_restored"})

    async def emergency_case(self, event: dict[str, Any]) -> None:
        """A case changed: its new summary."""
        await self.send_json({"type": "case", "case": event["case"]})

    async def emergency_vitals(self, event: dict[str, Any]) -> None:
        """The server's NEWS2 of the crew's case changed (with the numerics)."""
        await self.send_json({**event, "type": "vitals"})

    async def emergency_location(self, event: dict[str, Any]) -> None:
        """A new position and ETA."""
        await self.send_json({**event, "type": "location"})


class CrewConsumer(_EmergencyConsumer):
    """The crew's phone or monitor: vitals uplink, location, the hospital's answer."""

    # 4 waveform batches/s per stream, numerics at 1/s, location and pings,
    # with room for an outbox flush after a dead zone.
    rate_per_second = 20.0
    burst = 80
    max_message_bytes = 200 * 1024
    token_recheck_seconds: ClassVar[float] = 60.0
    schemas: ClassVar[dict[str, type[Message]]] = {
        "hello": schemas.Hello,
        "batch": schemas.Batch,
        "batches": schemas.Batches,
        "location": schemas.Location,
        "ping": schemas.Ping,
    }

    async def connect(self) -> None:
        """Paramedics of the case's own crew only (4401 / 4403 otherwise)."""
        user = self.scope.get("user")
        raw_token = ""
        if user is None or not user.is_authenticated:
            keyword, _, raw_token = _header(self.scope, b"authorization").partition(" ")
            user = None
            if keyword.lower() == "token" and raw_token:
                user = await database_sync_to_async(selectors.device_user)(raw_token)
            if user is None:
                await self.refuse(CLOSE_UNAUTHENTICATED)
                return
            # The session re-check does not apply; the token is re-checked instead.
            self.requires_user = False
        self.user = user
        self.case_id = str(self.scope["url_route"]["kwargs"]["case_id"])
        try:
            summary = await database_sync_to_async(services.crew_session_open)(
                actor=user, case_id=self.case_id, ctx=self.ctx()
            )
        except (NotFound, PermissionDenied, AccessBlocked):
            await self.refuse(CLOSE_FORBIDDEN)
            return
        await self.join_groups(events.case_group(self.case_id))
        await self.accept()
        if raw_token:
            self._token_task = asyncio.create_task(self._recheck_token(raw_token))
        await self.send_json({"type": "case", "case": summary})

    async def _recheck_token(self, raw: str) -> None:
        try:
            while True:
                await asyncio.sleep(self.token_recheck_seconds)
                await aclose_old_connections()
                user = await database_sync_to_async(selectors.device_user)(raw)
                if user is None or user.pk != self.user.pk:
                    await self.close(code=CLOSE_UNAUTHENTICATED)
                    return
        except asyncio.CancelledError:
            return
        except Exception:
            logger.exception("device token re-check failed")

    async def on_hello(self, message: schemas.Hello) -> None:
        """Resume: say how far the stream is stored; the device resends the rest."""
        state = await database_sync_to_async(ingest.stream_state)(
            actor=self.user,
            case_id=self.case_id,
            device_id=message.device,
            stream_id=message.stream,
        )
        await self.send_json({**state.message(), "type": "state"})

    async def _ingest(self, batches: list[ingest.BatchIn]) -> None:
        submission = group_commit.Submission(
            self.user, self.case_id, batches, self.ctx()
        )
        try:
            # Stored together with the other sockets' batches of this process.
            result = await ingest_queue.queue_for_loop().submit(submission)
        except DatabaseError:
            # Nothing was committed, so nothing is acknowledged: the device
            # keeps the batches and sends them again.
            logger.warning("vitals ingest failed; not acknowledged", exc_info=True)
            await self.send_error("ingest_failed", "Not stored; send again later.")
            return
        for error in result.errors:
            await self.send_error(
                error["code"],
                "Batch refused.",
                stream=error["stream"],
                seq=error["seq"],
            )
        for ack in result.acks:
            await self.send_json(ack.message())

    async def on_batch(self, message: schemas.Batch) -> None:
        """One batch: ingest, then ack after the commit."""
        await self._ingest([schemas.batch_in(message)])

    async def on_batches(self, message: schemas.Batches) -> None:
        """Several batches (an outbox flush) in one transaction."""
        await self._ingest([schemas.batch_in(item) for item in message.items])

    async def on_location(self, message: schemas.Location) -> None:
        """A position: store it and answer with the ETA."""
        result = await database_sync_to_async(services.location_record)(
            actor=self.user,
            case_id=self.case_id,
            lat=message.lat,
            lon=message.lon,
            at=schemas.epoch_ms(message.at),
            accuracy_m=message.accuracy_m,
            speed_mps=message.speed_mps,
            heading=message.heading,
        )
        await self.send_json({**result, "type": "eta"})


class BoardConsumer(_EmergencyConsumer):
    """A hospital's command board: every inbound case, live; waveforms on demand."""

    rate_per_second = 10.0
    burst = 30
    schemas: ClassVar[dict[str, type[Message]]] = {
        "subscribe": schemas.Subscribe,
        "unsubscribe": schemas.Unsubscribe,
        "ping": schemas.Ping,
    }

    async def connect(self) -> None:
        """Hospital operators and clinicians (4401 / 4403 otherwise)."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        try:
            hospital_id = await database_sync_to_async(services.board_open)(actor=user)
        except PermissionDenied:
            await self.refuse(CLOSE_FORBIDDEN)
            return
        self.user, self.hospital_id = user, hospital_id
        self.focused: set[str] = set()
        await self.join_groups(
            events.board_group(hospital_id), events.user_group(user.pk)
        )
        await self.accept()
        await self.send_json(
            {"type": "ready", "hospital": hospital_id, "server_ms": time.time() * 1000}
        )

    async def on_subscribe(self, message: schemas.Subscribe) -> None:
        """Open a case's waveforms: gated and audited as a patient subscription."""
        case_id = str(message.case)
        if case_id not in self.focused and len(self.focused) >= MAX_FOCUSED_CASES:
            await self.send_error(
                "too_many_subscriptions", f"At most {MAX_FOCUSED_CASES} open cases."
            )
            return
        summary = await database_sync_to_async(services.case_subscribe)(
            actor=self.user, case_id=case_id, ctx=self.ctx()
        )
        self.focused.add(case_id)
        await self.send_json(
            {"type": "subscribed", "case": case_id, "streams": summary["streams"]}
        )

    async def on_unsubscribe(self, message: schemas.Unsubscribe) -> None:
        """Close a case's waveforms."""
        case_id = str(message.case)
        self.focused.discard(case_id)
        await self.send_json({"type": "unsubscribed", "case": case_id})

    async def emergency_feed(self, event: dict[str, Any]) -> None:
        """A committed ingest flush: every numerics set, the opened cases' waveforms."""
        for item in event["events"]:
            if item["type"] == "vitals" or item["case"] in self.focused:
                await self.send_json(item)

    async def emergency_team_alert(self, event: dict[str, Any]) -> None:
        """This user's team was activated for a case."""
        await self.send_json({**event, "type": "team_alert"})
