"""XGBoost, as SageMaker's built-in: ``num_round`` rounds of ``xgboost.train``.

The objective decides the problem: ``binary:*`` is binary classification (labels 0/1),
``multi:*`` multiclass (labels 0 .. num_class-1), the rest regression (``reg:logistic`` wants
labels in [0, 1], ``count:poisson`` labels >= 0).

Each round prints XGBoost's own evaluation of the train and validation channels, from ``evals``:
the objective's default metric (``rmse`` and, derived from it and the channel's label variance,
``r2``; ``logloss``; ``mlogloss``; ``mae`` for reg:absoluteerror) plus ``eval_metric`` when set,
which is also the metric ``early_stopping_rounds`` watches on the validation channel. That is what
a plain ``xgb.train(..., evals=[(dtrain, "train"), (dvalid, "validation")])`` computes, so the
built-in costs no more per round than calling XGBoost directly. The runtime adds one final line
with the other metrics (accuracy, error, f1, auc, mae, ...) from the saved model.

Model: ``xgboost-model.json`` (``Booster.save_model``, XGBoost's JSON format, no pickle), cut to
the best round when early stopping ended the training.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xgboost as xgb

from jobs.algorithms.common import (
    check_binary_labels,
    check_class_labels,
    check_range,
    labelled_channels,
    problem_classes,
    problem_outputs,
    sigmoid,
    softmax,
)
from jobs.algorithms.metrics import BINARY, MULTICLASS, REGRESSION

if TYPE_CHECKING:
    from jobs.algorithms.runtime import TrainingContext

MODEL_FILE = "xgboost-model.json"
# One metric per round (XGBoost's default for the objective): each costs a pass over every channel.
_PER_ROUND = {REGRESSION: ["rmse"], BINARY: ["logloss"], MULTICLASS: ["mlogloss"]}
_PASSED = (
    "eta",
    "max_depth",
    "min_child_weight",
    "gamma",
    "subsample",
    "colsample_bytree",
    "colsample_bylevel",
    "lambda",
    "alpha",
    "max_delta_step",
    "tree_method",
    "max_bin",
    "seed",
)


def problem_of(objective: str) -> str:
    if objective.startswith("multi:"):
        return MULTICLASS
    if objective.startswith("binary:"):
        return BINARY
    return REGRESSION


class _MetricsPrinter(xgb.callback.TrainingCallback):
    """Prints each round's ``evals`` results in SageMaker's ``[N]#011channel-metric:value`` form."""

    def __init__(self, ctx, problem: str, label_variance: dict[str, float]) -> None:
        super().__init__()
        self.ctx = ctx
        self.problem = problem
        self.label_variance = label_variance

    def after_iteration(self, model, epoch: int, evals_log) -> bool:
        values: dict[str, dict[str, float]] = {}
        for channel, metrics in evals_log.items():
            row = {}
            for name, history in metrics.items():
                value = history[-1]
                row[name] = float(value[0] if isinstance(value, tuple) else value)
            if "error" in row and self.problem == BINARY:
                row["accuracy"] = 1.0 - row["error"]
            if "merror" in row:
                row["accuracy"] = 1.0 - row["merror"]
            variance = self.label_variance.get(channel, 0.0)
            if "rmse" in row and self.problem == REGRESSION and variance > 0:
                row["r2"] = 1.0 - row["rmse"] ** 2 / variance
            values[channel] = row
        self.ctx.log_metrics(epoch, values)
        return False


def train(ctx: TrainingContext) -> None:
    hp = ctx.hyperparameters
    objective = hp["objective"]
    problem = problem_of(objective)
    datasets = labelled_channels(ctx)
    if problem == BINARY:
        check_binary_labels(datasets, f"objective {objective}")
    elif problem == MULTICLASS:
        check_class_labels(datasets, hp["num_class"], "num_class")
    elif objective == "reg:logistic":
        check_range(datasets, 0.0, 1.0, "objective reg:logistic needs labels between 0 and 1")
    elif objective == "count:poisson":
        check_range(datasets, 0.0, None, "objective count:poisson needs labels of 0 or more")

    params = {name: hp[name] for name in _PASSED}
    params.update(objective=objective, nthread=ctx.num_cpus, verbosity=1)
    if problem == MULTICLASS:
        params["num_class"] = hp["num_class"]
    if problem == BINARY and hp["scale_pos_weight"] != 1.0:
        params["scale_pos_weight"] = hp["scale_pos_weight"]
    metrics = list(_PER_ROUND[problem])
    if objective == "reg:absoluteerror":
        metrics = ["mae"]
    elif objective == "binary:logitraw":
        metrics = ["auc"]  # raw margins are not probabilities; a ranking metric still holds
    if hp["eval_metric"] is not None:
        # The last metric is the one early stopping watches.
        metrics = [name for name in metrics if name != hp["eval_metric"]] + [hp["eval_metric"]]
    params["eval_metric"] = metrics

    train_data = ctx.train_data
    dtrain = xgb.DMatrix(train_data.features, label=train_data.labels, nthread=ctx.num_cpus)
    evals = [(dtrain, "train")]
    variance = {"train": float(np.var(train_data.labels))}
    validation = ctx.channel("validation")
    if validation is not None:
        dvalid = xgb.DMatrix(validation.features, label=validation.labels, nthread=ctx.num_cpus)
        evals.append((dvalid, "validation"))
        variance["validation"] = float(np.var(validation.labels))
    early_stopping = hp["early_stopping_rounds"]
    if early_stopping is not None and validation is None:
        ctx.log("early_stopping_rounds needs a validation channel; training all num_round rounds.")
        early_stopping = None

    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=hp["num_round"],
        evals=evals,
        early_stopping_rounds=early_stopping,
        verbose_eval=False,
        callbacks=[_MetricsPrinter(ctx, problem, variance)],
    )
    rounds = booster.num_boosted_rounds()
    best = rounds - 1
    if early_stopping is not None:
        best = int(booster.best_iteration)
        if best + 1 < rounds:
            ctx.log(f"Early stopping: keeping rounds 0-{best} of {rounds}.")
            booster = booster[: best + 1]
    ctx.model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(ctx.model_dir / MODEL_FILE)
    ctx.save_model(
        problem=problem,
        feature_dim=train_data.feature_dim,
        files=[MODEL_FILE],
        classes=problem_classes(problem, hp.get("num_class")),
        objective=objective,
        best_iteration=best,
        rounds=best + 1,
    )


class XGBoostPredictor:
    accepts_missing = True  # trees learn a default direction for missing values

    def __init__(self, booster: xgb.Booster, manifest: dict) -> None:
        self.booster = booster
        self.manifest = manifest
        self.problem = manifest["problem"]

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        objective = self.manifest.get("objective")
        if objective == "multi:softmax":
            # softmax predicts the class alone; the probabilities come from the margins.
            raw = softmax(np.asarray(self.booster.inplace_predict(features, predict_type="margin"), float))
        else:
            raw = self.booster.inplace_predict(features)
            if objective == "binary:logitraw":
                raw = sigmoid(np.asarray(raw, dtype=np.float64))
        return problem_outputs(self.problem, raw)

    def feature_importances(self) -> np.ndarray:
        gains = self.booster.get_score(importance_type="gain")
        names = self.booster.feature_names or [f"f{index}" for index in range(self.manifest["feature_dim"])]
        return np.array([gains.get(name, 0.0) for name in names], dtype=np.float64)


def load(model_dir: Path, manifest: dict) -> XGBoostPredictor:
    booster = xgb.Booster()
    booster.load_model(model_dir / MODEL_FILE)
    return XGBoostPredictor(booster, manifest)
