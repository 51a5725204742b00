"""Model Monitor's reads: each selector owns its joins, so lists take a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Max, OuterRef, QuerySet, Subquery
from django.http import Http404

from endpoints.models import Endpoint
from monitoring.models import Baseline, DriftReport, GroundTruth, MonitoringExecution, MonitoringSchedule
from studio.models import Project


def baselines_of(project: Project) -> QuerySet[Baseline]:
    """The latest version of each baseline name, newest first (one query)."""
    latest = (
        Baseline.objects.filter(project=project, name=OuterRef("name")).order_by("-version").values("pk")[:1]
    )
    return (
        Baseline.objects.filter(project=project, pk=Subquery(latest))
        .defer("statistics", "constraints")  # a list row shows neither
        .select_related("job", "dataset_version__dataset", "created_by")
        .order_by("-created_at", "-id")
    )


def baseline_versions(project: Project, name: str) -> QuerySet[Baseline]:
    return (
        Baseline.objects.filter(project=project, name=name)
        .defer("statistics", "constraints")  # a list row shows neither
        .select_related("job", "created_by")
        .order_by("-version")
    )


def baseline_get(project: Project, name: str, version: int | None = None) -> Baseline:
    """The baseline ``name`` (its latest version, or ``version``); 404 if none."""
    queryset = Baseline.objects.filter(project=project, name=name).select_related(
        "project", "job", "dataset_version__dataset", "parent", "created_by"
    )
    baseline = (
        queryset.filter(version=version) if version is not None else queryset.order_by("-version")
    ).first()
    if baseline is None:
        shown = f"{name} v{version}" if version is not None else name
        raise Http404(f"No baseline {shown} in {project.name}.")
    return baseline


def baseline_for_reference(project: Project, reference: str) -> Baseline | None:
    """``name`` (the latest version) or ``name/N``; None if there is none."""
    name, _, number = str(reference).partition("/")
    queryset = Baseline.objects.filter(project=project, name=name)
    if number:
        return queryset.filter(version=int(number)).first() if number.isdigit() else None
    return queryset.order_by("-version").first()


def schedules_of(project: Project) -> QuerySet[MonitoringSchedule]:
    """The project's schedules with their endpoint, baseline and last execution's window end."""
    return (
        MonitoringSchedule.objects.filter(project=project)
        .select_related("endpoint", "baseline", "periodic_task", "created_by")
        .annotate(last_window_end=Max("executions__window_end"))
        .order_by("-created_at", "-id")
    )


def schedule_get(project: Project, name: str) -> MonitoringSchedule:
    schedule = (
        MonitoringSchedule.objects.filter(project=project, name=name)
        .select_related(
            "project",
            "endpoint__config",
            "endpoint__pending_config",
            "baseline",
            "periodic_task",
            "created_by",
        )
        .first()
    )
    if schedule is None:
        raise Http404(f"No monitoring schedule named {name!r} in {project.name}.")
    return schedule


def schedules_of_endpoint(endpoint: Endpoint) -> QuerySet[MonitoringSchedule]:
    return MonitoringSchedule.objects.filter(endpoint=endpoint).select_related("baseline", "periodic_task")


def executions_of(schedule: MonitoringSchedule) -> QuerySet[MonitoringExecution]:
    """A schedule's executions, latest window first, with their job (one query)."""
    return MonitoringExecution.objects.filter(schedule=schedule).select_related("job", "schedule")


def execution_get(project: Project, execution_uuid: object) -> MonitoringExecution:
    execution = (
        MonitoringExecution.objects.filter(uuid=execution_uuid, schedule__project=project)
        .select_related("job", "schedule__endpoint", "schedule__baseline", "schedule__project")
        .first()
    )
    if execution is None:
        raise Http404(f"No monitoring execution {execution_uuid} in {project.name}.")
    return execution


def drift_reports_of(project: Project) -> QuerySet[DriftReport]:
    return DriftReport.objects.filter(project=project).select_related("job", "created_by")


def drift_report_get(project: Project, report_uuid: object) -> DriftReport:
    report = (
        DriftReport.objects.filter(uuid=report_uuid, project=project)
        .select_related("job", "created_by")
        .first()
    )
    if report is None:
        raise Http404(f"No drift report {report_uuid} in {project.name}.")
    return report


def ground_truth_of(endpoint: Endpoint) -> QuerySet[GroundTruth]:
    return GroundTruth.objects.filter(endpoint=endpoint)


# --- Pages (monitoring.views) ----------------------------------------------------------------------
# What the monitoring pages read beyond the above, each in a fixed number of queries.

PAGE_FIGURE_EXECUTIONS = 60  # the schedule page's figures cover this many of the newest executions


