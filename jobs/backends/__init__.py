from __future__ import annotations

from jobs.backends.base import BackendError, ComputeBackend, RunState, StopRequested


def get_backend(name: str) -> ComputeBackend:
    if name == "local":
        from jobs.backends.local import LocalBackend

        return LocalBackend()
    raise BackendError(f"Unknown compute backend {name!r}")


__all__ = ["BackendError", "ComputeBackend", "RunState", "StopRequested", "get_backend"]
