"""Distribution drift of one feature between baseline and current statistics.

Everything here works on the statistics alone (KLL sketches and category counts), never on the
rows, so an execution over a million records costs what its sketches cost.

Numerical features:
- ``distance``: SageMaker's baseline drift distance, the largest gap between the baseline and
  current CDFs (L-infinity), evaluated at the quantiles of both sketches. It is also the
  two-sample Kolmogorov-Smirnov statistic, so ``ks_statistic`` equals it.
- ``ks_p_value``: the KS test's p-value for the two sample sizes.
- ``psi`` and ``js``: population stability index and Jensen-Shannon distance (base 2) over the
  baseline's deciles.

Categorical features: ``distance`` is the largest gap between the two category frequency
vectors; ``chi2_p_value`` a chi-square test of homogeneity; ``psi``/``js`` over the categories.

The rule (``comparison_method`` "Robust", the default): a feature drifts when any enabled test
fails. ``distance``, ``psi`` and ``js`` fail above their thresholds. The significance tests
(``ks``, ``chi2``) fail only when the p-value is below theirs *and* the effect is at least
``min_statistic`` / ``min_distance``: with a million records any difference is "significant",
and an alarm on a 0.5 % shift helps nobody. "Simple" flags on the distance alone.
"""

from __future__ import annotations

import base64
import copy
import math

import numpy as np
from datasketches import kll_floats_sketch
from scipy import stats as scipy_stats
from scipy.spatial.distance import jensenshannon

from monitoring.engine.statistics import feature_sketch

DEFAULT_DRIFT_TESTS: dict = {
    # SageMaker's comparison_threshold; a constraints.json value wins unless set here explicitly.
    "distance": {"enabled": True, "threshold": 0.1},
    "ks": {"enabled": True, "p_value": 0.001, "min_statistic": 0.05},
    "psi": {"enabled": True, "threshold": 0.2},
    "js": {"enabled": True, "threshold": 0.1},
    "chi2": {"enabled": True, "p_value": 0.001, "min_distance": 0.05},
}

HISTOGRAM_BINS = 20
HISTOGRAM_CATEGORIES = 30
CDF_POINTS = 401  # quantiles taken from each sketch to evaluate the CDF gap
SMOOTHING = 1e-4  # floor for empty bins in PSI (a bin empty on one side is not an infinity)


def merged_tests(tests: dict | None, *, comparison_threshold: float | None = None) -> dict:
    """DEFAULT_DRIFT_TESTS overlaid with ``tests`` (per test keys)."""
    merged = copy.deepcopy(DEFAULT_DRIFT_TESTS)
    given = tests or {}
    if comparison_threshold is not None and "threshold" not in (given.get("distance") or {}):
        merged["distance"]["threshold"] = float(comparison_threshold)
    for name, options in given.items():
        if isinstance(options, dict):
            merged.setdefault(name, {}).update(options)
    return merged


def _sketch(feature: dict) -> kll_floats_sketch | None:
    sketch = feature_sketch(feature)
    if sketch is not None:
        return sketch
    # A SageMaker-made baseline has no Studio sketch: rebuild one from its KLL sample levels.
    data = (
        (feature.get("numerical_statistics") or {}).get("distribution", {}).get("kll", {}).get("sketch", {})
    ).get("data")
    values = [v for level in data or [] for v in level if v is not None]
    if not values:
        return None
    sketch = kll_floats_sketch(2048)
    sketch.update(np.asarray(values, dtype=np.float32))
    return sketch


