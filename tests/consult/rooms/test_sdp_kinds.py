"""Which media kinds a publish offer sends (the watcher's audio-only rule)."""

from __future__ import annotations

from consult.rooms.schemas import sdp_sending_kinds

HEAD = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def _offer(*sections: str) -> str:
    return HEAD + "".join(sections)


def test_sendonly_sections_send() -> None:
    """Audio and video sections marked sendonly both count."""
    sdp = _offer(
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n",
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n",
    )
    assert sdp_sending_kinds(sdp) == {"audio", "video"}


def test_a_section_without_direction_sends() -> None:
    """No direction attribute means sendrecv."""
    assert sdp_sending_kinds(_offer("m=video 9 UDP/TLS/RTP/SAVPF 96\r\n")) == {"video"}


def test_receive_only_inactive_and_rejected_sections_do_not() -> None:
    """recvonly, inactive and port-0 sections send nothing; data is not media."""
    sdp = _offer(
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n",
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=inactive\r\n",
        "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
    )
    assert sdp_sending_kinds(sdp) == set()


def test_a_bundle_only_section_sends() -> None:
    """Port 0 with bundle-only is a live section sharing the bundle's transport."""
    sdp = _offer("m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=bundle-only\r\na=sendonly\r\n")
    assert sdp_sending_kinds(sdp) == {"video"}
