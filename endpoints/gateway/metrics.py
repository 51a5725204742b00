"""Per-minute counters of each variant, kept in memory on the request path and written by a thread.

Each gateway process writes its own rows (``source``), replacing its running totals, so processes
never contend for a row and a retried write never double-counts.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import close_old_connections

from endpoints.gateway.flushing import Flushing
from endpoints.models import Endpoint, EndpointMetric

logger = logging.getLogger(__name__)

COUNTERS = (
    "invocations",
    "errors_4xx",
    "errors_5xx",
    "model_latency_ms_sum",
    "model_latency_ms_max",
    "overhead_latency_ms_sum",
    "overhead_latency_ms_max",
    "shadow_compared",
    "shadow_agreed",
)


@dataclass
class Minute:
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_latency_ms_sum: float = 0.0
    model_latency_ms_max: float = 0.0
    overhead_latency_ms_sum: float = 0.0
    overhead_latency_ms_max: float = 0.0
    shadow_compared: int = 0
    shadow_agreed: int = 0
    dirty: bool = True


class MetricsRecorder(Flushing):
    thread_name = "gateway-metrics"

    def __init__(self, interval: float | None = None) -> None:
        super().__init__(settings.STUDIO_METRICS_FLUSH_SECONDS if interval is None else interval)
        self.source = f"{socket.gethostname()}:{os.getpid()}"
        self.minutes: dict[tuple[int, str, int], Minute] = {}

    def _minute(self, endpoint_id: int, variant: str) -> Minute:
        key = (endpoint_id, variant, int(time.time() // 60))
        minute = self.minutes.get(key)
        if minute is None:
            minute = self.minutes[key] = Minute()
        minute.dirty = True
        return minute

    def record(
        self, endpoint_id: int, variant: str, status: int, model_ms: float, overhead_ms: float
    ) -> None:
        with self._lock:
            minute = self._minute(endpoint_id, variant)
            minute.invocations += 1
            if 400 <= status < 500:
                minute.errors_4xx += 1
            elif status >= 500:
                minute.errors_5xx += 1
            minute.model_latency_ms_sum += model_ms
            minute.model_latency_ms_max = max(minute.model_latency_ms_max, model_ms)
            minute.overhead_latency_ms_sum += overhead_ms
            minute.overhead_latency_ms_max = max(minute.overhead_latency_ms_max, overhead_ms)

    def record_shadow(self, endpoint_id: int, variant: str, agreed: bool) -> None:
        with self._lock:
            minute = self._minute(endpoint_id, variant)
            minute.shadow_compared += 1
            minute.shadow_agreed += int(agreed)

    def flush(self) -> None:
        with self._lock:
            dirty = [
                (key, Minute(**{name: getattr(m, name) for name in COUNTERS}))
                for key, m in self.minutes.items()
                if m.dirty
            ]
            for key, _ in dirty:
                self.minutes[key].dirty = False
            current = int(time.time() // 60)
            for key in [key for key, m in self.minutes.items() if not m.dirty and key[2] < current - 1]:
                del self.minutes[key]
        if not dirty:
            return
        try:
            existing = set(
                Endpoint.objects.filter(pk__in={key[0] for key, _ in dirty}).values_list("pk", flat=True)
            )
            rows = [
                EndpointMetric(
                    endpoint_id=endpoint_id,
                    variant=variant,
                    source=self.source,
                    minute=datetime.fromtimestamp(minute_index * 60, tz=UTC),
                    **{name: getattr(minute, name) for name in COUNTERS},
                )
                for (endpoint_id, variant, minute_index), minute in dirty
                if endpoint_id in existing
            ]
            EndpointMetric.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["endpoint", "variant", "minute", "source"],
                update_fields=list(COUNTERS),
            )
        except Exception:
            logger.exception("could not write endpoint metrics; retrying at the next flush")
            with self._lock:
                for key, _ in dirty:
                    if key in self.minutes:
                        self.minutes[key].dirty = True
        finally:
            close_old_connections()
