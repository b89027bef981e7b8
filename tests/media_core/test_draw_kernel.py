"""The compiled paint kernel (``_paint.c``): same bytes as numpy, safe bounds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import av
import numpy as np
import pytest

from media_core.canvas import YuvCanvas
from media_core.draw import ShapeLayer, native
from media_core.vitals import VitalsLayer, VitalsSimulator
from media_core.vitals import layer as vitals_layer
from tests.media_core.test_draw_program import _random_shapes, _textured, _unaligned

CI = os.environ.get("CI", "").lower() == "true"

if native.AVAILABLE:
    from media_core.draw import _paint
else:
    _paint = None

needs_kernel = pytest.mark.skipif(
    not native.AVAILABLE and not CI, reason="compiled kernel not built"
)


@pytest.fixture
def kernel() -> Iterator[Any]:
    """The compiled module; under CI=true a missing build fails instead."""
    if _paint is None:
        pytest.fail("CI=true but media_core.draw._paint is not importable")
    yield _paint


def test_ci_uses_the_compiled_kernel() -> None:
    """CI must exercise the kernel: a build that silently fell back to numpy
    (``optional=True`` in setup.py) fails here."""
    if not CI:
        pytest.skip("only enforced under CI=true")
    assert native.AVAILABLE, "media_core.draw._paint or _stroke did not build"
    assert native.ENABLED and native.kernel() is not None


def _frame(width: int, height: int) -> tuple[av.VideoFrame, YuvCanvas]:
    """A real frame (with line padding at most widths), padding bytes marked."""
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane in frame.planes:
        np.frombuffer(plane, np.uint8)[:] = 7
    return frame, YuvCanvas.from_frame(frame)


def _canvases(width: int, height: int, seed: int) -> list[tuple[object, YuvCanvas]]:
    """Textured canvases of one size: a real frame (whose whole buffers are
    compared, padding included), a contiguous one and unaligned ones with row
    padding."""
    out: list[tuple[object, YuvCanvas]] = [_frame(width, height)]
    out.append((None, YuvCanvas.blank(width, height)))
    out += [(None, _unaligned(width, height, shift)) for shift in (1, 6)]
    for _, canvas in out:
        _textured(canvas, seed)
    return out


def _everything(owner: object, canvas: YuvCanvas) -> list[np.ndarray]:
    """The visible planes, plus the frame's whole buffers (padding) if any."""
    planes = [canvas.y.copy(), canvas.u.copy(), canvas.v.copy()]
    if owner is not None:
        planes += [np.frombuffer(p, np.uint8).copy() for p in owner.planes]
    return planes


@needs_kernel
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("width", "height"), [(64, 48), (161, 91), (150, 90), (333, 187), (640, 360)]
)
def test_kernel_and_numpy_paint_identical_bytes(
    kernel: Any, monkeypatch: pytest.MonkeyPatch, seed: int, width: int, height: int
) -> None:
    """Random overlapping, translucent and clipped shapes give byte-identical
    frames (padding included) through the kernel and the numpy fallback."""
    shapes = _random_shapes(np.random.default_rng(seed), width, height)
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(native, "ENABLED", enabled)
        out = []
        for owner, canvas in _canvases(width, height, seed):
            layer = ShapeLayer(shapes)
            layer.draw(canvas, 0.0)
            layer.draw(canvas, 1.0)  # replay onto its own output
            out.append(_everything(owner, canvas))
        results.append(out)
    for with_kernel, with_numpy in zip(*results, strict=True):
        for a, b in zip(with_kernel, with_numpy, strict=True):
            assert np.array_equal(a, b)


@needs_kernel
@pytest.mark.parametrize(("width", "height"), [(640, 360), (1280, 720), (642, 362)])
def test_vitals_panel_identical_bytes(
    kernel: Any, monkeypatch: pytest.MonkeyPatch, width: int, height: int
) -> None:
    """The vitals layer (panel blit, strip erasing) gives the same frames with
    the kernel as with numpy, frame after frame, across a seek back. The
    traces are stroked by the compiled stroke in both runs: OpenCV, its
    fallback, anti-aliases differently (compared in test_draw_stroke)."""
    stroke = native.stroke

    def stroke_compiled(*args: Any) -> None:
        enabled = native.ENABLED
        native.ENABLED = True
        try:
            stroke(*args)
        finally:
            native.ENABLED = enabled

    monkeypatch.setattr(vitals_layer, "stroke", stroke_compiled)
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(native, "ENABLED", enabled)
        layer = VitalsLayer(VitalsSimulator("sepsis", seed=3))
        frames = []
        for owner, canvas in _canvases(width, height, 5)[:2]:
            for i in range(40):
                layer.draw(canvas, 300.0 + i / 30)
            frames.append(_everything(owner, canvas))
        results.append(frames)
    for with_kernel, with_numpy in zip(*results, strict=True):
        for a, b in zip(with_kernel, with_numpy, strict=True):
            assert np.array_equal(a, b)


