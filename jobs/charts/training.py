"""Plotly figures of training jobs: the evaluation section of the detail page and the comparison.

Builders take a part of an evaluation report (the algorithm's ``evaluation.json``) or metric series
and return None when there is nothing to draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from jobs.charts.common import ACCENT, DANGER, MUTED, plotly_layout

MAX_SCATTER_POINTS = 5000  # residual plots of big test sets: an even sample is enough to see the shape
MAX_BARS = 30  # the most important features; the rest are a long flat tail
MAX_HEATMAP_TEXT = 20  # write the count in each cell up to this many classes


def _layout(height: int = 300, **extra) -> dict:
    return plotly_layout(height, **{"showlegend": False, **extra})


def _numbers(values: object) -> list[float] | None:
    """A list of finite-or-None floats, or None if ``values`` is not a list of numbers."""
    if not isinstance(values, list) or not values:
        return None
    out: list[float | None] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        out.append(value if math.isfinite(value) else None)
    return out  # type: ignore[return-value]


def _every(values: Sequence, count: int) -> list:
    """At most ``count`` items of ``values``, evenly spaced."""
    if len(values) <= count:
        return list(values)
    step = len(values) / count
    return [values[int(index * step)] for index in range(count)]


def _curves(part: object) -> list[dict]:
    """A curve ``{x..., y..., auc}``, or several (one per class: a list, or a dict by label)."""
    if isinstance(part, dict) and any(isinstance(value, list) for value in part.values()):
        return [part]
    if isinstance(part, dict):
        return [{"label": label, **curve} for label, curve in part.items() if isinstance(curve, dict)]
    if isinstance(part, list):
        return [curve for curve in part if isinstance(curve, dict)]
    return []


def _scored_curves(part: object, *, x: str, y: str, score: str, abbreviation: str, label: str) -> list[dict]:
    """A line per curve of ``part`` whose ``x`` and ``y`` are number lists of one length, its score
    (``score``, shown as ``abbreviation``) in its name; ``label`` names a curve that has none."""
    traces = []
    for curve in _curves(part):
        xs, ys = _numbers(curve.get(x)), _numbers(curve.get(y))
        if not xs or not ys or len(xs) != len(ys):
            continue
        value = curve.get(score)
        name = str(curve.get("label", label))
        if isinstance(value, int | float):
            name = f"{name} ({abbreviation} {value:.3f})"
        traces.append({"type": "scatter", "mode": "lines", "x": xs, "y": ys, "name": name})
    return traces


def _unit_square_layout(x_title: str, y_title: str) -> dict:
    """Rates on both axes, from 0 to 1, with a legend below the plot."""
    return _layout(
        320,
        xaxis={"title": {"text": x_title}, "range": [0, 1]},
        yaxis={"title": {"text": y_title}, "range": [0, 1.02]},
        showlegend=True,
        legend={"orientation": "h", "y": -0.25},
    )


def roc_figure(roc: object) -> dict | None:
    traces = _scored_curves(roc, x="fpr", y="tpr", score="auc", abbreviation="AUC", label="ROC")
    if not traces:
        return None
    diagonal = {
        "type": "scatter",
        "mode": "lines",
        "x": [0, 1],
        "y": [0, 1],
        "name": "chance",
        "line": {"dash": "dot", "color": MUTED},
        "hoverinfo": "skip",
    }
    return {
        "data": [*traces, diagonal],
        "layout": _unit_square_layout("False positive rate", "True positive rate"),
    }


def pr_figure(pr: object) -> dict | None:
    traces = _scored_curves(
        pr, x="recall", y="precision", score="average_precision", abbreviation="AP", label="PR"
    )
    if not traces:
        return None
    return {"data": traces, "layout": _unit_square_layout("Recall", "Precision")}


def confusion_figure(confusion: object) -> dict | None:
    if not isinstance(confusion, dict):
        return None
    labels = [str(label) for label in confusion.get("labels") or []]
    matrix = confusion.get("matrix")
    if not labels or not isinstance(matrix, list) or len(matrix) != len(labels):
        return None
    trace = {
        "type": "heatmap",
        "x": labels,
        "y": labels,
        "z": matrix,
        "colorscale": "Blues",
        "reversescale": True,  # Plotly's Blues runs dark to light: the big counts should be dark
        "hovertemplate": "actual %{y}, predicted %{x}: %{z}<extra></extra>",
        "colorbar": {"thickness": 12},
    }
    if len(labels) <= MAX_HEATMAP_TEXT:
        trace["text"] = [[str(value) for value in row] for row in matrix]
        trace["texttemplate"] = "%{text}"
    size = min(640, max(300, 140 + 32 * len(labels)))
    return {
        "data": [trace],
        "layout": _layout(
            size,
            margin={"l": 80, "r": 16, "t": 12, "b": 64},
            xaxis={"title": {"text": "Predicted"}, "type": "category"},
            yaxis={"title": {"text": "Actual"}, "type": "category", "autorange": "reversed"},
        ),
    }


def residuals_figure(residuals: object) -> dict | None:
    if not isinstance(residuals, dict):
        return None
    predicted, residual = _numbers(residuals.get("predicted")), _numbers(residuals.get("residual"))
    if not predicted or not residual or len(predicted) != len(residual):
        return None
    pairs = _every(list(zip(predicted, residual, strict=True)), MAX_SCATTER_POINTS)
    trace = {
        "type": "scattergl" if len(pairs) > 1000 else "scatter",
        "mode": "markers",
        "x": [x for x, _ in pairs],
        "y": [y for _, y in pairs],
        "marker": {"size": 5, "color": ACCENT, "opacity": 0.6},
        "hovertemplate": "predicted %{x:.4g}, residual %{y:.4g}<extra></extra>",
    }
    return {
        "data": [trace],
        "layout": _layout(
            320,
            xaxis={"title": {"text": "Predicted"}, "zeroline": False},
            yaxis={"title": {"text": "Actual - predicted"}, "zeroline": True, "zerolinecolor": DANGER},
        ),
    }


def importance_figure(importances: object) -> dict | None:
    if not isinstance(importances, dict):
        return None
    features = importances.get("features") or []
    values = _numbers(importances.get("importances"))
    if not features or not values or len(features) != len(values):
        return None
    ranked = sorted(zip(features, values, strict=True), key=lambda item: -(item[1] or 0))[:MAX_BARS]
    ranked.reverse()  # Plotly draws horizontal bars bottom-up: the most important on top
    trace = {
        "type": "bar",
        "orientation": "h",
        "x": [value for _, value in ranked],
        "y": [str(name) for name, _ in ranked],
        "marker": {"color": ACCENT},
        "hovertemplate": "%{y}: %{x:.4g}<extra></extra>",
    }
    return {
        "data": [trace],
        "layout": _layout(
            max(220, 60 + 22 * len(ranked)),
            margin={"l": 140, "r": 16, "t": 12, "b": 40},
            yaxis={"type": "category", "automargin": True},
        ),
    }


def evaluation_figures(report: dict) -> dict[str, dict]:
    """The evaluation section's charts, by key; only those the report has data for."""
    builders = {
        "roc": (roc_figure, "roc_curve"),
        "pr": (pr_figure, "pr_curve"),
        "confusion": (confusion_figure, "confusion_matrix"),
        "residuals": (residuals_figure, "residuals"),
        "importances": (importance_figure, "feature_importances"),
    }
    figures = {}
    for key, (build, part) in builders.items():
        figure = build(report.get(part))
        if figure is not None:
            figures[key] = figure
    return figures


