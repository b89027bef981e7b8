"""Production settings: strict, and refuses to start without its secrets."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import AUDIT_CHAIN_KEY, PHI_BLIND_INDEX_KEY, PHI_KEYS, SECRET_KEY, env

DEBUG = False

_missing = [
    name
    for name, value in {
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "PHI_KEYS": PHI_KEYS,
        "PHI_BLIND_INDEX_KEY": PHI_BLIND_INDEX_KEY,
        "AUDIT_CHAIN_KEY": AUDIT_CHAIN_KEY,
        "DJANGO_ALLOWED_HOSTS": env.str("DJANGO_ALLOWED_HOSTS", default=""),
    }.items()
    if not value
]
if _missing:
    raise ImproperlyConfigured(
        "Production settings need these environment variables: " + ", ".join(_missing)
    )

SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
