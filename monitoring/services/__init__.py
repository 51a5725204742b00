"""Model Monitor's writes: baselines, schedules, executions, ground truth, drift reports."""

from __future__ import annotations

from monitoring.services.baselines import (
    baseline_constraints_update,
    baseline_create,
    baseline_job_completed,
    baselines_reconcile,
)
from monitoring.services.drift_reports import drift_report_create, drift_reports_reconcile
from monitoring.services.executions import (
    execution_job_completed,
    execution_run,
    executions_reconcile,
    executions_restart_stuck,
    schedule_run_now,
    window_for,
)
from monitoring.services.ground_truth import ground_truth_add, ground_truth_add_csv
from monitoring.services.schedules import (
    schedule_create,
    schedule_delete,
    schedule_start,
    schedule_stop,
    schedule_update,
)

__all__ = [
    "baseline_constraints_update",
    "baseline_create",
    "baseline_job_completed",
    "baselines_reconcile",
    "drift_report_create",
    "drift_reports_reconcile",
    "execution_job_completed",
    "execution_run",
    "executions_reconcile",
    "executions_restart_stuck",
    "ground_truth_add",
    "ground_truth_add_csv",
    "monitoring_reconcile",
    "schedule_create",
    "schedule_delete",
    "schedule_run_now",
    "schedule_start",
    "schedule_stop",
    "schedule_update",
    "window_for",
]


def monitoring_reconcile() -> dict[str, int]:
    """Fail the baselines, executions and drift reports whose job failed or was stopped; start
    again the executions left Pending without a job."""
    return {
        "baselines": baselines_reconcile(),
        "executions": executions_reconcile(),
        "executions_restarted": executions_restart_stuck(),
        "drift_reports": drift_reports_reconcile(),
    }
