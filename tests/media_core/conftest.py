"""Shared fixtures for media-core tests; runnable without Django."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Accept ``--reuse-db`` from the project addopts when pytest-django is off."""
    try:
        parser.addoption("--reuse-db", action="store_true", help="no-op stand-in")
    except ValueError:
        # pytest-django is loaded and owns the option.
        return
