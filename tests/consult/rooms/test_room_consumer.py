"""The room socket over the real ASGI app and a real Redis channel layer."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from consult.accounts.models import Role
from consult.records.context import AccessContext
from consult.rooms import services
from consult.rooms.models import ChatMessage, Room, RoomMember
from tests.factories import DepartmentFactory, UserFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
ORIGIN = (b"origin", b"http://testserver")
CTX = AccessContext(channel="test")


def _room_with(host, *guests) -> Room:  # type: ignore[no-untyped-def]
    return services.room_create_adhoc(
        actor=host, title="Tumour board", invitee_ids=[g.pk for g in guests], ctx=CTX
    )


def _cookie(user) -> bytes:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def _room_socket(room: Room, cookie: bytes | None) -> WebsocketCommunicator:
    """A socket to ``room``'s endpoint (not yet connected), signed in by ``cookie``."""
    headers = [ORIGIN] + ([(b"cookie", cookie)] if cookie is not None else [])
    return WebsocketCommunicator(application, f"/ws/rooms/{room.pk}/", headers=headers)


async def _join(room: Room, user) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    socket = _room_socket(room, await sync_to_async(_cookie)(user))
    connected, code = await socket.connect()
    assert connected, code
    welcome = await socket.receive_json_from(timeout=5)
    assert welcome["type"] == "welcome"
    return socket


async def _both_joined(people):  # type: ignore[no-untyped-def]
    """A room of the host and a guest, both with their sockets open."""
    host, guest, _ = people
    room = await sync_to_async(_room_with)(host, guest)
    return host, guest, room, await _join(room, host), await _join(room, guest)


async def _refused_with(socket: WebsocketCommunicator) -> int | None:
    """Connect and return the close code the server refuses with (None if kept open)."""
    connected, code = await socket.connect()
    if not connected:
        return code
    return await _closed_with(socket)


async def _closed_with(socket: WebsocketCommunicator) -> int | None:
    """The close code ``socket`` gets next, skipping messages (None if none comes)."""
    for _ in range(20):
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output.get("code")
    return None


async def _next(socket: WebsocketCommunicator, kind: str) -> dict:
    """The next message of ``kind``, skipping presence chatter."""
    for _ in range(20):
        message = await socket.receive_json_from(timeout=5)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


@pytest.fixture
def people(db):  # type: ignore[no-untyped-def]
    department = DepartmentFactory()
    host = UserFactory(role=Role.SPECIALIST, department=department, first_name="Hana")
    guest = UserFactory(role=Role.SPECIALIST, department=department, first_name="Gus")
    outsider = UserFactory(
        role=Role.SPECIALIST, department=department, first_name="Otto"
    )
    return host, guest, outsider


