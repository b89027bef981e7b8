"""The media worker with real aiortc peers in one loop, through QueueTransport."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from aiortc import RTCSessionDescription

from tests.media_core.rtc_helpers import (
    GROUP,
    ROOM,
    Client,
    running_worker,
    stamped_track,
)

pytestmark = pytest.mark.timeout(60)


async def _publish(client: Client, transport: object, mime: str | None = None) -> str:
    await client.publish(stamped_track(), mime)
    event = await client.transport.expect_group(GROUP, "media.tracks")
    tracks = event["tracks"]
    assert isinstance(tracks, list) and tracks
    return str(tracks[-1]["track"])


async def test_subscriber_decodes_advancing_stamped_frames() -> None:
    """A subscriber decodes the relayed frames: pts advance and stamps read back."""
    async with running_worker() as (worker, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        track_id = await _publish(alice, transport)
        offer = await bob.subscribe([track_id])
        assert list(offer["tracks"].values()) == [track_id]  # type: ignore[union-attr]
        await asyncio.sleep(0.1)
        assert bob.receivers
        await bob.receivers[0].wait_frames(20)
        frames = bob.receivers[0].frames
        pts = [p for p, _, _ in frames]
        assert pts == sorted(pts) and pts[-1] > pts[0]
        latencies = [arrival - s for _, s, arrival in frames if s is not None]
        assert len(latencies) >= 15
        assert 0 <= sorted(latencies)[len(latencies) // 2] < 1000
        assert worker.load()["subscribers"] == 1
        await alice.close()
        await bob.close()


async def test_h264_publisher_is_relayed_as_h264() -> None:
    """An H.264 publisher's subscriber is offered and decodes H.264 (codec matched)."""
    async with running_worker() as (_, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        track_id = await _publish(alice, transport, "video/H264")
        offer = await bob.subscribe([track_id])
        video = str(offer["sdp"]).split("m=video", 1)[1]
        assert "H264/90000" in video and "VP8/90000" not in video
        await asyncio.sleep(0.1)
        await bob.receivers[0].wait_frames(10)
        await alice.close()
        await bob.close()


async def test_late_joiner_first_frame_decodes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A subscriber joining 2 s late gets a keyframe at once and no decode errors."""
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    async with running_worker() as (_, transport):
        alice, late = Client(transport, "alice"), Client(transport, "late")
        track_id = await _publish(alice, transport)
        await asyncio.sleep(2.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await late.subscribe([track_id])
        await asyncio.sleep(0.05)
        await late.receivers[0].wait_frames(5, within=5)
        first = late.receivers[0].first_frame_at
        assert first is not None and first - started < 1.5
        assert "failed to decode" not in caplog.text
        await alice.close()
        await late.close()


async def test_subscriber_pli_reaches_publisher_once_per_window() -> None:
    """A burst of subscriber PLIs reaches the publisher at most once per 0.5 s."""
    async with running_worker() as (_, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        track_id = await _publish(alice, transport)
        assert alice.pub is not None
        sender = alice.pub.getSenders()[0]
        requests: list[float] = []
        loop = asyncio.get_running_loop()
        original = sender._send_keyframe

        def counting() -> None:
            requests.append(loop.time())
            original()

        sender._send_keyframe = counting  # type: ignore[method-assign]
        await bob.subscribe([track_id])
        await asyncio.sleep(0.05)
        await bob.receivers[0].wait_frames(5)
        await asyncio.sleep(0.6)
        requests.clear()
        assert bob.sub is not None
        receiver = bob.sub.getReceivers()[0]
        ssrc = receiver.getSynchronizationSources()[0].source
        started = loop.time()
        for _ in range(20):
            await receiver._send_rtcp_pli(ssrc)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.8)
        assert requests
        gaps = [b - a for a, b in zip(requests, requests[1:], strict=False)]
        assert all(gap >= 0.45 for gap in gaps), gaps
        assert len(requests) <= 1 + (loop.time() - started) / 0.5
        await alice.close()
        await bob.close()


async def test_unsubscribe_renegotiates_and_stops_the_relay_track() -> None:
    """Unsubscribing sends a new offer and the relay drops the subscriber."""
    async with running_worker() as (worker, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        track_id = await _publish(alice, transport)
        await bob.subscribe([track_id])
        bob.send("media.unsubscribe", tracks=[track_id])
        offer = await bob.expect("media.offer")
        assert "a=inactive" in str(offer["sdp"])
        assert worker.load()["subscribers"] == 0
        await alice.close()
        await bob.close()


async def test_leave_unpublishes_and_announces() -> None:
    """After leave the room's track list is empty and the peers are closed."""
    async with running_worker() as (worker, transport):
        alice = Client(transport, "alice")
        await _publish(alice, transport)
        alice.send("media.leave")
        event = await transport.expect_group(GROUP, "media.tracks")
        assert event["tracks"] == []
        assert worker.load()["peers"] == 0
        await alice.close()


async def test_stats_reply_has_relay_counters() -> None:
    """media.stats lists each track's relay counters and the peers' RTCP figures."""
    async with running_worker() as (_, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        track_id = await _publish(alice, transport)
        await bob.subscribe([track_id])
        await asyncio.sleep(0.05)
        await bob.receivers[0].wait_frames(10)
        bob.send("media.stats")
        stats = await bob.expect("media.stats")
        entry = stats["tracks"][track_id]  # type: ignore[index]
        assert entry["packets_in"] > 0
        assert entry["subscribers"][0]["forwarded"] > 0
        assert isinstance(stats["peers"]["sub"], dict)  # type: ignore[index]
        await alice.close()
        await bob.close()


async def test_worker_applies_and_reverts_fixes() -> None:
    """Fixes are in force while the worker runs and reverted by close()."""
    from media_core.aiortc_fixes import MediaFixes

    fixes = MediaFixes()
    async with running_worker(fixes=fixes) as (_, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        track_id = await _publish(alice, transport)
        assert fixes.applied
        await bob.subscribe([track_id])
        await asyncio.sleep(0.05)
        await bob.receivers[0].wait_frames(10)
        await alice.close()
        await bob.close()
    assert not fixes.applied


async def test_opus_audio_is_relayed() -> None:
    """A published Opus track reaches a subscriber as decodable audio."""
    from aiortc.mediastreams import AudioStreamTrack

    async with running_worker() as (_, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        await alice.publish(AudioStreamTrack())
        event = await transport.expect_group(GROUP, "media.tracks")
        (entry,) = event["tracks"]  # type: ignore[misc]
        assert entry["kind"] == "audio" and entry["codec"] == "opus"
        await bob.subscribe([entry["track"]])
        await asyncio.sleep(0.05)
        await bob.receivers[0].wait_frames(25)
        await alice.close()
        await bob.close()


async def test_republishing_mints_a_fresh_track_id_that_can_be_subscribed() -> None:
    """A participant who leaves and publishes again gets a new track id; a
    subscriber still holding the old id subscribes to the new one and decodes
    the new stream (a reused id would be skipped as already subscribed)."""
    async with running_worker() as (_, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        first = await _publish(alice, transport)
        await bob.subscribe([first])
        await asyncio.sleep(0.05)
        await bob.receivers[0].wait_frames(5)
        alice.send("media.leave")
        assert (await transport.expect_group(GROUP, "media.tracks"))["tracks"] == []
        await alice.close()
        again = Client(transport, "alice")
        second = await _publish(again, transport)
        assert second != first
        assert second.startswith("alice:0:") and first.startswith("alice:0:")
        offer = await bob.subscribe([second])
        assert second in offer["tracks"].values()  # type: ignore[union-attr]
        await asyncio.sleep(0.1)
        assert len(bob.receivers) == 2
        await bob.receivers[1].wait_frames(10)
        await again.close()
        await bob.close()


async def test_renegotiation_keeps_published_ids_and_reports_mids() -> None:
    """Re-offering on the same publish connection (a second camera) keeps the
    first track's id; the new track gets its own; entries carry the mid."""
    async with running_worker() as (_, transport):
        alice = Client(transport, "alice")
        first = await _publish(alice, transport)
        assert alice.pub is not None
        alice.pub.addTrack(stamped_track())
        await alice.pub.setLocalDescription(await alice.pub.createOffer())
        alice.send("media.offer", pc="pub", sdp=alice.pub.localDescription.sdp)
        answer = await alice.expect("media.answer")
        await alice.pub.setRemoteDescription(
            RTCSessionDescription(str(answer["sdp"]), "answer")
        )
        event = await transport.expect_group(GROUP, "media.tracks")
        entries = {e["track"]: e for e in event["tracks"]}  # type: ignore[union-attr]
        assert len(entries) == 2 and first in entries
        assert entries[first]["mid"] == "0"
        (second,) = set(entries) - {first}
        assert re.fullmatch(r"alice:1:[0-9a-f]{8}", second)
        assert entries[second]["mid"] == "1"
        await alice.close()


async def test_a_restarted_worker_never_repeats_a_track_id() -> None:
    """Ids survive no worker: the next worker (after media.worker_lost, say)
    mints a different id for the same participant and mid."""
    ids = []
    for _ in range(2):
        async with running_worker() as (_, transport):
            alice = Client(transport, "alice")
            ids.append(await _publish(alice, transport))
            await alice.close()
    assert ids[0] != ids[1]


async def test_a_reconnected_socket_takes_over_before_the_old_leave_arrives() -> None:
    """A browser whose socket dropped republishes on a new socket before the old
    socket's ``media.leave`` reaches the worker: the new socket's offer replaces
    the dead peers (their track leaves the list), the late leave changes nothing,
    and a subscriber decodes the new stream throughout."""
    async with running_worker() as (worker, transport):
        old = Client(transport, "alice", channel="chan.alice.1")
        bob = Client(transport, "bob")
        first = await _publish(old, transport)
        await bob.subscribe([first])
        await bob.receivers[0].wait_frames(5)
        await old.close()  # the browser closes its peers when the socket drops

        new = Client(transport, "alice", channel="chan.alice.2")
        await new.publish(stamped_track())
        listed = []
        while not any(t["track"] != first for t in listed):
            listed = (await transport.expect_group(GROUP, "media.tracks"))["tracks"]
        assert [t["track"] for t in listed if t["participant"] == "alice"] != [first]
        assert first not in {t["track"] for t in listed}
        second = next(t["track"] for t in listed if t["participant"] == "alice")

        old.send("media.leave")  # late: the old socket's disconnect
        old.send("media.ice", pc="pub", candidate=None)
        refused = await old.expect("media.error")
        assert refused["code"] == "stale_session" and refused["for"] == "media.ice"
        new.send("media.stats")
        assert set((await new.expect("media.stats"))["tracks"]) == {second}
        assert worker.load()["peers"] == 2  # alice's new pub, bob's sub

        await bob.subscribe([second])
        await asyncio.sleep(0.1)
        await bob.receivers[-1].wait_frames(10)
        await new.close()
        await bob.close()


async def test_a_leave_from_the_owning_socket_still_removes_everything() -> None:
    """The ownership rule does not keep a participant whose own socket leaves."""
    async with running_worker() as (worker, transport):
        old = Client(transport, "alice", channel="chan.alice.1")
        await _publish(old, transport)
        await old.close()
        new = Client(transport, "alice", channel="chan.alice.2")
        await new.publish(stamped_track())
        while not (await transport.expect_group(GROUP, "media.tracks"))["tracks"]:
            pass  # the takeover's list (empty) comes before the new publish's
        assert worker.load()["tracks"] == 1
        new.send("media.leave")
        while (await transport.expect_group(GROUP, "media.tracks"))["tracks"]:
            pass
        assert worker.load()["peers"] == 0
        await new.close()


async def test_a_late_failure_of_a_replaced_connection_leaves_the_new_one() -> None:
    """A publish connection fails and the same socket republishes; the failure's
    notice, queued behind the new offer, must not drop the new connection."""
    async with running_worker() as (worker, transport):
        alice = Client(transport, "alice")
        first = await _publish(alice, transport)
        await alice.close()
        again = Client(transport, "alice")  # same socket, new connection
        await again.publish(stamped_track())
        listed: list[dict[str, object]] = []
        while not any(t["track"] != first for t in listed):
            listed = (await transport.expect_group(GROUP, "media.tracks"))["tracks"]
        await worker._on_peer_failed((ROOM, "alice", "pub"))  # the old one's, late
        await asyncio.sleep(0.2)
        assert worker.load()["tracks"] == 1 and worker.load()["peers"] == 1
        bob = Client(transport, "bob")
        await bob.subscribe([str(listed[-1]["track"])])
        await asyncio.sleep(0.1)
        await bob.receivers[0].wait_frames(5)
        await again.close()
        await bob.close()


async def test_a_socket_older_than_the_owner_never_takes_the_media_back() -> None:
    """An offer still in flight from a superseded window (an older ``opened``)
    is refused with ``stale_session`` and leaves the newer socket's publish."""
    async with running_worker() as (worker, transport):
        # Opened at 2 and 1 (ns since the epoch, in real life).
        new = Client(transport, "alice", channel="chan.alice.new", opened=2)
        old = Client(transport, "alice", channel="chan.alice.old", opened=1)
        await new.publish(stamped_track())
        old.send("media.subscribe", tracks=["nope"])
        assert (await old.expect("media.error"))["code"] == "unknown_track"
        track = (await transport.expect_group(GROUP, "media.tracks"))["tracks"][0]
        old.send("media.subscribe", tracks=[track["track"]])
        refused = await old.expect("media.error")
        assert refused["code"] == "stale_session"
        assert worker.load()["tracks"] == 1 and worker.load()["peers"] == 1
        old.send("media.subscribe", tracks=[track["track"]], opened="soon")
        assert (await old.expect("media.error"))["code"] == "invalid_message"
        await new.close()


async def test_a_fresh_subscribe_connection_says_so() -> None:
    """The first offer of a ``sub`` connection is ``fresh`` (the browser answers
    on a new connection); a renegotiation of it is not."""
    async with running_worker() as (_, transport):
        alice, bob = Client(transport, "alice"), Client(transport, "bob")
        first = await _publish(alice, transport)
        offer = await bob.subscribe([first])
        assert offer["fresh"] is True
        bob.send("media.unsubscribe", tracks=[first])
        assert (await bob.expect("media.offer"))["fresh"] is False
        await alice.close()
        await bob.close()
