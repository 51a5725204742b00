"""Checks and small helpers the algorithm modules share."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from jobs.algorithms.data import Dataset
from jobs.algorithms.errors import ClientError
from jobs.algorithms.metrics import BINARY, MULTICLASS, REGRESSION

if TYPE_CHECKING:
    from jobs.algorithms.runtime import TrainingContext


def labelled_channels(ctx: TrainingContext) -> list[Dataset]:
    """train, then validation and test where the job has them."""
    return [ctx.train_data, *(ctx.channel(name) for name in ctx.evaluation_channels())]


def check_binary_labels(datasets: list[Dataset], why: str) -> None:
    for dataset in datasets:
        bad = (dataset.labels != 0) & (dataset.labels != 1)
        if bad.any():
            row = int(np.argmax(bad))
            label = _show(dataset.labels[row])
            raise ClientError(
                f"channel {dataset.channel!r}: {dataset.where(row)} has the label {label}; "
                f"{why} needs labels 0 or 1"
            )


def check_class_labels(datasets: list[Dataset], num_classes: int, name: str) -> None:
    """Labels must be the integers 0 .. num_classes - 1 (``name`` is the hyperparameter)."""
    for dataset in datasets:
        labels = dataset.labels
        bad = (labels != np.round(labels)) | (labels < 0)
        if bad.any():
            row = int(np.argmax(bad))
            raise ClientError(
                f"channel {dataset.channel!r}: {dataset.where(row)} has the label {_show(labels[row])}; "
                f"multiclass labels must be the integers 0 to {num_classes - 1}"
            )
        too_big = labels >= num_classes
        if too_big.any():
            row = int(np.argmax(too_big))
            raise ClientError(
                f"{name} is {num_classes} but channel {dataset.channel!r} has the label {_show(labels[row])} "
                f"({dataset.where(row)}); labels must be 0 to {num_classes - 1}, so raise {name}"
            )


def check_range(datasets: list[Dataset], low: float | None, high: float | None, why: str) -> None:
    for dataset in datasets:
        labels = dataset.labels
        bad = np.zeros(labels.shape, dtype=bool)
        if low is not None:
            bad |= labels < low
        if high is not None:
            bad |= labels > high
        if bad.any():
            row = int(np.argmax(bad))
            raise ClientError(
                f"channel {dataset.channel!r}: {dataset.where(row)} has the label {_show(labels[row])}; {why}"
            )


def require_complete_channels(ctx: TrainingContext, algorithm: str) -> None:
    """Refuse missing values in train and the evaluation channels (see ``Dataset.require_complete``)."""
    for name in ("train", *ctx.evaluation_channels()):
        ctx.channel(name).require_complete(algorithm)


def problem_classes(problem: str, num_classes: int | None) -> list[int] | None:
    """The class labels a classifier's manifest lists: 0/1 for binary, 0 .. n-1 for multiclass."""
    if problem == BINARY:
        return [0, 1]
    if problem == MULTICLASS:
        return list(range(num_classes or 0))
    return None


def predictor_problem(predictor_type: str) -> str:
    return {
        "binary_classifier": BINARY,
        "multiclass_classifier": MULTICLASS,
        "regressor": REGRESSION,
    }[predictor_type]


def check_predictor_labels(ctx: TrainingContext, problem: str, num_classes: int | None) -> list[Dataset]:
    """The label rules of linear-learner and mlp (``predictor_type``/``num_classes``)."""
    datasets = labelled_channels(ctx)
    if problem == BINARY:
        check_binary_labels(datasets, "predictor_type binary_classifier")
    elif problem == MULTICLASS:
        check_class_labels(datasets, num_classes, "num_classes")
    return datasets


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def standardizer(features: np.ndarray, enabled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale (std, 1 where a column is constant) of the train features."""
    if not enabled:
        return np.zeros(features.shape[1]), np.ones(features.shape[1])
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))


def problem_outputs(problem: str, raw: np.ndarray) -> dict[str, np.ndarray]:
    """A booster's predictions as response keys: the score for regression, else ``class_outputs``."""
    if problem == REGRESSION:
        return {"score": np.asarray(raw, dtype=np.float64)}
    return class_outputs(problem, raw)


def class_outputs(
    problem: str, probability: np.ndarray, classes: list | None = None
) -> dict[str, np.ndarray]:
    """SageMaker's response keys from probabilities: P(positive) for binary, rows x classes else."""
    if problem == BINARY:
        positive = np.asarray(probability, dtype=np.float64).ravel()
        return {"predicted_label": (positive >= 0.5).astype(np.float64), "score": positive}
    matrix = np.asarray(probability, dtype=np.float64)
    best = matrix.argmax(axis=1)
    labels = np.arange(matrix.shape[1], dtype=np.float64) if classes is None else np.asarray(classes, float)
    return {
        "predicted_label": labels[best],
        "score": matrix[np.arange(matrix.shape[0]), best],
        "probabilities": matrix,
    }
