"""Cases: destination hospitals, the case list (open a case), one case (correct it)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.accounts.models import Organisation
from consult.emergency import selectors, services
from consult.emergency.api._common import _ctx
from consult.emergency.casetext import TEXT_FIELDS, CaseText
from consult.emergency.models import Category, EmergencyCase, ReceivingHospital
from consult.exceptions import PermissionDenied
from consult.serializers import StrictSerializer

TEXT_MAX = 2000


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
