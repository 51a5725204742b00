"""Thin Celery tasks of the datasets app."""

from __future__ import annotations

from celery import shared_task

from datasets.uploads import uploads_expire


@shared_task(name="datasets.expire_uploads", ignore_result=True)
def expire_uploads() -> int:
    """Abort uploads left unfinished for longer than STUDIO_UPLOAD_EXPIRE_HOURS."""
    return uploads_expire()