def _with_alerts_and_last_execution(schedules: QuerySet[MonitoringSchedule]) -> QuerySet[MonitoringSchedule]:
    """``open_alerts`` and ``acknowledged_alerts`` (alerts counted) and ``last_execution_id`` (the
    newest window's) on each."""
    from django.db.models import Count
    from django.db.models.functions import Coalesce

    from monitoring.models import Alert, AlertStatus

    newest = MonitoringExecution.objects.filter(schedule=OuterRef("pk")).order_by("-window_end", "-id")

    def alerts_counted(*statuses: str) -> Coalesce:
        rows = Alert.objects.filter(schedule=OuterRef("pk"), status__in=statuses).order_by()
        return Coalesce(Subquery(rows.values("schedule").annotate(count=Count("pk")).values("count")), 0)

    return schedules.annotate(
        open_alerts=alerts_counted(AlertStatus.OPEN),
        acknowledged_alerts=alerts_counted(AlertStatus.ACKNOWLEDGED),
        last_execution_id=Subquery(newest.values("pk")[:1]),
    )


def schedules_for_list(project: Project, *, endpoint: Endpoint | None = None) -> QuerySet[MonitoringSchedule]:
    """The project's (or one endpoint's) schedules for a list: endpoint, baseline, open alerts and the
    newest execution's id (``schedules_attach_last_execution`` reads those executions)."""
    schedules = MonitoringSchedule.objects.filter(project=project).select_related("endpoint", "baseline")
    if endpoint is not None:
        schedules = schedules.filter(endpoint=endpoint)
    return _with_alerts_and_last_execution(schedules)


def schedules_attach_last_execution(schedules: Iterable[MonitoringSchedule]) -> list[MonitoringSchedule]:
    """Set ``last_execution`` on each of ``schedules_for_list``'s rows (one query for all)."""
    schedules = list(schedules)
    ids = [schedule.last_execution_id for schedule in schedules if schedule.last_execution_id]  # type: ignore[attr-defined]
    light = MonitoringExecution.objects.defer("drift", "statistics", "metrics")
    executions = light.in_bulk(ids) if ids else {}
    for schedule in schedules:
        schedule.last_execution = executions.get(schedule.last_execution_id)  # type: ignore[attr-defined]
    return schedules


def endpoint_monitoring_summary(endpoint: Endpoint) -> list[MonitoringSchedule]:
    """The endpoint's schedules with their Open alerts counted, for the endpoint's page (one query)."""
    schedules = MonitoringSchedule.objects.filter(endpoint=endpoint).only(
        "uuid", "name", "monitoring_type", "schedule_expression", "status", "endpoint_id", "project_id"
    )
    return list(_with_alerts_and_last_execution(schedules).order_by("name"))


def executions_for_figures(
    schedule: MonitoringSchedule, limit: int = PAGE_FIGURE_EXECUTIONS
) -> list[MonitoringExecution]:
    """The newest ``limit`` executions with what the figures draw (drift, violations, metrics)."""
    rows = MonitoringExecution.objects.filter(schedule=schedule).defer("statistics")
    return list(rows.order_by("-window_end", "-id")[:limit])


def executions_for_table(schedule: MonitoringSchedule) -> QuerySet[MonitoringExecution]:
    """A schedule's executions, newest first, without their large JSON (the table shows counts)."""
    return MonitoringExecution.objects.filter(schedule=schedule).defer("drift", "statistics", "metrics")


def execution_of_schedule(schedule: MonitoringSchedule, execution_uuid: str) -> MonitoringExecution | None:
    from django.core.exceptions import ValidationError

    try:
        return MonitoringExecution.objects.filter(schedule=schedule, uuid=execution_uuid).first()
    except (ValueError, ValidationError):  # not a UUID
        return None


def baseline_choices(project: Project, limit: int) -> list[tuple[str, str]]:
    """Completed baselines for a schedule's picker, newest first: (uuid, "name vN")."""
    from monitoring.models import BaselineStatus

    rows = Baseline.objects.filter(project=project, status=BaselineStatus.COMPLETED).values_list(
        "uuid", "name", "version"
    )
    return [(str(key), f"{name} v{version}") for key, name, version in rows[:limit]]


def baseline_by_uuid(project: Project, baseline_uuid: str) -> Baseline | None:
    from django.core.exceptions import ValidationError

    try:
        return Baseline.objects.filter(project=project, uuid=baseline_uuid).first()
    except (ValueError, ValidationError):
        return None


def endpoints_with_capture(project: Project, limit: int) -> list[str]:
    """Names of the project's endpoints whose config captures data (those a schedule can watch)."""
    rows = Endpoint.objects.filter(project=project).select_related("config").order_by("name")[:limit]
    return [endpoint.name for endpoint in rows if endpoint.config.capture_enabled]


def endpoint_for_monitoring(project: Project, name: str) -> Endpoint:
    endpoint = Endpoint.objects.filter(project=project, name=name).select_related("config").first()
    if endpoint is None:
        raise Http404(f"No endpoint named {name!r} in {project.name}.")
    return endpoint


def dataset_version_choices(project: Project, limit: int) -> list[tuple[str, str]]:
    """(``dataset://name/N``, "name vN") of the project's dataset versions, newest first."""
    from datasets.models import DatasetVersion

    rows = (
        DatasetVersion.objects.filter(dataset__project=project)
        .order_by("-created_at", "-id")
        .values_list("dataset__name", "number")
    )
    return [(f"dataset://{name}/{number}", f"{name} v{number}") for name, number in rows[:limit]]