def _reference(
    dst: np.ndarray,
    offsets: np.ndarray,
    lengths: np.ndarray,
    values: np.ndarray,
    at: np.ndarray,
    keys: np.ndarray,
    table: np.ndarray,
) -> None:
    """What ``paint`` means: every run, then every blend."""
    flat = dst.reshape(-1)
    position = 0
    for offset, length in zip(offsets.tolist(), lengths.tolist(), strict=True):
        flat[offset : offset + length] = values[position : position + length]
        position += length
    flat[at] = table[keys + flat[at]]


def _random_program(
    rng: np.random.Generator, size: int, blends_in_runs: bool
) -> tuple[np.ndarray, ...]:
    """Disjoint rising runs and strictly rising blended pixels in ``size`` bytes."""
    cuts = np.sort(
        rng.choice(size + 1, size=2 * int(rng.integers(0, 60)), replace=False)
    )
    offsets, ends = cuts[0::2].astype(np.int64), cuts[1::2].astype(np.int64)
    lengths = ends - offsets
    values = rng.integers(0, 256, int(lengths.sum()), dtype=np.uint8)
    covered = np.zeros(size, bool)
    for a, b in zip(offsets, ends, strict=True):
        covered[a:b] = True
    pool = np.arange(size) if blends_in_runs else np.flatnonzero(~covered)
    count = int(rng.integers(0, min(200, pool.size) + 1))
    at = np.sort(rng.choice(pool, count, replace=False)).astype(np.int64)
    rows = int(rng.integers(1, 6))
    table = rng.integers(0, 256, rows * 256, dtype=np.uint8)
    keys = rng.integers(0, rows, count).astype(np.int64) * 256
    return offsets, lengths, values, at, keys, table


@needs_kernel
@pytest.mark.parametrize("seed", range(25))
def test_paint_matches_its_definition(kernel: Any, seed: int) -> None:
    """Random runs and blends, batched and interleaved inside the kernel, give
    exactly all runs then all blends, even for blends inside runs."""
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 5000))
    program = _random_program(rng, size, blends_in_runs=bool(seed % 2))
    start = rng.integers(0, 256, size, dtype=np.uint8)
    mine, expected = start.copy(), start.copy()
    kernel.paint(mine, *program)
    _reference(expected, *program)
    assert np.array_equal(mine, expected)


@needs_kernel
def test_paint_addresses_padded_rows_by_their_stride(kernel: Any) -> None:
    """A 2-D plane with line padding is addressed as row * stride + column and
    may be written up to the end of its last row, not past it."""
    storage = np.full((5, 16), 7, np.uint8)
    plane = storage[:, :10]
    empty, no_values = np.zeros(0, np.int64), np.zeros(0, np.uint8)
    table = np.arange(256, dtype=np.uint8)
    last = np.array([4 * 16 + 9], np.int64)
    kernel.paint(plane, last, np.array([1], np.int64), np.array([1], np.uint8),
                 empty, empty, table)  # fmt: skip
    assert storage[4, 9] == 1
    with pytest.raises(ValueError):
        kernel.paint(plane, last, np.array([2], np.int64), np.array([1, 2], np.uint8),
                     empty, empty, table)  # fmt: skip
    with pytest.raises(ValueError):
        kernel.paint(plane, empty, empty, no_values, last + 1, last * 0, table)
    assert storage[4, 10] == 7


def _good(size: int = 100) -> dict[str, np.ndarray]:
    return {
        "offsets": np.array([2, 10, 40], np.int64),
        "lengths": np.array([3, 5, 1], np.int64),
        "values": np.arange(9, dtype=np.uint8),
        "at": np.array([5, 20, size - 1], np.int64),
        "keys": np.array([0, 256, 0], np.int64),
        "table": np.arange(512, dtype=np.uint8)[::-1].copy(),
    }


_BIG = np.iinfo(np.int64).max
_BAD = {
    "negative offset": {"offsets": np.array([-1, 10, 40], np.int64)},
    "run past the end": {"offsets": np.array([2, 10, 99], np.int64),
                         "lengths": np.array([3, 5, 2], np.int64)},
    "huge offset": {"offsets": np.array([2, 10, _BIG], np.int64)},
    "huge length": {"lengths": np.array([3, 5, _BIG], np.int64)},
    "negative length": {"lengths": np.array([3, -5, 1], np.int64)},
    "overlapping runs": {"offsets": np.array([2, 4, 40], np.int64)},
    "falling runs": {"offsets": np.array([10, 2, 40], np.int64)},
    "values too short": {"values": np.arange(8, dtype=np.uint8)},
    "values too long": {"values": np.arange(10, dtype=np.uint8)},
    "unpaired lengths": {"lengths": np.array([3, 5], np.int64)},
    "pixel past the end": {"at": np.array([5, 20, 100], np.int64)},
    "negative pixel": {"at": np.array([-1, 20, 99], np.int64)},
    "huge pixel": {"at": np.array([5, 20, _BIG], np.int64)},
    "repeated pixel": {"at": np.array([5, 20, 20], np.int64)},
    "falling pixels": {"at": np.array([20, 5, 99], np.int64)},
    "key past the table": {"keys": np.array([0, 257, 0], np.int64)},
    "negative key": {"keys": np.array([0, -1, 0], np.int64)},
    "table too short": {"table": np.arange(255, dtype=np.uint8),
                        "keys": np.zeros(3, np.int64)},
    "unpaired keys": {"keys": np.array([0, 256], np.int64)},
    "int32 offsets": {"offsets": np.array([2, 10, 40], np.int32)},
    "float keys": {"keys": np.array([0.0, 256.0, 0.0])},
    "wide values": {"values": np.arange(9, dtype=np.uint16)},
}  # fmt: skip


