"""What a finished training job leaves behind for the pages: its evaluation.

Runs in the worker as the built-ins' completion hook (``spec.on_complete``), after the outputs
are uploaded and before the job is marked Completed, so a Completed built-in job always has its
evaluation when it has a test or validation channel. It reads ``evaluation.json`` back from
``output.tar.gz`` in the store, so it works the same whichever backend ran the job.
"""

from __future__ import annotations

import json
import tarfile

from jobs.models import Job, JobEvaluation
from studio.artifacts import store_for

EVALUATION_FILE = "evaluation.json"
MAX_EVALUATION_BYTES = 20 * 1024 * 1024


def _read_evaluation(output_uri: str) -> dict | None:
    with (
        store_for(output_uri).open(output_uri) as stream,
        tarfile.open(fileobj=stream, mode="r|gz") as archive,
    ):
        for member in archive:
            if member.isfile() and member.name.removeprefix("./") == EVALUATION_FILE:
                if member.size > MAX_EVALUATION_BYTES:
                    raise ValueError(f"{EVALUATION_FILE} is larger than {MAX_EVALUATION_BYTES} bytes")
                handle = archive.extractfile(member)
                return json.load(handle) if handle is not None else None
    return None


def evaluation_record(job: Job) -> JobEvaluation | None:
    output = next((item for item in job.outputs if item["name"] == "output"), None)
    if output is None:
        return None
    report = _read_evaluation(output["uri"])
    if report is None:
        return None  # no test or validation channel: nothing was evaluated
    evaluation, _ = JobEvaluation.objects.update_or_create(
        job=job,
        defaults={
            "problem": str(report.get("problem", ""))[:64],
            "channel": str(report.get("channel", ""))[:64],
            "metrics": report.get("metrics", {}),
            "report": report,
        },
    )
    return evaluation
