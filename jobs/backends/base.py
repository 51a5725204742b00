"""The compute-backend interface. The job driver (jobs.runner) calls only these methods, so a
backend that runs jobs elsewhere (Amazon SageMaker) fits without changing any caller."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobs.models import Job
    from jobs.runner import JobRecorder


@dataclass
class RunState:
    """What one refresh learned: new log text, and the exit code once the job has ended."""

    log_text: str = ""
    exit_code: int | None = None
    failure_reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.exit_code is not None


class BackendError(Exception):
    """The backend could not do what the job asked; the message becomes the job's failure reason."""


class StopRequested(BackendError):
    """The job was stopped while the backend was still preparing it (before its process ran)."""


class ComputeBackend(ABC):
    name: str

    @abstractmethod
    def submit(self, job: Job, recorder: JobRecorder) -> Any:
        """Prepare inputs and start the job. Returns a handle the other methods take."""

    @abstractmethod
    def refresh(self, handle: Any, *, wait_seconds: float) -> RunState:
        """New logs and, once it has ended, the exit code; waits up to ``wait_seconds`` for news."""

    @abstractmethod
    def stop(self, handle: Any, *, grace_seconds: float) -> None:
        """Ask the job to stop (SIGTERM), and force it (SIGKILL) once the grace period has passed."""

    @abstractmethod
    def collect(self, handle: Any, recorder: JobRecorder) -> list[dict]:
        """Upload what a successful job produced; returns its outputs."""

    def cleanup(self, handle: Any) -> None:  # noqa: B027 - optional hook, nothing to clean by default
        """Release what ``submit`` took (processes, directories)."""
