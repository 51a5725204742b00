"""Plotly figures of a tuning job: the objective by training job, parallel coordinates, importances."""

from __future__ import annotations

import math

from jobs.charts.common import ACCENT, BEST, plotly_layout
from jobs.tuning import log_scaled


def _layout(height: int = 300, **extra) -> dict:
    return plotly_layout(height, bottom=44, **extra)


def tuning_figures(config: dict, rows: list[dict], importances: dict[str, float]) -> dict[str, dict]:
    """Plotly figures: the objective by trial with the best so far, parallel coordinates, importances."""
    figures: dict[str, dict] = {}
    objective = config["objective"]
    maximize = objective["type"] == "Maximize"
    scored = [(number, row) for number, row in enumerate(rows, 1) if row["objective"] is not None]
    if not scored:
        return figures
    best_so_far, best = [], None
    for _, row in scored:
        value = row["objective"]
        best = value if best is None or (value > best if maximize else value < best) else best
        best_so_far.append(best)
    numbers = [number for number, _ in scored]
    figures["history"] = {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Training job",
                "x": numbers,
                "y": [row["objective"] for _, row in scored],
                "text": [row["name"] for _, row in scored],
                "marker": {"color": ACCENT, "size": 8},
                "hovertemplate": "%{text}<br>" + objective["metric_name"] + " = %{y}<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Best so far",
                "x": numbers,
                "y": best_so_far,
                "line": {"color": BEST, "shape": "hv", "width": 2},
            },
        ],
        "layout": _layout(
            xaxis={"title": {"text": "Training job"}, "dtick": 1 if len(rows) <= 20 else None},
            yaxis={"title": {"text": objective["metric_name"]}},
            legend={"orientation": "h", "y": 1.12},
        ),
    }
    dimensions = []
    for item in config["ranges"]:
        values = [(row["parameters"] or {}).get(item["name"]) for _, row in scored]
        if item["type"] == "Categorical":
            index = {value: position for position, value in enumerate(item["values"])}
            dimensions.append(
                {
                    "label": item["name"],
                    "values": [index.get(str(value), -1) for value in values],
                    "tickvals": list(index.values()),
                    "ticktext": item["values"],
                    "range": [0, max(1, len(index) - 1)],
                }
            )
            continue
        numbers_ = [float(value) if value is not None else math.nan for value in values]
        logarithmic = log_scaled(item)
        dimensions.append(
            {
                "label": f"log10({item['name']})" if logarithmic else item["name"],
                "values": [math.log10(v) if logarithmic and v > 0 else v for v in numbers_],
                "range": [math.log10(item["min"]), math.log10(item["max"])]
                if logarithmic
                else [item["min"], item["max"]],
            }
        )
    objectives = [row["objective"] for _, row in scored]
    dimensions.append({"label": objective["metric_name"], "values": objectives})
    figures["parallel"] = {
        "data": [
            {
                "type": "parcoords",
                "dimensions": dimensions,
                "line": {
                    "color": objectives,
                    "colorscale": "Viridis",
                    "reversescale": not maximize,  # the best trials are the bright ones
                    "showscale": True,
                },
            }
        ],
        "layout": _layout(340, margin={"l": 64, "r": 64, "t": 48, "b": 24}),
    }
    if importances:
        names = list(reversed(importances))
        figures["importance"] = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": [importances[name] for name in names],
                    "y": names,
                    "marker": {"color": ACCENT},
                    "hovertemplate": "%{y}: %{x:.2f}<extra></extra>",
                }
            ],
            "layout": _layout(
                max(160, 40 + 32 * len(names)),
                xaxis={"title": {"text": "Importance (share of the objective's variation)"}, "range": [0, 1]},
                yaxis={"automargin": True},
            ),
        }
    return figures
