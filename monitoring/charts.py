"""Plotly figures of Model Monitor's results, built here as plain dicts and drawn as they are by the
page's script: the drift heatmap (feature x execution), the violations timeline, per feature the
baseline and current distributions overlaid, and model-quality metrics over time with thresholds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from itertools import pairwise
from typing import Any

from jobs.charts.common import ACCENT, DANGER, MUTED, plotly_layout

BASELINE_COLOUR = MUTED
CURRENT_COLOUR = ACCENT
# One colour per violation check type (SageMaker's names), others cycle through the rest.
CHECK_COLOURS = {
    "data_type_check": "#7c3aed",
    "completeness_check": "#d97706",
    "baseline_drift_check": DANGER,
    "missing_column_check": "#0891b2",
    "extra_column_check": "#059669",
    "categorical_values_check": "#db2777",
}
PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0d9488", "#be123c", "#4d7c0f")
# The scores a drift row shows, in order: (key, label).
SCORES = (
    ("distance", "Distance"),
    ("ks_statistic", "KS statistic"),
    ("ks_p_value", "KS p-value"),
    ("psi", "PSI"),
    ("js", "Jensen-Shannon"),
    ("chi2_p_value", "χ² p-value"),
)

Figure = dict[str, Any]


def _time_label(execution: Any) -> str:
    return execution.window_end.strftime("%Y-%m-%d %H:%M")


def _time_range(executions: list[Any]) -> list[str]:
    """The date axis over all the figure's executions, half a window wider each side (a single
    execution would otherwise be zoomed to milliseconds)."""
    ends = sorted(execution.window_end for execution in executions)
    pad = max((ends[-1] - ends[0]) / 20, timedelta(minutes=30))
    return [(ends[0] - pad).isoformat(), (ends[-1] + pad).isoformat()]


def _features_of(executions: Iterable[Any]) -> list[str]:
    names: set[str] = set()
    for execution in executions:
        names.update((execution.drift or {}).keys())
    return sorted(names)


def drift_heatmap(executions: list[Any]) -> Figure | None:
    """Drift distance by feature (y) and execution (x, oldest first); None when nothing has drift."""
    ordered = sorted(executions, key=lambda execution: execution.window_end)
    features = _features_of(ordered)
    if not features:
        return None
    x = [_time_label(execution) for execution in ordered]
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for feature in features:
        row, labels = [], []
        for execution in ordered:
            scores = (execution.drift or {}).get(feature) or {}
            row.append(scores.get("distance"))
            labels.append("drifted" if scores.get("drifted") else "")
        z.append(row)
        text.append(labels)
    return {
        "data": [
            {
                "type": "heatmap",
                "x": x,
                "y": features,
                "z": z,
                "text": text,
                "colorscale": "YlOrRd",
                "reversescale": True,  # Plotly's YlOrRd runs dark to light: more drift, darker
                "zmin": 0,
                "colorbar": {"title": {"text": "distance"}, "thickness": 12},
                "hovertemplate": "%{y}<br>%{x}<br>distance %{z:.4f} %{text}<extra></extra>",
                "xgap": 1,
                "ygap": 1,
            }
        ],
        "layout": plotly_layout(
            max(220, 60 + 26 * len(features)),
            bottom=72,
            margin={"l": 140, "r": 16, "t": 12, "b": 72},
            xaxis={"type": "category", "title": {"text": "execution (window end, UTC)"}},
            yaxis={"type": "category", "automargin": True},
        ),
    }


def violations_timeline(executions: list[Any]) -> Figure | None:
    """Each violation as a point: the execution's time on x, its feature (or check) on y, one colour
    per check type. None when no execution found any."""
    by_check: dict[str, dict[str, list]] = {}
    for execution in sorted(executions, key=lambda execution: execution.window_end):
        for violation in execution.violations or []:
            check = violation.get("constraint_check_type", "unknown")
            points = by_check.setdefault(check, {"x": [], "y": [], "text": []})
            points["x"].append(execution.window_end.isoformat())
            points["y"].append(violation.get("feature_name") or check)
            points["text"].append(violation.get("description", ""))
    if not by_check:
        return None
    data = []
    for index, (check, points) in enumerate(sorted(by_check.items())):
        colour = CHECK_COLOURS.get(check, PALETTE[index % len(PALETTE)])
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": check,
                "marker": {"size": 10, "color": colour, "symbol": "diamond"},
                "hovertemplate": "%{y}<br>%{x}<br>%{text}<extra>" + check + "</extra>",
                **points,
            }
        )
    rows = len({y for trace in data for y in trace["y"]})
    return {
        "data": data,
        "layout": plotly_layout(
            max(200, 80 + 24 * rows),
            bottom=64,
            margin={"l": 140, "r": 16, "t": 12, "b": 64},
            xaxis={
                "type": "date",
                "range": _time_range(executions),
                "title": {"text": "execution (window end, UTC)"},
            },
            yaxis={"type": "category", "automargin": True},
            legend={"orientation": "h", "y": -0.35},
            showlegend=True,
        ),
    }


def _shares(counts: list[float]) -> list[float]:
    """Counts as shares of their total, so samples of different sizes compare."""
    total = sum(counts) or 1
    return [count / total for count in counts]


def _numerical_traces(baseline: Mapping, current: Mapping) -> list[dict]:
    traces = []
    for name, histogram, colour in (
        ("baseline", baseline, BASELINE_COLOUR),
        ("current", current, CURRENT_COLOUR),
    ):
        edges, counts = list(histogram.get("edges") or []), list(histogram.get("counts") or [])
        if len(edges) != len(counts) + 1:
            continue
        traces.append(
            {
                "type": "bar",
                "name": name,
                "x": [(low + high) / 2 for low, high in pairwise(edges)],
                "width": [high - low for low, high in pairwise(edges)],
                "y": _shares(counts),
                "marker": {"color": colour, "line": {"width": 0}},
                "opacity": 0.6,
                "hovertemplate": "%{x:.4g}: %{y:.1%}<extra>" + name + "</extra>",
            }
        )
    return traces


def _categorical_traces(baseline: Mapping, current: Mapping) -> list[dict]:
    values: list[str] = []
    for histogram in (baseline, current):
        for value in histogram.get("values") or []:
            if str(value) not in values:
                values.append(str(value))
    traces = []
    for name, histogram, colour in (
        ("baseline", baseline, BASELINE_COLOUR),
        ("current", current, CURRENT_COLOUR),
    ):
        counts = dict(
            zip(
                (str(value) for value in histogram.get("values") or []),
                histogram.get("counts") or [],
                strict=False,
            )
        )
        shares = _shares([counts.get(value, 0) for value in values])
        traces.append(
            {
                "type": "bar",
                "name": name,
                "x": values,
                "y": shares,
                "marker": {"color": colour},
                "opacity": 0.85,
                "hovertemplate": "%{x}: %{y:.1%}<extra>" + name + "</extra>",
            }
        )
    return traces


def distribution_overlay(scores: Mapping) -> Figure:
    """One feature's baseline and current distributions on one chart (as shares of each sample):
    overlaid histograms for a numerical feature, side-by-side bars for a categorical one."""
    baseline = scores.get("baseline_histogram") or {}
    current = scores.get("current_histogram") or {}
    categorical = scores.get("type") == "categorical" or "values" in baseline or "values" in current
    traces = _categorical_traces(baseline, current) if categorical else _numerical_traces(baseline, current)
    return {
        "data": traces,
        "layout": plotly_layout(
            240,
            bottom=40,
            barmode="group" if categorical else "overlay",
            bargap=0.15 if categorical else 0,
            xaxis={"type": "category"} if categorical else {"zeroline": False},
            yaxis={"title": {"text": "share"}, "tickformat": ".0%", "rangemode": "tozero"},
            legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
            showlegend=True,
        ),
    }


def feature_rows(drift: Mapping) -> list[dict]:
    """The drift table and the overlays, one per feature: drifted first, then by name. ``figure_id``
    is the key of the feature's overlay in the page's figures."""
    rows = []
    ordered = sorted(drift.items(), key=lambda item: (not (item[1] or {}).get("drifted"), item[0]))
    for index, (feature, scores) in enumerate(ordered):
        scores = scores or {}
        rows.append(
            {
                "feature": feature,
                "type": scores.get("type", ""),
                "drifted": bool(scores.get("drifted")),
                "scores": [(label, scores.get(key)) for key, label in SCORES],
                "figure_id": f"overlay-{index}",
            }
        )
    return rows


def overlay_figures(drift: Mapping) -> dict[str, Figure]:
    """Every feature's overlay, keyed as ``feature_rows`` names them."""
    rows = feature_rows(drift)
    return {row["figure_id"]: distribution_overlay(drift[row["feature"]] or {}) for row in rows}


