"""``constraints.json`` and the checks of current statistics against a baseline.

Checks (SageMaker's ``constraint_check_type`` names): ``data_type_check``,
``completeness_check``, ``missing_column_check``, ``extra_column_check``,
``categorical_values_check`` and ``baseline_drift_check``. Drift per feature is measured by
``monitoring.engine.drift``; see there for the tests and the rule that flags a feature.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from monitoring.engine.drift import DEFAULT_DRIFT_TESTS, feature_drift, merged_tests
from monitoring.engine.statistics import FRACTIONAL, INTEGRAL, STRING, UNKNOWN, features_by_name

__all__ = [
    "DEFAULT_DRIFT_TESTS",
    "DEFAULT_MONITORING_CONFIG",
    "CheckResult",
    "check_statistics",
    "suggest_constraints",
]

DEFAULT_MONITORING_CONFIG: dict = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
    },
}

# A string feature gets a domain (and so a categorical_values_check) when it has at most this
# many distinct values: more than that reads as free text or ids, where new values are normal.
MAX_DOMAIN_VALUES = 100


@dataclass
class CheckResult:
    violations: list[dict] = field(default_factory=list)
    drift: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"violations": self.violations, "drift": self.drift}


def _common(feature: dict) -> dict:
    stats = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
    return stats.get("common", {})


def _completeness(feature: dict) -> float:
    common = _common(feature)
    present, missing = int(common.get("num_present", 0)), int(common.get("num_missing", 0))
    return present / (present + missing) if present + missing else 0.0


def suggest_constraints(statistics: dict) -> dict:
    """``constraints.json`` suggested from baseline statistics, as SageMaker's baselining job does."""
    features = []
    for feature in statistics.get("features", []):
        kind = feature.get("inferred_type", UNKNOWN)
        item = {"name": feature["name"], "inferred_type": kind, "completeness": _completeness(feature)}
        numeric = feature.get("numerical_statistics")
        if kind in (INTEGRAL, FRACTIONAL) and numeric:
            low = numeric.get("min")
            item["num_constraints"] = {"is_non_negative": low is not None and low >= 0}
        strings = feature.get("string_statistics")
        if kind == STRING and strings:
            buckets = strings.get("distribution", {}).get("categorical", {}).get("buckets", [])
            distinct = int(strings.get("distinct_count", len(buckets)))
            if distinct <= MAX_DOMAIN_VALUES and not feature.get("studio_categories_truncated"):
                item["string_constraints"] = {"domains": sorted(str(b["value"]) for b in buckets)}
        features.append(item)
    return {"version": 0, "features": features, "monitoring_config": copy.deepcopy(DEFAULT_MONITORING_CONFIG)}


def _monitoring_config(constraints: dict) -> dict:
    config = copy.deepcopy(DEFAULT_MONITORING_CONFIG)
    given = constraints.get("monitoring_config") or {}
    for key, value in given.items():
        if key == "distribution_constraints" and isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    return config


def _violation(name: str, check: str, description: str) -> dict:
    return {"feature_name": name, "constraint_check_type": check, "description": description}


def _conforming_ratio(expected: str, feature: dict) -> float:
    """The share of present values whose type fits the baseline's (an integer is a fine
    Fractional, anything is a fine String)."""
    types = feature.get("studio_type_counts")
    present = int(_common(feature).get("num_present", 0))
    if not present:
        return 1.0
    if types is None:  # statistics without Studio's counts: judge by the inferred type
        kind = feature.get("inferred_type")
        fits = kind == expected or (expected == FRACTIONAL and kind == INTEGRAL) or expected == STRING
        return 1.0 if fits else 0.0
    if expected == INTEGRAL:
        good = types.get("integral", 0)
    elif expected == FRACTIONAL:
        good = types.get("integral", 0) + types.get("fractional", 0)
    else:
        good = present
    return good / present


def _domain_ratio(domain: set[str], feature: dict) -> tuple[float, list[str]]:
    strings = feature.get("string_statistics")
    if not strings:
        return 1.0, []
    buckets = strings.get("distribution", {}).get("categorical", {}).get("buckets", [])
    total = sum(int(b["count"]) for b in buckets)
    outside = [(str(b["value"]), int(b["count"])) for b in buckets if str(b["value"]) not in domain]
    if not total:
        return 1.0, []
    return 1 - sum(count for _, count in outside) / total, [value for value, _ in outside]


