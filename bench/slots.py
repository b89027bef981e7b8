"""MDT slot search: 8 specialists over 90 days with realistic diaries and bookings.

Compares the search (seat-union intersection, then per-start checks) with a
straightforward baseline that tests every 15-minute start of the range, in the
same run. Prints a table, then ``bench: ...``.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from _django import bench_database

RUNS = 40


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    with bench_database("sqlite://:memory:") as vendor:
        from consult.accounts.models import Department, Organisation, Role, User
        from consult.records.models import Patient
        from consult.scheduling import selectors
        from consult.scheduling.availability import contains
        from consult.scheduling.models import (
            Appointment,
            AppointmentParticipant,
            AvailabilityException,
            AvailabilityRule,
            ConsultationType,
        )

        rng = random.Random(7)
        hospital = Organisation.objects.create(name="Bench Hospital", kind="hospital")
        departments = [
            Department.objects.create(organisation=hospital, name=n, specialty=s)
            for n, s in [
                ("Cardiology", "cardiology"),
                ("Radiology", "radiology"),
                ("Surgery", "surgery"),
                ("Oncology", "oncology"),
            ]
        ]
        coordinator = User.objects.create(
            username="coord",
            role=Role.NURSE,
            organisation=hospital,
            department=departments[0],
        )
        specialists = [
            User.objects.create(
                username=f"s{i}",
                role=Role.SPECIALIST,
                organisation=hospital,
                department=departments[i % 4],
            )
            for i in range(8)
        ]
        kind = ConsultationType.objects.create(
            organisation=hospital,
            code="mdt",
            name="MDT",
            duration_minutes=60,
            modality="video",
            is_mdt=True,
        )
        patient = Patient.objects.create(
            organisation=hospital, phi_ciphertext="x", phi_key_id="bench", mrn_index="x"
        )
        start_day = datetime.now(UTC).date() + timedelta(days=1)
        start = datetime.combine(start_day, dtime(0), tzinfo=UTC)
        end = start + timedelta(days=90)
        # Realistic diaries: four clinic sessions a week, a week of leave, ~35 % booked.
        for person in specialists:
            for weekday in rng.sample(range(5), 4):
                am = rng.random() < 0.7
                AvailabilityRule.objects.create(
                    practitioner=person,
                    weekday=weekday,
                    start_time=dtime(9 if am else 13),
                    end_time=dtime(12 if am else 17),
                    time_zone=rng.choice(["Europe/London", "Europe/Paris"]),
                    valid_from=date(2020, 1, 1),
                )
            # The hospital's protected MDT time, which most diaries keep.
            AvailabilityRule.objects.create(
                practitioner=person,
                weekday=3,
                start_time=dtime(12, 30),
                end_time=dtime(14),
                time_zone="Europe/London",
                valid_from=date(2020, 1, 1),
            )
            leave = start + timedelta(days=rng.randrange(10, 80))
            AvailabilityException.objects.create(
                practitioner=person,
                kind="leave",
                starts_at=leave,
                ends_at=leave + timedelta(days=5),
            )
        free_now = selectors.free_intervals_for(
            [p.pk for p in specialists], start, end, include_busy=False
        )
        participants = []
        for person in specialists:
            for s, e in free_now[person.pk]:
                slot = s
                while slot + timedelta(minutes=30) <= e:
                    local = slot.astimezone(ZoneInfo("Europe/London"))
                    protected = local.weekday() == 3 and dtime(
                        12, 30
                    ) <= local.time() < dtime(14)
                    if not protected and rng.random() < 0.35:
                        appointment = Appointment.objects.create(
                            organisation=hospital,
                            patient=patient,
                            consultation_type=kind,
                            starts_at=slot,
                            ends_at=slot + timedelta(minutes=30),
                            time_zone="UTC",
                            booked_by=coordinator,
                        )
                        participants.append(
                            AppointmentParticipant(
                                appointment=appointment,
                                practitioner=person,
                                starts_at=slot,
                                ends_at=slot + timedelta(minutes=30),
                            )
                        )
                    slot += timedelta(minutes=30)
        AppointmentParticipant.objects.bulk_create(participants)

        # Six named specialists, plus "any radiologist" and "any surgeon" (each
        # department keeps one member who is not named).
        named = [specialists[i] for i in (0, 1, 2, 3, 4, 7)]
        seats = [selectors.SeatRequest(practitioner_id=p.pk) for p in named] + [
            selectors.SeatRequest(department_id=departments[1].pk),
            selectors.SeatRequest(department_id=departments[2].pk),
        ]
        duration = timedelta(minutes=60)

        def ours() -> int:
            return len(
                selectors.mdt_search(
                    coordinator,
                    seats=seats,
                    start=start,
                    end=end,
                    duration=duration,
                    limit=10,
                )
            )

        def baseline() -> int:
            # Every 15-minute start of the range; each seat checked candidate by
            # candidate.
            pool = list(selectors.practitioners(coordinator))
            cands = [
                [s.practitioner_id]
                if s.practitioner_id
                else [p.pk for p in pool if p.department_id == s.department_id]
                for s in seats
            ]
            free = selectors.free_intervals_for(
                sorted({c for seat in cands for c in seat}), start, end
            )
            found, slot = 0, start
            while slot + duration <= end and found < 10:
                used: set[int] = set()
                ok = True
                for seat in cands:
                    pick = next(
                        (
                            c
                            for c in seat
                            if c not in used
                            and contains(free[c], slot, slot + duration)
                        ),
                        None,
                    )
                    if pick is None:
                        ok = False
                        break
                    used.add(pick)
                found += ok
                slot += timedelta(minutes=15)
            return found

        if os.environ.get("PROFILE"):
            import cProfile
            import pstats

            prof = os.path.join(tempfile.gettempdir(), "slots.prof")
            cProfile.runctx("for _ in range(10): ours()", globals(), locals(), prof)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(18)
        results = {}
        for name, fn in [("ours", ours), ("baseline", baseline)]:
            fn()  # warm
            times = []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                count = fn()
                times.append((time.perf_counter() - t0) * 1000)
            results[name] = (statistics.median(times), _percentile(times, 0.95), count)

        print(
            "MDT slot search: 8 specialists (6 named + 2 department seats), "
            f"90 days, {len(participants)} existing bookings, {vendor}"
        )
        print(f"{'method':<10} {'median ms':>10} {'p95 ms':>10} {'slots':>6}")
        for name, (median, p95, count) in results.items():
            print(f"{name:<10} {median:>10.2f} {p95:>10.2f} {count:>6}")
        ratio = results["baseline"][0] / results["ours"][0]
        print(
            f"bench: slots_median_ms={results['ours'][0]:.2f} "
            f"slots_p95_ms={results['ours'][1]:.2f} "
            f"baseline_median_ms={results['baseline'][0]:.2f} speedup={ratio:.1f} "
            f"slots_found={results['ours'][2]}"
        )


if __name__ == "__main__":
    main()
