"""Profiles of dataset versions: start the profiling job, record its report, read it back.

A profile is a row beside a built-in processing job (``datasets.runtime.profile``); its status is
the job's. The job writes ``report.json`` to its ``report`` output; the completion hook checks
that it parses and records where it is, before the job is marked Completed, so a Completed
profile always has a readable report (and a job whose report is unreadable fails, with why).
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404

from datasets.models import DataFormat, DatasetVersion, Profile
from datasets.profiling import REPORT_VERSION
from jobs.models import Job
from jobs.services import builtin_job_create
from studio.artifacts import ArtifactError, join_uri, project_prefix, store_for
from studio.models import Project
from studio.services import audit_record

PROFILE_MODULE = "datasets.runtime.profile"
COMPLETION_HOOK = "datasets.profiles.profile_job_completed"
REPORT_OUTPUT = "report"
REPORT_FILE = "report.json"
# Job arguments are at most 256 characters each (jobs.services); longer options go in a file.
MAX_ARGUMENT_CHARS = 256
CONFIG_PATH = "/opt/ml/processing/input/config/config.json"
MAX_REPORT_BYTES = 64 * 1024 * 1024
PROGRESS_METRICS = [{"name": "rows", "regex": r"rows=(\d+)"}]


class ReportError(Exception):
    """A report that is missing, too large, or not a profile report."""


def _job_name(version: DatasetVersion, profile_uuid: uuid.UUID) -> str:
    """``profile-<dataset>-v<n>-<8 hex>``: unique, readable, at most 63 characters."""
    base = f"profile-{version.dataset.name}"[:40].rstrip("-")
    return f"{base}-v{version.number}-{profile_uuid.hex[:8]}"


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _job_arguments(version: DatasetVersion, target_column: str) -> tuple[list[str], dict]:
    """The module's arguments, and the options too long to be one (for a config file)."""
    arguments = ["--format", version.format]
    overflow: dict = {}
    read_options = _compact(version.read_options or {})
    if len(read_options) <= MAX_ARGUMENT_CHARS:
        arguments += ["--read-options", read_options]
    else:
        overflow["read_options"] = version.read_options
    schema = {column["name"]: column["type"] for column in version.schema or [] if column.get("name")}
    if schema:
        text = _compact(schema)
        if len(text) <= MAX_ARGUMENT_CHARS:
            arguments += ["--schema", text]
        else:
            overflow["schema"] = schema
    if target_column:
        arguments += ["--target", target_column]
    return arguments, overflow


def profile_start(
    *,
    version: DatasetVersion,
    user: AbstractBaseUser | None,
    target_column: str = "",
    instance_type: str = "ml.m5.large",
) -> Profile:
    """Start profiling ``version``: the job and the profile row are created together, and the job
    is queued once they are committed. ``target_column`` (optional) must be a column of the version."""
    dataset = version.dataset
    project = dataset.project
    if version.format == DataFormat.ARCHIVE:
        raise ValidationError(
            {
                "version": f"{dataset.name} v{version.number} is an archive of files; profiles are made "
                "of tables (CSV, TSV, Parquet, JSON Lines or Excel)."
            }
        )
    target_column = (target_column or "").strip()
    columns = [column.get("name") for column in version.schema or []]
    if target_column and target_column not in columns:
        shown = ", ".join(map(str, columns[:30])) + (", ..." if len(columns) > 30 else "")
        raise ValidationError(
            {
                "target_column": f"{target_column!r} is not a column of {dataset.name} v{version.number} "
                f"(its columns: {shown or 'none known'})."
            }
        )
    profile_uuid = uuid.uuid4()
    arguments, overflow = _job_arguments(version, target_column)
    inputs = [{"name": "data", "source_uri": version.uri}]
    config_uri = ""
    if overflow:
        config_uri = join_uri(project_prefix(project.name), "profiles", str(profile_uuid), "config.json")
        store_for(config_uri).put(config_uri, io.BytesIO(_compact(overflow).encode()))
        inputs.append({"name": "config", "source_uri": config_uri})
        arguments += ["--config", CONFIG_PATH]
    try:
        with transaction.atomic():
            job = builtin_job_create(
                project=project,
                user=user,
                name=_job_name(version, profile_uuid),
                module=PROFILE_MODULE,
                inputs=inputs,
                outputs=[{"name": REPORT_OUTPUT}],
                arguments=arguments,
                instance_type=instance_type,
                metric_definitions=PROGRESS_METRICS,
                on_complete=COMPLETION_HOOK,
                context={"profile": str(profile_uuid)},
            )
            profile = Profile.objects.create(
                uuid=profile_uuid,
                version=version,
                job=job,
                target_column=target_column,
                created_by=user if user is not None and user.is_authenticated else None,
            )
            audit_record(
                actor=user,
                action="create",
                target_type="profile",
                target_name=f"{dataset.name}/v{version.number}",
                project=project,
                details={"profile": str(profile_uuid), "job": job.name, "target_column": target_column},
            )
    except Exception:
        if config_uri:
            with contextlib.suppress(ArtifactError):
                store_for(config_uri).delete(config_uri)
        raise
    return profile


