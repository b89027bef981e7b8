"""Pixel tests of the annotation layer on YuvCanvas: where, what colour, when."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from media_core.canvas import YuvCanvas
from media_core.draw import Arrow, rgb_to_yuv
from media_core.layers import Layer
from surgery_guidance.telestration.geometry import norm_to_pixels
from surgery_guidance.telestration.rasterise import AnnotationLayer
from surgery_guidance.telestration.schema import Annotation, AnnotationState
from surgery_guidance.telestration.tracking import TrackResult, TrackStatus
from tests.media_core.yuv_asserts import GREY, changed, grey_canvas, snapshot
from tests.surgery_guidance.telestration.helpers import add

RED_YUV = rgb_to_yuv(255, 0, 0)
SIZES = {"720p": (1280, 720), "4k": (3840, 2160)}


def _layer(*ops: object, tracker: object = None) -> AnnotationLayer:
    state = AnnotationState().apply_all(list(ops))  # type: ignore[arg-type]
    return AnnotationLayer(state, tracker)  # type: ignore[arg-type]


def _at(canvas: YuvCanvas, x: float, y: float) -> tuple[int, int, int]:
    """Y, U, V at normalised (x, y)."""
    ((px, py),) = norm_to_pixels([[x, y]], canvas.width, canvas.height)
    c, r = round(px), round(py)
    return (
        int(canvas.y[r, c]),
        int(canvas.u[r // 2, c // 2]),
        int(canvas.v[r // 2, c // 2]),
    )


def test_layer_satisfies_the_media_core_protocol() -> None:
    """The compositor accepts it as a Layer."""
    assert isinstance(AnnotationLayer(), Layer)


@pytest.mark.parametrize("size", sorted(SIZES))
def test_arrow_shaft_is_red_where_drawn(size: str) -> None:
    """Mid-shaft pixels take the arrow's colour in Y, U and V (within 2 levels)."""
    canvas = grey_canvas(*SIZES[size])
    _layer(add(1)).draw(canvas, 10.0)
    assert np.abs(np.subtract(_at(canvas, 0.5, 0.5), RED_YUV)).max() <= 2


@pytest.mark.parametrize("size", sorted(SIZES))
def test_arrow_touches_only_its_own_box(size: str) -> None:
    """Nothing changes outside the arrow's extent (plus its line cap and fringe)."""
    canvas = grey_canvas(*SIZES[size])
    before = snapshot(canvas)
    _layer(add(1)).draw(canvas, 10.0)
    rows, cols = np.nonzero(changed(before, canvas)[0])
    width, height = SIZES[size]
    cap = 6 * height / 1080 / 2 + 2
    assert cols.min() >= 0.25 * width - cap and cols.max() <= 0.75 * width + 2
    assert abs(rows.mean() - (height - 1) / 2) < 1.0
    assert rows.max() - rows.min() < 0.06 * height


@pytest.mark.parametrize("size", sorted(SIZES))
def test_arrow_stroke_scales_with_frame_height(size: str) -> None:
    """Thickness 6 means 6 px at 1080 lines: 4 px at 720p, 12 px at 4K."""
    canvas = grey_canvas(*SIZES[size])
    _layer(add(1)).draw(canvas, 10.0)
    width, height = SIZES[size]
    column = canvas.y[:, round(0.4 * width)]
    covered = int((np.abs(column.astype(int) - RED_YUV[0]) <= 3).sum())
    assert covered == pytest.approx(6 * height / 1080, abs=1.5)


def test_arrow_has_a_head_wider_than_its_shaft() -> None:
    """Near the tip the arrow is several times the shaft's width."""
    canvas = grey_canvas(1280, 720)
    before = snapshot(canvas)
    _layer(add(1)).draw(canvas, 10.0)
    mask = changed(before, canvas)[0]
    shaft = mask[:, round(0.4 * 1280)].sum()
    head = mask[:, round(0.75 * 1280) - 12].sum()
    assert head > 2.5 * shaft


def test_annotation_moved_wholly_off_frame_draws_nothing() -> None:
    """A tracked mark carried outside the picture is a no-op on every plane."""
    canvas = grey_canvas(1280, 720)
    before = snapshot(canvas)
    away = np.array([[1.0, 0, 3.0], [0, 1.0, 0], [0, 0, 1.0]])
    _layer(add(1, tracked=True), tracker=_FixedTracker(away)).draw(canvas, 10.0)
    assert not any(m.any() for m in changed(before, canvas))


def test_tracked_annotation_follows_the_trackers_transform() -> None:
    """A transform shifting by +0.1 in x moves the arrow's middle with it."""
    canvas = grey_canvas(1280, 720)
    shift = np.array([[1.0, 0, 0.1], [0, 1.0, 0], [0, 0, 1.0]])
    _layer(add(1, tracked=True), tracker=_FixedTracker(shift)).draw(canvas, 10.0)
    assert abs(_at(canvas, 0.6, 0.5)[0] - RED_YUV[0]) <= 2
    assert _at(canvas, 0.3, 0.5)[0] == GREY[0]


