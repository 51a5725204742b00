"""Monitoring schedules: a django-celery-beat ``PeriodicTask`` per schedule sends
``monitoring.run_schedule`` with the schedule's id on its cron (UTC); stop and start flip the
task's ``enabled``; each run is an execution over the capture window that just ended
(``monitoring.services.executions``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.schedules import crontab
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from endpoints.models import Endpoint
from monitoring.models import (
    Baseline,
    BaselineStatus,
    MonitoringSchedule,
    MonitoringType,
    ProblemType,
    ScheduleStatus,
)
from monitoring.services.baselines import monitoring_config_check
from studio.models import NAME_REGEX, Project
from studio.services import audit_record

RUN_TASK = "monitoring.run_schedule"
# Minute 5, not 0: the window is the last whole hour (day) before the run, so a worker clock a
# little behind, or captures still in the gateway's flush buffer, do not lose a window.
SHORTCUTS = {"hourly": "5 * * * *", "daily": "5 0 * * *"}
# SageMaker's own form, cron(min hour day-of-month month day-of-week year), is accepted too.
AWS_CRON = re.compile(r"^cron\((.*)\)$", re.IGNORECASE)
MAX_CRON_LOOKBACK_DAYS = 400
QUALITY_METRICS = {
    ProblemType.BINARY: {"accuracy", "precision", "recall", "f1", "auc", "f0_5", "f2"},
    ProblemType.MULTICLASS: {"accuracy", "weighted_precision", "weighted_recall", "weighted_f1"},
    ProblemType.REGRESSION: {"mae", "mse", "rmse", "r2"},
}
COMPARISON_OPERATORS = ("LessThanThreshold", "GreaterThanThreshold")
# Model quality: a run evaluates the captures of its window moved back by this many hours, with
# every label received up to the run (SageMaker's StartOffset/EndOffset), so late labels count.
GROUND_TRUTH_OFFSET = "ground_truth_offset_hours"
DEFAULT_GROUND_TRUTH_OFFSET_HOURS = 24
MAX_GROUND_TRUTH_OFFSET_HOURS = 720


@dataclass(frozen=True)
class Cron:
    """A checked five-field cron expression (UTC) and celery's expansion of it."""

    minute: str
    hour: str
    day_of_month: str
    month_of_year: str
    day_of_week: str

    @property
    def expression(self) -> str:
        return f"{self.minute} {self.hour} {self.day_of_month} {self.month_of_year} {self.day_of_week}"

    def schedule(self) -> crontab:
        return crontab(
            minute=self.minute,
            hour=self.hour,
            day_of_month=self.day_of_month,
            month_of_year=self.month_of_year,
            day_of_week=self.day_of_week,
        )


def cron_parse(expression: str) -> Cron:
    """``hourly``, ``daily``, a five-field cron expression, or SageMaker's ``cron(...)`` with six
    fields; a ValidationError naming ``schedule_expression`` otherwise."""
    text = " ".join(str(expression or "").split())
    text = SHORTCUTS.get(text.lower(), text)
    if match := AWS_CRON.match(text):
        fields = match.group(1).split()
        if len(fields) != 6:
            raise ValidationError(
                {"schedule_expression": "cron(...) takes six fields: min hour day month weekday year."}
            )
        fields = [("*" if field == "?" else field) for field in fields[:5]]
        text = " ".join(fields)
    fields = text.split(" ")
    if len(fields) != 5:
        raise ValidationError(
            {
                "schedule_expression": 'Use "hourly", "daily" or five cron fields '
                "(minute hour day month weekday, UTC)."
            }
        )
    cron = Cron(*fields)
    try:
        expanded = cron.schedule()
    except (ValueError, TypeError, IndexError) as exc:
        raise ValidationError({"schedule_expression": f"{text!r} is not a cron expression: {exc}"}) from exc
    if len(expanded.minute) > 4:
        raise ValidationError({"schedule_expression": "Run at most every 15 minutes."})
    return cron


