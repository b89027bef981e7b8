"""SDP/ICE parsing raises the protocol's errors; the peer registry closes peers."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection

from media_core.errors import InvalidMessage, MalformedSdp
from media_core.peers import PeerRegistry
from media_core.signaling import (
    candidate_from_dict,
    candidate_to_dict,
    description_from_sdp,
)
from tests.media_core.rtc_helpers import no_stun


@pytest.mark.parametrize("sdp", [None, "", "hello", "v=0\r\ns=-\r\n", "v=0\r\nm=x\r\n"])
def test_bad_sdp_is_malformed(sdp: object) -> None:
    """Non-strings, non-SDP and SDP without media raise MalformedSdp (a ValueError)."""
    with pytest.raises(MalformedSdp) as info:
        description_from_sdp(sdp, "offer")
    assert isinstance(info.value, ValueError) and info.value.code == "malformed_sdp"


async def test_real_offer_parses() -> None:
    """An aiortc offer passes validation unchanged."""
    pc = RTCPeerConnection(no_stun())
    pc.addTransceiver("video")
    await pc.setLocalDescription(await pc.createOffer())
    description = description_from_sdp(pc.localDescription.sdp, "offer")
    assert description.sdp == pc.localDescription.sdp
    await pc.close()


def test_candidate_round_trip() -> None:
    """Browser candidate JSON parses and serialises back to the same line."""
    data = {
        "candidate": "candidate:1 1 udp 2130706431 192.0.2.9 5000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    candidate = candidate_from_dict(data)
    assert candidate is not None and candidate.port == 5000
    assert candidate_to_dict(candidate) == data


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ("x", InvalidMessage),
        ({"candidate": 3}, InvalidMessage),
        ({"candidate": "candidate:1 1 udp", "sdpMid": "0"}, MalformedSdp),
        ({"candidate": "candidate:1 1 udp 1 h 5 typ host"}, InvalidMessage),
    ],
)
def test_bad_candidates(data: object, error: type[Exception]) -> None:
    """Wrong shapes are invalid_message; unparseable lines are malformed_sdp."""
    with pytest.raises(error):
        candidate_from_dict(data)


def test_end_of_candidates() -> None:
    """null and an empty candidate string both mean end of candidates."""
    assert candidate_from_dict(None) is None
    assert candidate_from_dict({"candidate": "", "sdpMid": "0"}) is None


async def test_registry_closes_everything() -> None:
    """close_all closes every registered connection; names are unique."""
    registry = PeerRegistry()
    first = registry.create("a", no_stun())
    registry.create("b", no_stun())
    with pytest.raises(KeyError):
        registry.create("a")
    assert await registry.close("a") and first.connectionState == "closed"
    assert not await registry.close("a")
    await registry.close_all()
    assert len(registry) == 0


async def test_failed_peer_is_closed_and_reported() -> None:
    """A connection turning 'failed' is closed, forgotten and reported."""
    import asyncio

    failed: list[object] = []
    registry = PeerRegistry(on_failed=failed.append)
    pc = registry.create("a", no_stun())
    pc._RTCPeerConnection__connectionState = "failed"  # type: ignore[attr-defined]
    pc.emit("connectionstatechange")
    await asyncio.sleep(0.05)
    assert failed == ["a"] and "a" not in registry
