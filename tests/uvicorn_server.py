"""``config.asgi`` under uvicorn in a subprocess, for tests that need a real server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(settings_dict: dict[str, Any]) -> str:
    """A ``DATABASE_URL`` for the (test) database Django is using."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


def start_uvicorn(
    env: dict[str, str], log: IO[Any], *, extra_args: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], int]:
    """uvicorn on a free port with ``env``; returns once it accepts connections.

    Fails the test (after killing the server) if it does not listen in 30 s.
    """
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--ws-max-size",
            "262144",
            *extra_args,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return server, port
        except OSError:
            time.sleep(0.2)
    server.kill()
    pytest.fail(f"uvicorn did not start; see {getattr(log, 'name', 'its log')}")
