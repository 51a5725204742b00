"""The `sagemaker` backend's job driver: send a job to SageMaker, then follow it with a chain of
Celery tasks that poll with back-off, so no worker is held while SageMaker runs the job.

``sagemaker_advance`` is one step: it sends the job if it has not been sent, forwards a stop
request, reads the job's status, new secondary statuses, new log lines (CloudWatch) and final
metrics into the Studio job, and, once SageMaker has finished, fetches what the job made into
Studio's store. It returns the seconds to wait before the next step, or None when the job is over.

Only one chain follows a job: each carries a token kept in ``Job.remote["chain"]``; a step whose
token is no longer the job's (a stop request or the reaper started a new chain) ends its chain.
Throttling and transient AWS errors are retried on a later step (botocore has already retried
them with back-off); anything else ends the job with a reason a user can act on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from cloud.clients import AwsNotConfigured, aws_client, aws_settings_of, in_region
from cloud.errors import AWS_ERRORS, aws_failure
from cloud.models import AwsSettings
from jobs.backends.base import BackendError
from jobs.backends.sagemaker.follow import (
    already_exists,
    aware_time,
    boto3_method,
    chain_start,
    error_of,
    next_poll_delay,
)
from jobs.backends.sagemaker.requests import (
    job_request,
    model_request,
    sagemaker_job_name,
    transform_model_name,
)
from jobs.backends.sagemaker.staging import RetryLater, Stager, fetch_to_store
from jobs.models import (
    IllegalTransition,
    Job,
    JobKind,
    JobMetric,
    JobStatus,
    JobStatusEvent,
    SecondaryStatus,
)
from jobs.runner import JobRecorder

logger = logging.getLogger(__name__)

# A job whose sending AWS keeps throttling fails after this many tries (each after botocore's own).
MAX_SUBMIT_TRIES = 5
# A job whose outputs S3 keeps failing to give is completed without them after this many tries.
MAX_FETCH_TRIES = 5
# Internal errors while following a job already sent, before Studio gives it up (and stops it).
MAX_INTERNAL_ERRORS = 5
# What a chain that sent the job records even when another chain follows it by then.
SENT_FIELDS = ("operation", "request", "prerequisites", "name", "arn", "region", "sent", "sent_at")
# CloudWatch log lines read per step, at most; the rest comes on the next step.
MAX_LOG_EVENTS_PER_STEP = 10_000


@dataclass(frozen=True)
class Operations:
    describe: str
    stop: str
    name_key: str
    status_key: str
    log_group: str


OPERATIONS: dict[str, Operations] = {
    JobKind.TRAINING: Operations(
        "describe_training_job",
        "stop_training_job",
        "TrainingJobName",
        "TrainingJobStatus",
        "/aws/sagemaker/TrainingJobs",
    ),
    JobKind.PROCESSING: Operations(
        "describe_processing_job",
        "stop_processing_job",
        "ProcessingJobName",
        "ProcessingJobStatus",
        "/aws/sagemaker/ProcessingJobs",
    ),
    JobKind.TRANSFORM: Operations(
        "describe_transform_job",
        "stop_transform_job",
        "TransformJobName",
        "TransformJobStatus",
        "/aws/sagemaker/TransformJobs",
    ),
    JobKind.TUNING: Operations(
        "describe_hyper_parameter_tuning_job",
        "stop_hyper_parameter_tuning_job",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
        "",
    ),
}
# What Studio's job list shows while SageMaker works on a job of each kind.
WORKING_SECONDARY = {
    JobKind.TRAINING: SecondaryStatus.TRAINING,
    JobKind.PROCESSING: SecondaryStatus.PROCESSING,
    JobKind.TRANSFORM: SecondaryStatus.TRANSFORMING,
    JobKind.TUNING: SecondaryStatus.TRAINING,
}


def sagemaker_request_preview(job: Job) -> dict:
    """What was sent for ``job`` (``sent``: true), or what would be sent (a dry run that uploads
    nothing): ``{"operation", "request", "sent", "error"}``."""
    if job.remote.get("request"):
        return {
            "operation": job.remote["operation"],
            "request": job.remote["request"],
            "prerequisites": job.remote.get("prerequisites", []),
            "sent": True,
            "error": "",
        }
    try:
        aws = aws_settings_of(job.project)
        stager = Stager(aws, dry_run=True)
        prerequisites = _prerequisites(job, aws, stager)
        operation, request = job_request(job, aws, stager)
    except (AwsNotConfigured, BackendError) as exc:
        return {"operation": "", "request": None, "prerequisites": [], "sent": False, "error": str(exc)}
    return {
        "operation": operation,
        "request": request,
        "prerequisites": prerequisites,
        "sent": False,
        "error": "",
    }


def _prerequisites(job: Job, aws: AwsSettings, stager: Stager) -> list[dict]:
    """Calls that must succeed before the job's own: a transform job's model."""
    if job.kind != JobKind.TRANSFORM:
        return []
    request = model_request(job.spec["model"], aws, stager, name=transform_model_name(job))
    return [{"operation": "CreateModel", "request": request}]


def sagemaker_chain_start(job: Job) -> str:
    """Give the job a new chain token (ending any other chain); the caller sends the first step."""
    token, job.remote = chain_start(Job, job.pk)
    return token


def sagemaker_advance(job_id: int, chain: str, last_delay: float = 0.0) -> float | None:
    """One step of following a job on SageMaker; see the module's docstring."""
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None or job.remote.get("chain") != chain:
        return None
    if job.status not in (JobStatus.IN_PROGRESS, JobStatus.STOPPING):
        return None
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    step = _Step(job, chain, JobRecorder(job))
    try:
        with _heartbeat(job.pk, chain):
            return step.run(last_delay)
    except _ChainLost:
        return None
    except RetryLater as exc:
        return step.retry_later(str(exc), last_delay)
    except (AwsNotConfigured, BackendError) as exc:
        step.fail(str(exc))
    except AWS_ERRORS as exc:
        failure = aws_failure(exc, action=step.action)
        if failure.retryable:
            return step.retry_later(failure.reason, last_delay)
        step.fail(failure.reason)
    except DatabaseError:
        raise  # the database's trouble, not the job's: the reaper starts a new chain
    except Exception as exc:
        logger.exception("sagemaker driver crashed", extra={"job": job.name})
        reason = f"Internal error in Studio's SageMaker driver: {type(exc).__name__}: {exc}"
        if step.remote.get("sent") and step.remote.get("internal_errors", 0) < MAX_INTERNAL_ERRORS:
            # The job runs on regardless; try following it again before giving it up.
            step.remote["internal_errors"] = step.remote.get("internal_errors", 0) + 1
            return step.retry_later(reason, last_delay)
        step.fail(reason)
    return None


