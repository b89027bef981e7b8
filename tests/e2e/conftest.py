"""A live ASGI server (uvicorn, subprocess) and Debian's Chromium through Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.uvicorn_server import database_url, start_uvicorn

ROOT = Path(__file__).resolve().parents[2]
LIVE_SERVER_APP = "telemed-e2e-live-server"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


def _database_url(settings_dict: dict) -> str:
    url = database_url(settings_dict)
    if url.startswith("sqlite"):
        return url
    # Named, so teardown can end exactly the live server's connections.
    return f"{url}?application_name={LIVE_SERVER_APP}"


@pytest.fixture(scope="session")
def live_url(django_db_setup, django_db_blocker) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Base URL of uvicorn serving ``config.asgi`` against the test database."""
    from django.db import connection

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(connection.settings_dict),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "e2e-server.log", "w")  # noqa: SIM115
    server, port = start_uvicorn(env, log)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)
    log.close()


@pytest.fixture(scope="module")
def browser(live_url: str) -> Iterator[object]:
    """Headless Debian Chromium with fake camera and microphone.

    Playwright's sync API keeps an event loop on this thread, which trips
    Django's async-safety check although every ORM call in these tests is
    synchronous; the check is lifted only while a browser module runs.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser context and page per test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(autouse=True)
def _quiet_server_before_flush(transactional_db, browser) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Stop browser traffic and drop the live server's connections before the flush.

    Set up after ``transactional_db``, so torn down before its TRUNCATE: pages
    still streaming (a crew's monitor, a room's quality reports) would
    otherwise hold table locks the TRUNCATE waits on, and deadlock it.
    """
    yield
    for context in list(browser.contexts):
        context.close()
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s",
                [LIVE_SERVER_APP],
            )
