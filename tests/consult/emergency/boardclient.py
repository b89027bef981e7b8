"""A command board in asyncio: what ``static/js/board/waveforms.js`` does with one case.

It follows every stream of the case by ``seq``: live ``vitals``/``waveform``
messages are delivered in order, a jump is backfilled over HTTP, and after a
``resync`` or a reconnect it subscribes again and backfills from its last
seq to the server's ``acked_through``. Reconnects back off with full jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import websockets


@dataclass
class StreamView:
    """One stream as the board has it: delivered seqs in order, the rest pending."""

    last: int = -1
    delivered: list[int] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    pending: dict[int, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0


class BoardClient:
    """One board socket following one case until ``stop`` is set."""

    def __init__(self, base: str, cookie: str, case_id: str) -> None:
        self.base, self.cookie, self.case_id = base, cookie, case_id
        self.streams: dict[str, StreamView] = {}
        self.connects = 0
        self.resyncs: list[float] = []
        self.live_at: list[float] = []
        self.backfilled = 0
        self._ws: Any = None
        self._fetching: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, follow, and reconnect with backoff until ``stop``."""
        attempt = 0
        while not stop.is_set():
            try:
                async with websockets.connect(
                    self.base.replace("http", "ws", 1) + "/ws/emergency/board/",
                    additional_headers={"Cookie": self.cookie},
                    origin=self.base,
                    open_timeout=10,
                    ping_interval=None,
                    max_size=2**22,
                ) as ws:
                    attempt = 0
                    self.connects += 1
                    await self._session(ws, stop)
            except (OSError, websockets.WebSocketException, TimeoutError):
                pass
            finally:
                self._ws = None
            delay = random.uniform(0, min(2.0, 0.25 * 2**attempt))  # noqa: S311
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        for task in list(self._tasks):
            task.cancel()

    async def _session(self, ws: Any, stop: asyncio.Event) -> None:
        self._ws = ws
        await self._subscribe()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            message = json.loads(raw)
            kind = message.get("type")
            if kind in ("vitals", "waveform") and message.get("case") == self.case_id:
                self.live_at.append(time.monotonic())
                if kind == "vitals":  # numerics come as values, not a payload
                    message["payload"] = {"values": message["values"]}
                self._offer(message["stream"], message)
            elif kind == "subscribed":
                for info in message.get("streams", []):
                    self._spawn(self._backfill(info["stream"], info["acked_through"]))
            elif kind == "resync":
                self.resyncs.append(time.monotonic())
                await self._subscribe()

    async def _subscribe(self) -> None:
        if self._ws is not None:
            await self._ws.send(json.dumps({"type": "subscribe", "case": self.case_id}))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _offer(self, stream: str, batch: dict[str, Any]) -> None:
        view = self.streams.setdefault(stream, StreamView())
        seq = batch["seq"]
        if seq <= view.last or seq in view.pending:
            view.duplicates += 1
            return
        view.pending[seq] = batch
        while view.last + 1 in view.pending:
            view.last += 1
            view.delivered.append(view.last)
            view.payloads.append(view.pending.pop(view.last)["payload"])
        if view.pending:  # a jump: fetch what the live feed lost
            self._spawn(self._backfill(stream, min(view.pending) - 1))

    async def _backfill(self, stream: str, through: int) -> None:
        """Fetch ``last+1 .. through`` over HTTP (pages of at most 500)."""
        if stream in self._fetching:
            return
        self._fetching.add(stream)
        try:
            view = self.streams.setdefault(stream, StreamView())
            while view.last < through:
                after = view.last
                body = await asyncio.to_thread(self._get, stream, after)
                for batch in body["batches"]:
                    if batch["seq"] > view.last and batch["seq"] not in view.pending:
                        self.backfilled += 1
                    self._offer(stream, batch)
                if not body["batches"] or view.last == after:
                    break
        finally:
            self._fetching.discard(stream)

    def _get(self, stream: str, after: int) -> dict[str, Any]:
        url = (
            f"{self.base}/api/emergency/cases/{self.case_id}/vitals/"
            f"?stream={stream}&after_seq={after}&limit=500"
        )
        request = urllib.request.Request(url, headers={"Cookie": self.cookie})  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())
