"""Studio settings. Everything configurable comes from the environment, read here and only here.

The defaults are the embedded mode (SQLite in WAL mode, kombu's filesystem transport, artifacts
under the data directory), so nothing needs a server to start. Set DATABASE_URL, CELERY_BROKER_URL
and STUDIO_ARTIFACT_URI to run the same code on PostgreSQL, Redis and S3.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

from studio.env import env_bool, env_float, env_int, env_list, env_str
from studio.processes import DEFAULT_QUEUE, JOBS_QUEUE

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("STUDIO_DATA_DIR", str(BASE_DIR / ".data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("STUDIO_DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    # `make run` writes one into the data directory, so manage.py commands find it there too.
    key_file = Path(env_str("SECRET_KEY_FILE", str(DATA_DIR / "secret_key")))
    if not key and key_file.is_file():
        key = key_file.read_text().strip()
    if key:
        return key
    if DEBUG:
        return "insecure-debug-only-key"
    raise ImproperlyConfigured(
        f"SECRET_KEY (or SECRET_KEY_FILE, default {key_file}) is required when STUDIO_DEBUG is off"
    )


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

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
    "django_celery_beat",
    "studio",
    "frontend",
    "jobs",
    "datasets",
    "endpoints",
    "cloud",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "frontend.middleware.CurrentProjectMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"
ASGI_APPLICATION = "studio.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
SQLITE_PATH = DATA_DIR / "studio.sqlite3"
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(SQLITE_PATH)}}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the writer, IMMEDIATE
    # transactions take the write lock up front so concurrent writers wait instead of failing
    # with "database is locked" half-way through.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
    }
    # A file, not memory, so worker processes started by the tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-studio.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "frontend:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files: served by WhiteNoise from the apps, Plotly.js from the plotly package ----------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every start without it
STATICFILES_DIRS = [("vendor/plotly", str(Path(plotly.__file__).parent / "package_data"))]
WHITENOISE_USE_FINDERS = True

# --- Security ----------------------------------------------------------------------------------
SECURE_HTTPS = env_bool("STUDIO_HTTPS", False)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS and env_bool("STUDIO_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_HTTPS else None
SECURE_HSTS_SECONDS = 3600 if SECURE_HTTPS else 0
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "studio.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "studio.pagination.StudioPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "studio.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Studio API",
    "DESCRIPTION": "A self-hosted machine-learning workbench with SageMaker's job contract.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Jobs and uploads both have a "status": name the enums apart.
    "ENUM_NAME_OVERRIDES": {"UploadStatusEnum": "datasets.models.UploadStatus"},
}

# --- Celery --------------------------------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),  # the default is relative to the working directory
        "store_processed": False,
        "polling_interval": 0.05,
    }
else:
    # The database row, not the broker, decides whether a job runs, so a redelivery after the
    # visibility timeout is harmless; keep it longer than any job anyway to avoid the noise.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 12 * 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = DEFAULT_QUEUE
CELERY_TASK_ROUTES = {"jobs.execute": {"queue": JOBS_QUEUE}}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Monitoring schedules are PeriodicTask rows that the API creates, stops and starts while beat runs.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Keep Django's LOGGING (JSON lines) for the worker and beat too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Artifact store -----------------------------------------------------------------------------
STUDIO_ARTIFACT_URI = env_str("STUDIO_ARTIFACT_URI", f"file://{DATA_DIR / 'artifacts'}").rstrip("/")
STUDIO_IMPORT_ROOTS = [root.rstrip("/") for root in env_list("STUDIO_IMPORT_ROOTS")]
AWS_ENDPOINT_URL = env_str("AWS_ENDPOINT_URL") or None
AWS_REGION = env_str("AWS_REGION", env_str("AWS_DEFAULT_REGION", "us-east-1"))

# --- Jobs -----------------------------------------------------------------------------------------
STUDIO_WORK_DIR = Path(env_str("STUDIO_WORK_DIR", str(DATA_DIR / "work"))).resolve()
STUDIO_HEARTBEAT_SECONDS = env_float("STUDIO_HEARTBEAT_SECONDS", 5.0, minimum=0.1)
STUDIO_HEARTBEAT_TIMEOUT_SECONDS = env_float("STUDIO_HEARTBEAT_TIMEOUT_SECONDS", 60.0, minimum=1.0)
STUDIO_REAPER_INTERVAL_SECONDS = env_float("STUDIO_REAPER_INTERVAL_SECONDS", 30.0, minimum=0.5)
STUDIO_PENDING_REQUEUE_SECONDS = env_float("STUDIO_PENDING_REQUEUE_SECONDS", 300.0, minimum=1.0)
STUDIO_STOP_GRACE_SECONDS = env_float("STUDIO_STOP_GRACE_SECONDS", 30.0, minimum=0.0)
STUDIO_LOG_FLUSH_SECONDS = env_float("STUDIO_LOG_FLUSH_SECONDS", 0.5, minimum=0.05)
STUDIO_DEFAULT_MAX_RUNTIME_SECONDS = env_int("STUDIO_DEFAULT_MAX_RUNTIME_SECONDS", 24 * 3600, minimum=1)
STUDIO_MAX_SCRIPT_BYTES = env_int("STUDIO_MAX_SCRIPT_BYTES", 1024 * 1024, minimum=1)
STUDIO_MAX_SOURCE_BYTES = env_int("STUDIO_MAX_SOURCE_BYTES", 100 * 1024**2, minimum=1)
# Cached environments for training code with a requirements.txt, one per file hash.
STUDIO_CODE_ENV_DIR = Path(env_str("STUDIO_CODE_ENV_DIR", str(DATA_DIR / "envs"))).resolve()
STUDIO_CHECKPOINT_SYNC_SECONDS = env_float("STUDIO_CHECKPOINT_SYNC_SECONDS", 10.0, minimum=0.1)
STUDIO_DEFAULT_BACKEND = env_str("STUDIO_DEFAULT_BACKEND", "local")
if STUDIO_DEFAULT_BACKEND not in {"local", "sagemaker"}:
    raise ImproperlyConfigured(
        f"STUDIO_DEFAULT_BACKEND must be 'local' or 'sagemaker', got {STUDIO_DEFAULT_BACKEND!r}"
    )

# --- Amazon SageMaker (the `sagemaker` backend; each project holds its own AWS settings) ---------
# Encrypts the AWS keys a project stores (Fernet, 32 url-safe base64 bytes); derived from
# SECRET_KEY when unset, so rotating SECRET_KEY then needs the keys entered again.
STUDIO_SECRETS_KEY = env_str("STUDIO_SECRETS_KEY")
if STUDIO_SECRETS_KEY:
    from cryptography.fernet import Fernet

    try:
        Fernet(STUDIO_SECRETS_KEY.encode())
    except ValueError as exc:
        raise ImproperlyConfigured(
            "STUDIO_SECRETS_KEY must be a Fernet key (32 url-safe base64-encoded bytes), e.g. from "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        ) from exc
# The first wait between two DescribeXxx calls of a running job; it doubles while nothing changes.
STUDIO_SAGEMAKER_POLL_SECONDS = env_float("STUDIO_SAGEMAKER_POLL_SECONDS", 10.0, minimum=0.05)
STUDIO_SAGEMAKER_POLL_MAX_SECONDS = env_float("STUDIO_SAGEMAKER_POLL_MAX_SECONDS", 120.0, minimum=0.05)
# botocore's own retries (standard mode: throttling and transient errors, with back-off).
STUDIO_AWS_MAX_ATTEMPTS = env_int("STUDIO_AWS_MAX_ATTEMPTS", 8, minimum=1)

# --- Datasets: uploads, archives, the local cache of s3:// data ----------------------------------
STUDIO_UPLOAD_MAX_BYTES = env_int("STUDIO_UPLOAD_MAX_BYTES", 50 * 1024**3, minimum=1)
STUDIO_UPLOAD_MAX_LINE_BYTES = env_int("STUDIO_UPLOAD_MAX_LINE_BYTES", 10 * 1024**2, minimum=1024)
STUDIO_UPLOAD_CHUNK_BYTES = env_int("STUDIO_UPLOAD_CHUNK_BYTES", 8 * 1024**2, minimum=64 * 1024)
STUDIO_UPLOAD_INSPECT_IN_PROCESS_BYTES = env_int(
    "STUDIO_UPLOAD_INSPECT_IN_PROCESS_BYTES", 64 * 1024**2, minimum=0
)
STUDIO_UPLOAD_INSPECT_TIMEOUT_SECONDS = env_float(
    "STUDIO_UPLOAD_INSPECT_TIMEOUT_SECONDS", 3600.0, minimum=1.0
)
STUDIO_UPLOAD_EXPIRE_HOURS = env_float("STUDIO_UPLOAD_EXPIRE_HOURS", 48.0, minimum=0.1)
STUDIO_ARCHIVE_MAX_FILES = env_int("STUDIO_ARCHIVE_MAX_FILES", 100_000, minimum=1)
STUDIO_ARCHIVE_MAX_BYTES = env_int("STUDIO_ARCHIVE_MAX_BYTES", 20 * 1024**3, minimum=1)
STUDIO_ARCHIVE_MAX_MEMBER_BYTES = env_int("STUDIO_ARCHIVE_MAX_MEMBER_BYTES", 5 * 1024**3, minimum=1)
STUDIO_ARCHIVE_MAX_RATIO = env_float("STUDIO_ARCHIVE_MAX_RATIO", 200.0, minimum=1.0)
STUDIO_DATASET_CACHE_BYTES = env_int("STUDIO_DATASET_CACHE_BYTES", 10 * 1024**3, minimum=0)

# --- Inference: serving processes, the invocation gateway, data capture ----------------------------
STUDIO_SERVING_DIR = Path(env_str("STUDIO_SERVING_DIR", str(DATA_DIR / "serving"))).resolve()
STUDIO_SERVING_POLL_SECONDS = env_float("STUDIO_SERVING_POLL_SECONDS", 0.5, minimum=0.05)
# How long a replaced serving process keeps answering after traffic moved off it (blue/green).
STUDIO_SERVING_DRAIN_SECONDS = env_float("STUDIO_SERVING_DRAIN_SECONDS", 5.0, minimum=0.0)
STUDIO_SERVING_STARTUP_SECONDS = env_float("STUDIO_SERVING_STARTUP_SECONDS", 600.0, minimum=1.0)
STUDIO_SERVING_HOST_TIMEOUT_SECONDS = env_float("STUDIO_SERVING_HOST_TIMEOUT_SECONDS", 30.0, minimum=1.0)
STUDIO_SERVING_MAX_INSTANCES = env_int("STUDIO_SERVING_MAX_INSTANCES", 8, minimum=1)
STUDIO_SERVING_MAX_BATCH = env_int("STUDIO_SERVING_MAX_BATCH", 64, minimum=1)
# Math-library threads per serving process: instances are the unit of parallelism, and OpenMP's
# default (every core in every process) collapses under concurrent single-row requests.
STUDIO_SERVING_THREADS = env_int("STUDIO_SERVING_THREADS", 1, minimum=1)
# Threads per web process for Django views (the invocation gateway needs none).
STUDIO_WEB_THREADS = env_int("STUDIO_WEB_THREADS", 8, minimum=1)
STUDIO_GATEWAY_REFRESH_SECONDS = env_float("STUDIO_GATEWAY_REFRESH_SECONDS", 0.5, minimum=0.05)
STUDIO_INVOCATION_TIMEOUT_SECONDS = env_float("STUDIO_INVOCATION_TIMEOUT_SECONDS", 60.0, minimum=0.1)
STUDIO_INVOCATION_MAX_BYTES = env_int("STUDIO_INVOCATION_MAX_BYTES", 6 * 1024 * 1024, minimum=1)
STUDIO_CAPTURE_FLUSH_SECONDS = env_float("STUDIO_CAPTURE_FLUSH_SECONDS", 2.0, minimum=0.05)
STUDIO_METRICS_FLUSH_SECONDS = env_float("STUDIO_METRICS_FLUSH_SECONDS", 5.0, minimum=0.05)

# --- Alerts: email (Django's mail backend) and webhooks --------------------------------------------
# Links in alerts are this origin plus the page's path, e.g. https://studio.example.com (no slash).
STUDIO_PUBLIC_URL = env_str("STUDIO_PUBLIC_URL", "").rstrip("/")
STUDIO_ALERT_ALLOW_PRIVATE_WEBHOOKS = env_bool("STUDIO_ALERT_ALLOW_PRIVATE_WEBHOOKS", False)
STUDIO_ALERT_WEBHOOK_TIMEOUT_SECONDS = env_float("STUDIO_ALERT_WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
STUDIO_ALERT_MAX_ATTEMPTS = env_int("STUDIO_ALERT_MAX_ATTEMPTS", 6, minimum=1)
STUDIO_ALERT_RETRY_BASE_SECONDS = env_float("STUDIO_ALERT_RETRY_BASE_SECONDS", 30.0, minimum=0.0)
STUDIO_ALERT_RETRY_MAX_SECONDS = env_float("STUDIO_ALERT_RETRY_MAX_SECONDS", 3600.0, minimum=0.0)
STUDIO_ALERT_SWEEP_GRACE_SECONDS = env_float("STUDIO_ALERT_SWEEP_GRACE_SECONDS", 60.0, minimum=0.0)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true")
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10.0, minimum=0.1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "studio@localhost")

CELERY_BEAT_SCHEDULE = {
    "reap-stale-jobs": {"task": "jobs.reap", "schedule": STUDIO_REAPER_INTERVAL_SECONDS},
    "expire-uploads": {"task": "datasets.expire_uploads", "schedule": 3600.0},
    # SageMaker endpoints whose follow-up task was lost (a broker restart) are followed again.
    "follow-sagemaker-endpoints": {"task": "endpoints.sagemaker_reap", "schedule": 300.0},
    # Alert deliveries whose task was lost (a broker restart) are sent again.
    "retry-alert-deliveries": {"task": "monitoring.retry_deliveries", "schedule": 60.0},
    # Baselines, monitoring executions and drift reports whose job failed are marked Failed with why.
    "monitoring-reconcile": {"task": "monitoring.reconcile", "schedule": 60.0},
}

DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Logging: one JSON object per line, so operators can ship logs anywhere ----------------------
LOG_LEVEL = env_str("STUDIO_LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"STUDIO_LOG_LEVEL must be a logging level name, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "studio.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