def cron_previous(cron: Cron, moment: datetime) -> datetime:
    """The latest time the cron fires at or before ``moment`` (UTC, whole minutes)."""
    spec = cron.schedule()
    moment = moment.replace(second=0, microsecond=0)
    minutes, hours = sorted(spec.minute, reverse=True), sorted(spec.hour, reverse=True)
    for back in range(MAX_CRON_LOOKBACK_DAYS):
        day = moment - timedelta(days=back)
        if (
            day.month not in spec.month_of_year
            or day.day not in spec.day_of_month
            or (day.weekday() + 1) % 7 not in spec.day_of_week
        ):
            continue
        for hour in hours:
            if back == 0 and hour > moment.hour:
                continue
            for minute in minutes:
                if back == 0 and hour == moment.hour and minute > moment.minute:
                    continue
                return day.replace(hour=hour, minute=minute)
    raise ValidationError({"schedule_expression": "The expression has not fired in the last year."})


def config_check(errors: dict, monitoring_type: str, problem_type: str, config: object) -> dict:
    """Data quality: drift tests and thresholds (numbers of at least 0) and check switches.
    Model quality: ``{"<metric>": {"threshold": x, "comparison_operator": ...}}`` thresholds."""
    if config in (None, ""):
        return {}
    if not isinstance(config, dict):
        errors["config"] = "An object."
        return {}
    if monitoring_type == MonitoringType.MODEL_QUALITY:
        offset = config.get(GROUND_TRUTH_OFFSET)
        if offset is not None and (not _finite(offset) or not 0 <= offset <= MAX_GROUND_TRUTH_OFFSET_HOURS):
            errors[f"config.{GROUND_TRUTH_OFFSET}"] = (
                f"A number of hours from 0 to {MAX_GROUND_TRUTH_OFFSET_HOURS}."
            )
        known = QUALITY_METRICS.get(problem_type, set())
        thresholds = config.get("thresholds", {})
        if not isinstance(thresholds, dict):
            errors["config.thresholds"] = "An object of metric: {threshold, comparison_operator}."
            return config
        for metric, rule in thresholds.items():
            field = f"config.thresholds.{metric}"
            if known and metric not in known:
                errors[field] = f"Not a {problem_type} metric (one of {', '.join(sorted(known))})."
            elif not isinstance(rule, dict) or not _finite(rule.get("threshold")):
                errors[field] = "Give threshold (a number)."
            elif rule.get("comparison_operator", "LessThanThreshold") not in COMPARISON_OPERATORS:
                errors[field] = "comparison_operator: LessThanThreshold or GreaterThanThreshold."
        return config
    tests = config.get("drift_tests")
    if tests is not None:
        known_tests = _known_drift_tests()
        if not isinstance(tests, dict):
            errors["config.drift_tests"] = "An object of test name: {threshold, enabled}."
        else:
            for test, rule in tests.items():
                field = f"config.drift_tests.{test}"
                if known_tests and test not in known_tests:
                    errors[field] = f"Unknown test (one of {', '.join(sorted(known_tests))})."
                elif not isinstance(rule, dict):
                    errors[field] = "An object: {enabled, threshold, ...}."
                else:
                    for option, value in rule.items():
                        if option == "enabled":
                            if not isinstance(value, bool):
                                errors[f"{field}.enabled"] = "true or false."
                        elif not _finite(value) or value < 0 or (option == "p_value" and value > 1):
                            bound = "from 0 to 1" if option == "p_value" else "of at least 0"
                            errors[f"{field}.{option}"] = f"A number {bound}."
    if "monitoring_config" in config:
        monitoring_config_check(errors, config["monitoring_config"], "config.monitoring_config")
    for key, value in config.items():
        if key.endswith("threshold") and (not _finite(value) or value < 0):
            errors[f"config.{key}"] = "A number of at least 0."
    return config


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _known_drift_tests() -> set[str]:
    """The tests the engine runs (empty while it cannot be imported: anything is accepted)."""
    try:
        from monitoring.engine.constraints import DEFAULT_DRIFT_TESTS
    except ImportError:
        return set()
    return set(DEFAULT_DRIFT_TESTS)


