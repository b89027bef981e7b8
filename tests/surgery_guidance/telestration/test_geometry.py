"""Normalised <-> pixel conversions, homographies and stroke simplification."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from surgery_guidance.telestration.geometry import (
    apply_homography,
    homography_between_sizes,
    norm_to_pixels,
    pixels_to_norm,
    rescale_pixels,
    simplify_rdp,
)

ODD_SIZES = [(1919, 1079), (641, 359), (3, 5), (1, 1)]


@pytest.mark.parametrize(("width", "height"), ODD_SIZES)
def test_norm_pixel_round_trip_at_odd_sizes(width: int, height: int) -> None:
    """norm -> pixels -> norm returns the same points at any frame size."""
    rng = np.random.default_rng(1)
    points = rng.random((500, 2))
    back = pixels_to_norm(norm_to_pixels(points, width, height), width, height)
    np.testing.assert_allclose(back, points, atol=1e-12)


@pytest.mark.parametrize(("width", "height"), ODD_SIZES)
def test_frame_corners_and_centre_map_to_pixel_edges(width: int, height: int) -> None:
    """(0,0) is the top-left pixel's outer corner; (0.5,0.5) the picture centre."""
    px = norm_to_pixels([[0, 0], [1, 1], [0.5, 0.5]], width, height)
    expected = [
        [-0.5, -0.5],
        [width - 0.5, height - 0.5],
        [(width - 1) / 2, (height - 1) / 2],
    ]
    np.testing.assert_allclose(px, expected)


def test_rescale_matches_cv2_resize_pixel_centres() -> None:
    """A bright pixel moved by rescale_pixels lands where cv2.resize puts it."""
    big = np.zeros((1080, 1920), np.float32)
    big[540:546, 960:966] = 1.0
    small = cv2.resize(big, (640, 360), interpolation=cv2.INTER_AREA)
    ys, xs = np.nonzero(small)
    weights = small[ys, xs]
    centroid = [np.average(xs, weights=weights), np.average(ys, weights=weights)]
    moved = rescale_pixels([[962.5, 542.5]], (1920, 1080), (640, 360))
    np.testing.assert_allclose(moved[0], centroid, atol=1e-6)


def test_homography_translation_moves_points() -> None:
    """A translation matrix adds its offset."""
    h = np.array([[1, 0, 5.0], [0, 1, -2.0], [0, 0, 1]])
    np.testing.assert_allclose(
        apply_homography(h, [[1, 1], [0, 0]]), [[6, -1], [5, -2]]
    )


def test_point_sent_to_infinity_becomes_nan() -> None:
    """A zero projective denominator yields NaN (a break), not a huge number."""
    h = np.array([[1, 0, 0], [0, 1, 0], [1.0, 0, 0]])
    assert np.isnan(apply_homography(h, [[0.0, 3.0]])).all()


def test_normalised_homography_expressed_in_pixels_agrees() -> None:
    """Mapping in normalised space then converting equals converting then mapping."""
    h_norm = np.array([[0.9, -0.1, 0.05], [0.1, 0.9, 0.02], [0, 0, 1.0]])
    points = np.array([[0.2, 0.3], [0.7, 0.9]])
    width, height = 1279, 721
    direct = norm_to_pixels(apply_homography(h_norm, points), width, height)
    via_px = apply_homography(
        homography_between_sizes(h_norm, width, height),
        norm_to_pixels(points, width, height),
    )
    np.testing.assert_allclose(via_px, direct, atol=1e-9)


def test_rdp_collapses_a_straight_stroke_to_its_ends() -> None:
    """Collinear points add nothing."""
    stroke = np.column_stack([np.linspace(0, 100, 50), np.linspace(0, 50, 50)])
    np.testing.assert_allclose(simplify_rdp(stroke, 0.1), [[0, 0], [100, 50]])


def test_rdp_keeps_every_point_off_the_chord_within_tolerance() -> None:
    """No original point is farther than epsilon from the simplified stroke."""
    t = np.linspace(0, 4 * math.pi, 2000)
    stroke = np.column_stack([t * 20, np.sin(t) * 30])
    simple = simplify_rdp(stroke, 0.5)
    assert len(simple) < 200
    # Distance from each original point to the simplified polyline.
    a, b = simple[:-1], simple[1:]
    d = b - a
    p = stroke[:, None, :]
    f = np.clip(((p - a) * d).sum(-1) / (d * d).sum(-1), 0, 1)
    dist = np.hypot(*(p - (a + f[..., None] * d)).transpose(2, 0, 1)).min(axis=1)
    assert dist.max() <= 0.5 + 1e-9


def test_rdp_handles_a_closed_loop() -> None:
    """A stroke ending where it started (zero-length chord) still simplifies."""
    t = np.linspace(0, 2 * math.pi, 400)
    loop = np.column_stack([np.cos(t), np.sin(t)]) * 100
    simple = simplify_rdp(loop, 1.0)
    assert 4 < len(simple) < 100
