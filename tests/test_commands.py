"""The management commands behind `make run`: seed_demo, serve, create_api_key."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command

from endpoints.models import Endpoint, EndpointConfig, Model
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
    assert Endpoint.objects.get(project__name="demo").config.data_capture["sampling_percentage"] == 100
    assert (Model.objects.count(), EndpointConfig.objects.count(), Endpoint.objects.count()) == (1, 1, 1)
    assert Artifact.objects.filter(origin="demo").count() == 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _migrated_embedded_env(data_dir: Path) -> dict[str, str]:
    """The environment of a fresh embedded Studio in ``data_dir`` (SQLite, no servers), migrated."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "SECRET_KEY": "serve-test",
        "STUDIO_DATA_DIR": str(data_dir),
        "STUDIO_LOG_LEVEL": "WARNING",
    }
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "STUDIO_ARTIFACT_URI"):
        env.pop(key, None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    return env


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def test_serve_runs_web_worker_beat_and_serving_and_ctrl_c_stops_them_all(tmp_path):
    env = _migrated_embedded_env(tmp_path)
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
        assert len(children) == 4  # uvicorn, celery worker, celery beat, serving supervisor

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


def test_make_run_serves_the_demo_endpoint(tmp_path):
    """seed_demo then serve, as `make run` does: the demo endpoint comes up and answers a request."""
    env = _migrated_embedded_env(tmp_path)
    seeded = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
        text=True,
    )
    key = next(line.split()[-1] for line in seeded.stdout.splitlines() if "API key:" in line)
    port = _free_port()
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=5
    )
    endpoint = "/api/v1/projects/demo/endpoints/demo-xgboost/"
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and status != "InService":
            with contextlib.suppress(httpx.TransportError):
                status = api.get(endpoint).json()["status"]
            time.sleep(0.5)
        assert status == "InService"
        deadline, answer = time.monotonic() + 10, None
        while time.monotonic() < deadline:
            answer = api.post(
                endpoint + "invocations", content=b"5.1,5.0,4.9,5.2", headers={"Content-Type": "text/csv"}
            )
            if answer.status_code != 503:  # 503 until the gateway's routes catch up
                break
            time.sleep(0.3)
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Amzn-Invoked-Production-Variant"] == "main"
        assert 0 <= float(answer.text) <= 1  # the probability of the predicted class
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
