"""Idempotent vitals ingest, stream state, plausibility flags and NEWS2 per case."""

from __future__ import annotations

import dataclasses
import math
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consult import events as consult_events
from consult.emergency import ingest
from consult.emergency.events import board_group, case_group
from consult.emergency.models import CaseEvent, News2Score, VitalsBatch
from consult.exceptions import NotFound, PermissionDenied
from tests.consult.emergency.conftest import CTX, NORMAL, batch_in, numerics

pytestmark = pytest.mark.django_db


def _ingest(world, case, batches):  # type: ignore[no-untyped-def]
    return ingest.vitals_ingest(
        actor=world.paramedic, case_id=case.pk, batches=batches, ctx=CTX
    )


def test_duplicate_batches_are_stored_once_and_acked_again(world) -> None:  # type: ignore[no-untyped-def]
    """Sending seq 0-2 twice stores three rows; the second ack counts 3 duplicates."""
    case = world.open_case()
    stream = uuid.uuid4()
    batches = [batch_in(stream, s) for s in range(3)]
    _ingest(world, case, batches)
    again = _ingest(world, case, batches)
    assert (VitalsBatch.objects.filter(case=case).count(), again.acks[0]) == (
        3,
        ingest.StreamAck("phone-1", str(stream), 2, [], 3),
    )


def test_ack_names_highest_contiguous_seq_and_the_gaps(world) -> None:  # type: ignore[no-untyped-def]
    """0, 1, 4, 6 stored: acked_through 1, missing [2, 3, 5]."""
    case = world.open_case()
    stream = uuid.uuid4()
    result = _ingest(world, case, [batch_in(stream, s) for s in (0, 1, 4, 6)])
    assert (result.acks[0].acked_through, result.acks[0].missing) == (1, [2, 3, 5])


def test_filling_the_gap_advances_the_ack(world) -> None:  # type: ignore[no-untyped-def]
    """Once 1 arrives after 0 and 2, acked_through jumps to 2."""
    case = world.open_case()
    stream = uuid.uuid4()
    _ingest(world, case, [batch_in(stream, 0), batch_in(stream, 2)])
    result = _ingest(world, case, [batch_in(stream, 1)])
    assert (result.acks[0].acked_through, result.acks[0].missing) == (2, [])


def test_hash_mismatch_is_refused_and_not_stored(world) -> None:  # type: ignore[no-untyped-def]
    """A batch whose sha256 does not match its payload gets hash_mismatch."""
    case = world.open_case()
    stream = uuid.uuid4()
    bad = dataclasses.replace(batch_in(stream, 0), sha256="0" * 64)
    result = _ingest(world, case, [bad])
    assert (result.errors[0]["code"], VitalsBatch.objects.count()) == (
        "hash_mismatch",
        0,
    )


def test_same_seq_with_other_content_is_a_conflict(world) -> None:  # type: ignore[no-untyped-def]
    """A replayed seq with different samples gets seq_conflict; the first stays."""
    case = world.open_case()
    stream = uuid.uuid4()
    _ingest(world, case, [batch_in(stream, 0)])
    other = batch_in(stream, 0, payload={"lead": "II", "unit": "uV", "samples": [7]})
    result = _ingest(world, case, [other])
    stored = VitalsBatch.objects.get(stream_id=stream, seq=0)
    assert (result.errors[0]["code"], len(stored.payload["samples"])) == (
        "seq_conflict",
        63,
    )


def test_a_stream_keeps_its_kind(world) -> None:  # type: ignore[no-untyped-def]
    """Numerics sent on an ECG stream get stream_kind_mismatch."""
    case = world.open_case()
    stream = uuid.uuid4()
    _ingest(world, case, [batch_in(stream, 0)])
    result = _ingest(world, case, [batch_in(stream, 1, kind="numerics")])
    assert result.errors[0]["code"] == "stream_kind_mismatch"


def test_another_services_crew_cannot_ingest(world) -> None:  # type: ignore[no-untyped-def]
    """A paramedic of another crew gets NotFound and nothing is stored."""
    case = world.open_case()
    with pytest.raises(NotFound):
        ingest.vitals_ingest(
            actor=world.other_crew_medic,
            case_id=case.pk,
            batches=[batch_in(uuid.uuid4(), 0)],
            ctx=CTX,
        )


def test_hospital_staff_cannot_ingest(world) -> None:  # type: ignore[no-untyped-def]
    """Only crews write vitals: an operator gets PermissionDenied."""
    case = world.open_case()
    with pytest.raises(PermissionDenied):
        ingest.vitals_ingest(
            actor=world.operator,
            case_id=case.pk,
            batches=[batch_in(uuid.uuid4(), 0)],
            ctx=CTX,
        )


