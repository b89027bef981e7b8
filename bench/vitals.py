"""Vitals ingest and command-board fan-out against the real stack.

Run: ``REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/vitals.py``
(PostgreSQL from ``BENCH_DATABASE_URL``, default a throwaway
``test_telemed_bench_vitals`` on 127.0.0.1). About 2 minutes on 2 cores.

For each K in ``BENCH_AMBULANCES`` (default 50,100,200): K simulated
ambulances, each on its own crew socket through uvicorn (2 workers), send an
ECG batch (250 Hz, 63 samples) every 250 ms and a numerics set every second
(each ambulance on its own phase, spread over ten 25 ms offsets),
with the lossless protocol client (``consult.emergency.device.Uplink``).
``BENCH_BOARDS`` command boards (default 2) follow the hospital and open
three cases' ECG each. Measured:

* cold start: every ambulance's first batches at once, which create its
  two streams (audited), until all are acknowledged; then, in the steady
  state that follows:
* ack latency: first send of a batch → its ack (after commit), p50/p99;
* board latency: batch creation → the board receiving it, p50/p99;
* lost: batches created but not stored after the drain; dup: stored twice
  (impossible by the unique key, counted anyway) or shown twice on a board;
* board gaps: seq jumps a board saw live (the channel layer may drop), all
  backfilled over HTTP before the end.

Target (issue 7): 200 ambulances, ack p99 <= 250 ms, board p99 <= 1 s,
lost 0, dup 0. The last line is ``bench: ...``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._django import bench_database  # noqa: E402

BENCH_DB = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/telemed_bench_vitals"
)
LEVELS = [int(k) for k in os.environ.get("BENCH_AMBULANCES", "50,100,200").split(",")]
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
BOARDS = int(os.environ.get("BENCH_BOARDS", "2"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ECG_SAMPLES = 63
PHASES = 10


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def make_world(k: int) -> dict[str, Any]:
    """A hospital, an operator per board, K crews with a token and an open case."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from consult.accounts.models import Crew, Department, Organisation, Role, User
    from consult.accounts.services import device_token_create
    from consult.emergency import services
    from consult.emergency.casetext import CaseText
    from consult.emergency.models import ReceivingHospital
    from consult.records.context import COMMAND

    hospital = Organisation.objects.create(name="Bench Hospital", kind="hospital")
    ReceivingHospital.objects.create(organisation=hospital, lat=53.48, lon=-2.24)
    ed = Department.objects.create(
        organisation=hospital, name="Emergency", specialty="emergency"
    )
    service = Organisation.objects.create(
        name="Bench Ambulance", kind="ambulance_service"
    )
    cookies = []
    for b in range(BOARDS):
        operator = User.objects.create(
            username=f"op{b}", role=Role.OPERATOR, organisation=hospital, department=ed
        )
        session = SessionStore()
        session[SESSION_KEY] = str(operator.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = operator.get_session_auth_hash()
        session.create()
        cookies.append(f"sessionid={session.session_key}")
    ambulances = []
    for i in range(k):
        crew = Crew.objects.create(organisation=service, call_sign=f"B-{i}")
        medic = User.objects.create(
            username=f"medic{i}", role=Role.PARAMEDIC, organisation=service, crew=crew
        )
        _token, raw = device_token_create(user=medic, name="bench")
        case = services.case_open(
            actor=medic,
            destination_id=hospital.pk,
            category="stemi",
            estimated_age=60,
            sex="male",
            text=CaseText(chief_complaint="bench"),
            ctx=COMMAND,
        )
        ambulances.append((str(case.pk), raw))
    return {"ambulances": ambulances, "cookies": cookies}


def start_server(database_url: str, port: int) -> subprocess.Popen[bytes]:
    """uvicorn with ``WORKERS`` workers against the bench database and Redis."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        # Persistent connections, as a production deployment would run with.
        "DATABASE_URL": database_url + "?CONN_MAX_AGE=600",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHANNEL_LAYER_PREFIX": f"bench-{os.getpid()}",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
            "--lifespan",
            "off",
            "--ws-max-size",
            "262144",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("uvicorn did not start")


class Board:
    """A command board socket: records latency and per-stream seqs."""

    def __init__(self, base: str, cookie: str, focus: list[str]) -> None:
        self.base, self.cookie, self.focus = base, cookie, focus
        self.latencies: list[float] = []
        self.since_ms = 0.0  # latency counts for batches created after this
        self.seen: dict[str, set[int]] = {}
        self.case_of: dict[str, str] = {}
        self.gaps = 0
        self.dup = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the board until ``stop``."""
        import websockets

        async with websockets.connect(
            self.base.replace("http", "ws") + "/ws/emergency/board/",
            additional_headers={"Cookie": self.cookie},
            origin=self.base,
            max_size=2**22,
            ping_interval=None,
            open_timeout=60,
        ) as ws:
            await ws.recv()
            for case in self.focus:
                await ws.send(json.dumps({"type": "subscribe", "case": case}))
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                message = json.loads(raw)
                if message["type"] not in ("vitals", "waveform"):
                    continue
                now = time.time() * 1000
                t0 = _iso_ms(message["sample_t0"])
                if t0 >= self.since_ms:
                    self.latencies.append(max(0.0, now - t0) / 1000)
                seqs = self.seen.setdefault(message["stream"], set())
                self.case_of[message["stream"]] = message["case"]
                if message["seq"] in seqs:
                    self.dup += 1
                elif seqs and message["seq"] != max(seqs) + 1:
                    self.gaps += 1
                seqs.add(message["seq"])

    def backfill(self, expected: dict[str, int]) -> int:
        """Fetch every missing seq over HTTP; returns how many are still missing."""
        missing = 0
        for stream, seqs in self.seen.items():
            want = set(range(0, expected.get(stream, max(seqs) + 1)))
            after = min(want - seqs, default=None)
            while after is not None:
                url = (
                    f"{self.base}/api/emergency/cases/{self.case_of[stream]}/vitals/"
                    f"?stream={stream}&after_seq={after - 1}&limit=500"
                )
                request = urllib.request.Request(url, headers={"Cookie": self.cookie})  # noqa: S310
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    body = json.loads(response.read())
                seqs |= {b["seq"] for b in body["batches"]}
                after = min(want - seqs, default=None) if body["more"] else None
            missing += len(want - seqs)
        return missing


def _iso_ms(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp() * 1000


def send_tick(uplinks: list[Any], streams: list[tuple[str, str]], tick: int) -> None:
    """Every ambulance's ECG batch of this 250 ms tick; numerics every fourth."""
    now_ms = time.time() * 1000
    for uplink, (ecg, numerics) in zip(uplinks, streams, strict=True):
        samples = [(tick * ECG_SAMPLES + j) % 2000 for j in range(ECG_SAMPLES)]
        uplink.add(
            ecg,
            payload={"lead": "II", "unit": "uV", "samples": samples},
            sample_t0_ms=now_ms,
            rate_hz=250.0,
            n_samples=ECG_SAMPLES,
        )
        if tick % 4 == 0:
            uplink.add(
                numerics,
                payload={"values": {"hr": 80, "spo2": 97, "rr": 16}},
                sample_t0_ms=now_ms,
            )


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (uvicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def run_level(
    base: str, world: dict[str, Any], k: int, server_pid: int
) -> dict[str, Any]:
    """K ambulances for ``SECONDS``; returns the measurements."""
    from consult.emergency.device import Uplink

    ambulances = world["ambulances"][:k]
    stop_boards = asyncio.Event()
    boards = [
        Board(base, cookie, [ambulances[(3 * b + j) % k][0] for j in range(3)])
        for b, cookie in enumerate(world["cookies"])
    ]
    board_tasks = [asyncio.create_task(b.run(stop_boards)) for b in boards]
    await asyncio.sleep(0.5)
    uplinks, streams = [], []
    stop = asyncio.Event()
    for i, (case_id, token) in enumerate(ambulances):
        uplink = Uplink(
            ws_url=f"{base.replace('http', 'ws')}/ws/emergency/crew/{case_id}/",
            headers={"Authorization": f"Token {token}"},
            origin=base,
            device_id=f"bench-{k}-{i}",
        )
        streams.append((uplink.open_stream("ecg"), uplink.open_stream("numerics")))
        uplinks.append(uplink)
    runners = [asyncio.create_task(u.run(stop)) for u in uplinks]
    deadline = time.monotonic() + 30
    while sum(u.connected for u in uplinks) < k and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    # Cold start: every ambulance's first ECG and numerics batch creates its
    # two streams (each an audited patient-data creation, serialised by the
    # audit chain). Timed on its own; the steady state is measured after.
    cold = time.monotonic()
    send_tick(uplinks, streams, 0)
    await asyncio.gather(*(u.drained(60) for u in uplinks))
    cold_start = time.monotonic() - cold
    for uplink in uplinks:
        uplink.stats.ack_latencies.clear()
    for board in boards:
        # Cold-start batches may still be on their way to the boards.
        board.latencies.clear()
        board.since_ms = time.time() * 1000
    began = time.monotonic()
    server_cpu, harness_cpu = tree_cpu_s(server_pid), time.process_time()
    # Ambulances do not share a clock phase: each keeps its own 250 ms
    # rhythm, spread over PHASES offsets (all at once would be a burst of K
    # messages four times a second that no real fleet sends).
    step = 0
    while (elapsed := step * 0.25 / PHASES) < SECONDS:
        await asyncio.sleep(max(0.0, began + elapsed - time.monotonic()))
        phase = step % PHASES
        send_tick(uplinks[phase::PHASES], streams[phase::PHASES], 1 + step // PHASES)
        step += 1
    drained = all(await asyncio.gather(*(u.drained(30) for u in uplinks)))
    wall = time.monotonic() - began
    server_pct = 100 * (tree_cpu_s(server_pid) - server_cpu) / wall
    harness_pct = 100 * (time.process_time() - harness_cpu) / wall
    stop.set()
    await asyncio.gather(*runners)
    await asyncio.sleep(1.0)
    stop_boards.set()
    await asyncio.gather(*board_tasks, return_exceptions=True)
    acked = {
        s: u.streams[s].acked_through + 1
        for u, pair in zip(uplinks, streams, strict=True)
        for s in pair
    }
    expected = {
        s: u.streams[s].next_seq
        for u, pair in zip(uplinks, streams, strict=True)
        for s in pair
    }
    still_missing = sum(
        await asyncio.gather(*(asyncio.to_thread(b.backfill, acked) for b in boards))
    )
    return {
        "expected": expected,
        "acked": acked,
        "acks": [x for u in uplinks for x in u.stats.ack_latencies],
        "board": [x for b in boards for x in b.latencies],
        "board_gaps": sum(b.gaps for b in boards),
        "board_dup": sum(b.dup for b in boards),
        "board_missing": still_missing,
        "reconnects": sum(max(0, u.stats.connects - 1) for u in uplinks),
        "drained": drained,
        "cold_start_s": cold_start,
        "server_cpu_pct": server_pct,
        "harness_cpu_pct": harness_pct,
        "batches": sum(expected.values()),
    }


def count_stored(
    expected: dict[str, int], acked: dict[str, int]
) -> tuple[int, int, int]:
    """(lost, duplicated, undelivered) batches for these streams.

    Lost: acknowledged but not stored (a protocol failure). Undelivered: still
    in a device's outbox when the time budget ended (late, not lost).
    """
    from django.db.models import Count

    from consult.emergency.models import VitalsBatch

    lost = dup = undelivered = 0
    rows = {
        str(row["stream_id"]): row
        for row in VitalsBatch.objects.filter(stream_id__in=list(expected))
        .values("stream_id")
        .annotate(n=Count("id"), distinct=Count("seq", distinct=True))
    }
    for stream, n in expected.items():
        row = rows.get(stream, {"n": 0, "distinct": 0})
        upto_ack = (
            VitalsBatch.objects.filter(stream_id=stream, seq__lt=acked[stream])
            .values("seq")
            .distinct()
            .count()
        )
        lost += acked[stream] - upto_ack
        dup += row["n"] - row["distinct"]
        undelivered += n - row["distinct"]
    return lost, dup, undelivered


def main() -> None:
    """Run every level and print the table and the ``bench:`` line."""
    os.environ["DATABASE_URL"] = BENCH_DB
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("Set REDIS_URL (the board fan-out runs over Redis).")
    with bench_database(BENCH_DB):
        from django.db import connection

        world = make_world(max(LEVELS))
        db = connection.settings_dict
        url = (
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}"
            f":{db['PORT'] or 5432}/{db['NAME']}"
        )
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        connection.close()
        server = start_server(url, port)
        rows = []
        try:
            for k in LEVELS:
                result = asyncio.run(
                    run_level(f"http://127.0.0.1:{port}", world, k, server.pid)
                )
                lost, dup, late = count_stored(result["expected"], result["acked"])
                rows.append((k, result, lost, dup, late))
                connection.close()
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
    header = (
        f"{'K':>4} {'batches':>8} {'ack p50':>8} {'ack p99':>8} {'board p50':>9} "
        f"{'board p99':>9} {'gaps':>5} {'lost':>5} {'dup':>4} {'late':>5} "
        f"{'reconn':>6} {'cold s':>6} {'srv %':>6} {'bench %':>7}"
    )
    print(header)
    for k, r, lost, dup, late in rows:
        print(
            f"{k:>4} {r['batches']:>8} {pct(r['acks'], 0.5):>8.1f} "
            f"{pct(r['acks'], 0.99):>8.1f} {pct(r['board'], 0.5):>9.1f} "
            f"{pct(r['board'], 0.99):>9.1f} {r['board_gaps']:>5} "
            f"{lost + r['board_missing']:>5} {dup + r['board_dup']:>4} "
            f"{late:>5} {r['reconnects']:>6} {r['cold_start_s']:>6.1f} "
            f"{r['server_cpu_pct']:>6.0f} {r['harness_cpu_pct']:>7.0f}"
        )
    print(
        "srv %: uvicorn processes' CPU in the steady state, % of one core "
        "(PostgreSQL and Redis not included); bench %: this harness (the "
        "ambulances and boards), on the same 2 cores."
    )
    k, r, lost, dup, late = rows[-1]
    print(
        f"bench: ambulances={k} ack_p99_ms={pct(r['acks'], 0.99):.0f} "
        f"board_p99_ms={pct(r['board'], 0.99):.0f} "
        f"lost={lost + r['board_missing']} dup={dup + r['board_dup']} "
        f"undelivered={late} cold_start_s={r['cold_start_s']:.1f} "
        f"server_cpu_pct={r['server_cpu_pct']:.0f} "
        f"bench_cpu_pct={r['harness_cpu_pct']:.0f} "
        f"loadavg_1m={os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
