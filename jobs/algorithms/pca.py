"""PCA, as SageMaker's built-in: the top ``num_components`` principal directions of the train rows.

``algorithm_mode`` ``regular`` takes an exact SVD; ``randomized`` scikit-learn's randomized SVD
(``extra_components`` extra directions sharpen it; -1 means SageMaker's default of
max(10, num_components)). ``subtract_mean`` centres the rows first (the mean is kept and
subtracted at prediction time). ``mini_batch_size`` is accepted for compatibility: the data is
read whole.

Metrics (train, and test when given): ``explained_variance_ratio`` (the share of the channel's
variance the components keep) and ``reconstruction_error`` (mean squared distance between a row
and its projection mapped back). A label column (``label_size=1``) is read and ignored.

Model: ``model.npz`` with ``mean``, ``components`` (num_components x feature_dim),
``singular_values`` and ``explained_variance_ratio``, loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jobs.algorithms.common import require_complete_channels
from jobs.algorithms.errors import ClientError
from jobs.algorithms.metrics import REDUCTION

if TYPE_CHECKING:
    from jobs.algorithms.runtime import TrainingContext

MODEL_FILE = "model.npz"


class PCAModel:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean = arrays["mean"]
        self.components = arrays["components"]
        self.singular_values = arrays["singular_values"]
        self.explained_variance_ratio = arrays["explained_variance_ratio"]

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        return {"projection": (features - self.mean) @ self.components.T}

    def metrics(self, features, labels, outputs) -> dict[str, float]:
        centred = features - self.mean
        residual = centred - outputs["projection"] @ self.components
        error = float((residual * residual).sum(axis=1).mean())
        total = float((centred * centred).sum(axis=1).mean())
        ratio = 1.0 - error / total if total > 0 else 1.0
        return {"explained_variance_ratio": ratio, "reconstruction_error": error}

    def evaluate(self, features, labels, outputs) -> dict:
        return {
            "metrics": self.metrics(features, labels, outputs),
            "components": {
                "explained_variance_ratio": self.explained_variance_ratio,
                "singular_values": self.singular_values,
            },
        }


def train(ctx: TrainingContext) -> None:
    hp = ctx.hyperparameters
    data = ctx.train_data
    require_complete_channels(ctx, "pca")
    features = data.features
    count = hp["num_components"]
    if count > min(data.rows, data.feature_dim):
        raise ClientError(
            f"num_components is {count} but channel 'train' has {data.rows} rows and {data.feature_dim} "
            "features; it can be at most the smaller of the two"
        )
    mean = features.mean(axis=0) if hp["subtract_mean"] else np.zeros(data.feature_dim)
    centred = features - mean
    if hp["algorithm_mode"] == "randomized":
        from sklearn.utils.extmath import randomized_svd

        extra = hp["extra_components"] if hp["extra_components"] >= 0 else max(10, count)
        _, singular, vt = randomized_svd(centred, count, n_oversamples=extra, random_state=0)
    else:
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    total = float((centred * centred).sum())
    kept = singular[:count]
    arrays = {
        "mean": mean,
        "components": vt[:count],
        "singular_values": kept,
        "explained_variance_ratio": kept**2 / total if total > 0 else np.zeros(count),
    }
    ctx.model_dir.mkdir(parents=True, exist_ok=True)
    np.savez(ctx.model_dir / MODEL_FILE, **arrays)
    ctx.save_model(problem=REDUCTION, feature_dim=data.feature_dim, files=[MODEL_FILE], num_components=count)


def load(model_dir: Path, manifest: dict) -> PCAModel:
    with np.load(model_dir / MODEL_FILE, allow_pickle=False) as stored:
        return PCAModel({name: stored[name] for name in stored.files})
