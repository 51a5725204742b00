"""Reads of the inference app: lists with their related rows, an endpoint's per-minute metrics, its
shadow comparison and its newest captured requests. Pages and the REST API share them."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import TypedDict

from django.db.models import Count, Max, Prefetch, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from endpoints.models import (
    Endpoint,
    EndpointConfig,
    EndpointMetric,
    InstanceStatus,
    Model,
    ProductionVariant,
)
from jobs.models import Job, JobKind, JobStatus
from studio.artifacts import ArtifactError, join_uri, store_for
from studio.models import Project

logger = logging.getLogger(__name__)

# Captured samples: how far back to look, hour folder by hour folder, and how much of each to read.
CAPTURE_LOOKBACK_HOURS = 24
CAPTURE_MAX_FILE_BYTES = 8 * 1024 * 1024
CAPTURE_MAX_DATA_CHARS = 4096
SHADOW_SUMMARY_MINUTES = 60
MAX_SERIES_MINUTES = 24 * 60


# --- Lists and single rows ------------------------------------------------------------------------


def models_of_project(project: Project) -> QuerySet[Model]:
    """The project's models, newest first, with who made and trusted them and how many configs use them."""
    return (
        Model.objects.filter(project=project)
        .select_related("project", "created_by", "trusted_by", "training_job")
        .annotate(config_count=Count("variants__config", distinct=True))
        .order_by("-created_at", "-id")  # an aggregate drops Meta.ordering
    )


def model_get(project: Project, name: str) -> Model:
    model = (
        Model.objects.select_related("project", "created_by", "trusted_by", "training_job")
        .filter(project=project, name=name)
        .first()
    )
    if model is None:
        raise Http404(f"No model named {name!r} in {project.name}.")
    return model


def model_from_training_job(project: Project, job_name: str) -> Model | None:
    """The newest model made from the project's training job ``job_name``, if any."""
    return Model.objects.filter(project=project, training_job__name=job_name).first()


def model_choices(project: Project, limit: int) -> list[tuple[str, str]]:
    """The newest ``limit`` models as (name, label) choices; the label warns of a missing trust."""
    rows = Model.objects.filter(project=project).values_list("name", "source", "pickle_files", "trusted_at")
    untrusted = ", needs a project admin's trust"
    return [
        (name, f"{name} ({source}{untrusted if pickles and trusted is None else ''})")
        for name, source, pickles, trusted in rows[:limit]
    ]


def configs_using_model(model: Model) -> list[EndpointConfig]:
    """The endpoint configs with a variant of ``model``, each with the endpoints that run it (two queries)."""
    return list(
        EndpointConfig.objects.filter(variants__model=model)
        .distinct()
        .prefetch_related(
            Prefetch("endpoints", queryset=Endpoint.objects.only("id", "name", "status", "config_id"))
        )
    )


def _variants_prefetch(lookup: str) -> Prefetch:
    return Prefetch(lookup, queryset=ProductionVariant.objects.select_related("model"))


def endpoints_of_project(project: Project) -> QuerySet[Endpoint]:
    """The project's endpoints, newest first, with their config's variants and instance counts."""
    return (
        Endpoint.objects.filter(project=project)
        .select_related("project", "config", "pending_config", "created_by")
        .prefetch_related(_variants_prefetch("config__variants"))
        .annotate(
            instance_total=Count("instances", distinct=True),
            instance_ready=Count(
                "instances", filter=Q(instances__status=InstanceStatus.READY), distinct=True
            ),
        )
        .order_by("-created_at", "-id")  # an aggregate drops Meta.ordering
    )


def recent_endpoints(project: Project, limit: int) -> list[Endpoint]:
    """The newest endpoints, name and status only (the dashboard's card)."""
    return list(Endpoint.objects.filter(project=project).only("name", "status", "created_at")[:limit])


def endpoint_get(project: Project, name: str, *, detail: bool = False) -> Endpoint:
    """The endpoint with its config's variants and their models (two queries); with ``detail``, also
    its events and serving instances (the API's description)."""
    queryset = Endpoint.objects.select_related("project", "config", "pending_config", "created_by")
    queryset = queryset.prefetch_related(_variants_prefetch("config__variants"))
    if detail:
        queryset = queryset.prefetch_related("events", "instances__config")
    endpoint = queryset.filter(project=project, name=name).first()
    if endpoint is None:
        raise Http404(f"No endpoint named {name!r} in {project.name}.")
    return endpoint


def endpoint_configs_of_project(project: Project) -> QuerySet[EndpointConfig]:
    return (
        EndpointConfig.objects.filter(project=project)
        .select_related("project", "created_by")
        .prefetch_related(_variants_prefetch("variants"))
    )


def endpoint_config_get(project: Project, name: str) -> EndpointConfig:
    config = endpoint_configs_of_project(project).filter(name=name).first()
    if config is None:
        raise Http404(f"No endpoint config named {name!r} in {project.name}.")
    return config


