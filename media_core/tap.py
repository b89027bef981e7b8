"""The receiver tap: encoded frames out of aiortc 1.16 without decoding.

aiortc has no public API for a receiver's encoded frames. This is the one
module of the media core that touches aiortc's private receiver and sender
state (see ``research/aiortc-1.16.md`` section 1.2); everything else goes
through the functions here:

* ``install_tap`` swaps ``RTCRtpReceiver.__decoder_queue`` for a ``TapQueue``.
  It must run in ``pc.on("track")``: aiortc emits that event inside
  ``setRemoteDescription`` *before* ``receiver.receive()`` starts the decoder
  thread, which is where the thread captures the queue. Reassembled
  ``JitterFrame``\\ s then become ``av.Packet``\\ s (pts in the codec's clock,
  ``time_base = 1/clockRate``, i.e. 1/90000 for video, ``is_keyframe`` set for
  VP8 and H.264) handed to a callback **on the event-loop thread** (the put
  comes from ``_handle_rtp_packet``). ``None`` (stop) passes through so the
  idle decoder thread exits normally.
* ``ReceiverTap.request_keyframe`` sends a PLI upstream (``_send_rtcp_pli``).
* ``bind_keyframe_handler`` routes a sender's incoming PLI/FIR to a callback
  (aiortc drops them for packets: ``_send_keyframe`` only sets a flag read on
  the frame path).
* ``negotiated_codec`` / ``codec_preferences_for`` read ``transceiver._codecs``.

``assert_aiortc_internals`` checks every private name and signature used here
and in ``media_core.aiortc_fixes``; the relay calls it at import and a test
calls it, so an aiortc upgrade fails loudly instead of silently.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import aiortc
import av
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import get_capabilities
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters

from media_core.errors import AiortcInternalsChanged, MediaError

logger = logging.getLogger(__name__)

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_THREAD_ATTR = "_RTCRtpReceiver__decoder_thread"
SUPPORTED_VERSION = "1.16."

#: ``on_packet(packet, codec_name)``; runs on the event-loop thread.
PacketCallback = Callable[[av.Packet, str], None]


def is_keyframe(data: bytes, codec: str) -> bool:
    """Whether depayloaded ``data`` of ``codec`` starts a decodable picture.

    VP8: P bit clear (RFC 7741). H.264 (Annex-B): an IDR slice (NAL 5) or an
    SPS (NAL 7). Audio codecs: always.
    """
    if codec in ("opus", "pcmu", "pcma", "g722"):
        return True
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


def to_packet(frame: JitterFrame, codec: RTCRtpCodecParameters) -> av.Packet:
    """An ``av.Packet`` of one reassembled frame, ready for a sender's ``pack()``."""
    packet = av.Packet(frame.data)
    packet.pts = frame.timestamp
    packet.dts = frame.timestamp
    packet.time_base = Fraction(1, codec.clockRate)
    packet.is_keyframe = is_keyframe(frame.data, codec.name.lower())
    return packet


