"""Loading a trained built-in model and predicting with it (Django-free; used by serving).

    from jobs.algorithms.inference import load_model

    model = load_model("/path/to/model")            # the unpacked model.tar.gz
    outputs = model.predict(numpy_2d_float_array)   # rows x model.feature_dim, no label column

``outputs`` maps SageMaker's response keys to NumPy arrays, one entry per row:

=========================================  =====================================================
algorithm / problem                        keys
=========================================  =====================================================
xgboost, lightgbm, linear-learner, mlp:    ``predicted_label`` (a class of ``model.classes``),
classification                             ``score`` (binary: probability of the positive class,
                                           the last of ``classes``; multiclass: probability of the
                                           predicted class), and for multiclass
                                           ``probabilities`` (rows x classes)
the same, regression                       ``score`` (the predicted value)
knn                                        ``predicted_label`` (class, or the neighbours' mean for a
                                           regressor); a classifier adds ``probabilities`` (the
                                           neighbours' votes per class)
k-means                                    ``closest_cluster``, ``distance_to_cluster``
pca                                        ``projection`` (rows x num_components)
random-cut-forest                          ``score`` (higher = more anomalous)
=========================================  =====================================================

Nothing here unpickles: ``algorithm.json`` names the algorithm and its files, and each algorithm
module's ``load(model_dir, manifest)`` reads its own safe format (XGBoost JSON, LightGBM text,
``.npz`` with ``allow_pickle=False``, skops with an explicit trusted list, a PyTorch state_dict
with ``weights_only=True``).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from jobs.algorithms.registry import UnknownAlgorithm, algorithm_get
from jobs.algorithms.runtime import FORMAT_VERSION, MANIFEST

SUPPORTED_FORMAT_VERSIONS = (FORMAT_VERSION,)


class ModelError(ValueError):
    """The model folder is not a built-in model this code can load."""


class Predictor(Protocol):
    """What an algorithm module's ``load`` returns."""

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]: ...


# Optional members of a predictor: ``accepts_missing`` (NaN features allowed: the tree models),
# ``metrics_sample``, ``feature_importances()``, ``metrics(features, labels, outputs)`` and
# ``evaluate(features, labels, outputs)`` (the unsupervised algorithms' own measures).


class LoadedModel:
    """A trained built-in algorithm, ready to predict."""

    def __init__(self, manifest: dict, predictor: Predictor, model_dir: Path) -> None:
        self.manifest = manifest
        self.model_dir = model_dir
        self._predictor = predictor

    @property
    def algorithm(self) -> str:
        return self.manifest["algorithm"]

    @property
    def problem(self) -> str:
        """binary_classification, multiclass_classification, regression, clustering, ..."""
        return self.manifest["problem"]

    @property
    def feature_dim(self) -> int:
        return int(self.manifest["feature_dim"])

    @property
    def classes(self) -> list | None:
        """The class labels of a classifier, sorted (``predicted_label`` takes these values)."""
        return self.manifest.get("classes")

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return self.manifest.get("hyperparameters", {})

    @property
    def metrics_sample(self) -> int | None:
        """At most this many train rows for the final train metrics (k-NN), or None for all."""
        return getattr(self._predictor, "metrics_sample", None)

    def predict(self, features: Any) -> dict[str, np.ndarray]:
        """Predict for ``features`` (rows x feature_dim numbers; a single row may be 1-D)."""
        matrix = np.asarray(features, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2:
            raise ValueError(f"expected a 2-D array of rows x {self.feature_dim} features")
        if matrix.shape[1] != self.feature_dim:
            raise ValueError(
                f"expected {self.feature_dim} features per row, got {matrix.shape[1]} "
                "(send the features only, without the label column)"
            )
        if not getattr(self._predictor, "accepts_missing", False):
            missing = np.isnan(matrix)
            if missing.any():
                row, column = (int(index[0]) for index in np.nonzero(missing))
                raise ValueError(
                    f"row {row + 1} has no value in feature {column + 1}; {self.algorithm} needs a number "
                    "in every cell"
                )
        return self._predictor.predict(matrix)

    def feature_importances(self) -> np.ndarray | None:
        """One non-negative number per feature where the model has them (trees' gain, |coef|)."""
        method = getattr(self._predictor, "feature_importances", None)
        return None if method is None else method()

    def metrics(
        self, features: np.ndarray, labels: np.ndarray | None, outputs: dict[str, np.ndarray] | None = None
    ) -> dict[str, float]:
        """The algorithm's own metrics (registry names) on these rows, as its log lines report them."""
        from jobs.algorithms.metrics import CLASSIFICATION, REGRESSION, select_metrics, supervised_metrics

        outputs = self.predict(features) if outputs is None else outputs
        method = getattr(self._predictor, "metrics", None)
        if method is not None:
            return method(features, labels, outputs)
        if labels is None or self.problem not in (*CLASSIFICATION, REGRESSION):
            return {}
        standard = supervised_metrics(self.problem, labels, outputs, self.classes)
        return select_metrics(self.algorithm, self.problem, standard)

    def evaluate(
        self, features: np.ndarray, labels: np.ndarray | None, outputs: dict[str, np.ndarray]
    ) -> dict[str, Any]:
        """The unsupervised part of ``evaluation.json``: ``metrics`` and the algorithm's extras."""
        method = getattr(self._predictor, "evaluate", None)
        if method is None:
            return {"metrics": self.metrics(features, labels, outputs)}
        return method(features, labels, outputs)


def load_model(model_dir: str | Path) -> LoadedModel:
    """Load the model a built-in algorithm wrote to ``model_dir`` (``SM_MODEL_DIR``)."""
    model_dir = Path(model_dir)
    path = model_dir / MANIFEST
    if not path.exists():
        raise ModelError(f"{model_dir} has no {MANIFEST}: not a built-in algorithm's model")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path} is not valid JSON ({exc})") from None
    if manifest.get("format_version") not in SUPPORTED_FORMAT_VERSIONS:
        raise ModelError(f"{path}: unsupported format_version {manifest.get('format_version')!r}")
    try:
        algorithm = algorithm_get(manifest.get("algorithm", ""))
    except UnknownAlgorithm as exc:
        raise ModelError(str(exc)) from None
    for name in manifest.get("files", []):
        if not (model_dir / name).is_file():
            raise ModelError(f"{model_dir} is missing {name}, listed in {MANIFEST}")
    module = importlib.import_module(algorithm.module)
    return LoadedModel(manifest, module.load(model_dir, manifest), model_dir)
