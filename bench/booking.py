"""Concurrent booking against PostgreSQL: one winner per slot, and throughput.

1. 200 threads book the same slot at once: exactly one must succeed, the
   rest must get ``slot_unavailable`` (409); compared with the same race with
   the database constraint dropped, to show what the constraint prevents.
2. Bookings per second for distinct slots with 8 concurrent coordinators.
Prints a table, then ``bench: ...``. Needs PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

from _django import bench_database

ATTEMPTS = 200
WORKERS = 8
DISTINCT = 400


def main() -> None:
    url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/telemed_bench"
    )
    with bench_database(url) as vendor:
        if vendor != "postgresql":
            raise SystemExit(
                "bench/booking.py needs PostgreSQL: set DATABASE_URL=postgres://..."
            )
        from django.db import connection, connections

        from consult.accounts.models import Department, Organisation, Role, User
        from consult.records import phi as phi_codec
        from consult.records.context import AccessContext
        from consult.records.models import CareRelationship, Patient
        from consult.records.phi import PatientPHI
        from consult.scheduling import services
        from consult.scheduling.errors import SlotUnavailable
        from consult.scheduling.models import AvailabilityRule, ConsultationType

        ctx = AccessContext(channel="bench")
        hospital = Organisation.objects.create(name="Bench Hospital", kind="hospital")
        cardiology = Department.objects.create(
            organisation=hospital, name="Cardiology", specialty="cardiology"
        )
        coordinators = [
            User.objects.create(
                username=f"coord{i}",
                role=Role.NURSE,
                organisation=hospital,
                department=cardiology,
            )
            for i in range(WORKERS)
        ]
        specialists = [
            User.objects.create(
                username=f"spec{i}",
                role=Role.SPECIALIST,
                organisation=hospital,
                department=cardiology,
            )
            for i in range(4)
        ]
        for person in specialists:
            for weekday in range(7):
                AvailabilityRule.objects.create(
                    practitioner=person,
                    weekday=weekday,
                    start_time=dtime(0),
                    end_time=dtime(23, 45),
                    time_zone="UTC",
                    valid_from=date(2020, 1, 1),
                )
        kind = ConsultationType.objects.create(
            organisation=hospital,
            code="v15",
            name="Video",
            duration_minutes=15,
            modality="video",
        )
        patients = []
        for n in range(20):
            patient = Patient(organisation=hospital)
            phi_codec.seal(
                patient,
                PatientPHI("Bench", f"P{n}", date(1970, 1, 1), "female", f"B-{n:04d}"),
            )
            patient.save(force_insert=True)
            CareRelationship.objects.create(
                patient=patient, kind="department", department=cardiology
            )
            patients.append(patient)
        base = datetime.combine(
            datetime.now(UTC).date() + timedelta(days=2), dtime(0), tzinfo=UTC
        )

        def race(start: datetime, practitioner: User) -> Counter:
            outcomes: Counter = Counter()
            barrier = threading.Barrier(ATTEMPTS)

            def attempt(n: int) -> None:
                try:
                    barrier.wait()
                    services.appointment_book(
                        actor=coordinators[n % WORKERS],
                        patient_id=patients[n % 20].pk,
                        consultation_type=kind,
                        practitioner_ids=[practitioner.pk],
                        starts_at=start,
                        time_zone="UTC",
                        reason="",
                        ctx=ctx,
                    )
                    outcomes["booked"] += 1
                except SlotUnavailable:
                    outcomes["slot_unavailable"] += 1
                except Exception as exc:  # noqa: BLE001  (counted and shown)
                    outcomes[type(exc).__name__] += 1
                finally:
                    connections.close_all()

            threads = [
                threading.Thread(target=attempt, args=(n,)) for n in range(ATTEMPTS)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return outcomes

        with_constraint = race(base + timedelta(hours=1), specialists[0])
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE scheduling_appointmentparticipant"
                " DROP CONSTRAINT participant_no_overlap"
            )
        without_constraint = race(base + timedelta(hours=1), specialists[1])

        # Throughput: distinct slots, WORKERS coordinators in parallel.
        # 80 slots a day fit inside the 00:00-23:45 diaries.
        starts = [
            base + timedelta(days=1 + i // 80, minutes=15 * (i % 80))
            for i in range(DISTINCT)
        ]
        lock = threading.Lock()
        booked = Counter()

        def worker(w: int) -> None:
            try:
                for i in range(w, DISTINCT, WORKERS):
                    services.appointment_book(
                        actor=coordinators[w],
                        patient_id=patients[i % 20].pk,
                        consultation_type=kind,
                        practitioner_ids=[specialists[2 + i % 2].pk],
                        starts_at=starts[i],
                        time_zone="UTC",
                        reason="",
                        ctx=ctx,
                    )
                    with lock:
                        booked["ok"] += 1
            finally:
                connections.close_all()

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        rate = booked["ok"] / elapsed

        print(
            f"{ATTEMPTS} simultaneous attempts on one slot"
            " (PostgreSQL, threads, one connection each)"
        )
        print(f"{'variant':<34} {'booked':>7} {'409':>6} {'other':>6}")
        for name, result in [
            ("ours (exclusion constraint)", with_constraint),
            ("constraint dropped (check only)", without_constraint),
        ]:
            other = {
                k: v
                for k, v in result.items()
                if k not in ("booked", "slot_unavailable")
            }
            print(
                f"{name:<34} {result['booked']:>7} {result['slot_unavailable']:>6}"
                f" {sum(other.values()):>6} {other or ''}"
            )
        print(
            f"distinct slots: {booked['ok']} bookings in {elapsed:.2f} s"
            f" with {WORKERS} coordinators = {rate:.1f}/s"
        )
        print(
            f"bench: race_winners={with_constraint['booked']}"
            f" race_409={with_constraint['slot_unavailable']}"
            f" race_winners_without_constraint={without_constraint['booked']}"
            f" bookings_per_s={rate:.1f}"
        )


if __name__ == "__main__":
    main()
