"""A stand-in for Studio's own job modules (run as ``python -m tests.builtin_job``) and its hooks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

# Job modules run without Django (no settings in the job's process); only the hooks, called by
# the worker, touch models.
if TYPE_CHECKING:
    from jobs.models import Job


def record_outputs(job: Job) -> None:
    """A completion hook: remembers what the job produced, as an app's hook records versions."""
    from studio.services import audit_record

    audit_record(
        actor=None,
        action="recorded",
        target_type="test",
        target_name=job.outputs[0]["uri"],
        project=job.project,
        details={"context": job.spec["context"]},
    )


def failing_hook(job: Job) -> None:
    raise ValueError("column 'label' is missing")


if __name__ == "__main__":
    out = Path("processing/output/result")
    out.mkdir(parents=True, exist_ok=True)
    (out / "done.txt").write_text(" ".join(sys.argv[1:]))
    print("built-in job ran with", sys.argv[1:])