def _count(feature: dict) -> int:
    stats = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
    return int(stats.get("common", {}).get("num_present", 0))


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.clip(expected, SMOOTHING, None)
    a = np.clip(actual, SMOOTHING, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def _js(expected: np.ndarray, actual: np.ndarray) -> float:
    if expected.sum() <= 0 or actual.sum() <= 0:
        return 0.0
    value = float(jensenshannon(expected, actual, base=2))
    return 0.0 if math.isnan(value) else value


def _numerical(baseline: dict, current: dict) -> dict | None:
    b, c = _sketch(baseline), _sketch(current)
    if b is None or c is None or b.is_empty() or c.is_empty():
        return None
    ranks = np.linspace(0, 1, CDF_POINTS).tolist()
    points = np.unique(np.concatenate([b.get_quantiles(ranks), c.get_quantiles(ranks)]))
    points = points[np.isfinite(points)]
    cdf_b = np.asarray(b.get_cdf(points.tolist(), inclusive=True))[:-1]
    cdf_c = np.asarray(c.get_cdf(points.tolist(), inclusive=True))[:-1]
    statistic = float(np.max(np.abs(cdf_b - cdf_c))) if points.size else 0.0
    n_b, n_c = _count(baseline) or int(b.n), _count(current) or int(c.n)
    effective = max(1, round(n_b * n_c / (n_b + n_c)))
    p_value = float(scipy_stats.kstwo.sf(statistic, effective)) if statistic > 0 else 1.0

    # PSI and JS over the baseline's deciles (bins of equal baseline mass).
    edges = np.unique(np.asarray(b.get_quantiles(np.linspace(0.1, 0.9, 9).tolist()), dtype=np.float64))
    mass_b = np.diff(np.concatenate([[0.0], b.get_cdf(edges.tolist(), inclusive=True)]))
    mass_c = np.diff(np.concatenate([[0.0], c.get_cdf(edges.tolist(), inclusive=True)]))
    psi, js = _psi(mass_b, mass_c), _js(mass_b, mass_c)

    # The overlay's histogram: shared equal-width bins over both ranges (0.1 %-99.9 %, so one
    # outlier does not squash the picture); integers with a small range get one bin per value.
    low = min(b.get_quantile(0.001), c.get_quantile(0.001))
    high = max(b.get_quantile(0.999), c.get_quantile(0.999))
    integral = baseline.get("inferred_type") == "Integral" and current.get("inferred_type") == "Integral"
    if integral and high - low <= 2 * HISTOGRAM_BINS:
        hist_edges = np.arange(math.floor(low) - 0.5, math.ceil(high) + 1.0, 1.0)
    else:
        hist_edges = (
            np.linspace(low, high, HISTOGRAM_BINS + 1) if high > low else np.array([low - 0.5, low + 0.5])
        )

    def histogram(sketch: kll_floats_sketch) -> list[int]:
        cdf = np.asarray(sketch.get_cdf(hist_edges.tolist(), inclusive=True))[:-1]
        return [max(0, round(v)) for v in np.diff(cdf) * sketch.n]

    return {
        "type": "numerical",
        "distance": statistic,
        "ks_statistic": statistic,
        "ks_p_value": p_value,
        "psi": psi,
        "js": js,
        "baseline_histogram": {"edges": hist_edges.tolist(), "counts": histogram(b)},
        "current_histogram": {"edges": hist_edges.tolist(), "counts": histogram(c)},
    }


def _categories(feature: dict) -> dict[str, int]:
    stats = feature.get("string_statistics") or {}
    buckets = stats.get("distribution", {}).get("categorical", {}).get("buckets", [])
    return {str(b["value"]): int(b["count"]) for b in buckets}


def _categorical(baseline: dict, current: dict) -> dict | None:
    counts_b, counts_c = _categories(baseline), _categories(current)
    total_b, total_c = sum(counts_b.values()), sum(counts_c.values())
    if not total_b or not total_c:
        return None
    values = sorted(set(counts_b) | set(counts_c), key=lambda v: -(counts_b.get(v, 0) + counts_c.get(v, 0)))
    cb = np.array([counts_b.get(v, 0) for v in values], dtype=np.float64)
    cc = np.array([counts_c.get(v, 0) for v in values], dtype=np.float64)
    pb, pc = cb / total_b, cc / total_c
    distance = float(np.max(np.abs(pb - pc)))
    if len(values) > 1:
        table = np.vstack([cb, cc])
        table = table[:, table.sum(axis=0) > 0]
        p_value = float(scipy_stats.chi2_contingency(table, correction=False)[1])
    else:
        p_value = 1.0
    shown = values[:HISTOGRAM_CATEGORIES]
    return {
        "type": "categorical",
        "distance": distance,
        "chi2_p_value": p_value,
        "psi": _psi(pb, pc),
        "js": _js(pb, pc),
        "baseline_histogram": {"values": shown, "counts": [counts_b.get(v, 0) for v in shown]},
        "current_histogram": {"values": shown, "counts": [counts_c.get(v, 0) for v in shown]},
    }


def _failed(drift: dict, tests: dict) -> list[str]:
    failed = []

    def enabled(name: str) -> bool:
        return bool(tests.get(name, {}).get("enabled", True)) and name in tests

    if enabled("distance") and drift["distance"] > float(tests["distance"]["threshold"]):
        failed.append("distance")
    if drift["type"] == "numerical" and enabled("ks"):
        ks = tests["ks"]
        if drift["ks_p_value"] < float(ks["p_value"]) and drift["ks_statistic"] >= float(
            ks.get("min_statistic", 0)
        ):
            failed.append("ks")
    if enabled("psi") and drift["psi"] > float(tests["psi"]["threshold"]):
        failed.append("psi")
    if enabled("js") and drift["js"] > float(tests["js"]["threshold"]):
        failed.append("js")
    if drift["type"] == "categorical" and enabled("chi2"):
        chi2 = tests["chi2"]
        if drift["chi2_p_value"] < float(chi2["p_value"]) and drift["distance"] >= float(
            chi2.get("min_distance", 0)
        ):
            failed.append("chi2")
    return failed


def feature_drift(baseline: dict, current: dict, tests: dict, *, method: str = "Robust") -> dict | None:
    """The drift figures of one feature (a ``drift.json`` entry), or None when the two sides
    have nothing comparable (a numeric baseline whose current values are strings, ...)."""
    numeric = "numerical_statistics" in baseline and "numerical_statistics" in current
    categorical = "string_statistics" in baseline and "string_statistics" in current
    drift = (
        _numerical(baseline, current) if numeric else _categorical(baseline, current) if categorical else None
    )
    if drift is None:
        return None
    failed = _failed(drift, tests)
    drift["tests_failed"] = failed
    drift["drifted"] = ("distance" in failed) if method == "Simple" else bool(failed)
    # JSON has no NaN: a test that could not run reads as null.
    for key, value in list(drift.items()):
        if isinstance(value, float) and not math.isfinite(value):
            drift[key] = None if key != "distance" else 0.0
    return drift


def encode_sketch(sketch: kll_floats_sketch) -> str:
    return base64.b64encode(sketch.serialize()).decode("ascii")