def profile_job_completed(job: Job) -> None:
    """The profiling job's completion hook: check the report parses, then record it on the profile.

    Raising fails the job (with the message as its reason), so the profile fails with it.
    """
    profile = Profile.objects.filter(uuid=job.spec.get("context", {}).get("profile"), job=job).first()
    if profile is None:
        raise ReportError("the profile this job was making no longer exists")
    output = next((item for item in job.outputs if item["name"] == REPORT_OUTPUT), None)
    if output is None:
        raise ReportError(f"the job produced no '{REPORT_OUTPUT}' output")
    uri = join_uri(output["uri"], REPORT_FILE)
    report = report_read(uri)
    Profile.objects.filter(pk=profile.pk).update(report_uri=uri, summary=report_summary(report))


def report_read(uri: str) -> dict:
    """The report at ``uri``, parsed and checked (at most ``MAX_REPORT_BYTES``)."""
    try:
        with contextlib.closing(store_for(uri).open(uri)) as handle:
            data = handle.read(MAX_REPORT_BYTES + 1)
    except ArtifactError as exc:
        raise ReportError(f"the report could not be read: {exc}") from exc
    if len(data) > MAX_REPORT_BYTES:
        raise ReportError(f"the report is larger than {MAX_REPORT_BYTES // 1024**2} MiB")
    try:
        report = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"the report is not valid JSON: {exc}") from exc
    if not isinstance(report, dict) or report.get("report_version") != REPORT_VERSION:
        raise ReportError(f"the report is not a version {REPORT_VERSION} profile report")
    for key in ("dataset", "columns", "warnings"):
        if key not in report:
            raise ReportError(f"the report has no {key!r} section")
    return report


def report_summary(report: dict) -> dict:
    """The headline figures a list shows without opening the report."""
    dataset = report["dataset"]
    target = report.get("target") or {}
    baseline = target.get("baseline") or {}
    leakage = (target.get("leakage") or {}).get("features", [])
    return {
        "rows": dataset.get("rows"),
        "columns": dataset.get("columns"),
        "duplicate_rows": dataset.get("duplicate_rows"),
        "missing_cells_fraction": dataset.get("missing_cells_fraction"),
        "warnings": len(report["warnings"]),
        "high_warnings": sum(1 for item in report["warnings"] if item.get("severity") == "high"),
        "problem_type": target.get("problem_type"),
        "baseline_metric": baseline.get("metric"),
        "baseline_score": baseline.get("score"),
        "leaking_columns": [item["column"] for item in leakage if item.get("leaks")],
    }


# --- reads -----------------------------------------------------------------------------------------


def profiles_of(version: DatasetVersion) -> QuerySet[Profile]:
    """A version's profiles, newest first, with their job, version and creator (one query)."""
    return Profile.objects.filter(version=version).select_related("job", "version__dataset", "created_by")


def profile_get(project: Project, profile_uuid: object) -> Profile:
    """The profile ``profile_uuid`` of a version in ``project``; 404 if there is none."""
    profile = (
        Profile.objects.filter(uuid=profile_uuid, version__dataset__project=project)
        .select_related("job", "version__dataset__project", "created_by")
        .first()
    )
    if profile is None:
        raise Http404(f"No profile {profile_uuid} in {project.name}.")
    return profile


def profile_report(profile: Profile) -> dict | None:
    """The report of a completed profile, read from the store; None until there is one."""
    if not profile.report_uri:
        return None
    return report_read(profile.report_uri)
