"""Settings come from the environment and fail loudly on bad values."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from studio.env import env_bool, env_float, env_int, env_list
from studio.logging import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent


def test_env_helpers_parse_and_refuse(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL") is True
    assert env_int("X_INT", 1) == 12
    assert env_list("X_LIST") == ["a", "b", "c"]
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_FLOAT", "-1")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_float("X_FLOAT", 1.0, minimum=0)


def _load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STUDIO_", "SECRET_KEY", "DATABASE_URL", "CELERY_"))
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "DJANGO_SETTINGS_MODULE": "studio.settings", "STUDIO_DATA_DIR": str(tmp_path), **env},
    )


def test_the_embedded_default_needs_no_server(tmp_path):
    result = _load_settings(tmp_path, SECRET_KEY="k")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://localhost/"]


def test_a_secret_key_is_required_when_debug_is_off(tmp_path):
    result = _load_settings(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path):
    result = _load_settings(tmp_path, SECRET_KEY="k", STUDIO_HEARTBEAT_SECONDS="soon")
    assert result.returncode != 0
    assert "STUDIO_HEARTBEAT_SECONDS must be a number" in result.stderr


def test_logs_are_one_json_object_per_line():
    record = logging.makeLogRecord({"msg": "job %s done", "args": ("x",), "levelname": "INFO", "job": "x"})
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "job x done"
    assert line["job"] == "x"
    assert line["level"] == "INFO"