def test_hello_state_reports_the_stored_prefix(world) -> None:  # type: ignore[no-untyped-def]
    """The reply to hello names acked_through and the missing seqs."""
    case = world.open_case()
    stream = uuid.uuid4()
    _ingest(world, case, [batch_in(stream, s) for s in (0, 1, 2, 5)])
    state = ingest.stream_state(
        actor=world.paramedic, case_id=case.pk, device_id="phone-1", stream_id=stream
    )
    assert (state.acked_through, state.missing) == (2, [3, 4])


def test_unknown_stream_state_starts_before_zero(world) -> None:  # type: ignore[no-untyped-def]
    """A stream the server has never seen is at -1."""
    case = world.open_case()
    state = ingest.stream_state(
        actor=world.paramedic,
        case_id=case.pk,
        device_id="phone-1",
        stream_id=uuid.uuid4(),
    )
    assert state.acked_through == -1


@pytest.mark.parametrize(
    ("values", "flag"),
    [
        ({"hr": 900}, "hr:implausible"),
        ({"spo2": 140}, "spo2:implausible"),
        ({"sbp": -20, "dbp": 60}, "sbp:implausible"),
        ({"hr": math.nan}, "hr:not_a_number"),
        ({"hr": "---"}, "hr:not_a_number"),
        ({"sbp": 80, "dbp": 120}, "bp:inconsistent"),
        ({"acvpu": "Z"}, "acvpu:implausible"),
    ],
)
def test_implausible_values_are_stored_flagged(world, values, flag) -> None:  # type: ignore[no-untyped-def]
    """The batch is stored as sent, with a flag naming the bad value."""
    case = world.open_case()
    _ingest(
        world,
        case,
        [batch_in(uuid.uuid4(), 0, kind="numerics", payload=numerics(**values))],
    )
    assert flag in VitalsBatch.objects.get(case=case).flags


def test_implausible_values_never_reach_news2(world) -> None:  # type: ignore[no-untyped-def]
    """After a normal set, HR 900 leaves the HR score and the total unchanged."""
    case = world.open_case()
    stream = uuid.uuid4()
    _ingest(
        world, case, [batch_in(stream, 0, kind="numerics", payload=numerics(**NORMAL))]
    )
    _ingest(
        world, case, [batch_in(stream, 1, kind="numerics", payload=numerics(hr=900))]
    )
    case.refresh_from_db()
    assert (case.news2_total, case.latest_vitals["hr"]["v"]) == (0, 80.0)


def test_a_complete_set_scores_news2(world) -> None:  # type: ignore[no-untyped-def]
    """RR 25, SpO2 91, O2, SBP 90, HR 131, V, 35.0: the maximum, 20, band high."""
    case = world.open_case()
    sick = numerics(
        rr=25,
        spo2=91,
        supplemental_o2=True,
        sbp=90,
        dbp=50,
        hr=131,
        acvpu="V",
        temp_c=35.0,
    )
    _ingest(world, case, [batch_in(uuid.uuid4(), 0, kind="numerics", payload=sick)])
    case.refresh_from_db()
    assert (case.news2_total, case.news2_band) == (20, "high")


def test_news2_is_unknown_until_every_parameter_is_known(world) -> None:  # type: ignore[no-untyped-def]
    """HR alone does not give a total."""
    case = world.open_case()
    _ingest(
        world,
        case,
        [batch_in(uuid.uuid4(), 0, kind="numerics", payload=numerics(hr=80))],
    )
    case.refresh_from_db()
    assert (case.news2_total, case.news2_band) == (None, "unknown")


def test_rising_scores_give_a_rising_trend_and_history(world) -> None:  # type: ignore[no-untyped-def]
    """0 then 7 within the window: trend rising, two scores stored."""
    case = world.open_case()
    stream = uuid.uuid4()
    _ingest(
        world, case, [batch_in(stream, 0, kind="numerics", payload=numerics(**NORMAL))]
    )
    worse = numerics(**{**NORMAL, "hr": 135, "rr": 26, "spo2": 93})
    _ingest(world, case, [batch_in(stream, 1, kind="numerics", payload=worse)])
    case.refresh_from_db()
    assert (
        case.news2_trend,
        list(News2Score.objects.filter(case=case).values_list("total", flat=True)),
    ) == ("rising", [0, 8])


