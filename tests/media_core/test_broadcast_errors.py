"""Bad composite and layer messages get ``media.error``; the worker stays up."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from surgery_guidance.telestration.live import LiveAnnotationLayer
from tests.media_core.rtc_helpers import GROUP, Client, running_worker, stamped_track

pytestmark = pytest.mark.timeout(60)

FACTORIES = {"annotations": LiveAnnotationLayer.from_spec}


async def _code(client: Client, type_: str, **fields: Any) -> str:
    client.send(type_, **fields)
    error = await client.expect("media.error")
    assert error["for"] == type_
    return str(error["code"])


async def _source(transport: Any, surgeon: Client) -> str:
    await surgeon.publish(stamped_track())
    event = await transport.expect_group(GROUP, "media.tracks")
    return str(event["tracks"][0]["track"])


async def test_start_refusals_have_stable_codes(tmp_path: Path) -> None:
    """Unknown room/track, bad names, traversal, layers and flags are refused."""
    async with running_worker(output_root=tmp_path, layer_factories=FACTORIES) as (
        worker,
        transport,
    ):
        surgeon, mentor = Client(transport, "surgeon"), Client(transport, "mentor")
        start = "media.composite.start"
        assert await _code(mentor, start, source="x", name="a") == "unknown_room"
        source = await _source(transport, surgeon)
        assert await _code(mentor, start, source="ghost:0", name="a") == "unknown_track"
        assert await _code(mentor, start, source=source, name="composite:a") == (
            "invalid_message"
        )
        for name in ("../../etc", "a/b", "", "x" * 65, 7, None, "..", "a b"):
            assert await _code(mentor, start, source=source, name=name) == (
                "invalid_message"
            )
        assert not await asyncio.to_thread(os.listdir, tmp_path)
        bad_layers: list[Any] = [
            [{"kind": "laser"}],
            [{"kind": "vitals"}, {"kind": "nope"}],
        ]
        for layers in bad_layers:
            code = await _code(mentor, start, source=source, name="a", layers=layers)
            assert code == "unknown_layer"
        for layers in (
            "vitals",
            [{"kind": "vitals"}, {"kind": "vitals"}],
            [{"kind": "vitals", "scenario": "zombie"}],
            [{"kind": "annotations", "tracking_fps": 500}],
            [{"no": "kind"}],
        ):
            code = await _code(mentor, start, source=source, name="a", layers=layers)
            assert code == "invalid_message", layers
        for fields in ({"record": "yes"}, {"bitrate": 10}, {"fps": 0}, {"fps": 2.5}):
            code = await _code(mentor, start, source=source, name="a", **fields)
            assert code == "invalid_message", fields
        assert worker.composite_stats() == {}
        mentor.send(start, source=source, name="a", layers=[{"kind": "vitals"}])
        assert (await mentor.expect("media.composite.started"))["track"] == (
            "composite:a"
        )
        code = await _code(mentor, start, source="composite:a", name="b")
        assert code == "unknown_track"
        await surgeon.close()


async def test_outputs_refused_without_an_output_root() -> None:
    """record/hls on a worker without output_root answer output_unavailable."""
    async with running_worker() as (worker, transport):
        surgeon, mentor = Client(transport, "surgeon"), Client(transport, "mentor")
        source = await _source(transport, surgeon)
        start = "media.composite.start"
        for flag in ("record", "hls"):
            code = await _code(mentor, start, source=source, name="a", **{flag: True})
            assert code == "output_unavailable"
        mentor.send(start, source=source, name="a")
        await mentor.expect("media.composite.started")
        assert list(worker.composite_stats()) == ["a"]
        await surgeon.close()


async def test_layer_and_stop_refusals(tmp_path: Path) -> None:
    """Unknown composites and layers, and malformed layer data, are refused."""
    async with running_worker(output_root=tmp_path, layer_factories=FACTORIES) as (
        worker,
        transport,
    ):
        surgeon, mentor = Client(transport, "surgeon"), Client(transport, "mentor")
        source = await _source(transport, surgeon)
        layers = [{"kind": "annotations", "tracking": False}, {"kind": "vitals"}]
        mentor.send("media.composite.start", source=source, name="c", layers=layers)
        await mentor.expect("media.composite.started")
        layer = "media.layer"
        assert await _code(mentor, layer, composite="zz", kind="vitals", data={}) == (
            "unknown_composite"
        )
        code = await _code(mentor, layer, composite="c", kind="laser", data={})
        assert code == "unknown_layer"
        for kind, data in (
            ("annotations", {"annotations": [{"id": "x"}], "version": 1}),
            ("annotations", {"annotations": []}),
            ("annotations", ["not", "a", "dict"]),
            ("vitals", {"scenario": "zombie"}),
            ("vitals", {"numerics": {"hr": "fast"}}),
        ):
            code = await _code(mentor, layer, composite="c", kind=kind, data=data)
            assert code == "invalid_message", data
        assert await _code(mentor, "media.composite.stop", composite="zz") == (
            "unknown_composite"
        )
        assert await _code(mentor, "media.composite.stop", composite=None) == (
            "unknown_composite"
        )
        # Good messages still work after all that.
        ok = {"annotations": [], "version": 3}
        mentor.send(layer, composite="c", kind="annotations", data=ok)
        mentor.send(layer, composite="c", kind="vitals", data={"scenario": "stemi"})
        mentor.send("media.composite.stop", composite="c")
        stopped = await mentor.expect("media.composite.stopped")
        assert stopped == {
            "type": "media.composite.stopped",
            "composite": "c",
            "reason": "requested",
            "recording": None,
        }
        await asyncio.sleep(0.05)
        assert transport.channels[mentor.channel].empty()
        assert worker.composite_stats() == {}
        assert await _code(mentor, "media.composite.stop", composite="c") == (
            "unknown_composite"
        )
        assert worker.load()["tracks"] == 1
        await surgeon.close()
