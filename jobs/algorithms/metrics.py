"""Cheap metrics for the ``[N]#011channel-metric:value`` lines, and the lines themselves.

NumPy only: these run after every epoch of the iterative algorithms, so they must cost a few
passes over the predictions, not a scikit-learn import or a per-row loop. The fuller report
(``evaluation.json``) uses scikit-learn once, in ``jobs.algorithms.evaluation``.

``standard_metrics`` computes one vocabulary (accuracy, f1, auc, logloss, rmse, ...) and
``LINE_METRICS`` maps each algorithm's registry names onto it, per problem.
"""

from __future__ import annotations

import math
import sys

import numpy as np

BINARY, MULTICLASS, REGRESSION = "binary_classification", "multiclass_classification", "regression"
CLUSTERING, ANOMALY, REDUCTION = "clustering", "anomaly_detection", "dimensionality_reduction"
CLASSIFICATION = (BINARY, MULTICLASS)
_EPS = 1e-15

# algorithm -> problem -> {registry metric name: standard name}
_CLASSIFIER = {"accuracy": "accuracy", "f1": "f1", "auc": "auc", "logloss": "logloss"}
_REGRESSOR = {"rmse": "rmse", "mae": "mae", "r2": "r2"}
LINE_METRICS: dict[str, dict[str, dict[str, str]]] = {
    "xgboost": {
        REGRESSION: _REGRESSOR,
        BINARY: {**_CLASSIFIER, "aucpr": "aucpr", "error": "error"},
        MULTICLASS: {"accuracy": "accuracy", "f1": "f1", "merror": "error", "mlogloss": "logloss"},
    },
    "linear-learner": {
        REGRESSION: {"objective_loss": "mse", "mse": "mse", "rmse": "rmse", "absolute_loss": "mae"},
        BINARY: {
            "objective_loss": "logloss",
            "binary_classification_accuracy": "accuracy",
            "binary_f_beta": "f1",
            "roc_auc_score": "auc",
        },
        MULTICLASS: {"objective_loss": "logloss", "multiclass_accuracy": "accuracy"},
    },
    "lightgbm": {
        REGRESSION: _REGRESSOR,
        BINARY: _CLASSIFIER,
        MULTICLASS: {"accuracy": "accuracy", "f1": "f1", "logloss": "logloss"},
    },
    "mlp": {
        REGRESSION: {"loss": "mse", **_REGRESSOR},
        BINARY: {"loss": "logloss", **_CLASSIFIER},
        MULTICLASS: {"loss": "logloss", "accuracy": "accuracy", "f1": "f1", "logloss": "logloss"},
    },
    "knn": {
        REGRESSION: {"mse": "mse"},
        BINARY: {"accuracy": "accuracy"},
        MULTICLASS: {"accuracy": "accuracy"},
    },
}


def select_metrics(algorithm: str, problem: str, standard: dict[str, float]) -> dict[str, float]:
    """The algorithm's names for the standard values it reports on this problem."""
    names = LINE_METRICS.get(algorithm, {}).get(problem, {})
    return {name: standard[key] for name, key in names.items() if key in standard}


def supervised_metrics(
    problem: str, labels: np.ndarray, outputs: dict[str, np.ndarray], classes: list | None
) -> dict[str, float]:
    """Every standard metric that fits ``problem``, from a model's prediction ``outputs``."""
    if problem == REGRESSION:
        return regression_metrics(labels, predicted_value(outputs))
    if problem == BINARY:
        return binary_metrics(labels, outputs["predicted_label"], positive_score(outputs), classes[-1])
    return multiclass_metrics(labels, outputs["predicted_label"], outputs["probabilities"], classes)


def predicted_value(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """A regressor's prediction: ``score`` (k-NN calls it ``predicted_label``, as SageMaker's does)."""
    return outputs["score"] if "score" in outputs else outputs["predicted_label"]


def positive_score(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """The probability of the positive class (the last of ``classes``)."""
    if "score" in outputs:
        return outputs["score"]
    return outputs["probabilities"][:, -1]


def regression_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    residual = labels - predicted
    mse = float(np.mean(residual * residual))
    variance = float(np.var(labels))
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(residual))),
        "r2": 1.0 - mse / variance if variance > 0 else math.nan,
    }