class _ChainLost(Exception):
    """Another chain follows the job now; this one ends."""


@contextlib.contextmanager
def _heartbeat(job_id: int, chain: str) -> Iterator[None]:
    """Keep the job's heartbeat fresh while a step works (staging gigabytes, fetching a model), so
    the reaper does not start a second chain beside a slow one."""
    done = threading.Event()

    def beat() -> None:
        try:
            while not done.wait(settings.STUDIO_HEARTBEAT_SECONDS):
                Job.objects.filter(pk=job_id, remote__chain=chain).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


class _Step:
    def __init__(self, job: Job, chain: str, recorder: JobRecorder) -> None:
        self.job = job
        self.chain = chain
        self.recorder = recorder
        self.remote = dict(job.remote)
        self.ops = OPERATIONS[job.kind]
        self.action = "Sending the job to SageMaker"
        self._aws: AwsSettings | None = None
        self._clients: dict[str, Any] = {}

    # --- plumbing -------------------------------------------------------------------------------
    @property
    def aws(self) -> AwsSettings:
        """The project's settings; a job already sent is followed (and stopped) in the region it was
        sent to, even if the settings changed or lost what only sending needs (role, bucket)."""
        if self._aws is None:
            sent = bool(self.remote.get("sent"))
            aws = aws_settings_of(self.job.project, require_ready=not sent)
            self._aws = in_region(aws, self.remote.get("region", "")) if sent else aws
        return self._aws

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = aws_client(self.aws, service)
        return self._clients[service]

    def save(self, **fields: object) -> bool:
        """Write ``remote`` (and ``fields``) unless another chain took the job over meanwhile."""
        self.recorder.flush()
        updated = Job.objects.filter(pk=self.job.pk, remote__chain=self.chain).update(
            remote=self.remote, **fields
        )
        self.job.remote = self.remote
        return bool(updated)

    def retry_later(self, reason: str, last_delay: float) -> float | None:
        self.remote["retries"] = self.remote.get("retries", 0) + 1
        if not self.remote.get("sent") and self.remote["retries"] >= MAX_SUBMIT_TRIES:
            self.finish(
                JobStatus.FAILED,
                SecondaryStatus.FAILED,
                failure_reason=f"{reason} (gave up after {MAX_SUBMIT_TRIES} tries)",
            )
            return None
        delay = next_poll_delay(last_delay, changed=False)
        self.recorder.system(f"{reason}; trying again in {delay:g} s")
        return delay if self.save() else None

    def finish(
        self, status: str, secondary: str, *, message: str = "", failure_reason: str = "", **extra: object
    ) -> None:
        """End the job, unless another chain follows it now (its own step decides)."""
        self.recorder.flush(final=True)
        self.remote.pop("chain", None)
        with transaction.atomic():
            current = Job.objects.select_for_update().filter(pk=self.job.pk).values_list("remote", flat=True)
            if (current.first() or {}).get("chain") != self.chain:
                return
            with contextlib.suppress(IllegalTransition):
                self.job.transition(
                    status,
                    secondary=secondary,
                    message=message or failure_reason[:200],
                    failure_reason=failure_reason,
                    extra={"remote": self.remote, **extra},
                )
        if self.job.tuning_job_id:
            from jobs.runner import _tell_tuning_job

            _tell_tuning_job(self.job)

    def fail(self, reason: str) -> None:
        """Fail the job; one already sent is asked to stop on SageMaker first (best effort), so it
        does not run on unseen."""
        if self.remote.get("sent") and not self.remote.get("stop_sent"):
            self.stop_quietly()
        self.finish(JobStatus.FAILED, SecondaryStatus.FAILED, failure_reason=reason)

    def stop_quietly(self) -> None:
        try:
            getattr(self.client("sagemaker"), self.ops.stop)(**{self.ops.name_key: self.remote["name"]})
        except (AwsNotConfigured, *AWS_ERRORS) as exc:
            self.recorder.system(f"Could not ask SageMaker to stop {self.remote['name']}: {exc}")
            return
        self.remote["stop_sent"] = True
        self.recorder.system(f"Asked SageMaker to stop {self.remote['name']}")

    # --- the step -------------------------------------------------------------------------------
    def run(self, last_delay: float) -> float | None:
        stopping = self.job.status == JobStatus.STOPPING
        if not self.remote.get("sent") and stopping and not self.adopt_sent_job():
            # A chain still sending it finds the job ended when it is done, and stops it there.
            self.recorder.system("Stopped before it was sent to SageMaker")
            self.finish(JobStatus.STOPPED, SecondaryStatus.STOPPED, message="Stopped on request")
            return None
        if not self.remote.get("sent"):
            self.submit()
            if not self.save():
                self.keep_what_was_sent()
                return None
            return settings.STUDIO_SAGEMAKER_POLL_SECONDS
        if self.job.kind == JobKind.TRANSFORM and self._past_runtime() and not self.remote.get("stop_sent"):
            # CreateTransformJob has no stopping condition: Studio enforces the job's limit itself.
            message = f"MaxRuntimeInSeconds ({self.job.max_runtime_seconds}) reached"
            self.remote["stop_cause"] = "max-runtime"
            with contextlib.suppress(IllegalTransition):
                self.job.transition(JobStatus.STOPPING, secondary=SecondaryStatus.STOPPING, message=message)
        if self.job.status == JobStatus.STOPPING and not self.remote.get("stop_sent"):
            self.action = f"{self.ops.stop} {self.remote['name']}"
            self.recorder.system(f"Stop requested: asking SageMaker to stop {self.remote['name']}")
            getattr(self.client("sagemaker"), self.ops.stop)(**{self.ops.name_key: self.remote["name"]})
            self.remote["stop_sent"] = True
        self.action = f"{self.ops.describe} {self.remote['name']}"
        described = getattr(self.client("sagemaker"), self.ops.describe)(
            **{self.ops.name_key: self.remote["name"]}
        )
        changed = self.follow(described)
        status = described[self.ops.status_key]
        if status in ("Completed", "Failed", "Stopped"):
            self.conclude(status, described)
            return None
        delay = next_poll_delay(last_delay, changed=changed)
        return delay if self.save() else None

    def adopt_sent_job(self) -> bool:
        """A chain that was sending the job may have created it before it lost the job: find it on
        SageMaker by its name, so that it is stopped and followed, not left running unseen."""
        if not self.remote.get("submitting_at"):
            return False
        name = sagemaker_job_name(self.job)
        self.action = f"{self.ops.describe} {name}"
        try:
            if not self._made_for_this_job({self.ops.name_key: name}):
                return False
        except AWS_ERRORS as exc:
            if error_of(exc)[0] in ("ValidationException", "ResourceNotFound"):
                return False  # not there: never created
            raise
        self.remote.update({"name": name, "sent": True, "region": self.aws.region})
        self.recorder.system(f"Found {name} on SageMaker: it was sent before the stop request")
        return True

    def keep_what_was_sent(self) -> None:
        """This chain sent the job but lost it meanwhile (a stop request started another chain):
        record what was sent whatever chain follows it now, and stop it on SageMaker if Studio has
        already ended the job."""
        sent = {key: self.remote[key] for key in SENT_FIELDS if key in self.remote}
        with transaction.atomic():
            row = Job.objects.select_for_update().filter(pk=self.job.pk).values("remote", "status").first()
            if row is None:
                return
            Job.objects.filter(pk=self.job.pk).update(remote={**row["remote"], **sent})
        if row["status"] in (JobStatus.STOPPED, JobStatus.FAILED, JobStatus.COMPLETED):
            self.stop_quietly()
            self.recorder.flush(final=True)

    def _past_runtime(self) -> bool:
        started = self.job.started_at or timezone.now()
        return (timezone.now() - started).total_seconds() > self.job.max_runtime_seconds

    def submit(self) -> None:
        aws = self.aws
        self.remote["submitting_at"] = timezone.now().isoformat()
        if not self.save():
            raise _ChainLost
        stager = Stager(aws, log=self.recorder.system)
        self.recorder.system(f"Preparing the request for SageMaker in {aws.region} (files to {aws.s3_root})")
        for item in _prerequisites(self.job, aws, stager):
            self.action = f"{item['operation']} {item['request'].get('ModelName', '')}".strip()
            self._create_tolerating_existing(item["operation"], item["request"])
            self.remote.setdefault("prerequisites", []).append(item)
        operation, request = job_request(self.job, aws, stager)
        self.action = operation
        response = self._create_tolerating_existing(operation, request, owned=self._made_for_this_job)
        name = request[self.ops.name_key]
        arn = next((value for key, value in response.items() if key.endswith("Arn")), "")
        self.remote.update(
            {
                "operation": operation,
                "request": request,
                "name": name,
                "arn": arn,
                "region": aws.region,
                "sent": True,
                "sent_at": timezone.now().isoformat(),
                "retries": 0,
            }
        )
        self.recorder.system(f"{operation} sent: {arn or name}")

    def _create_tolerating_existing(
        self, operation: str, request: dict, owned: Callable[[dict], bool] | None = None
    ) -> dict:
        """A create whose answer was lost is retried: "already exists" then means it worked, when
        ``owned`` (given the request) confirms that what exists is this job's."""
        try:
            return getattr(self.client("sagemaker"), boto3_method(operation))(**request)
        except AWS_ERRORS as exc:
            if not already_exists(exc):
                raise
        if owned is not None and not owned(request):
            raise BackendError(
                f"{operation}: SageMaker already has a job named {request[self.ops.name_key]} that Studio "
                "did not make for this job (another Studio, or a job of the same name since deleted); "
                "SageMaker never reuses a job name, so run this job again under another name."
            )
        self.recorder.system(f"{operation}: it already exists on SageMaker; following it")
        return {}

    def _made_for_this_job(self, request: dict) -> bool:
        client = self.client("sagemaker")
        described = getattr(client, self.ops.describe)(**{self.ops.name_key: request[self.ops.name_key]})
        arn = next((value for key, value in described.items() if key.endswith("JobArn")), "")
        tags = client.list_tags(ResourceArn=arn).get("Tags", []) if arn else []
        return any(tag["Key"] == "studio:job-uuid" and tag["Value"] == str(self.job.uuid) for tag in tags)

    def follow(self, described: dict) -> bool:
        """Status, secondary statuses, logs and metrics into the Studio job; True when anything was new."""
        changed = False
        transitions = described.get("SecondaryStatusTransitions", [])
        seen = self.remote.get("transitions_seen", 0)
        for item in transitions[seen:]:
            message = item.get("StatusMessage") or item["Status"]
            # SageMaker's own time of the step, never before the job started here (clock skew).
            at = max(aware_time(item.get("StartTime")), self.job.started_at or timezone.now())
            self.recorder.set_secondary(item["Status"], f"SageMaker: {item['Status']}: {message}", at=at)
            changed = True
        self.remote["transitions_seen"] = len(transitions)
        if not transitions:
            working = WORKING_SECONDARY[self.job.kind]
            if described[self.ops.status_key] == "InProgress" and self.job.secondary_status != working:
                self.recorder.set_secondary(working, f"SageMaker: {described[self.ops.status_key]}")
                changed = True
        if self.remote.get("last_status") != described[self.ops.status_key]:
            self.remote["last_status"] = described[self.ops.status_key]
            changed = True
        if self.ops.log_group:
            try:
                changed = self.tail_logs() or changed
            except AWS_ERRORS as exc:
                # The job runs on without its log here (no logs:GetLogEvents, throttling): say so once.
                if not self.remote.get("logs_unreadable"):
                    self.remote["logs_unreadable"] = True
                    reason = aws_failure(exc, action="Reading the job's CloudWatch logs").reason
                    self.recorder.system(f"{reason}; following the job without its log")
        if self.job.kind == JobKind.TUNING:
            from jobs.backends.sagemaker.tuning import tuning_trials_mirror

            changed = tuning_trials_mirror(self.job, self.client("sagemaker"), self.remote) or changed
        return changed

    def tail_logs(self) -> bool:
        """New CloudWatch lines of the job's log streams (``<name>/algo-1-...``) into the job's log."""
        logs = self.client("logs")
        group, name = self.ops.log_group, self.remote["name"]
        tokens: dict[str, str] = self.remote.setdefault("log_tokens", {})
        self.action = f"Reading the CloudWatch logs of {name}"
        try:
            streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")
        except AWS_ERRORS as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False  # no log group or stream yet: the instances are still starting
            raise
        read = 0
        for stream in sorted(item["logStreamName"] for item in streams.get("logStreams", [])):
            while read < MAX_LOG_EVENTS_PER_STEP:
                arguments = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
                if stream in tokens:
                    arguments["nextToken"] = tokens[stream]
                page = logs.get_log_events(**arguments)
                events = page.get("events", [])
                prefix = f"[{stream.split('/', 1)[-1]}] " if len(streams["logStreams"]) > 1 else ""
                self.recorder.write("".join(f"{prefix}{event['message'].rstrip()}\n" for event in events))
                read += len(events)
                token = page.get("nextForwardToken")
                unchanged = token == tokens.get(stream)
                if token:
                    tokens[stream] = token
                if not events or unchanged:
                    break
        return read > 0

    def conclude(self, status: str, described: dict) -> None:
        self.record_final_metrics(described)
        self.record_times(described)
        if status == "Completed":
            self.action = f"Fetching the outputs of {self.remote['name']}"
            self.recorder.set_secondary(SecondaryStatus.UPLOADING, "Fetching the job's outputs from S3")
            outputs = self.fetch_outputs(described)
            self.job.outputs = outputs
            fetched = {item["name"] for item in outputs if item.get("fetched")}
            if self.job.kind == JobKind.TRAINING and self.job.spec.get("on_complete") and "output" in fetched:
                _run_hook_quietly(self.job, self.recorder)
            self.finish(
                JobStatus.COMPLETED, SecondaryStatus.COMPLETED, message="Job completed", outputs=outputs
            )
        elif status == "Failed":
            reason = described.get("FailureReason") or "SageMaker reported the job Failed without a reason"
            self.recorder.system(f"SageMaker: Failed: {reason}")
            self.finish(
                JobStatus.FAILED, SecondaryStatus.FAILED, failure_reason=f"SageMaker: {reason}"[:1024]
            )
        else:
            secondary = described.get("SecondaryStatus", SecondaryStatus.STOPPED)
            if secondary == "MaxRuntimeExceeded" or self.remote.get("stop_cause") == "max-runtime":
                self.finish(
                    JobStatus.STOPPED,
                    SecondaryStatus.MAX_RUNTIME_EXCEEDED,
                    message=f"Stopped after MaxRuntimeInSeconds ({self.job.max_runtime_seconds})",
                    failure_reason=(
                        f"MaxRuntimeExceeded: the job ran longer than its MaxRuntimeInSeconds "
                        f"({self.job.max_runtime_seconds} s) and SageMaker stopped it."
                    ),
                )
            else:
                self.finish(JobStatus.STOPPED, SecondaryStatus.STOPPED, message="Stopped on request")

    def record_times(self, described: dict) -> None:
        """What SageMaker bills: with managed spot, the saving is 1 - billable / training time."""
        for key in ("TrainingTimeInSeconds", "BillableTimeInSeconds"):
            if described.get(key) is not None:
                self.remote[key] = described[key]

    def record_final_metrics(self, described: dict) -> None:
        """SageMaker's final values, for metrics the log lines did not already give."""
        final = described.get("FinalMetricDataList", [])
        known = set(JobMetric.objects.filter(job=self.job).values_list("name", flat=True).distinct())
        points = [
            JobMetric(
                job=self.job,
                name=item["MetricName"],
                value=float(item["Value"]),
                step=0,
                timestamp=aware_time(item.get("Timestamp")),
            )
            for item in final
            if item["MetricName"] not in known
        ]
        JobMetric.objects.bulk_create(points)

    def fetch_outputs(self, described: dict) -> list[dict]:
        from studio.services import artifact_record  # studio.services imports nothing of jobs

        job, aws = self.job, self.aws
        pairs: list[tuple[str, str, str]] = []  # (name, S3 URI, Studio URI)
        if job.kind == JobKind.TRAINING:
            model_uri = described.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
            if model_uri:
                pairs.append(("model", model_uri, f"{job.spec['output_uri']}/model.tar.gz"))
                output_uri = model_uri.rsplit("/", 1)[0] + "/output.tar.gz"
                pairs.append(("output", output_uri, f"{job.spec['output_uri']}/output.tar.gz"))
        elif job.kind == JobKind.PROCESSING:
            for item in described.get("ProcessingOutputConfig", {}).get("Outputs", []):
                destination = next(
                    (
                        out["destination_uri"]
                        for out in job.spec.get("outputs", [])
                        if out["name"] == item["OutputName"]
                    ),
                    None,
                )
                if destination:
                    pairs.append((item["OutputName"], item["S3Output"]["S3Uri"], destination))
        elif job.kind == JobKind.TRANSFORM:
            pairs.append(("output", described["TransformOutput"]["S3OutputPath"], job.spec["output"]["uri"]))
        elif job.kind == JobKind.TUNING:
            best = described.get("BestTrainingJob")
            return [{"name": "best_training_job", **_json_safe(best)}] if best else []
        produced = []
        for name, remote_uri, studio_uri in pairs:
            try:
                stored = fetch_to_store(aws, remote_uri, studio_uri)
                if not stored:
                    raise BackendError("nothing is there")
            except RetryLater:
                if self.remote.get("fetch_tries", 0) >= MAX_FETCH_TRIES:
                    raise BackendError(f"S3 kept failing while fetching {remote_uri}") from None
                self.remote["fetch_tries"] = self.remote.get("fetch_tries", 0) + 1
                raise
            except (BackendError, *AWS_ERRORS) as exc:
                if job.kind == JobKind.TRAINING and name == "output":
                    continue  # a job that wrote nothing to output/data has no output.tar.gz
                self.recorder.system(f"{name}: not fetched from {remote_uri} ({exc})")
                produced.append({"name": name, "uri": remote_uri, "remote_uri": remote_uri, "fetched": False})
                continue
            for obj in stored:
                artifact_record(project=job.project, stored=obj, origin=f"{job.kind}-job/{job.name}")
            entry = {
                "name": name,
                "uri": stored[0].uri if len(stored) == 1 and job.kind == JobKind.TRAINING else studio_uri,
                "remote_uri": remote_uri,
                "files": len(stored),
                "bytes": sum(obj.size for obj in stored),
                "fetched": True,
            }
            if job.kind == JobKind.TRAINING and stored:
                entry["sha256"] = stored[0].sha256
            produced.append(entry)
            self.recorder.system(f"{name}: {len(stored)} file(s), {entry['bytes']} bytes from {remote_uri}")
        return produced


