"""Account endpoints: who am I, and device tokens."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.accounts.models import DeviceToken
from consult.accounts.services import device_token_create, device_token_revoke
from consult.serializers import StrictSerializer


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    full_name = serializers.CharField(source="get_full_name")
    role = serializers.CharField()
    organisation = serializers.CharField(source="organisation.name", default=None)
    department = serializers.CharField(source="department.name", default=None)
    crew = serializers.CharField(source="crew.call_sign", default=None)


class MeView(APIView):
    """The authenticated user."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)


class DeviceTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeviceToken
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]


class DeviceTokenCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class DeviceTokenCreatedSerializer(DeviceTokenSerializer):
    token = serializers.CharField(
        help_text="The raw token; shown only in this response."
    )

    class Meta(DeviceTokenSerializer.Meta):
        fields = [*DeviceTokenSerializer.Meta.fields, "token"]


class DeviceTokenListView(APIView):
    """List or create the acting user's device tokens."""

    @extend_schema(responses=DeviceTokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        tokens = DeviceToken.objects.filter(user=request.user)
        return Response(DeviceTokenSerializer(tokens, many=True).data)

    @extend_schema(
        request=DeviceTokenCreateSerializer, responses=DeviceTokenCreatedSerializer
    )
    def post(self, request: Request) -> Response:
        payload = DeviceTokenCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        token, raw = device_token_create(user=request.user, **payload.validated_data)
        body = DeviceTokenSerializer(token).data | {"token": raw}
        return Response(body, status=status.HTTP_201_CREATED)


class DeviceTokenDetailView(APIView):
    """Revoke one of the acting user's device tokens."""

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        device_token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