class TapQueue(queue.Queue):  # type: ignore[type-arg]
    """Stands in for the receiver's decoder queue and diverts frames to a callback.

    ``put`` is called by aiortc on the event-loop thread. Only ``None`` is
    really queued, for the idle decoder thread's ``get``.
    """

    def __init__(self, on_packet: PacketCallback) -> None:
        super().__init__()
        self._on_packet = on_packet
        self.frames = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Divert ``(codec, JitterFrame)``; pass ``None`` through to the thread."""
        if item is None:
            super().put(None, block, timeout)
            return
        codec, frame = item
        self.frames += 1
        try:
            self._on_packet(to_packet(frame, codec), codec.name.lower())
        except Exception:
            # A consumer bug must not propagate into aiortc's RTP handler,
            # which would drop the rest of this packet's processing.
            logger.exception("receiver tap callback failed")


class ReceiverTap:
    """A tapped receiver: where its frames go and how to ask for a keyframe."""

    def __init__(self, receiver: RTCRtpReceiver, queue_: TapQueue) -> None:
        self.receiver = receiver
        self.queue = queue_
        self.plis_sent = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def request_keyframe(self) -> bool:
        """Send a PLI for every active source now; ``False`` before any packet."""
        sources = [s.source for s in self.receiver.getSynchronizationSources()]
        if not sources:
            return False
        loop = asyncio.get_running_loop()
        for ssrc in sources:
            # RTX SSRCs may be listed too; a PLI naming one is ignored upstream.
            task = loop.create_task(self.receiver._send_rtcp_pli(ssrc))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.plis_sent += 1
        return True


def install_tap(receiver: RTCRtpReceiver, on_packet: PacketCallback) -> ReceiverTap:
    """Divert ``receiver``'s encoded frames to ``on_packet``.

    Call from ``pc.on("track")``; raises ``MediaError`` if the decoder thread
    has already started (too late: it holds the old queue).
    """
    if getattr(receiver, _THREAD_ATTR) is not None:
        raise MediaError("receiver already started; tap it in pc.on('track')")
    tap_queue = TapQueue(on_packet)
    setattr(receiver, _QUEUE_ATTR, tap_queue)
    return ReceiverTap(receiver, tap_queue)


def bind_keyframe_handler(sender: RTCRtpSender, handler: Callable[[], None]) -> None:
    """Call ``handler`` for every PLI/FIR the remote peer sends ``sender``."""
    sender._send_keyframe = handler  # type: ignore[method-assign]


def negotiated_codec(transceiver: RTCRtpTransceiver) -> RTCRtpCodecParameters:
    """The codec a negotiated transceiver sends/receives (its first codec)."""
    codecs = transceiver._codecs
    if not codecs:
        raise MediaError("transceiver has no negotiated codec")
    return codecs[0]


def codec_preferences_for(
    codec: RTCRtpCodecParameters,
) -> list[RTCRtpCodecCapability]:
    """Capabilities to pass to ``setCodecPreferences`` to force ``codec`` (+ RTX).

    For H.264 the profile and packetization mode must match too, as in
    aiortc's own ``is_codec_compatible``.
    """
    kind = codec.mimeType.split("/")[0]
    chosen: list[RTCRtpCodecCapability] = []
    rtx: list[RTCRtpCodecCapability] = []
    for cap in get_capabilities(kind).codecs:
        if cap.mimeType.lower() == f"{kind}/rtx":
            rtx.append(cap)
        elif cap.mimeType.lower() == codec.mimeType.lower() and _same_h264_mode(
            cap, codec
        ):
            chosen.append(cap)
    if not chosen:
        raise MediaError(f"no local capability matches {codec.mimeType}")
    return chosen[:1] + rtx


def _same_h264_mode(cap: RTCRtpCodecCapability, codec: RTCRtpCodecParameters) -> bool:
    if codec.mimeType.lower() != "video/h264":
        return True
    mode = str(codec.parameters.get("packetization-mode", "0"))
    if str(cap.parameters.get("packetization-mode", "0")) != mode:
        return False
    theirs = str(codec.parameters.get("profile-level-id", "42001f"))[:4].lower()
    ours = str(cap.parameters.get("profile-level-id", ""))[:4].lower()
    # 42e0 (constrained baseline) and 4200 (baseline) decode each other here.
    return theirs[:2] == ours[:2]


def _params(func: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(func).parameters)


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise AiortcInternalsChanged(f"aiortc {aiortc.__version__}: {what}")


def assert_aiortc_internals() -> None:
    """Raise ``AiortcInternalsChanged`` unless every private hook is as expected."""
    from aiortc import rtcrtpreceiver, rtcrtpsender
    from aiortc.codecs import h264, opus, vpx
    from aiortc.rtcicetransport import RTCIceGatherer
    from aiortc.rtcrtpreceiver import NackGenerator

    _require(aiortc.__version__.startswith(SUPPORTED_VERSION), "version not 1.16")
    init = inspect.getsource(RTCRtpReceiver.__init__)
    _require("self.__decoder_queue: queue.Queue" in init, "decoder queue attribute")
    _require("self.__decoder_thread" in init, "decoder thread attribute")
    _require("JitterBuffer(capacity=512, is_video=True)" in init, "video jitter")
    receive = inspect.getsource(RTCRtpReceiver.receive)
    _require("self.__decoder_queue" in receive, "receive() hands the queue over")
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    _require(
        "self.__decoder_queue.put((codec, encoded_frame))" in handle,
        "_handle_rtp_packet queues (codec, frame)",
    )
    _require("self.__nack_generator.add(packet)" in handle, "NACK generator call")
    _require(
        _params(rtcrtpreceiver.decoder_worker)
        == ["loop", "input_q", "output_q", "decode_error"],
        "decoder_worker signature",
    )
    _require(
        _params(RTCRtpReceiver._send_rtcp_pli) == ["self", "media_ssrc"],
        "_send_rtcp_pli signature",
    )
    _require(
        _params(RTCRtpReceiver._send_rtcp_nack) == ["self", "media_ssrc", "lost"],
        "_send_rtcp_nack signature",
    )
    _require(_params(NackGenerator.add) == ["self", "packet"], "NackGenerator.add")
    rtcp = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    _require("self._send_keyframe()" in rtcp, "sender PLI/FIR -> _send_keyframe")
    _require(_params(RTCRtpSender._send_keyframe) == ["self"], "_send_keyframe")
    nxt = inspect.getsource(rtcrtpsender.RTCRtpSender._next_encoded_frame)
    _require("self.__encoder.pack(data)" in nxt, "sender packs non-frames")
    _require("self._codecs" in inspect.getsource(RTCRtpTransceiver.__init__), "_codecs")
    _require(
        _params(JitterBuffer._remove_frame) == ["self", "sequence_number"],
        "JitterBuffer._remove_frame signature",
    )
    _require(_params(JitterFrame.__init__) == ["self", "data", "timestamp"], "frame")
    _require(_params(JitterBuffer.add) == ["self", "packet"], "JitterBuffer.add")
    _require(_params(JitterBuffer.remove) == ["self", "count"], "JitterBuffer.remove")
    jitter = inspect.getsource(JitterBuffer.__init__)
    for name in ("_capacity", "_origin", "_packets", "_prefetch", "_is_video"):
        _require(f"self.{name}" in jitter, f"JitterBuffer.{name}")
    _require(
        _params(vpx.Vp8Encoder.encode) == ["self", "frame", "force_keyframe"],
        "Vp8Encoder.encode signature",
    )
    for module in (h264, vpx):
        for name in ("DEFAULT_BITRATE", "MIN_BITRATE", "MAX_BITRATE"):
            _require(isinstance(getattr(module, name, None), int), f"{name}")
    _require(hasattr(h264.H264Encoder, "_encode_frame"), "H264Encoder._encode_frame")
    _require(hasattr(opus.OpusEncoder, "pack"), "OpusEncoder.pack")
    _require(
        "self._connection" in inspect.getsource(RTCIceGatherer.__init__),
        "RTCIceGatherer._connection",
    )
