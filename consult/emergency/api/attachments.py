"""Photos and ECG printouts: the crew uploads, readers of the case download."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.emergency import services
from consult.emergency.api._common import _ctx
from consult.serializers import StrictSerializer


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
