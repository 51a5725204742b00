"""Plotly figures of a profile report, as plain ``{"data": [...], "layout": {...}}`` dicts.

The profile page embeds them as JSON and draws them with Plotly.js (served locally); nothing here
renders anything. Each builder takes a part of the report (see ``datasets/profiling/``) and
returns None when there is nothing to draw.
"""

from __future__ import annotations

from itertools import pairwise

import pandas as pd

ACCENT = "#2563eb"
DANGER = "#dc2626"
MUTED = "#94a3b8"
OK = "#16a34a"
MAX_HEATMAP_LABELS = 15  # cells get their value written in them up to this many columns


def _layout(height: int = 240, **extra) -> dict:
    layout = {
        "height": height,
        "margin": {"l": 48, "r": 12, "t": 8, "b": 40},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "inherit", "size": 12},
        "bargap": 0.05,
        "showlegend": False,
    }
    layout.update(extra)
    return layout


def _label(value: object) -> str:
    return "(empty)" if value == "" else str(value)


def histogram_figure(histogram: dict | None, *, kind: str = "numeric", height: int = 240) -> dict | None:
    """Bins as adjoining bars (numbers or dates), or one bar per value (plus the rest, greyed)."""
    if not histogram or not histogram.get("counts"):
        return None
    if histogram["kind"] == "values":
        labels = [_label(value) for value in histogram["values"]]
        counts = list(histogram["counts"])
        colors = [ACCENT] * len(labels)
        if histogram.get("other"):
            labels.append("(other values)")
            counts.append(histogram["other"])
            colors.append(MUTED)
        trace = {
            "type": "bar",
            "x": labels,
            "y": counts,
            "marker": {"color": colors},
            "hovertemplate": "%{x}: %{y}<extra></extra>",
        }
        return {"data": [trace], "layout": _layout(height, xaxis={"type": "category", "automargin": True})}
    edges = histogram["edges"]
    if kind == "datetime":
        stamps = [pd.Timestamp(edge) for edge in edges]
        centers = [(a + (b - a) / 2).isoformat() for a, b in pairwise(stamps)]
        widths = [(b - a).total_seconds() * 1000 for a, b in pairwise(stamps)]
        xaxis = {"type": "date"}
    else:
        centers = [(a + b) / 2 for a, b in pairwise(edges)]
        widths = [b - a for a, b in pairwise(edges)]
        xaxis = {"zeroline": False}
    ranges = [f"[{a}, {b})" for a, b in pairwise(edges)]
    trace = {
        "type": "bar",
        "x": centers,
        "y": histogram["counts"],
        "width": widths,
        "customdata": ranges,
        "marker": {"color": ACCENT, "line": {"width": 0}},
        "hovertemplate": "%{customdata}: %{y}<extra></extra>",
    }
    return {"data": [trace], "layout": _layout(height, xaxis=xaxis, bargap=0)}


def column_figure(column: dict) -> dict | None:
    return histogram_figure(column.get("histogram"), kind=column.get("kind", "numeric"))


def missing_figure(columns: list[dict]) -> dict | None:
    """The share of missing values per column (only when some are missing)."""
    if not any(column["missing"] for column in columns):
        return None
    trace = {
        "type": "bar",
        "x": [column["name"] for column in columns],
        "y": [column["missing_fraction"] for column in columns],
        "marker": {"color": [DANGER if column["missing_fraction"] >= 0.5 else ACCENT for column in columns]},
        "hovertemplate": "%{x}: %{y:.1%} missing<extra></extra>",
    }
    return {
        "data": [trace],
        "layout": _layout(260, yaxis={"tickformat": ".0%", "range": [0, 1]}, xaxis={"type": "category"}),
    }


