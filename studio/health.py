"""What /healthz checks: the database, the broker and the artifact store, each with its own verdict."""

from __future__ import annotations

import io
import time

from django.conf import settings
from django.db import connection

from studio.artifacts import join_uri, store_for


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_broker() -> None:
    from studio.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _check_store() -> None:
    probe = join_uri(settings.STUDIO_ARTIFACT_URI, ".healthz")
    store = store_for(probe)
    store.put(probe, io.BytesIO(b"ok"))
    store.delete(probe)


CHECKS = {"database": _check_database, "broker": _check_broker, "store": _check_store}


def health_report() -> tuple[bool, dict[str, dict]]:
    report, healthy = {}, True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
            report[name] = {"ok": True}
        except Exception as exc:
            healthy = False
            report[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        report[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    return healthy, report
