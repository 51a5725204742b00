"""What the benchmarks that run a real Studio share: a temporary Studio server and a few helpers.

Not a benchmark. Every benchmark that starts a Studio imports it (``from benchlib import ...``);
run as ``python benchmarks/<name>.py``, this folder is on ``sys.path``.

A :class:`StudioServer` migrates and seeds a fresh Studio (user ``bench``, project ``bench``, an
API key), starts its web server and, when asked, one Celery worker and the serving supervisor
(``manage.py serve_models``), with the command lines ``manage.py serve`` uses, each in its own
process group, and stops them all.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
sys.path.insert(0, str(ROOT))  # run as a script from a checkout, installed or not

from studio.processes import serving_command, web_command, worker_command  # noqa: E402

START_TIMEOUT_SECONDS = 60
COMMAND_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 15
# Variables of the environment that would point the subprocesses somewhere else than this run's.
INHERITED_OUT = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "STUDIO_ARTIFACT_URI",
    "STUDIO_WORK_DIR",
    "SECRET_KEY_FILE",
    "AWS_ENDPOINT_URL",
    "STUDIO_DATA_DIR",
    "STUDIO_DEBUG",
    "DJANGO_SETTINGS_MODULE",
)


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def studio_env(data_dir: Path, secret_key: str, **extra: str) -> dict[str, str]:
    """This process's environment without INHERITED_OUT, for a Studio whose data lie in ``data_dir``."""
    env = {key: value for key, value in os.environ.items() if key not in INHERITED_OUT}
    env.update(
        DJANGO_SETTINGS_MODULE="studio.settings",
        SECRET_KEY=secret_key,
        STUDIO_DATA_DIR=str(data_dir),
        STUDIO_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


@dataclass
class StudioServer:
    """A fresh Studio: ``prepare()`` (migrate, seed, API key), ``start()``, requests, ``stop()``.

    ``log_dir`` holds one ``<process>.log`` per process started; ``label``, when set, prefixes
    every error message as ``[label]``; ``worker`` also starts a Celery worker (and ``start()``
    waits for its ``ready.``); ``serving`` also starts the serving supervisor (endpoints' model
    processes); ``web_workers`` is the web server's worker processes.
    """

    env: dict[str, str]
    log_dir: Path
    label: str = ""
    worker: bool = False
    worker_concurrency: int = 2
    serving: bool = False
    web_workers: int = 2
    key_name: str = "benchmark"
    request_timeout: float = 60.0
    port: int = 0
    key: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def prefix(self) -> str:
        return f"[{self.label}] " if self.label else ""

    def pid(self, name: str = "web") -> int:
        return self.processes[name].pid

    # --- manage.py ---------------------------------------------------------------------------------

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode:
            raise BenchError(
                f"{self.prefix}manage.py {args[0]} failed ({result.returncode}):\n"
                f"{(result.stdout + result.stderr)[-3000:]}"
            )
        return result.stdout

    def prepare(self) -> None:
        """Migrate, then create the user ``bench``, its project ``bench`` and an API key (``key``)."""
        self.manage("migrate", "--noinput", "-v0")
        snippet = (
            "from django.contrib.auth import get_user_model\n"
            "from studio.services import api_key_create, project_create\n"
            "user = get_user_model().objects.create_user('bench', password=None)\n"
            "project_create(name='bench', user=user)\n"
            f"print(api_key_create(user=user, name={self.key_name!r})[1])\n"
        )
        lines = [line.strip() for line in self.manage("shell", "-c", snippet).splitlines()]
        keys = [line for line in lines if line.startswith("stk_")]
        if not keys:
            raise BenchError(f"{self.prefix}no API key printed by the seed snippet: {lines[-5:]}")
        self.key = keys[-1]

    # --- Processes ---------------------------------------------------------------------------------

    def _start(self, name: str, argv: list[str]) -> None:
        log = self.log_dir / f"{name}.log"
        self.logs[name] = log
        with open(log, "wb") as handle:
            # Its own process group, so stop() reaches gunicorn's and Celery's children too.
            self.processes[name] = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _healthy(self) -> bool:
        with contextlib.suppress(OSError, http.client.HTTPException):
            return self.request_bytes("GET", "/healthz", timeout=2)[0] == 200
        return False

    def start(self) -> None:
        """The commands ``manage.py serve`` runs (web and, if asked, worker and serving supervisor;
        never beat); returns once web answers /healthz and the worker, if any, has logged ``ready.``."""
        self.port = free_port()
        self._start("web", web_command("127.0.0.1", self.port, workers=self.web_workers))
        if self.worker:
            self._start("worker", worker_command(concurrency=self.worker_concurrency))
        if self.serving:
            self._start("serving", serving_command())
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        healthy, ready = False, not self.worker
        while time.monotonic() < deadline and not (healthy and ready):
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise BenchError(
                        f"{self.prefix}{name} exited with {process.returncode} "
                        f"while starting:\n{tail(self.logs[name])}"
                    )
            if not healthy:
                healthy = self._healthy()
            if not ready:
                ready = b"ready." in self.logs["worker"].read_bytes()
            if not (healthy and ready):
                time.sleep(0.2)
        if not (healthy and ready):
            which = "web /healthz" if not healthy else "worker"
            log = self.logs["web" if not healthy else "worker"]
            raise BenchError(f"{self.prefix}{which} not ready after {START_TIMEOUT_SECONDS} s:\n{tail(log)}")

    def stop(self) -> None:
        """SIGTERM to every process group, SIGKILL to those still there after 15 s."""
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # Children (a worker's job subprocesses) run in their leader's group; none may outlive it.
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()

    # --- HTTP --------------------------------------------------------------------------------------

    def connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        """A connection to the web server, to reuse across requests (keep-alive)."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout or self.request_timeout)

    def request_bytes(
        self,
        method: str,
        path: str,
        body: bytes | dict | None = None,
        headers: dict | None = None,
        *,
        connection: http.client.HTTPConnection | None = None,
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        """One request with the API key (a dict body is sent as JSON): the status and the body.
        On ``connection`` when given, else on a connection of its own, closed after."""
        sent = {"Authorization": f"Bearer {self.key}", "Accept": "application/json", **(headers or {})}
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        own = connection is None
        conn = connection or self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            if own:
                conn.close()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict | None = None,
        headers: dict | None = None,
        *,
        connection: http.client.HTTPConnection | None = None,
        timeout: float | None = None,
    ) -> tuple[int, dict]:
        """As request_bytes, the body read as JSON ({} when empty)."""
        status, data = self.request_bytes(method, path, body, headers, connection=connection, timeout=timeout)
        return status, json.loads(data) if data else {}


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type: ``fields`` as text, ``files`` as (name, bytes)."""
    boundary = "----studio-bench-" + secrets.token_hex(8)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    for key, (filename, content) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def measured_run(command: list[str], env: dict[str, str], *, timeout: float, cwd: Path | None = None) -> dict:
    """Run ``command`` under a wrapper process (this file, ``--measure``) whose RUSAGE_CHILDREN is the
    command alone: ``{"rc", "wall_s", "peak_mb", "stdout", "stderr"}``."""
    wrapper = [sys.executable, __file__, "--measure", "--", *command]
    finished = subprocess.run(
        wrapper, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = finished.stdout.strip().splitlines()
    if finished.returncode != 0 or not lines:
        raise SystemExit(
            f"the measuring wrapper around {' '.join(command[:3])} ... failed:\n{finished.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def _measure(command: list[str]) -> int:
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "rc": finished.returncode,
                "wall_s": wall,
                "peak_mb": peak_kib / 1024,
                "stdout": finished.stdout[-20000:],
                "stderr": finished.stderr[-5000:],
            }
        )
    )
    return 0


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "--measure":
    sys.exit(_measure(sys.argv[3:]))
