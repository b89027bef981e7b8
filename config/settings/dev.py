"""Embedded demo settings: SQLite, in-memory channel layer, debug on.

Secrets are generated on first run into ``var/local.env`` (ignored by git).
"""

from config.local_secrets import ensure_local_secrets

from .base import *  # noqa: F403
from .base import BASE_DIR, env

env.read_env(ensure_local_secrets(BASE_DIR / "var" / "local.env"), overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
PHI_KEYS = env.str("PHI_KEYS")
PHI_BLIND_INDEX_KEY = env.str("PHI_BLIND_INDEX_KEY")
AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
