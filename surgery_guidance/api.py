"""Guidance endpoints: schedule and list operations, annotation backfill, recordings."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.records.context import AccessContext
from consult.serializers import StrictSerializer
from surgery_guidance import selectors, services
from surgery_guidance.models import Operation, Recording


def operation_json(operation: Operation) -> dict[str, Any]:
    """The API shape of an operation: no patient field, ever."""
    return {
        "id": str(operation.pk),
        "title": operation.title,
        "procedure": operation.procedure,
        "theatre": operation.theatre,
        "surgeon": operation.surgeon.get_full_name() or operation.surgeon.username,
        "scheduled_start": operation.scheduled_start.isoformat(),
        "status": operation.status,
        "broadcast": operation.broadcast,
        "consent_recorded": operation.consent_recorded,
        "url": operation.get_absolute_url(),
    }


def recording_json(recording: Recording) -> dict[str, Any]:
    return {
        "id": str(recording.pk),
        "procedure": recording.procedure,
        "title": recording.operation.title,
        "started_at": recording.started_at.isoformat(),
        "duration_s": round(recording.duration_s, 1),
        "url": recording.get_absolute_url(),
    }


class OperationCreateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=120)
    procedure = serializers.CharField(max_length=120)
    theatre = serializers.CharField(max_length=60, required=False, default="")
    scheduled_start = serializers.DateTimeField()
    surgeon = serializers.IntegerField()
    mentors = serializers.ListField(
        child=serializers.IntegerField(), max_length=services.MAX_MENTORS, default=list
    )
    moderator = serializers.IntegerField(required=False, allow_null=True, default=None)
    patient = serializers.UUIDField(required=False, allow_null=True, default=None)
    vitals = serializers.ChoiceField(
        choices=Operation.Vitals.choices, required=False, default="stable"
    )


class OperationListView(APIView):
    """Operations you take part in and broadcasts you may watch; schedule one."""

    @extend_schema(operation_id="guidance_operations_list", responses={200: dict})
    def get(self, request: Request) -> Response:
        rows = selectors.operations_for(request.user)
        return Response({"operations": [operation_json(o) for o in rows]})

    @extend_schema(request=OperationCreateSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        payload = OperationCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        operation = services.operation_schedule(
            actor=request.user,
            title=data["title"],
            procedure=data["procedure"],
            theatre=data["theatre"],
            scheduled_start=data["scheduled_start"],
            surgeon_id=data["surgeon"],
            mentor_ids=data["mentors"],
            moderator_id=data["moderator"],
            patient_id=data["patient"],
            vitals=data["vitals"],
            ctx=AccessContext.from_request(request, channel="api"),
        )
        return Response(operation_json(operation), status=status.HTTP_201_CREATED)


class BackfillQuery(StrictSerializer):
    after = serializers.IntegerField(min_value=0, max_value=100_000_000, default=0)


class AnnotationBackfillView(APIView):
    """Annotation operations after a sequence number (staff; closes a gap)."""

    @extend_schema(operation_id="guidance_annotations_after", responses={200: dict})
    def get(self, request: Request, operation_id: str) -> Response:
        query = BackfillQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        op_pass = selectors.operation_pass_for_user(request.user, operation_id)
        events = selectors.annotation_events_after(
            op_pass, after_seq=query.validated_data["after"]
        )
        return Response({"events": events})


class RecordingListView(APIView):
    """The training library, optionally for one procedure."""

    @extend_schema(operation_id="guidance_recordings_list", responses={200: dict})
    def get(self, request: Request) -> Response:
        procedure = str(request.query_params.get("procedure", ""))[:120]
        rows = selectors.recordings_for(request.user, procedure=procedure)
        return Response({"recordings": [recording_json(r) for r in rows[:200]]})
