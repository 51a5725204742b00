"""Every built-in algorithm as a user meets it: submitted as a training job, trained on generated
data to a sane score, its metrics and evaluation visible over the API and on its page."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pytest

from jobs.models import JobStatus
from jobs.runner import job_execute
from jobs.services import training_job_create
from studio.services import artifact_upload
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db(transaction=True)
ROWS = {"train": 400, "validation": 150, "test": 150}
# Rank-2 data in 6 columns: every channel lies near the same plane.
MIXING = np.random.default_rng(11).normal(size=(2, 6))


@dataclass
class Case:
    algorithm: str
    hyperparameters: dict
    data: str  # "binary", "multiclass", "regression", "blobs", "outliers", "lowrank"
    metric: str  # a metric series the job must report
    check: tuple[str, str, float]  # (evaluation metric, ">" or "<", bound)
    channels: tuple[str, ...] = ("train", "validation", "test")
    content_types: dict[str, str] = field(default_factory=dict)
    figures: tuple[str, ...] = ()


CASES = [
    Case(
        "xgboost",
        {"num_round": 20, "objective": "binary:logistic", "max_depth": 3},
        "binary",
        "validation:logloss",
        ("accuracy", ">", 0.85),
        figures=("figure-roc", "figure-pr", "figure-confusion"),
    ),
    Case(
        "linear-learner",
        {"predictor_type": "regressor", "epochs": 30, "mini_batch_size": 32, "learning_rate": 0.05},
        "regression",
        "validation:rmse",
        ("r2", ">", 0.8),
        figures=("figure-residuals",),
    ),
    Case(
        "k-means",
        {"k": 3, "feature_dim": 4},
        "blobs",
        "test:msd",
        ("msd", "<", 3.0),
        channels=("train", "test"),
        content_types={"train": "text/csv;label_size=0", "test": "text/csv;label_size=0"},
    ),
    Case(
        "pca",
        {"num_components": 2, "feature_dim": 6, "mini_batch_size": 100},
        "lowrank",
        "test:explained_variance_ratio",
        ("explained_variance_ratio", ">", 0.9),
        channels=("train", "test"),
        content_types={"train": "text/csv;label_size=0", "test": "text/csv;label_size=0"},
    ),
    Case(
        "random-cut-forest",
        {"num_trees": 50, "num_samples_per_tree": 128},
        "outliers",
        "test:f1",
        ("f1", ">", 0.5),
        channels=("train", "test"),
        content_types={"train": "text/csv;label_size=0", "test": "text/csv;label_size=1"},
    ),
    Case(
        "knn",
        {"k": 5, "predictor_type": "classifier", "sample_size": 400},
        "binary",
        "test:accuracy",
        ("accuracy", ">", 0.85),
        figures=("figure-confusion",),
    ),
    Case(
        "lightgbm",
        {"num_boost_round": 30, "objective": "multiclass", "num_class": 3},
        "multiclass",
        "validation:logloss",
        ("accuracy", ">", 0.85),
        figures=("figure-confusion",),
    ),
    Case(
        "mlp",
        {
            "predictor_type": "binary_classifier",
            "epochs": 30,
            "hidden_units": 16,
            "mini_batch_size": 32,
            "learning_rate": 0.01,
        },
        "binary",
        "validation:loss",
        ("accuracy", ">", 0.85),
        figures=("figure-roc",),
    ),
]


def generate(kind: str, rows: int, rng: np.random.Generator, channel: str) -> np.ndarray:
    """Rows with the label (or a placeholder the content type drops) in the first column."""
    if kind == "binary":
        x = rng.normal(size=(rows, 4))
        return np.column_stack([(x[:, 0] + x[:, 1] > 0).astype(int), x])
    if kind == "multiclass":
        y = rng.integers(0, 3, rows)
        return np.column_stack([y, rng.normal(size=(rows, 4)) + y[:, None] * 1.5])
    if kind == "regression":
        x = rng.normal(size=(rows, 4))
        return np.column_stack([x @ [2.0, -1.0, 0.5, 0.0] + rng.normal(0, 0.1, rows), x])
    if kind == "blobs":
        centres = np.array([[0, 0, 0, 0], [6, 6, 0, 0], [0, 6, 6, 6]])
        return centres[rng.integers(0, 3, rows)] + rng.normal(0, 0.5, (rows, 4))
    if kind == "lowrank":
        return rng.normal(size=(rows, 2)) @ MIXING + rng.normal(0, 0.01, (rows, 6))
    # outliers: normal points, and in the test channel 5% far away, labelled 1 (label_size=1)
    x = rng.normal(size=(rows, 3))
    if channel != "test":
        return x
    labels = np.zeros(rows, dtype=int)
    labels[: rows // 20] = 1
    x[: rows // 20] += 8
    return np.column_stack([labels, x])


def upload_channels(project, user, case: Case) -> list[dict]:
    rng = np.random.default_rng(3)
    channels = []
    for channel in case.channels:
        table = generate(case.data, ROWS[channel], rng, channel)
        text = "\n".join(",".join(f"{value:.5g}" for value in row) for row in table) + "\n"
        stored = artifact_upload(
            project=project,
            user=user,
            path=f"data/{case.algorithm}/{channel}.csv",
            stream=io.BytesIO(text.encode()),
        )
        content_type = case.content_types.get(channel, "text/csv")
        channels.append({"name": channel, "source_uri": stored.uri, "content_type": content_type})
    return channels


@pytest.mark.parametrize("case", CASES, ids=[case.algorithm for case in CASES])
def test_each_builtin_trains_and_shows_its_metrics_and_evaluation(project, admin_user, client, case):
    name = f"{case.algorithm}-job"
    job, _ = training_job_create(
        project=project,
        user=admin_user,
        name=name,
        algorithm=case.algorithm,
        channels=upload_channels(project, admin_user, case),
        hyperparameters=case.hyperparameters,
        instance_type="ml.m5.large",
    )
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.failure_reason

    api = api_client_for(admin_user)
    base = f"/api/v1/projects/vision/training-jobs/{name}"
    series = api.get(f"{base}/metrics/").json()["metrics"]
    assert series.get(case.metric), sorted(series)
    evaluation = api.get(f"{base}/evaluation/").json()
    metric, comparison, bound = case.check
    value = evaluation["metrics"][metric]
    assert value > bound if comparison == ">" else value < bound, (metric, value)

    client.force_login(admin_user)
    page = client.get(f"/projects/vision/jobs/training/{name}/").content.decode()
    assert 'id="evaluation"' in page
    for figure in case.figures:
        assert f'id="{figure}"' in page
