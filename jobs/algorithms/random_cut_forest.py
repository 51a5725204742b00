"""Random Cut Forest, approximated by scikit-learn's IsolationForest.

Both grow random partition trees on small samples and call a row anomalous when few cuts isolate
it. ``num_trees`` becomes ``n_estimators`` and ``num_samples_per_tree`` becomes ``max_samples``
(capped at the rows available). The score follows SageMaker's convention, **higher = more
anomalous**: it is ``-IsolationForest.score_samples(x)``, between 0 and 1 (about 0.5 for ordinary
rows, towards 1 for outliers); it is not on the same scale as SageMaker's RCF scores.

A row is flagged as an anomaly when its score is above ``score_threshold`` (kept in
``algorithm.json``): the train scores' mean plus three standard deviations, the rule SageMaker
suggests for RCF. With a labelled test channel (``text/csv;label_size=1``, label 1 = anomaly) the
job reports ``test:f1`` of those flags.

Model: ``model.skops`` (``skops.io``; loaded trusting only the types listed in ``TRUSTED_TYPES``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jobs.algorithms.common import require_complete_channels
from jobs.algorithms.metrics import ANOMALY, binary_metrics

if TYPE_CHECKING:
    from jobs.algorithms.runtime import TrainingContext

MODEL_FILE = "model.skops"
# The one type in an IsolationForest that skops does not trust by default.
TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]
THRESHOLD_SIGMAS = 3.0


class ForestModel:
    def __init__(self, forest, threshold: float) -> None:
        self.forest = forest
        self.threshold = threshold

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        return {"score": -self.forest.score_samples(features)}

    def metrics(self, features, labels, outputs) -> dict[str, float]:
        score = outputs["score"]
        values = {"mean_score": float(score.mean())}
        if labels is not None:
            flagged = (score > self.threshold).astype(np.float64)
            measured = binary_metrics((labels == 1).astype(np.float64), flagged, score)
            values.update(
                f1=measured["f1"],
                precision=measured["precision"],
                recall=measured["recall"],
                auc=measured["auc"],
            )
        return values

    def evaluate(self, features, labels, outputs) -> dict:
        from jobs.algorithms.evaluation import histogram

        values = self.metrics(features, labels, outputs)
        if "auc" in values:
            values["roc_auc"] = values.pop("auc")
        score = outputs["score"]
        return {
            "metrics": {
                **values,
                "threshold": self.threshold,
                "anomalies": int((score > self.threshold).sum()),
            },
            "score_histogram": histogram(score),
        }


def train(ctx: TrainingContext) -> None:
    import skops.io
    from sklearn.ensemble import IsolationForest

    hp = ctx.hyperparameters
    data = ctx.train_data
    require_complete_channels(ctx, "random-cut-forest")
    forest = IsolationForest(
        n_estimators=hp["num_trees"],
        max_samples=min(hp["num_samples_per_tree"], data.rows),
        random_state=hp["seed"],
        n_jobs=ctx.num_cpus,
    ).fit(data.features)
    scores = -forest.score_samples(data.features)
    threshold = float(scores.mean() + THRESHOLD_SIGMAS * scores.std())
    ctx.log(f"Anomaly threshold (mean + {THRESHOLD_SIGMAS:g} std of the train scores): {threshold:.5f}")
    ctx.model_dir.mkdir(parents=True, exist_ok=True)
    forest.set_params(n_jobs=None)
    skops.io.dump(forest, ctx.model_dir / MODEL_FILE)
    ctx.save_model(
        problem=ANOMALY, feature_dim=data.feature_dim, files=[MODEL_FILE], score_threshold=threshold
    )


def load(model_dir: Path, manifest: dict) -> ForestModel:
    import skops.io

    from jobs.algorithms.inference import ModelError

    path = model_dir / MODEL_FILE
    unexpected = sorted(set(skops.io.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelError(f"{path} holds types this loader does not trust: {', '.join(unexpected)}")
    forest = skops.io.load(path, trusted=TRUSTED_TYPES)
    return ForestModel(forest, float(manifest["score_threshold"]))
