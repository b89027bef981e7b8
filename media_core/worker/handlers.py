"""The protocol's message handlers, mixed into ``MediaWorker``.

Each ``_on_<type>`` handles one message of ``docs/media-protocol.md`` for one
participant (the worker calls them one at a time per participant) and raises a
``ProtocolError`` subclass for anything the client got wrong.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Container, Hashable
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver
from aiortc.exceptions import (
    InternalError,
    InvalidAccessError,
    InvalidStateError,
    OperationError,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

from media_core.errors import (
    InvalidMessage,
    MalformedSdp,
    MediaError,
    RateLimited,
    StaleSession,
    UnknownPeer,
    UnknownRoom,
    UnknownTrack,
)
from media_core.peers import PeerRegistry
from media_core.relay import TrackRelay
from media_core.signaling import candidate_from_dict, description_from_sdp, ice_ufrag
from media_core.tap import codec_preferences_for, install_tap, negotiated_codec
from media_core.worker.rooms import (
    Participant,
    PublishedTrack,
    Room,
    Subscription,
    rtc_stats,
)
from media_core.worker.transport import Message

logger = logging.getLogger(__name__)

_SDP_ERRORS = (
    ValueError,
    AssertionError,
    InvalidStateError,
    InvalidAccessError,
    InternalError,
    OperationError,
)
_MAX_ID = 200
_MAX_TRACKS_PER_MESSAGE = 64


class RoomHandlers:
    """Rooms, publishing and subscribing; state and sending come from the worker."""

    worker_id: str
    _rooms: dict[str, Room]
    _peers: PeerRegistry
    _config: RTCConfiguration
    _keyframe_interval: float
    _send: Callable[[str, Message], None]
    _group_send: Callable[[str, Message], None]
    _enqueue: Callable[[tuple[str, str], Message], None]

    def _announce(self, room: Room) -> None:
        event = {"type": "media.tracks", "room": room.room_id}
        event["tracks"] = room.describe_tracks()
        self._group_send(room.group, event)

    # -- lookups ----------------------------------------------------------------

    def _room(self, message: Message, *, create: bool = False) -> Room:
        room_id = message["room"]
        room = self._rooms.get(room_id)
        if room is None:
            if not create:
                raise UnknownRoom(f"no room {room_id}")
            room = self._rooms[room_id] = Room(room_id)
        return room

    async def _participant(self, room: Room, message: Message) -> Participant:
        """The sender's participant, created on first use, owned by its socket.

        Each socket sends with its own ``reply_to``. A browser whose socket
        dropped comes back on a new one, and its first offer or subscribe may
        reach the worker before the old socket's ``media.leave`` does: the new
        socket takes the participant over, and the old socket's peers (closed by
        the browser when its socket went) are dropped now, not renegotiated.
        """
        pid, reply_to = message["participant"], message["reply_to"]
        opened = _opened(message)
        member = room.participants.get(pid)
        if member is None:
            member = room.participants[pid] = Participant(pid, reply_to, opened)
        elif member.reply_to != reply_to:
            if opened < member.opened:
                # A message still in flight from a socket already superseded.
                raise StaleSession("a newer socket owns this participant's media")
            logger.info(
                "worker %s: %s of %s is on a new socket; its old peers are dropped",
                self.worker_id,
                pid,
                room.room_id,
            )
            had_tracks = bool(room.tracks_of(pid))
            await self._drop_pub(room, member)
            await self._drop_sub(room, member)
            member.reply_to, member.opened = reply_to, opened
            if had_tracks:
                self._announce(room)
        return member

    def _known(self, message: Message) -> tuple[Room, Participant]:
        """The sender's participant, which its socket must own (see above)."""
        room = self._room(message)
        member = room.participants.get(message["participant"])
        if member is None:
            raise UnknownPeer(f"no participant {message['participant']} in the room")
        if member.reply_to != message["reply_to"]:
            raise StaleSession("this socket's media was taken over by a newer one")
        return room, member

    # -- publish ----------------------------------------------------------------

    async def _on_offer(self, message: Message) -> None:
        if message.get("pc") != "pub":
            raise InvalidMessage('media.offer must have pc "pub"')
        description = description_from_sdp(message.get("sdp"), "offer")
        room = self._room(message, create=True)
        member = await self._participant(room, message)
        replaced = self._closed_under(room, member, "pub") or (
            member.pub is not None and _another_connection(member.pub, description.sdp)
        )
        if replaced:
            # The browser's connection was replaced (aiortc cannot restart ICE,
            # so new ICE credentials mean a new peer), or this one failed and its
            # ``_peer_failed`` is queued behind the offer: publish afresh.
            await self._drop_pub(room, member)
        pc, created = member.pub, False
        if pc is None:
            key = (room.room_id, member.participant_id, "pub")
            pc = member.pub = self._peers.create(key, self._config)
            created = True

            @pc.on("track")
            def _on_track(track: MediaStreamTrack) -> None:
                self._publish(room, member, pc, track)

        try:
            await pc.setRemoteDescription(description)
            await pc.setLocalDescription(await pc.createAnswer())
        except _SDP_ERRORS as exc:
            if created:
                await self._drop_pub(room, member)
                self._forget_if_idle(room, member)
                if replaced:
                    self._announce(room)  # the replaced connection's tracks went
            raise MalformedSdp(f"offer rejected: {exc!r}") from exc
        reply = {"type": "media.answer", "pc": "pub", "sdp": pc.localDescription.sdp}
        self._send(member.reply_to, reply)
        self._announce(room)

    def _publish(
        self,
        room: Room,
        member: Participant,
        pc: RTCPeerConnection,
        track: MediaStreamTrack,
    ) -> None:
        transceiver = _transceiver_of(pc, track)
        # aiortc emits "track" once per transceiver, so a renegotiation that
        # keeps the transceiver keeps this id; any new publish gets a new one.
        track_id = fresh_track_id(member.participant_id, transceiver.mid, room.tracks)
        published: PublishedTrack | None = None

        def on_packet(packet: Any, codec: str) -> None:
            if published is not None:
                published.relay.push(packet)

        tap = install_tap(transceiver.receiver, on_packet)
        relay = TrackRelay(
            track.kind,
            tap.request_keyframe,
            name=f"{room.room_id}/{track_id}",
            keyframe_interval=self._keyframe_interval,
        )
        published = PublishedTrack(
            track_id,
            member.participant_id,
            track.kind,
            negotiated_codec(transceiver),
            track.id,
            relay,
            tap,
            mid=transceiver.mid,
        )
        room.tracks[track_id] = published
        logger.info(
            "worker %s: %s publishes %s", self.worker_id, room.room_id, track_id
        )

    async def _drop_pub(self, room: Room, member: Participant) -> None:
        for track in room.tracks_of(member.participant_id):
            track.relay.close()
            del room.tracks[track.track_id]
        if member.pub is not None:
            member.pub = None
            await self._peers.close((room.room_id, member.participant_id, "pub"))

    # -- subscribe --------------------------------------------------------------

    def _track_ids(self, message: Message) -> list[str]:
        tracks = message.get("tracks")
        if (
            not isinstance(tracks, list)
            or not tracks
            or len(tracks) > _MAX_TRACKS_PER_MESSAGE
            or not all(is_id(t) for t in tracks)
        ):
            raise InvalidMessage("tracks must be a non-empty list of track ids")
        return list(dict.fromkeys(tracks))

    async def _on_subscribe(self, message: Message) -> None:
        track_ids = self._track_ids(message)
        room = self._room(message)
        missing = [t for t in track_ids if t not in room.tracks]
        if missing:
            raise UnknownTrack(f"no such tracks: {', '.join(missing)}")
        member = await self._participant(room, message)
        if self._closed_under(room, member, "sub"):
            await self._drop_sub(room, member)
        if member.sub is None:
            config = RTCConfiguration(
                iceServers=self._config.iceServers,
                bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            )
            key = (room.room_id, member.participant_id, "sub")
            member.sub = self._peers.create(key, config)
        for track_id in track_ids:
            if track_id in member.subscriptions:
                continue
            published = room.tracks[track_id]
            transceiver = member.sub.addTransceiver(published.kind, "sendonly")
            # Before createOffer: aiortc applies preferences only there.
            transceiver.setCodecPreferences(codec_preferences_for(published.codec))
            track = published.relay.subscribe(f"{member.participant_id}<-{track_id}")
            published.relay.attach_sender(transceiver.sender, track)
            member.subscriptions[track_id] = Subscription(track_id, transceiver, track)
        await self._offer_sub(member)

    async def _on_unsubscribe(self, message: Message) -> None:
        track_ids = self._track_ids(message)
        _, member = self._known(message)
        missing = [t for t in track_ids if t not in member.subscriptions]
        if missing:
            raise UnknownTrack(f"not subscribed to: {', '.join(missing)}")
        for track_id in track_ids:
            sub = member.subscriptions.pop(track_id)
            sub.track.stop()
            sub.transceiver.sender.replaceTrack(None)
            # aiortc cannot remove an m-line; an inactive one stops the flow.
            sub.transceiver.direction = "inactive"
        await self._offer_sub(member)

    async def _offer_sub(self, member: Participant) -> None:
        pc = member.sub
        if pc is None:
            return
        if pc.signalingState != "stable":
            member.renegotiate = True
            return
        member.renegotiate = False
        await pc.setLocalDescription(await pc.createOffer())
        mids = {
            sub.transceiver.mid: track_id
            for track_id, sub in member.subscriptions.items()
        }
        # A first offer: the browser must answer it on a new connection (this
        # one may replace a connection that failed while its socket stayed).
        fresh = pc.remoteDescription is None
        reply = {"type": "media.offer", "pc": "sub", "sdp": pc.localDescription.sdp}
        reply.update(tracks=mids, fresh=fresh)
        self._send(member.reply_to, reply)

    async def _on_answer(self, message: Message) -> None:
        if message.get("pc") != "sub":
            raise InvalidMessage('media.answer must have pc "sub"')
        description = description_from_sdp(message.get("sdp"), "answer")
        _, member = self._known(message)
        pc = member.sub
        if pc is None or pc.signalingState != "have-local-offer":
            raise UnknownPeer("no subscribe offer is waiting for an answer")
        try:
            await pc.setRemoteDescription(description)
        except _SDP_ERRORS as exc:
            raise MalformedSdp(f"answer rejected: {exc!r}") from exc
        if member.renegotiate:
            await self._offer_sub(member)

    # -- the rest ---------------------------------------------------------------

    async def _on_ice(self, message: Message) -> None:
        name = message.get("pc")
        if name not in ("pub", "sub"):
            raise InvalidMessage('pc must be "pub" or "sub"')
        candidate = candidate_from_dict(message.get("candidate"))
        _, member = self._known(message)
        pc = member.pc(str(name))
        if pc is None:
            raise UnknownPeer(f"no {name} connection")
        try:
            await pc.addIceCandidate(candidate)
        except _SDP_ERRORS as exc:
            raise MalformedSdp(f"candidate rejected: {exc!r}") from exc

    async def _on_keyframe(self, message: Message) -> None:
        track_id = message.get("track")
        room = self._room(message)
        published = room.tracks.get(track_id) if isinstance(track_id, str) else None
        if published is None:
            raise UnknownTrack(f"no track {track_id!r}")
        if published.kind == "video" and not published.relay.request_keyframe():
            raise RateLimited("a keyframe was requested recently; coalesced")

    async def _on_stats(self, message: Message) -> None:
        room, member = self._known(message)
        tracks: dict[str, Any] = {}
        for track_id, published in room.tracks.items():
            entry = published.describe()
            entry.update(published.relay.stats())  # type: ignore[arg-type]
            tracks[track_id] = entry
        peers = {"pub": await rtc_stats(member.pub), "sub": await rtc_stats(member.sub)}
        self._send(
            member.reply_to, {"type": "media.stats", "tracks": tracks, "peers": peers}
        )

    async def _on_leave(self, message: Message) -> None:
        try:
            room, member = self._known(message)
        except StaleSession:
            return  # the socket went after a newer one took over: nothing is its own
        await self._remove_participant(room, member)
        self._announce(room)
        if not room.participants:
            self._rooms.pop(room.room_id, None)

    async def _remove_participant(self, room: Room, member: Participant) -> None:
        await self._drop_pub(room, member)
        await self._drop_sub(room, member)
        room.participants.pop(member.participant_id, None)

    async def _drop_sub(self, room: Room, member: Participant) -> None:
        for sub in member.subscriptions.values():
            sub.track.stop()
        member.subscriptions.clear()
        if member.sub is not None:
            member.sub = None
            await self._peers.close((room.room_id, member.participant_id, "sub"))

    async def _on_close_room(self, message: Message) -> None:
        room = self._room(message)
        for member in list(room.participants.values()):
            await self._remove_participant(room, member)
        self._rooms.pop(room.room_id, None)
        self._announce(room)

    def _forget_if_idle(self, room: Room, member: Participant) -> None:
        if member.pub is None and member.sub is None and not member.subscriptions:
            room.participants.pop(member.participant_id, None)
        if not room.participants and not room.tracks:
            self._rooms.pop(room.room_id, None)

    async def _on_peer_failed(self, key: Hashable) -> None:
        room_id, participant, name = key  # type: ignore[misc]
        room = self._rooms.get(room_id)
        member = room.participants.get(participant) if room else None
        if member is not None:
            # Through the inbox, so it is ordered with the participant's messages.
            failed = {"type": "_peer_failed", "room": room_id, "pc": name}
            failed.update(participant=participant, reply_to=member.reply_to)
            self._enqueue((room_id, participant), failed)

    def _closed_under(self, room: Room, member: Participant, name: str) -> bool:
        """Whether ``member``'s ``name`` connection failed and the registry closed
        it; its ``_peer_failed`` may still be queued behind the message at hand."""
        pc = member.pc(name)
        key = (room.room_id, member.participant_id, name)
        return pc is not None and self._peers.get(key) is not pc

    async def _on_failed_message(self, message: Message) -> None:
        room = self._rooms.get(message["room"])
        member = room.participants.get(message["participant"]) if room else None
        if room is None or member is None:
            return
        if not self._closed_under(room, member, message["pc"]):
            return  # a newer connection replaced the failed one meanwhile
        if message["pc"] == "pub":
            await self._drop_pub(room, member)
            self._announce(room)
        else:
            await self._drop_sub(room, member)
        self._forget_if_idle(room, member)