def _run_hook_quietly(job: Job, recorder: JobRecorder) -> None:
    """Built-ins record their evaluation from ``output.tar.gz``; SageMaker's own algorithms write none."""
    from jobs.runner import _run_completion_hook

    try:
        _run_completion_hook(job, recorder)
    except BackendError as exc:
        recorder.system(str(exc))


def _json_safe(value: dict) -> dict:
    """An AWS answer (with datetimes) as plain JSON for a JSONField."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def sagemaker_step(job_id: int, chain: str, last_delay: float = 0.0) -> None:
    """One step, then the next one queued after its delay (the Celery task's body)."""
    _schedule(job_id, chain, sagemaker_advance(job_id, chain, last_delay))


def sagemaker_follow(job: Job) -> None:
    """Start following a job a worker has just claimed: its first step (sending it) runs here."""
    sagemaker_step(job.pk, sagemaker_chain_start(job))


def sagemaker_follow_soon(job: Job) -> None:
    """A new chain whose first step runs at once on a worker (a stop request to forward)."""
    chain = sagemaker_chain_start(job)
    transaction.on_commit(lambda: _schedule(job.pk, chain, 0.0))


def _schedule(job_id: int, chain: str, delay: float | None) -> None:
    if delay is None:
        return
    from jobs.tasks import follow_sagemaker_job

    try:
        follow_sagemaker_job.apply_async(args=[job_id, chain, delay], countdown=delay)
    except Exception:
        # The chain pauses; the reaper starts a new one once the job's heartbeat is stale.
        logger.exception("could not reach the broker", extra={"job_id": job_id})


def sagemaker_jobs_revive(stale_before: datetime) -> int:
    """Start a new chain for each active SageMaker job whose chain went quiet (a lost message, a
    restarted worker); returns how many."""
    revived = 0
    for job in Job.objects.filter(
        backend="sagemaker",
        status__in=[JobStatus.IN_PROGRESS, JobStatus.STOPPING],
        heartbeat_at__lt=stale_before,
    )[:500]:
        JobStatusEvent.objects.create(
            job=job,
            status=job.status,
            secondary_status=job.secondary_status,
            message="Following the job on SageMaker again after a pause",
        )
        Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        sagemaker_follow_soon(job)
        revived += 1
    return revived
