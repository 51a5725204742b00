"""A buffer that a thread of its own writes out every few seconds, and once more when it stops."""

from __future__ import annotations

import threading

from django.db import connections


class Flushing:
    """Subclasses collect on the request path (under ``self._lock``) and write in ``flush``."""

    thread_name = "gateway-flush"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    def flush(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self.stopping.wait(self.interval):
            self.flush()
        self.flush()
        connections.close_all()  # this thread's, so nothing holds a database session after

    def stop(self) -> None:
        """Write what is left and end the thread."""
        self.stopping.set()
        if self._thread is None:
            self.flush()
        else:
            self._thread.join(10)
