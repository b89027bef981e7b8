"""Reports on a case: its timeline, the handoff report, the FHIR export."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.emergency import fhir, handoff, selectors
from consult.emergency.api._common import _ctx


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
