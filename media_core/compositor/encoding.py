"""Encoder and decoder set-up for the compositor (H.264 and VP8).

Settings follow ``research/aiortc-1.16.md``: a fast x264 preset with
``tune=zerolatency``, a short GOP, a level that actually fits the resolution
(aiortc hard-codes 3.1) and a pinned bitrate; VP8 with the realtime deadline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av

from media_core.errors import MediaError

logger = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 90000)

# (level, max macroblocks per frame, max macroblocks per second, max kbps),
# from H.264 Annex A, Table A-1 (baseline/main bitrates).
_H264_LEVELS = (
    ("3", 1620, 40500, 10000),
    ("3.1", 3600, 108000, 14000),
    ("3.2", 5120, 216000, 20000),
    ("4", 8192, 245760, 20000),
    ("4.1", 8192, 245760, 50000),
    ("4.2", 8704, 522240, 50000),
    ("5", 22080, 589824, 135000),
    ("5.1", 36864, 983040, 240000),
    ("5.2", 36864, 2073600, 240000),
)


def h264_level(width: int, height: int, fps: float, bitrate: int) -> str:
    """The lowest H.264 level allowing ``width x height`` at ``fps`` and ``bitrate``."""
    mbs = ((width + 15) // 16) * ((height + 15) // 16)
    for level, max_fs, max_mbps, max_kbps in _H264_LEVELS:
        if mbs <= max_fs and mbs * fps <= max_mbps and bitrate <= max_kbps * 1000:
            return level
    raise MediaError(f"no H.264 level fits {width}x{height}@{fps} {bitrate} bps")


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    """How the compositor encodes: codec, bitrate (bps), fps and speed knobs.

    ``preset`` is x264's (``ultrafast``/``veryfast``; ``medium`` is aiortc's
    effective default and only a baseline for benchmarks). ``vp8_cpu_used`` is
    libvpx's speed (higher is faster). ``keyframe_interval`` is in seconds.
    """

    codec: Literal["h264", "vp8"] = "h264"
    bitrate: int = 6_000_000
    fps: float = 30.0
    preset: str = "ultrafast"
    tune: str | None = "zerolatency"
    profile: str = "baseline"
    keyframe_interval: float = 2.0
    vp8_cpu_used: int = 8
    threads: int = 0

    @property
    def gop(self) -> int:
        """Keyframe interval in frames."""
        return max(1, round(self.keyframe_interval * self.fps))


def open_encoder(settings: EncoderSettings, width: int, height: int) -> av.CodecContext:
    """Create and open an encoder for ``width x height`` yuv420p input.

    Opening holds the GIL (``avcodec_open2``): call it from the worker thread,
    and only when the size changes.
    """
    kbps = settings.bitrate // 1000
    if settings.codec == "h264":
        ctx = av.CodecContext.create("libx264", "w")
        level = h264_level(width, height, settings.fps, settings.bitrate)
        params = [
            f"keyint={settings.gop}",
            f"min-keyint={settings.gop}",
            "scenecut=0",
            f"level={level}",
            # A one-second VBV keeps the rate pinned without aiortc's REMB churn.
            f"vbv-maxrate={kbps}",
            f"vbv-bufsize={kbps}",
        ]
        options = {
            "preset": settings.preset,
            "profile": settings.profile,
            "forced-idr": "1",
            "x264-params": ":".join(params),
        }
        if settings.tune:
            options["tune"] = settings.tune
    elif settings.codec == "vp8":
        ctx = av.CodecContext.create("libvpx", "w")
        options = {
            "deadline": "realtime",
            "cpu-used": str(settings.vp8_cpu_used),
            "lag-in-frames": "0",
            "auto-alt-ref": "0",
            "minrate": str(settings.bitrate),
            "maxrate": str(settings.bitrate),
            "bufsize": str(settings.bitrate),
            "undershoot-pct": "95",
        }
    else:
        raise MediaError(f"unsupported codec {settings.codec!r}")
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = TIME_BASE
    ctx.framerate = Fraction(settings.fps).limit_denominator(1001)
    ctx.bit_rate = settings.bitrate
    ctx.gop_size = settings.gop
    ctx.thread_count = settings.threads
    ctx.options = options
    ctx.open()
    logger.info(
        "opened %s encoder %sx%s %s bps gop %s",
        settings.codec,
        width,
        height,
        settings.bitrate,
        settings.gop,
    )
    return ctx


def open_decoder(codec: str, thread_type: str = "SLICE") -> av.CodecContext:
    """A decoder for ``codec`` (``h264`` or ``vp8``).

    Slice threading by default rather than the style guide's ``AUTO``: frame
    threading holds back one decoded frame per extra thread, which is latency
    on a live path. ``AUTO`` overlaps decoding with drawing and encoding, so
    pass it where throughput matters more than a frame of delay (recording).
    """
    ctx = av.CodecContext.create(codec, "r")
    ctx.thread_type = thread_type
    return ctx


def is_keyframe_packet(packet: av.Packet, codec: str) -> bool:
    """Whether ``packet`` starts a decodable picture: its flag, else its bytes.

    H.264 (Annex-B): an IDR slice (NAL 5) or an SPS (NAL 7). VP8: P bit clear
    (RFC 7741).
    """
    if packet.is_keyframe:
        return True
    data = bytes(packet)
    if not data:
        return False
    if codec == "vp8":
        return data[0] & 1 == 0
    if codec == "h264":
        start = data.find(b"\x00\x00\x01")
        while 0 <= start < len(data) - 3:
            if data[start + 3] & 0x1F in (5, 7):
                return True
            start = data.find(b"\x00\x00\x01", start + 3)
    return False