def _threshold_of(rule: Any) -> float | None:
    """A threshold written as a number or as ``{"threshold": x, ...}``."""
    if isinstance(rule, int | float) and not isinstance(rule, bool):
        return float(rule)
    if isinstance(rule, Mapping):
        value = rule.get("threshold", rule.get("value"))
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def quality_metric_series(executions: list[Any]) -> dict[str, dict[str, list]]:
    """Each quality metric's values over the executions (oldest first)."""
    series: dict[str, dict[str, list]] = {}
    for execution in sorted(executions, key=lambda execution: execution.window_end):
        for group in (execution.metrics or {}).values():
            if not isinstance(group, Mapping):
                continue
            for name, metric in group.items():
                value = metric.get("value") if isinstance(metric, Mapping) else metric
                if not isinstance(value, int | float) or isinstance(value, bool):
                    continue
                points = series.setdefault(name, {"x": [], "y": []})
                points["x"].append(execution.window_end.isoformat())
                points["y"].append(value)
    return series


def quality_figure(executions: list[Any], thresholds: Mapping[str, Any]) -> Figure | None:
    """Quality metrics over time, a line each, with each metric's threshold as a dashed line of
    the same colour. None when no execution has metrics."""
    series = quality_metric_series(executions)
    if not series:
        return None
    data = []
    all_x = sorted({x for points in series.values() for x in points["x"]})
    for index, (name, points) in enumerate(sorted(series.items())):
        colour = PALETTE[index % len(PALETTE)]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": points["x"],
                "y": points["y"],
                "line": {"width": 2, "color": colour},
                "marker": {"size": 6},
                "legendgroup": name,
            }
        )
        threshold = _threshold_of(thresholds.get(name))
        if threshold is not None and all_x:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{name} threshold",
                    "x": [all_x[0], all_x[-1]],
                    "y": [threshold, threshold],
                    "line": {"width": 1.5, "color": colour, "dash": "dash"},
                    "legendgroup": name,
                    "hovertemplate": f"{name} threshold {threshold:g}<extra></extra>",
                }
            )
    return {
        "data": data,
        "layout": plotly_layout(
            300,
            bottom=72,
            xaxis={
                "type": "date",
                "range": _time_range(executions),
                "title": {"text": "execution (window end, UTC)"},
            },
            yaxis={"zeroline": False},
            legend={"orientation": "h", "y": -0.3},
            showlegend=True,
        ),
    }
