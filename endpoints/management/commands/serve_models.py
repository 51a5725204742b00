"""Runs the serving supervisor: every endpoint's serving processes, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from endpoints.serving.supervisor import Supervisor, protect_process_memory


class Command(BaseCommand):
    help = "Run the serving supervisor: start, check, restart and drain endpoints' serving processes."

    def handle(self, *args, **options) -> None:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        protect_process_memory()
        supervisor = Supervisor()
        self.stdout.write(f"serving supervisor {supervisor.name} running")
        supervisor.run(stop)
