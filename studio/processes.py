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


def web_command(host: str, port: int, *, workers: int = 2, threads: int = 4) -> list[str]:
    return [
        console_script("gunicorn"), "studio.wsgi:application", "--bind", f"{host}:{port}",
        "--workers", str(workers), "--threads", str(threads), "--access-logfile", "-",
    ]  # fmt: skip


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
        "--schedule",
        schedule_file,
    ]
