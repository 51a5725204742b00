"""The built-in algorithms' catalogue: names, hyperparameter schemas, channels and metric names.

Django-free and cheap to import: the web process validates requests against it, the job process
(``python -m jobs.algorithms``) reads it to parse its hyperparameters. The training code of each
algorithm lives in its own module (``Algorithm.module``), imported only inside the job.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# SageMaker's regex for built-in metrics: `[12]#011train-rmse:0.2#011validation-rmse:0.25` (#011 is
# a tab, escaped). The value is captured as a number, as SageMaker's XGBoost container does: a
# line holds several metrics and `(\S+)` would swallow the rest of the line after the first.
METRIC_REGEX = r".*\[[0-9]+\].*#011{channel}-{metric}:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
EVALUATION_CHANNELS = ("test", "validation")


class UnknownAlgorithm(LookupError):
    pass


class HyperparameterError(ValueError):
    """Every problem with a request's hyperparameters: ``errors`` maps a name to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{key}: {' '.join(messages)}" for key, messages in errors.items()))


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    kind: str  # "int", "float", "bool", "str", "categorical"
    default: Any = None
    required: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    # Whether a tuning job may search over it (ints and floats with a range, categoricals).
    tunable: bool = True

    def parse(self, raw: Any) -> Any:
        """The typed value of ``raw`` (a string from hyperparameters.json, or a JSON value)."""
        text = raw if isinstance(raw, str) else json.dumps(raw)
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]  # framework estimators JSON-encode strings: "\"adam\""
        if self.kind == "int":
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"expected an integer, got {text!r}") from None
            if not value.is_integer():
                raise ValueError(f"expected an integer, got {text!r}")
            value = int(value)
        elif self.kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"expected a number, got {text!r}") from None
            if math.isnan(value) or math.isinf(value):
                raise ValueError(f"expected a finite number, got {text!r}")
        elif self.kind == "bool":
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(f"expected true or false, got {text!r}")
            value = lowered in ("true", "1")
        elif self.kind == "categorical":
            if text not in self.choices:
                raise ValueError(f"{text!r} is not one of {', '.join(self.choices)}")
            value = text
        else:
            value = text
        if self.kind in ("int", "float"):
            if self.min is not None and value < self.min:
                raise ValueError(f"{value} is below the minimum {self.min:g}")
            if self.max is not None and value > self.max:
                raise ValueError(f"{value} is above the maximum {self.max:g}")
        return value

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.kind,
            "default": self.default,
            "required": self.required,
            "min": self.min,
            "max": self.max,
            "choices": list(self.choices),
            "help": self.help,
            "tunable": self.tunable,
        }


@dataclass(frozen=True)
class Metric:
    name: str  # without the channel: "rmse", "accuracy"
    direction: str  # "Minimize" or "Maximize"


