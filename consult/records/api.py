"""Patient record endpoints. Views parse, call one selector or service, respond."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.exceptions import NotFound, PermissionDenied
from consult.records import monitor, selectors, services
from consult.records.context import AccessContext
from consult.records.models import AccessAlert
from consult.records.phi import PatientPHI
from consult.serializers import StrictSerializer

SEX_CHOICES = ["female", "male", "other", "unknown"]


class PatientWriteSerializer(StrictSerializer):
    family_name = serializers.CharField(max_length=100)
    given_name = serializers.CharField(max_length=100)
    birth_date = serializers.DateField()
    sex = serializers.ChoiceField(choices=SEX_CHOICES)
    mrn = serializers.RegexField(r"^[A-Za-z0-9\-]{3,32}$", max_length=32)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=200, required=False, allow_blank=True)
    address = serializers.CharField(max_length=300, required=False, allow_blank=True)
    allergies = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=50, required=False
    )
    notes = serializers.CharField(max_length=10_000, required=False, allow_blank=True)

    def validate_birth_date(self, value: Any) -> Any:
        if value > timezone.localdate():
            raise serializers.ValidationError(
                "In the future.", code="birth_date_in_future"
            )
        return value


class PatientSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    display_name = serializers.CharField()
    birth_date = serializers.DateField()
    sex = serializers.CharField()
    mrn = serializers.CharField()


class PatientSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    organisation = serializers.CharField()
    family_name = serializers.CharField(source="phi.family_name")
    given_name = serializers.CharField(source="phi.given_name")
    birth_date = serializers.DateField(source="phi.birth_date")
    sex = serializers.CharField(source="phi.sex")
    mrn = serializers.CharField(source="phi.mrn")
    phone = serializers.CharField(source="phi.phone")
    email = serializers.CharField(source="phi.email")
    address = serializers.CharField(source="phi.address")
    allergies = serializers.ListField(
        child=serializers.CharField(), source="phi.allergies"
    )
    notes = serializers.CharField(source="phi.notes")
    access_reason = serializers.CharField(source="explanation")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PatientListQuery(StrictSerializer):
    mrn = serializers.CharField(max_length=32, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=100_000, default=0)


def _ctx(request: Request) -> AccessContext:
    channel = (
        "api"
        if request.auth is not None or request.path.startswith("/api/")
        else "page"
    )
    return AccessContext.from_request(request, channel=channel)


def _phi(data: dict[str, Any]) -> PatientPHI:
    data = dict(data)
    data["allergies"] = tuple(data.get("allergies", ()))
    return PatientPHI(**data)


class PatientListView(APIView):
    """List the patients you may see, or register one."""

    @extend_schema(
        parameters=[
            OpenApiParameter("mrn", str, description="Exact MRN look-up"),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses=PatientSummarySerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = PatientListQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        page, total = selectors.patient_list(
            actor=request.user, ctx=_ctx(request), **query.validated_data
        )
        return Response(
            {"count": total, "results": PatientSummarySerializer(page, many=True).data}
        )

    @extend_schema(request=PatientWriteSerializer, responses={201: PatientSerializer})
    def post(self, request: Request) -> Response:
        payload = PatientWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        ctx = _ctx(request)
        phi = _phi(payload.validated_data)
        patient = services.patient_create(actor=request.user, phi=phi, ctx=ctx)
        # The one relationship patient_create just made: department or registration.
        link = patient.care_relationships.get()
        detail = selectors.patient_detail_of(patient, phi, explanation=link.kind)
        return Response(PatientSerializer(detail).data, status=status.HTTP_201_CREATED)


class PatientDetailView(APIView):
    """Read, change or retire one patient record."""

    @extend_schema(responses=PatientSerializer)
    def get(self, request: Request, patient_id: str) -> Response:
        detail = selectors.patient_get(
            actor=request.user, patient_id=patient_id, ctx=_ctx(request)
        )
        return Response(PatientSerializer(detail).data)

    @extend_schema(
        request=PatientWriteSerializer(partial=True), responses=PatientSerializer
    )
    def patch(self, request: Request, patient_id: str) -> Response:
        payload = PatientWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        changes = dict(payload.validated_data)
        if "allergies" in changes:
            changes["allergies"] = tuple(changes["allergies"])
        patient, phi, explanation = services.patient_update(
            actor=request.user,
            patient_id=patient_id,
            changes=changes,
            ctx=_ctx(request),
        )
        detail = selectors.patient_detail_of(patient, phi, explanation=explanation)
        return Response(PatientSerializer(detail).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, patient_id: str) -> Response:
        services.patient_delete(
            actor=request.user, patient_id=patient_id, ctx=_ctx(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class PatientFhirView(APIView):
    """Export one patient as a FHIR R4 Patient resource."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request, patient_id: str) -> Response:
        resource = selectors.patient_export_fhir(
            actor=request.user, patient_id=patient_id, ctx=_ctx(request)
        )
        return Response(resource, content_type="application/fhir+json")


class BreakGlassSerializer(StrictSerializer):
    reason = serializers.ChoiceField(
        choices=[
            "emergency_treatment",
            "covering_colleague",
            "patient_request",
            "other",
        ]
    )


class PatientBreakGlassView(APIView):
    """Emergency access to a patient of your organisation; audited and monitored."""

    @extend_schema(request=BreakGlassSerializer, responses={201: dict})
    def post(self, request: Request, patient_id: str) -> Response:
        payload = BreakGlassSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        link = services.patient_break_glass(
            actor=request.user,
            patient_id=patient_id,
            reason=payload.validated_data["reason"],
            ctx=_ctx(request),
        )
        return Response({"until": link.ends_at}, status=status.HTTP_201_CREATED)


class AccessAlertSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = AccessAlert
        fields = [
            "id",
            "username",
            "rule",
            "detail",
            "raised_at",
            "cleared_at",
            "blocking",
        ]


def _require_administrator(request: Request) -> None:
    if getattr(request.user, "role", None) != "administrator":
        raise PermissionDenied()


class AccessAlertListView(APIView):
    """Unusual-access alerts, for administrators."""

    @extend_schema(responses=AccessAlertSerializer(many=True))
    def get(self, request: Request) -> Response:
        _require_administrator(request)
        alerts = AccessAlert.objects.select_related("user").filter(
            user__organisation_id=request.user.organisation_id
        )[:200]
        return Response(AccessAlertSerializer(alerts, many=True).data)


class AccessAlertClearView(APIView):
    """Clear an alert, lifting the user's block (audited)."""

    @extend_schema(request=None, responses=AccessAlertSerializer)
    def post(self, request: Request, alert_id: int) -> Response:
        _require_administrator(request)
        alert = (
            AccessAlert.objects.select_related("user")
            .filter(pk=alert_id, user__organisation_id=request.user.organisation_id)
            .first()
        )
        if alert is None:
            raise NotFound()
        monitor.access_alert_clear(alert=alert, by=request.user, ctx=_ctx(request))
        return Response(AccessAlertSerializer(alert).data)
