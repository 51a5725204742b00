"""Reads of jobs, with their prefetching and the log and metric queries the live pages poll."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Count, QuerySet
from django.http import Http404

from jobs.models import Backend, Job, JobEvaluation, JobLogChunk, JobMetric, JobStatus
from studio.models import Project

LOG_PAGE_CHARS = 256 * 1024
DEFAULT_MAX_POINTS = 2000
MAX_POINTS_LIMIT = 100_000


def jobs_of(
    project: Project, *, kind: str | None = None, filters: Mapping[str, str] | None = None
) -> QuerySet[Job]:
    """A project's jobs, newest first.

    Narrowed by ``status``, ``kind``, ``name`` (contains) and ``created_by``.
    """
    jobs = Job.objects.filter(project=project).select_related("created_by", "project")
    if kind:
        jobs = jobs.filter(kind=kind)
    filters = filters or {}
    if (status := filters.get("status")) and status in JobStatus.values:
        jobs = jobs.filter(status=status)
    if kind_filter := filters.get("kind"):
        jobs = jobs.filter(kind=kind_filter)
    if name := filters.get("name"):
        jobs = jobs.filter(name__icontains=name)
    if created_by := filters.get("created_by"):
        jobs = jobs.filter(created_by__username=created_by)
    return jobs


def job_status_counts(project: Project) -> list[tuple[str, int]]:
    """Every status with its number of jobs, zeros included, in lifecycle order (one GROUP BY)."""
    # order_by() drops Job's default ordering, which would otherwise split the GROUP BY.
    rows = Job.objects.filter(project=project).order_by().values_list("status").annotate(n=Count("id"))
    counts = dict(rows)
    return [(status, counts.get(status, 0)) for status in JobStatus.values]


def job_get(project: Project, kind: str, name: str) -> Job:
    job = (
        Job.objects.select_related("created_by", "project")
        .filter(project=project, kind=kind, name=name)
        .first()
    )
    if job is None:
        raise Http404(f"No {kind} job named {name!r} in {project.name}.")
    return job


def job_sagemaker_of(job: Job) -> dict | None:
    """Where a job on the sagemaker backend runs there: its SageMaker name, ARN, region and when it
    was sent (None until sent); never the rest of ``Job.remote``. None for a job on this machine."""
    if job.backend != Backend.SAGEMAKER:
        return None
    remote = job.remote or {}
    return {key: remote.get(key) for key in ("name", "arn", "region", "sent_at")}


def job_evaluation(job: Job) -> JobEvaluation | None:
    """The evaluation of a training job by its built-in algorithm, if it has one yet."""
    return JobEvaluation.objects.filter(job=job).first()


def job_free_name(project: Project, kind: str, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``, ...: the first name no job of ``kind`` has yet (one query)."""
    base = base[:57].rstrip("-")
    taken = set(
        Job.objects.filter(project=project, kind=kind, name__startswith=base).values_list("name", flat=True)
    )
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def job_log_read(job: Job, *, offset: int = 0, limit: int = LOG_PAGE_CHARS) -> dict:
    """The log from character ``offset`` on (at most about ``limit`` characters), and where to read next."""
    offset = max(0, offset)
    chunks = (
        JobLogChunk.objects.filter(job=job, end__gt=offset).order_by("start").values_list("start", "text")
    )
    parts, position = [], offset
    for start, text in chunks.iterator(chunk_size=50):
        piece = text[max(0, offset - start) :]
        parts.append(piece)
        position = start + len(text)
        if sum(map(len, parts)) >= limit:
            break
    return {
        "offset": offset,
        "next_offset": max(position, offset),
        "text": "".join(parts),
        "complete": job.is_terminal and position >= job.log_size,
    }


def job_metric_series(job: Job) -> dict[str, list[dict]]:
    """Every metric's points in step order: ``{name: [{step, value, timestamp}, ...]}``."""
    series: dict[str, list[dict]] = {}
    points = (
        JobMetric.objects.filter(job=job)
        .order_by("name", "step")
        .values_list("name", "step", "value", "timestamp")
    )
    for name, step, value, timestamp in points:
        series.setdefault(name, []).append({"step": step, "value": value, "timestamp": timestamp})
    return series


def jobs_metric_series(jobs: list[Job]) -> dict[int, dict[str, list[dict]]]:
    """Every metric of every job in one query: ``{job id: {metric: [{step, value}, ...]}}``."""
    series: dict[int, dict[str, list[dict]]] = {job.pk: {} for job in jobs}
    rows = (
        JobMetric.objects.filter(job__in=[job.pk for job in jobs])
        .order_by("job_id", "name", "step", "id")
        .values_list("job_id", "name", "step", "value")
    )
    for job_id, name, step, value in rows.iterator(chunk_size=10_000):
        series[job_id].setdefault(name, []).append({"step": step, "value": value})
    return series


def job_final_metrics(series: dict[str, list[dict]]) -> list[dict]:
    """SageMaker's FinalMetricDataList: the latest value of each metric."""
    return [
        {"metric_name": name, "value": points[-1]["value"], "timestamp": points[-1]["timestamp"]}
        for name, points in series.items()
        if points
    ]


def downsample(points: list[dict], max_points: int) -> list[dict]:
    """At most about ``max_points`` of a series in step order, keeping its shape.

    The series is cut into buckets; each keeps its lowest and highest point (in step order), and
    the first and last points are always kept, so spikes, dips and the latest value survive.
    """
    if len(points) <= max_points:
        return points
    buckets = max(1, (max_points - 2) // 2)
    inner = points[1:-1]
    size = len(inner) / buckets
    kept = [points[0]]
    for index in range(buckets):
        bucket = inner[int(index * size) : int((index + 1) * size)]
        if not bucket:
            continue
        low = min(range(len(bucket)), key=lambda i: bucket[i]["value"])
        high = max(range(len(bucket)), key=lambda i: bucket[i]["value"])
        kept.extend(bucket[i] for i in sorted({low, high}))
    kept.append(points[-1])
    return kept
