"""/healthz, /metrics and the OpenAPI schema."""

from __future__ import annotations

import asyncio
import os
import re

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_channel_layer(client) -> None:
    """Health answers 200 with the state of the database and the channel layer."""
    body = client.get("/healthz").json()
    assert (body["status"], body["database"]["ok"], body["channel_layer"]["ok"]) == (
        "ok",
        True,
        True,
    )


@pytest.mark.redis
def test_healthz_round_trips_through_redis(client, settings) -> None:
    """With the Redis layer configured, health proves a real send and receive."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": None}],
                "prefix": "test-healthz",
            },
        }
    }
    body = client.get("/healthz").json()
    assert (body["channel_layer"]["ok"], body["channel_layer"]["backend"]) == (
        True,
        "RedisChannelLayer",
    )


@pytest.mark.redis
async def test_idle_redis_receive_is_not_torn_down() -> None:
    """An idle receive survives 16 s with our layer config (channels_redis #422)."""
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(
        hosts=[{"address": os.environ["REDIS_URL"], "socket_timeout": None}],
        prefix="test-idle",
    )
    channel = await layer.new_channel()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=16)
    await layer.flush()


def test_metrics_count_requests_by_route(client) -> None:
    """Prometheus text has request counts labelled by route pattern, not raw path."""
    client.get("/healthz")
    text = client.get("/metrics").content.decode()
    assert (
        'telemed_http_requests_total{method="GET",route="healthz",status="200"}' in text
    )


def test_metrics_never_label_by_object_id(client) -> None:
    """Ids in paths do not become metric labels (bounded cardinality)."""
    client.get("/patients/0b7e4c1e-0000-4000-8000-000000000000/")
    text = client.get("/metrics").content.decode()
    assert "0b7e4c1e" not in text


def test_metrics_include_the_embedded_media_workers_composites(
    client, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A composite feed's stage timings appear beside the web metrics."""
    from consult.media import runtime
    from media_core.metrics import MetricsRegistry

    worker = runtime.EmbeddedMediaWorker(worker_id="w-test")
    worker.metrics = MetricsRegistry()
    worker.metrics.session("composite:theatre").record("encode", 4.0)
    monkeypatch.setattr(runtime, "embedded_worker", lambda start=True: worker)
    text = client.get("/metrics").content.decode()
    assert (
        'media_stage_seconds_count{session="composite:theatre",stage="encode"} 1.0'
        in text
    )
    assert "telemed_http_requests_total" in text


def test_openapi_schema_lists_patient_endpoints_and_token_auth(client) -> None:
    """The schema documents the patient API and the device-token scheme."""
    text = client.get(reverse("api-schema")).content.decode()
    assert "/api/patients/{patient_id}/" in text and "deviceToken" in text


def test_api_docs_page_loads_swagger_ui_from_our_own_static_files(client) -> None:
    """No CDN: every script, stylesheet and icon of the docs page is served here."""
    client.force_login(UserFactory())
    html = client.get(reverse("api-docs")).content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
    assert any("swagger-ui-bundle" in a for a in assets), assets
    assert all(a.startswith("/static/") for a in assets), assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        if response.streaming:
            b"".join(response.streaming_content)  # close the file
