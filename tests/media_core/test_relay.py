"""TrackRelay fan-out rules, driven directly with synthetic packets."""

from __future__ import annotations

import asyncio
import tracemalloc
from fractions import Fraction

import av
import pytest
from aiortc.mediastreams import MediaStreamError

from media_core.relay import TrackRelay


def _packet(index: int, keyframe: bool, size: int = 1000) -> av.Packet:
    packet = av.Packet(bytes([0 if keyframe else 1]) + bytes(size - 1))
    packet.pts = index * 3000
    packet.time_base = Fraction(1, 90000)
    packet.is_keyframe = keyframe
    return packet


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_new_subscriber_waits_for_keyframe_and_asks_for_one() -> None:
    """Delta frames before the first keyframe are skipped; one request goes up."""
    asked: list[int] = []
    relay = TrackRelay("video", lambda: asked.append(1))
    sub = relay.subscribe()
    assert asked == [1]
    for i in range(3):
        relay.push(_packet(i, keyframe=False))
    relay.push(_packet(3, keyframe=True))
    relay.push(_packet(4, keyframe=False))
    first = await sub.recv()
    assert first.is_keyframe and first.pts == 9000
    assert (await sub.recv()).pts == 12000
    assert sub.counters.dropped == 3 and sub.counters.forwarded == 2


async def test_stalled_subscriber_is_bounded_and_others_get_everything() -> None:
    """A never-reading subscriber stays bounded and resyncs; others lose nothing."""
    asked: list[int] = []
    relay = TrackRelay("video", lambda: asked.append(1), queue_size=30)
    stalled = relay.subscribe("stalled")
    live = [relay.subscribe(f"live{i}") for i in range(3)]
    received = {sub.name: 0 for sub in live}

    async def reader(sub: object) -> None:
        while True:
            await sub.recv()  # type: ignore[attr-defined]
            received[sub.name] += 1  # type: ignore[attr-defined]

    tasks = [asyncio.ensure_future(reader(sub)) for sub in live]
    tracemalloc.start()
    baseline = None
    for i in range(3000):
        relay.push(_packet(i, keyframe=i % 60 == 0))
        if i % 10 == 0:
            await asyncio.sleep(0)
        if i == 500:
            baseline = tracemalloc.get_traced_memory()[0]
    grown = tracemalloc.get_traced_memory()[0] - (baseline or 0)
    tracemalloc.stop()
    await asyncio.sleep(0)
    assert all(n == 3000 for n in received.values())
    assert stalled.stats()["queued"] <= 30
    assert stalled.counters.resyncs >= 40
    assert grown < 200_000
    for task in tasks:
        task.cancel()


async def test_keyframe_requests_are_rate_limited_and_coalesced() -> None:
    """Requests inside the window are coalesced into one sent when it ends."""
    clock = _Clock()
    asked: list[float] = []
    relay = TrackRelay("video", lambda: asked.append(clock.now), clock=clock)
    assert relay.request_keyframe()
    for _ in range(10):
        assert not relay.request_keyframe()
    assert asked == [0.0]
    clock.now = 0.5
    await asyncio.sleep(0.6)
    assert asked == [0.0, 0.5]
    assert relay.keyframe_requests_coalesced == 10


async def test_audio_is_relayed_without_gating() -> None:
    """Audio packets pass at once and never ask for keyframes."""
    asked: list[int] = []
    relay = TrackRelay("audio", lambda: asked.append(1))
    sub = relay.subscribe()
    relay.push(_packet(0, keyframe=True))
    assert (await sub.recv()).pts == 0
    assert asked == []


async def test_close_ends_subscribers() -> None:
    """After close every subscriber's recv raises MediaStreamError."""
    relay = TrackRelay("video")
    sub = relay.subscribe()
    relay.close()
    with pytest.raises(MediaStreamError):
        await sub.recv()


async def test_upstream_refusal_is_retried() -> None:
    """While upstream cannot ask (returns False) the request is retried, not lost."""
    answers = [False, False, True]
    calls: list[bool] = []

    def upstream() -> bool:
        calls.append(answers[len(calls)])
        return calls[-1]

    relay = TrackRelay("video", upstream)
    relay.subscribe()
    await asyncio.sleep(0.3)
    assert calls == [False, False, True]
    assert relay.keyframes_requested == 1