def _check_target(
    errors: dict,
    endpoint: Endpoint | None,
    monitoring_type: str,
    baseline: Baseline | None,
    problem_type: str,
) -> None:
    if monitoring_type not in MonitoringType.values:
        errors["monitoring_type"] = f"One of {', '.join(MonitoringType.values)}."
        return
    capture = endpoint.config.data_capture if endpoint is not None else {}
    if endpoint is not None and not endpoint.config.capture_enabled:
        errors["endpoint"] = (
            f"{endpoint.name} does not capture data; enable data capture in its endpoint config."
        )
    elif endpoint is not None and not capture.get("capture_input", True):
        errors["endpoint"] = f"{endpoint.name} captures no requests (Input); monitoring reads them."
    elif (
        endpoint is not None
        and monitoring_type == MonitoringType.MODEL_QUALITY
        and not capture.get("capture_output", True)
    ):
        errors["endpoint"] = (
            f"{endpoint.name} captures no answers (Output); model quality compares them with the labels."
        )
    if monitoring_type == MonitoringType.DATA_QUALITY:
        if baseline is None:
            errors["baseline"] = "Data quality needs a baseline."
        elif baseline.status != BaselineStatus.COMPLETED:
            errors["baseline"] = f"{baseline} is {baseline.status}; use a Completed baseline."
    elif problem_type not in ProblemType.values:
        errors["problem_type"] = f"Model quality needs one of {', '.join(ProblemType.values)}."


def _periodic_task_save(schedule: MonitoringSchedule, cron: Cron, enabled: bool) -> PeriodicTask:
    entry, _ = CrontabSchedule.objects.get_or_create(
        minute=cron.minute,
        hour=cron.hour,
        day_of_month=cron.day_of_month,
        month_of_year=cron.month_of_year,
        day_of_week=cron.day_of_week,
        timezone="UTC",
    )
    values = {
        "task": RUN_TASK,
        "crontab": entry,
        "args": json.dumps([schedule.pk]),
        "enabled": enabled,
        "description": f"Model Monitor: {schedule.project.name}/{schedule.name}",
    }
    # save(), not a queryset update(): its signals bump beat's change marker
    # (PeriodicTasks.last_change), without which a running beat never sees the change.
    task = PeriodicTask.objects.filter(pk=schedule.periodic_task_id or 0).first()
    if task is None:
        return PeriodicTask.objects.create(name=f"monitoring-schedule-{schedule.uuid}", **values)
    for field, value in values.items():
        setattr(task, field, value)
    task.save()
    return task


def ground_truth_offset(schedule: MonitoringSchedule) -> timedelta:
    """How far back a model-quality run moves its capture window (zero for data quality)."""
    if schedule.monitoring_type != MonitoringType.MODEL_QUALITY:
        return timedelta(0)
    hours = (schedule.config or {}).get(GROUND_TRUTH_OFFSET, DEFAULT_GROUND_TRUTH_OFFSET_HOURS)
    return timedelta(hours=hours if _finite(hours) else DEFAULT_GROUND_TRUTH_OFFSET_HOURS)


def schedule_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    endpoint: Endpoint,
    monitoring_type: str = MonitoringType.DATA_QUALITY,
    baseline: Baseline | None = None,
    schedule_expression: str = "hourly",
    config: dict | None = None,
    problem_type: str = "",
) -> MonitoringSchedule:
    errors: dict[str, str] = {}
    if not re.match(NAME_REGEX, name or ""):
        errors["name"] = "Use 1-63 letters, digits or hyphens, starting and ending with a letter or digit."
    elif MonitoringSchedule.objects.filter(project=project, name=name).exists():
        errors["name"] = f"A monitoring schedule named {name!r} already exists in {project.name}."
    if endpoint.project_id != project.pk:
        errors["endpoint"] = f"No endpoint named {endpoint.name!r} in {project.name}."
    if baseline is not None and baseline.project_id != project.pk:
        errors["baseline"] = f"No baseline {baseline} in {project.name}."
    _check_target(errors, endpoint, monitoring_type, baseline, problem_type)
    checked = config_check(errors, monitoring_type, problem_type, config)
    try:
        cron = cron_parse(schedule_expression)
    except ValidationError as exc:
        errors.update({key: value[0] for key, value in exc.message_dict.items()})
        cron = None
    if errors:
        raise ValidationError(errors)
    assert cron is not None
    with transaction.atomic():
        schedule = MonitoringSchedule.objects.create(
            project=project,
            name=name,
            endpoint=endpoint,
            monitoring_type=monitoring_type,
            baseline=baseline,
            schedule_expression=_shown(schedule_expression, cron),
            status=ScheduleStatus.SCHEDULED,
            config=checked,
            problem_type=problem_type if monitoring_type == MonitoringType.MODEL_QUALITY else "",
            created_by=user if user is not None and user.is_authenticated else None,
        )
        schedule.periodic_task = _periodic_task_save(schedule, cron, enabled=True)
        schedule.save(update_fields=["periodic_task"])
        audit_record(
            actor=user,
            action="create",
            target_type="monitoring-schedule",
            target_name=name,
            project=project,
            details={
                "endpoint": endpoint.name,
                "type": monitoring_type,
                "expression": schedule.schedule_expression,
            },
        )
    return schedule


