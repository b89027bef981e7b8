"""Waiting-room endpoints for clinicians and coordinators."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.records.context import AccessContext
from consult.records.selectors import patient_labels
from consult.scheduling import waiting
from consult.scheduling.selectors import require_scheduler


def _ctx(request: Request) -> AccessContext:
    return AccessContext.from_request(request, channel="api")


class PatientLinkView(APIView):
    """Issue the patient's one-time join link (older unused links stop working)."""

    @extend_schema(request=None, responses={201: dict})
    def post(self, request: Request, appointment_id: str) -> Response:
        path, expires_at = waiting.patient_link_issue(
            actor=request.user, appointment_id=appointment_id, ctx=_ctx(request)
        )
        return Response(
            {"url": request.build_absolute_uri(path), "expires_at": expires_at},
            status=status.HTTP_201_CREATED,
        )


class WaitingListView(APIView):
    """Patients waiting for your consultations, with wait times and device checks."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        require_scheduler(request.user)
        rows = waiting.waiting_list(request.user)
        labels = patient_labels(
            actor=request.user,
            patient_ids=[r.patient_id for r in rows],
            ctx=_ctx(request),
        )
        return Response(
            {
                "waiting": [
                    {
                        "appointment": r.appointment_id,
                        "patient": labels.get(r.patient_id, "Patient"),
                        "consultation": r.consultation,
                        "starts_at": r.starts_at,
                        "arrived_at": r.arrived_at,
                        "admitted_at": r.admitted_at,
                        "checks": r.device_checks,
                    }
                    for r in rows
                ]
            }
        )


class AdmitView(APIView):
    """Admit the waiting patient into the consultation room."""

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request, appointment_id: str) -> Response:
        room = waiting.waiting_admit(
            actor=request.user, appointment_id=appointment_id, ctx=_ctx(request)
        )
        return Response({"room": room})
