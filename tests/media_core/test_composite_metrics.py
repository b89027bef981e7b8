"""A composite's stage timings are kept per feed and exported to Prometheus."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from media_core.metrics import register_collector
from tests.media_core.rtc_helpers import GROUP, Client, running_worker, stamped_track

pytestmark = pytest.mark.timeout(60)


async def test_a_running_composite_exports_its_stages_until_it_stops() -> None:
    async with running_worker() as (worker, transport):
        surgeon, mentor = Client(transport, "surgeon"), Client(transport, "mentor")
        await surgeon.publish(stamped_track())
        source = (await transport.expect_group(GROUP, "media.tracks"))["tracks"][0]
        mentor.send(
            "media.composite.start",
            source=source["track"],
            name="theatre",
            layers=[{"kind": "vitals"}],
        )
        await mentor.expect("media.composite.started")
        for _ in range(200):
            session = {s.session: s for s in worker.metrics.sessions()}.get(
                "composite:theatre"
            )
            if session is not None and session.stage("encode").count >= 3:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("no encoded frame was timed")
        registry = CollectorRegistry()
        register_collector(worker.metrics, registry)
        text = generate_latest(registry).decode()
        for stage in ("decode", "draw", "encode"):
            assert (
                f'media_stage_seconds_count{{session="composite:theatre",stage="{stage}"}}'
                in text
            ), stage
        mentor.send("media.composite.stop", composite="theatre")
        await mentor.expect("media.composite.stopped")
        assert worker.metrics.sessions() == []
        assert "composite:theatre" not in generate_latest(registry).decode()
        await surgeon.close()
