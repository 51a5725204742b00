"""Linear Learner: a linear model trained by mini-batch stochastic gradient descent (NumPy).

``predictor_type`` picks the loss: ``binary_classifier`` logistic (labels 0/1),
``multiclass_classifier`` softmax cross-entropy (labels 0 .. num_classes-1), ``regressor``
squared error. Each of ``epochs`` passes over the shuffled train rows takes steps of
``mini_batch_size`` rows with ``optimizer`` (adam or sgd) at ``learning_rate``; ``wd`` adds an L2
penalty to the gradient and ``l1`` soft-thresholds the weights after each step (proximal step).
``normalize_data`` standardises the features (and a regressor's label) with the train channel's
mean and standard deviation; the model keeps them, so predictions take raw features.

After each epoch the train and validation channels are scored (``objective_loss`` is the log loss
or, for a regressor, the mean squared error in the label's units). Early stopping watches the
validation ``objective_loss`` (the train one without a validation channel): when it has not
improved by ``early_stopping_tolerance`` (relative) for ``early_stopping_patience`` epochs, training
stops and the best epoch's weights are kept.

Model: ``model.npz`` (NumPy arrays, loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jobs.algorithms.common import (
    check_predictor_labels,
    class_outputs,
    predictor_problem,
    sigmoid,
    softmax,
    standardizer,
)
from jobs.algorithms.metrics import BINARY, MULTICLASS, REGRESSION, select_metrics, supervised_metrics

if TYPE_CHECKING:
    from jobs.algorithms.runtime import TrainingContext

MODEL_FILE = "model.npz"
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPSILON = 1e-8


class LinearModel:
    """Weights in the standardised feature space, plus the standardisation."""

    def __init__(self, arrays: dict[str, np.ndarray], problem: str, classes: list | None) -> None:
        self.mean = arrays["mean"]
        self.scale = arrays["scale"]
        self.weights = arrays["weights"]
        self.bias = arrays["bias"]
        self.label_mean = float(arrays["label_mean"])
        self.label_scale = float(arrays["label_scale"])
        self.feature_std = arrays["feature_std"]
        self.problem = problem
        self.classes = classes

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        logits = ((features - self.mean) / self.scale) @ self.weights + self.bias
        if self.problem == REGRESSION:
            return {"score": logits[:, 0] * self.label_scale + self.label_mean}
        if self.problem == BINARY:
            return class_outputs(BINARY, sigmoid(logits[:, 0]))
        return class_outputs(MULTICLASS, softmax(logits), self.classes)

    def feature_importances(self) -> np.ndarray:
        # |coefficient| on standardised features: comparable across features of any scale.
        return np.abs(self.weights).mean(axis=1) * self.feature_std / self.scale


def train(ctx: TrainingContext) -> None:
    hp = ctx.hyperparameters
    problem = predictor_problem(hp["predictor_type"])
    for dataset in check_predictor_labels(ctx, problem, hp["num_classes"]):
        dataset.require_complete("linear-learner")
    train_data = ctx.train_data
    validation = ctx.channel("validation")
    features, labels = train_data.features, train_data.labels
    rows, dim = features.shape
    mean, scale = standardizer(features, hp["normalize_data"])
    standardized = (features - mean) / scale
    label_mean, label_scale = 0.0, 1.0
    if problem == REGRESSION and hp["normalize_data"]:
        label_mean, label_scale = float(labels.mean()), float(labels.std()) or 1.0
    if problem == MULTICLASS:
        classes = list(range(hp["num_classes"]))
        targets = np.zeros((rows, hp["num_classes"]))
        targets[np.arange(rows), labels.astype(int)] = 1.0
    else:
        classes = [0, 1] if problem == BINARY else None
        targets = ((labels - label_mean) / label_scale).reshape(-1, 1)
    outputs = targets.shape[1]

    arrays = {
        "mean": mean,
        "scale": scale,
        "weights": np.zeros((dim, outputs)),
        "bias": np.zeros(outputs),
        "label_mean": np.array(label_mean),
        "label_scale": np.array(label_scale),
        "feature_std": features.std(axis=0),
    }
    if problem == BINARY:
        # Start from the base rate: the first epochs then learn the features, not the prior.
        rate = float(np.clip(labels.mean(), 1e-6, 1 - 1e-6))
        arrays["bias"][:] = np.log(rate / (1 - rate))
    model = LinearModel(arrays, problem, classes)
    optimizer = _Optimizer(hp["optimizer"], hp["learning_rate"], [model.weights, model.bias])
    rng = np.random.default_rng(hp["seed"])
    batch = min(hp["mini_batch_size"], rows)
    watched = "validation" if validation is not None else "train"
    best_loss, best, waited = np.inf, (model.weights.copy(), model.bias.copy()), 0
    for epoch in range(hp["epochs"]):
        order = rng.permutation(rows)
        for start in range(0, rows, batch):
            index = order[start : start + batch]
            inputs = standardized[index]
            logits = inputs @ model.weights + model.bias
            if problem == BINARY:
                error = sigmoid(logits) - targets[index]
            elif problem == MULTICLASS:
                error = softmax(logits) - targets[index]
            else:
                error = logits - targets[index]
            error /= len(index)
            gradient_w = inputs.T @ error + hp["wd"] * model.weights
            optimizer.step([gradient_w, error.sum(axis=0)])
            if hp["l1"] > 0:
                shrink = optimizer.learning_rate * hp["l1"]
                model.weights[:] = np.sign(model.weights) * np.maximum(np.abs(model.weights) - shrink, 0.0)
        values = {
            dataset.channel: select_metrics(
                "linear-learner",
                problem,
                supervised_metrics(problem, dataset.labels, model.predict(dataset.features), classes),
            )
            for dataset in (train_data, validation)
            if dataset is not None
        }
        ctx.log_metrics(epoch, values)
        loss = values[watched]["objective_loss"]
        if not np.isfinite(loss):
            ctx.log(f"The {watched} loss is not finite at epoch {epoch}; lower learning_rate. Stopping.")
            break
        if loss < best_loss - hp["early_stopping_tolerance"] * abs(
            best_loss if np.isfinite(best_loss) else 0
        ):
            best_loss, best, waited = loss, (model.weights.copy(), model.bias.copy()), 0
        else:
            waited += 1
            if waited >= hp["early_stopping_patience"]:
                ctx.log(f"Early stopping at epoch {epoch}: the {watched} objective_loss stopped improving.")
                break
    arrays["weights"], arrays["bias"] = best
    ctx.model_dir.mkdir(parents=True, exist_ok=True)
    np.savez(ctx.model_dir / MODEL_FILE, **arrays)
    ctx.save_model(problem=problem, feature_dim=dim, files=[MODEL_FILE], classes=classes)


def load(model_dir: Path, manifest: dict) -> LinearModel:
    with np.load(model_dir / MODEL_FILE, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    return LinearModel(arrays, manifest["problem"], manifest.get("classes"))


class _Optimizer:
    """Adam or plain SGD over a list of arrays, updated in place."""

    def __init__(self, kind: str, learning_rate: float, params: list[np.ndarray]) -> None:
        self.kind = kind
        self.learning_rate = learning_rate
        self.params = params
        self.moments = [np.zeros_like(param) for param in params]
        self.squares = [np.zeros_like(param) for param in params]
        self.steps = 0

    def step(self, gradients: list[np.ndarray]) -> None:
        self.steps += 1
        if self.kind == "sgd":
            for param, gradient in zip(self.params, gradients, strict=True):
                param -= self.learning_rate * gradient
            return
        beta1, beta2 = _ADAM_BETAS
        correction1 = 1 - beta1**self.steps
        correction2 = 1 - beta2**self.steps
        for param, gradient, moment, square in zip(
            self.params, gradients, self.moments, self.squares, strict=True
        ):
            moment *= beta1
            moment += (1 - beta1) * gradient
            square *= beta2
            square += (1 - beta2) * gradient * gradient
            param -= (
                self.learning_rate * (moment / correction1) / (np.sqrt(square / correction2) + _ADAM_EPSILON)
            )
