"""Set up Django for a benchmark on a throwaway database, torn down afterwards."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def bench_database(default_url: str) -> Iterator[str]:
    """Create a fresh migrated database (``test_<name>``), yield its vendor, drop it."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", default_url)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django

    django.setup()
    from django.db import connection

    if connection.vendor == "sqlite":
        # Never the suite's file: a benchmark must not clobber a running test DB.
        connection.settings_dict["TEST"]["NAME"] = os.path.join(
            tempfile.gettempdir(), f"bench-{os.getpid()}.sqlite3"
        )
    old_name = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, keepdb=False
    )
    try:
        yield connection.vendor
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
