"""Settings shared by every environment, driven by environment variables.

Every value comes through the single ``env`` object. Django's own variables are
prefixed ``DJANGO_``. Environment-specific modules only override what is here.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "consult.accounts",
    "consult.records",
    "consult.scheduling",
    "consult.rooms",
    "consult.emergency",
    "consult.ops",
    "consult.media",
    "surgery_guidance",
]

MIDDLEWARE = [
    "consult.ops.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "consult.accounts.middleware.SessionExpiryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"
    )
}
if (
    DATABASES["default"]["ENGINE"].endswith("postgresql")
    and not DATABASES["default"].get("CONN_MAX_AGE")
    and env.bool("DATABASE_POOL", default=False)
):
    # Opt-in connection pool per process (psycopg_pool): without it (and without
    # CONN_MAX_AGE) every request or websocket message handled off the event
    # loop opens a new PostgreSQL connection. Off by default: a thread that
    # uses the ORM and ends without closing its connection keeps a pool slot
    # for good, and a full pool stalls every query for DATABASE_POOL_TIMEOUT;
    # turn it on once the deployment's threads are known to close. With
    # health checks on, each connection is checked as it leaves the pool, so
    # one the server ended (restart, admin kill) is replaced, not handed out.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": env.int("DATABASE_POOL_MAX", default=20),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # IMMEDIATE transactions take the write lock at BEGIN, which serialises
    # writers (the audit chain relies on it) instead of failing at COMMIT.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": (
            "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
        )
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sessions: 15 minutes idle, 12 hours absolute (SessionExpiryMiddleware enforces
# both; the cookie itself never outlives the absolute limit).
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=15 * 60)
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT", default=12 * 60 * 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Request bodies: the API's largest legitimate payload is a vitals batch or a
# photo reference, far below this; anything larger is refused before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # redis-py 8 defaults socket_timeout to 5 s, which kills every idle
    # BZPOPMIN receive (channels_redis #422); None keeps idle sockets up.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="asgi"),
                "capacity": 1000,
                "expiry": 60,
                "group_expiry": 3600,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Media workers: "embedded" runs one in this process on its own thread and event
# loop; "external" expects `manage.py media_worker` processes on the Redis layer.
MEDIA_WORKERS = env.str("MEDIA_WORKERS", default="embedded")
MEDIA_WORKER_CAPACITY = env.int("MEDIA_WORKER_CAPACITY", default=50)  # rooms
# A composite feed (broadcast/recording: decode, draw, encode; ~75 % of a core
# at 1080p30) weighs as this many rooms when a new room is placed.
MEDIA_COMPOSITE_WEIGHT = env.int("MEDIA_COMPOSITE_WEIGHT", default=15)
# Where `media_worker --metrics-port` listens (loopback unless told otherwise).
MEDIA_METRICS_ADDR = env.str("MEDIA_METRICS_ADDR", default="127.0.0.1")
MEDIA_REDIS_PREFIX = env.str("MEDIA_REDIS_PREFIX", default="media")
# The aiortc latency fixes (marker-bit frames, larger buffers, x264 preset,
# pinned bitrates); off only to measure stock aiortc.
MEDIA_AIORTC_FIXES = env.bool("MEDIA_AIORTC_FIXES", default=True)
MEDIA_WORKER_CLASS = env.str(
    "MEDIA_WORKER_CLASS", default="media_core.worker.MediaWorker"
)
# Where media workers write recordings and HLS broadcasts; pages serve files
# only from inside it (surgery_guidance.files).
MEDIA_OUTPUT_DIR = env.path("MEDIA_OUTPUT_DIR", default=BASE_DIR / "var" / "media")
# ICE: no STUN/TURN by default (a LAN needs none). TURN is on when TURN_URLS is
# set and then needs TURN_SHARED_SECRET (consult.E002); browsers and workers get
# short-lived credentials (TURN REST API, coturn's use-auth-secret).
WEBRTC_STUN_URLS = env.list("WEBRTC_STUN_URLS", default=[])
TURN_URLS = env.list("TURN_URLS", default=[])
TURN_SHARED_SECRET = env.str("TURN_SHARED_SECRET", default="")
TURN_CREDENTIAL_TTL = env.int("TURN_CREDENTIAL_TTL", default=3600)

REST_FRAMEWORK = {
    # The token class comes first: DRF takes its WWW-Authenticate challenge
    # from the first class, which makes unauthenticated calls 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "consult.accounts.authentication.DeviceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["consult.api_parsers.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "consult.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Telemedicine platform API",
    "DESCRIPTION": "Consultations, patient records, emergency pre-admission and "
    "surgical guidance. Session auth for browsers, device tokens for devices.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The API docs' Swagger UI from our static files (drf-spectacular-sidecar):
    # a hospital network may not reach a CDN, and "@latest" from one is an
    # unpinned third-party script on a page signed-in clinicians open.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Patient sex (records) and a casualty's estimated sex (emergency) are
    # different choice sets; name them rather than let the generator guess.
    "ENUM_NAME_OVERRIDES": {
        "PatientSexEnum": "consult.records.api.SEX_CHOICES",
        "CasualtySexEnum": "consult.emergency.models.EmergencyCase.Sex",
    },
}

# PHI encryption: PHI_KEYS is "kid:base64key,kid:base64key"; the first key
# encrypts, every key decrypts. The blind index key is separate so that look-ups
# never reveal the encryption key.
PHI_KEYS = env.str("PHI_KEYS", default="")
PHI_BLIND_INDEX_KEY = env.str("PHI_BLIND_INDEX_KEY", default="")
# The audit chain is keyed (HMAC-SHA256) so that someone with write access to
# the database alone cannot recompute a valid chain after tampering.
AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="")

ACCESS_MONITOR = {
    "WINDOW": timedelta(minutes=env.int("ACCESS_MONITOR_WINDOW_MINUTES", default=10)),
    "MAX_DISTINCT_PATIENTS": env.int("ACCESS_MONITOR_MAX_PATIENTS", default=30),
    "MAX_UNEXPLAINED_PATIENTS": env.int("ACCESS_MONITOR_MAX_UNEXPLAINED", default=3),
    "MAX_DENIED_ATTEMPTS": env.int("ACCESS_MONITOR_MAX_DENIED", default=20),
    "MAX_LISTED_PATIENTS": env.int("ACCESS_MONITOR_MAX_LISTED", default=300),
}
BREAK_GLASS_DURATION = timedelta(hours=4)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Over-capacity drops are logged at INFO by channels-redis; surface them.
        "channels_redis.core": {"level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
    },
}
