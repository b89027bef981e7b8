"""Fixes to aiortc 1.16 that the media core owns, each switchable and reversible.

Every fix is a process-wide monkeypatch (aiortc has no per-peer API for any of
them), applied by ``MediaFixes.apply()`` and undone by ``revert()`` so that a
benchmark can measure stock and fixed aiortc in the same run. Facts and
numbers behind each one are in ``research/aiortc-1.16.md``:

* ``marker_bit``: the video ``JitterBuffer`` emits a frame only when the next
  frame's first packet arrives (one frame interval of latency per hop);
  complete it on the RTP marker bit instead (section 2.3).
* ``video_jitter_capacity``: 512 packets is smaller than a 4K keyframe
  (about 800 packets), which caused overflows and PLI storms (section 2.4).
* ``udp_rcvbuf``: a 1 MB keyframe burst overflows the default 212 KB socket
  buffer; set ``SO_RCVBUF`` on every ICE socket after gathering.
* ``x264``: preset, ``tune=zerolatency``, a short GOP and a level that fits the
  resolution (aiortc uses preset medium, x264's 250-frame GOP and level 3.1).
* ``pin_bitrate``: raise the caps and pin MIN=MAX=DEFAULT so REMB never
  re-creates the encoder (an IDR and a GIL stall each time); with ``x264`` the
  H.264 bitrate follows the resolution (``X264Settings.bitrate_for``).
* ``nack_retry``: aiortc NACKs a gap once; re-send NACKs for packets still
  missing every ``retry_interval`` up to ``max_retries`` times (a lost
  retransmission otherwise freezes video for seconds).
* ``pli_interval``: at most one receiver PLI per interval (1.16 sends one on
  every failed decode, a PLI storm).
* ``vp8_keyframe_interval``: aiortc's VP8 encoder sets ``gop_size = 3000``
  (a keyframe every 100 s at 30 fps, section 1.3); force one every
  ``vp8_keyframe_interval`` seconds of media time, as ``x264`` does for
  H.264, so a decoder that lost a frame (or a subscriber whose keyframe
  request went missing) recovers within that interval.
* ``jitter_skip_frames``: a lost packet whose retransmission never arrives
  blocks aiortc's video ``JitterBuffer`` until it overflows (3.6-4.4 s at
  512 packets, longer at 4096; section 6 item 4). Once packets of a frame
  ``jitter_skip_frames`` frame intervals (and ``jitter_skip_min_wait``
  seconds) newer than the oldest waiting frame have arrived, give up on the
  incomplete frames: resume at the next frame that surely starts after the
  gap and request a keyframe (a PLI) for the references just lost. Meant
  with ``marker_bit``; without it a complete frame just before a lost first
  packet is skipped too.
* ``fast_rtp_send``: the sender's per-packet work (a fresh ``RtpPacket``, two
  ``datetime`` clock reads, extension packing, three coroutine layers to the
  socket) was two thirds of a media worker's event loop at 20 viewers; do it
  once per frame and share H.264 packetisation between the senders of a
  relayed packet (``media_core.rtp_send``).
* ``remb_interval``: aiortc sends a REMB on every packet while its delay
  detector reads "overusing"; send at most one per interval unless the
  estimate falls by 3 %, as libwebrtc does (``media_core.remb_throttle``).
"""

from __future__ import annotations

import fractions
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCRtpReceiver
from aiortc.codecs import h264, vpx
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcicetransport import RTCIceGatherer
from aiortc.rtcrtpreceiver import NackGenerator

from media_core import remb_throttle, rtp_send
from media_core.compositor.encoding import h264_level
from media_core.errors import MediaError
from media_core.jitter_fixes import (
    jitter_skips,
    remove_frame_on_marker,
    skipping_add,
)

logger = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class X264Settings:
    """x264 options for aiortc's H.264 sender; bitrates in bps by frame height."""

    preset: str = "veryfast"
    preset_4k: str = "ultrafast"
    tune: str = "zerolatency"
    keyframe_interval: float = 1.0
    fps: int = 30
    bitrates: tuple[tuple[int, int], ...] = (
        (480, 1_200_000),
        (720, 2_500_000),
        (1080, 6_000_000),
        (2160, 16_000_000),
    )

    def bitrate_for(self, height: int) -> int:
        """The clinical bitrate (bps) for a frame ``height`` lines tall."""
        for max_height, bitrate in self.bitrates:
            if height <= max_height:
                return bitrate
        return self.bitrates[-1][1]

    def preset_for(self, height: int) -> str:
        """The x264 preset: the faster one above 1080 lines."""
        return self.preset_4k if height > 1080 else self.preset

    def level_for(self, width: int, height: int, bitrate: int) -> str:
        """4.2 for 1080p, 5.1 for 4K, else the lowest level that fits at 30 fps."""
        if height == 1080 or (1080 < height <= 2160 and width <= 4096):
            return "4.2" if height == 1080 else "5.1"
        return h264_level(width, height, self.fps, bitrate)


