"""FHIR R4 Schedule, Slot and Appointment endpoints: search, read, book, $cancel.

The endpoints are scoped like the rest of scheduling (another hospital's
objects are absent or 404), answer ``application/fhir+json`` and report
errors as OperationOutcomes carrying our stable codes.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle

from consult.accounts.models import Role
from consult.accounts.services import device_token_create
from consult.records.models import AuditEvent
from consult.scheduling import services
from consult.scheduling.models import Appointment
from tests.consult.scheduling.conftest import CTX, LONDON, local, next_weekday
from tests.factories import DepartmentFactory, HospitalFactory, UserFactory

urlpatterns = [path("fhir/", include("consult.scheduling.fhir_urls"))]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

FHIR_JSON = "application/fhir+json"
TZ_CODE = "http://hl7.org/fhir/StructureDefinition/tz-code"
TYPE_SYSTEM = "urn:telemed:consultation-type"


def _book(clinic, start, *, patient=None, practitioners=None, kind=None):  # type: ignore[no-untyped-def]
    return services.appointment_book(
        actor=clinic.coordinator,
        patient_id=(patient or clinic.patients[0]).pk,
        consultation_type=kind or clinic.video,
        practitioner_ids=[p.pk for p in practitioners or [clinic.cardiologist]],
        starts_at=start,
        time_zone=LONDON,
        reason="Synthetic: Canaryreason review",
        ctx=CTX,
    )


def _client(api_client, user):  # type: ignore[no-untyped-def]
    api_client.force_authenticate(user)
    return api_client


def _outsider():  # type: ignore[no-untyped-def]
    """A coordinator of another hospital."""
    other = DepartmentFactory(organisation=HospitalFactory())
    return UserFactory(role=Role.NURSE, department=other)


def _booking_body(clinic, start, *, patient=None, practitioner=None):  # type: ignore[no-untyped-def]
    practitioner = practitioner or clinic.cardiologist
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "extension": [{"url": TZ_CODE, "valueCode": LONDON}],
        "appointmentType": {
            "coding": [{"system": TYPE_SYSTEM, "code": clinic.video.code}]
        },
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "participant": [
            {
                "actor": {"reference": f"Practitioner/{practitioner.pk}"},
                "status": "accepted",
            },
            {
                "actor": {"reference": f"Patient/{(patient or clinic.patients[0]).pk}"},
                "status": "accepted",
            },
        ],
    }


def _post(client, url, body):  # type: ignore[no-untyped-def]
    return client.post(url, json.dumps(body), content_type=FHIR_JSON)


def _error_code(response) -> str:  # type: ignore[no-untyped-def]
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["details"]["coding"][0]["code"]


def _patient_display(resource) -> str | None:  # type: ignore[no-untyped-def]
    for participant in resource["participant"]:
        if participant["actor"]["reference"].startswith("Patient/"):
            return participant["actor"].get("display")
    raise AssertionError("no patient participant")


# Schedule


def test_schedule_search_by_actor_returns_that_practitioners_schedule(
    clinic, api_client
) -> None:  # type: ignore[no-untyped-def]
    """Schedule?actor=Practitioner/<id> is a searchset Bundle of their one Schedule."""
    client = _client(api_client, clinic.coordinator)
    response = client.get(
        "/fhir/Schedule", {"actor": f"Practitioner/{clinic.cardiologist.pk}"}
    )
    bundle = Bundle.model_validate(response.json())
    assert (bundle.type, bundle.total, bundle.entry[0].resource.actor[0].reference) == (
        "searchset",
        1,
        f"Practitioner/{clinic.cardiologist.pk}",
    )


def test_responses_are_fhir_json(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """The content type is application/fhir+json even when JSON is asked for."""
    client = _client(api_client, clinic.coordinator)
    response = client.get("/fhir/Schedule", HTTP_ACCEPT="application/json")
    assert response["Content-Type"].split(";")[0] == FHIR_JSON


def test_schedule_entries_carry_absolute_full_urls(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """Each entry's fullUrl is the absolute URL of the Schedule it holds."""
    client = _client(api_client, clinic.coordinator)
    response = client.get(
        "/fhir/Schedule", {"actor": f"Practitioner/{clinic.cardiologist.pk}"}
    )
    assert response.json()["entry"][0]["fullUrl"] == (
        f"http://testserver/fhir/Schedule/{clinic.cardiologist.pk}"
    )


