"""The marker-bit jitter buffer fix, resumable scan against the plain rescan.

``remove_frame_on_marker`` resumes each call where the last one stopped
instead of rescanning the head frame from its first packet. Property test:
over random frames, losses, late retransmissions, duplicates and reordering,
it emits exactly the frames the plain rescan (aiortc's approach, kept here as
the reference) emits, packet for packet; and the work per packet stays flat.
"""

from __future__ import annotations

import random

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from media_core import jitter_fixes


def _reference(self: JitterBuffer, sequence_number: int) -> JitterFrame | None:
    """The fix as first written: rescan the head frame from its first packet."""
    packets = []
    timestamp = None
    for count in range(self.capacity):
        packet = self._packets[(self._origin + count) % self._capacity]
        if packet is None:
            return None
        if timestamp is None:
            timestamp = packet.timestamp
        elif packet.timestamp != timestamp:
            self.remove(count)
            return JitterFrame(b"".join(p._data for p in packets), timestamp)
        packets.append(packet)
        if packet.marker:
            self.remove(count + 1)
            return JitterFrame(b"".join(p._data for p in packets), timestamp)
    return None


class Reference(JitterBuffer):
    _remove_frame = _reference


class Resumable(JitterBuffer):
    _remove_frame = jitter_fixes.remove_frame_on_marker


def _packet(seq: int, timestamp: int, marker: bool, index: int) -> RtpPacket:
    packet = RtpPacket(
        sequence_number=seq & 0xFFFF, timestamp=timestamp, marker=int(marker)
    )
    packet._data = index.to_bytes(4, "big")  # type: ignore[attr-defined]
    return packet


def _arrivals(seed: int, frames: int, start: int) -> list[tuple[int, int, bool]]:
    """(seq, timestamp, marker) in a lossy, reordered, duplicating arrival order."""
    rng = random.Random(seed)
    sent, seq = [], start
    for f in range(frames):
        size = rng.choice([1, 2, 5, 20, 60, 200])
        for i in range(size):
            sent.append((seq, 3000 * f, i == size - 1 and rng.random() > 0.05))
            seq += 1
    order: list[tuple[int, int, bool]] = []
    late: list[tuple[int, tuple[int, int, bool]]] = []
    for n, item in enumerate(sent):
        roll = rng.random()
        if roll < 0.03:
            late.append((n + rng.randint(1, 150), item))  # lost, retransmitted later
        elif roll < 0.05 and order:
            order.insert(max(0, len(order) - rng.randint(1, 4)), item)  # reordered
        else:
            order.append(item)
        if roll > 0.98:
            order.append(item)  # duplicated
        for due in [x for x in late if x[0] <= n]:
            order.append(due[1])
            late.remove(due)
    order += [item for _, item in late]
    return order


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    frames=st.integers(1, 60),
    start=st.sampled_from([0, 1000, 65500]),
    capacity=st.sampled_from([128, 512, 4096]),
)
def test_resumable_scan_emits_what_the_rescan_emits(
    seed: int, frames: int, start: int, capacity: int
) -> None:
    reference = Reference(capacity=capacity, is_video=True)
    resumable = Resumable(capacity=capacity, is_video=True)
    for index, (seq, timestamp, marker) in enumerate(_arrivals(seed, frames, start)):
        want = reference.add(_packet(seq, timestamp, marker, index))
        got = resumable.add(_packet(seq, timestamp, marker, index))
        assert got[0] == want[0]
        assert (got[1] is None) == (want[1] is None), f"packet {index}"
        if want[1] is not None:
            assert (got[1].data, got[1].timestamp) == (want[1].data, want[1].timestamp)
        assert resumable._origin == reference._origin


def test_a_large_keyframe_costs_linear_work() -> None:
    """800 packets of one 4K keyframe, its marker last: each packet looks at
    one slot (plus the head), not all the packets before it."""
    looked = 0

    class Counting(list):
        def __getitem__(self, index):  # noqa: ANN001, ANN204
            nonlocal looked
            looked += 1
            return super().__getitem__(index)

    buffer = Resumable(capacity=4096, is_video=True)
    buffer._packets = Counting(buffer._packets)
    frame = None
    for i in range(800):
        _, frame = buffer.add(_packet(5000 + i, 90_000, i == 799, i))
    assert frame is not None and len(frame.data) == 800 * 4
    assert looked < 800 * 5  # the plain rescan looks 320,000 times