def test_first_numerics_record_the_first_vitals_event(world) -> None:  # type: ignore[no-untyped-def]
    """The timeline gets one first_vitals event, however many batches follow."""
    case = world.open_case()
    stream = uuid.uuid4()
    for seq in range(3):
        _ingest(world, case, [batch_in(stream, seq, kind="numerics")])
    assert CaseEvent.objects.filter(case=case, kind="first_vitals").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_ingest_fans_out_in_one_trip_after_commit(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """8 ECG and 2 numerics batches: one trip, one feed message for the boards."""
    case = world.open_case()
    trips: list[list[tuple[str, dict]]] = []
    monkeypatch.setattr(consult_events, "_send", lambda batch: trips.append(batch))
    ecg, numbers = uuid.uuid4(), uuid.uuid4()
    _ingest(
        world,
        case,
        [batch_in(ecg, s) for s in range(8)]
        + [batch_in(numbers, s, kind="numerics") for s in range(2)],
    )
    (trip,) = trips
    feeds = [event for group, event in trip if group == board_group(world.hospital.pk)]
    (feed,) = feeds
    kinds = [(item["type"], item["stream"], item["seq"]) for item in feed["events"]]
    assert (feed["type"], sorted(kinds)) == (
        "emergency.feed",
        sorted(
            [("waveform", str(ecg), s) for s in range(8)]
            + [("vitals", str(numbers), s) for s in range(2)]
        ),
    )
    # Per stream in seq order, as boards detect gaps by seq.
    for stream in (str(ecg), str(numbers)):
        seqs = [seq for _kind, s, seq in kinds if s == stream]
        assert seqs == sorted(seqs)


@pytest.mark.django_db(transaction=True)
def test_the_crew_hears_news2_only_when_it_changes(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The same complete set three times: the crew hears the first score ("new"),
    its first trend ("stable"), then nothing until something changes."""
    case = world.open_case()
    trips: list[list[tuple[str, dict]]] = []
    monkeypatch.setattr(consult_events, "_send", lambda batch: trips.append(batch))
    numbers = uuid.uuid4()
    for seq in range(3):
        _ingest(world, case, [batch_in(numbers, seq, kind="numerics")])
    to_crew = [
        event for trip in trips for group, event in trip if group == case_group(case.pk)
    ]
    assert [
        (e["type"], e["seq"], e["news2"]["total"], e["news2"]["trend"]) for e in to_crew
    ] == [
        ("emergency.vitals", 0, 0, "new"),
        ("emergency.vitals", 1, 0, "stable"),
    ]


class _Client:
    """A device outbox: keeps every batch until acked, resends after reconnect."""

    def __init__(self, n: int) -> None:
        self.stream = uuid.uuid4()
        self.outbox = {seq: batch_in(self.stream, seq) for seq in range(n)}
        self.acked = -1

    def on_ack(self, ack: ingest.StreamAck) -> None:
        for seq in [s for s in self.outbox if s <= ack.acked_through]:
            del self.outbox[seq]
        self.acked = max(self.acked, ack.acked_through)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    n=st.integers(min_value=1, max_value=40),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    drop=st.floats(min_value=0.0, max_value=0.7),
    dup=st.floats(min_value=0.0, max_value=0.5),
    lose_ack=st.floats(min_value=0.0, max_value=0.7),
    window=st.integers(min_value=1, max_value=16),
)
def test_protocol_ends_with_exactly_every_seq(
    world, n, seed, drop, dup, lose_ack, window
) -> None:  # type: ignore[no-untyped-def]
    """Drops, duplicates, reorders, lost acks and reconnects: the server holds 0..n-1.

    Each round the device sends up to ``window`` unacked batches in a shuffled
    order; the network drops or duplicates some and may lose the ack; then the
    device reconnects, says hello and resends from the server's acked_through.
    """
    case = world.open_case()
    rng = random.Random(seed)
    device = _Client(n)
    for _round in range(400):
        if not device.outbox:
            break
        flight = sorted(device.outbox)[:window]
        rng.shuffle(flight)
        delivered = [device.outbox[s] for s in flight if rng.random() >= drop] + [
            device.outbox[s] for s in flight if rng.random() < dup
        ]
        rng.shuffle(delivered)
        if delivered:
            result = _ingest(world, case, delivered)
            if rng.random() >= lose_ack:
                device.on_ack(result.acks[0])
        if rng.random() < 0.3:  # reconnect: hello tells where the server is
            device.on_ack(
                ingest.stream_state(
                    actor=world.paramedic,
                    case_id=case.pk,
                    device_id="phone-1",
                    stream_id=device.stream,
                )
            )
    else:
        pytest.fail("the outbox never drained")
    stored = list(
        VitalsBatch.objects.filter(stream_id=device.stream)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    assert stored == list(range(n))
