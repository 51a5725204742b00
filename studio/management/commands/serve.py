"""Runs the web server, a Celery worker, Celery beat and the serving supervisor together, and stops
them together."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from studio.env import env_int
from studio.processes import beat_command, serving_command, web_command, worker_command


class Command(BaseCommand):
    help = "Run Studio: web server, Celery worker, Celery beat, serving supervisor. Ctrl-C stops all of them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=env_int("PORT", 8000, minimum=1))
        parser.add_argument(
            "--concurrency",
            type=int,
            default=env_int("STUDIO_WORKER_CONCURRENCY", 2, minimum=1),
            help="Jobs the worker runs at once.",
        )

    def handle(self, *args, host: str, port: int, concurrency: int, **options) -> None:
        commands = {
            "web": web_command(host, port),
            "worker": worker_command(concurrency=concurrency),
            "beat": beat_command(schedule_file=settings.CELERY_BEAT_SCHEDULE_FILENAME),
            "serving": serving_command(),
        }
        processes = {name: subprocess.Popen(argv) for name, argv in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"Studio is running at http://{host}:{port}/ (Ctrl-C stops it)"))
        stopping = False

        def request_stop(signum: int, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exit_code = 0
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with code {process.returncode}; stopping the others")
                    exit_code, stopping = 1, True
            time.sleep(0.5)
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        if exit_code:
            raise SystemExit(exit_code)
