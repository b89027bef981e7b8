"""Video jitter-buffer fixes of ``MediaFixes``: ``marker_bit``, ``jitter_skip_frames``.

aiortc 1.16's ``JitterBuffer`` emits a video frame only when a packet of the
next frame arrives, and a packet lost for good blocks it until it overflows;
``research/aiortc-1.16.md`` sections 2.3 and 6 have the measurements. These
replace its ``_remove_frame`` and wrap its ``add``; ``aiortc_fixes`` applies
and reverts them.
"""

from __future__ import annotations

import logging
from typing import Any

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

logger = logging.getLogger(__name__)

_ORIGINAL_REMOVE_FRAME = JitterBuffer._remove_frame
_ORIGINAL_JITTER_ADD = JitterBuffer.add
#: WebRTC video RTP clock (Hz), and the frame interval assumed until measured.
_VIDEO_CLOCK = 90_000
_DEFAULT_INTERVAL = _VIDEO_CLOCK // 30


def remove_frame_on_marker(
    self: JitterBuffer, sequence_number: int
) -> JitterFrame | None:
    """Emit the head frame as soon as its packets run contiguously to the marker.

    Falls back to aiortc's rule (a packet of the next frame completes it) when
    a marker is lost. Audio buffers keep aiortc's prefetch logic.

    Called on every packet: rescanning the head frame from its first packet
    each time (as aiortc does) is quadratic in its packets, 22,000 steps for
    a 1080p keyframe and a fifth of a media worker's receive path. The packets
    already checked (present, same timestamp, no marker) stay checked while
    the head packet is the same object, so each call resumes where the last
    stopped.
    """
    if not self._is_video or self._prefetch:
        return _ORIGINAL_REMOVE_FRAME(self, sequence_number)
    packets, origin, capacity = self._packets, self._origin, self._capacity
    head = packets[origin % capacity]
    if head is None:
        return None
    timestamp = head.timestamp
    scan = self.__dict__.get("_fix_scan")
    count = scan[1] if scan is not None and scan[0] is head else 0
    while count < capacity:
        packet = packets[(origin + count) % capacity]
        if packet is None:
            break
        if packet.timestamp != timestamp:
            return _emit(self, count, timestamp)
        count += 1
        if packet.marker:
            return _emit(self, count, timestamp)
    self._fix_scan = (head, count)  # type: ignore[attr-defined]
    return None


def _emit(buffer: JitterBuffer, count: int, timestamp: int) -> JitterFrame:
    """The ``count`` packets from the origin as one frame, removed."""
    packets, origin, capacity = buffer._packets, buffer._origin, buffer._capacity
    data = b"".join(packets[(origin + i) % capacity]._data for i in range(count))  # type: ignore[union-attr]
    buffer._fix_scan = None  # type: ignore[attr-defined]
    buffer.remove(count)
    return JitterFrame(data, timestamp)


def _ts_after(a: int, b: int) -> int:
    """``a - b`` for 32-bit RTP timestamps, signed (wraps around)."""
    diff = (a - b) & 0xFFFFFFFF
    return diff - (1 << 32) if diff >= 1 << 31 else diff


def skipping_add(skip_frames: float, min_wait: float) -> Any:
    """``JitterBuffer.add`` that gives up on a gap once packets ``skip_frames``
    frame intervals (and ``min_wait`` seconds) newer have arrived."""
    frames = float(skip_frames)
    floor = round(min_wait * _VIDEO_CLOCK)

    def add(self: JitterBuffer, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if not self._is_video or self._prefetch:
            return _ORIGINAL_JITTER_ADD(self, packet)
        state = self.__dict__
        skipped = state.get("_fix_skipped")
        if skipped is not None and self._origin is not None:
            first, count = skipped
            seq = packet.sequence_number
            behind = uint16_add(self._origin, -seq)
            if 0 < behind < 0x8000 and uint16_add(seq, -first) < count:
                # A retransmission of a packet already given up on: aiortc
                # would reset the whole buffer for one 100 packets late.
                return False, None
        pli, frame = _ORIGINAL_JITTER_ADD(self, packet)
        newest = state.get("_fix_newest")
        if newest is None or _ts_after(packet.timestamp, newest) > 0:
            state["_fix_newest"] = newest = packet.timestamp
        interval = state.get("_fix_interval", _DEFAULT_INTERVAL)
        last = state.get("_fix_last")
        if frame is not None:
            step = _ts_after(frame.timestamp, last) if last is not None else 0
            if 0 < step <= _VIDEO_CLOCK:
                state["_fix_interval"] = step
            state["_fix_last"] = frame.timestamp
            return pli, frame
        if last is None:
            # As if the frame before the first one had just been emitted.
            state["_fix_last"] = last = (packet.timestamp - interval) & 0xFFFFFFFF
        # How much newer than the oldest waiting frame (last + interval) the
        # newest packet is; checked on every packet, so it must stay O(1).
        waited = _ts_after(newest, last) - interval
        if waited <= max(frames * interval, floor):
            return pli, None
        if state.get("_fix_tried") == newest:
            return pli, None  # scanned for this frame already: wait for the next
        state["_fix_tried"] = newest
        resume = _resume_point(self)
        if resume is None:
            return pli, None
        seq, timestamp = resume
        count = uint16_add(seq, -self._origin)
        state["_fix_skipped"] = (self._origin, count)
        state["_fix_skips"] = state.get("_fix_skips", 0) + 1
        self.remove(count)
        state["_fix_last"] = (timestamp - interval) & 0xFFFFFFFF
        logger.debug("jitter buffer skipped %s packets to %s", count, seq)
        frame = self._remove_frame(packet.sequence_number)
        if frame is not None:
            state["_fix_last"] = frame.timestamp
        # The skipped frames were references: ask for a keyframe.
        return True, frame

    return add


def _resume_point(buffer: JitterBuffer) -> tuple[int, int] | None:
    """``(sequence number, timestamp)`` of the first packet after the oldest
    gap that surely starts a frame (its predecessor is present and carries the
    marker or another timestamp), or ``None``."""
    capacity, packets, origin = buffer._capacity, buffer._packets, buffer._origin
    if origin is None:
        return None
    gap = False
    previous: RtpPacket | None = None
    for count in range(capacity):
        packet = packets[(origin + count) % capacity]
        if packet is None:
            gap, previous = True, None
            continue
        if (
            gap
            and previous is not None
            and (previous.marker or previous.timestamp != packet.timestamp)
        ):
            return uint16_add(origin, count), packet.timestamp
        previous = packet
    return None


def jitter_skips(buffer: JitterBuffer) -> int:
    """How many times ``jitter_skip_frames`` skipped over a gap in ``buffer``."""
    return int(buffer.__dict__.get("_fix_skips", 0))