@needs_kernel
@pytest.mark.parametrize("case", sorted(_BAD))
def test_bad_input_raises_and_leaves_dst_unchanged(kernel: Any, case: str) -> None:
    """Every index is checked before the first write."""
    dst = np.arange(100, dtype=np.uint8)
    args = {**_good(), **_BAD[case]}
    with pytest.raises(ValueError):
        kernel.paint(dst, *args.values())
    assert np.array_equal(dst, np.arange(100, dtype=np.uint8))
    kernel.paint(dst, *_good().values())  # the good program itself is fine
    assert not np.array_equal(dst, np.arange(100, dtype=np.uint8))


@needs_kernel
def test_buffers_overlapping_dst_are_refused(kernel: Any) -> None:
    """Sources inside the destination would make the result depend on order."""
    storage = np.arange(200, dtype=np.uint8)
    dst = storage[:100]
    args = _good()
    args["values"] = storage[50:59]
    with pytest.raises(ValueError):
        kernel.paint(dst, *args.values())
    args = _good()
    big = np.zeros(400, np.uint8)
    args["table"] = big[100:356]
    with pytest.raises(ValueError):
        kernel.paint(big[:200], *args.values())
    assert np.array_equal(storage, np.arange(200, dtype=np.uint8))
    assert not big.any()


@needs_kernel
def test_read_only_or_strided_dst_is_refused(kernel: Any) -> None:
    """Only writable byte buffers with contiguous rows are painted."""
    dst = np.zeros(100, np.uint8)
    dst.setflags(write=False)
    with pytest.raises((ValueError, BufferError)):
        kernel.paint(dst, *_good().values())
    with pytest.raises((ValueError, BufferError)):
        kernel.paint(np.zeros(200, np.uint8)[::2], *_good().values())
    with pytest.raises((ValueError, BufferError)):
        kernel.paint(np.zeros((10, 10), np.uint16), *_good().values())


@needs_kernel
def test_blit_copies_inside_and_refuses_outside(kernel: Any) -> None:
    """``blit`` writes the source's box and nothing else, and refuses a box
    that does not fit (or a source overlapping the destination) unchanged."""
    storage = np.zeros((20, 32), np.uint8)
    dst = storage[:, :25]  # rows padded to 32 bytes
    src = np.arange(6 * 7, dtype=np.uint8).reshape(6, 7) + 1
    kernel.blit(dst, src, 14, 18)
    expected = np.zeros((20, 32), np.uint8)
    expected[14:20, 18:25] = src
    assert np.array_equal(storage, expected)
    for top, left in ((15, 18), (14, 19), (-1, 0), (0, -1), (10**12, 0)):
        with pytest.raises(ValueError):
            kernel.blit(dst, src, top, left)
    with pytest.raises(ValueError):
        kernel.blit(dst, dst[:3, :3], 5, 5)
    with pytest.raises(ValueError):
        kernel.blit(dst, np.zeros((2, 2), np.uint16), 0, 0)
    assert np.array_equal(storage, expected)


@needs_kernel
def test_fill_columns_fills_the_band_and_refuses_outside(kernel: Any) -> None:
    """``fill_columns`` sets a band of every row, leaves line padding alone and
    refuses columns outside the plane or a value that is not a byte."""
    storage = np.zeros((6, 16), np.uint8)
    plane = storage[:, :11]
    kernel.fill_columns(plane, 3, 11, 9)
    expected = np.zeros((6, 16), np.uint8)
    expected[:, 3:11] = 9
    assert np.array_equal(storage, expected)
    kernel.fill_columns(plane, 5, 5, 1)  # an empty band is fine
    for left, right, value in ((-1, 2, 1), (3, 12, 1), (4, 3, 1), (0, 2, 256)):
        with pytest.raises(ValueError):
            kernel.fill_columns(plane, left, right, value)
    with pytest.raises(ValueError):
        kernel.fill_columns(np.zeros(8, np.uint8), 0, 2, 1)
    assert np.array_equal(storage, expected)
