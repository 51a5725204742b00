"""Filters of the monitoring pages: how a score or a share reads."""

from __future__ import annotations

from django import template

from jobs.charts.common import format_metric

register = template.Library()


@register.filter
def score(value: object) -> str:
    """A drift score, 4 significant digits; "—" when the test does not apply."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:.4g}"


@register.filter
def metric(value: object) -> str:
    return format_metric(value) if isinstance(value, int | float) and not isinstance(value, bool) else "—"


@register.filter
def percent(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value * 100:.1f}%"


@register.filter
def count(value: object) -> int:
    """The length of a JSON list (violations), 0 for anything else."""
    return len(value) if isinstance(value, list) else 0
