"""The guidance websocket: annotations, the live composite, questions, watching.

One socket per page of an operation (``/ws/guidance/<operation id>/``). Staff
(surgeon, mentors, moderator) get the annotation log with sequence numbers and
acknowledgements after commit, and the question queue; the surgeon names the
theatre camera, which starts the media worker's composite feed, and ends the
operation. Viewers (trainees and colleagues, only while the operation is
broadcast with consent) may only watch the composite through the relay and
ask questions: any attempt to publish or to annotate closes their socket with
4403. The surgeon's and mentors' own video goes through the room socket
(``consult.rooms``), not here.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, ClassVar

from channels.db import database_sync_to_async

from consult.exceptions import ConsultError, NotFound
from consult.layer_watch import LAYER_ERRORS
from consult.media.replies import MediaReplies
from consult.records.context import AccessContext
from consult.ws import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    Message,
    ValidatedJsonConsumer,
)
from surgery_guidance import schemas, selectors, services
from surgery_guidance.models import Operation
from surgery_guidance.selectors import OperationPass

logger = logging.getLogger(__name__)

RECHECK_EVERY_S = 2.0
#: Not 4401/4403: the browser reconnects at once and is welcomed in its new role.
CLOSE_ROLE_CHANGED = 4009


def _live_state(op_pass: OperationPass) -> dict[str, Any]:
    return services.live_json(selectors.operation_for(op_pass))


def _welcome_data(op_pass: OperationPass) -> dict[str, Any]:
    operation = selectors.operation_for(op_pass)
    data: dict[str, Any] = {
        "type": "welcome",
        "role": op_pass.role,
        "author": op_pass.author,
        "label": op_pass.display_name,
        "surgeon": f"u{operation.surgeon_id}",
        "live": services.live_json(operation),
        "questions": selectors.questions_for(op_pass),
    }
    if op_pass.is_staff:
        data["annotations"] = {
            "seq": operation.annotation_seq,
            "state": operation.annotation_state or {},
        }
    return data


def _composite(operation_id: str) -> tuple[str, str, str, bool, str]:
    """(composite name, room id, vitals scenario, broadcast, current track)."""
    operation = Operation.objects.get(pk=operation_id)
    if operation.status == Operation.Status.ENDED:
        raise ConsultError("The operation has ended.", code="operation_ended")
    return (
        operation.composite_name,
        str(operation.room_id),
        operation.vitals,
        operation.broadcast,
        operation.composite_track,
    )


class GuidanceConsumer(ValidatedJsonConsumer, MediaReplies):
    """One page's socket in one operation (see the module docs)."""

    # A Redis restart must not end an operation's sockets: groups are re-joined,
    # mentors backfill marks by seq, watchers get the live state again.
    survives_layer_outage = True
    rate_per_second = 40.0  # freehand strokes update often while drawing
    burst = 120
    max_message_bytes = 96 * 1024
    schemas: ClassVar[dict[str, type[Message]]] = {
        "hello": schemas.Hello,
        "annotate": schemas.Annotate,
        "source": schemas.Source,
        "question.ask": schemas.QuestionAsk,
        "question.moderate": schemas.QuestionModerate,
        "end": schemas.End,
        "clock.ping": schemas.ClockPing,
        "latency": schemas.Latency,
        "media.subscribe": schemas.MediaSubscribe,
        "media.unsubscribe": schemas.MediaSubscribe,
        "media.answer": schemas.MediaAnswer,
        "media.ice": schemas.MediaIce,
        "media.offer": schemas.MediaOffer,
        "media.keyframe": schemas.MediaKeyframe,
    }

    async def connect(self) -> None:
        """Staff, or viewers of a consented broadcast: 4401/4403 for anyone else."""
        self.op_pass: OperationPass | None = None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        operation_id = str(self.scope["url_route"]["kwargs"]["operation_id"])
        try:
            self.op_pass = await database_sync_to_async(
                selectors.operation_pass_for_user
            )(user, operation_id)
            if self.op_pass.is_viewer:
                await database_sync_to_async(services.broadcast_require)(self.op_pass)
        except ConsultError:
            self.op_pass = None
            await self.refuse(CLOSE_FORBIDDEN)
            return
        self.checked_at = time.monotonic()
        # The worker's participant id for this page's view-only connection.
        self.watcher = f"w{self.op_pass.user_id}-{secrets.token_hex(4)}"
        self.watching = False
        groups = [
            services.operation_group(operation_id),
            services.user_group(operation_id, self.op_pass.user_id),
        ]
        if self.op_pass.is_staff:
            groups.append(services.staff_group(operation_id))
        await self.join_groups(*groups)
        await self.accept()
        welcome = await database_sync_to_async(_welcome_data)(self.op_pass)
        self.track = welcome["live"]["track"]
        if self.op_pass.is_viewer or welcome["live"]["track"]:
            from consult.media.ice import ice_servers_for

            welcome["ice_servers"] = await database_sync_to_async(ice_servers_for)(user)
        await self.send_json(welcome)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "op_pass", None) is None:
            return
        await self.leave_groups()
        if self.watching:
            try:
                await self._media({"type": "media.leave"})
            except (ConsultError, *LAYER_ERRORS):
                logger.info("media leave not delivered for a watcher")

    async def on_layer_restored(self) -> None:
        """Live events may have been lost: marks are backfilled by the client's
        ``hello``; the live state (composite track, HLS) is sent again."""
        await self.send_json({"type": "resync", "reason": "layer_restored"})
        live = await database_sync_to_async(_live_state)(self.op_pass)
        self.track = live["track"]
        await self.send_json({"type": "live", **live})

    # -- authorisation -----------------------------------------------------------

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Re-check the pass (at most every 2 s): consent can be withdrawn."""
        if time.monotonic() - self.checked_at > RECHECK_EVERY_S:
            try:
                fresh = await database_sync_to_async(self._fresh_pass)()
            except ConsultError:
                await self.send_error("not_permitted", "You can no longer watch this.")
                await self.close(code=CLOSE_FORBIDDEN)
                return
            if fresh.role != self.op_pass.role:
                # Groups and welcome depend on the role: start over as the new one.
                await self.send_error("role_changed", "Your part in it changed.")
                await self.close(code=CLOSE_ROLE_CHANGED)
                return
            self.op_pass = fresh
            self.checked_at = time.monotonic()
        await super().receive_json(content, **kwargs)

    def _fresh_pass(self) -> OperationPass:
        # Not ``_recheck``: ValidatedJsonConsumer keeps its session task there.
        fresh = selectors.operation_pass_for_user(
            self.scope["user"], self.op_pass.operation_id
        )
        if fresh.is_viewer:
            services.broadcast_require(fresh)
        return fresh

    async def _forbid(self, why: str) -> None:
        """A view-only socket tried to publish or draw: refuse and close (4403)."""
        logger.info("guidance %s: %s refused", self.op_pass.operation_id, why)
        await self.send_error("view_only", f"Viewers cannot {why}.")
        await self.close(code=CLOSE_FORBIDDEN)

    def _ctx(self) -> AccessContext:
        client = self.scope.get("client") or ("", 0)
        return AccessContext(channel="websocket", ip=str(client[0] or ""))

    # -- annotations -------------------------------------------------------------

    async def on_hello(self, message: schemas.Hello) -> None:
        """Resend the annotation operations after ``last_seq`` (staff)."""
        if not self.op_pass.is_staff:
            return
        events = await database_sync_to_async(selectors.annotation_events_after)(
            self.op_pass, after_seq=message.last_seq
        )
        if len(events) >= selectors.MAX_BACKFILL:
            snapshot = await database_sync_to_async(selectors.annotation_snapshot)(
                self.op_pass
            )
            await self.send_json({"type": "annotations.reset", **snapshot})
            return
        await self.send_json({"type": "annotations", "events": events})

    async def on_annotate(self, message: schemas.Annotate) -> None:
        if self.op_pass.is_viewer:
            await self._forbid("annotate")
            return
        applied = await database_sync_to_async(services.annotation_apply)(
            op_pass=self.op_pass, op=message.op
        )
        await self.send_json(
            {
                "type": "annotate.ack",
                "author_seq": applied.author_seq,
                "seq": applied.seq,
                "replay": applied.replay,
            }
        )
        if not applied.replay:
            await self._push_annotations(applied.seq, applied.snapshot)

    async def _push_annotations(self, seq: int, snapshot: dict[str, Any]) -> None:
        """Hand the new state to the composite (burned into broadcast and recording)."""
        name, room_id, _vitals, _broadcast, track = await database_sync_to_async(
            _composite
        )(self.op_pass.operation_id)
        if not track:
            return
        data = {"annotations": snapshot.get("annotations", []), "version": seq}
        message = {
            "type": "media.layer",
            "participant": "guidance",
            "composite": name,
            "kind": "annotations",
            "data": data,
        }
        from consult.media.client import media_send

        try:
            # Replies (errors only) go to a channel nobody reads: the next
            # state supersedes this one, so there is nothing to retry.
            await media_send(room_id, message, reply_to=f"{self.channel_name}")
        except ConsultError:
            logger.info("annotations not pushed to the composite of %s", room_id)

    # -- the surgeon ------------------------------------------------------------

    async def on_source(self, message: schemas.Source) -> None:
        """The surgeon's theatre camera: (re)start the composite on that track."""
        if not self.op_pass.is_surgeon:
            raise ConsultError(
                "Only the operating surgeon sets the source.", code="not_surgeon"
            )
        if not message.track.startswith(f"{self.op_pass.author}:"):
            raise NotFound("That is not one of your tracks.", code="unknown_track")
        name, room_id, vitals, broadcast, _track = await database_sync_to_async(
            _composite
        )(self.op_pass.operation_id)
        from consult.media.client import media_request

        layers: list[dict[str, Any]] = [{"kind": "annotations"}]
        if vitals:
            layers.append({"kind": "vitals", "scenario": vitals})
        reply = await media_request(
            room_id,
            {
                "type": "media.composite.start",
                "participant": "guidance",
                "source": message.track,
                "name": name,
                "layers": layers,
                "record": True,
                "hls": broadcast,
            },
            expect="media.composite.started",
        )
        live = await database_sync_to_async(services.composite_started)(
            op_pass=self.op_pass,
            track=reply["track"],
            hls=reply.get("hls"),
            clock_offset_ms=message.clock_offset_ms,
        )
        snapshot = await database_sync_to_async(selectors.annotation_snapshot)(
            self.op_pass
        )
        await self._push_annotations(snapshot["seq"], snapshot["state"])
        await self.send_json({"type": "source.ack", "track": message.track, **live})

    async def on_end(self, message: schemas.End) -> None:
        """End the operation: stop the composite, keep the recording, end the room."""
        if not self.op_pass.is_surgeon:
            raise ConsultError(
                "Only the operating surgeon ends it.", code="not_surgeon"
            )
        name, room_id, _vitals, _broadcast, track = await database_sync_to_async(
            _composite
        )(self.op_pass.operation_id)
        if track:
            from consult.media.client import media_request

            try:
                reply = await media_request(
                    room_id,
                    {
                        "type": "media.composite.stop",
                        "participant": "guidance",
                        "composite": name,
                    },
                    expect="media.composite.stopped",
                    wait_s=30.0,
                )
            except ConsultError as exc:
                # The worker may be gone; the operation still ends.
                logger.warning("composite stop failed: %s", exc.code)
                reply = {}
            if reply.get("recording"):
                await database_sync_to_async(services.recording_save)(
                    op_pass=self.op_pass, recording=reply["recording"]
                )
        await database_sync_to_async(services.operation_end)(
            op_pass=self.op_pass, ctx=self._ctx()
        )

    # -- questions and latency -----------------------------------------------------

    async def on_question_ask(self, message: schemas.QuestionAsk) -> None:
        question = await database_sync_to_async(services.question_ask)(
            op_pass=self.op_pass, client_id=message.client_id, body=message.body
        )
        await self.send_json(
            {
                "type": "question.ack",
                "client_id": str(message.client_id),
                "question": selectors.question_json(question),
            }
        )

    async def on_question_moderate(self, message: schemas.QuestionModerate) -> None:
        await database_sync_to_async(services.question_moderate)(
            op_pass=self.op_pass,
            question_id=message.id,
            approve=message.decision == "approve",
        )

    async def on_clock_ping(self, message: schemas.ClockPing) -> None:
        await self.send_json(
            {"type": "clock.pong", "t0": message.t0, "server_ms": time.time() * 1000}
        )

    async def on_latency(self, message: schemas.Latency) -> None:
        """A mentor's measured age of the surgeon's picture, shown in the theatre."""
        if not self.op_pass.is_staff:
            return
        await self.send_to_group(
            services.staff_group(self.op_pass.operation_id),
            {
                "type": "guidance.latency",
                "author": self.op_pass.author,
                "label": self.op_pass.display_name,
                "role": self.op_pass.role,
                "p50_ms": message.p50_ms,
                "p95_ms": message.p95_ms,
            },
        )

    # -- view-only media -----------------------------------------------------------

    async def on_media_offer(self, message: schemas.MediaOffer) -> None:
        await self._forbid("publish")

    async def on_media_subscribe(self, message: schemas.MediaSubscribe) -> None:
        """Subscribe (or unsubscribe) this page to the composite only."""
        _name, _room, _vitals, _broadcast, track = await database_sync_to_async(
            _composite
        )(self.op_pass.operation_id)
        if not track or any(t != track for t in message.tracks):
            raise NotFound(
                "Only the broadcast feed can be watched.", code="unknown_track"
            )
        self.watching = True
        await self._media({"type": message.type, "tracks": [track]})

    on_media_unsubscribe = on_media_subscribe

    async def on_media_answer(self, message: schemas.MediaAnswer) -> None:
        if message.pc != "sub":
            await self._forbid("publish")
            return
        await self._media(message.model_dump())

    async def on_media_ice(self, message: schemas.MediaIce) -> None:
        if message.pc != "sub":
            await self._forbid("publish")
            return
        await self._media(message.model_dump())

    async def on_media_keyframe(self, message: schemas.MediaKeyframe) -> None:
        if not self.watching or message.track != self.track:
            raise NotFound("Not watching that track.", code="unknown_track")
        await self._media(message.model_dump())

    async def _media(self, message: dict[str, Any]) -> None:
        from consult.media.client import media_send

        room_id = self.op_pass.room_id
        await media_send(
            room_id,
            {**message, "participant": self.watcher},
            reply_to=self.channel_name,
        )

    # -- group events ----------------------------------------------------------------

    async def guidance_annotation(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "annotation", "seq": event["seq"], "op": event["op"]}
        )

    async def guidance_live(self, event: dict[str, Any]) -> None:
        self.track = event["track"]
        await self.send_json(
            {
                "type": "live",
                "status": event["status"],
                "track": event["track"],
                "hls": event["hls"],
                "clock_offset_ms": event.get("clock_offset_ms"),
            }
        )

    async def guidance_question(self, event: dict[str, Any]) -> None:
        question = event["question"]
        if self.op_pass.is_staff and not self.op_pass.is_moderator:
            if question["status"] == "pending":
                return  # mentors see a question once the moderator approves it
        await self.send_json({"type": "question", "question": question})

    async def guidance_latency(self, event: dict[str, Any]) -> None:
        await self.send_json({**event, "type": "latency"})

    async def guidance_broadcast(self, event: dict[str, Any]) -> None:
        if self.op_pass.is_viewer and not event["broadcast"]:
            await self.send_error("consent_required", "The broadcast was stopped.")
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.send_json({"type": "broadcast", "broadcast": event["broadcast"]})

    async def guidance_ended(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "ended", "ended_at": event["ended_at"]})

    # -- media worker replies (view-only connection) -----------------------------------

    async def media_tracks(self, event: dict[str, Any]) -> None:
        """Room track lists are not for this socket (it is not in the room group)."""

    async def media_worker_lost(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "media.renegotiate"})