def config_names_for_update(endpoint: Endpoint, limit: int) -> list[str]:
    """The project's other endpoint configs, newest first: what the endpoint could be updated to."""
    configs = EndpointConfig.objects.filter(project_id=endpoint.project_id).exclude(pk=endpoint.config_id)
    return list(configs.values_list("name", flat=True)[:limit])


def completed_training_jobs(project: Project) -> QuerySet[Job]:
    """Training jobs that left a model to deploy, newest first."""
    return Job.objects.filter(project=project, kind=JobKind.TRAINING, status=JobStatus.COMPLETED)


def free_name(taken: set[str], base: str) -> str:
    """``base``, or ``base-2``, ``base-3``...: the first of them not in ``taken``."""
    base = base[:57].rstrip("-") or "model"
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def model_free_name(project: Project, base: str) -> str:
    taken = Model.objects.filter(project=project, name__startswith=base[:57]).values_list("name", flat=True)
    return free_name(set(taken), base)


def endpoint_free_name(project: Project, base: str) -> str:
    taken = Endpoint.objects.filter(project=project, name__startswith=base[:57]).values_list(
        "name", flat=True
    )
    return free_name(set(taken), base)


def config_free_name(project: Project, base: str) -> str:
    taken = EndpointConfig.objects.filter(project=project, name__startswith=base[:57]).values_list(
        "name", flat=True
    )
    return free_name(set(taken), base)


# --- Metrics --------------------------------------------------------------------------------------


class VariantSeries(TypedDict):
    invocations: list[int]
    errors_4xx: list[int]
    errors_5xx: list[int]
    model_latency_ms: list[float]
    overhead_latency_ms: list[float]
    model_latency_ms_max: list[float]
    shadow_agreement: list[float | None]


class MetricSeries(TypedDict):
    minutes: list[str]
    variants: dict[str, VariantSeries]


def _minute_rows(endpoint: Endpoint, start: datetime, end: datetime) -> list[dict]:
    """One row per (variant, minute): the gateway processes' rows (``source``) summed (one query)."""
    return list(
        EndpointMetric.objects.filter(endpoint=endpoint, minute__gte=start, minute__lte=end)
        .order_by()
        .values("variant", "minute")
        .annotate(
            invocations=Sum("invocations"),
            errors_4xx=Sum("errors_4xx"),
            errors_5xx=Sum("errors_5xx"),
            model_sum=Sum("model_latency_ms_sum"),
            model_max=Max("model_latency_ms_max"),
            overhead_sum=Sum("overhead_latency_ms_sum"),
            shadow_compared=Sum("shadow_compared"),
            shadow_agreed=Sum("shadow_agreed"),
        )
    )


def _empty_series(length: int) -> VariantSeries:
    return {
        "invocations": [0] * length,
        "errors_4xx": [0] * length,
        "errors_5xx": [0] * length,
        "model_latency_ms": [0.0] * length,
        "overhead_latency_ms": [0.0] * length,
        "model_latency_ms_max": [0.0] * length,
        "shadow_agreement": [None] * length,
    }


def endpoint_metric_series(endpoint: Endpoint, minutes: int = 60) -> MetricSeries:
    """The last ``minutes`` minutes (this one included) per variant, every minute present (zeros where
    nothing was counted). Latencies are per-minute means over the invocations; ``shadow_agreement`` is
    the share of compared answers that agreed (None where none were compared)."""
    minutes = max(1, min(int(minutes), MAX_SERIES_MINUTES))
    end = timezone.now().replace(second=0, microsecond=0)
    start = end - timedelta(minutes=minutes - 1)
    axis = [start + timedelta(minutes=offset) for offset in range(minutes)]
    index = {moment: position for position, moment in enumerate(axis)}
    names = [variant.name for variant in endpoint.config.variants.all()]
    variants: dict[str, VariantSeries] = {name: _empty_series(minutes) for name in names}
    for row in _minute_rows(endpoint, start, end):
        position = index.get(row["minute"].astimezone(start.tzinfo).replace(second=0, microsecond=0))
        if position is None:
            continue
        series = variants.setdefault(row["variant"], _empty_series(minutes))
        count = row["invocations"] or 0
        series["invocations"][position] = count
        series["errors_4xx"][position] = row["errors_4xx"] or 0
        series["errors_5xx"][position] = row["errors_5xx"] or 0
        series["model_latency_ms"][position] = (row["model_sum"] or 0.0) / count if count else 0.0
        series["overhead_latency_ms"][position] = (row["overhead_sum"] or 0.0) / count if count else 0.0
        series["model_latency_ms_max"][position] = row["model_max"] or 0.0
        compared = row["shadow_compared"] or 0
        series["shadow_agreement"][position] = (row["shadow_agreed"] or 0) / compared if compared else None
    return {"minutes": [moment.isoformat() for moment in axis], "variants": variants}


class ShadowSummary(TypedDict):
    minutes: int
    shadow_variant: str
    production_variants: list[str]
    compared: int
    agreed: int
    agreement_rate: float | None
    shadow_invocations: int
    production_invocations: int
    shadow_model_latency_ms: float | None
    production_model_latency_ms: float | None


