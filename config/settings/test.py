"""Test settings: the database and channel layer follow DATABASE_URL / REDIS_URL.

Keys are fixed, synthetic and only ever used by the test suite.
"""

import base64

from .base import *  # noqa: F403
from .base import BASE_DIR

SECRET_KEY = "test-only-secret-key-not-for-production-0123456789abcdefghij"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _test_key(seed: int) -> str:
    return base64.b64encode(bytes([seed]) * 32).decode()


PHI_KEYS = f"test1:{_test_key(1)}"
PHI_BLIND_INDEX_KEY = _test_key(2)
AUDIT_CHAIN_KEY = _test_key(3)
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file-backed SQLite test database lets live-server (browser) tests share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}  # noqa: F405
