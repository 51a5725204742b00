"""The finished report: its warnings, and making it strict JSON."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from datasets.profiling.options import CATEGORICAL, TEXT, ProfileOptions


def summary_warnings(report: dict, options: ProfileOptions, *, extra_columns: list[str] = ()) -> list[dict]:
    found: list[dict] = []

    def add(kind: str, severity: str, message: str, column: str | None = None) -> None:
        found.append({"type": kind, "severity": severity, "column": column, "message": message})

    rows = report["dataset"]["rows"]
    if rows == 0:
        add("empty", "high", "The data has no rows.")
    target = report["target"]
    target_name = target["column"] if target else None
    for column in report["columns"]:
        name = column["name"]
        if rows and column["count"] == 0:
            add("all_missing", "high", f"{name} has no values at all.", name)
            continue
        fraction = column["missing_fraction"]
        if fraction >= options.high_missing:
            severity = "high" if fraction >= options.very_high_missing else "medium"
            add("high_missing", severity, f"{name} is missing in {fraction:.1%} of rows.", name)
        if column["distinct"] == 1 and rows > 1:
            add("constant", "high", f"{name} has a single value: it carries no information.", name)
        if column["invalid"]:
            add(
                "invalid_values",
                "medium",
                f"{name}: {column['invalid']} values are not valid {column['type']} values "
                "(counted as missing).",
                name,
            )
        if column["kind"] in (CATEGORICAL, TEXT) and column["count"] and name != target_name:
            ratio = column["distinct"] / column["count"]
            if column["distinct"] > 50 and ratio >= options.high_cardinality:
                looks_like = " (it looks like an identifier)" if ratio >= 0.99 else ""
                add(
                    "high_cardinality",
                    "medium",
                    f"{name} has {column['distinct']} distinct values in {column['count']} rows{looks_like}.",
                    name,
                )
        if column.get("infinite"):
            add("infinite_values", "medium", f"{name} has {column['infinite']} infinite values.", name)
        outliers = column.get("outliers")
        if outliers and outliers["fraction"] >= 0.05:
            add(
                "outliers",
                "low",
                f"{name}: about {outliers['fraction']:.1%} of values lie outside the IQR fences "
                f"[{outliers['lower_fence']:.4g}, {outliers['upper_fence']:.4g}].",
                name,
            )
    duplicates = report["duplicates"]
    if duplicates["rows"]:
        severity = "medium" if duplicates["fraction"] >= 0.01 else "low"
        add(
            "duplicates",
            severity,
            f"{duplicates['rows']} rows ({duplicates['fraction']:.1%}) are duplicates.",
        )
    for pair in report["correlations"]["top_pairs"]:
        if abs(pair["r"]) >= options.high_correlation and target_name not in (pair["a"], pair["b"]):
            add(
                "high_correlation",
                "low",
                f"{pair['a']} and {pair['b']} are almost collinear (r = {pair['r']:.3f}).",
                pair["a"],
            )
    for name in extra_columns:
        add("extra_column", "low", f"{name} appears only after the first chunk and was not profiled.", name)
    if target:
        if target.get("note"):
            add("target", "low", target["note"], target_name)
        for item in (target.get("leakage") or {}).get("features", []):
            if item["leaks"]:
                add(
                    "target_leakage",
                    "high",
                    f"{item['column']} alone predicts {target_name} almost perfectly "
                    f"({target['leakage']['metric']} {item['score']:.3f} on held-out rows): "
                    "it may leak the answer.",
                    item["column"],
                )
        ratio = target.get("imbalance_ratio")
        if ratio is not None and ratio < options.imbalance_ratio:
            rarest, commonest = target["classes"][-1], target["classes"][0]
            add(
                "class_imbalance",
                "high" if ratio < options.imbalance_ratio / 10 else "medium",
                f"{target_name} is imbalanced: the rarest class ({rarest['value']}, {rarest['count']} rows) "
                f"is {ratio:.1%} of the commonest ({commonest['value']}, {commonest['count']} rows).",
                target_name,
            )
    order = {"high": 0, "medium": 1, "low": 2}
    found.sort(key=lambda item: order[item["severity"]])
    return found


# --- JSON ------------------------------------------------------------------------------------------


def _json_scalar(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, str | int | bool):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _clean(value: Any) -> Any:
    """The report with numpy scalars made plain and NaN/inf made null, so it is strict JSON."""
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return _json_scalar(value)
