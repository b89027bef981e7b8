"""LiveAnnotationLayer: whole-set updates, clock re-basing, drawing, timeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from media_core.canvas import YuvCanvas
from media_core.draw import rgb_to_yuv
from media_core.layers import Layer, TimelineLayer, UpdatableLayer
from media_core.sources import EndoscopySource
from media_core.stamps import write_stamp
from surgery_guidance.telestration.live import LiveAnnotationLayer
from surgery_guidance.telestration.schema import AnnotationError
from surgery_guidance.telestration.tracking import TrackStatus
from tests.media_core.yuv_asserts import grey_canvas
from tests.surgery_guidance.telestration.helpers import annotation_dict

EPOCH_MS = 1_764_300_000_000
RED_YUV = rgb_to_yuv(255, 0, 0)


def _frames(layer: LiveAnnotationLayer, n: int, start: int = 0) -> list[YuvCanvas]:
    """Draw ``n`` stamped grey frames at 30 fps from frame ``start``."""
    out = []
    for i in range(start, start + n):
        canvas = grey_canvas(640, 360)
        write_stamp(canvas, EPOCH_MS + round(i * 1000 / 30))
        layer.draw(canvas, 100.0 + i / 30)
        out.append(canvas)
    return out


def _set(version: int, *items: dict[str, Any]) -> dict[str, Any]:
    return {"annotations": list(items), "version": version}


def test_layer_implements_the_optional_protocols() -> None:
    """It is a Layer, an UpdatableLayer and a TimelineLayer."""
    layer = LiveAnnotationLayer.from_spec({"kind": "annotations"})
    assert isinstance(layer, Layer)
    assert isinstance(layer, UpdatableLayer)
    assert isinstance(layer, TimelineLayer)


def test_update_replaces_the_set_and_ignores_older_versions() -> None:
    """A newer version replaces the set; an older or equal one changes nothing."""
    layer = LiveAnnotationLayer(tracking=False)
    layer.update(_set(2, annotation_dict("arrow", 1), annotation_dict("circle", 2)))
    layer.update(_set(1, annotation_dict("target", 3)))
    layer.update(_set(2))
    assert sorted(layer.state.annotations) == sorted(
        [annotation_dict("arrow", 1)["id"], annotation_dict("circle", 2)["id"]]
    )
    layer.update(_set(3, annotation_dict("target", 3)))
    assert list(layer.state.annotations) == [annotation_dict("target", 3)["id"]]
    assert layer.version == 3


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (_set(5, annotation_dict("arrow", 1, colour="red")), "bad_colour"),
        (
            _set(5, annotation_dict("arrow", 1), annotation_dict("arrow", 1)),
            "duplicate_annotation",
        ),  # noqa: E501
        ({"annotations": [], "version": -1}, "bad_type"),
        ({"annotations": {}, "version": 5}, "bad_type"),
        ({"annotations": []}, "missing_field"),
        ({"annotations": [], "version": 5, "extra": 1}, "unknown_field"),
        ([], "not_an_object"),
    ],
)
def test_bad_data_is_refused_and_nothing_changes(data: object, code: str) -> None:
    """Any malformed item refuses the whole set with a stable code."""
    layer = LiveAnnotationLayer(tracking=False)
    layer.update(_set(1, annotation_dict("arrow", 9)))
    with pytest.raises(AnnotationError) as refused:
        layer.update(data)  # type: ignore[arg-type]
    assert refused.value.code == code
    assert list(layer.state.annotations) == [annotation_dict("arrow", 9)["id"]]
    assert layer.version == 1


def test_capture_ms_maps_frame_time_to_the_stamped_frame() -> None:
    """frame_time becomes the compositor time of the frame whose stamp matches."""
    layer = LiveAnnotationLayer(tracking=False)
    _frames(layer, 30)
    drawn_on = EPOCH_MS + round(12 * 1000 / 30)
    layer.update(
        _set(1, annotation_dict("arrow", 1, frame_time=3.5, capture_ms=drawn_on))
    )
    (annotation,) = layer.state.annotations.values()
    assert annotation.frame_time == pytest.approx(100.0 + 12 / 30, abs=1e-6)


def test_without_capture_ms_frame_time_is_the_arrival_time() -> None:
    """Without a stamp the annotation starts at the newest frame's time."""
    layer = LiveAnnotationLayer(tracking=False)
    _frames(layer, 10)
    layer.update(_set(1, annotation_dict("arrow", 1, frame_time=3.5)))
    (annotation,) = layer.state.annotations.values()
    assert annotation.frame_time == pytest.approx(100.0 + 9 / 30)


