"""Suite-wide fixtures and the rule for real services.

Tests marked ``postgres``, ``redis`` or ``e2e`` need PostgreSQL, Redis or
Chromium. Locally a missing service skips them; under ``CI=true`` it fails
them, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = "/usr/bin/chromium"
REDIS_URL = os.environ.get("REDIS_URL", "")


def _redis_reachable() -> bool:
    if not REDIS_URL:
        return False
    url = urlparse(REDIS_URL)
    try:
        with socket.create_connection(
            (url.hostname or "127.0.0.1", url.port or 6379), 1
        ):
            return True
    except OSError:
        return False


def _missing_service(item: pytest.Item) -> str | None:
    from django.db import connection

    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        return "needs PostgreSQL (set DATABASE_URL=postgres://...)"
    if item.get_closest_marker("redis") and not _redis_reachable():
        return "needs Redis (set REDIS_URL=redis://...)"
    if item.get_closest_marker("e2e") and not shutil.which(CHROMIUM):
        return f"needs Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(autouse=True)
def _require_real_services(request: pytest.FixtureRequest) -> None:
    reason = _missing_service(request.node)
    if reason is None:
        return
    if CI:
        pytest.fail(f"CI=true and this test {reason}")
    pytest.skip(reason)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[object]:
    """A redis-server of this test's own on a free port (``tests/redis_server.py``).

    For tests that kill and restart Redis; the machine's shared one is never
    touched. Without a ``redis-server`` binary: skipped, or failed under CI.
    """
    from tests import redis_server

    if not redis_server.available():
        reason = "needs redis-server on the PATH (apt-get install -y redis-server)"
        if CI:
            pytest.fail(f"CI=true and this test {reason}")
        pytest.skip(reason)
    server = redis_server.PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def api_client():
    """A DRF test client."""
    from rest_framework.test import APIClient

    return APIClient()