@dataclass(frozen=True)
class Algorithm:
    name: str
    title: str
    summary: str
    module: str  # the training code, run inside the job
    hyperparameters: tuple[Hyperparameter, ...]
    metrics: tuple[Metric, ...]
    default_objective: str  # e.g. "validation:rmse"
    required_channels: tuple[str, ...] = ("train",)
    optional_channels: tuple[str, ...] = ("validation", "test")
    supervised: bool = True
    uses_gpu: bool = False
    extra: dict = field(default_factory=dict)
    # Cross-field rules (``num_class`` for a ``multi:*`` objective, ...): given every typed value
    # (defaults filled in), returns ``{name: [message]}`` for what is wrong.
    check: Callable[[dict[str, Any]], dict[str, list[str]]] | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        return self.required_channels + self.optional_channels

    def hyperparameter(self, name: str) -> Hyperparameter | None:
        return next((hp for hp in self.hyperparameters if hp.name == name), None)

    def metric(self, name: str) -> Metric | None:
        return next((metric for metric in self.metrics if metric.name == name), None)

    def validate(self, values: dict[str, Any]) -> dict[str, str]:
        """Check ``values`` against the schema; returns them as SageMaker's strings.

        Unknown names, wrong types, values out of range, missing required ones and the
        algorithm's cross-field rules (``check``) are all reported at once
        (``HyperparameterError``). Defaults are not filled in: the job's
        hyperparameters.json carries what the user asked for, as on SageMaker.
        """
        errors: dict[str, list[str]] = {}
        clean: dict[str, str] = {}
        for name, raw in values.items():
            spec = self.hyperparameter(name)
            if spec is None:
                known = ", ".join(hp.name for hp in self.hyperparameters)
                errors.setdefault(name, []).append(f"{self.name} has no hyperparameter {name!r} ({known}).")
                continue
            try:
                value = spec.parse(raw)
            except ValueError as exc:
                errors.setdefault(name, []).append(str(exc) + ".")
                continue
            clean[name] = _as_string(value)
        for spec in self.hyperparameters:
            if spec.required and spec.name not in values:
                errors.setdefault(spec.name, []).append("This hyperparameter is required.")
        if self.check is not None:
            typed = {hp.name: hp.default for hp in self.hyperparameters}
            typed.update({name: self.hyperparameter(name).parse(text) for name, text in clean.items()})
            for name, messages in self.check(typed).items():
                # A field that is already wrong on its own says so; its cross-field echo would mislead.
                if name not in errors:
                    errors.setdefault(name, []).extend(messages)
        if errors:
            raise HyperparameterError(errors)
        return clean

    def parse(self, values: dict[str, str]) -> dict[str, Any]:
        """Typed values for the training code: the given ones, and the defaults of the rest."""
        parsed = {hp.name: hp.default for hp in self.hyperparameters}
        for name, raw in values.items():
            spec = self.hyperparameter(name)
            if spec is not None:
                parsed[name] = spec.parse(raw)
        return parsed

    def metric_definitions(self, channels: list[str] | tuple[str, ...]) -> list[dict]:
        """MetricDefinitions for the metrics this algorithm prints on the given channels."""
        return [
            {
                "name": f"{channel}:{metric.name}",
                "regex": METRIC_REGEX.format(channel=channel, metric=metric.name),
            }
            for channel in ("train", "validation", "test")
            if channel in channels
            for metric in self.metrics
        ]

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "summary": self.summary,
            "hyperparameters": [hp.as_dict() for hp in self.hyperparameters],
            "metrics": [{"name": m.name, "direction": m.direction} for m in self.metrics],
            "default_objective": self.default_objective,
            "required_channels": list(self.required_channels),
            "optional_channels": list(self.optional_channels),
            "supervised": self.supervised,
            "uses_gpu": self.uses_gpu,
        }


def _as_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _hp(name: str, kind: str, default: Any = None, **kwargs: Any) -> Hyperparameter:
    return Hyperparameter(name=name, kind=kind, default=default, **kwargs)


_MIN, _MAX = "Minimize", "Maximize"
_CLASSIFICATION_METRICS = (
    Metric("accuracy", _MAX),
    Metric("f1", _MAX),
    Metric("auc", _MAX),
    Metric("logloss", _MIN),
)
_REGRESSION_METRICS = (Metric("rmse", _MIN), Metric("mae", _MIN), Metric("r2", _MAX))
_FEATURE_DIM = _hp(
    "feature_dim",
    "int",
    None,
    min=1,
    help=(
        "Number of features; read from the data when unset (on SageMaker, from the first line of the "
        "train channel's first CSV file)."
    ),
    tunable=False,
)

XGBOOST_OBJECTIVES = (
    "reg:squarederror",
    "reg:absoluteerror",
    "reg:logistic",
    "binary:logistic",
    "binary:logitraw",
    "multi:softmax",
    "multi:softprob",
    "count:poisson",
)

# Which eval_metric values XGBoost accepts for each kind of objective.
_XGBOOST_EVAL_METRICS = {
    "regression": ("rmse", "mae"),
    "probability": ("rmse", "mae", "logloss", "error", "auc", "aucpr"),
    "multiclass": ("merror", "mlogloss", "auc"),
}


def _xgboost_objective_kind(objective: str) -> str:
    if objective.startswith("multi:"):
        return "multiclass"
    if objective.startswith("binary:") or objective == "reg:logistic":
        return "probability"
    return "regression"


