"""Model quality metrics in SageMaker's shapes, and their threshold checks.

Every metric is ``{"value", "standard_deviation"}``; the deviation comes from a small bootstrap
(fixed seed, ``BOOTSTRAP_ROUNDS`` resamples of at most ``BOOTSTRAP_ROWS`` rows, scaled back to
the full size) so a week of labels costs milliseconds, not minutes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from sklearn import metrics as sk

BOOTSTRAP_ROUNDS = 20
BOOTSTRAP_ROWS = 50_000
SEED = 0

BINARY, MULTICLASS, REGRESSION = "BinaryClassification", "MulticlassClassification", "Regression"
_PROBLEM_ALIASES = {
    "binaryclassification": BINARY,
    "binary_classification": BINARY,
    "binary": BINARY,
    "multiclassclassification": MULTICLASS,
    "multiclass_classification": MULTICLASS,
    "multiclass": MULTICLASS,
    "regression": REGRESSION,
}
OPERATORS = ("LessThanThreshold", "GreaterThanThreshold")


def normalize_problem_type(name: str) -> str:
    """``BinaryClassification``, ``MulticlassClassification`` or ``Regression`` (spellings vary)."""
    kind = _PROBLEM_ALIASES.get(name.replace(" ", "").replace("-", "_").lower())
    if kind is None:
        raise ValueError(f"unknown problem type {name!r}: use {BINARY}, {MULTICLASS} or {REGRESSION}")
    return kind


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _with_deviation(
    functions: dict[str, Callable[[np.ndarray], float]], size: int
) -> dict[str, dict[str, float | None]]:
    """Each metric on all rows, with a bootstrap standard deviation."""
    everything = np.arange(size)
    values = {name: fn(everything) for name, fn in functions.items()}
    rows = min(size, BOOTSTRAP_ROWS)
    rng = np.random.default_rng(SEED)
    samples: dict[str, list[float]] = {name: [] for name in functions}
    if size > 1:
        for _ in range(BOOTSTRAP_ROUNDS):
            index = rng.integers(0, size, rows)
            for name, fn in functions.items():
                try:
                    samples[name].append(fn(index))
                except ValueError:  # e.g. AUC on a resample with one class
                    continue
    # The sd of a mean-like metric shrinks with sqrt(rows): scale a smaller resample back.
    scale = math.sqrt(rows / size) if size else 1.0
    result = {}
    for name, value in values.items():
        finite = [v for v in samples[name] if v is not None and math.isfinite(v)]
        deviation = float(np.std(finite)) * scale if len(finite) > 1 else 0.0
        result[name] = {"value": _finite(value), "standard_deviation": _finite(deviation)}
    return result


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: list) -> dict:
    matrix = sk.confusion_matrix(y_true, y_pred, labels=labels)
    return {
        str(actual): {str(predicted): int(matrix[i, j]) for j, predicted in enumerate(labels)}
        for i, actual in enumerate(labels)
    }


def quality_metrics(problem_type: str, y_true, y_pred, y_score=None, *, positive_label=None) -> dict:
    """SageMaker's model quality metrics of ``y_pred`` (and ``y_score``, the positive class's
    probability, for AUC) against ``y_true``."""
    kind = normalize_problem_type(problem_type)
    truth = np.asarray(y_true)
    predicted = np.asarray(y_pred)
    if truth.shape[0] != predicted.shape[0]:
        raise ValueError("y_true and y_pred have different lengths")
    size = int(truth.shape[0])
    if not size:
        raise ValueError("no labelled predictions to measure")
    if kind == REGRESSION:
        t, p = truth.astype(np.float64), predicted.astype(np.float64)
        error = p - t

        def r2(i: np.ndarray) -> float:
            total = float(np.sum((t[i] - t[i].mean()) ** 2))
            return 1 - float(np.sum(error[i] ** 2)) / total if total else float("nan")

        return {
            "regression_metrics": _with_deviation(
                {
                    "mae": lambda i: float(np.mean(np.abs(error[i]))),
                    "mse": lambda i: float(np.mean(error[i] ** 2)),
                    "rmse": lambda i: float(np.sqrt(np.mean(error[i] ** 2))),
                    "r2": r2,
                },
                size,
            )
        }

    labels = sorted(set(truth.tolist()) | set(predicted.tolist()), key=str)
    if kind == MULTICLASS:
        functions = {
            "accuracy": lambda i: float(np.mean(truth[i] == predicted[i])),
            "weighted_precision": lambda i: float(
                sk.precision_score(truth[i], predicted[i], average="weighted", zero_division=0)
            ),
            "weighted_recall": lambda i: float(
                sk.recall_score(truth[i], predicted[i], average="weighted", zero_division=0)
            ),
            "weighted_f1": lambda i: float(
                sk.f1_score(truth[i], predicted[i], average="weighted", zero_division=0)
            ),
        }
        result = _with_deviation(functions, size)
        result["confusion_matrix"] = _confusion(truth, predicted, labels)
        return {"multiclass_classification_metrics": result}

    positive = positive_label if positive_label is not None else labels[-1]
    t = truth == positive
    p = predicted == positive

    def rates(i: np.ndarray) -> tuple[float, float, float, float]:
        ti, pi = t[i], p[i]
        tp = float(np.count_nonzero(ti & pi))
        fp = float(np.count_nonzero(~ti & pi))
        fn = float(np.count_nonzero(ti & ~pi))
        tn = float(np.count_nonzero(~ti & ~pi))
        return tp, fp, fn, tn

    def ratio(a: float, b: float) -> float:
        return a / b if b else 0.0

    def fbeta(beta: float) -> Callable[[np.ndarray], float]:
        def score(i: np.ndarray) -> float:
            tp, fp, fn, _ = rates(i)
            precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
            b2 = beta * beta
            return ratio((1 + b2) * precision * recall, b2 * precision + recall)

        return score

    functions = {
        "accuracy": lambda i: float(np.mean(t[i] == p[i])),
        "precision": lambda i: ratio(rates(i)[0], rates(i)[0] + rates(i)[1]),
        "recall": lambda i: ratio(rates(i)[0], rates(i)[0] + rates(i)[2]),
        "f0_5": fbeta(0.5),
        "f1": fbeta(1.0),
        "f2": fbeta(2.0),
        "true_positive_rate": lambda i: ratio(rates(i)[0], rates(i)[0] + rates(i)[2]),
        "true_negative_rate": lambda i: ratio(rates(i)[3], rates(i)[3] + rates(i)[1]),
        "false_positive_rate": lambda i: ratio(rates(i)[1], rates(i)[1] + rates(i)[3]),
        "false_negative_rate": lambda i: ratio(rates(i)[2], rates(i)[2] + rates(i)[0]),
    }
    if y_score is not None:
        scores = np.asarray(y_score, dtype=np.float64)
        if scores.shape[0] == size and np.isfinite(scores).all() and len(set(t.tolist())) == 2:
            functions["auc"] = lambda i: float(sk.roc_auc_score(t[i], scores[i]))
    result = _with_deviation(functions, size)
    result["confusion_matrix"] = _confusion(truth, predicted, labels)
    return {"binary_classification_metrics": result}


def _flatten_thresholds(thresholds: dict) -> dict[str, dict]:
    """``{"accuracy": {...}}`` or SageMaker's ``{"binary_classification_constraints": {...}}``."""
    flat: dict[str, dict] = {}
    for key, value in (thresholds or {}).items():
        if key.endswith("_constraints") and isinstance(value, dict):
            flat.update(value)
        elif isinstance(value, dict):
            flat[key] = value
    return flat


def check_quality(metrics: dict, thresholds: dict) -> list[dict]:
    """Violations of ``thresholds`` (``{"accuracy": {"threshold": 0.8, "comparison_operator":
    "LessThanThreshold"}}``: a violation when accuracy < 0.8)."""
    values: dict[str, float] = {}
    for group in metrics.values():
        if isinstance(group, dict):
            for name, metric in group.items():
                if isinstance(metric, dict) and metric.get("value") is not None:
                    values[name] = float(metric["value"])
    violations = []
    for name, rule in _flatten_thresholds(thresholds).items():
        if name not in values or "threshold" not in rule:
            continue
        value, limit = values[name], float(rule["threshold"])
        operator = rule.get("comparison_operator", "LessThanThreshold")
        if operator not in OPERATORS:
            raise ValueError(f"{name}: comparison_operator must be one of {', '.join(OPERATORS)}")
        broken = value < limit if operator == "LessThanThreshold" else value > limit
        if broken:
            word = "below" if operator == "LessThanThreshold" else "above"
            violations.append(
                {
                    "metric_name": name,
                    "constraint_check_type": f"{name}_check",
                    "description": f"Metric {name} with {value:.4g} is {word} the threshold {limit:.4g}.",
                }
            )
    return violations
