"""Test settings: the embedded defaults in a throw-away data directory, unless the environment
names the full stack (DATABASE_URL, CELERY_BROKER_URL, STUDIO_ARTIFACT_URI)."""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("STUDIO_DATA_DIR", str(Path(__file__).resolve().parent.parent / ".pytest-data"))
os.environ.setdefault("STUDIO_LOG_LEVEL", "WARNING")

from studio.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STUDIO_STOP_GRACE_SECONDS = 2.0
STUDIO_LOG_FLUSH_SECONDS = 0.2
# SageMaker jobs on the moto server finish at once: poll without waiting, and retry throttling briefly.
STUDIO_SAGEMAKER_POLL_SECONDS = 0.05
STUDIO_SAGEMAKER_POLL_MAX_SECONDS = 0.2
STUDIO_AWS_MAX_ATTEMPTS = 3
