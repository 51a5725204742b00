"""Thin Celery tasks: take an id, call one service. The database row, not the broker, is the truth."""

from __future__ import annotations

from celery import shared_task

from jobs import runner


@shared_task(name="jobs.execute", ignore_result=True)
def execute_job(job_id: int) -> None:
    # Not acks_late: a redelivered message would be harmless (the claim is a conditional update),
    # but a worker killed mid-job is the reaper's business, not the broker's.
    runner.job_execute(job_id=job_id)


@shared_task(name="jobs.reap", ignore_result=True)
def reap_jobs() -> dict[str, int]:
    return runner.jobs_reap()


@shared_task(name="jobs.advance_tuning", ignore_result=True)
def advance_tuning_job(tuning_job_id: int) -> None:
    from jobs.tuning import tuning_advance

    tuning_advance(tuning_job_id)


@shared_task(name="jobs.follow_sagemaker", ignore_result=True)
def follow_sagemaker_job(job_id: int, chain: str, delay: float = 0.0) -> None:
    from jobs.backends.sagemaker.driver import sagemaker_step

    sagemaker_step(job_id, chain, delay)
