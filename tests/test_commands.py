"""The management commands behind `make run`: seed_demo, serve, create_api_key."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command

from jobs.models import Job, JobStatus
from studio.models import ApiKey, Artifact, Project

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_seed_demo_creates_a_project_with_a_completed_job_once():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    first = out.getvalue()
    assert "password:" in first
    assert "API key:  stk_" in first
    job = Job.objects.get(project__name="demo", kind="processing")
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    assert job.metrics.get(name="rows").value == 300
    assert job.outputs[0]["files"] == 1
    training = Job.objects.get(project__name="demo", kind="training")
    assert training.status == JobStatus.COMPLETED, training.failure_reason
    assert training.evaluation.metrics["accuracy"] > 0.9
    # One point per round, and the final line the built-in prints for the saved model.
    assert training.metrics.filter(name="validation:mlogloss").count() == 31

    again = io.StringIO()
    call_command("seed_demo", stdout=again)
    assert "password:" not in again.getvalue()
    assert "is Completed" in again.getvalue()
    assert (Project.objects.count(), Job.objects.count(), ApiKey.objects.count()) == (1, 2, 1)
    assert Artifact.objects.filter(origin="demo").count() == 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def test_serve_runs_web_worker_and_beat_and_ctrl_c_stops_them_all(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "SECRET_KEY": "serve-test",
        "STUDIO_DATA_DIR": str(tmp_path),
        "STUDIO_LOG_LEVEL": "WARNING",
    }
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "STUDIO_ARTIFACT_URI"):
        env.pop(key, None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    port = _free_port()
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline, health = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = response.status
                    break
            except OSError:
                time.sleep(0.3)
        assert health == 200
        children = _children(serve.pid)
        assert len(children) == 3  # gunicorn, celery worker, celery beat

        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=30) == 0
        time.sleep(0.5)
        assert [
            pid
            for pid in children
            if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
        ] == []
    finally:
        if serve.poll() is None:
            serve.kill()
