"""Pre-admission and teams: accept a case, activate teams, members acknowledge."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.emergency import selectors, services
from consult.emergency.api._common import _ctx
from consult.emergency.models import Team
from consult.serializers import StrictSerializer


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
