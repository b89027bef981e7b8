"""The browser's latency stamp codec (static/js/room/stamp.js) against media_core.stamps.

Chromium loads the JS module from the source tree (Playwright routes a fake origin to
``static/``; no server, no database): JS draws a stamp into a canvas and Python reads
the canvas as a yuv420p frame with ``read_stamp``; Python writes with ``write_stamp``,
the frame goes to the page as a PNG and JS reads it back.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from media_core.canvas import YuvCanvas
from media_core.stamps import crc16, read_stamp, stamp_geometry, write_stamp

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "static"
ORIGIN = "http://stamp.test"
CHROMIUM = "/usr/bin/chromium"
SIZES = [
    (640, 360),
    (1280, 720),
    (1920, 1080),
    (3840, 2160),
    (320, 240),
    (960, 540),
    (2560, 1800),
]
MS = [0, 1, 1_764_300_000_123, 2**48 - 1, 1_800_000_000_000]


@pytest.fixture(scope="module")
def stamp_page() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        pytest.skip("needs Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu"],
        )
        page = chromium.new_page()

        def serve(route) -> None:  # type: ignore[no-untyped-def]
            path = route.request.url.removeprefix(ORIGIN).split("?")[0]
            if path == "/":
                route.fulfill(
                    body="<!doctype html><title>stamps</title>",
                    content_type="text/html",
                )
                return
            file = (STATIC / path.removeprefix("/static/")).resolve()
            if STATIC not in file.parents or not file.is_file():
                route.fulfill(status=404, body="")
                return
            route.fulfill(body=file.read_bytes(), content_type="text/javascript")

        page.route(f"{ORIGIN}/**", serve)
        page.goto(f"{ORIGIN}/")
        page.evaluate(
            "async () => { window.stamp = await import('/static/js/room/stamp.js'); }"
        )
        yield page
        chromium.close()


def _js_canvas_rgb(page, width: int, height: int, ms: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """JS fills a grey frame with a moving-ish pattern, stamps it, returns RGB bytes."""
    data = page.evaluate(
        """([w, h, ms]) => {
            const canvas = document.createElement('canvas');
            canvas.width = w; canvas.height = h;
            const ctx = canvas.getContext('2d', { willReadFrequently: true });
            const g = ctx.createLinearGradient(0, 0, w, h);
            g.addColorStop(0, '#3a7d44'); g.addColorStop(1, '#c8d5b9');
            ctx.fillStyle = g; ctx.fillRect(0, 0, w, h);
            if (!window.stamp.drawStamp(ctx, w, h, ms)) return null;
            const px = ctx.getImageData(0, 0, w, h).data;
            let s = '';
            const rgb = new Uint8Array(w * h * 3);
            for (let i = 0, j = 0; i < px.length; i += 4, j += 3) { rgb[j] = px[i]; rgb[j+1] = px[i+1]; rgb[j+2] = px[i+2]; }
            for (let i = 0; i < rgb.length; i += 0x8000) s += String.fromCharCode.apply(null, rgb.subarray(i, i + 0x8000));
            return btoa(s);
        }""",
        [width, height, ms],
    )
    assert data is not None
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(height, width, 3)


def _rgb_to_canvas(rgb: np.ndarray) -> YuvCanvas:
    height, width = rgb.shape[:2]
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    y = i420[:height]
    chroma = i420[height:].reshape(-1)
    quarter = (height // 2) * (width // 2)
    u = chroma[:quarter].reshape(height // 2, width // 2)
    v = chroma[quarter:].reshape(height // 2, width // 2)
    return YuvCanvas(np.ascontiguousarray(y), u, v)


def test_crc_and_geometry_agree(stamp_page) -> None:  # type: ignore[no-untyped-def]
    for data in (b"", b"123456789", bytes(range(6)), b"\xff" * 6):
        assert stamp_page.evaluate("(b) => window.stamp.crc16(b)", list(data)) == crc16(
            data
        )
    for width, height in [
        *SIZES,
        (100, 40),
        (80, 16),
        (64, 16),
        (4096, 2160),
        (1080, 1920),
    ]:
        js = stamp_page.evaluate(
            "([w, h]) => window.stamp.stampGeometry(w, h)", [width, height]
        )
        try:
            geo = stamp_geometry(width, height)
        except Exception:  # noqa: BLE001 - BadFrame: too small
            assert js is None
            continue
        assert js is not None and js["cell"] == geo.cell, (width, height)


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_js_writes_python_reads(stamp_page, width: int, height: int) -> None:  # type: ignore[no-untyped-def]
    for ms in MS:
        rgb = _js_canvas_rgb(stamp_page, width, height, ms)
        assert read_stamp(_rgb_to_canvas(rgb)) == ms


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_python_writes_js_reads(stamp_page, width: int, height: int) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(width)
    for ms in MS:
        canvas = YuvCanvas.blank(width, height)
        canvas.y[:] = rng.integers(40, 200, size=(height, width), dtype=np.uint8)
        write_stamp(canvas, ms)
        i420 = np.concatenate(
            [canvas.y.reshape(-1), canvas.u.reshape(-1), canvas.v.reshape(-1)]
        )
        rgb = cv2.cvtColor(i420.reshape(height * 3 // 2, width), cv2.COLOR_YUV2RGB_I420)
        ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        got = stamp_page.evaluate(
            """async ([b64, w, h]) => {
                const img = new Image();
                img.src = 'data:image/png;base64,' + b64;
                await img.decode();
                const region = window.stamp.readRegion(w, h);
                const canvas = document.createElement('canvas');
                canvas.width = region.width; canvas.height = region.height;
                const ctx = canvas.getContext('2d', { willReadFrequently: true });
                ctx.drawImage(img, 0, 0, region.width, region.height, 0, 0, region.width, region.height);
                const px = ctx.getImageData(0, 0, region.width, region.height).data;
                return [window.stamp.readStamp(px, region.width, region.height, w, h),
                        window.stamp.readStampTolerant(px, region.width, region.height, w, h)];
            }""",
            [base64.b64encode(png.tobytes()).decode(), width, height],
        )
        assert got == [ms, ms]


def test_unstamped_and_damaged_frames_read_as_no_stamp(stamp_page) -> None:  # type: ignore[no-untyped-def]
    got = stamp_page.evaluate(
        """() => {
            const w = 1280, h = 720;
            const canvas = document.createElement('canvas');
            canvas.width = w; canvas.height = h;
            const ctx = canvas.getContext('2d', { willReadFrequently: true });
            ctx.fillStyle = '#6a8'; ctx.fillRect(0, 0, w, h);
            const plain = ctx.getImageData(0, 0, 320, 64).data;
            window.stamp.drawStamp(ctx, w, h, 1764300000123);
            ctx.fillStyle = '#ffffff'; ctx.fillRect(16 * 19, 16 * 3, 16, 16);  // flip a CRC cell to white
            ctx.fillStyle = '#000000'; ctx.fillRect(16 * 18, 16 * 3, 16, 16);
            const damaged = ctx.getImageData(0, 0, 320, 64).data;
            return [window.stamp.readStamp(plain, 320, 64, w, h), window.stamp.readStamp(damaged, 320, 64, w, h)];
        }"""
    )
    assert got == [None, None]


def test_tolerant_reader_finds_a_downscaled_stamp(stamp_page) -> None:  # type: ignore[no-untyped-def]
    """A 1280x720 stamp scaled to 960x540 (an encoder's 3/4 step) still reads."""
    got = stamp_page.evaluate(
        """() => {
            const src = document.createElement('canvas');
            src.width = 1280; src.height = 720;
            const sctx = src.getContext('2d');
            sctx.fillStyle = '#777'; sctx.fillRect(0, 0, 1280, 720);
            window.stamp.drawStamp(sctx, 1280, 720, 1764300000999);
            const dst = document.createElement('canvas');
            dst.width = 960; dst.height = 540;
            const dctx = dst.getContext('2d', { willReadFrequently: true });
            dctx.drawImage(src, 0, 0, 960, 540);
            const r = window.stamp.readRegion(960, 540);
            const px = dctx.getImageData(0, 0, r.width, r.height).data;
            return window.stamp.readStampTolerant(px, r.width, r.height, 960, 540);
        }"""
    )
    assert got == 1_764_300_000_999
