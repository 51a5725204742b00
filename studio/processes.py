"""The command lines of Studio's processes, shared by `manage.py serve`, the tests and the benchmarks.

No Django imports: benchmarks build these commands before any settings exist.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_QUEUE = "default"
JOBS_QUEUE = "jobs"  # long-running job drivers, apart from quick tasks like the reaper
WORKER_QUEUES = (DEFAULT_QUEUE, JOBS_QUEUE)


def console_script(name: str) -> str:
    """A console script installed beside this Python (the virtualenv's gunicorn, celery)."""
    return str(Path(sys.executable).with_name(name))


def web_command(host: str, port: int, *, workers: int = 2) -> list[str]:
    """The web front: Django and the invocation gateway (``studio.asgi``) under uvicorn's workers,
    which uvicorn restarts if one dies."""
    return [
        console_script("uvicorn"), "studio.asgi:application", "--host", host, "--port", str(port),
        "--workers", str(workers), "--no-access-log", "--lifespan", "on", "--timeout-graceful-shutdown", "10",
        # Explicit: uvicorn's asyncio fallback leaves TCP_NODELAY off with --workers, and every
        # keep-alive answer then waits ~40 ms for the client's delayed ACK.
        "--loop", "uvloop", "--http", "httptools",
    ]  # fmt: skip


def serving_command() -> list[str]:
    """The serving supervisor: every endpoint's serving processes."""
    return [sys.executable, str(Path(__file__).resolve().parent.parent / "manage.py"), "serve_models"]


def worker_command(*, concurrency: int, loglevel: str = "INFO", extra: tuple[str, ...] = ()) -> list[str]:
    return [
        console_script("celery"), "-A", "studio", "worker", "-Q", ",".join(WORKER_QUEUES),
        "--concurrency", str(concurrency), "--loglevel", loglevel, *extra,
    ]  # fmt: skip


def beat_command(*, schedule_file: str, loglevel: str = "INFO") -> list[str]:
    return [
        console_script("celery"),
        "-A",
        "studio",
        "beat",
        "--loglevel",
        loglevel,
        # The database scheduler: monitoring schedules are PeriodicTask rows (django-celery-beat),
        # changed by the API while beat runs; settings' CELERY_BEAT_SCHEDULE is synced into it.
        "--scheduler",
        "django_celery_beat.schedulers:DatabaseScheduler",
        "--schedule",
        schedule_file,
    ]
