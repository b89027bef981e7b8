"""Writes on users and device tokens."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from consult.accounts.models import DeviceToken, User, hash_token
from consult.exceptions import NotFound


@transaction.atomic
def device_token_create(
    *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[DeviceToken, str]:
    """Create a token for ``user``; return it with the raw key, shown only now."""
    raw = secrets.token_urlsafe(32)
    token = DeviceToken(
        user=user,
        name=name,
        key_hash=hash_token(raw),
        prefix=raw[:8],
        expires_at=expires_at,
    )
    token.full_clean()
    token.save()
    return token, raw


def device_token_revoke(*, user: User, token_id: int) -> DeviceToken:
    """Revoke one of ``user``'s own tokens."""
    token = DeviceToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound()
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
