"""The case's status steps: depart, arrive, hand over, divert, close."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.emergency import selectors, services
from consult.emergency.api._common import _ctx
from consult.serializers import StrictSerializer


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
