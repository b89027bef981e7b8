"""Authentication events go into the audit trail (Django offers only signals)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import (
    user_logged_in,
    user_logged_out,
    user_login_failed,
)
from django.dispatch import receiver
from django.http import HttpRequest

from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import AuditEvent


def _ctx(request: HttpRequest | None) -> AccessContext:
    if request is None:
        return AccessContext(channel="system")
    return AccessContext.from_request(request, channel="page")


@receiver(user_logged_in)
def _logged_in(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    audit_event_record(actor=user, action=AuditEvent.Action.LOGIN, ctx=_ctx(request))


@receiver(user_logged_out)
def _logged_out(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    if user is not None:
        audit_event_record(
            actor=user, action=AuditEvent.Action.LOGOUT, ctx=_ctx(request)
        )


@receiver(user_login_failed)
def _login_failed(
    sender: Any,
    credentials: dict[str, Any],
    request: HttpRequest | None = None,
    **kwargs: Any,
) -> None:
    # The attempted username may be a mistyped password; keep only its length.
    audit_event_record(
        actor=None,
        action=AuditEvent.Action.LOGIN_FAILED,
        ctx=_ctx(request),
        outcome=AuditEvent.Outcome.DENIED,
        extra={"username_length": len(str(credentials.get("username", "")))},
    )