@dataclass(slots=True)
class MediaFixes:
    """Switches for every fix; ``None``/``False`` leaves aiortc's behaviour."""

    marker_bit: bool = True
    video_jitter_capacity: int | None = 4096
    udp_rcvbuf: int | None = 4 * MB
    x264: X264Settings | None = field(default_factory=X264Settings)
    pin_bitrate: int | None = 6_000_000
    nack_retry: bool = True
    nack_retry_interval: float = 0.03
    nack_max_retries: int = 3
    pli_interval: float | None = 0.5
    vp8_keyframe_interval: float | None = 1.0
    jitter_skip_frames: float | None = 2.0
    jitter_skip_min_wait: float = 0.1
    fast_rtp_send: bool = True
    remb_interval: float | None = 0.2
    _undo: list[tuple[Any, str, Any]] = field(default_factory=list, repr=False)

    @classmethod
    def stock(cls) -> MediaFixes:
        """Every fix off (aiortc as published)."""
        return cls(
            False,
            None,
            None,
            None,
            None,
            False,
            pli_interval=None,
            vp8_keyframe_interval=None,
            jitter_skip_frames=None,
            fast_rtp_send=False,
            remb_interval=None,
        )

    @property
    def applied(self) -> bool:
        """Whether ``apply`` is in effect."""
        return bool(self._undo)

    def _set(self, owner: Any, name: str, value: Any) -> None:
        self._undo.append((owner, name, owner.__dict__.get(name, getattr(owner, name))))
        setattr(owner, name, value)

    def apply(self) -> None:
        """Patch aiortc; raises ``MediaError`` if these fixes are already applied."""
        if self._undo:
            raise MediaError("fixes already applied")
        if _ACTIVE:
            raise MediaError("another MediaFixes is applied; revert it first")
        _ACTIVE.append(self)
        if self.marker_bit:
            self._set(JitterBuffer, "_remove_frame", remove_frame_on_marker)
        if self.video_jitter_capacity:
            self._set(RTCRtpReceiver, "__init__", _receiver_init(self))
        if self.udp_rcvbuf:
            self._set(RTCIceGatherer, "gather", _gather(self.udp_rcvbuf))
        if self.x264 is not None:
            self._set(h264.H264Encoder, "_encode_frame", _encode_frame(self.x264))
        if self.pin_bitrate:
            for module in (h264, vpx):
                for name in ("DEFAULT_BITRATE", "MIN_BITRATE", "MAX_BITRATE"):
                    self._set(module, name, self.pin_bitrate)
        if self.nack_retry:
            self._set(NackGenerator, "add", _nack_add(self))
        if self.pli_interval:
            self._set(RTCRtpReceiver, "_send_rtcp_pli", _rate_limited_pli(self))
        if self.vp8_keyframe_interval:
            encode = _vp8_encode(self.vp8_keyframe_interval)
            self._set(vpx.Vp8Encoder, "encode", encode)
        if self.jitter_skip_frames:
            add = skipping_add(self.jitter_skip_frames, self.jitter_skip_min_wait)
            self._set(JitterBuffer, "add", add)
        if self.fast_rtp_send:
            for owner, name, replacement in rtp_send.patches():
                self._set(owner, name, replacement)
        if self.remb_interval:
            add = remb_throttle.throttled_add(self.remb_interval)
            self._set(RemoteBitrateEstimator, "add", add)
        logger.info("aiortc fixes applied: %s", self)

    def revert(self) -> None:
        """Undo every patch of ``apply`` (idempotent)."""
        while self._undo:
            owner, name, original = self._undo.pop()
            setattr(owner, name, original)
        if self in _ACTIVE:
            _ACTIVE.remove(self)


_ACTIVE: list[MediaFixes] = []
_ORIGINAL_RECEIVER_INIT = RTCRtpReceiver.__init__
_ORIGINAL_GATHER = RTCIceGatherer.gather
_ORIGINAL_NACK_ADD = NackGenerator.add
_ORIGINAL_SEND_PLI = RTCRtpReceiver._send_rtcp_pli
_ORIGINAL_VP8_ENCODE = vpx.Vp8Encoder.encode


def _receiver_init(fixes: MediaFixes) -> Any:
    def __init__(self: RTCRtpReceiver, kind: str, transport: Any) -> None:
        _ORIGINAL_RECEIVER_INIT(self, kind, transport)
        if kind == "video" and fixes.video_jitter_capacity:
            buffer = JitterBuffer(capacity=fixes.video_jitter_capacity, is_video=True)
            self._RTCRtpReceiver__jitter_buffer = buffer  # type: ignore[attr-defined]

    return __init__


def _gather(size: int) -> Any:
    async def gather(self: RTCIceGatherer) -> None:
        await _ORIGINAL_GATHER(self)
        for protocol in list(self._connection._protocols):
            transport = getattr(protocol, "transport", None)
            sock = transport.get_extra_info("socket") if transport else None
            if sock is not None:
                _set_rcvbuf(sock, size)

    return gather


