"""LightGBM, with SageMaker JumpStart's hyperparameter names: ``num_boost_round`` rounds of ``lgb.train``.

``objective`` ``regression``/``regression_l1`` is regression, ``binary`` wants labels 0/1,
``multiclass`` labels 0 .. num_class-1. Each round prints LightGBM's own evaluation of the train
and validation channels (no extra pass over the data): regression ``rmse``, ``mae`` and ``r2`` (from
the rmse and the channel's label variance); classification ``logloss`` and ``accuracy``. The
runtime adds one final line with the rest (auc, f1) from the saved model. ``early_stopping_rounds``
watches the first of those metrics (rmse or logloss) on the validation channel and keeps the best
round.

Model: ``model.txt`` (LightGBM's text format, no pickle).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np

from jobs.algorithms.common import (
    check_binary_labels,
    check_class_labels,
    labelled_channels,
    problem_classes,
    problem_outputs,
)
from jobs.algorithms.metrics import BINARY, MULTICLASS, REGRESSION

if TYPE_CHECKING:
    from jobs.algorithms.runtime import TrainingContext

MODEL_FILE = "model.txt"
_METRICS = {
    REGRESSION: ["rmse", "l1"],
    BINARY: ["binary_logloss", "binary_error"],
    MULTICLASS: ["multi_logloss", "multi_error"],
}
_NAMES = {"l1": "mae", "binary_logloss": "logloss", "multi_logloss": "logloss"}
_PASSED = (
    "learning_rate",
    "num_leaves",
    "max_depth",
    "min_data_in_leaf",
    "feature_fraction",
    "bagging_fraction",
    "bagging_freq",
    "lambda_l1",
    "lambda_l2",
    "seed",
)


def problem_of(objective: str) -> str:
    return {"binary": BINARY, "multiclass": MULTICLASS}.get(objective, REGRESSION)


def _printer(ctx, label_variance: dict[str, float]):
    def callback(env: lgb.callback.CallbackEnv) -> None:
        values: dict[str, dict[str, float]] = {}
        for channel, name, value, _higher_better in env.evaluation_result_list:
            row = values.setdefault(channel, {})
            if name in ("binary_error", "multi_error"):
                row["accuracy"] = 1.0 - value
            else:
                row[_NAMES.get(name, name)] = float(value)
            variance = label_variance.get(channel, 0.0)
            if name == "rmse" and variance > 0:
                row["r2"] = 1.0 - value**2 / variance
        ctx.log_metrics(env.iteration, values)

    callback.order = 10  # before early stopping (30), which ends training by raising
    return callback


def train(ctx: TrainingContext) -> None:
    hp = ctx.hyperparameters
    problem = problem_of(hp["objective"])
    datasets = labelled_channels(ctx)
    if problem == BINARY:
        check_binary_labels(datasets, "objective binary")
    elif problem == MULTICLASS:
        check_class_labels(datasets, hp["num_class"], "num_class")
    params = {name: hp[name] for name in _PASSED}
    params.update(
        objective=hp["objective"],
        metric=_METRICS[problem],
        num_threads=ctx.num_cpus,
        verbosity=-1,
        deterministic=True,
        force_row_wise=True,
    )
    if problem == MULTICLASS:
        params["num_class"] = hp["num_class"]
    train_data = ctx.train_data
    dtrain = lgb.Dataset(train_data.features, label=train_data.labels, free_raw_data=False)
    sets, names = [dtrain], ["train"]
    variance = {"train": float(np.var(train_data.labels))}
    validation = ctx.channel("validation")
    if validation is not None:
        sets.append(lgb.Dataset(validation.features, label=validation.labels, reference=dtrain))
        names.append("validation")
        variance["validation"] = float(np.var(validation.labels))
    callbacks = [_printer(ctx, variance)]
    early_stopping = hp["early_stopping_rounds"]
    if early_stopping is not None:
        if validation is None:
            ctx.log("early_stopping_rounds needs a validation channel; training all num_boost_round rounds.")
        else:
            callbacks.append(lgb.early_stopping(early_stopping, first_metric_only=True, verbose=False))
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=hp["num_boost_round"],
        valid_sets=sets,
        valid_names=names,
        callbacks=callbacks,
    )
    best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
    if best < booster.current_iteration():
        ctx.log(f"Early stopping: keeping {best} of {booster.current_iteration()} rounds.")
    ctx.model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(ctx.model_dir / MODEL_FILE, num_iteration=best)
    ctx.save_model(
        problem=problem,
        feature_dim=train_data.feature_dim,
        files=[MODEL_FILE],
        classes=problem_classes(problem, hp.get("num_class")),
        objective=hp["objective"],
        rounds=best,
    )


class LightGBMPredictor:
    accepts_missing = True  # trees learn a default direction for missing values

    def __init__(self, booster: lgb.Booster, problem: str) -> None:
        self.booster = booster
        self.problem = problem

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        return problem_outputs(self.problem, np.asarray(self.booster.predict(features), dtype=np.float64))

    def feature_importances(self) -> np.ndarray:
        return np.asarray(self.booster.feature_importance(importance_type="gain"), dtype=np.float64)


def load(model_dir: Path, manifest: dict) -> LightGBMPredictor:
    return LightGBMPredictor(lgb.Booster(model_file=str(model_dir / MODEL_FILE)), manifest["problem"])