def _check_xgboost(values: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    objective = values["objective"]
    kind = _xgboost_objective_kind(objective)
    if kind == "multiclass" and values["num_class"] is None:
        errors["num_class"] = [f"Required when objective is {objective} (the number of classes)."]
    metric = values["eval_metric"]
    if metric is not None and metric not in _XGBOOST_EVAL_METRICS[kind]:
        allowed = ", ".join(_XGBOOST_EVAL_METRICS[kind])
        errors["eval_metric"] = [f"{metric!r} does not fit objective {objective}; use one of {allowed}."]
    return errors


def _check_num_classes(values: dict[str, Any]) -> dict[str, list[str]]:
    if values["predictor_type"] == "multiclass_classifier" and values["num_classes"] is None:
        return {"num_classes": ["Required when predictor_type is multiclass_classifier."]}
    return {}


def _check_lightgbm(values: dict[str, Any]) -> dict[str, list[str]]:
    if values["objective"] == "multiclass" and values["num_class"] is None:
        return {"num_class": ["Required when objective is multiclass (the number of classes)."]}
    return {}


def _check_pca(values: dict[str, Any]) -> dict[str, list[str]]:
    feature_dim = values["feature_dim"]
    if feature_dim is not None and values["num_components"] > feature_dim:
        return {"num_components": [f"At most feature_dim ({feature_dim})."]}
    return {}


ALGORITHMS: dict[str, Algorithm] = {
    algorithm.name: algorithm
    for algorithm in (
        Algorithm(
            name="xgboost",
            title="XGBoost",
            summary="Gradient-boosted trees for classification and regression (SageMaker's XGBoost names).",
            module="jobs.algorithms.xgboost_algorithm",
            hyperparameters=(
                _hp("num_round", "int", None, required=True, min=1, max=100000, help="Boosting rounds."),
                _hp("eta", "float", 0.3, min=0, max=1, help="Step size shrinkage (learning rate)."),
                _hp("max_depth", "int", 6, min=0, max=64, help="Maximum tree depth."),
                _hp("min_child_weight", "float", 1.0, min=0, max=1e6),
                _hp("gamma", "float", 0.0, min=0, max=1e6, help="Minimum loss reduction to split."),
                _hp("subsample", "float", 1.0, min=0.01, max=1),
                _hp("colsample_bytree", "float", 1.0, min=0.01, max=1),
                _hp("colsample_bylevel", "float", 1.0, min=0.01, max=1),
                _hp("lambda", "float", 1.0, min=0, max=1e6, help="L2 regularisation."),
                _hp("alpha", "float", 0.0, min=0, max=1e6, help="L1 regularisation."),
                _hp("max_delta_step", "float", 0.0, min=0, max=1e6),
                _hp(
                    "scale_pos_weight",
                    "float",
                    1.0,
                    min=0,
                    max=1e6,
                    help="Weight of positive examples (binary objectives): about negatives / positives.",
                ),
                _hp("objective", "categorical", "reg:squarederror", choices=XGBOOST_OBJECTIVES),
                _hp("num_class", "int", None, min=2, max=10000, help="Required for multi:softmax/softprob."),
                _hp(
                    "eval_metric",
                    "categorical",
                    None,
                    choices=("rmse", "mae", "logloss", "error", "auc", "merror", "mlogloss", "aucpr"),
                    help="The metric early stopping watches; default follows the objective.",
                ),
                _hp("early_stopping_rounds", "int", None, min=1, max=10000, tunable=False),
                _hp("tree_method", "categorical", "auto", choices=("auto", "exact", "approx", "hist")),
                _hp("max_bin", "int", 256, min=2, max=65536),
                _hp("seed", "int", 0, tunable=False),
            ),
            metrics=(
                *_REGRESSION_METRICS,
                *_CLASSIFICATION_METRICS,
                Metric("aucpr", _MAX),
                Metric("error", _MIN),
                Metric("merror", _MIN),
                Metric("mlogloss", _MIN),
            ),
            default_objective="validation:rmse",
            check=_check_xgboost,
        ),
        Algorithm(
            name="linear-learner",
            title="Linear Learner",
            summary="Linear and logistic models trained by stochastic gradient descent.",
            module="jobs.algorithms.linear_learner",
            hyperparameters=(
                _hp(
                    "predictor_type",
                    "categorical",
                    None,
                    required=True,
                    choices=("binary_classifier", "multiclass_classifier", "regressor"),
                    tunable=False,
                ),
                _hp(
                    "num_classes", "int", None, min=3, max=1000000, help="Required for multiclass_classifier."
                ),
                _FEATURE_DIM,
                _hp("epochs", "int", 15, min=1, max=10000),
                _hp("mini_batch_size", "int", 1000, min=1, max=1000000),
                _hp("optimizer", "categorical", "adam", choices=("adam", "sgd")),
                _hp("learning_rate", "float", 0.01, min=1e-6, max=10),
                _hp("l1", "float", 0.0, min=0, max=1e6),
                _hp("wd", "float", 0.0001, min=0, max=1e6, help="Weight decay (L2)."),
                _hp("normalize_data", "bool", True),
                _hp("early_stopping_patience", "int", 3, min=1, max=1000),
                _hp("early_stopping_tolerance", "float", 0.001, min=0, max=1),
                _hp("seed", "int", 0, tunable=False),
            ),
            metrics=(
                Metric("objective_loss", _MIN),
                Metric("mse", _MIN),
                Metric("rmse", _MIN),
                Metric("absolute_loss", _MIN),
                Metric("binary_classification_accuracy", _MAX),
                Metric("binary_f_beta", _MAX),
                Metric("roc_auc_score", _MAX),
                Metric("multiclass_accuracy", _MAX),
            ),
            default_objective="validation:objective_loss",
            check=_check_num_classes,
        ),
        Algorithm(
            name="k-means",
            title="K-Means",
            summary="Clusters rows into k groups (mini-batch k-means).",
            module="jobs.algorithms.kmeans",
            hyperparameters=(
                _hp("k", "int", None, required=True, min=2, max=10000),
                _FEATURE_DIM,
                _hp("epochs", "int", 1, min=1, max=1000),
                _hp("mini_batch_size", "int", 5000, min=1, max=1000000),
                _hp("init_method", "categorical", "random", choices=("random", "kmeans++")),
                _hp("local_lloyd_max_iter", "int", 300, min=1, max=10000),
                _hp("seed", "int", 0, tunable=False),
            ),
            metrics=(Metric("msd", _MIN), Metric("ssd", _MIN)),
            default_objective="test:msd",
            optional_channels=("test",),
            supervised=False,
        ),
        Algorithm(
            name="pca",
            title="PCA",
            summary="Principal component analysis: projects rows onto their main directions.",
            module="jobs.algorithms.pca",
            hyperparameters=(
                _hp("num_components", "int", None, required=True, min=1, max=100000),
                _FEATURE_DIM,
                _hp("mini_batch_size", "int", 1000, min=1, max=1000000),
                _hp("algorithm_mode", "categorical", "regular", choices=("regular", "randomized")),
                _hp("subtract_mean", "bool", True),
                _hp("extra_components", "int", -1, min=-1, max=10000, tunable=False),
            ),
            metrics=(Metric("explained_variance_ratio", _MAX), Metric("reconstruction_error", _MIN)),
            default_objective="test:reconstruction_error",
            optional_channels=("test",),
            supervised=False,
            check=_check_pca,
        ),
        Algorithm(
            name="random-cut-forest",
            title="Random Cut Forest",
            summary=(
                "Anomaly scores from a forest of random partition trees (an Isolation Forest; "
                "higher = more anomalous)."
            ),
            module="jobs.algorithms.random_cut_forest",
            hyperparameters=(
                _FEATURE_DIM,
                _hp("num_trees", "int", 100, min=1, max=1000),
                _hp("num_samples_per_tree", "int", 256, min=1, max=2048),
                _hp("seed", "int", 0, tunable=False),
            ),
            metrics=(Metric("f1", _MAX),),
            default_objective="test:f1",
            optional_channels=("test",),
            supervised=False,
        ),
        Algorithm(
            name="knn",
            title="k-NN",
            summary="k-nearest-neighbours classification or regression.",
            module="jobs.algorithms.knn",
            hyperparameters=(
                _hp("k", "int", None, required=True, min=1, max=1024),
                _hp(
                    "predictor_type",
                    "categorical",
                    None,
                    required=True,
                    choices=("classifier", "regressor"),
                    tunable=False,
                ),
                _hp("sample_size", "int", None, required=True, min=1, max=100000000, tunable=False),
                _FEATURE_DIM,
                _hp("index_metric", "categorical", "L2", choices=("L2", "COSINE", "INNER_PRODUCT")),
                _hp("seed", "int", 0, tunable=False),
            ),
            metrics=(Metric("accuracy", _MAX), Metric("mse", _MIN)),
            default_objective="test:accuracy",
        ),
        Algorithm(
            name="lightgbm",
            title="LightGBM",
            summary="Gradient-boosted trees with LightGBM (SageMaker JumpStart's hyperparameter names).",
            module="jobs.algorithms.lightgbm_algorithm",
            hyperparameters=(
                _hp("num_boost_round", "int", 100, min=1, max=100000),
                _hp("learning_rate", "float", 0.1, min=1e-6, max=1),
                _hp("num_leaves", "int", 31, min=2, max=131072),
                _hp("max_depth", "int", -1, min=-1, max=64),
                _hp("min_data_in_leaf", "int", 20, min=0, max=1000000),
                _hp("feature_fraction", "float", 1.0, min=0.01, max=1),
                _hp("bagging_fraction", "float", 1.0, min=0.01, max=1),
                _hp("bagging_freq", "int", 0, min=0, max=1000),
                _hp("lambda_l1", "float", 0.0, min=0, max=1e6),
                _hp("lambda_l2", "float", 0.0, min=0, max=1e6),
                _hp(
                    "objective",
                    "categorical",
                    "regression",
                    choices=("regression", "regression_l1", "binary", "multiclass"),
                ),
                _hp("num_class", "int", None, min=2, max=10000, help="Required for multiclass."),
                _hp("early_stopping_rounds", "int", None, min=1, max=10000, tunable=False),
                _hp("seed", "int", 0, tunable=False),
            ),
            metrics=(*_REGRESSION_METRICS, *_CLASSIFICATION_METRICS),
            default_objective="validation:rmse",
            check=_check_lightgbm,
        ),
        Algorithm(
            name="mlp",
            title="Multilayer perceptron (PyTorch)",
            summary="A feed-forward neural network; trains on the GPU when the instance type has one.",
            module="jobs.algorithms.mlp",
            hyperparameters=(
                _hp(
                    "predictor_type",
                    "categorical",
                    None,
                    required=True,
                    choices=("binary_classifier", "multiclass_classifier", "regressor"),
                    tunable=False,
                ),
                _hp(
                    "num_classes", "int", None, min=3, max=100000, help="Required for multiclass_classifier."
                ),
                _hp("hidden_units", "int", 64, min=1, max=65536),
                _hp("num_layers", "int", 2, min=1, max=32),
                _hp("dropout", "float", 0.0, min=0, max=0.9),
                _hp("epochs", "int", 20, min=1, max=100000),
                _hp("mini_batch_size", "int", 256, min=1, max=1000000),
                _hp("learning_rate", "float", 0.001, min=1e-7, max=10),
                _hp("weight_decay", "float", 0.0, min=0, max=1),
                _hp("optimizer", "categorical", "adam", choices=("adam", "sgd", "adamw")),
                _hp("seed", "int", 0, tunable=False),
            ),
            metrics=(*_REGRESSION_METRICS, *_CLASSIFICATION_METRICS, Metric("loss", _MIN)),
            default_objective="validation:loss",
            uses_gpu=True,
            check=_check_num_classes,
        ),
    )
}


def algorithm_get(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise UnknownAlgorithm(
            f"Unknown algorithm {name!r}; the built-ins are {', '.join(sorted(ALGORITHMS))}."
        ) from None
