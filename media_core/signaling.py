"""SDP and ICE candidates to and from the JSON dicts of the media protocol.

Every parser raises a ``media_core.errors`` subclass (``MalformedSdp``,
``InvalidMessage``) instead of aiortc's bare ``AssertionError``/``ValueError``,
so the worker can answer ``media.error`` with the protocol's code.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiortc import RTCIceCandidate, RTCSessionDescription
from aiortc.sdp import SessionDescription, candidate_from_sdp, candidate_to_sdp

from media_core.errors import InvalidMessage, MalformedSdp

logger = logging.getLogger(__name__)

_ICE_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)

#: Larger SDP is refused before parsing (a browser offer is a few KB).
MAX_SDP_BYTES = 64 * 1024
MAX_CANDIDATE_CHARS = 1024


def description_from_sdp(sdp: object, sdp_type: str) -> RTCSessionDescription:
    """Validate ``sdp`` text and wrap it as ``sdp_type`` (``offer``/``answer``).

    Raises ``MalformedSdp`` for anything that is not parseable SDP with at least
    one media section.
    """
    if not isinstance(sdp, str) or not sdp.strip():
        raise MalformedSdp("sdp must be a non-empty string")
    if len(sdp.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        raise MalformedSdp(f"sdp larger than {MAX_SDP_BYTES} bytes")
    if not sdp.lstrip().startswith("v=0"):
        raise MalformedSdp("sdp must start with v=0")
    try:
        parsed = SessionDescription.parse(sdp)
    except (AssertionError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise MalformedSdp(f"sdp does not parse: {exc!r}") from exc
    if not parsed.media:
        raise MalformedSdp("sdp has no media section")
    return RTCSessionDescription(sdp=sdp, type=sdp_type)


def ice_ufrag(sdp: str) -> str | None:
    """The first ``a=ice-ufrag`` of ``sdp`` (bundled sections share it), or None."""
    found = _ICE_UFRAG.search(sdp)
    return found.group(1) if found else None


def description_to_dict(description: RTCSessionDescription) -> dict[str, str]:
    """``{"type": ..., "sdp": ...}`` for a local description."""
    return {"type": description.type, "sdp": description.sdp}


def candidate_from_dict(data: object) -> RTCIceCandidate | None:
    """Parse browser ``RTCIceCandidate.toJSON()``; ``None`` means end of candidates.

    An empty ``candidate`` string is also end of candidates (what browsers
    send). Raises ``MalformedSdp`` for a candidate line that does not parse and
    ``InvalidMessage`` for the wrong shape.
    """
    if data is None:
        return None
    if not isinstance(data, dict):
        raise InvalidMessage("candidate must be an object or null")
    line = data.get("candidate")
    if not isinstance(line, str):
        raise InvalidMessage("candidate.candidate must be a string")
    if not line.strip():
        return None
    if len(line) > MAX_CANDIDATE_CHARS:
        raise MalformedSdp("candidate line too long")
    mid = data.get("sdpMid")
    index = data.get("sdpMLineIndex")
    if mid is not None and not isinstance(mid, str):
        raise InvalidMessage("candidate.sdpMid must be a string")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
        raise InvalidMessage("candidate.sdpMLineIndex must be an integer")
    if mid is None and index is None:
        raise InvalidMessage("candidate needs sdpMid or sdpMLineIndex")
    text = line.split(":", 1)[1] if line.startswith("candidate:") else line
    try:
        candidate = candidate_from_sdp(text)
    except (AssertionError, ValueError, IndexError) as exc:
        raise MalformedSdp(f"candidate does not parse: {exc!r}") from exc
    candidate.sdpMid = mid
    candidate.sdpMLineIndex = index
    return candidate


def candidate_to_dict(candidate: RTCIceCandidate) -> dict[str, Any]:
    """The browser's ``RTCIceCandidateInit`` shape."""
    return {
        "candidate": "candidate:" + candidate_to_sdp(candidate),
        "sdpMid": candidate.sdpMid,
        "sdpMLineIndex": candidate.sdpMLineIndex,
    }
