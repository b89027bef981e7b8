"""Emergency endpoints: cases, vitals ingest and backfill, pre-admission, teams.

Views parse, call one service or selector, and respond. Errors are
``{"detail": ..., "code": ...}`` with stable codes.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import ValidationError as PydanticValidationError
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.accounts.models import Organisation
from consult.emergency import (
    fhir,
    handoff,
    ingest,
    outbox_keys,
    schemas,
    selectors,
    services,
)
from consult.emergency.casetext import TEXT_FIELDS, CaseText
from consult.emergency.models import Category, EmergencyCase, ReceivingHospital, Team
from consult.exceptions import PermissionDenied
from consult.records.context import AccessContext
from consult.serializers import StrictSerializer

TEXT_MAX = 2000


def _ctx(request: Request) -> AccessContext:
    return AccessContext.from_request(request, channel="api")


def _text_field() -> serializers.CharField:
    return serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)


class CaseOpenSerializer(StrictSerializer):
    destination = serializers.IntegerField(min_value=1)
    category = serializers.ChoiceField(choices=Category.choices)
    estimated_age = serializers.IntegerField(
        min_value=0, max_value=120, required=False, allow_null=True
    )
    sex = serializers.ChoiceField(
        choices=EmergencyCase.Sex.choices, default=EmergencyCase.Sex.UNKNOWN
    )
    consent_to_broadcast = serializers.BooleanField(default=False)
    call_received_at = serializers.DateTimeField(required=False)
    chief_complaint = _text_field()
    mechanism = _text_field()
    injuries = _text_field()
    treatment = _text_field()
    allergies = _text_field()
    medications = _text_field()
    background = _text_field()
    other = _text_field()


class CaseUpdateSerializer(StrictSerializer):
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    estimated_age = serializers.IntegerField(
        min_value=0, max_value=120, required=False, allow_null=True
    )
    sex = serializers.ChoiceField(choices=EmergencyCase.Sex.choices, required=False)
    consent_to_broadcast = serializers.BooleanField(required=False)
    chief_complaint = _text_field()
    mechanism = _text_field()
    injuries = _text_field()
    treatment = _text_field()
    allergies = _text_field()
    medications = _text_field()
    background = _text_field()
    other = _text_field()


def detail_json(detail: selectors.CaseDetail) -> dict[str, Any]:
    """A case detail as the API returns it."""
    return {
        **detail.summary,
        "patient": detail.patient_id,
        "text": {name: getattr(detail.text, name) for name in TEXT_FIELDS},
        "news2_history": detail.news2_history,
        "attachments": detail.attachments,
        "access_reason": detail.access_reason,
    }


class HospitalListView(APIView):
    """Receiving hospitals a crew can choose as destination (with their position)."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        user = request.user
        if not (selectors.is_crew(user) or selectors.is_hospital_staff(user)):
            raise PermissionDenied()
        sites = {
            s.organisation_id: s
            for s in ReceivingHospital.objects.filter(accepting=True)
        }
        hospitals = Organisation.objects.filter(
            kind=Organisation.Kind.HOSPITAL, pk__in=list(sites)
        ).order_by("name")
        return Response(
            {
                "hospitals": [
                    {
                        "id": h.pk,
                        "name": h.name,
                        "lat": sites[h.pk].lat,
                        "lon": sites[h.pk].lon,
                        "departments": [
                            {"id": d.pk, "name": d.name, "specialty": d.specialty}
                            for d in h.departments.all()
                        ],
                    }
                    for h in hospitals.prefetch_related("departments")
                ]
            }
        )


