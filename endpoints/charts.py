"""Plotly figures of an endpoint's per-minute metrics (``selectors.endpoint_metric_series``): a line
per variant, minutes on x. Built here, drawn as they are by the page's script."""

from __future__ import annotations

from endpoints.selectors import MetricSeries
from jobs.charts.common import DANGER, plotly_layout

WARN = "#d97706"
# (figure key, title, y axis title): the charts the endpoint page shows, in order.
CHARTS = (
    ("invocations", "Invocations", "per minute"),
    ("errors", "Errors (4xx / 5xx)", "per minute"),
    ("model_latency", "Model latency", "ms (mean)"),
    ("overhead_latency", "Overhead latency", "ms (mean)"),
)


def _layout(y_title: str, **yaxis) -> dict:
    return plotly_layout(
        260,
        bottom=56,
        xaxis={"type": "date", "tickformat": "%H:%M"},
        yaxis={"title": {"text": y_title}, "rangemode": "tozero", **yaxis},
        legend={"orientation": "h", "y": -0.3},
        showlegend=True,
    )


def _line(name: str, x: list[str], y: list, **extra) -> dict:
    return {"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y, "line": {"width": 2}, **extra}


def _served_only(values: list[float], counts: list[int]) -> list[float | None]:
    """A mean over no invocations is a gap, not a zero."""
    return [value if count else None for value, count in zip(values, counts, strict=True)]


def metric_figures(series: MetricSeries) -> dict[str, dict]:
    """The endpoint page's charts (``CHARTS``), plus shadow agreement when a shadow was compared."""
    x = series["minutes"]
    variants = series["variants"]
    invocations, errors, model, overhead, agreement = [], [], [], [], []
    for name, values in variants.items():
        counts = values["invocations"]
        invocations.append(_line(name, x, counts))
        errors.append(_line(f"{name} 4xx", x, values["errors_4xx"], line={"width": 2, "color": WARN}))
        errors.append(_line(f"{name} 5xx", x, values["errors_5xx"], line={"width": 2, "color": DANGER}))
        model.append(_line(name, x, _served_only(values["model_latency_ms"], counts), connectgaps=False))
        overhead.append(
            _line(name, x, _served_only(values["overhead_latency_ms"], counts), connectgaps=False)
        )
        if any(value is not None for value in values["shadow_agreement"]):
            agreement.append(_line(name, x, values["shadow_agreement"], mode="lines+markers"))
    if len(variants) > 1:  # one colour per variant: tell 4xx from 5xx by the dash instead
        for trace in errors:
            trace["line"] = {"width": 2, "dash": "dot" if trace["name"].endswith("4xx") else "solid"}
    figures = {}
    for (key, _, y_title), traces in zip(CHARTS, (invocations, errors, model, overhead), strict=True):
        figures[key] = {"data": traces, "layout": _layout(y_title)}
    if agreement:
        figures["shadow_agreement"] = {
            "data": agreement,
            "layout": _layout("share agreeing", range=[0, 1.02]),
        }
    return figures
