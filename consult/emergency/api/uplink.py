"""What the crew's phone sends over HTTP: vitals batches, positions, outbox keys.

Also the board's backfill of a vitals stream after a seq.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import ValidationError as PydanticValidationError
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.emergency import ingest, outbox_keys, schemas, selectors, services
from consult.emergency.api._common import _ctx
from consult.serializers import StrictSerializer


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