def binary_metrics(
    labels: np.ndarray, predicted: np.ndarray, score: np.ndarray, positive: float = 1.0
) -> dict[str, float]:
    truth = labels == positive
    guess = predicted == positive
    accuracy = float(np.mean(predicted == labels))
    true_positive = float(np.sum(truth & guess))
    precision = true_positive / guess.sum() if guess.any() else 0.0
    recall = true_positive / truth.sum() if truth.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    p = np.clip(score, _EPS, 1 - _EPS)
    logloss = float(-np.mean(np.where(truth, np.log(p), np.log1p(-p))))
    return {
        "accuracy": accuracy,
        "error": 1.0 - accuracy,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "auc": roc_auc(truth, score),
        "aucpr": average_precision(truth, score),
        "logloss": logloss,
    }


def multiclass_metrics(
    labels: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray, classes: list
) -> dict[str, float]:
    known = np.asarray(classes, dtype=np.float64)
    index = class_index(labels, known)
    guess = class_index(predicted, known)
    accuracy = float(np.mean(predicted == labels))
    count = len(known)
    seen = index >= 0
    confusion = np.bincount(index[seen] * count + np.maximum(guess[seen], 0), minlength=count * count)
    confusion = confusion.reshape(count, count).astype(np.float64)
    true_positive = np.diag(confusion)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    present = denominator > 0  # macro average over the classes that occur (as scikit-learn does)
    f1 = float(np.mean(2 * true_positive[present] / denominator[present])) if present.any() else 0.0
    if seen.any():
        picked = probabilities[np.nonzero(seen)[0], index[seen]]
        logloss = float(-np.mean(np.log(np.clip(picked, _EPS, 1.0))))
    else:
        logloss = math.nan
    return {"accuracy": accuracy, "error": 1.0 - accuracy, "f1": f1, "logloss": logloss}


def class_index(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Position of each value in the sorted ``classes``; -1 for values that are not a class."""
    position = np.clip(np.searchsorted(classes, values), 0, len(classes) - 1)
    return np.where(classes[position] == values, position, -1)


def roc_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); NaN with a single class."""
    positives = int(truth.sum())
    negatives = truth.size - positives
    if positives == 0 or negatives == 0:
        return math.nan
    order = np.argsort(score, kind="mergesort")
    ranked = score[order]
    ranks = np.empty(score.size, dtype=np.float64)
    # Average rank of each run of equal scores.
    boundaries = np.flatnonzero(np.diff(ranked)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [score.size]))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    rank_sum = ranks[truth].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def average_precision(truth: np.ndarray, score: np.ndarray) -> float:
    positives = int(truth.sum())
    if positives == 0:
        return math.nan
    order = np.argsort(-score, kind="mergesort")
    hits = truth[order]
    precision_at = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(precision_at[hits].sum() / positives)


def format_value(value: float) -> str:
    if value != 0 and not 1e-3 <= abs(value) < 1e7:
        return f"{value:.6g}"
    return f"{value:.5f}"


def metrics_line(iteration: int, values: dict[str, dict[str, float]]) -> str | None:
    """``[3]#011train-rmse:0.25310#011validation-rmse:0.29133`` (SageMaker XGBoost's log format).

    ``values`` maps a channel to its metrics; non-finite values are left out (a metric parser
    would read "nan" as a number). None when nothing is left to print.
    """
    entries = [
        f"{channel}-{name}:{format_value(float(value))}"
        for channel, metrics in values.items()
        for name, value in metrics.items()
        if value is not None and math.isfinite(float(value))
    ]
    if not entries:
        return None
    return f"[{iteration}]#011" + "#011".join(entries)


def print_metrics(iteration: int, values: dict[str, dict[str, float]]) -> None:
    line = metrics_line(iteration, values)
    if line is not None:
        print(line, file=sys.stdout, flush=True)
