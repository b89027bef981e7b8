"""Token authentication for scripts and devices (``Authorization: Token <key>``)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from consult.accounts.models import DeviceToken, User, hash_token

# Write last_used_at at most this often, so hot device loops don't write per call.
_LAST_USED_RESOLUTION_S = 60


class DeviceTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate with a hashed, revocable, optionally expiring device token."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[User, DeviceToken] | None:
        """Return ``(user, token)``, ``None`` for no token, or raise on a bad one."""
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed token header.", code="malformed_token"
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(
                "Malformed token header.", code="malformed_token"
            ) from exc
        token = (
            DeviceToken.objects.select_related("user")
            .filter(key_hash=hash_token(raw))
            .first()
        )
        now = timezone.now()
        if token is None or not token.is_usable(now) or not token.user.is_active:
            raise exceptions.AuthenticationFailed(
                "Invalid token.", code="invalid_token"
            )
        if (
            token.last_used_at is None
            or (now - token.last_used_at).total_seconds() > _LAST_USED_RESOLUTION_S
        ):
            DeviceToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        """Makes unauthenticated API calls answer 401 rather than 403."""
        return self.keyword
