"""Real serving in tests: the supervisor in a thread (its serving processes are real subprocesses)
and the web app (Django + the invocation gateway) under a real uvicorn on a free port."""

from __future__ import annotations

import io
import os
import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import joblib
import numpy as np
import pytest
import uvicorn
from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application
from django.db import connections

from endpoints.models import Endpoint
from endpoints.serving.supervisor import Supervisor

FAST_SERVING = {
    "STUDIO_SERVING_POLL_SECONDS": 0.1,
    "STUDIO_GATEWAY_REFRESH_SECONDS": 0.1,
    "STUDIO_SERVING_DRAIN_SECONDS": 1.0,
    "STUDIO_CAPTURE_FLUSH_SECONDS": 0.2,
    "STUDIO_METRICS_FLUSH_SECONDS": 0.2,
}


def model_archive(files: dict[str, bytes]) -> io.BytesIO:
    """A model.tar.gz holding ``files``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    buffer.name = "model.tar.gz"
    return buffer


def sklearn_archive(features: int = 4, seed: int = 0, rows: int = 300) -> io.BytesIO:
    """A logistic regression on ``rows`` generated rows, as model.joblib (a pickle: needs trust)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression().fit(x, y), buffer)
    return model_archive({"model.joblib": buffer.getvalue()})


def constant_handler_archive(answer: str) -> io.BytesIO:
    """User code (no pickle) whose model answers ``answer`` for each row, in JSON or CSV."""
    code = f"""
import json

class Constant:
    def predict(self, rows):
        return [{answer!r} for _ in rows]

def model_fn(model_dir):
    return Constant()

def input_fn(body, content_type):
    text = body.decode() if isinstance(body, bytes) else body
    if content_type.startswith("application/json"):
        return json.loads(text)
    return [line.split(",") for line in text.strip().splitlines()]

def predict_fn(data, model):
    return model.predict(data)

def output_fn(prediction, accept):
    if accept.startswith("application/json"):
        return json.dumps(prediction), "application/json"
    return "".join(str(p) + "\\n" for p in prediction), "text/csv"
"""
    return model_archive({"code/inference.py": code.encode()})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Serving:
    url: str
    supervisor: Supervisor

    def client(self, key: str, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}", "Accept": "text/csv"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def invocations(self, project: str, endpoint: str) -> str:
        return f"/api/v1/projects/{project}/endpoints/{endpoint}/invocations"


def wait_for_status(endpoint: Endpoint, wanted: str, timeout: float = 60.0) -> Endpoint:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        endpoint.refresh_from_db()
        if endpoint.status == wanted:
            return endpoint
        if endpoint.status == "Failed" and wanted != "Failed":
            raise AssertionError(f"{endpoint.name} Failed: {endpoint.failure_reason}")
        time.sleep(0.1)
    raise AssertionError(f"{endpoint.name} is {endpoint.status}, not {wanted}, after {timeout} s")


def wait_until(condition, timeout: float = 30.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{message} not met within {timeout} s")


DJANGO_THREADS = 4


def close_thread_connections(executor) -> None:
    """Close the database connection of every thread of ``executor`` (one task lands on each, held
    by a barrier), then shut it down."""
    barrier = threading.Barrier(DJANGO_THREADS)

    def close() -> None:
        barrier.wait(10)
        connections.close_all()

    for future in [executor.submit(close) for _ in range(DJANGO_THREADS)]:
        future.result(15)
    executor.shutdown(wait=True)


@pytest.fixture
def serving(request, transactional_db, settings, monkeypatch, tmp_path) -> Iterator[Serving]:
    """The supervisor and the web app (a fresh gateway, also the test console's) on 127.0.0.1; both
    stopped at the end. On
    the full-stack pass the artifact store (models, captured data) is the S3 server."""
    import studio.asgi
    from endpoints.gateway.app import Gateway

    if os.environ.get("STUDIO_TEST_S3"):
        request.getfixturevalue("s3_store")
    for name, value in FAST_SERVING.items():
        setattr(settings, name, value)
    settings.STUDIO_SERVING_DIR = tmp_path / "serving"
    gateway = Gateway()
    monkeypatch.setattr(studio.asgi, "gateway", gateway)
    monkeypatch.setattr("endpoints.views.console.gateway", gateway)  # the pages' test console
    # Django's own thread pool, shut down at the end, so no thread keeps a database connection.
    django_app = WSGIMiddleware(get_wsgi_application(), workers=DJANGO_THREADS)
    monkeypatch.setattr(studio.asgi, "django_application", django_app)
    stop = threading.Event()
    supervisor = Supervisor()
    supervising = threading.Thread(target=supervisor.run, args=(stop,), daemon=True)
    supervising.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            studio.asgi.application, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
    )
    serving_http = threading.Thread(target=server.run, daemon=True)
    serving_http.start()
    wait_until(lambda: server.started, 10, "uvicorn started")
    try:
        yield Serving(url=f"http://127.0.0.1:{port}", supervisor=supervisor)
    finally:
        server.should_exit = True
        serving_http.join(10)
        stop.set()
        supervising.join(30)
        gateway.stop()
        close_thread_connections(django_app.executor)
        connections.close_all()
