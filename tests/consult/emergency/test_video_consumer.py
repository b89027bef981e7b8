"""The room socket of an ambulance case's video, over the real ASGI app and Redis."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from consult.emergency import services
from consult.rooms.consumers import RoomConsumer
from tests.consult.emergency.conftest import CTX, ORIGIN, session_cookie

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

# What a browser offers when it publishes: one section per kind, sending.
VIDEO_OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\n"
)
# A watcher who sends nothing yet still publishes a data channel (the room client).
DATA_OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n"
)
AUDIO_OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n"
)


async def _socket(case, user=None) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(session_cookie)(user)))
    return WebsocketCommunicator(application, f"/ws/rooms/{case.room_id}/", headers)


async def _join(case, user) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    socket = await _socket(case, user)
    connected, code = await socket.connect()
    assert connected, code
    welcome = await socket.receive_json_from(timeout=5)
    assert welcome["type"] == "welcome"
    return socket


async def _close_code(socket: WebsocketCommunicator) -> int | None:
    """The code the server closes with (the room refuses after accepting)."""
    connected, code = await socket.connect()
    if not connected:
        return code
    return await _closed(socket)


async def _closed(socket: WebsocketCommunicator) -> int | None:
    for _ in range(20):
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output.get("code")
    return None


async def _next(socket: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    for _ in range(20):
        message = await socket.receive_json_from(timeout=5)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


async def _open(world):  # type: ignore[no-untyped-def]
    return await sync_to_async(world.open_case)()


async def test_the_crew_enters_its_case_room(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """A paramedic of the crew gets a welcome, not as a host."""
    case = await _open(world)
    socket = await _join(case, world.paramedic)
    await socket.disconnect()


async def test_the_receiving_operator_enters(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """The receiving hospital's operator sees the crew join."""
    case = await _open(world)
    operator = await _join(case, world.operator)
    crew = await _join(case, world.paramedic)
    joined = await _next(operator, "presence")
    assert (joined["participant"], joined["state"]) == (
        f"u{world.paramedic.pk}",
        "joined",
    )
    await crew.disconnect()
    await operator.disconnect()


async def test_unrelated_staff_are_refused_with_4403(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """Another hospital's operator holding the room id is refused."""
    case = await _open(world)
    socket = await _socket(case, world.other_hospital_operator)
    assert await _close_code(socket) == 4403


async def test_another_crew_is_refused_with_4403(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """A paramedic of another crew is refused."""
    case = await _open(world)
    socket = await _socket(case, world.other_crew_medic)
    assert await _close_code(socket) == 4403


async def test_anonymous_is_refused_with_4401(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """No session: 4401."""
    case = await _open(world)
    socket = await _socket(case)
    assert await _close_code(socket) == 4401


async def test_a_watcher_may_not_send_video(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """An operator's offer with a camera is refused before it reaches the worker."""
    case = await _open(world)
    operator = await _join(case, world.operator)
    await operator.send_json_to(
        {"type": "media.offer", "pc": "pub", "sdp": VIDEO_OFFER}
    )
    error = await _next(operator, "error")
    assert (error["code"], error["for"]) == ("publish_not_allowed", "media.offer")
    await operator.disconnect()


@pytest.mark.parametrize("sdp", [AUDIO_OFFER, DATA_OFFER], ids=["talk", "silent"])
async def test_a_watcher_may_talk_back(world, redis_layer, monkeypatch, sdp) -> None:  # type: ignore[no-untyped-def]
    """An operator's audio-only (or nothing-yet) offer goes on to the media worker."""
    relayed: list[dict[str, Any]] = []

    async def media(self, message: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
        relayed.append(message)

    monkeypatch.setattr(RoomConsumer, "_media", media)
    case = await _open(world)
    operator = await _join(case, world.operator)
    await operator.send_json_to({"type": "media.offer", "pc": "pub", "sdp": sdp})
    await operator.send_json_to({"type": "clock.ping", "t0": 1})
    await _next(operator, "clock.pong")
    assert [m["type"] for m in relayed] == ["media.offer"]
    await operator.disconnect()


async def test_the_crew_may_send_video(world, redis_layer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The crew's camera offer goes on to the media worker."""
    relayed: list[dict[str, Any]] = []

    async def media(self, message: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
        relayed.append(message)

    monkeypatch.setattr(RoomConsumer, "_media", media)
    case = await _open(world)
    crew = await _join(case, world.paramedic)
    await crew.send_json_to({"type": "media.offer", "pc": "pub", "sdp": VIDEO_OFFER})
    await crew.send_json_to({"type": "clock.ping", "t0": 1})
    await _next(crew, "clock.pong")
    assert [m["type"] for m in relayed] == ["media.offer"]
    await crew.disconnect()


async def test_handover_closes_the_room_sockets(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """Handing the patient over ends the video: sockets get 'end' and close 4403."""
    case = await _open(world)
    operator = await _join(case, world.operator)

    def hand_over() -> None:
        services.case_arrive(actor=world.paramedic, case_id=case.pk, ctx=CTX)
        services.case_handover(actor=world.operator, case_id=case.pk, ctx=CTX)

    await sync_to_async(hand_over)()
    end = await _next(operator, "host")
    assert (end["action"], await _closed(operator)) == ("end", 4403)