def endpoint_shadow_summary(endpoint: Endpoint) -> ShadowSummary | None:
    """Shadow against production over the last hour; None when the endpoint's config has no shadow."""
    variants = list(endpoint.config.variants.all())
    shadow = next((variant for variant in variants if variant.is_shadow), None)
    if shadow is None:
        return None
    production = [variant.name for variant in variants if not variant.is_shadow]
    since = timezone.now() - timedelta(minutes=SHADOW_SUMMARY_MINUTES)
    totals = {
        row["variant"]: row
        for row in EndpointMetric.objects.filter(endpoint=endpoint, minute__gte=since)
        .order_by()
        .values("variant")
        .annotate(
            invocations=Sum("invocations"),
            model_sum=Sum("model_latency_ms_sum"),
            compared=Sum("shadow_compared"),
            agreed=Sum("shadow_agreed"),
        )
    }
    own = totals.get(shadow.name, {})
    compared, agreed = own.get("compared") or 0, own.get("agreed") or 0
    shadow_calls = own.get("invocations") or 0
    production_calls = sum(totals.get(name, {}).get("invocations") or 0 for name in production)
    production_sum = sum(totals.get(name, {}).get("model_sum") or 0.0 for name in production)
    return {
        "minutes": SHADOW_SUMMARY_MINUTES,
        "shadow_variant": shadow.name,
        "production_variants": production,
        "compared": compared,
        "agreed": agreed,
        "agreement_rate": agreed / compared if compared else None,
        "shadow_invocations": shadow_calls,
        "production_invocations": production_calls,
        "shadow_model_latency_ms": (own.get("model_sum") or 0.0) / shadow_calls if shadow_calls else None,
        "production_model_latency_ms": production_sum / production_calls if production_calls else None,
    }


# --- Captured data --------------------------------------------------------------------------------


def _capture_part(part: dict | None) -> dict | None:
    if not isinstance(part, dict):
        return None
    data = str(part.get("data", ""))
    return {
        "content_type": part.get("observedContentType", ""),
        "encoding": part.get("encoding", ""),
        "data": data[:CAPTURE_MAX_DATA_CHARS],
        "truncated": len(data) > CAPTURE_MAX_DATA_CHARS,
    }


def _capture_sample(line: str, variant: str, uri: str) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    data, metadata = record.get("captureData") or {}, record.get("eventMetadata") or {}
    return {
        "variant": variant,
        "event_id": metadata.get("eventId", ""),
        "inference_id": metadata.get("inferenceId", ""),
        "inference_time": metadata.get("inferenceTime", ""),
        "input": _capture_part(data.get("endpointInput")),
        "output": _capture_part(data.get("endpointOutput")),
        "uri": uri,
    }


def _read_lines(uri: str) -> list[str]:
    with store_for(uri).open(uri) as stream:
        return stream.read(CAPTURE_MAX_FILE_BYTES).decode(errors="replace").splitlines()


def recent_capture_samples(endpoint: Endpoint, limit: int = 20) -> list[dict]:
    """The newest captured requests and answers of the endpoint's variants, newest first.

    Looks in the capture folders hour by hour, newest first (at most ``CAPTURE_LOOKBACK_HOURS``),
    and reads only the newest files, until ``limit`` lines are found.
    """
    capture = endpoint.config.data_capture or {}
    destination = capture.get("destination_uri")
    if not capture.get("enabled") or not destination or limit <= 0:
        return []
    variants = [variant.name for variant in endpoint.config.variants.all()]
    now = timezone.now()
    samples: list[dict] = []
    for hours_back in range(CAPTURE_LOOKBACK_HOURS):
        hour = f"{now - timedelta(hours=hours_back):%Y/%m/%d/%H}"
        files: list[tuple[str, str, str]] = []  # (file name, variant, uri): names sort by time
        for variant in variants:
            prefix = join_uri(destination, endpoint.name, variant, hour)
            try:
                files.extend(
                    (info.uri.rsplit("/", 1)[-1], variant, info.uri)
                    for info in store_for(prefix).list(prefix)
                    if info.uri.endswith(".jsonl")
                )
            except (ArtifactError, OSError):
                logger.warning("could not list captured data", extra={"prefix": prefix}, exc_info=True)
        for _, variant, uri in sorted(files, reverse=True):
            try:
                lines = _read_lines(uri)
            except (ArtifactError, OSError):
                logger.warning("could not read captured data", extra={"uri": uri}, exc_info=True)
                continue
            for line in reversed(lines):
                sample = _capture_sample(line, variant, uri) if line.strip() else None
                if sample is not None:
                    samples.append(sample)
                if len(samples) >= limit:
                    break
            if len(samples) >= limit:
                break
        if len(samples) >= limit:
            break
    # Files of different variants interleave in time; the capture's own timestamps order them.
    samples.sort(key=lambda sample: sample["inference_time"], reverse=True)
    return samples[:limit]