def test_unchanged_annotation_keeps_its_rebased_time() -> None:
    """Re-sending an unchanged annotation later does not restart its fade."""
    layer = LiveAnnotationLayer(tracking=False)
    _frames(layer, 5)
    first = annotation_dict("arrow", 1)
    layer.update(_set(1, first))
    _frames(layer, 20, start=5)
    layer.update(_set(2, first, annotation_dict("circle", 2)))
    times = {a.id: a.frame_time for a in layer.state.annotations.values()}
    assert times[first["id"]] == pytest.approx(100.0 + 4 / 30)
    assert times[annotation_dict("circle", 2)["id"]] == pytest.approx(100.0 + 24 / 30)


def test_draw_paints_the_arrow_and_leaves_the_stamp_readable() -> None:
    """After an update the next frame shows the red arrow where it was put."""
    layer = LiveAnnotationLayer(tracking=False)
    _frames(layer, 3)
    layer.update(_set(1, annotation_dict("arrow", 1, points=[[0.3, 0.6], [0.7, 0.6]])))
    (canvas,) = _frames(layer, 1, start=3)
    y, u, v = canvas.y[216, 320], canvas.u[108, 160], canvas.v[108, 160]
    assert abs(int(y) - RED_YUV[0]) <= 3
    assert abs(int(u) - RED_YUV[1]) <= 3 and abs(int(v) - RED_YUV[2]) <= 3
    assert layer.clock.stamped == 4


def test_timeline_reports_each_set_once_when_first_drawn() -> None:
    """timeline_event gives the set once, at the time it first showed."""
    layer = LiveAnnotationLayer(tracking=False)
    _frames(layer, 3)
    assert layer.timeline_event(100.1, origin=99.0) is None
    layer.update(_set(7, annotation_dict("arrow", 1)))
    assert layer.timeline_event(100.1, origin=99.0) is None  # not drawn yet
    _frames(layer, 2, start=3)
    event = layer.timeline_event(100.2, origin=99.0)
    assert event is not None and event.type == "annotations"
    assert event.timestamp == pytest.approx(100.0 + 3 / 30)
    assert event.body["version"] == 7
    (item,) = event.body["annotations"]
    assert item["frame_time"] == pytest.approx(1.0 + 2 / 30, abs=1e-3)
    assert layer.timeline_event(100.3, origin=99.0) is None


def test_from_spec_refuses_unknown_fields_and_bad_values() -> None:
    """Layer options are checked strictly."""
    for spec in (
        {"kind": "annotations", "colour": "red"},
        {"kind": "annotations", "tracking": "yes"},
        {"kind": "annotations", "tracking_fps": 0},
        {"kind": "annotations", "tracking_history_s": float("nan")},
    ):
        with pytest.raises(ValueError):
            LiveAnnotationLayer.from_spec(spec)


def test_tracking_runs_at_the_reduced_rate_and_anchors_on_the_drawn_frame() -> None:
    """A tracked mark anchors on its stamped frame; the tracker sees half the frames."""
    source = EndoscopySource(640, 360, 30)
    layer = LiveAnnotationLayer(tracking_fps=15)
    for i in range(40):
        frame = source.frame(i)
        canvas = YuvCanvas.from_frame(frame)
        write_stamp(canvas, EPOCH_MS + i * 33)
        layer.draw(canvas, i / 30)
        if i == 20:
            marked = annotation_dict(
                "circle",
                1,
                points=[[0.5, 0.5], [0.6, 0.5]],
                tracked=True,
                capture_ms=EPOCH_MS + 10 * 33,
            )
            layer.update(_set(1, marked))
    assert layer.tracker is not None
    assert 18 <= layer.tracker.fed <= 22
    result = layer.tracker.result(annotation_dict("circle", 1)["id"])
    assert result is not None
    assert result.status in (TrackStatus.TRACKING, TrackStatus.COASTING)
    assert np.isfinite(result.homography).all()
