"""A synthetic mentored-operation world: one hospital's theatre team and outsiders.

``guidance`` builds a hospital with a surgeon, two mentors (a surgeon and a
specialist), a moderator (nurse), a trainee, colleagues who are not part of
the operation, and another hospital's trainee. ``OperationFactory`` schedules
operations through the service, so every row is built the way production
builds it (room, members, notifications, audit).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import factory
import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from factory.django import DjangoModelFactory

from consult.accounts.models import Department, Organisation, Role, User
from consult.records.context import AccessContext
from consult.records.models import CareRelationship, Patient
from surgery_guidance import services
from surgery_guidance.models import Operation, Recording
from surgery_guidance.selectors import OperationPass, operation_pass_for_user
from tests.consult.conftest import redis_layer  # noqa: F401  (the shared fixture)
from tests.factories import (
    CareRelationshipFactory,
    DepartmentFactory,
    EmergencyDepartmentFactory,
    HospitalFactory,
    OperatorFactory,
    PatientFactory,
    UserFactory,
    make_phi,
)

CTX = AccessContext(channel="test", ip="127.0.0.1")
ORIGIN = (b"origin", b"http://testserver")
#: A distinctive synthetic patient: pages and the API must never show these.
PATIENT_FAMILY = "Quillfeatherby"
PATIENT_GIVEN = "Ottoline"
PATIENT_MRN = "MRN-QX-77123"


# -- factories --------------------------------------------------------------------


class OperationFactory(DjangoModelFactory):
    """An operation scheduled through ``operation_schedule``.

    ``actor`` defaults to the surgeon; ``broadcast=True`` then records consent
    and turns the broadcast on through ``consent_record``.
    """

    class Meta:
        model = Operation

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        surgeon = kwargs.pop("surgeon")
        mentors = kwargs.pop("mentors", [])
        moderator = kwargs.pop("moderator", None)
        actor = kwargs.pop("actor", None) or surgeon
        broadcast = kwargs.pop("broadcast", False)
        patient = kwargs.pop("patient", None)
        operation = services.operation_schedule(
            actor=actor,
            title=kwargs.pop("title", "Laparoscopic cholecystectomy"),
            procedure=kwargs.pop("procedure", "Laparoscopic cholecystectomy"),
            theatre=kwargs.pop("theatre", "Theatre 3"),
            scheduled_start=kwargs.pop(
                "scheduled_start", timezone.now() + dt.timedelta(minutes=30)
            ),
            surgeon_id=surgeon.pk,
            mentor_ids=[m.pk for m in mentors],
            moderator_id=moderator.pk if moderator else None,
            patient_id=patient.pk if patient else None,
            vitals=kwargs.pop("vitals", Operation.Vitals.STABLE),
            ctx=CTX,
        )
        if broadcast:
            operation = services.consent_record(
                actor=surgeon, operation_id=operation.pk, broadcast=True, ctx=CTX
            )
        if kwargs:
            Operation.objects.filter(pk=operation.pk).update(**kwargs)
            operation.refresh_from_db()
        return operation


class RecordingFactory(DjangoModelFactory):
    class Meta:
        model = Recording

    procedure = factory.LazyAttribute(lambda o: o.operation.procedure)
    video_path = factory.Sequence(lambda n: f"recordings/op/rec-{n}.mp4")
    timeline_path = factory.Sequence(lambda n: f"recordings/op/rec-{n}.timeline.json")
    duration_s = 125.0
    size_bytes = 1000
    started_at = factory.LazyFunction(timezone.now)


# -- the world ------------------------------------------------------------------


@dataclass
class Guidance:
    hospital: Organisation
    surgery: Department
    surgeon: User
    mentor: User
    specialist_mentor: User
    moderator: User
    trainee: User
    specialist: User
    nurse: User
    paramedic: User
    operator: User
    administrator: User
    other_surgeon: User
    other_trainee: User
    patient: Patient

    def schedule(self, **kwargs: Any) -> Operation:
        """This world's operation: surgeon, both mentors and the moderator."""
        kwargs.setdefault("surgeon", self.surgeon)
        kwargs.setdefault("mentors", [self.mentor, self.specialist_mentor])
        kwargs.setdefault("moderator", self.moderator)
        return OperationFactory(**kwargs)

    def op_pass(self, user: User, operation: Operation) -> OperationPass:
        return operation_pass_for_user(user, operation.pk)


