"""Prometheus metrics of the web tier.

With several uvicorn workers set ``PROMETHEUS_MULTIPROC_DIR`` and the
exposition aggregates every process (prometheus-client's multiprocess mode).
The embedded media worker's stage timings (``media_stage_seconds`` and
friends, one ``session`` label per composite feed) are added from the
process that answers; a scaled ``media_worker`` serves its own on
``--metrics-port``.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

from media_core.metrics import register_collector

REQUESTS = Counter(
    "telemed_http_requests_total",
    "HTTP requests handled, by method, route and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "telemed_http_request_duration_seconds",
    "HTTP request handling time, by method and route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def exposition() -> tuple[bytes, str]:
    """The metrics text and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(DEFAULT_REGISTRY)
    return text + _embedded_media(), CONTENT_TYPE_LATEST


def _embedded_media() -> bytes:
    """This process's embedded media worker's stage metrics, if it runs one."""
    from consult.media.runtime import embedded_worker

    worker = embedded_worker(start=False)
    if worker is None or worker.metrics is None:
        return b""
    registry = CollectorRegistry()
    register_collector(worker.metrics, registry)
    return generate_latest(registry)