def evaluation_metrics(report: dict) -> list[tuple[str, float]]:
    """The report's scalar metrics, in its order (non-numbers and nested values left out)."""
    metrics = report.get("metrics")
    if not isinstance(metrics, dict):
        return []
    return [
        (str(name), value)
        for name, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


# --- Compare --------------------------------------------------------------------------------------------


def curve_figure(metric: str, series: list[tuple[str, list[dict]]]) -> dict:
    """One metric of several jobs: a line per job (``series`` is ``[(job name, points)]``)."""
    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers" if len(points) <= 200 else "lines",
            "name": job,
            "x": [point["step"] for point in points],
            "y": [point["value"] for point in points],
            "marker": {"size": 4},
        }
        for job, points in series
    ]
    return {
        "data": traces,
        "layout": _layout(
            300,
            xaxis={"title": {"text": "step"}, "zeroline": False},
            yaxis={"title": {"text": metric}, "zeroline": False},
            showlegend=True,
            legend={"orientation": "h", "y": -0.3},
        ),
    }


def _as_number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parallel_figure(
    jobs: list[str], hyperparameters: dict[str, list[str | None]], objective: str, scores: list[float]
) -> dict | None:
    """Parallel coordinates: an axis per hyperparameter set on every job, then the objective.

    Numeric hyperparameters keep their values; others (objectives, booleans, methods) become the
    index of their value, with the value as the tick label. A line is a job, coloured by the objective.
    """
    dimensions = []
    for name, values in sorted(hyperparameters.items()):
        if any(value is None for value in values):
            continue
        numbers = [_as_number(value) for value in values]
        if all(number is not None for number in numbers):
            dimensions.append({"label": name, "values": numbers})
            continue
        categories = sorted(set(values))
        dimensions.append(
            {
                "label": name,
                "values": [categories.index(value) for value in values],
                "tickvals": list(range(len(categories))),
                "ticktext": categories,
                "range": [-0.2, max(len(categories) - 1, 0) + 0.2],
            }
        )
    if not jobs:
        return None
    dimensions.append({"label": objective, "values": scores})
    trace = {
        "type": "parcoords",
        "line": {"color": scores, "colorscale": "Viridis", "showscale": True, "colorbar": {"thickness": 12}},
        "dimensions": dimensions,
        "customdata": jobs,
    }
    return {"data": [trace], "layout": _layout(380, margin={"l": 72, "r": 72, "t": 48, "b": 32})}
