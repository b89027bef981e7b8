"""ICE servers and short-lived TURN credentials (TURN REST API)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.core.checks import run_checks

from consult.media import ice

TURN = "turn:turn.example.org:3478?transport=udp"


def test_turn_credentials_follow_the_turn_rest_api() -> None:
    """username "<expiry>:<user key>", credential b64(HMAC-SHA1(secret, username))."""
    username, credential = ice.turn_credentials(
        "42", secret="north-wind", ttl_s=3600, now=1_700_000_000
    )
    assert (username, credential) == ("1700003600:42", "YlpCluhk1i66cE5bZO2tP7aZqpY=")


def test_turn_credentials_expire_after_the_ttl() -> None:
    """The expiry in the username is now + TTL, in whole Unix seconds."""
    username, _ = ice.turn_credentials("7", secret="s", ttl_s=600, now=1000.9)
    assert username.split(":")[0] == "1600"


def test_no_ice_servers_by_default_on_a_lan(settings) -> None:  # type: ignore[no-untyped-def]
    """Without STUN or TURN settings the browser gets no servers at all."""
    settings.WEBRTC_STUN_URLS, settings.TURN_URLS = [], []
    assert ice.ice_servers_for(3) == []


def test_browser_gets_stun_and_a_turn_credential_for_its_user(
    settings, django_user_model
) -> None:  # type: ignore[no-untyped-def]
    """A user's TURN username ends in their id and verifies against the secret."""
    settings.WEBRTC_STUN_URLS = ["stun:stun.example.org:3478"]
    settings.TURN_URLS, settings.TURN_SHARED_SECRET = [TURN], "s3cret"
    user = django_user_model(pk=12)
    stun, turn = ice.ice_servers_for(user)
    expected = base64.b64encode(
        hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()
    ).decode()
    assert (stun["urls"], turn["urls"], turn["username"].endswith(":12")) == (
        ["stun:stun.example.org:3478"],
        [TURN],
        True,
    )
    assert turn["credential"] == expected


def test_a_session_key_never_appears_in_a_turn_username(settings) -> None:  # type: ignore[no-untyped-def]
    """Patients have only a session: it is hashed, since usernames travel in clear."""
    settings.TURN_URLS, settings.TURN_SHARED_SECRET = [TURN], "s3cret"
    [turn] = ice.ice_servers_for("secret-session-key-abc")
    assert "secret-session-key-abc" not in turn["username"]


def test_worker_configuration_mints_fresh_turn_credentials(settings) -> None:  # type: ignore[no-untyped-def]
    """Each read of the worker's iceServers yields a TURN server with a credential."""
    settings.TURN_URLS, settings.TURN_SHARED_SECRET = [TURN], "s3cret"
    configuration = ice.rtc_configuration()
    [server] = configuration.iceServers
    assert (server.urls, server.username.endswith(":media-worker")) == ([TURN], True)


def test_worker_configuration_has_no_default_stun_on_a_lan(settings) -> None:  # type: ignore[no-untyped-def]
    """An empty list, not None: aiortc would otherwise fall back to a public STUN."""
    settings.WEBRTC_STUN_URLS, settings.TURN_URLS = [], []
    assert ice.rtc_configuration().iceServers == []


def test_half_configured_turn_fails_the_system_check(settings) -> None:  # type: ignore[no-untyped-def]
    """consult.E002: TURN_URLS without TURN_SHARED_SECRET is refused, with a hint."""
    settings.TURN_URLS, settings.TURN_SHARED_SECRET = [TURN], ""
    errors = [e for e in run_checks() if e.id == "consult.E002"]
    assert len(errors) == 1 and "TURN_SHARED_SECRET" in errors[0].hint


def test_external_workers_without_redis_fail_the_system_check(settings) -> None:  # type: ignore[no-untyped-def]
    """consult.E021: scaled media needs the shared Redis."""
    settings.MEDIA_WORKERS, settings.REDIS_URL = "external", ""
    assert "consult.E021" in {e.id for e in run_checks()}