async def test_joining_is_announced_to_those_present(people, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """A second participant's arrival reaches the first as presence 'joined'."""
    host, guest, room, first, second = await _both_joined(people)
    joined = await _next(first, "presence")
    present = await _next(second, "presence")
    assert (joined["participant"], joined["state"]) == (f"u{guest.pk}", "joined")
    assert (present["participant"], present["state"]) == (f"u{host.pk}", "present")
    await first.disconnect()
    await second.disconnect()


async def test_leaving_is_announced(people, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """When a participant's socket closes, the others get presence 'left'."""
    host, guest, room, first, second = await _both_joined(people)
    await _next(first, "presence")
    await second.disconnect()
    left = await _next(first, "presence")
    assert (left["participant"], left["state"]) == (f"u{guest.pk}", "left")
    await first.disconnect()


async def test_a_second_window_supersedes_the_first_without_a_leave(
    people, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    """The same person opening the room again closes the older socket with 4409
    after telling it why; the others hear no "left" (the person is still here),
    and the newer socket stays open."""
    host, guest, room, first, second = await _both_joined(people)
    await _next(first, "presence")  # the guest joined
    again = await _join(room, guest)
    told = await _next(second, "superseded")
    assert await _closed_with(second) == 4409
    await second.disconnect()
    seen = [await _next(first, "presence")]  # the newer socket's "joined"
    await first.send_json_to({"type": "clock.ping", "t0": 1})
    while (message := await first.receive_json_from(timeout=5))["type"] != "clock.pong":
        if message["type"] == "presence":
            seen.append(message)
    assert told == {"type": "superseded"}
    assert [(p["participant"], p["state"]) for p in seen] == [
        (f"u{guest.pk}", "joined")
    ]
    await again.send_json_to({"type": "clock.ping", "t0": 2})
    assert (await _next(again, "clock.pong"))["t0"] == 2
    await again.disconnect()
    await first.disconnect()


async def test_two_windows_opening_together_keep_exactly_the_newer(
    people, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    """Each socket hears the other's notice; the order of opening decides, so one
    socket (the one opened last) stays, whatever order the notices arrive in."""
    host, guest, _ = people
    room = await sync_to_async(_room_with)(host, guest)
    cookie = await sync_to_async(_cookie)(guest)
    sockets = [_room_socket(room, cookie) for _ in range(2)]
    connected = await asyncio.gather(*(s.connect() for s in sockets))
    assert all(ok for ok, _ in connected)
    outcomes = []
    for socket in sockets:
        closed = None
        while not await socket.receive_nothing(timeout=1):
            output = await socket.receive_output()
            if output["type"] == "websocket.close":
                closed = output.get("code")
                break
        outcomes.append(closed)
    assert sorted(outcomes, key=str) == [4409, None]
    for socket in sockets:
        await socket.disconnect()


async def test_a_third_window_closes_each_older_one_once(people, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """The first window, already closed by the second, is not closed again (a
    send after close would end its consumer before it leaves its groups)."""
    host, guest, room, first, second = await _both_joined(people)
    third = await _join(room, guest)
    assert await _closed_with(second) == 4409
    fourth = await _join(room, guest)
    assert await _closed_with(third) == 4409
    assert await second.receive_nothing(timeout=0.3)
    await fourth.send_json_to({"type": "clock.ping", "t0": 3})
    assert (await _next(fourth, "clock.pong"))["t0"] == 3
    for socket in (second, third, fourth, first):
        await socket.disconnect()


async def test_non_member_is_refused_with_4403(people, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """A colleague who was not invited cannot open the room's socket."""
    host, guest, outsider = people
    room = await sync_to_async(_room_with)(host, guest)
    cookie = await sync_to_async(_cookie)(outsider)
    socket = _room_socket(room, cookie)
    assert await _refused_with(socket) == 4403


async def test_anonymous_is_refused_with_4401(people, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """No session at all: 4401."""
    host, guest, _ = people
    room = await sync_to_async(_room_with)(host, guest)
    socket = _room_socket(room, None)
    assert await _refused_with(socket) == 4401


async def test_chat_is_ordered_and_resent_lines_are_stored_once(
    people, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    """Lines get consecutive seqs; a reconnect's resend is acked with the same seq."""
    host, guest, _ = people
    room = await sync_to_async(_room_with)(host, guest)
    first = await _join(room, host)
    ids = [uuid.uuid4() for _ in range(3)]
    for n, client_id in enumerate(ids):
        await first.send_json_to(
            {"type": "chat.send", "client_id": str(client_id), "body": f"line {n}"}
        )
    acks = [await _next(first, "chat.ack") for _ in ids]
    await first.disconnect()
    again = await _join(room, host)
    await again.send_json_to(
        {"type": "chat.send", "client_id": str(ids[1]), "body": "line 1"}
    )
    resent = await _next(again, "chat.ack")
    stored = await sync_to_async(
        lambda: list(ChatMessage.objects.order_by("seq").values_list("seq", flat=True))
    )()
    assert ([a["seq"] for a in acks], resent["seq"], stored) == (
        [1, 2, 3],
        2,
        [1, 2, 3],
    )
    await again.disconnect()


async def test_reconnecting_client_gets_the_lines_it_missed(
    people, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    """hello with last_chat_seq replays exactly the later lines, in order."""
    host, guest, _ = people
    room = await sync_to_async(_room_with)(host, guest)
    talker = await _join(room, host)
    for n in range(4):
        await talker.send_json_to(
            {"type": "chat.send", "client_id": str(uuid.uuid4()), "body": f"line {n}"}
        )
        await _next(talker, "chat.ack")
    listener = await _join(room, guest)
    await listener.send_json_to(
        {"type": "hello", "session": str(uuid.uuid4()), "last_chat_seq": 2}
    )
    history = await _next(listener, "chat.history")
    assert [(m["seq"], m["body"]) for m in history["messages"]] == [
        (3, "line 2"),
        (4, "line 3"),
    ]
    await talker.disconnect()
    await listener.disconnect()


async def test_chat_is_stored_encrypted(people, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """The stored chat row holds no plaintext."""
    host, guest, _ = people
    room = await sync_to_async(_room_with)(host, guest)
    socket = await _join(room, host)
    await socket.send_json_to(
        {
            "type": "chat.send",
            "client_id": str(uuid.uuid4()),
            "body": "Canary chat text",
        }
    )
    await _next(socket, "chat.ack")
    row = await sync_to_async(ChatMessage.objects.get)()
    assert "Canary" not in row.body_ciphertext
    await socket.disconnect()


async def test_host_removes_a_participant(people, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """The removed participant's socket closes with 4403 and they cannot come back."""
    host, guest, room, first, second = await _both_joined(people)
    await first.send_json_to(
        {"type": "host", "action": "remove", "participant": f"u{guest.pk}"}
    )
    notice = await _next(second, "host")
    closed = await second.receive_output(timeout=5)
    member = await sync_to_async(RoomMember.objects.get)(room=room, user=guest)
    cookie = await sync_to_async(_cookie)(guest)
    retry = _room_socket(room, cookie)
    assert (notice["action"], closed["type"], closed.get("code")) == (
        "remove",
        "websocket.close",
        4403,
    )
    assert member.removed_at is not None and await _refused_with(retry) == 4403
    await first.disconnect()


async def test_only_hosts_have_host_controls(people, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """A participant's 'end' gets permission_denied and the room stays open."""
    host, guest, _ = people
    room = await sync_to_async(_room_with)(host, guest)
    second = await _join(room, guest)
    await second.send_json_to({"type": "host", "action": "end"})
    reply = await _next(second, "error")
    status = await sync_to_async(lambda: Room.objects.get(pk=room.pk).status)()
    assert (reply["code"], status) == ("permission_denied", "open")
    await second.disconnect()


async def test_locked_room_refuses_newcomers_but_not_hosts(people, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """After lock, an invited participant cannot join; the host still can."""
    host, guest, _ = people
    room = await sync_to_async(_room_with)(host, guest)
    first = await _join(room, host)
    await first.send_json_to({"type": "host", "action": "lock"})
    await _next(first, "host")
    cookie = await sync_to_async(_cookie)(guest)
    late = _room_socket(room, cookie)
    assert await _refused_with(late) == 4403
    await first.disconnect()
    assert (await _join(room, host)) is not None


async def test_ending_the_room_closes_every_socket(people, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """'end' closes everyone with 4403 and marks the room ended."""
    host, guest, room, first, second = await _both_joined(people)
    await first.send_json_to({"type": "host", "action": "end"})
    await _next(second, "host")
    closed = await second.receive_output(timeout=5)
    status = await sync_to_async(lambda: Room.objects.get(pk=room.pk).status)()
    assert (closed.get("code"), status) == (4403, "ended")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (
            '{"type": "chat.send", "client_id": "not-a-uuid", "body": "x"}',
            "invalid_message",
        ),
        (
            '{"type": "chat.send", '
            '"client_id": "6f1b8f76-3f6e-4b55-9d7f-1ad2c6b1a3f0", "body": ""}',
            "invalid_message",
        ),
        ('{"type": "host", "action": "explode"}', "invalid_message"),
        (
            '{"type": "media.offer", "pc": "sub", "sdp": "v=0 ..........."}',
            "invalid_message",
        ),
        (
            '{"type": "quality", '
            '"session": "6f1b8f76-3f6e-4b55-9d7f-1ad2c6b1a3f0", "fps": -5}',
            "invalid_message",
        ),
        ("{}", "malformed_message"),
    ],
)
async def test_bad_messages_get_errors_and_the_socket_stays(
    people, redis_layer, frame, code
) -> None:  # type: ignore[no-untyped-def]
    """Invalid frames get a stable code; the next valid message still works."""
    host, guest, _ = people
    room = await sync_to_async(_room_with)(host, guest)
    socket = await _join(room, host)
    await socket.send_to(text_data=frame)
    error = await _next(socket, "error")
    await socket.send_json_to({"type": "clock.ping", "t0": 5})
    pong = await _next(socket, "clock.pong")
    assert (error["code"], pong["t0"]) == (code, 5)
    await socket.disconnect()


async def test_a_layer_that_forgets_its_groups_is_survived(people, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """The layer loses every group (a Redis restart): resync, presence, live chat."""
    import asyncio

    from channels.layers import get_channel_layer

    host, guest, room, first, second = await _both_joined(people)
    await _next(first, "presence")
    await asyncio.sleep(1.5)  # the layer watch has primed its sentinel
    await get_channel_layer().flush()
    assert (await _next(first, "resync"))["reason"] == "layer_restored"
    assert (await _next(second, "resync"))["reason"] == "layer_restored"
    # Each restored socket tells the room it is here (a missed "joined").
    for socket, other in ((first, guest), (second, host)):
        for _ in range(20):
            presence = await _next(socket, "presence")
            if presence["participant"] == f"u{other.pk}":
                break
        assert presence["state"] == "present"
    await second.send_json_to(
        {"type": "chat.send", "client_id": str(uuid.uuid4()), "body": "still here"}
    )
    line = await _next(first, "chat.message")
    assert line["message"]["body"] == "still here"
    await first.disconnect()
    await second.disconnect()


async def test_a_room_socket_opens_while_the_layer_is_down(
    people, redis_layer, group_add_fails_once
) -> None:  # type: ignore[no-untyped-def]
    """Joining the groups fails once: the socket opens and resyncs when it can."""
    host, guest, _ = people
    room = await sync_to_async(_room_with)(host, guest)
    first = await _join(room, host)
    assert (await _next(first, "resync"))["reason"] == "layer_restored"
    second = await _join(room, guest)
    for _ in range(20):
        joined = await _next(first, "presence")
        if joined["participant"] == f"u{guest.pk}":
            break
    assert joined["state"] == "joined"
    await first.disconnect()
    await second.disconnect()
