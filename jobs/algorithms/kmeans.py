"""K-Means, as SageMaker's built-in: mini-batch passes, then a local Lloyd refinement.

``epochs`` passes of scikit-learn's ``MiniBatchKMeans.partial_fit`` over shuffled batches of
``mini_batch_size`` rows (centres seeded by ``init_method``: random rows or k-means++), then up
to ``local_lloyd_max_iter`` Lloyd iterations on the whole train channel starting from those
centres. After each epoch, and at the end, it prints ``train-msd`` (mean squared distance from a
row to its closest centre) and ``train-ssd`` (their sum); the test channel gets ``test:msd`` and
``test:ssd``. A label column (``label_size=1``) is read and ignored.

Model: ``model.npz`` holding ``centers`` (k x feature_dim), loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jobs.algorithms.common import require_complete_channels
from jobs.algorithms.errors import ClientError
from jobs.algorithms.metrics import CLUSTERING

if TYPE_CHECKING:
    from jobs.algorithms.runtime import TrainingContext

MODEL_FILE = "model.npz"


class KMeansModel:
    def __init__(self, centers: np.ndarray) -> None:
        self.centers = centers
        self._squared_norms = (centers * centers).sum(axis=1)

    def squared_distances(self, features: np.ndarray) -> np.ndarray:
        squared = (features * features).sum(axis=1, keepdims=True) - 2 * features @ self.centers.T
        return np.maximum(squared + self._squared_norms, 0.0)

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        squared = self.squared_distances(features)
        closest = squared.argmin(axis=1)
        return {
            "closest_cluster": closest.astype(np.float64),
            "distance_to_cluster": np.sqrt(squared[np.arange(len(closest)), closest]),
        }

    def metrics(self, features, labels, outputs) -> dict[str, float]:
        squared = outputs["distance_to_cluster"] ** 2
        return {"msd": float(squared.mean()), "ssd": float(squared.sum())}

    def evaluate(self, features, labels, outputs) -> dict:
        values = self.metrics(features, labels, outputs)
        sizes = np.bincount(outputs["closest_cluster"].astype(int), minlength=len(self.centers))
        return {
            "metrics": {**values, "inertia": values["ssd"]},
            "cluster_sizes": sizes,
            "centers": self.centers,
        }


def train(ctx: TrainingContext) -> None:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    hp = ctx.hyperparameters
    data = ctx.train_data
    require_complete_channels(ctx, "k-means")
    features = data.features
    k = hp["k"]
    if k > data.rows:
        raise ClientError(f"k is {k} but channel 'train' has only {data.rows} rows")
    init = "k-means++" if hp["init_method"] == "kmeans++" else "random"
    batch = min(hp["mini_batch_size"], data.rows)
    batch = max(batch, k)  # the first batch seeds the k centres
    streaming = MiniBatchKMeans(n_clusters=k, init=init, batch_size=batch, random_state=hp["seed"], n_init=1)
    rng = np.random.default_rng(hp["seed"])
    for epoch in range(hp["epochs"]):
        order = rng.permutation(data.rows)
        for start in range(0, data.rows, batch):
            index = order[start : start + batch]
            if len(index) < k and epoch == 0 and start == 0:
                index = order[:k]
            streaming.partial_fit(features[index])
        model = KMeansModel(streaming.cluster_centers_)
        ctx.log_metrics(epoch, {"train": model.metrics(features, None, model.predict(features))})
    refine = KMeans(
        n_clusters=k,
        init=streaming.cluster_centers_,
        n_init=1,
        max_iter=hp["local_lloyd_max_iter"],
        random_state=hp["seed"],
    ).fit(features)
    ctx.log(f"Lloyd refinement: {refine.n_iter_} iteration(s).")
    ctx.last_iteration = hp["epochs"]
    ctx.model_dir.mkdir(parents=True, exist_ok=True)
    np.savez(ctx.model_dir / MODEL_FILE, centers=refine.cluster_centers_)
    ctx.save_model(problem=CLUSTERING, feature_dim=data.feature_dim, files=[MODEL_FILE], k=k)


def load(model_dir: Path, manifest: dict) -> KMeansModel:
    with np.load(model_dir / MODEL_FILE, allow_pickle=False) as stored:
        return KMeansModel(stored["centers"])
