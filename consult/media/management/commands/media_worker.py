"""``manage.py media_worker``: one media worker process on the Redis channel layer."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from consult.media.placement import WorkerRegistry
from consult.media.protocol import new_worker_id, valid_worker_id
from consult.media.runtime import build_worker, serve_worker
from consult.media.transports import ChannelLayerTransport
from media_core.metrics import MetricsRegistry, register_collector

logger = logging.getLogger("consult.media.worker")


class Command(BaseCommand):
    help = (
        "Run a media worker: it receives on media.worker.<id>, heartbeats its load "
        "into Redis every 2 s and, on SIGTERM or SIGINT, hands its rooms back."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--id",
            dest="worker_id",
            help="worker id (default: w-<host>-<pid>-<random>)",
        )
        parser.add_argument(
            "--capacity",
            type=int,
            default=None,
            help="rooms this worker takes at most (default: MEDIA_WORKER_CAPACITY)",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=0,
            help="serve Prometheus metrics (composite stage timings) on this port",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.REDIS_URL:
            raise CommandError("media_worker needs REDIS_URL (a shared Redis).")
        if not settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith(
            "channels_redis"
        ):
            raise CommandError("media_worker needs the Redis channel layer.")
        worker_id = options["worker_id"] or new_worker_id()
        if not valid_worker_id(worker_id):
            raise CommandError("--id: letters, digits, '-' and '_', 80 at most.")
        capacity = options["capacity"] or settings.MEDIA_WORKER_CAPACITY
        if capacity < 1:
            raise CommandError("--capacity must be at least 1.")
        asyncio.run(self._main(worker_id, capacity, options["metrics_port"]))

    async def _main(self, worker_id: str, capacity: int, metrics_port: int) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum, stop)
        registry = WorkerRegistry(
            settings.REDIS_URL, prefix=settings.MEDIA_REDIS_PREFIX
        )
        transport = ChannelLayerTransport(worker_id)
        worker = build_worker(worker_id, transport, capacity=capacity)
        if metrics_port:
            self._serve_metrics(worker, metrics_port)
        logger.info("media worker %s starting (capacity %d rooms)", worker_id, capacity)
        try:
            await serve_worker(
                worker_id,
                worker,
                transport,
                stop,
                registry=registry,
                capacity=capacity,
            )
        finally:
            await registry.aclose()
        if not stop.is_set():
            # A supervisor (systemd, Kubernetes) restarts on a non-zero exit.
            raise CommandError(f"media worker {worker_id} stopped unexpectedly")

    @staticmethod
    def _serve_metrics(worker: Any, port: int) -> None:
        """Prometheus exposition of this worker (its own registry) on ``port``."""
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        metrics = getattr(worker, "metrics", None)
        if isinstance(metrics, MetricsRegistry):
            register_collector(metrics, registry)
        start_http_server(port, addr=settings.MEDIA_METRICS_ADDR, registry=registry)
        logger.info("media worker metrics on %s:%d", settings.MEDIA_METRICS_ADDR, port)

    @staticmethod
    def _on_signal(signum: int, stop: asyncio.Event) -> None:
        logger.info("media worker: %s, shutting down", signal.Signals(signum).name)
        stop.set()
