"""Transports: the Redis channel layer (scaled) and the embedded thread bridge."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from consult.media import client
from consult.media.protocol import worker_channel
from consult.media.runtime import EmbeddedMediaWorker, stop_embedded_worker
from consult.media.transports import ChannelLayerTransport
from tests.consult.media.conftest import EchoWorker


class SlowWorker(EchoWorker):
    """Holds its own loop for 500 ms per message, like decoding would."""

    block_s = 0.5


class DeafWorker(EchoWorker):
    """Never takes a message off its inbox."""

    async def run(self) -> None:
        await asyncio.Event().wait()


def _message(reply_to: str, room: str = "r1") -> dict[str, Any]:
    return {
        "type": "media.stats",
        "room": room,
        "participant": "p1",
        "reply_to": reply_to,
    }


@pytest.fixture
def embedded() -> Iterator[list[EmbeddedMediaWorker]]:
    """Embedded workers started by a test; all stopped afterwards."""
    started: list[EmbeddedMediaWorker] = []
    yield started
    for worker in started:
        worker.stop()


def _start(
    started: list[EmbeddedMediaWorker], **kwargs: Any
) -> tuple[EmbeddedMediaWorker, list[Any]]:
    instances: list[Any] = []
    factory = kwargs.pop("factory", EchoWorker)

    def build(worker_id: str, transport: Any) -> Any:
        instances.append(factory(worker_id, transport))
        return instances[-1]

    worker = EmbeddedMediaWorker(factory=build, **kwargs)
    worker.start()
    started.append(worker)
    return worker, instances


@pytest.mark.redis
async def test_channel_layer_transport_receives_on_its_worker_channel(
    media_layer,
) -> None:  # type: ignore[no-untyped-def]
    """A message sent to media.worker.<id> on Redis is what receive() returns."""
    transport = ChannelLayerTransport("w-test-1", media_layer)
    await media_layer.send(worker_channel("w-test-1"), {"type": "media.stats", "n": 1})
    assert await asyncio.wait_for(transport.receive(), 5) == {
        "type": "media.stats",
        "n": 1,
    }


@pytest.mark.redis
async def test_channel_layer_transport_replies_to_consumers_and_groups(
    media_layer,
) -> None:  # type: ignore[no-untyped-def]
    """send() reaches a reply channel and group_send() a group member, over Redis."""
    transport = ChannelLayerTransport("w-test-2", media_layer)
    consumer = await media_layer.new_channel()
    await media_layer.group_add("room.g1", consumer)
    await transport.send(consumer, {"type": "media.answer", "pc": "pub", "sdp": "v=0"})
    await transport.group_send("room.g1", {"type": "media.tracks", "tracks": []})
    first = await asyncio.wait_for(media_layer.receive(consumer), 5)
    second = await asyncio.wait_for(media_layer.receive(consumer), 5)
    assert (first["type"], second["type"]) == ("media.answer", "media.tracks")


async def test_bridge_runs_the_worker_on_its_own_thread(memory_layer, embedded) -> None:  # type: ignore[no-untyped-def]
    """A message crosses into the worker's thread; the reply comes back to this loop."""
    worker, [echo] = _start(embedded)
    reply_to = await memory_layer.new_channel()
    worker.submit(_message(reply_to, room="r-bridge"), asyncio.get_running_loop())
    reply = await asyncio.wait_for(memory_layer.receive(reply_to), 5)
    assert reply["for_room"] == "r-bridge"
    assert echo.threads and threading.get_ident() not in echo.threads


async def test_a_busy_worker_never_stalls_the_web_loop(memory_layer, embedded) -> None:  # type: ignore[no-untyped-def]
    """While the worker holds its loop 3 x 500 ms, this loop keeps ticking.

    A loop shared with the worker would miss a tick by 500 ms at least; the
    bound leaves room for a loaded machine.
    """
    worker, _ = _start(embedded, factory=SlowWorker)
    reply_to = await memory_layer.new_channel()
    loop = asyncio.get_running_loop()
    for _ in range(3):
        worker.submit(_message(reply_to), loop)
    worst = 0.0
    for _ in range(100):
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        worst = max(worst, time.perf_counter() - before)
    replies = [
        await asyncio.wait_for(memory_layer.receive(reply_to), 5) for _ in range(3)
    ]
    assert (len(replies), worst < 0.4) == (3, True)


async def test_a_full_bridge_inbox_refuses_with_worker_overloaded(
    memory_layer, embedded
) -> None:  # type: ignore[no-untyped-def]
    """Past the inbox bound a request is answered worker_overloaded, not queued."""
    worker, _ = _start(embedded, factory=DeafWorker, inbox_size=2)
    reply_to = await memory_layer.new_channel()
    for _ in range(3):
        worker.submit(_message(reply_to), asyncio.get_running_loop())
    refusal = await asyncio.wait_for(memory_layer.receive(reply_to), 5)
    assert (refusal["type"], refusal["code"], refusal["for"]) == (
        "media.error",
        "worker_overloaded",
        "media.stats",
    )


async def test_stopping_the_bridge_closes_the_worker_and_its_thread(
    memory_layer, embedded
) -> None:  # type: ignore[no-untyped-def]
    """stop() runs the worker's close() on its loop and ends the thread."""
    worker, [echo] = _start(embedded)
    worker.stop()
    assert (echo.closed.is_set(), worker.alive) == (True, False)


async def test_the_real_media_worker_answers_across_the_bridge(
    memory_layer, embedded
) -> None:  # type: ignore[no-untyped-def]
    """media_core's MediaWorker, embedded, answers stats for an unknown room: error."""
    from consult.media.runtime import build_worker

    worker = EmbeddedMediaWorker(factory=build_worker)
    worker.start()
    embedded.append(worker)
    reply_to = await memory_layer.new_channel()
    worker.submit(
        _message(reply_to, room=str(uuid.uuid4())), asyncio.get_running_loop()
    )
    reply = await asyncio.wait_for(memory_layer.receive(reply_to), 5)
    assert (reply["type"], reply["code"], reply["for"]) == (
        "media.error",
        "unknown_room",
        "media.stats",
    )


async def test_client_starts_the_embedded_worker_once_and_sends_through_it(
    memory_layer, settings
) -> None:  # type: ignore[no-untyped-def]
    """Embedded, media_send starts one in-process worker and routes replies back."""
    settings.MEDIA_WORKERS = "embedded"
    settings.MEDIA_WORKER_CLASS = "tests.consult.media.conftest.EchoWorker"
    reply_to = await memory_layer.new_channel()
    try:
        first = await client.media_send(
            "r-a", {"type": "media.stats", "participant": "p"}, reply_to=reply_to
        )
        second = await client.media_send(
            "r-b", {"type": "media.stats", "participant": "p"}, reply_to=reply_to
        )
        rooms = {
            (await asyncio.wait_for(memory_layer.receive(reply_to), 5))["for_room"]
            for _ in range(2)
        }
        [listed] = await client.media_workers()
    finally:
        await asyncio.to_thread(stop_embedded_worker)
    assert (first == second == listed["id"], rooms) == (True, {"r-a", "r-b"})
