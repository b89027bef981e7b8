"""Running a media worker: building it, heartbeats, the embedded thread.

``serve_worker`` runs one worker on the current loop until asked to stop, with
heartbeats and reaping when a ``WorkerRegistry`` is given (scaled mode).
``EmbeddedMediaWorker`` runs one worker on a daemon thread with its own event
loop inside the web process; ``embedded_worker()`` starts it once per process
on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from consult.media import ice
from consult.media.placement import HEARTBEAT_INTERVAL_S, WorkerRegistry
from consult.media.protocol import new_worker_id, room_group, worker_lost_event
from consult.media.transports import BridgeTransport
from media_core.aiortc_fixes import MediaFixes
from media_core.metrics import MetricsRegistry

logger = logging.getLogger(__name__)


class Worker(Protocol):
    """What the web tier needs of ``media_core``'s ``MediaWorker``."""

    async def run(self) -> None: ...

    def load(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class Transport(Protocol):
    """``media_core``'s transport protocol, as the web tier implements it."""

    async def receive(self) -> dict[str, Any]: ...

    async def send(self, channel: str, message: dict[str, Any]) -> None: ...

    async def group_send(self, group: str, message: dict[str, Any]) -> None: ...


def build_worker(
    worker_id: str, transport: Transport, *, capacity: int | None = None
) -> Worker:
    """A worker of ``settings.MEDIA_WORKER_CLASS`` with the ICE configuration.

    ``capacity`` (rooms) is what the worker reports in ``load()``; placement
    reads the same figure from the heartbeat.
    """
    worker_class = import_string(settings.MEDIA_WORKER_CLASS)
    return worker_class(
        worker_id,
        transport,
        rtc_configuration=ice.rtc_configuration(),
        capacity=capacity or settings.MEDIA_WORKER_CAPACITY,
        # The fixes patch aiortc process-wide (embedded: the web process too).
        fixes=MediaFixes() if settings.MEDIA_AIORTC_FIXES else None,
        # Composite feeds: HLS and recordings go under MEDIA_OUTPUT_DIR, and
        # the layers media_core cannot know of (it never imports the apps).
        output_root=Path(settings.MEDIA_OUTPUT_DIR),
        layer_factories={
            kind: _import_attribute(path) for kind, path in LAYER_FACTORIES.items()
        },
    )


#: Composite layer kinds the web tier adds to media_core's own ("vitals").
LAYER_FACTORIES = {
    "annotations": "surgery_guidance.telestration.live.LiveAnnotationLayer.from_spec",
}


def _import_attribute(path: str) -> Any:
    """``import_string`` that also reaches attributes of classes (``Class.method``)."""
    try:
        return import_string(path)
    except ImportError:
        owner, _, name = path.rpartition(".")
        return getattr(import_string(owner), name)


async def _notify_lost(
    transport: Transport, lost: list[tuple[str, str]], reason: str
) -> None:
    for worker_id, room_id in lost:
        try:
            await transport.group_send(
                room_group(room_id), worker_lost_event(room_id, worker_id, reason)
            )
        except Exception:  # noqa: BLE001  (one failed notice must not stop the rest)
            logger.exception("could not tell room %s its worker was lost", room_id)


async def _heartbeats(
    worker_id: str,
    worker: Worker,
    transport: Transport,
    registry: WorkerRegistry,
    capacity: int,
    started_at: float,
) -> None:
    """Heartbeat every 2 s and reap workers whose heartbeat expired."""
    while True:
        try:
            load = {**worker.load(), "started_at": f"{started_at:.3f}"}
            await registry.heartbeat(worker_id, load, capacity=capacity)
            lost = await registry.reap()
            await _notify_lost(transport, lost, "expired")
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001  (the outermost loop of a long-lived task)
            logger.exception("media worker %s: heartbeat failed", worker_id)
        await asyncio.sleep(HEARTBEAT_INTERVAL_S)


async def serve_worker(
    worker_id: str,
    worker: Worker,
    transport: Transport,
    stop: asyncio.Event,
    *,
    registry: WorkerRegistry | None = None,
    capacity: int = 0,
) -> None:
    """Run ``worker`` until ``stop`` is set or it fails, then shut it down.

    With a registry (scaled mode) the worker heartbeats, reaps dead workers and,
    on the way out, deregisters and tells its rooms to renegotiate elsewhere
    before its peer connections close.
    """
    started_at = time.time()
    beats: asyncio.Task[None] | None = None
    if registry is not None:
        await registry.heartbeat(
            worker_id,
            {**worker.load(), "started_at": f"{started_at:.3f}"},
            capacity=capacity,
        )
        beats = asyncio.create_task(
            _heartbeats(worker_id, worker, transport, registry, capacity, started_at)
        )
    running = asyncio.create_task(worker.run())
    stopping = asyncio.create_task(stop.wait())
    logger.info("media worker %s running", worker_id)
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running.done() and not running.cancelled() and running.exception():
            logger.error(
                "media worker %s stopped on an error",
                worker_id,
                exc_info=running.exception(),
            )
    finally:
        stopping.cancel()
        if beats is not None:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
        if registry is not None:
            try:
                rooms = await registry.deregister(worker_id)
                await _notify_lost(
                    transport, [(worker_id, room) for room in rooms], "shutdown"
                )
            except Exception:  # noqa: BLE001  (shutdown goes on without Redis)
                logger.exception("media worker %s: could not deregister", worker_id)
        try:
            await worker.close()
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running
        logger.info("media worker %s stopped", worker_id)


class EmbeddedMediaWorker:
    """One media worker on a daemon thread with its own event loop.

    The web loop never runs media work: it only hands messages over with
    ``submit``. ``load`` and ``age_s`` are read from a snapshot the worker's own
    loop refreshes every 2 s, so a stalled worker shows a growing age.
    """

    def __init__(
        self,
        *,
        worker_id: str | None = None,
        factory: Callable[[str, Transport], Worker] = build_worker,
        inbox_size: int = 1000,
    ) -> None:
        self.worker_id = worker_id or new_worker_id()
        self._factory = factory
        self._inbox_size = inbox_size
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._transport: BridgeTransport | None = None
        self._error: BaseException | None = None
        self.snapshot: dict[str, Any] = {}
        self.beat_at = 0.0
        self.pid = os.getpid()
        # The worker's stage timings (composites), for this process's /metrics.
        self.metrics: MetricsRegistry | None = None

    @property
    def alive(self) -> bool:
        """Whether the worker thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread and wait until the worker accepts messages."""
        self._thread = threading.Thread(
            target=self._main, name=f"media-{self.worker_id}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the embedded media worker did not start")
        if self._error is not None:
            raise RuntimeError("the embedded media worker failed") from self._error

    def submit(
        self, message: dict[str, Any], web_loop: asyncio.AbstractEventLoop
    ) -> None:
        """Hand one protocol message to the worker; replies go out on ``web_loop``."""
        if self._transport is None or not self.alive:
            raise RuntimeError("the embedded media worker is not running")
        self._transport.deliver(message, web_loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the worker's peers and stop the thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def age_s(self) -> float:
        """Seconds since the worker's loop last refreshed its snapshot."""
        return round(max(0.0, time.time() - self.beat_at), 3) if self.beat_at else 0.0

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001  (reported to start())
            self._error = exc
            logger.exception("embedded media worker %s crashed", self.worker_id)
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._transport = BridgeTransport(
            asyncio.get_running_loop(), inbox_size=self._inbox_size
        )
        worker = self._factory(self.worker_id, self._transport)
        metrics = getattr(worker, "metrics", None)
        self.metrics = metrics if isinstance(metrics, MetricsRegistry) else None
        snapshots = asyncio.create_task(self._snapshots(worker))
        self._ready.set()
        try:
            await serve_worker(self.worker_id, worker, self._transport, self._stop)
        finally:
            snapshots.cancel()

    async def _snapshots(self, worker: Worker) -> None:
        while True:
            try:
                self.snapshot = dict(worker.load())
                self.beat_at = time.time()
            except Exception:  # noqa: BLE001  (the outermost loop of a task)
                logger.exception("embedded media worker: load() failed")
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)


_embedded: EmbeddedMediaWorker | None = None
_embedded_lock = threading.Lock()


def embedded_worker(*, start: bool = True) -> EmbeddedMediaWorker | None:
    """This process's embedded worker, started on first use (thread-safe).

    A forked child or a crashed worker gets a fresh one. With ``start=False``
    returns the current one, if any, without starting it.
    """
    global _embedded
    with _embedded_lock:
        current = _embedded
        if current is not None and current.pid == os.getpid() and current.alive:
            return current
        if not start:
            return None
        worker = EmbeddedMediaWorker()
        worker.start()
        _embedded = worker
        if current is None:
            atexit.register(stop_embedded_worker)
        logger.info("embedded media worker %s started", worker.worker_id)
        return worker


def current_embedded_worker() -> EmbeddedMediaWorker | None:
    """This process's running embedded worker, without locking or starting one."""
    worker = _embedded
    if worker is not None and worker.pid == os.getpid() and worker.alive:
        return worker
    return None


def stop_embedded_worker() -> None:
    """Stop this process's embedded worker, if one runs."""
    global _embedded
    with _embedded_lock:
        worker, _embedded = _embedded, None
    if worker is not None and worker.pid == os.getpid():
        worker.stop()
