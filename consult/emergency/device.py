"""A device's side of the lossless uplink, in asyncio: what a crew phone does.

Used by ``simulate_ambulance``, the benchmark and the fault-injection tests,
so they all drive the server exactly as the browser client must:

1. every batch gets the next ``seq`` of its stream and goes to the outbox;
2. at most ``window`` unacknowledged batches are in flight, oldest first;
3. an ``ack`` deletes everything up to ``acked_through`` from the outbox and
   puts the ``missing`` seqs back in the queue;
4. on (re)connect the device sends ``hello`` per stream and resends from the
   server's ``acked_through + 1``;
5. a ping every ``ping_every`` s, and the socket is dropped after two
   unanswered ones; reconnects back off exponentially with full jitter.

No Django here: only ``websockets`` and the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets

logger = logging.getLogger(__name__)
MAX_BATCHES_PER_MESSAGE = 32


def sha256_of(payload: Any) -> str:
    """The canonical payload hash the server verifies."""
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class StreamOutbox:
    """One stream's unacknowledged batches and how far the server has them."""

    stream: str
    kind: str
    next_seq: int = 0
    acked_through: int = -1
    pending: dict[int, dict[str, Any]] = field(default_factory=dict)
    in_flight: set[int] = field(default_factory=set)
    first_sent: dict[int, float] = field(default_factory=dict)


