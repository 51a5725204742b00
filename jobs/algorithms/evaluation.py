"""``evaluation.json``: what a trained built-in measured on its test (else validation) channel.

Computed once, after training, with scikit-learn, from the predictions of the model as
``load_model`` reads it back (so the report describes the artefact that will be served)::

    {"problem": "binary_classification" | "multiclass_classification" | "regression"
                | "clustering" | "anomaly_detection" | "dimensionality_reduction",
     "channel": "test", "rows": 123, "algorithm": "xgboost",
     "metrics": {...},                     # see below
     "confusion_matrix": {"labels": [...], "matrix": [[...]]},               # classification
     "roc_curve": {"fpr": [...], "tpr": [...], "auc": x},                    # binary; multiclass:
                                                                             # micro-average
     "pr_curve": {"recall": [...], "precision": [...], "average_precision": x},  # binary
     "residuals": {"actual": [...], "predicted": [...], "residual": [...]},  # regression
     "feature_importances": {"features": ["f0", ...], "importances": [...]}}

Metrics: classification ``accuracy``, ``precision``, ``recall``, ``f1`` (macro averages for
multiclass), ``roc_auc`` (one-vs-rest for multiclass), ``log_loss``; regression ``rmse``, ``mae``,
``r2``, ``mse``; clustering ``msd``, ``ssd``, ``inertia``; anomaly detection ``mean_score`` and,
with labels, ``f1``, ``precision``, ``recall``, ``roc_auc``; dimensionality reduction
``explained_variance_ratio``, ``reconstruction_error``. Curves hold at most ``MAX_CURVE_POINTS``
points, residuals at most ``MAX_RESIDUALS`` (a seeded sample). Values that cannot be computed (AUC
with one class present) are ``null``: the file is strict JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from jobs.algorithms.metrics import BINARY, CLASSIFICATION, REGRESSION, positive_score, predicted_value

MAX_CURVE_POINTS = 500
MAX_RESIDUALS = 2000


def evaluation_report(model, dataset, outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """The report for ``dataset`` (a ``data.Dataset``) given ``model.predict``'s ``outputs``."""
    report: dict[str, Any] = {
        "problem": model.problem,
        "channel": dataset.channel,
        "rows": dataset.rows,
        "algorithm": model.algorithm,
    }
    if model.problem in CLASSIFICATION:
        report.update(classification_report(model.problem, dataset.labels, outputs, model.classes))
    elif model.problem == REGRESSION:
        report.update(regression_report(dataset.labels, predicted_value(outputs)))
    else:
        report.update(model.evaluate(dataset.features, dataset.labels, outputs))
    importances = model.feature_importances()
    if importances is not None:
        report["feature_importances"] = {
            "features": [f"f{index}" for index in range(len(importances))],
            "importances": [float(value) for value in importances],
        }
    return json_safe(report)


