"""The emergency HTTP API: open, ingest with a device token, backfill, handoff, FHIR."""

from __future__ import annotations

import base64
import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from fhir.resources.R4B.bundle import Bundle

from consult.accounts.services import device_token_create
from consult.emergency import ingest, services
from tests.consult.emergency.conftest import CTX, NORMAL, batch_dict, batch_in, numerics

pytestmark = pytest.mark.django_db
CASES = "/api/emergency/cases/"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200


def _vitals_url(case) -> str:  # type: ignore[no-untyped-def]
    return f"{CASES}{case.pk}/vitals/"


def test_crew_opens_a_case_over_the_api(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """POST /cases/ answers 201 with the case, its text and status opened."""
    api_client.force_login(world.paramedic)
    response = api_client.post(
        CASES,
        {
            "destination": world.hospital.pk,
            "category": "stroke",
            "estimated_age": 71,
            "sex": "female",
            "chief_complaint": "Left arm weakness",
        },
        format="json",
    )
    body = response.json()
    assert (response.status_code, body["status"], body["text"]["chief_complaint"]) == (
        201,
        "opened",
        "Left arm weakness",
    )


def test_unknown_fields_are_refused(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """A stray key gets 400 unknown_field."""
    api_client.force_login(world.paramedic)
    response = api_client.post(
        CASES,
        {"destination": world.hospital.pk, "category": "stemi", "name": "Bob"},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (400, "unknown_field")


def test_device_token_ingests_and_gets_acks(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """A monitor with a device token posts batches and gets acked_through."""
    case = world.open_case()
    _token, raw = device_token_create(user=world.paramedic, name="monitor")
    stream = uuid.uuid4()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    response = api_client.post(
        _vitals_url(case),
        {"batches": [batch_dict(stream, s) for s in range(4)]},
        format="json",
    )
    assert (response.status_code, response.json()["acks"][0]["acked_through"]) == (
        200,
        3,
    )


def test_oversized_waveform_batch_is_invalid(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """More than 2000 samples in one batch is invalid_message."""
    case = world.open_case()
    api_client.force_login(world.paramedic)
    payload = {"lead": "II", "unit": "uV", "samples": [0] * 2001}
    response = api_client.post(
        _vitals_url(case),
        {"batches": [batch_dict(uuid.uuid4(), 0, payload=payload)]},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_message")


def test_nan_literal_is_malformed_json(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """NaN is not JSON: 400 malformed_json (devices send null or a string)."""
    case = world.open_case()
    api_client.force_login(world.paramedic)
    response = api_client.post(
        _vitals_url(case), data='{"batches": [NaN]}', content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "malformed_json")


def test_board_backfills_after_a_seq(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """GET ?stream=&after_seq=2 returns seqs 3 and 4 in order."""
    case = world.open_case()
    stream = uuid.uuid4()
    ingest.vitals_ingest(
        actor=world.paramedic,
        case_id=case.pk,
        batches=[batch_in(stream, s) for s in range(5)],
        ctx=CTX,
    )
    api_client.force_login(world.operator)
    response = api_client.get(
        _vitals_url(case), {"stream": str(stream), "after_seq": 2}
    )
    assert [b["seq"] for b in response.json()["batches"]] == [3, 4]


def test_other_hospital_cannot_backfill(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """Another hospital's operator gets 404."""
    case = world.open_case()
    stream = uuid.uuid4()
    ingest.vitals_ingest(
        actor=world.paramedic, case_id=case.pk, batches=[batch_in(stream, 0)], ctx=CTX
    )
    api_client.force_login(world.other_hospital_operator)
    response = api_client.get(_vitals_url(case), {"stream": str(stream)})
    assert response.status_code == 404


def test_trainee_gets_403_on_the_board(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """A trainee listing cases gets 403 permission_denied."""
    api_client.force_login(world.trainee)
    response = api_client.get(CASES)
    assert (response.status_code, response.json()["code"]) == (
        403,
        "permission_denied",
    )


def test_operator_accepts_over_the_api(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """POST accept with activate_teams: accepted, bay set, cath lab activated."""
    case = world.open_case(category="stemi")
    api_client.force_login(world.operator)
    response = api_client.post(
        f"{CASES}{case.pk}/accept/",
        {"department": world.cardiology.pk, "bay": "Cath 1", "activate_teams": True},
        format="json",
    )
    body = response.json()
    assert (
        body["status"],
        body["encounter"]["bay"],
        [a["team"]["code"] for a in body["activations"]],
    ) == ("accepted", "Cath 1", ["cath_lab"])


def test_accept_of_a_category_without_a_team_succeeds_over_the_api(
    world, api_client
) -> None:  # type: ignore[no-untyped-def]
    """activate_teams for a stroke (no stroke team): 200, accepted, no_team."""
    case = world.open_case(category="stroke")
    api_client.force_login(world.operator)
    response = api_client.post(
        f"{CASES}{case.pk}/accept/",
        {"department": world.emergency.pk, "bay": "Resus 2", "activate_teams": True},
        format="json",
    )
    body = response.json()
    assert (
        response.status_code,
        body["status"],
        body["encounter"]["bay"],
        body["activations"],
        body["team_activation"],
    ) == (200, "accepted", "Resus 2", [], "no_team")


def test_member_acknowledges_over_the_api(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """POST acknowledge returns the time."""
    case = world.open_case(category="stemi")
    (activation,) = services.team_activate(
        actor=world.operator, case_id=case.pk, ctx=CTX
    )
    api_client.force_login(world.nurse)
    response = api_client.post(
        f"/api/emergency/activations/{activation.pk}/acknowledge/"
    )
    assert (response.status_code, response.json()["acknowledged_at"] is not None) == (
        200,
        True,
    )


def test_photo_is_stored_encrypted_and_served_to_the_hospital(
    world, api_client
) -> None:  # type: ignore[no-untyped-def]
    """The crew uploads a JPEG; the operator downloads the same bytes, no-store."""
    case = world.open_case()
    api_client.force_login(world.paramedic)
    upload = api_client.post(
        f"{CASES}{case.pk}/attachments/",
        {"file": SimpleUploadedFile("scene.jpg", JPEG), "kind": "photo"},
        format="multipart",
    )
    api_client.force_login(world.operator)
    download = api_client.get(upload.json()["url"])
    assert (download.content, download["Cache-Control"]) == (JPEG, "no-store, private")


def test_attachment_type_comes_from_the_bytes(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """A text file named .jpg is unsupported_type."""
    case = world.open_case()
    api_client.force_login(world.paramedic)
    response = api_client.post(
        f"{CASES}{case.pk}/attachments/",
        {"file": SimpleUploadedFile("x.jpg", b"hello"), "kind": "photo"},
        format="multipart",
    )
    assert (response.status_code, response.json()["code"]) == (400, "unsupported_type")


def test_attachment_is_not_served_to_another_hospital(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """Another hospital's operator gets 404 for the photo."""
    case = world.open_case()
    attachment = services.attachment_add(
        actor=world.paramedic, case_id=case.pk, data=JPEG, kind="photo", ctx=CTX
    )
    api_client.force_login(world.other_hospital_operator)
    response = api_client.get(f"{CASES}{case.pk}/attachments/{attachment.pk}/")
    assert response.status_code == 404


def _case_with_vitals(world):  # type: ignore[no-untyped-def]
    case = world.open_case(category="stemi")
    numerics_stream, ecg_stream = uuid.uuid4(), uuid.uuid4()
    sets = [NORMAL, {**NORMAL, "hr": 118, "rr": 22}, {**NORMAL, "hr": 900}]
    ingest.vitals_ingest(
        actor=world.paramedic,
        case_id=case.pk,
        batches=[
            batch_in(numerics_stream, i, kind="numerics", payload=numerics(**values))
            for i, values in enumerate(sets)
        ]
        + [batch_in(ecg_stream, s) for s in range(4)],
        ctx=CTX,
    )
    services.case_accept(
        actor=world.operator,
        case_id=case.pk,
        department_id=world.cardiology.pk,
        bay="Cath 1",
        ctx=CTX,
    )
    return case


def test_handoff_json_has_atmist_and_imist_ambo(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """Letters in order, the complaint in M, treatment in T, NEWS2 in S."""
    case = _case_with_vitals(world)
    api_client.force_login(world.operator)
    body = api_client.get(f"{CASES}{case.pk}/handoff/").json()
    atmist = {row["heading"]: row["text"] for row in body["atmist"]}
    assert (
        "".join(r["letter"] for r in body["atmist"]),
        "".join(r["letter"] for r in body["imist_ambo"]),
        "Canarycomplaint" in atmist["Medical problem"],
        atmist["Treatment"],
        "NEWS2" in atmist["Signs"],
        "Cath 1" in atmist["Requirements"],
    ) == ("ATMISTER", "IMISTAMBO", True, "Aspirin 300 mg", True, True)


def test_handoff_trend_keeps_the_flag_and_drops_the_value(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """HR 900 shows as a flag in the trend, never as an HR."""
    case = _case_with_vitals(world)
    api_client.force_login(world.operator)
    last = api_client.get(f"{CASES}{case.pk}/handoff/").json()["trend"][-1]
    assert ("hr" in last, last["flags"]) == (False, ["hr:implausible"])


def test_handoff_page_is_printable_html(world, client) -> None:  # type: ignore[no-untyped-def]
    """The page renders both formats with a print stylesheet."""
    case = _case_with_vitals(world)
    client.force_login(world.operator)
    html = client.get(f"/emergency/cases/{case.pk}/handoff/").content.decode()
    assert all(s in html for s in ("ATMIST", "IMIST-AMBO", "@media print", "Cath 1"))


def test_fhir_export_validates_and_uses_loinc(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """The bundle validates (R4B); vitals carry LOINC; the ECG is SampledData."""
    case = _case_with_vitals(world)
    api_client.force_login(world.operator)
    body = api_client.get(f"{CASES}{case.pk}/fhir/").json()
    Bundle.model_validate(body)
    resources = [e["resource"] for e in body["entry"]]
    codes = {
        r["code"]["coding"][0]["code"]
        for r in resources
        if r["resourceType"] == "Observation"
    }
    ecg = next(
        r
        for r in resources
        if r.get("code", {}).get("coding", [{}])[0].get("code") == "131328"
    )
    assert (
        {"8867-4", "59408-5", "85354-9", "9279-1", "8310-5"} <= codes,
        ecg["component"][0]["valueSampledData"]["period"],
        [r["status"] for r in resources if r["resourceType"] == "Encounter"],
    ) == (True, 4.0, ["planned"])


def test_fhir_export_leaves_out_implausible_values(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """No heart-rate observation carries 900."""
    case = _case_with_vitals(world)
    api_client.force_login(world.operator)
    body = api_client.get(f"{CASES}{case.pk}/fhir/").json()
    rates = [
        e["resource"]["valueQuantity"]["value"]
        for e in body["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "8867-4"
    ]
    assert rates == [80, 118]


def test_openapi_schema_lists_the_emergency_api(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """The schema renders and includes the vitals endpoint."""
    api_client.force_login(world.operator)
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert (
        b"/api/emergency/cases/{case_id}/vitals/"
        in io.BytesIO(response.content).getvalue()
    )


OUTBOX_KEY = "/api/emergency/outbox-key/"


def _outbox_keys(api_client, user, device: str) -> list[dict]:  # type: ignore[no-untyped-def]
    api_client.force_login(user)
    return api_client.get(OUTBOX_KEY, {"device": device}).json()["keys"]


def test_outbox_key_is_the_same_for_a_device_and_never_cached(
    world, api_client
) -> None:  # type: ignore[no-untyped-def]
    """Two fetches (a reload, a new session) give the same 256-bit key; no-store."""
    first = _outbox_keys(api_client, world.paramedic, "phone-1")
    api_client.logout()
    api_client.force_login(world.paramedic)
    response = api_client.get(OUTBOX_KEY, {"device": "phone-1"})
    second = response.json()["keys"]
    assert (
        first == second,
        len(base64.b64decode(first[0]["key"])),
        response["Cache-Control"],
    ) == (True, 32, "no-store, private")


def test_outbox_keys_differ_by_device_and_by_user(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """Another phone of the same paramedic, or another paramedic: another key."""
    mine = _outbox_keys(api_client, world.paramedic, "phone-1")[0]["key"]
    other_phone = _outbox_keys(api_client, world.paramedic, "phone-2")[0]["key"]
    partner = _outbox_keys(api_client, world.partner, "phone-1")[0]["key"]
    assert len({mine, other_phone, partner}) == 3


def test_outbox_keys_survive_a_secret_rotation(world, api_client, settings) -> None:  # type: ignore[no-untyped-def]
    """The old secret in SECRET_KEY_FALLBACKS still gives the old key, second."""
    before = _outbox_keys(api_client, world.paramedic, "phone-1")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "another-test-only-secret-0123456789abcdefghijklmnop"  # noqa: S105
    after = _outbox_keys(api_client, world.paramedic, "phone-1")
    assert (len(after), after[1], after[0]["kid"] != before[0]["kid"]) == (
        2,
        before[0],
        True,
    )


def test_outbox_key_is_for_crews_only(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """An operator gets 403: hospital pages have no outbox."""
    api_client.force_login(world.operator)
    response = api_client.get(OUTBOX_KEY, {"device": "phone-1"})
    assert response.status_code == 403


def test_outbox_key_refuses_a_malformed_device_id(world, api_client) -> None:  # type: ignore[no-untyped-def]
    """A device id outside [\\w.:-]{1,64} is invalid_device."""
    api_client.force_login(world.paramedic)
    response = api_client.get(OUTBOX_KEY, {"device": "phone 1/../x"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_device")
