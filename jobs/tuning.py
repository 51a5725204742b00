"""Hyperparameter tuning (being written)."""


def tuning_advance(tuning_job_id: int) -> None:
    return None
