"""Real Celery worker processes for integration tests, configured like the test process."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from studio.processes import WORKER_QUEUES, console_script, worker_command

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the test database this process uses, for a worker to use the same."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(**overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "STUDIO_DATA_DIR": str(settings.DATA_DIR),
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "STUDIO_ARTIFACT_URI": settings.STUDIO_ARTIFACT_URI,
        "STUDIO_WORK_DIR": str(settings.STUDIO_WORK_DIR),
        "STUDIO_HEARTBEAT_SECONDS": "0.5",
        "STUDIO_STOP_GRACE_SECONDS": "2",
        "STUDIO_LOG_FLUSH_SECONDS": "0.2",
        "STUDIO_LOG_LEVEL": "WARNING",
    }
    if settings.AWS_ENDPOINT_URL:
        env["AWS_ENDPOINT_URL"] = settings.AWS_ENDPOINT_URL
    env.update(overrides)
    return env


def purge_queues(env: dict[str, str]) -> None:
    """Drop messages a previous run left, whose job ids may name rows of this run's fresh database."""
    subprocess.run(
        [console_script("celery"), "-A", "studio", "purge", "-f", "-Q", ",".join(WORKER_QUEUES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


class WorkerProcess:
    def __init__(self, env: dict[str, str], concurrency: int = 2) -> None:
        self.env = env
        purge_queues(env)
        self.log = open(Path(settings.DATA_DIR) / f"worker-{os.getpid()}-{time.time_ns()}.log", "w+b")  # noqa: SIM115
        self.process = subprocess.Popen(
            worker_command(
                concurrency=concurrency,
                extra=("--pool", "prefork", "--without-gossip", "--without-mingle", "--without-heartbeat"),
            ),
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            if b"ready." in Path(self.log.name).read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
