"""Group commit: many submissions in one transaction, each answered as if alone."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection

from consult.emergency import ingest, ingest_queue
from consult.emergency.group_commit import Submission, ingest_many
from consult.emergency.ingest_queue import IngestQueue
from consult.emergency.models import CaseEvent, EmergencyCase, VitalsBatch
from consult.exceptions import NotFound, PermissionDenied
from tests.consult.emergency.conftest import CTX, batch_in
from tests.factories import CrewFactory, ParamedicFactory

pytestmark = pytest.mark.django_db


def _sub(actor, case, batches) -> Submission:  # type: ignore[no-untyped-def]
    return Submission(actor, case.pk, batches, CTX)


def test_each_submission_is_answered_as_if_alone(world) -> None:  # type: ignore[no-untyped-def]
    """Three crews' batches, an outsider and a hospital operator in one flush."""
    crews = [CrewFactory() for _ in range(3)]
    medics = [ParamedicFactory(crew=c) for c in crews]
    cases = [world.open_case(paramedic=m) for m in medics]
    streams = [uuid.uuid4() for _ in cases]
    outcomes = ingest_many(
        [
            _sub(medics[0], cases[0], [batch_in(streams[0], s) for s in range(3)]),
            _sub(world.other_crew_medic, cases[1], [batch_in(uuid.uuid4(), 0)]),
            _sub(medics[1], cases[1], [batch_in(streams[1], s) for s in (0, 2)]),
            _sub(world.operator, cases[2], [batch_in(uuid.uuid4(), 0)]),
            _sub(
                medics[2],
                cases[2],
                [batch_in(streams[2], 0, kind="numerics")],
            ),
        ]
    )
    acks = [
        (o.acks[0].acked_through, o.acks[0].missing)
        for o in outcomes
        if isinstance(o, ingest.IngestResult)
    ]
    assert [type(o).__name__ for o in outcomes] == [
        "IngestResult",
        "NotFound",
        "IngestResult",
        "PermissionDenied",
        "IngestResult",
    ]
    assert acks == [(2, []), (0, [1]), (0, [])]
    assert VitalsBatch.objects.count() == 6
    # Only the case with numerics was scored and got its first-vitals event.
    scored = EmergencyCase.objects.get(pk=cases[2].pk)
    assert (scored.news2_total, scored.first_vitals_at is not None) == (0, True)
    assert list(
        CaseEvent.objects.filter(kind="first_vitals").values_list("case_id", flat=True)
    ) == [cases[2].pk]


def test_one_stream_twice_in_a_flush_counts_duplicates_and_fills_gaps(world) -> None:  # type: ignore[no-untyped-def]
    """Two sockets of one device (a reconnect) land in one flush."""
    case = world.open_case()
    stream = uuid.uuid4()
    first, second, third = ingest_many(
        [
            _sub(world.paramedic, case, [batch_in(stream, s) for s in (0, 1, 3)]),
            _sub(world.paramedic, case, [batch_in(stream, s) for s in (1, 2)]),
            _sub(world.partner, case, [batch_in(stream, 3)]),
        ]
    )
    assert (first.acks[0].acked_through, first.acks[0].missing) == (1, [2])
    assert (second.acks[0].acked_through, second.acks[0].duplicates) == (3, 1)
    assert (third.acks[0].acked_through, third.acks[0].duplicates) == (3, 1)
    assert sorted(
        VitalsBatch.objects.filter(stream_id=stream).values_list("seq", flat=True)
    ) == [0, 1, 2, 3]


def test_a_conflict_in_one_flush_keeps_the_first_content(world) -> None:  # type: ignore[no-untyped-def]
    """The same seq with other content later in the flush: seq_conflict."""
    case = world.open_case()
    stream = uuid.uuid4()
    other = batch_in(stream, 0, payload={"lead": "II", "unit": "uV", "samples": [9]})
    first, second = ingest_many(
        [
            _sub(world.paramedic, case, [batch_in(stream, 0)]),
            _sub(world.paramedic, case, [other]),
        ]
    )
    assert (first.errors, second.errors[0]["code"]) == ([], "seq_conflict")
    stored = VitalsBatch.objects.get(stream_id=stream, seq=0)
    assert stored.sha256 == batch_in(stream, 0).sha256