@dataclass
class UplinkStats:
    """What a run measured: ack latencies (s), reconnects, refused batches."""

    ack_latencies: list[float] = field(default_factory=list)
    connects: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Uplink:
    """Outbox, window, acks and reconnects for one device on one case."""

    def __init__(
        self,
        *,
        ws_url: str,
        headers: dict[str, str],
        origin: str,
        device_id: str,
        window: int = 16,
        ping_every: float = 15.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.ws_url, self.headers, self.origin = ws_url, headers, origin
        self.device_id, self.window = device_id, window
        self.ping_every = ping_every
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.on_message = on_message
        self.streams: dict[str, StreamOutbox] = {}
        self.stats = UplinkStats()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._last_heard = time.monotonic()
        self.resend_after = 5.0
        self._socket: Any = None

    def open_stream(self, kind: str) -> str:
        """A new stream (a new session id) for one kind of data."""
        stream = str(uuid.uuid4())
        self.streams[stream] = StreamOutbox(stream, kind)
        return stream

    def add(
        self,
        stream: str,
        *,
        payload: dict[str, Any],
        sample_t0_ms: float,
        rate_hz: float = 0.0,
        n_samples: int = 1,
    ) -> int:
        """Put a batch in the outbox with the stream's next seq; returns the seq."""
        box = self.streams[stream]
        seq = box.next_seq
        box.next_seq += 1
        box.pending[seq] = {
            "device": self.device_id,
            "stream": stream,
            "seq": seq,
            "kind": box.kind,
            "sample_t0": sample_t0_ms,
            "rate_hz": rate_hz,
            "n_samples": n_samples,
            "payload": payload,
            "sha256": sha256_of(payload),
        }
        self._wake.set()
        return seq

    @property
    def backlog(self) -> int:
        """Batches not yet acknowledged."""
        return sum(len(b.pending) for b in self.streams.values())

    @property
    def connected(self) -> bool:
        """Whether a socket is open now."""
        return self._socket is not None

    async def send_extra(self, message: dict[str, Any]) -> bool:
        """Send a non-lossless message (location) if connected."""
        if self._socket is None:
            return False
        try:
            await self._socket.send(json.dumps(message))
        except websockets.ConnectionClosed:
            return False
        return True

    async def drained(self, within: float) -> bool:
        """Wait up to ``within`` seconds until every batch is acknowledged."""
        deadline = time.monotonic() + within
        while self.backlog and (left := deadline - time.monotonic()) > 0:
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(left, 1.0))
        return not self.backlog

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, stream, and reconnect with backoff until ``stop`` is set."""
        attempt = 0
        while not stop.is_set():
            try:
                async with websockets.connect(
                    self.ws_url,
                    additional_headers=self.headers,
                    origin=self.origin,
                    open_timeout=30,
                    ping_interval=None,
                    max_size=2**20,
                ) as socket:
                    attempt = 0
                    self.stats.connects += 1
                    await self._session(socket, stop)
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                logger.debug("uplink dropped: %s", exc)
            finally:
                self._socket = None
                for box in self.streams.values():
                    box.in_flight.clear()
            if stop.is_set():
                break
            delay = random.uniform(  # noqa: S311  (jitter, not security)
                0, min(self.backoff_cap, self.backoff_base * 2**attempt)
            )
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, socket: Any, stop: asyncio.Event) -> None:
        first = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if self.on_message:
            self.on_message(first)
        for box in self.streams.values():
            await socket.send(
                json.dumps(
                    {
                        "type": "hello",
                        "device": self.device_id,
                        "stream": box.stream,
                        "last_acked": box.acked_through,
                    }
                )
            )
        self._socket = socket
        tasks = [
            asyncio.create_task(self._reader(socket)),
            asyncio.create_task(self._writer(socket)),
            asyncio.create_task(self._heartbeat(socket)),
            asyncio.create_task(stop.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._socket = None

    async def _reader(self, socket: Any) -> None:
        async for raw in socket:
            self._last_heard = time.monotonic()
            message = json.loads(raw)
            kind = message.get("type")
            if kind in ("ack", "state"):
                self._on_ack(message)
            elif kind == "error":
                code = message.get("code", "")
                self.stats.errors[code] = self.stats.errors.get(code, 0) + 1
            if self.on_message:
                self.on_message(message)

    def _on_ack(self, message: dict[str, Any]) -> None:
        box = self.streams.get(message.get("stream", ""))
        if box is None:
            return
        through = int(message["acked_through"])
        now = time.monotonic()
        for seq in [s for s in box.pending if s <= through]:
            del box.pending[seq]
            sent = box.first_sent.pop(seq, None)
            if sent is not None:
                self.stats.ack_latencies.append(now - sent)
        box.acked_through = max(box.acked_through, through)
        box.in_flight = {s for s in box.in_flight if s > through}
        if message["type"] == "state":
            box.in_flight.clear()  # resend everything after the server's prefix
        box.in_flight -= set(message.get("missing", []))
        self._wake.set()
        self._progress.set()

    async def _writer(self, socket: Any) -> None:
        while True:
            self._wake.clear()  # before the scan, so an add() during it is not lost
            ready: list[dict[str, Any]] = []
            for box in self.streams.values():
                room = self.window - len(box.in_flight)
                if room <= 0:
                    continue
                queue = [s for s in sorted(box.pending) if s not in box.in_flight]
                for seq in queue[:room]:
                    box.in_flight.add(seq)
                    box.first_sent.setdefault(seq, time.monotonic())
                    ready.append(box.pending[seq])
            # Whatever is ready goes in one message (one transaction server-side).
            for start in range(0, len(ready), MAX_BATCHES_PER_MESSAGE):
                chunk = ready[start : start + MAX_BATCHES_PER_MESSAGE]
                message = (
                    {"type": "batch", **chunk[0]}
                    if len(chunk) == 1
                    else {"type": "batches", "items": chunk}
                )
                await socket.send(json.dumps(message))
            if not ready:
                try:
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                except TimeoutError:
                    if time.monotonic() - self._last_heard > self.resend_after:
                        # Nothing heard for a while: the in-flight ones are lost.
                        for box in self.streams.values():
                            box.in_flight.clear()

    async def _heartbeat(self, socket: Any) -> None:
        self._last_heard = time.monotonic()
        while True:
            await asyncio.sleep(self.ping_every)
            if time.monotonic() - self._last_heard > 2 * self.ping_every:
                await socket.close()
                return
            await socket.send(json.dumps({"type": "ping", "t0": time.time() * 1000}))