def check_statistics(
    current: dict, baseline: dict, constraints: dict, tests: dict | None = None
) -> CheckResult:
    """Check ``current`` statistics against the baseline's statistics and constraints."""
    config = _monitoring_config(constraints)
    distribution = config["distribution_constraints"]
    drift_tests = merged_tests(tests, comparison_threshold=distribution.get("comparison_threshold"))
    method = str(distribution.get("comparison_method", "Robust"))
    evaluate = str(config.get("evaluate_constraints", "Enabled")) == "Enabled"
    compare = str(distribution.get("perform_comparison", "Enabled")) == "Enabled"
    result = CheckResult()
    now = features_by_name(current)
    base = features_by_name(baseline)
    constrained = {item["name"]: item for item in constraints.get("features", [])}
    expected = list(constrained) or list(base)

    if evaluate:
        for name in expected:
            if name not in now:
                result.violations.append(
                    _violation(
                        name, "missing_column_check", f"Column {name} is in the baseline but not in the data."
                    )
                )
        for name in now:
            if name not in constrained and name not in base:
                result.violations.append(
                    _violation(
                        name, "extra_column_check", f"Column {name} is in the data but not in the baseline."
                    )
                )

    for name in expected:
        feature = now.get(name)
        if feature is None:
            continue
        constraint = constrained.get(name) or {
            "inferred_type": base.get(name, {}).get("inferred_type", UNKNOWN),
            "completeness": _completeness(base.get(name, {})),
        }
        kind = constraint.get("inferred_type", UNKNOWN)
        if evaluate:
            result.violations.extend(_constraint_checks(name, feature, constraint, kind, config))
        baseline_feature = base.get(name)
        if baseline_feature is None or kind == UNKNOWN or feature.get("inferred_type") == UNKNOWN:
            continue
        drift = feature_drift(baseline_feature, feature, drift_tests, method=method)
        if drift is None:
            continue
        result.drift[name] = drift
        if compare and drift["drifted"]:
            result.violations.append(
                _violation(
                    name,
                    "baseline_drift_check",
                    f"Baseline drift distance {drift['distance']:.4g} exceeds threshold "
                    f"{drift_tests['distance']['threshold']:.4g}"
                    if "distance" in drift["tests_failed"]
                    else f"Distribution drift: {', '.join(drift['tests_failed'])} failed "
                    f"(distance {drift['distance']:.4g})",
                )
            )
    return result


def _constraint_checks(name: str, feature: dict, constraint: dict, kind: str, config: dict) -> list[dict]:
    violations = []
    threshold = float(config.get("datatype_check_threshold", 1.0))
    if kind in (INTEGRAL, FRACTIONAL, STRING):
        ratio = _conforming_ratio(kind, feature)
        if ratio < threshold:
            violations.append(
                _violation(
                    name,
                    "data_type_check",
                    f"Data type match requirement is not met. Expected data type: {kind}, "
                    f"Expected match: {threshold:.0%}. Observed: Only {ratio:.2%} of data is {kind}.",
                )
            )
    wanted = constraint.get("completeness")
    if wanted is not None:
        observed = _completeness(feature)
        present_missing = sum(int(v) for v in _common(feature).values())
        # Sampling slack (3 binomial sd): a baseline 98 % complete should not alarm at 97.9 %;
        # a baseline that is 100 % complete alarms on the first missing value, as SageMaker does.
        slack = 3 * math.sqrt(wanted * (1 - wanted) / present_missing) if present_missing else 0.0
        if observed < float(wanted) - slack:
            violations.append(
                _violation(
                    name,
                    "completeness_check",
                    f"Data completeness requirement is not met. Expected: {float(wanted):.2%} "
                    f"complete. Observed: {observed:.2%}.",
                )
            )
    domains = (constraint.get("string_constraints") or {}).get("domains")
    if domains:
        ratio, outside = _domain_ratio({str(v) for v in domains}, feature)
        limit = float(config.get("domain_content_threshold", 1.0))
        if ratio < limit:
            shown = ", ".join(outside[:10]) + (" ..." if len(outside) > 10 else "")
            violations.append(
                _violation(
                    name,
                    "categorical_values_check",
                    f"Data content requirement is not met. Expected {limit:.0%} of values in the "
                    f"baseline domain. Observed: {ratio:.2%}; values outside it: {shown}.",
                )
            )
    return violations
