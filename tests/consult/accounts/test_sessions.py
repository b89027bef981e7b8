"""Sessions expire after 15 minutes idle and 12 hours in any case."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from consult.accounts.middleware import AUTH_STARTED_KEY, LAST_SEEN_KEY
from consult.records.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _logged_in(client):  # type: ignore[no-untyped-def]
    user = UserFactory()
    client.force_login(user)
    client.get(reverse("home"))
    return user


def _age_session(client, **ages: float) -> None:  # type: ignore[no-untyped-def]
    session = client.session
    for key, seconds in ages.items():
        session[key] = time.time() - seconds
    session.save()


def test_active_session_stays_signed_in(client) -> None:
    """A session used within the idle limit keeps working."""
    _logged_in(client)
    _age_session(client, **{LAST_SEEN_KEY: 14 * 60})
    assert client.get(reverse("home")).status_code == 200


def test_idle_session_is_signed_out(client) -> None:
    """After 15 minutes without a request the next one goes to the login page."""
    _logged_in(client)
    _age_session(client, **{LAST_SEEN_KEY: 15 * 60 + 5})
    response = client.get(reverse("home"))
    assert (response.status_code, response.url.split("?")[0]) == (
        302,
        reverse("accounts:login"),
    )


def test_session_older_than_twelve_hours_is_signed_out(client) -> None:
    """Even an active session ends 12 hours after sign-in."""
    _logged_in(client)
    _age_session(client, **{AUTH_STARTED_KEY: 12 * 3600 + 5, LAST_SEEN_KEY: 10})
    assert client.get(reverse("home")).status_code == 302


def test_login_and_logout_are_audited(client) -> None:
    """Signing in and out through the pages writes login and logout events."""
    user = UserFactory()
    client.post(
        reverse("accounts:login"),
        {"username": user.username, "password": "correct-horse-battery"},
    )
    client.post(reverse("accounts:logout"))
    actions = list(
        AuditEvent.objects.filter(actor_id=user.pk).values_list("action", flat=True)
    )
    assert actions == ["login", "logout"]


def test_failed_login_is_audited_without_the_username(client) -> None:
    """A failed sign-in is audited without the typed username (it may be a password)."""
    client.post(
        reverse("accounts:login"), {"username": "s3cret-typed-here", "password": "nope"}
    )
    event = AuditEvent.objects.get(action="login_failed")
    assert (event.outcome, "s3cret" in repr(event.extra)) == ("denied", False)