def _set_rcvbuf(sock: socket.socket, size: int) -> None:
    # SO_RCVBUF is capped at net.core.rmem_max; the FORCE variant (root or
    # CAP_NET_ADMIN) is not, so try it first.
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if force is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)
            return
        except OSError:
            pass
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def rcvbuf_sizes(gatherer: RTCIceGatherer) -> list[int]:
    """``SO_RCVBUF`` of each of ``gatherer``'s sockets (Linux reports it doubled)."""
    sizes = []
    for protocol in gatherer._connection._protocols:
        transport = getattr(protocol, "transport", None)
        sock = transport.get_extra_info("socket") if transport else None
        if sock is not None:
            sizes.append(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    return sizes


def _encode_frame(settings: X264Settings) -> Any:
    def _encode_frame(
        self: h264.H264Encoder, frame: av.VideoFrame, force_keyframe: bool
    ) -> Iterator[bytes]:
        # aiortc's method, with a pinned per-resolution bitrate (so REMB never
        # re-creates the encoder) and the preset, GOP and level of ``settings``.
        if self.codec and (
            frame.width != self.codec.width or frame.height != self.codec.height
        ):
            self.buffer_data = b""
            self.buffer_pts = None
            self.codec = None
        frame.pict_type = (
            av.video.frame.PictureType.I
            if force_keyframe
            else av.video.frame.PictureType.NONE
        )
        if self.codec is None:
            bitrate = settings.bitrate_for(frame.height)
            gop = max(1, round(settings.keyframe_interval * settings.fps))
            level = settings.level_for(frame.width, frame.height, bitrate)
            kbps = bitrate // 1000
            params = f"keyint={gop}:min-keyint={gop}:scenecut=0"
            params += f":vbv-maxrate={kbps}:vbv-bufsize={kbps}"
            self.codec = av.CodecContext.create("libx264", "w")
            self.codec.width = frame.width
            self.codec.height = frame.height
            self.codec.bit_rate = bitrate
            self.codec.pix_fmt = "yuv420p"
            self.codec.framerate = fractions.Fraction(settings.fps, 1)
            self.codec.time_base = fractions.Fraction(1, settings.fps)
            self.codec.gop_size = gop
            self.codec.options = {
                "preset": settings.preset_for(frame.height),
                "tune": settings.tune,
                "level": level,
                "x264-params": params,
            }
            self.codec.profile = "Baseline"
        data = b"".join(bytes(p) for p in self.codec.encode(frame))
        if data:
            yield from self._split_bitstream(data)

    return _encode_frame


def _nack_add(fixes: MediaFixes) -> Any:
    def add(self: NackGenerator, packet: Any) -> bool:
        missed = _ORIGINAL_NACK_ADD(self, packet)
        now = time.monotonic()
        tries: dict[int, int] = self.__dict__.setdefault("_fix_tries", {})
        for seq in list(tries):
            if seq not in self.missing:
                del tries[seq]
        if missed:
            self.__dict__["_fix_last"] = now
            for seq in self.missing:
                tries.setdefault(seq, 0)
            return True
        last = self.__dict__.get("_fix_last", 0.0)
        if self.missing and now - last >= fixes.nack_retry_interval:
            for seq in list(self.missing):
                tries[seq] = tries.get(seq, 0) + 1
                if tries[seq] > fixes.nack_max_retries:
                    # Give up: the jitter buffer overflow and a PLI take over.
                    self.missing.discard(seq)
                    del tries[seq]
            self.__dict__["_fix_last"] = now
            return bool(self.missing)
        return False

    return add


def _rate_limited_pli(fixes: MediaFixes) -> Any:
    async def _send_rtcp_pli(self: RTCRtpReceiver, media_ssrc: int) -> None:
        now = time.monotonic()
        last = self.__dict__.get("_fix_last_pli", -float("inf"))
        if now - last < (fixes.pli_interval or 0.0):
            return
        self.__dict__["_fix_last_pli"] = now
        await _ORIGINAL_SEND_PLI(self, media_ssrc)

    return _send_rtcp_pli


def _vp8_encode(interval: float) -> Any:
    def encode(
        self: vpx.Vp8Encoder, frame: av.VideoFrame, force_keyframe: bool = False
    ) -> tuple[list[bytes], int]:
        # aiortc's method; a keyframe is forced once ``interval`` seconds of
        # media time (pts) have passed since the last one, which is either
        # forced (here or by a PLI) or the first of a new encoder.
        state = self.__dict__
        if frame.pts is not None and frame.time_base is not None:
            now = float(frame.pts * frame.time_base)
        else:
            now = state.get("_fix_frames", 0) / 30.0
            state["_fix_frames"] = state.get("_fix_frames", 0) + 1
        last = state.get("_fix_keyframe_at")
        if last is not None and (now - last >= interval - 1e-6 or now < last):
            force_keyframe = True
        codec = self.codec
        result = _ORIGINAL_VP8_ENCODE(self, frame, force_keyframe)
        if force_keyframe or codec is None or self.codec is not codec:
            state["_fix_keyframe_at"] = now
        return result

    return encode


__all__ = ["MB", "MediaFixes", "X264Settings", "jitter_skips", "rcvbuf_sizes"]
