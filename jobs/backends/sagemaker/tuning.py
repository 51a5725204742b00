"""A tuning job on SageMaker launches its own training jobs; Studio mirrors each as a trial row, so
the tuning page (trials, objective, best job) reads the same as for a tuning job run here."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from jobs.backends.sagemaker.follow import aware_time
from jobs.models import Job, JobKind, JobMetric, JobStatus, JobStatusEvent, SecondaryStatus

# SageMaker's training statuses are Studio's; the secondary status a mirrored trial shows for each.
TRIAL_SECONDARY = {
    JobStatus.IN_PROGRESS: SecondaryStatus.TRAINING,
    JobStatus.STOPPING: SecondaryStatus.STOPPING,
    JobStatus.COMPLETED: SecondaryStatus.COMPLETED,
    JobStatus.FAILED: SecondaryStatus.FAILED,
    JobStatus.STOPPED: SecondaryStatus.STOPPED,
}
MAX_PAGES = 20


def _summaries(client, name: str) -> list[dict]:
    summaries: list[dict] = []
    arguments: dict = {"HyperParameterTuningJobName": name, "MaxResults": 100}
    for _ in range(MAX_PAGES):
        page = client.list_training_jobs_for_hyper_parameter_tuning_job(**arguments)
        summaries.extend(page.get("TrainingJobSummaries", []))
        if not page.get("NextToken"):
            break
        arguments["NextToken"] = page["NextToken"]
    return summaries


def tuning_trials_mirror(tuning: Job, client, remote: dict) -> bool:
    """Create or update a trial row per SageMaker training job of ``tuning``; True when any changed."""
    summaries = _summaries(client, remote["name"])
    existing = {trial.name: trial for trial in Job.objects.filter(tuning_job=tuning)}
    metric = tuning.spec.get("objective", {}).get("metric_name", "")
    changed = False
    for summary in summaries:
        status = summary["TrainingJobStatus"]
        trial = existing.get(summary["TrainingJobName"])
        with transaction.atomic():
            if trial is None:
                trial = _trial_create(tuning, summary, status, len(existing) + 1)
                existing[trial.name] = trial
                changed = True
            elif trial.status != status:
                ended = (
                    timezone.now()
                    if status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)
                    else None
                )
                Job.objects.filter(pk=trial.pk).update(
                    status=status,
                    secondary_status=TRIAL_SECONDARY.get(status, SecondaryStatus.TRAINING),
                    failure_reason=summary.get("FailureReason", "")[:1024],
                    ended_at=aware_time(summary.get("TrainingEndTime")) if ended else None,
                )
                JobStatusEvent.objects.create(
                    job=trial,
                    status=status,
                    secondary_status=TRIAL_SECONDARY.get(status, SecondaryStatus.TRAINING),
                    message=f"SageMaker: {status}",
                )
                changed = True
            objective = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
            if objective and not JobMetric.objects.filter(job=trial, name=objective["MetricName"]).exists():
                JobMetric.objects.create(
                    job=trial,
                    name=objective["MetricName"] or metric,
                    value=float(objective["Value"]),
                    step=0,
                    timestamp=aware_time(summary.get("TrainingEndTime")),
                )
                changed = True
    return changed


def _decoded(value: str) -> object:
    """SageMaker gives tuned values as strings; the tuning page charts numbers as numbers."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def _trial_create(tuning: Job, summary: dict, status: str, number: int) -> Job:
    tuned = summary.get("TunedHyperParameters", {})
    definition = tuning.spec.get("training_definition", {})
    created = aware_time(summary.get("CreationTime"))
    trial = Job.objects.create(
        project=tuning.project,
        kind=JobKind.TRAINING,
        name=summary["TrainingJobName"][:63],
        status=status,
        secondary_status=TRIAL_SECONDARY.get(status, SecondaryStatus.TRAINING),
        failure_reason=summary.get("FailureReason", "")[:1024],
        created_by=tuning.created_by,
        backend=tuning.backend,
        instance_type=tuning.instance_type,
        instance_count=tuning.instance_count,
        max_runtime_seconds=tuning.max_runtime_seconds,
        metric_definitions=tuning.metric_definitions,
        tags=tuning.tags,
        tuning_job=tuning,
        spec={
            "algorithm": definition.get("algorithm"),
            "code": definition.get("code"),
            "channels": definition.get("channels", []),
            "hyperparameters": {**definition.get("hyperparameters", {}), **tuned},
            "tuning": {
                "parameters": {key: _decoded(value) for key, value in tuned.items()},
                "number": number,
                "tuning_job": tuning.name,
            },
        },
        remote={"name": summary["TrainingJobName"], "arn": summary.get("TrainingJobArn", ""), "sent": True},
        created_at=created,
        started_at=aware_time(summary.get("TrainingStartTime")) if summary.get("TrainingStartTime") else None,
        ended_at=aware_time(summary.get("TrainingEndTime")) if summary.get("TrainingEndTime") else None,
    )
    JobStatusEvent.objects.create(
        job=trial,
        status=status,
        secondary_status=trial.secondary_status,
        message=f"Launched by SageMaker for tuning job {tuning.name}",
    )
    return trial