def _shown(expression: str, cron: Cron) -> str:
    text = " ".join(str(expression).split())
    return text.lower() if text.lower() in SHORTCUTS else cron.expression


def schedule_update(
    *,
    schedule: MonitoringSchedule,
    user: AbstractBaseUser | None,
    schedule_expression: str | None = None,
    config: dict | None = None,
    baseline: Baseline | None = None,
) -> MonitoringSchedule:
    """Change the cron, the config or the baseline; the periodic task follows."""
    errors: dict[str, str] = {}
    cron = None
    if schedule_expression is not None:
        try:
            cron = cron_parse(schedule_expression)
        except ValidationError as exc:
            errors.update({key: value[0] for key, value in exc.message_dict.items()})
    if baseline is not None:
        if baseline.project_id != schedule.project_id:
            errors["baseline"] = f"No baseline {baseline} in {schedule.project.name}."
        else:
            _check_target(errors, None, schedule.monitoring_type, baseline, schedule.problem_type)
    checked = (
        config_check(errors, schedule.monitoring_type, schedule.problem_type, config)
        if config is not None
        else None
    )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        fields = ["updated_at"]
        if cron is not None:
            schedule.schedule_expression = _shown(schedule_expression or "", cron)
            fields.append("schedule_expression")
        if checked is not None:
            schedule.config = checked
            fields.append("config")
        if baseline is not None:
            schedule.baseline = baseline
            fields.append("baseline")
        schedule.save(update_fields=fields)
        if cron is not None:
            schedule.periodic_task = _periodic_task_save(
                schedule, cron, enabled=schedule.status == ScheduleStatus.SCHEDULED
            )
            schedule.save(update_fields=["periodic_task"])
        audit_record(
            actor=user,
            action="update",
            target_type="monitoring-schedule",
            target_name=schedule.name,
            project=schedule.project,
            details={"fields": [field for field in fields if field != "updated_at"]},
        )
    return schedule


def _set_running(
    schedule: MonitoringSchedule, user: AbstractBaseUser | None, running: bool
) -> MonitoringSchedule:
    status = ScheduleStatus.SCHEDULED if running else ScheduleStatus.STOPPED
    with transaction.atomic():
        MonitoringSchedule.objects.filter(pk=schedule.pk).update(status=status)
        task = (
            PeriodicTask.objects.filter(pk=schedule.periodic_task_id).first()
            if schedule.periodic_task_id
            else None
        )
        if task is not None:
            task.enabled = running
            task.save(update_fields=["enabled"])  # save(): beat learns of it (see _periodic_task_save)
        else:
            schedule.periodic_task = _periodic_task_save(
                schedule, cron_parse(schedule.schedule_expression), running
            )
            schedule.save(update_fields=["periodic_task"])
        audit_record(
            actor=user,
            action="start" if running else "stop",
            target_type="monitoring-schedule",
            target_name=schedule.name,
            project=schedule.project,
        )
    schedule.status = status
    return schedule


def schedule_stop(*, schedule: MonitoringSchedule, user: AbstractBaseUser | None) -> MonitoringSchedule:
    return _set_running(schedule, user, running=False)


def schedule_start(*, schedule: MonitoringSchedule, user: AbstractBaseUser | None) -> MonitoringSchedule:
    return _set_running(schedule, user, running=True)


def schedule_delete(*, schedule: MonitoringSchedule, user: AbstractBaseUser | None) -> None:
    """Delete the schedule and its executions; its periodic task goes with it (the post_delete
    receiver in ``monitoring.signals``, which cascades from an endpoint or project use too)."""
    with transaction.atomic():
        audit_record(
            actor=user,
            action="delete",
            target_type="monitoring-schedule",
            target_name=schedule.name,
            project=schedule.project,
        )
        schedule.delete()
