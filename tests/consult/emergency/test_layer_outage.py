"""Sockets outlive channel-layer trouble and come back live, telling clients to resync.

Uses the shared Redis only under this test's own prefix: a ``flush`` of the
prefix is what a Redis restart without persistence does to this layer's
groups. The real restart is in ``test_redis_restart.py``.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError

from config.asgi import application
from consult.emergency import events
from tests.consult.emergency.conftest import ORIGIN, batch_dict, session_cookie

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]


async def _socket(path: str, user) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    cookie = await sync_to_async(session_cookie)(user)
    socket = WebsocketCommunicator(
        application, path, headers=[ORIGIN, (b"cookie", cookie)]
    )
    assert (await socket.connect())[0]
    await socket.receive_json_from(timeout=5)
    return socket


async def _next_of(socket: WebsocketCommunicator, kind: str, within: float) -> dict:
    """The next message of ``kind`` (others skipped) within ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        message = await socket.receive_json_from(timeout=deadline - loop.time())
        if message["type"] == kind:
            return message


async def _first_of_each(
    socket: WebsocketCommunicator, kinds: set[str], within: float
) -> dict[str, dict]:
    """The first message of each of ``kinds``, in whatever order they come."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    found: dict[str, dict] = {}
    while kinds - set(found):
        message = await socket.receive_json_from(timeout=deadline - loop.time())
        found.setdefault(message["type"], message)
    return found


async def _live_vitals_reach(board, crew) -> dict:  # type: ignore[no-untyped-def]
    await crew.send_json_to(
        {"type": "batch", **batch_dict(uuid.uuid4(), 0, kind="numerics")}
    )
    return await _next_of(board, "vitals", 5)


async def test_board_survives_a_layer_receive_error_and_resyncs(
    world, redis_layer, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Redis errors in the layer receive: socket up, resync sent, live events flow."""
    real = RedisChannelLayer.receive
    failures: list[Exception] = []

    async def flaky(self, channel):  # type: ignore[no-untyped-def]
        if failures:
            raise failures.pop()
        return await real(self, channel)

    monkeypatch.setattr(RedisChannelLayer, "receive", flaky)
    board = await _socket("/ws/emergency/board/", world.operator)
    group = events.board_group(world.hospital.pk)
    failures += [RedisConnectionError("simulated")] * 2
    # The board's receive returns this event, then fails twice on its next calls.
    await get_channel_layer().group_send(group, {"type": "emergency.vitals", "n": 1})
    first = await _next_of(board, "vitals", 5)
    resync = await _next_of(board, "resync", 10)
    await get_channel_layer().group_send(group, {"type": "emergency.vitals", "n": 2})
    second = await _next_of(board, "vitals", 5)
    await board.send_json_to({"type": "ping", "t0": 1})
    pong = await _next_of(board, "pong", 5)
    assert (first["n"], resync["reason"], second["n"], pong["t0"], failures) == (
        1,
        "layer_restored",
        2,
        1,
        [],
    )
    await board.disconnect()


async def test_groups_forgotten_by_the_layer_are_rejoined(world, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """The layer loses every group (as a Redis restart does): re-joined, resync sent."""
    case = await sync_to_async(world.open_case)()
    board = await _socket("/ws/emergency/board/", world.operator)
    await board.send_json_to({"type": "subscribe", "case": str(case.pk)})
    await _next_of(board, "subscribed", 5)
    crew = await _socket(f"/ws/emergency/crew/{case.pk}/", world.paramedic)
    await asyncio.sleep(1.5)  # the watch has primed its sentinel
    await get_channel_layer().flush()
    resync = await _next_of(board, "resync", 10)
    vitals = await _live_vitals_reach(board, crew)
    await crew.send_json_to({"type": "batch", **batch_dict(uuid.uuid4(), 0)})
    waveform = await _next_of(board, "waveform", 5)
    assert (resync["type"], vitals["case"], waveform["case"]) == (
        "resync",
        str(case.pk),
        str(case.pk),
    )
    await crew.disconnect()
    await board.disconnect()


async def test_crew_socket_opens_while_the_layer_is_down(
    world, redis_layer, group_add_fails_once
) -> None:  # type: ignore[no-untyped-def]
    """The uplink does not need the layer: a crew socket opens and gets acks."""
    calls = group_add_fails_once
    case = await sync_to_async(world.open_case)()
    crew = await _socket(f"/ws/emergency/crew/{case.pk}/", world.paramedic)
    await crew.send_json_to({"type": "batch", **batch_dict(uuid.uuid4(), 0)})
    got = await _first_of_each(crew, {"ack", "resync"}, 10)
    assert (got["ack"]["acked_through"], len(calls) >= 2) == (0, True)
    await crew.disconnect()