def test_schedule_search_for_another_hospitals_practitioner_is_empty(
    clinic, api_client
) -> None:  # type: ignore[no-untyped-def]
    """A coordinator of another hospital finds no Schedule for our clinician."""
    client = _client(api_client, _outsider())
    response = client.get(
        "/fhir/Schedule", {"actor": f"Practitioner/{clinic.cardiologist.pk}"}
    )
    assert (response.status_code, response.json()["total"]) == (200, 0)


def test_schedule_read_of_another_hospital_is_404(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """Reading another hospital's Schedule is a 404 OperationOutcome, code not_found."""
    client = _client(api_client, _outsider())
    response = client.get(f"/fhir/Schedule/{clinic.cardiologist.pk}")
    assert (response.status_code, _error_code(response)) == (404, "not_found")


# Slot


def test_free_slots_of_a_consultation_type_cover_the_diary(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A 09-17 day has 30-minute slots every 15 minutes from 09:00 to 16:30."""
    day = next_weekday(0)
    client = _client(api_client, clinic.coordinator)
    response = client.get(
        "/fhir/Slot",
        {
            "schedule": f"Schedule/{clinic.cardiologist.pk}",
            "start": [f"ge{day}", f"lt{day + timedelta(days=1)}"],
            "status": "free",
            "service-type": f"{TYPE_SYSTEM}|{clinic.video.code}",
        },
    )
    starts = [e["resource"]["start"] for e in response.json()["entry"]]
    assert (len(starts), starts[0], starts[-1]) == (
        31,
        local(day, 9).isoformat().replace("+00:00", "Z"),
        local(day, 16, 30).isoformat().replace("+00:00", "Z"),
    )


def test_booked_time_is_a_busy_slot_with_a_deterministic_id(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A booking is a busy Slot with id practitioner-epochminutes-duration."""
    day = next_weekday(0)
    start = local(day, 10)
    _book(clinic, start)
    client = _client(api_client, clinic.coordinator)
    response = client.get(
        "/fhir/Slot",
        {
            "practitioner": f"Practitioner/{clinic.cardiologist.pk}",
            "start": [f"ge{day}", f"lt{day + timedelta(days=1)}"],
            "status": "busy",
        },
    )
    ids = [e["resource"]["id"] for e in response.json()["entry"]]
    assert ids == [f"{clinic.cardiologist.pk}-{int(start.timestamp()) // 60}-30"]


def test_free_time_without_a_type_is_the_gaps_around_bookings(
    clinic, api_client
) -> None:  # type: ignore[no-untyped-def]
    """Without service-type, free Slots are the free intervals: 09-10 and 10:30-17."""
    day = next_weekday(0)
    _book(clinic, local(day, 10))
    client = _client(api_client, clinic.coordinator)
    response = client.get(
        "/fhir/Slot",
        {
            "schedule": str(clinic.cardiologist.pk),
            "start": [f"ge{day}", f"lt{day + timedelta(days=1)}"],
            "status": "free",
        },
    )
    spans = [
        (e["resource"]["start"], e["resource"]["end"]) for e in response.json()["entry"]
    ]
    z = "+00:00"
    assert spans == [
        (
            local(day, 9).isoformat().replace(z, "Z"),
            local(day, 10).isoformat().replace(z, "Z"),
        ),
        (
            local(day, 10, 30).isoformat().replace(z, "Z"),
            local(day, 17).isoformat().replace(z, "Z"),
        ),
    ]


def test_slot_search_for_another_hospitals_practitioner_is_empty(
    clinic, api_client
) -> None:  # type: ignore[no-untyped-def]
    """Another hospital's coordinator sees no Slot of our clinician, free or busy."""
    day = next_weekday(0)
    _book(clinic, local(day, 10))
    client = _client(api_client, _outsider())
    response = client.get(
        "/fhir/Slot",
        {
            "schedule": f"Schedule/{clinic.cardiologist.pk}",
            "start": [f"ge{day}", f"lt{day + timedelta(days=1)}"],
        },
    )
    assert response.json()["total"] == 0


def test_slot_read_reports_a_booked_slot_as_busy(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """Reading a slot id that has since been booked returns it with status busy."""
    start = local(next_weekday(0), 10)
    slot_id = f"{clinic.cardiologist.pk}-{int(start.timestamp()) // 60}-30"
    _book(clinic, start)
    client = _client(api_client, clinic.coordinator)
    assert client.get(f"/fhir/Slot/{slot_id}").json()["status"] == "busy"


def test_unknown_slot_status_is_refused(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """status=busy-tentative is not something we compute: 400 invalid_status."""
    client = _client(api_client, clinic.coordinator)
    response = client.get("/fhir/Slot", {"status": "busy-tentative"})
    assert (response.status_code, _error_code(response)) == (400, "invalid_status")


def test_unknown_search_parameter_is_refused(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A misspelt filter is a 400, never a silently wider search."""
    client = _client(api_client, clinic.coordinator)
    response = client.get("/fhir/Appointment", {"practitoner": "Practitioner/1"})
    assert (response.status_code, _error_code(response)) == (400, "unknown_parameter")


# Appointment: read and search


def test_appointment_read_is_a_valid_fhir_appointment(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """GET Appointment/<id> validates as R4 with our status, times and zone."""
    appointment = _book(clinic, local(next_weekday(0), 10))
    client = _client(api_client, clinic.coordinator)
    resource = FhirAppointment.model_validate(
        client.get(f"/fhir/Appointment/{appointment.pk}").json()
    )
    assert (
        resource.status,
        resource.start,
        resource.extension[0].valueCode,
        resource.appointmentType.coding[0].code,
    ) == ("booked", appointment.starts_at, LONDON, clinic.video.code)


def test_appointment_names_the_patient_for_a_user_in_reach(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """The coordinator of the patient's department sees the patient's display name."""
    appointment = _book(clinic, local(next_weekday(0), 10))
    client = _client(api_client, clinic.coordinator)
    resource = client.get(f"/fhir/Appointment/{appointment.pk}").json()
    assert _patient_display(resource) == "CANARYFAMILY100, Canarygiven100"


def test_appointment_hides_the_patient_from_a_user_out_of_reach(
    clinic, api_client
) -> None:  # type: ignore[no-untyped-def]
    """A coordinator of another department sees the appointment but not the name."""
    appointment = _book(clinic, local(next_weekday(0), 10))
    radiology_nurse = UserFactory(role=Role.NURSE, department=clinic.radiology)
    client = _client(api_client, radiology_nurse)
    response = client.get(f"/fhir/Appointment/{appointment.pk}")
    assert "Canary" not in response.content.decode()


def test_showing_the_patient_name_is_audited(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """Reading an Appointment that names the patient leaves a list audit event."""
    appointment = _book(clinic, local(next_weekday(0), 10))
    client = _client(api_client, clinic.coordinator)
    before = AuditEvent.objects.filter(action="list").count()
    client.get(f"/fhir/Appointment/{appointment.pk}")
    assert AuditEvent.objects.filter(action="list").count() == before + 1


def test_another_hospitals_appointment_is_404(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """Reading another hospital's Appointment is a 404 OperationOutcome."""
    appointment = _book(clinic, local(next_weekday(0), 10))
    client = _client(api_client, _outsider())
    response = client.get(f"/fhir/Appointment/{appointment.pk}")
    assert (response.status_code, _error_code(response)) == (404, "not_found")


def test_searching_another_hospitals_practitioner_is_empty(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """Appointment?practitioner=<theirs> yields an empty Bundle for an outsider."""
    _book(clinic, local(next_weekday(0), 10))
    client = _client(api_client, _outsider())
    response = client.get(
        "/fhir/Appointment", {"practitioner": f"Practitioner/{clinic.cardiologist.pk}"}
    )
    assert (response.status_code, response.json()["total"]) == (200, 0)


def test_appointment_search_by_patient(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """Appointment?patient=Patient/<id> returns only that patient's appointments."""
    day = next_weekday(0)
    mine = _book(clinic, local(day, 10))
    _book(clinic, local(day, 11), patient=clinic.patients[1])
    client = _client(api_client, clinic.coordinator)
    response = client.get(
        "/fhir/Appointment", {"patient": f"Patient/{clinic.patients[0].pk}"}
    )
    assert [e["resource"]["id"] for e in response.json()["entry"]] == [str(mine.pk)]


def test_appointment_search_by_date_range(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """date=geD&date=ltD+1 returns the appointments starting that local day."""
    day = next_weekday(0)
    that_day = _book(clinic, local(day, 10))
    _book(clinic, local(day + timedelta(days=1), 10), patient=clinic.patients[1])
    client = _client(api_client, clinic.coordinator)
    response = client.get(
        "/fhir/Appointment", {"date": [f"ge{day}", f"lt{day + timedelta(days=1)}"]}
    )
    assert [e["resource"]["id"] for e in response.json()["entry"]] == [str(that_day.pk)]


def test_appointment_search_by_status(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """status=cancelled returns only cancelled appointments."""
    day = next_weekday(0)
    cancelled = _book(clinic, local(day, 10))
    services.appointment_cancel(
        actor=clinic.coordinator,
        appointment_id=cancelled.pk,
        reason="duplicate",
        ctx=CTX,
    )
    _book(clinic, local(day, 11), patient=clinic.patients[1])
    client = _client(api_client, clinic.coordinator)
    response = client.get("/fhir/Appointment", {"status": "cancelled"})
    assert [e["resource"]["id"] for e in response.json()["entry"]] == [
        str(cancelled.pk)
    ]


def test_a_lower_date_bound_alone_reaches_far_ahead(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """date=geD alone finds appointments well past the default 180-day horizon."""
    day = next_weekday(0, weeks_ahead=30)
    appointment = _book(clinic, local(day, 10))
    client = _client(api_client, clinic.coordinator)
    response = client.get("/fhir/Appointment", {"date": f"ge{day}"})
    assert [e["resource"]["id"] for e in response.json()["entry"]] == [
        str(appointment.pk)
    ]


def test_appointment_search_queries_do_not_grow_with_results(
    clinic, api_client
) -> None:  # type: ignore[no-untyped-def]
    """Three appointments cost as many queries as one (no per-row look-ups)."""
    day = next_weekday(0)
    client = _client(api_client, clinic.coordinator)
    _book(clinic, local(day, 10))
    with CaptureQueriesContext(connection) as one:
        client.get("/fhir/Appointment")
    _book(clinic, local(day, 11), patient=clinic.patients[1])
    _book(
        clinic,
        local(day, 12),
        patient=clinic.patients[2],
        practitioners=[clinic.cardiologist, clinic.radiologists[0]],
        kind=clinic.mdt,
    )
    with CaptureQueriesContext(connection) as three:
        client.get("/fhir/Appointment")
    assert len(three) == len(one)


# Appointment: book and cancel


def test_posting_an_appointment_books_it(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """POST Appointment books through the service: 201, Location, one participant."""
    start = local(next_weekday(0), 10)
    client = _client(api_client, clinic.coordinator)
    response = _post(client, "/fhir/Appointment", _booking_body(clinic, start))
    appointment = Appointment.objects.get()
    assert (
        response.status_code,
        response["Location"],
        appointment.starts_at,
        list(appointment.participants.values_list("practitioner_id", flat=True)),
    ) == (
        201,
        f"http://testserver/fhir/Appointment/{appointment.pk}",
        start,
        [clinic.cardiologist.pk],
    )


def test_posted_time_zone_extension_is_kept(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """The tz-code extension sets the appointment's zone."""
    body = _booking_body(clinic, local(next_weekday(0), 10, zone="America/New_York"))
    body["extension"][0]["valueCode"] = "America/New_York"
    clinic.cardiologist.availability.update(time_zone="America/New_York")
    client = _client(api_client, clinic.coordinator)
    _post(client, "/fhir/Appointment", body)
    assert Appointment.objects.get().time_zone == "America/New_York"


def test_booking_a_taken_slot_is_409_slot_unavailable(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A second booking of the same time is a 409 with code slot_unavailable."""
    start = local(next_weekday(0), 10)
    _book(clinic, start, patient=clinic.patients[1])
    client = _client(api_client, clinic.coordinator)
    response = _post(client, "/fhir/Appointment", _booking_body(clinic, start))
    assert (response.status_code, _error_code(response)) == (409, "slot_unavailable")


def test_booking_outside_availability_is_400(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """18:00 is outside a 09-17 diary: 400 outside_availability."""
    start = local(next_weekday(0), 18)
    client = _client(api_client, clinic.coordinator)
    response = _post(client, "/fhir/Appointment", _booking_body(clinic, start))
    assert (response.status_code, _error_code(response)) == (
        400,
        "outside_availability",
    )


def test_booking_needs_a_known_consultation_type(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """An appointmentType code we do not offer is a 400 unknown_consultation_type."""
    body = _booking_body(clinic, local(next_weekday(0), 10))
    body["appointmentType"]["coding"][0]["code"] = "acupuncture"
    client = _client(api_client, clinic.coordinator)
    response = _post(client, "/fhir/Appointment", body)
    assert (response.status_code, _error_code(response)) == (
        400,
        "unknown_consultation_type",
    )


def test_posting_another_resource_type_is_invalid(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A Patient posted to Appointment is a 400 invalid_resource."""
    client = _client(api_client, clinic.coordinator)
    response = _post(client, "/fhir/Appointment", {"resourceType": "Patient"})
    assert (response.status_code, _error_code(response)) == (400, "invalid_resource")


def test_booking_a_patient_out_of_reach_is_404(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A coordinator cannot book a patient they have no care relationship with."""
    radiology_nurse = UserFactory(role=Role.NURSE, department=clinic.radiology)
    client = _client(api_client, radiology_nurse)
    body = _booking_body(clinic, local(next_weekday(0), 10))
    response = _post(client, "/fhir/Appointment", body)
    assert (response.status_code, _error_code(response)) == (404, "not_found")


def test_cancel_operation_cancels_with_the_reason(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """POST Appointment/<id>/$cancel with Parameters reason cancels with that code."""
    appointment = _book(clinic, local(next_weekday(0), 10))
    client = _client(api_client, clinic.coordinator)
    response = _post(
        client,
        f"/fhir/Appointment/{appointment.pk}/$cancel",
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "reason", "valueCode": "patient_request"}],
        },
    )
    body = response.json()
    assert (body["status"], body["cancelationReason"]["coding"][0]["code"]) == (
        "cancelled",
        "patient_request",
    )


def test_cancel_with_an_unknown_reason_is_400(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A reason outside our cancellation codes is a 400 invalid_reason."""
    appointment = _book(clinic, local(next_weekday(0), 10))
    client = _client(api_client, clinic.coordinator)
    response = _post(
        client,
        f"/fhir/Appointment/{appointment.pk}/$cancel",
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "reason", "valueCode": "bored"}],
        },
    )
    assert (response.status_code, _error_code(response)) == (400, "invalid_reason")


def test_cancelling_another_hospitals_appointment_is_404(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """$cancel on another hospital's appointment is a 404 and changes nothing."""
    appointment = _book(clinic, local(next_weekday(0), 10))
    client = _client(api_client, _outsider())
    response = _post(
        client,
        f"/fhir/Appointment/{appointment.pk}/$cancel",
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "reason", "valueCode": "duplicate"}],
        },
    )
    appointment.refresh_from_db()
    assert (response.status_code, appointment.status) == (404, "booked")


# Authentication


def test_anonymous_request_is_401_operation_outcome(db, api_client) -> None:  # type: ignore[no-untyped-def]
    """Without credentials the answer is 401 with an OperationOutcome."""
    response = api_client.get("/fhir/Schedule")
    assert (response.status_code, _error_code(response)) == (401, "not_authenticated")


def test_device_token_authenticates(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A device token is accepted like a session."""
    _token, raw = device_token_create(user=clinic.coordinator, name="EHR bridge")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert api_client.get("/fhir/Schedule").json()["total"] == 3


def test_roles_without_a_diary_are_403(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A trainee is refused with 403 permission_denied."""
    trainee = UserFactory(role=Role.TRAINEE, department=clinic.cardiology)
    client = _client(api_client, trainee)
    response = client.get("/fhir/Appointment")
    assert (response.status_code, _error_code(response)) == (403, "permission_denied")
