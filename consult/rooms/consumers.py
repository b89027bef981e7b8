"""The room websocket: presence, chat, host controls, quality and media signaling.

One socket per participant (a browser tab). Membership is checked at connect
and re-checked before handling messages; host actions, chat and presence fan
out through the room group after commit; media signaling is relayed to the
room's media worker and its replies come back to this socket.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

from channels.db import database_sync_to_async

from consult.exceptions import ConsultError
from consult.layer_watch import LAYER_ERRORS
from consult.media.replies import MediaReplies
from consult.records.context import AccessContext
from consult.rooms import schemas, selectors, services
from consult.rooms.models import Room
from consult.rooms.selectors import RoomPass
from consult.scheduling.waiting import SESSION_KEY
from consult.ws import (
    CLOSE_FORBIDDEN,
    CLOSE_SUPERSEDED,
    CLOSE_UNAUTHENTICATED,
    Message,
    ValidatedJsonConsumer,
)

logger = logging.getLogger(__name__)

# A removal or an ended room also closes sockets at once through the group;
# this bounds how stale the per-message check may be.
RECHECK_EVERY_S = 1.0
MEDIA_TYPES = (
    "media.offer",
    "media.answer",
    "media.ice",
    "media.subscribe",
    "media.unsubscribe",
    "media.keyframe",
    "media.stats",
)


def _resolve_pass(
    scope: dict[str, Any], room_id: str, ctx: AccessContext
) -> RoomPass | None:
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return selectors.room_pass_for_user(user, room_id, ctx=ctx)
    session = scope.get("session")
    appointment = session.get(SESSION_KEY) if session is not None else None
    if appointment:
        return selectors.room_pass_for_patient(appointment, room_id)
    return None


def _room_status(room_id: str) -> str | None:
    return Room.objects.filter(pk=room_id).values_list("status", flat=True).first()


class RoomConsumer(ValidatedJsonConsumer, MediaReplies):
    """One participant's socket in one room."""

    requires_user = (
        False  # patients have no user; staff sessions are re-checked per message
    )
    # A Redis restart must not end a consultation: groups are re-joined and the
    # client resyncs (chat by seq, presence by a roll call).
    survives_layer_outage = True
    rate_per_second = 30.0
    burst = 80
    max_message_bytes = 96 * 1024
    schemas: ClassVar[dict[str, type[Message]]] = {
        "hello": schemas.Hello,
        "chat.send": schemas.ChatSend,
        "chat.history": schemas.ChatHistory,
        "state": schemas.State,
        "speaking": schemas.Speaking,
        "host": schemas.HostAction,
        "clock.ping": schemas.ClockPing,
        "quality": schemas.Quality,
        "media.offer": schemas.MediaOffer,
        "media.answer": schemas.MediaAnswer,
        "media.ice": schemas.IceCandidate,
        "media.subscribe": schemas.MediaSubscribe,
        "media.unsubscribe": schemas.MediaSubscribe,
        "media.keyframe": schemas.MediaKeyframe,
        "media.stats": schemas.MediaStats,
    }

    async def connect(self) -> None:
        """Admit members only: 4401 without credentials, 4403 for anyone else."""
        self.room_id = str(self.scope["url_route"]["kwargs"]["room_id"])
        self.room_pass: RoomPass | None = None
        try:
            self.room_pass = await database_sync_to_async(_resolve_pass)(
                self.scope, self.room_id, self._ctx()
            )
        except ConsultError:
            await self.refuse(CLOSE_FORBIDDEN)
            return
        if self.room_pass is None:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        status = await database_sync_to_async(_room_status)(self.room_id)
        if status == Room.Status.ENDED or (
            status == Room.Status.LOCKED and not self.room_pass.is_host
        ):
            await self.refuse(CLOSE_FORBIDDEN)
            return
        self.checked_at = time.monotonic()
        self.presence: dict[str, Any] = {"audio": True, "video": True, "sources": []}
        self.superseded, self.opened_ns = False, 0
        self.group = services.room_group(self.room_id)
        self.own_group = services.participant_group(
            self.room_id, self.room_pass.participant
        )
        await self.join_groups(self.group, self.own_group)
        # When this socket opened, to order it against the participant's others.
        # Taken after joining: a socket stamped earlier is then in the group when
        # a later one's notice goes out, so exactly the latest one stays.
        self.opened_ns = time.time_ns()
        # One socket per participant: an older one (another window) gives way.
        await self.send_to_group(
            self.own_group,
            {"type": "room.superseded", "by": self.channel_name, "at": self.opened_ns},
        )
        await self.accept()
        await self.send_json(
            {
                "type": "welcome",
                "participant": self.room_pass.participant,
                "label": self.room_pass.display_name,
                "host": self.room_pass.is_host,
                "status": status,
                "ice_servers": await self._ice_servers(),
            }
        )
        await self._announce("joined")
        await self._roll_call()

    async def on_layer_restored(self) -> None:
        """Live events may have been lost: the client resyncs; presence is re-asked."""
        await self.send_json({"type": "resync", "reason": "layer_restored"})
        await self._announce("present")
        await self._roll_call()

    async def disconnect(self, code: int) -> None:
        """Leave the groups, tell the room, close this participant's media."""
        if getattr(self, "room_pass", None) is None or not hasattr(self, "group"):
            return
        if not self.superseded:
            # Superseded, the participant is still here on the newer socket.
            await self._announce("left")
        await self.leave_groups()
        try:
            await self._media({"type": "media.leave"})
        except (ConsultError, *LAYER_ERRORS):
            logger.info("media leave not delivered for room %s", self.room_id)

    # -- authorisation on every message ----------------------------------------

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Re-check membership (at most once a second) before any handler runs."""
        if time.monotonic() - self.checked_at > RECHECK_EVERY_S:
            valid = await database_sync_to_async(selectors.room_pass_still_valid)(
                self.room_pass
            )
            if not valid:
                await self.send_error("not_a_member", "You are no longer in this room.")
                await self.close(code=CLOSE_FORBIDDEN)
                return
            self.checked_at = time.monotonic()
        await super().receive_json(content, **kwargs)

    def _ctx(self) -> AccessContext:
        client = self.scope.get("client") or ("", 0)
        return AccessContext(channel="websocket", ip=str(client[0] or ""))

    # -- handlers ---------------------------------------------------------------

    async def on_hello(self, message: schemas.Hello) -> None:
        """Resend chat the client missed while disconnected."""
        self.session = message.session
        lines = await database_sync_to_async(selectors.chat_since)(
            self.room_pass, after_seq=message.last_chat_seq
        )
        await self.send_json({"type": "chat.history", "messages": lines})

    async def on_chat_send(self, message: schemas.ChatSend) -> None:
        wire, _ = await database_sync_to_async(services.chat_post)(
            room_pass=self.room_pass,
            client_id=message.client_id,
            body=message.body,
            ctx=self._ctx(),
        )
        # Acknowledged only after commit; the line itself arrives through the group.
        await self.send_json(
            {
                "type": "chat.ack",
                "client_id": str(message.client_id),
                "seq": wire["seq"],
            }
        )

    async def on_chat_history(self, message: schemas.ChatHistory) -> None:
        lines = await database_sync_to_async(selectors.chat_since)(
            self.room_pass, after_seq=message.after_seq
        )
        await self.send_json({"type": "chat.history", "messages": lines})

    async def on_state(self, message: schemas.State) -> None:
        self.presence = message.model_dump(exclude={"type"})
        await self._announce("state")

    async def on_speaking(self, message: schemas.Speaking) -> None:
        await self.send_to_group(
            self.group,
            {
                "type": "room.speaking",
                "participant": self.room_pass.participant,
                "level": message.level,
            },
        )

    async def on_host(self, message: schemas.HostAction) -> None:
        await database_sync_to_async(services.room_host_action)(
            room_pass=self.room_pass,
            action=message.action,
            target=message.participant,
            ctx=self._ctx(),
        )

    async def on_clock_ping(self, message: schemas.ClockPing) -> None:
        await self.send_json(
            {"type": "clock.pong", "t0": message.t0, "server_ms": time.time() * 1000}
        )

    async def on_quality(self, message: schemas.Quality) -> None:
        await database_sync_to_async(services.quality_record)(
            room_pass=self.room_pass,
            session=message.session,
            sample=message.model_dump(exclude={"type"}),
        )
        await self.send_to_group(
            self.group,
            {
                "type": "room.quality",
                "participant": self.room_pass.participant,
                "figures": message.model_dump(
                    exclude={"type", "session", "g2g_samples", "per_sender"}
                ),
            },
        )

    async def on_media_offer(self, message: schemas.MediaOffer) -> None:
        """Relay a publish offer, if it sends only what this pass may publish."""
        refused = schemas.sdp_sending_kinds(message.sdp) - set(self.room_pass.publish)
        if refused:
            # Watchers of an ambulance's video may talk back, never send video.
            raise ConsultError(
                f"You may not send {' or '.join(sorted(refused))} in this room.",
                code="publish_not_allowed",
                extra={"kinds": sorted(refused)},
            )
        await self._relay(message)

    async def _relay(self, message: Message) -> None:
        await self._media(message.model_dump())

    on_media_answer = _relay
    on_media_ice = _relay
    on_media_subscribe = _relay
    on_media_unsubscribe = _relay
    on_media_keyframe = _relay
    on_media_stats = _relay

    # -- group events -------------------------------------------------------------

    async def room_who(self, event: dict[str, Any]) -> None:
        """A newcomer asks who is here: answer to them directly."""
        if event["reply_to"] != self.channel_name:
            await self.channel_layer.send(
                event["reply_to"], self._presence_event("present")
            )

    async def room_presence(self, event: dict[str, Any]) -> None:
        if (
            event["participant"] != self.room_pass.participant
            or event["state"] != "joined"
        ):
            await self.send_json(
                {k: v for k, v in event.items() if k != "type"} | {"type": "presence"}
            )

    async def room_chat(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "chat.message", "message": event["message"]})

    async def room_speaking(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "speaking",
                "participant": event["participant"],
                "level": event["level"],
            }
        )

    async def room_quality(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "quality",
                "participant": event["participant"],
                "figures": event["figures"],
            }
        )

    async def room_host_action(self, event: dict[str, Any]) -> None:
        """Apply a host's decision to this socket if it is aimed here."""
        action, target = event["action"], event.get("target")
        await self.send_json(
            {"type": "host", "action": action, "target": target, "by": event["by"]}
        )
        if action == "end" or (
            action == "remove" and target == self.room_pass.participant
        ):
            await self.close(code=CLOSE_FORBIDDEN)

    async def room_superseded(self, event: dict[str, Any]) -> None:
        """A newer socket of this participant opened: this one closes for good.

        Ordered by opening time (channel name breaking ties), so two sockets
        opening together agree on which stays, whichever notice comes first.
        """
        newer = (event["at"], event["by"]) > (self.opened_ns, self.channel_name)
        if not newer or self.closing:
            return
        self.superseded = True
        await self.send_json({"type": "superseded"})
        await self.close(code=CLOSE_SUPERSEDED)

    # -- media worker replies and notices ----------------------------------------

    async def media_tracks(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "media.tracks", "tracks": event["tracks"]})

    async def media_stats(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {k: v for k, v in event.items() if k != "type"} | {"type": "media.stats"}
        )

    async def media_worker_lost(self, event: dict[str, Any]) -> None:
        """Room moved to another worker: the client publishes and subscribes again."""
        await self.send_json({"type": "media.renegotiate"})

    # -- helpers ------------------------------------------------------------------

    def _presence_event(self, state: str) -> dict[str, Any]:
        return {
            "type": "room.presence",
            "participant": self.room_pass.participant,
            "label": self.room_pass.display_name,
            "host": self.room_pass.is_host,
            "patient": self.room_pass.is_patient,
            "state": state,
            **self.presence,
        }

    async def _announce(self, state: str) -> None:
        await self.send_to_group(self.group, self._presence_event(state))

    async def _roll_call(self) -> None:
        """Ask who is here: each participant answers this socket directly."""
        await self.send_to_group(
            self.group, {"type": "room.who", "reply_to": self.channel_name}
        )

    async def _media(self, message: dict[str, Any]) -> None:
        from consult.media.client import media_send

        # ``opened`` lets the worker refuse a socket older than the owner.
        participant, opened = self.room_pass.participant, self.opened_ns
        await media_send(
            self.room_id,
            {**message, "participant": participant, "opened": opened},
            reply_to=self.channel_name,
        )

    async def _ice_servers(self) -> list[dict[str, Any]]:
        from consult.media.ice import ice_servers_for

        user = self.scope.get("user")
        who = (
            user
            if user is not None and user.is_authenticated
            else self.room_pass.participant
        )
        return await database_sync_to_async(ice_servers_for)(who)