def correlation_figure(correlations: dict | None) -> dict | None:
    if not correlations or len(correlations.get("columns", [])) < 2:
        return None
    names = correlations["columns"]
    matrix = correlations["matrix"]
    trace = {
        "type": "heatmap",
        "x": names,
        "y": names,
        "z": matrix,
        "zmin": -1,
        "zmax": 1,
        "colorscale": "RdBu",  # Plotly's runs blue (-1) to red (+1)
        "hovertemplate": "%{y} / %{x}: r = %{z:.3f}<extra></extra>",
        "colorbar": {"thickness": 12},
    }
    if len(names) <= MAX_HEATMAP_LABELS:
        trace["text"] = [["" if value is None else f"{value:.2f}" for value in row] for row in matrix]
        trace["texttemplate"] = "%{text}"
    size = min(720, max(320, 160 + 36 * len(names)))
    return {
        "data": [trace],
        "layout": _layout(
            size,
            margin={"l": 110, "r": 12, "t": 8, "b": 110},
            xaxis={"type": "category", "tickangle": -45},
            yaxis={"type": "category", "autorange": "reversed"},
        ),
    }


def class_balance_figure(target: dict | None) -> dict | None:
    if not target or not target.get("classes"):
        return None
    classes = target["classes"]
    trace = {
        "type": "bar",
        "x": [_label(item["value"]) for item in classes],
        "y": [item["count"] for item in classes],
        "customdata": [item["fraction"] for item in classes],
        "marker": {"color": ACCENT},
        "hovertemplate": "%{x}: %{y} rows (%{customdata:.1%})<extra></extra>",
    }
    return {"data": [trace], "layout": _layout(260, xaxis={"type": "category"})}


def _horizontal_bars(names: list[str], values: list[float], colors: list[str], label: str, **layout) -> dict:
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": names,
        "x": values,
        "marker": {"color": colors},
        "hovertemplate": "%{y}: %{x:.4f}<extra>" + label + "</extra>",
    }
    height = min(640, 80 + 24 * len(names))
    return {
        "data": [trace],
        "layout": _layout(
            height,
            margin={"l": 140, "r": 12, "t": 8, "b": 40},
            yaxis={"type": "category", "autorange": "reversed", "automargin": True},
            xaxis={"title": {"text": label}},
            **layout,
        ),
    }


def leakage_figure(target: dict | None) -> dict | None:
    """Each feature's score when it alone predicts the target, with the leakage threshold."""
    leakage = (target or {}).get("leakage")
    if not leakage or not leakage.get("features"):
        return None
    features = leakage["features"]
    threshold = leakage["threshold"]
    figure = _horizontal_bars(
        [item["column"] for item in features],
        [item["score"] for item in features],
        [DANGER if item["leaks"] else MUTED for item in features],
        leakage["metric"],
    )
    figure["layout"]["shapes"] = [
        {
            "type": "line",
            "x0": threshold,
            "x1": threshold,
            "yref": "paper",
            "y0": 0,
            "y1": 1,
            "line": {"color": DANGER, "dash": "dot", "width": 1},
        }
    ]
    return figure


def importance_figure(target: dict | None) -> dict | None:
    baseline = (target or {}).get("baseline")
    if not baseline or not baseline.get("importances"):
        return None
    items = baseline["importances"]
    return _horizontal_bars(
        [item["column"] for item in items],
        [item["importance"] for item in items],
        [ACCENT] * len(items),
        f"drop in {baseline['metric']}",
    )


def report_figures(report: dict) -> dict[str, dict]:
    """Every figure of the report, by the id (``chart-<key>``) of the element it is drawn in."""
    figures: dict[str, dict | None] = {
        "missing": missing_figure(report["columns"]),
        "correlations": correlation_figure(report.get("correlations")),
    }
    for index, column in enumerate(report["columns"]):
        figures[f"column-{index}"] = column_figure(column)
    target = report.get("target")
    if target:
        figures["classes"] = class_balance_figure(target)
        distribution = target.get("distribution") or {}
        figures["target"] = histogram_figure(distribution.get("histogram"), height=260)
        figures["leakage"] = leakage_figure(target)
        figures["importances"] = importance_figure(target)
    return {key: figure for key, figure in figures.items() if figure is not None}