def test_lost_annotation_fades_out_then_disappears() -> None:
    """Half the lost-fade in, the stroke is blended; after it, nothing is drawn."""
    tracker = _FixedTracker(np.eye(3), TrackStatus.LOST, lost_since=10.0)
    layer = _layer(add(1, tracked=True, pinned=True), tracker=tracker)
    half = grey_canvas(1280, 720)
    layer.draw(half, 10.25)
    y = _at(half, 0.5, 0.5)[0]
    assert min(GREY[0], RED_YUV[0]) + 5 < y < max(GREY[0], RED_YUV[0]) - 5
    gone = grey_canvas(1280, 720)
    before = snapshot(gone)
    layer.draw(gone, 10.6)
    assert not changed(before, gone)[0].any()


def test_faded_annotation_is_not_drawn() -> None:
    """After fade_after plus the fade-out, an unpinned mark leaves no pixel."""
    canvas = grey_canvas(1280, 720)
    before = snapshot(canvas)
    _layer(add(1, fade_after=1.0)).draw(canvas, 12.5)
    assert not changed(before, canvas)[0].any()


def test_unchanged_annotation_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Later frames replay the cached stamps instead of rasterising again."""
    calls = []
    original = Arrow.compile

    def counting(self: Arrow, width: int, height: int) -> object:
        calls.append((width, height))
        return original(self, width, height)

    monkeypatch.setattr(Arrow, "compile", counting)
    layer = _layer(add(1, pinned=True))
    for frame in range(4):
        layer.draw(grey_canvas(1280, 720), 10.0 + frame / 30)
    assert calls == [(1280, 720)]


def test_replayed_frames_match_the_first_frame() -> None:
    """The merged program paints exactly what the first frame painted."""
    layer = _layer(add(1, pinned=True), add(2, "circle", n=2), add(3, "text", n=3))
    frames = [grey_canvas(1280, 720) for _ in range(3)]
    for frame in frames:
        layer.draw(frame, 10.0)
    for frame in frames[1:]:
        assert all(
            np.array_equal(a, b)
            for a, b in zip(snapshot(frame), snapshot(frames[0]), strict=True)
        )


def test_text_has_a_dark_outline_around_its_colour() -> None:
    """White text gets black-ish halo pixels for legibility on bright tissue."""
    canvas = grey_canvas(1280, 720, (180, 128, 128))
    _layer(add(1, "text", colour="#ffffff")).draw(canvas, 10.0)
    assert (canvas.y >= 230).any() and (canvas.y <= 30).any()


def test_incision_line_is_dashed() -> None:
    """Along an incision the line alternates painted and untouched runs."""
    canvas = grey_canvas(1280, 720)
    _layer(add(1, "incision")).draw(canvas, 10.0)
    row = canvas.y[round(0.6 * 720 - 0.5), round(0.25 * 1280) : round(0.75 * 1280)]
    painted = np.abs(row.astype(int) - RED_YUV[0]) < 10
    switches = int(np.count_nonzero(np.diff(painted.astype(int))))
    assert switches >= 10 and 0.4 < painted.mean() < 0.8


def test_target_leaves_a_clear_ring_around_its_centre_dot() -> None:
    """The crosshair's ticks stop short of the centre so the target stays visible."""
    canvas = grey_canvas(1280, 720)
    _layer(add(1, "target")).draw(canvas, 10.0)
    cy, cx = 360, 640
    radius = 22 * 720 / 1080 + 2 * 6 * 720 / 1080
    assert abs(int(canvas.y[cy, cx - round(0.25 * radius)]) - GREY[0]) <= 2
    assert abs(int(canvas.y[cy, cx - round(radius)]) - RED_YUV[0]) < 10
    assert abs(int(canvas.y[cy, cx - round(1.3 * radius)]) - RED_YUV[0]) < 10


@pytest.mark.parametrize("size", [(1279, 719), (641, 361)])
def test_odd_sized_canvas_draws_every_kind(size: tuple[int, int]) -> None:
    """All six kinds draw on odd frame sizes without touching out-of-range memory."""
    canvas = grey_canvas(*size)
    before = snapshot(canvas)
    kinds = ["arrow", "circle", "freehand", "text", "incision", "target"]
    layer = _layer(*(add(i + 1, k, n=i + 1) for i, k in enumerate(kinds)))
    layer.draw(canvas, 10.0)
    assert all(m.any() for m in changed(before, canvas))


class _FixedTracker:
    """A stand-in tracker returning one fixed transform for every annotation."""

    def __init__(
        self,
        homography: np.ndarray,
        status: TrackStatus = TrackStatus.TRACKING,
        lost_since: float | None = None,
    ) -> None:
        self._result = TrackResult(status, homography, 1.0, 100, 0.1, lost_since, 0.0)

    def update(
        self, luma: np.ndarray, timestamp: float, annotations: Iterable[Annotation]
    ) -> None:
        """Ignore the frame."""

    def result(self, annotation_id: str) -> TrackResult:
        """The fixed transform."""
        return self._result