def classification_report(
    problem: str, labels: np.ndarray, outputs: dict[str, np.ndarray], classes: list
) -> dict[str, Any]:
    from sklearn import metrics as skm

    predicted = outputs["predicted_label"]
    known = [float(value) for value in classes]
    everything = sorted(set(known) | set(np.unique(labels).tolist()) | set(np.unique(predicted).tolist()))
    only_known = set(np.unique(labels).tolist()) <= set(known)
    values: dict[str, Any] = {"accuracy": skm.accuracy_score(labels, predicted)}
    report: dict[str, Any] = {"metrics": values}
    if problem == BINARY and only_known:
        positive = known[-1]
        truth = labels == positive
        score = positive_score(outputs)
        for name, function in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            values[name] = function(labels, predicted, pos_label=positive, average="binary", zero_division=0)
        both = 0 < truth.sum() < truth.size
        values["roc_auc"] = None
        values["log_loss"] = skm.log_loss(truth, np.clip(score, 1e-15, 1 - 1e-15), labels=[False, True])
        if both:
            # The AUC and the average precision come from the curves: the scores are sorted once each.
            fpr, tpr, _ = skm.roc_curve(truth, score, drop_intermediate=False)
            values["roc_auc"] = float(skm.auc(fpr, tpr))
            keep = thin(len(fpr))
            report["roc_curve"] = {"fpr": fpr[keep], "tpr": tpr[keep], "auc": values["roc_auc"]}
        if truth.any():
            precision, recall, _ = skm.precision_recall_curve(truth, score)
            keep = thin(len(precision))
            report["pr_curve"] = {
                "recall": recall[keep],
                "precision": precision[keep],
                # sklearn's average_precision_score: the step-wise integral of the curve.
                "average_precision": float(-np.sum(np.diff(recall) * precision[:-1])),
            }
    else:
        for name, function in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            values[name] = function(labels, predicted, average="macro", zero_division=0)
        probabilities = outputs.get("probabilities")
        values["roc_auc"] = None
        values["log_loss"] = None
        if probabilities is not None and only_known:
            clipped = np.clip(probabilities, 1e-15, 1.0)
            clipped = clipped / clipped.sum(axis=1, keepdims=True)  # float32 softmax: sums drift from 1
            values["log_loss"] = skm.log_loss(labels, clipped, labels=known)
            present = np.isin(known, labels)
            if present.all() and len(known) > 2:
                values["roc_auc"] = _safe(
                    lambda: skm.roc_auc_score(labels, probabilities, multi_class="ovr", labels=known)
                )
            if present.sum() >= 1:
                # Micro-average: every (row, class) pair is one binary decision.
                onehot = (labels[:, None] == np.asarray(known)[None, :]).ravel()
                if 0 < onehot.sum() < onehot.size:
                    fpr, tpr, _ = skm.roc_curve(onehot, probabilities.ravel())
                    keep = thin(len(fpr))
                    report["roc_curve"] = {
                        "fpr": fpr[keep],
                        "tpr": tpr[keep],
                        "auc": skm.auc(fpr, tpr),
                        "average": "micro",
                    }
    report["confusion_matrix"] = {
        "labels": [_plain(value) for value in everything],
        "matrix": _confusion_matrix(labels, predicted, everything),
    }
    return report


def _confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: list) -> np.ndarray:
    """Counts of (actual, predicted) pairs, in ``classes`` order (one bincount, no per-class pass)."""
    index = np.asarray(classes, dtype=float)
    actual = np.searchsorted(index, np.asarray(labels, dtype=float))
    guessed = np.searchsorted(index, np.asarray(predicted, dtype=float))
    size = len(index)
    return np.bincount(actual * size + guessed, minlength=size * size).reshape(size, size)


def regression_report(labels: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    from sklearn import metrics as skm

    mse = skm.mean_squared_error(labels, predicted)
    values = {
        "rmse": math.sqrt(mse),
        "mae": skm.mean_absolute_error(labels, predicted),
        "r2": skm.r2_score(labels, predicted) if labels.size > 1 else None,
        "mse": mse,
    }
    rows = np.arange(labels.size)
    if labels.size > MAX_RESIDUALS:
        rows = np.sort(np.random.default_rng(0).choice(labels.size, MAX_RESIDUALS, replace=False))
    return {
        "metrics": values,
        "residuals": {
            "actual": labels[rows],
            "predicted": predicted[rows],
            "residual": labels[rows] - predicted[rows],
        },
    }


def thin(count: int, limit: int = MAX_CURVE_POINTS) -> np.ndarray:
    """At most ``limit`` evenly spaced indices into ``count`` points, first and last kept."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))


def histogram(values: np.ndarray, bins: int = 30) -> dict[str, list]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"edges": [], "counts": []}
    counts, edges = np.histogram(finite, bins=bins)
    return {"edges": edges, "counts": counts}


def _safe(compute):
    try:
        return compute()
    except ValueError:
        return None


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def json_safe(value: Any) -> Any:
    """Plain JSON types: NumPy values converted, NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(json_safe(value), allow_nan=False))
