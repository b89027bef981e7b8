"""Room endpoints: open an ad-hoc MDT room, invite, list, and the quality report."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.records.context import AccessContext
from consult.rooms import selectors, services
from consult.rooms.models import QualityReport, Room
from consult.serializers import StrictSerializer


def _ctx(request: Request) -> AccessContext:
    return AccessContext.from_request(request, channel="api")


def room_json(room: Room) -> dict[str, Any]:
    """The API shape of a room."""
    return {
        "id": str(room.pk),
        "title": room.title,
        "kind": room.kind,
        "status": room.status,
        "url": room.get_absolute_url(),
        "appointment": str(room.appointment_id) if room.appointment_id else None,
        "starts_at": room.appointment.starts_at.isoformat()
        if room.appointment_id
        else None,
        "created_at": room.created_at.isoformat(),
    }


class RoomCreateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=120)
    invitees = serializers.ListField(
        child=serializers.IntegerField(), max_length=services.MAX_INVITEES, default=list
    )


class RoomListView(APIView):
    """Your open rooms, or open an ad-hoc MDT room with invitations."""

    @extend_schema(operation_id="rooms_list", responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(
            {"rooms": [room_json(r) for r in selectors.rooms_for(request.user)]}
        )

    @extend_schema(request=RoomCreateSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        payload = RoomCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        room = services.room_create_adhoc(
            actor=request.user,
            title=payload.validated_data["title"],
            invitee_ids=payload.validated_data["invitees"],
            ctx=_ctx(request),
        )
        return Response(room_json(room), status=status.HTTP_201_CREATED)


class InviteSerializer(StrictSerializer):
    users = serializers.ListField(
        child=serializers.IntegerField(), min_length=1, max_length=20
    )


class RoomInviteView(APIView):
    """A host invites colleagues."""

    @extend_schema(request=InviteSerializer, responses={204: None})
    def post(self, request: Request, room_id: str) -> Response:
        payload = InviteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        room_pass = selectors.room_pass_for_user(request.user, room_id)
        services.room_invite(
            room_pass=room_pass, user_ids=payload.validated_data["users"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class QualityReportView(APIView):
    """Per-session quality reports (hosts only): latency histograms, loss, freezes."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request, room_id: str) -> Response:
        room_pass = selectors.room_pass_for_user(request.user, room_id)
        if not room_pass.is_host:
            raise services.PermissionDenied("Only a host can open the quality report.")
        reports = QualityReport.objects.filter(room_id=room_pass.room_id)
        return Response(
            {
                "latency_edges_ms": list(services.LATENCY_EDGES),
                "sessions": [
                    {
                        "participant": r.participant,
                        "label": r.label,
                        "started_at": r.started_at.isoformat(),
                        "updated_at": r.updated_at.isoformat(),
                        **r.report,
                    }
                    for r in reports
                ],
            }
        )