@pytest.mark.django_db(transaction=True)
async def test_the_queue_groups_concurrent_sockets_into_few_flushes(world) -> None:  # type: ignore[no-untyped-def]
    """Forty sockets submitting at once: every batch stored once, far fewer flushes."""
    crews = await sync_to_async(lambda: [CrewFactory() for _ in range(40)])()
    medics = await sync_to_async(lambda: [ParamedicFactory(crew=c) for c in crews])()
    cases = await sync_to_async(
        lambda: [world.open_case(paramedic=m) for m in medics]
    )()
    queue = IngestQueue(writers=2)
    streams = [uuid.uuid4() for _ in cases]

    async def socket(i: int) -> list[int]:
        through = []
        for seq in range(5):
            result = await queue.submit(
                _sub(medics[i], cases[i], [batch_in(streams[i], seq)])
            )
            through.append(result.acks[0].acked_through)
        return through

    results = await asyncio.gather(*(socket(i) for i in range(40)))
    stored = await sync_to_async(VitalsBatch.objects.count)()
    assert (results, stored) == ([[0, 1, 2, 3, 4]] * 40, 200)
    assert queue.submissions == 200
    assert queue.flushes < 100, queue.flushes


@pytest.mark.django_db(transaction=True)
async def test_a_failed_flush_fails_its_waiters_and_the_next_one_works(
    world, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A database error: every waiter of that flush gets it, nothing is stored."""
    case = await sync_to_async(world.open_case)()
    real = ingest.advance
    broken = [True]

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if broken[0]:
            raise DatabaseError("simulated")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "advance", flaky)
    queue = IngestQueue()
    stream = uuid.uuid4()
    outcomes = await asyncio.gather(
        *(
            queue.submit(_sub(world.paramedic, case, [batch_in(stream, s)]))
            for s in range(3)
        ),
        return_exceptions=True,
    )
    assert [type(o).__name__ for o in outcomes] == ["DatabaseError"] * 3
    assert await sync_to_async(VitalsBatch.objects.count)() == 0
    broken[0] = False
    result = await queue.submit(
        _sub(world.paramedic, case, [batch_in(stream, s) for s in range(3)])
    )
    assert result.acks[0].acked_through == 2


@pytest.mark.django_db(transaction=True)
async def test_an_outsider_in_the_queue_is_refused_alone(world) -> None:  # type: ignore[no-untyped-def]
    case = await sync_to_async(world.open_case)()
    queue = IngestQueue()
    mine, theirs = await asyncio.gather(
        queue.submit(_sub(world.paramedic, case, [batch_in(uuid.uuid4(), 0)])),
        queue.submit(_sub(world.other_crew_medic, case, [batch_in(uuid.uuid4(), 0)])),
        return_exceptions=True,
    )
    assert (mine.acks[0].acked_through, type(theirs)) == (0, NotFound)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_flushes_over_the_same_streams_never_deadlock(world) -> None:  # type: ignore[no-untyped-def]
    """Two processes' flushes name the same streams in opposite orders.

    Streams are locked in primary-key order, so neither waits for the other
    in a cycle (PostgreSQL would abort one with a deadlock error).
    """
    cases = [world.open_case() for _ in range(6)]
    streams = [uuid.uuid4() for _ in cases]
    for case, stream in zip(cases, streams, strict=True):
        ingest_many([_sub(world.paramedic, case, [batch_in(stream, 0)])])
    errors: list[BaseException] = []

    def flusher(order: list[int], offset: int) -> None:
        try:
            for round_ in range(15):
                seq = 1 + 2 * round_ + offset
                ingest_many(
                    [
                        _sub(world.paramedic, cases[i], [batch_in(streams[i], seq)])
                        for i in order
                    ]
                )
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=flusher, args=(list(range(6)), 0)),
        threading.Thread(target=flusher, args=(list(range(5, -1, -1)), 1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for stream in streams:
        seqs = sorted(
            VitalsBatch.objects.filter(stream_id=stream).values_list("seq", flat=True)
        )
        assert seqs == list(range(31))


def test_queue_for_loop_is_one_per_event_loop() -> None:
    async def get() -> IngestQueue:
        return ingest_queue.queue_for_loop()

    async def twice() -> tuple[IngestQueue, IngestQueue]:
        return await get(), await get()

    a, b = asyncio.run(twice())
    c = asyncio.run(get())
    assert a is b and a is not c


def test_permission_error_type_is_kept(world) -> None:  # type: ignore[no-untyped-def]
    """``vitals_ingest`` still raises what a lone submission gets."""
    case = world.open_case()
    with pytest.raises(PermissionDenied):
        ingest.vitals_ingest(actor=world.operator, case_id=case.pk, batches=[], ctx=CTX)