@pytest.fixture
def guidance(db) -> Guidance:  # type: ignore[no-untyped-def]
    hospital = HospitalFactory()
    surgery = DepartmentFactory(organisation=hospital, name="General surgery")
    other = DepartmentFactory(organisation=HospitalFactory(), name="Other surgery")
    patient = PatientFactory(
        organisation=hospital,
        phi=make_phi(
            7, family_name=PATIENT_FAMILY, given_name=PATIENT_GIVEN, mrn=PATIENT_MRN
        ),
    )
    CareRelationshipFactory(
        patient=patient, department=surgery, kind=CareRelationship.Kind.DEPARTMENT
    )

    def person(role: str, first: str, department: Department = surgery) -> User:
        return UserFactory(role=role, department=department, first_name=first)

    return Guidance(
        hospital=hospital,
        surgery=surgery,
        surgeon=person(Role.SURGEON, "Sally"),
        mentor=person(Role.SURGEON, "Mona"),
        specialist_mentor=person(Role.SPECIALIST, "Spencer"),
        moderator=person(Role.NURSE, "Moira"),
        trainee=person(Role.TRAINEE, "Tess"),
        specialist=person(Role.SPECIALIST, "Steve"),
        nurse=person(Role.NURSE, "Nina"),
        paramedic=person(Role.PARAMEDIC, "Pat"),
        operator=OperatorFactory(
            department=EmergencyDepartmentFactory(organisation=hospital)
        ),
        administrator=person(Role.ADMINISTRATOR, "Ada"),
        other_surgeon=person(Role.SURGEON, "Oscar", other),
        other_trainee=person(Role.TRAINEE, "Olga", other),
        patient=patient,
    )


# -- annotation operations ---------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def mark(author: str, n: int = 1, kind: str = "arrow", **over: Any) -> dict[str, Any]:
    """A valid annotation dict by ``author``, drawn just now; ``n`` picks its id."""
    points = {
        "arrow": [[0.25, 0.5], [0.75, 0.5]],
        "freehand": [[0.1, 0.1], [0.2, 0.15], [0.3, 0.1]],
        "circle": [[0.5, 0.5], [0.6, 0.5]],
    }[kind]
    data: dict[str, Any] = {
        "id": str(uuid.UUID(int=n)),
        "kind": kind,
        "author": author,
        "colour": "#00ff00",
        "points": points,
        "frame_time": 12.5,
        "created_at_ms": now_ms(),
    }
    data.update(over)
    return data


def add_op(author: str, seq: int, n: int | None = None, **over: Any) -> dict[str, Any]:
    """An ``add`` operation (the annotation's id follows ``seq`` unless ``n``)."""
    return {
        "op": "add",
        "author": author,
        "seq": seq,
        "annotation": mark(author, seq if n is None else n, **over),
    }


def author_of(user: User) -> str:
    return f"u{user.pk}"


# -- transport helpers ---------------------------------------------------------------


def session_cookie(user: User) -> bytes:
    """A logged-in session cookie header value for a websocket."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """Channel-layer fan-out recorded instead of sent: ``(group, event)`` in order.

    ``consult.events._send`` is where committed events leave for the layer, so
    an event shows up here only once its transaction has committed.
    """
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("consult.events._send", lambda events: sent.extend(events))
    return sent


@pytest.fixture
def committing(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """A block whose on-commit hooks run at its end, as if it had committed.

    Hooks left pending by the setup are dropped first (the test transaction
    never commits, so they would never run either): ``publish_on_commit``
    moves its fan-out hook to the end of the list, and a hook moved from
    before the block would otherwise escape the capture.
    """

    @contextmanager
    def block() -> Iterator[None]:
        transaction.get_connection().run_on_commit.clear()
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return block
