"""Bad input gets ``media.error`` with the protocol's code; the worker stays up."""

from __future__ import annotations

import asyncio

import pytest

from tests.media_core.rtc_helpers import GROUP, Client, running_worker, stamped_track

pytestmark = pytest.mark.timeout(60)


async def _error(client: Client) -> dict[str, object]:
    return await client.expect("media.error")


async def test_malformed_sdp_gets_error_and_worker_still_publishes() -> None:
    """Garbage SDP answers malformed_sdp; a good offer afterwards still works."""
    async with running_worker() as (worker, transport):
        alice = Client(transport, "alice")
        for sdp in ("not sdp", "v=0\r\nm=video x\r\n", "", 42):
            alice.send("media.offer", pc="pub", sdp=sdp)
            error = await _error(alice)
            assert error["code"] == "malformed_sdp"
            assert error["for"] == "media.offer"
        assert worker.load()["peers"] == 0
        await alice.publish(stamped_track())
        event = await transport.expect_group(GROUP, "media.tracks")
        assert len(event["tracks"]) == 1  # type: ignore[arg-type]
        await alice.close()


async def test_ice_for_unknown_peer() -> None:
    """ICE for a participant without that connection answers unknown_peer."""
    async with running_worker() as (_, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        await alice.publish(stamped_track())
        candidate = {
            "candidate": "candidate:1 1 udp 2130706431 192.0.2.9 5000 typ host",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        }
        bob.send("media.ice", pc="pub", candidate=candidate)
        assert (await _error(bob))["code"] == "unknown_peer"
        alice.send("media.ice", pc="sub", candidate=candidate)
        assert (await _error(alice))["code"] == "unknown_peer"
        alice.send(
            "media.ice", pc="pub", candidate={"candidate": "bogus", "sdpMid": "0"}
        )
        assert (await _error(alice))["code"] == "malformed_sdp"
        alice.send("media.ice", pc="pub", candidate=candidate)
        alice.send("media.ice", pc="pub", candidate=None)
        await asyncio.sleep(0.1)
        assert transport.channels[alice.channel].empty()
        await alice.close()


async def test_subscribe_to_missing_track_and_room() -> None:
    """A missing track answers unknown_track; a room not hosted, unknown_room."""
    async with running_worker() as (_, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        bob.send("media.subscribe", tracks=["ghost:0"])
        assert (await _error(bob))["code"] == "unknown_room"
        await alice.publish(stamped_track())
        bob.send("media.subscribe", tracks=["ghost:0"])
        assert (await _error(bob))["code"] == "unknown_track"
        bob.send("media.subscribe", tracks="ghost:0")
        assert (await _error(bob))["code"] == "invalid_message"
        await alice.close()


async def test_keyframe_flood_is_rate_limited() -> None:
    """Of 50 keyframe requests in a burst, the first passes and the rest are limited."""
    async with running_worker() as (worker, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        await alice.publish(stamped_track())
        event = await transport.expect_group(GROUP, "media.tracks")
        track_id = event["tracks"][0]["track"]  # type: ignore[index]
        await asyncio.sleep(0.6)
        for _ in range(50):
            bob.send("media.keyframe", track=track_id)
        errors = [await _error(bob) for _ in range(49)]
        assert {e["code"] for e in errors} == {"rate_limited"}
        bob.send("media.keyframe", track="nope")
        assert (await _error(bob))["code"] == "unknown_track"
        assert worker.load()["tracks"] == 1
        await alice.close()


async def test_envelope_errors() -> None:
    """Unknown types and missing ids answer invalid_message; no reply_to is dropped."""
    async with running_worker() as (worker, transport):
        transport.put({"type": "media.offer", "room": "r"})  # no reply_to: dropped
        transport.put(["not", "a", "dict"])  # type: ignore[arg-type]
        transport.put({"type": "media.nope", "reply_to": "c"})
        assert (await transport.expect("c", "media.error"))["code"] == "invalid_message"
        transport.put({"type": "media.stats", "reply_to": "c", "room": 3})
        assert (await transport.expect("c", "media.error"))["code"] == "invalid_message"
        assert worker.load()["rooms"] == 0