class CaseListView(APIView):
    """GET: the crew's cases or the hospital's inbound board. POST: open a case."""

    @extend_schema(
        operation_id="emergency_cases_list",
        parameters=[OpenApiParameter("all", bool, description="Include finished.")],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        active_only = request.query_params.get("all") not in ("1", "true")
        cases = selectors.case_list(
            actor=request.user, ctx=_ctx(request), active_only=active_only
        )
        return Response({"cases": cases})

    @extend_schema(request=CaseOpenSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        body = CaseOpenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        case = services.case_open(
            actor=request.user,
            destination_id=data["destination"],
            category=data["category"],
            estimated_age=data.get("estimated_age"),
            sex=data["sex"],
            text=CaseText(**{k: data.get(k, "") for k in TEXT_FIELDS}),
            consent_to_broadcast=data["consent_to_broadcast"],
            call_received_at=data.get("call_received_at"),
            ctx=_ctx(request),
        )
        detail = selectors.case_detail(
            actor=request.user, case_id=case.pk, ctx=_ctx(request)
        )
        return Response(detail_json(detail), status=status.HTTP_201_CREATED)


class CaseDetailView(APIView):
    """GET: one case in full (audited). PATCH: the crew corrects it."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request, case_id: str) -> Response:
        detail = selectors.case_detail(
            actor=request.user, case_id=case_id, ctx=_ctx(request)
        )
        return Response(detail_json(detail))

    @extend_schema(request=CaseUpdateSerializer, responses={200: dict})
    def patch(self, request: Request, case_id: str) -> Response:
        body = CaseUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.case_update(
            actor=request.user,
            case_id=case_id,
            changes=body.validated_data,
            ctx=_ctx(request),
        )
        detail = selectors.case_detail(
            actor=request.user, case_id=case_id, ctx=_ctx(request)
        )
        return Response(detail_json(detail))


class AcceptSerializer(StrictSerializer):
    department = serializers.IntegerField(min_value=1)
    bay = serializers.RegexField(r"^[\w .\-/]{0,32}$", max_length=32, default="")
    activate_teams = serializers.BooleanField(default=False)


class CaseAcceptView(APIView):
    """Accept and pre-admit: planned encounter, department and bay; teams optional."""

    @extend_schema(request=AcceptSerializer, responses={200: dict})
    def post(self, request: Request, case_id: str) -> Response:
        body = AcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.case_accept(
            actor=request.user,
            case_id=case_id,
            department_id=body.validated_data["department"],
            bay=body.validated_data["bay"],
            activate_teams=body.validated_data["activate_teams"],
            ctx=_ctx(request),
        )
        return Response(
            {
                **selectors.summary_of(case_id),
                "team_activation": result.team_activation,
            }
        )


class ActivateSerializer(StrictSerializer):
    team = serializers.IntegerField(min_value=1, required=False)


class CaseActivateView(APIView):
    """Activate the category's teams (or one named team); members are alerted."""

    @extend_schema(request=ActivateSerializer, responses={200: dict})
    def post(self, request: Request, case_id: str) -> Response:
        body = ActivateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.team_activate(
            actor=request.user,
            case_id=case_id,
            team_id=body.validated_data.get("team"),
            ctx=_ctx(request),
        )
        return Response(selectors.summary_of(case_id))


class TeamListView(APIView):
    """The teams of the user's hospital and the categories that activate them."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        selectors.require_hospital_staff(request.user)
        teams = Team.objects.filter(
            organisation_id=request.user.organisation_id
        ).prefetch_related("members")
        return Response(
            {
                "teams": [
                    {
                        "id": t.pk,
                        "code": t.code,
                        "name": t.name,
                        "activates_for": t.activates_for,
                        "members": [m.pk for m in t.members.all()],
                    }
                    for t in teams
                ]
            }
        )


class OutboxKeyView(APIView):
    """The crew phone's outbox keys for one device (``outbox_keys``); never cached."""

    @extend_schema(
        parameters=[OpenApiParameter("device", str, required=True)],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        keys = outbox_keys.outbox_keys(
            actor=request.user, device_id=request.query_params.get("device", "")
        )
        response = Response({"keys": keys})
        response["Cache-Control"] = "no-store, private"
        return response


class AcknowledgeView(APIView):
    """A team member acknowledges an activation."""

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request, activation_id: str) -> Response:
        ack = services.team_acknowledge(
            actor=request.user, activation_id=activation_id, ctx=_ctx(request)
        )
        return Response(
            {
                "activation": ack.activation_id,
                "case": str(ack.activation.case_id),
                "acknowledged_at": ack.acknowledged_at,
            }
        )


class _StepView(APIView):
    """A status step with no body."""

    step: Any = None

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request, case_id: str) -> Response:
        type(self).step(actor=request.user, case_id=case_id, ctx=_ctx(request))
        return Response(selectors.summary_of(case_id))


class CaseDepartView(_StepView):
    """The crew leaves the scene."""

    step = staticmethod(services.case_depart)


class CaseArriveView(_StepView):
    """The ambulance is at the door."""

    step = staticmethod(services.case_arrive)


class CaseHandoverView(_StepView):
    """The receiving team has the patient."""

    step = staticmethod(services.case_handover)


class ReasonSerializer(StrictSerializer):
    reason = serializers.ChoiceField(choices=services.DIVERT_REASONS, default="other")


class CaseDivertView(APIView):
    """The hospital diverts the ambulance elsewhere."""

    @extend_schema(request=ReasonSerializer, responses={200: dict})
    def post(self, request: Request, case_id: str) -> Response:
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.case_divert(
            actor=request.user,
            case_id=case_id,
            reason=body.validated_data["reason"],
            ctx=_ctx(request),
        )
        return Response(selectors.summary_of(case_id))


class CloseSerializer(StrictSerializer):
    reason = serializers.ChoiceField(
        choices=["not_conveyed", "deceased", "duplicate", "other"], default="other"
    )


class CaseCloseView(APIView):
    """The crew closes a case that will not reach the hospital."""

    @extend_schema(request=CloseSerializer, responses={200: dict})
    def post(self, request: Request, case_id: str) -> Response:
        body = CloseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.case_close(
            actor=request.user,
            case_id=case_id,
            reason=body.validated_data["reason"],
            ctx=_ctx(request),
        )
        return Response(selectors.summary_of(case_id))


class BackfillQuery(StrictSerializer):
    stream = serializers.UUIDField()
    after_seq = serializers.IntegerField(min_value=-1, default=-1)
    limit = serializers.IntegerField(
        min_value=1, max_value=selectors.MAX_BACKFILL, default=200
    )


def _invalid(exc: PydanticValidationError) -> Response:
    fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
    return Response(
        {
            "detail": "Invalid batches.",
            "code": "invalid_message",
            "fields": fields[:10],
        },
        status=status.HTTP_400_BAD_REQUEST,
    )


class VitalsView(APIView):
    """GET: backfill one stream after a seq. POST: ingest batches (device or outbox).

    POST body: ``{"batches": [<batch>, ...]}`` (at most 32); the answer holds
    one ack per stream, sent after the commit, and per-batch refusals.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("stream", str, required=True),
            OpenApiParameter("after_seq", int),
            OpenApiParameter("limit", int),
        ],
        responses={200: dict},
    )
    def get(self, request: Request, case_id: str) -> Response:
        query = BackfillQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = query.validated_data
        return Response(
            selectors.vitals_after(
                actor=request.user,
                case_id=case_id,
                stream_id=data["stream"],
                after_seq=data["after_seq"],
                limit=data["limit"],
                ctx=_ctx(request),
            )
        )

    @extend_schema(request=dict, responses={200: dict})
    def post(self, request: Request, case_id: str) -> Response:
        body = request.data
        if not isinstance(body, dict) or set(body) != {"batches"}:
            return Response(
                {"detail": 'Expected {"batches": [...]}.', "code": "malformed_message"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            message = schemas.Batches.model_validate(
                {"type": "batches", "items": body["batches"]}
            )
        except PydanticValidationError as exc:
            return _invalid(exc)
        result = ingest.vitals_ingest(
            actor=request.user,
            case_id=case_id,
            batches=[schemas.batch_in(item) for item in message.items],
            ctx=_ctx(request),
        )
        return Response(
            {
                "acks": [ack.message() for ack in result.acks],
                "errors": result.errors,
                "inserted": result.inserted,
            }
        )


class LocationSerializer(StrictSerializer):
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lon = serializers.FloatField(min_value=-180, max_value=180)
    accuracy_m = serializers.FloatField(min_value=0, max_value=100_000, required=False)
    speed_mps = serializers.FloatField(min_value=0, max_value=150, required=False)
    heading = serializers.FloatField(min_value=0, max_value=360, required=False)
    at = serializers.DateTimeField()


class LocationView(APIView):
    """A position from the crew's device; answers with the ETA."""

    @extend_schema(request=LocationSerializer, responses={200: dict})
    def post(self, request: Request, case_id: str) -> Response:
        body = LocationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(
            services.location_record(
                actor=request.user, case_id=case_id, **body.validated_data
            )
        )


class TimelineView(APIView):
    """Every event of the case and the intervals (call-to-door, door-to-team...)."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request, case_id: str) -> Response:
        return Response(
            selectors.case_timeline(
                actor=request.user, case_id=case_id, ctx=_ctx(request)
            )
        )


class HandoffView(APIView):
    """The handoff report as JSON: ATMIST and IMIST-AMBO with the vitals trend."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request, case_id: str) -> Response:
        report = handoff.handoff_report(
            actor=request.user, case_id=case_id, ctx=_ctx(request)
        )
        return Response(report.as_json())


class FhirView(APIView):
    """The case as a FHIR R4 Bundle: Encounter and vitals Observations (LOINC)."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request, case_id: str) -> Response:
        bundle = fhir.case_export_fhir(
            actor=request.user, case_id=case_id, ctx=_ctx(request)
        )
        return Response(bundle, content_type="application/fhir+json")


class AttachmentUploadSerializer(StrictSerializer):
    file = serializers.FileField()
    kind = serializers.ChoiceField(
        choices=["photo", "ecg_12_lead", "document"], default="photo"
    )


class AttachmentListView(APIView):
    """POST a photo or an ECG printout (multipart ``file``, ``kind``)."""

    parser_classes = [MultiPartParser]

    @extend_schema(request=AttachmentUploadSerializer, responses={201: dict})
    def post(self, request: Request, case_id: str) -> Response:
        body = AttachmentUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        if upload.size > services.MAX_ATTACHMENT_BYTES:
            raise services.AttachmentRefused("At most 10 MB.", code="too_large")
        attachment = services.attachment_add(
            actor=request.user,
            case_id=case_id,
            data=upload.read(),
            kind=body.validated_data["kind"],
            ctx=_ctx(request),
        )
        return Response(
            {
                "id": str(attachment.pk),
                "kind": attachment.kind,
                "content_type": attachment.content_type,
                "size": attachment.size,
                "url": request.build_absolute_uri(
                    f"/api/emergency/cases/{case_id}/attachments/{attachment.pk}/"
                ),
            },
            status=status.HTTP_201_CREATED,
        )


class AttachmentDetailView(APIView):
    """The attachment's bytes, only to those who may read the case (audited)."""

    @extend_schema(responses={200: bytes})
    def get(self, request: Request, case_id: str, attachment_id: str) -> HttpResponse:
        data, content_type = services.attachment_read(
            actor=request.user,
            case_id=case_id,
            attachment_id=attachment_id,
            ctx=_ctx(request),
        )
        response = HttpResponse(data, content_type=content_type)
        response["Cache-Control"] = "no-store, private"
        response["Content-Disposition"] = "inline"
        return response
