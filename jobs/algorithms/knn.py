"""k-NN, as SageMaker's built-in: an index of up to ``sample_size`` train rows, queried by brute force.

Training samples ``sample_size`` rows (seeded) of the train channel and keeps them. A query row's
``k`` nearest indexed rows by ``index_metric`` (``L2``: Euclidean, ``COSINE``: cosine similarity,
``INNER_PRODUCT``: largest dot product) vote: ``classifier`` predicts the most frequent label
(ties go to the smallest label), ``regressor`` the mean label. Queries run in chunks with NumPy,
so memory stays bounded.

Metrics: ``accuracy`` (classifier) or ``mse`` (regressor) on the validation and test channels;
the final train line is measured on a sample of at most ``metrics_sample`` train rows (and is
optimistic: those rows are in the index).

Model: ``model.npz`` with the indexed ``features`` and ``labels`` (``allow_pickle=False``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jobs.algorithms.common import require_complete_channels
from jobs.algorithms.metrics import BINARY, MULTICLASS, REGRESSION

if TYPE_CHECKING:
    from jobs.algorithms.runtime import TrainingContext

MODEL_FILE = "model.npz"
_CHUNK_CELLS = 20_000_000  # query rows x index rows per distance block (160 MB of float64)


class NeighboursModel:
    metrics_sample = 2000

    def __init__(self, features: np.ndarray, labels: np.ndarray, manifest: dict) -> None:
        self.features = features
        self.labels = labels
        self.k = min(int(manifest["hyperparameters"]["k"]), len(labels))
        self.metric = manifest["hyperparameters"]["index_metric"]
        self.problem = manifest["problem"]
        self.classes = np.asarray(manifest.get("classes") or [], dtype=np.float64)
        if self.metric == "COSINE":
            self._index = _unit_rows(features)
        else:
            self._index = features
        self._squared = (features * features).sum(axis=1)

    def neighbours(self, queries: np.ndarray) -> np.ndarray:
        """Indices of the k nearest indexed rows for each query row (rows x k)."""
        chunk = max(1, _CHUNK_CELLS // max(len(self._index), 1))
        found = []
        for start in range(0, len(queries), chunk):
            block = queries[start : start + chunk]
            if self.metric == "L2":
                # Smaller is nearer: |q|^2 is the same for a whole row, so it can be left out.
                cost = self._squared[None, :] - 2 * block @ self._index.T
            elif self.metric == "COSINE":
                cost = -(_unit_rows(block) @ self._index.T)
            else:
                cost = -(block @ self._index.T)
            if self.k < cost.shape[1]:
                nearest = np.argpartition(cost, self.k - 1, axis=1)[:, : self.k]
            else:
                nearest = np.tile(np.arange(cost.shape[1]), (len(block), 1))
            found.append(nearest)
        return np.concatenate(found) if found else np.empty((0, self.k), dtype=int)

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        votes = self.labels[self.neighbours(features)]
        if self.problem == REGRESSION:
            return {"predicted_label": votes.mean(axis=1)}
        index = np.searchsorted(self.classes, votes)
        counts = np.zeros((len(features), len(self.classes)))
        np.add.at(counts, (np.arange(len(features))[:, None], index), 1.0)
        return {
            "predicted_label": self.classes[counts.argmax(axis=1)],
            "probabilities": counts / votes.shape[1],
        }

    def metrics(self, features, labels, outputs) -> dict[str, float]:
        if labels is None:
            return {}
        predicted = outputs["predicted_label"]
        if self.problem == REGRESSION:
            return {"mse": float(np.mean((labels - predicted) ** 2))}
        return {"accuracy": float(np.mean(labels == predicted))}


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def train(ctx: TrainingContext) -> None:
    hp = ctx.hyperparameters
    data = ctx.train_data
    require_complete_channels(ctx, "knn")
    features, labels = data.features, data.labels
    if data.rows > hp["sample_size"]:
        rows = np.sort(np.random.default_rng(hp["seed"]).choice(data.rows, hp["sample_size"], replace=False))
        features, labels = features[rows], labels[rows]
        ctx.log(f"Indexed a sample of {hp['sample_size']} of the {data.rows} train rows.")
    if hp["predictor_type"] == "regressor":
        problem, classes = REGRESSION, None
    else:
        classes = np.unique(labels).tolist()
        problem = BINARY if len(classes) == 2 else MULTICLASS
    ctx.model_dir.mkdir(parents=True, exist_ok=True)
    np.savez(ctx.model_dir / MODEL_FILE, features=features, labels=labels)
    ctx.save_model(problem=problem, feature_dim=data.feature_dim, files=[MODEL_FILE], classes=classes)


def load(model_dir: Path, manifest: dict) -> NeighboursModel:
    with np.load(model_dir / MODEL_FILE, allow_pickle=False) as stored:
        return NeighboursModel(stored["features"], stored["labels"], manifest)