def fresh_track_id(participant: str, mid: str | None, taken: Container[str]) -> str:
    """A new track id, ``"<participant>:<mid>:<8 hex digits>"``, not in ``taken``.

    Random rather than counted so that a worker that restarts (or the next
    worker after ``media.worker_lost``) never hands out an id seen before.
    """
    while True:
        track_id = f"{participant}:{mid}:{secrets.token_hex(4)}"
        if track_id not in taken:
            return track_id


def is_id(value: object) -> bool:
    """Whether ``value`` is a usable id: a non-empty string of at most 200 chars."""
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID


def _opened(message: Message) -> int:
    """The sending socket's opening time (``opened``, ns), 0 when not given."""
    opened = message.get("opened", 0)
    if type(opened) is not int or opened < 0:
        raise InvalidMessage("opened must be a non-negative integer")
    return opened


def _another_connection(pc: RTCPeerConnection, offer_sdp: str) -> bool:
    """Whether ``offer_sdp`` comes from another browser connection than ``pc``'s."""
    current = pc.remoteDescription
    return current is not None and ice_ufrag(current.sdp) != ice_ufrag(offer_sdp)


def _transceiver_of(
    pc: RTCPeerConnection, track: MediaStreamTrack
) -> RTCRtpTransceiver:
    for transceiver in pc.getTransceivers():
        if transceiver.receiver.track is track:
            return transceiver
    raise MediaError("no transceiver carries the new track")
