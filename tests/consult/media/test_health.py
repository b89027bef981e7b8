"""/healthz lists the media workers and is degraded without one when scaled."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync

from consult.media.placement import WorkerRegistry
from consult.media.runtime import embedded_worker, stop_embedded_worker
from tests.consult.media.conftest import REDIS_URL

pytestmark = pytest.mark.django_db


@pytest.fixture
def scaled(settings):  # type: ignore[no-untyped-def]
    """Scaled mode with a private Redis key prefix, cleaned afterwards."""
    prefix = f"test-media-{uuid.uuid4().hex[:10]}"
    settings.MEDIA_WORKERS, settings.REDIS_URL = "external", REDIS_URL
    settings.MEDIA_REDIS_PREFIX = prefix
    yield prefix

    async def clean() -> None:
        registry = WorkerRegistry(REDIS_URL, prefix=prefix)
        keys = [key async for key in registry.redis.scan_iter(f"{prefix}:*")]
        if keys:
            await registry.redis.delete(*keys)
        await registry.aclose()

    async_to_sync(clean)()


def _heartbeat(prefix: str, worker_id: str) -> None:
    async def beat() -> None:
        registry = WorkerRegistry(REDIS_URL, prefix=prefix)
        await registry.heartbeat(worker_id, {"peers": 2, "cpu": 7.5}, capacity=4)
        await registry.aclose()

    async_to_sync(beat)()


def test_embedded_media_is_healthy_before_the_first_room(client, settings) -> None:  # type: ignore[no-untyped-def]
    """Embedded, no worker has started yet and health is still ok."""
    settings.MEDIA_WORKERS = "embedded"
    stop_embedded_worker()
    body = client.get("/healthz").json()
    assert (body["status"], body["media"]["mode"], body["media_workers"]) == (
        "ok",
        "embedded",
        [],
    )


def test_embedded_worker_is_listed_once_started(client, settings) -> None:  # type: ignore[no-untyped-def]
    """The in-process worker appears with its id, load and snapshot age."""
    settings.MEDIA_WORKERS = "embedded"
    settings.MEDIA_WORKER_CLASS = "tests.consult.media.conftest.EchoWorker"
    worker = embedded_worker()
    try:
        [listed] = client.get("/healthz").json()["media_workers"]
    finally:
        stop_embedded_worker()
    assert (listed["id"], set(listed)) == (worker.worker_id, {"id", "load", "age_s"})


@pytest.mark.redis
def test_scaled_health_lists_live_workers(client, scaled) -> None:  # type: ignore[no-untyped-def]
    """Each heartbeating worker is listed with its load and heartbeat age."""
    _heartbeat(scaled, "w-health")
    response = client.get("/healthz")
    [listed] = response.json()["media_workers"]
    assert (response.status_code, listed["id"], listed["load"]["peers"]) == (
        200,
        "w-health",
        2,
    )
    assert listed["age_s"] < 2


@pytest.mark.redis
def test_scaled_health_is_degraded_without_a_live_worker(client, scaled) -> None:  # type: ignore[no-untyped-def]
    """No media worker alive when scaled: 503 and media not ok."""
    response = client.get("/healthz")
    body = response.json()
    assert (response.status_code, body["status"], body["media"]["ok"]) == (
        503,
        "degraded",
        False,
    )
