"""Room placement and worker heartbeats on a real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from consult.media import client
from consult.media.placement import WorkerRegistry
from consult.media.protocol import room_group, worker_channel
from tests.consult.media.conftest import REDIS_URL

pytestmark = pytest.mark.redis

IDLE = {"peers": 0, "tracks": 0, "cpu": 0.0}


def _room() -> str:
    return str(uuid.uuid4())


async def _expire(registry: WorkerRegistry, worker_id: str) -> None:
    """What a missed heartbeat does, without waiting the 6 s TTL."""
    await registry.redis.pexpire(f"{registry.prefix}:worker:{worker_id}", 1)
    await asyncio.sleep(0.05)


async def test_a_new_room_goes_to_the_least_loaded_worker(registry) -> None:  # type: ignore[no-untyped-def]
    """With two rooms on w-a and one on w-b, the next room lands on idle w-c."""
    for worker_id in ("w-a", "w-b", "w-c"):
        await registry.heartbeat(worker_id, IDLE, capacity=10)
    for worker_id, rooms in (("w-a", 2), ("w-b", 1)):
        for _ in range(rooms):
            await registry.redis.sadd(f"{registry.prefix}:rooms:{worker_id}", _room())
    placement = await registry.place_room(_room())
    assert (placement.worker_id, placement.lost_worker_id) == ("w-c", None)


async def test_a_worker_running_a_composite_counts_as_busier(registry) -> None:  # type: ignore[no-untyped-def]
    """A composite weighs as rooms: w-a (1 composite) loses to w-b (3 rooms)."""
    registry.composite_weight = 5
    await registry.heartbeat("w-a", {**IDLE, "composites": 1}, capacity=10)
    await registry.heartbeat("w-b", IDLE, capacity=10)
    for _ in range(3):
        await registry.redis.sadd(f"{registry.prefix}:rooms:w-b", _room())
    assert (await registry.place_room(_room())).worker_id == "w-b"
    # Two composites (10 rooms' worth) fill w-a: nothing more goes there.
    await registry.heartbeat("w-a", {**IDLE, "composites": 2}, capacity=10)
    for _ in range(6):
        assert (await registry.place_room(_room())).worker_id == "w-b"
    assert (await registry.place_room(_room())).worker_id is None


async def test_a_placed_room_stays_on_its_live_worker(registry) -> None:  # type: ignore[no-untyped-def]
    """Placing an already placed room returns the same worker, however loaded."""
    await registry.heartbeat("w-a", IDLE, capacity=10)
    room = _room()
    first = await registry.place_room(room)
    await registry.heartbeat("w-b", IDLE, capacity=10)
    assert (await registry.place_room(room)).worker_id == first.worker_id == "w-a"


async def test_concurrent_placements_share_workers_evenly(registry) -> None:  # type: ignore[no-untyped-def]
    """Twenty rooms placed at once over two 10-room workers fill both exactly."""
    for worker_id in ("w-a", "w-b"):
        await registry.heartbeat(worker_id, IDLE, capacity=10)
    placements = await asyncio.gather(
        *(registry.place_room(_room()) for _ in range(20))
    )
    counts = {w: [p.worker_id for p in placements].count(w) for w in ("w-a", "w-b")}
    assert counts == {"w-a": 10, "w-b": 10}


async def test_concurrent_placements_of_one_room_agree(registry, media_prefix) -> None:  # type: ignore[no-untyped-def]
    """Several web processes placing one room at once all get one worker."""
    others = [WorkerRegistry(REDIS_URL, prefix=media_prefix) for _ in range(3)]
    for worker_id in ("w-a", "w-b", "w-c"):
        await registry.heartbeat(worker_id, IDLE, capacity=10)
    room = _room()
    placements = await asyncio.gather(
        *(other.place_room(room) for other in others for _ in range(5))
    )
    for other in others:
        await other.aclose()
    assert len({p.worker_id for p in placements}) == 1


async def test_full_workers_are_not_placed_on(registry) -> None:  # type: ignore[no-untyped-def]
    """A worker at capacity takes no new room; with none left there is no placement."""
    await registry.heartbeat("w-a", IDLE, capacity=1)
    await registry.place_room(_room())
    assert (await registry.place_room(_room())).worker_id is None


async def test_a_lost_worker_is_reported_once_and_its_room_re_placed(registry) -> None:  # type: ignore[no-untyped-def]
    """After w-a expires, concurrent requests move the room to w-b; one sees it lost."""
    await registry.heartbeat("w-a", IDLE, capacity=10)
    room = _room()
    await registry.place_room(room)
    await registry.heartbeat("w-b", IDLE, capacity=10)
    await _expire(registry, "w-a")
    placements = await asyncio.gather(*(registry.place_room(room) for _ in range(8)))
    assert {p.worker_id for p in placements} == {"w-b"}
    assert [p.lost_worker_id for p in placements if p.lost_worker_id] == ["w-a"]


async def test_reaping_unplaces_the_rooms_of_expired_workers_only(registry) -> None:  # type: ignore[no-untyped-def]
    """reap() returns (dead worker, room) pairs and leaves live workers alone."""
    await registry.heartbeat("w-a", IDLE, capacity=1)
    await registry.heartbeat("w-b", IDLE, capacity=1)
    room_a, room_b = _room(), _room()
    assert (await registry.place_room(room_a)).worker_id == "w-a"
    assert (await registry.place_room(room_b)).worker_id == "w-b"
    await _expire(registry, "w-a")
    lost = await registry.reap()
    assert (lost, await registry.room_worker(room_a)) == ([("w-a", room_a)], None)
    assert await registry.room_worker(room_b) == "w-b"


async def test_deregistering_hands_back_the_rooms(registry) -> None:  # type: ignore[no-untyped-def]
    """A worker shutting down is no longer live and its rooms are unplaced."""
    await registry.heartbeat("w-a", IDLE, capacity=5)
    room = _room()
    await registry.place_room(room)
    rooms = await registry.deregister("w-a")
    assert (rooms, await registry.live_workers(), await registry.room_worker(room)) == (
        [room],
        [],
        None,
    )


async def test_live_workers_show_load_rooms_and_heartbeat_age(registry) -> None:  # type: ignore[no-untyped-def]
    """Each live worker lists its load, placed-room count and heartbeat age."""
    await registry.heartbeat("w-a", {"peers": 4, "cpu": 12.5}, capacity=5)
    await registry.place_room(_room())
    [worker] = await registry.live_workers()
    assert (worker.id, worker.load["peers"], worker.load["cpu"]) == ("w-a", 4, 12.5)
    assert (worker.load["rooms"], worker.load["capacity"]) == (1, 5)
    assert 0 <= worker.age_s < 2


async def test_client_tells_the_room_when_its_worker_was_lost(
    registry, media_layer, settings
) -> None:  # type: ignore[no-untyped-def]
    """A request after the worker expired re-places the room, sends worker_lost."""
    settings.MEDIA_WORKERS = "external"
    layer = media_layer
    room = _room()
    listener = await layer.new_channel()
    await layer.group_add(room_group(room), listener)
    await registry.heartbeat("w-a", IDLE, capacity=10)
    await registry.place_room(room)
    await registry.heartbeat("w-b", IDLE, capacity=10)
    await _expire(registry, "w-a")
    worker_id = await client.place(room)
    event = await asyncio.wait_for(layer.receive(listener), 5)
    assert worker_id == "w-b"
    assert (event["type"], event["room"], event["worker"]) == (
        "media.worker_lost",
        room,
        "w-a",
    )


async def test_client_refuses_when_no_worker_is_live(registry, settings) -> None:  # type: ignore[no-untyped-def]
    """Scaled with no live worker, a request fails with a stable error code."""
    settings.MEDIA_WORKERS = "external"
    with pytest.raises(client.MediaUnavailable) as refused:
        await client.media_send(
            _room(), {"type": "media.stats", "participant": "u1"}, reply_to="x"
        )
    assert refused.value.code == "worker_overloaded"


async def test_closing_a_room_tells_its_worker_and_unplaces_it(
    registry, media_layer, settings
) -> None:  # type: ignore[no-untyped-def]
    """media_close_room reaches the room's worker channel and frees the placement."""
    settings.MEDIA_WORKERS = "external"
    await registry.heartbeat("w-a", IDLE, capacity=10)
    room = _room()
    await client.place(room)
    await client.media_close_room(room, participant="u1", reply_to="reply.x")
    message = await asyncio.wait_for(media_layer.receive(worker_channel("w-a")), 5)
    assert (message["type"], message["room"], message["reply_to"]) == (
        "media.close_room",
        room,
        "reply.x",
    )
    assert await registry.room_worker(room) is None
