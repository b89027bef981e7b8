"""A small synthetic emergency world: one ambulance service, two hospitals, teams."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from consult.accounts.models import Crew, Department, Organisation, Role, User
from consult.emergency.ingest import BatchIn, payload_sha256
from consult.emergency.models import EmergencyCase, Team
from consult.emergency.schemas import epoch_ms
from consult.records.context import AccessContext
from tests.factories import (
    CrewFactory,
    DepartmentFactory,
    EmergencyCaseFactory,
    EmergencyDepartmentFactory,
    HospitalFactory,
    OperatorFactory,
    ParamedicFactory,
    ReceivingHospitalFactory,
    TeamFactory,
    UserFactory,
)
from tests.uvicorn_server import database_url, start_uvicorn

CTX = AccessContext(channel="test", ip="127.0.0.1")
ROOT = Path(__file__).resolve().parents[3]
ORIGIN = (b"origin", b"http://testserver")


@dataclass
class World:
    hospital: Organisation
    emergency: Department
    cardiology: Department
    operator: User
    cardiologist: User
    nurse: User
    cath_lab: Team
    crew: Crew
    paramedic: User
    partner: User
    other_crew_medic: User
    other_hospital_operator: User
    trainee: User

    def open_case(self, **kwargs: Any) -> EmergencyCase:
        """A case of this world's crew bound for this world's hospital."""
        kwargs.setdefault("paramedic", self.paramedic)
        kwargs.setdefault("destination", self.hospital)
        return EmergencyCaseFactory(**kwargs)


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
    """Hospital with ED, cardiology and a cath lab team; a crew of two; outsiders."""
    hospital = HospitalFactory()
    ReceivingHospitalFactory(organisation=hospital, lat=51.5074, lon=-0.1278)
    emergency = EmergencyDepartmentFactory(organisation=hospital)
    cardiology = DepartmentFactory(organisation=hospital, name="Cardiology")
    cardiologist = UserFactory(department=cardiology, role=Role.SPECIALIST)
    nurse = UserFactory(department=cardiology, role=Role.NURSE)
    crew = CrewFactory()
    paramedic = ParamedicFactory(crew=crew)
    return World(
        hospital=hospital,
        emergency=emergency,
        cardiology=cardiology,
        operator=OperatorFactory(department=emergency),
        cardiologist=cardiologist,
        nurse=nurse,
        cath_lab=TeamFactory(
            organisation=hospital,
            department=cardiology,
            members=[cardiologist, nurse],
        ),
        crew=crew,
        paramedic=paramedic,
        partner=ParamedicFactory(crew=crew),
        other_crew_medic=ParamedicFactory(),
        other_hospital_operator=OperatorFactory(),
        trainee=UserFactory(department=cardiology, role=Role.TRAINEE),
    )


def numerics(**values: Any) -> dict[str, Any]:
    """A numerics payload."""
    return {"values": values}


NORMAL = {
    "hr": 80,
    "spo2": 97,
    "sbp": 125,
    "dbp": 80,
    "rr": 16,
    "temp_c": 37.0,
    "acvpu": "A",
    "supplemental_o2": False,
}


def batch_dict(
    stream: uuid.UUID | str,
    seq: int,
    *,
    kind: str = "ecg",
    device: str = "phone-1",
    payload: dict[str, Any] | None = None,
    t0_ms: float | None = None,
) -> dict[str, Any]:
    """A wire batch (without ``type``) with a correct hash."""
    if payload is None:
        payload = (
            numerics(**NORMAL)
            if kind == "numerics"
            else {"lead": "II", "unit": "uV", "samples": [seq % 100] * 63}
        )
    n = 1 if kind == "numerics" else len(payload["samples"])
    return {
        "device": device,
        "stream": str(stream),
        "seq": seq,
        "kind": kind,
        "sample_t0": t0_ms if t0_ms is not None else time.time() * 1000 + seq * 250,
        "rate_hz": 0 if kind == "numerics" else 250,
        "n_samples": n,
        "payload": payload,
        "sha256": payload_sha256(payload),
    }


def batch_in(stream: uuid.UUID, seq: int, **kwargs: Any) -> BatchIn:
    """A service-level batch with a correct hash."""
    d = batch_dict(stream, seq, **kwargs)
    return BatchIn(
        device_id=d["device"],
        stream_id=uuid.UUID(d["stream"]),
        seq=seq,
        kind=d["kind"],
        sample_t0=epoch_ms(d["sample_t0"]),
        rate_hz=d["rate_hz"],
        n_samples=d["n_samples"],
        payload=d["payload"],
        sha256=d["sha256"],
    )


def session_cookie(user: User) -> bytes:
    """A logged-in session cookie header value for a websocket."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@contextmanager
def live_server(database: dict[str, Any], **extra_env: str) -> Iterator[str]:
    """uvicorn serving ``config.asgi`` against ``database``; yields its base URL.

    ``extra_env`` overrides the environment (e.g. another ``REDIS_URL``). The
    server gets its own channel-layer prefix, so runs never see each other.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(database),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHANNEL_LAYER_PREFIX": f"emtest-{uuid.uuid4().hex[:8]}",
        **extra_env,
    }
    log_path = ROOT / "var" / f"emergency-server-{uuid.uuid4().hex[:8]}.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "w") as log:
        server, port = start_uvicorn(env, log, extra_args=("--log-level", "warning"))
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(10)
    log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """uvicorn serving ``config.asgi`` against the test database and Redis."""
    from django.db import connection

    with live_server(connection.settings_dict) as url:
        yield url
