"""The built-in algorithms, run as Studio runs them: ``python -m jobs.algorithms <name>`` in a job folder.

Each training test lays out SageMaker's ``/opt/ml`` tree in a temporary folder, runs the job as a
subprocess with the ``SM_*`` environment, then checks the metrics lines (parsed with the
registry's own ``metric_definitions``), the model files (no pickle), ``load_model`` and
``evaluation.json``. Data is small and seeded; no Django database is used.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from jobs.algorithms.registry import ALGORITHMS, HyperparameterError, algorithm_get

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120
PICKLE_MAGIC = b"\x80"


@dataclass
class JobRun:
    returncode: int
    stdout: str
    stderr: str
    root: Path
    algorithm: str
    channels: list[str]

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> str | None:
        path = self.root / "output" / "failure"
        return path.read_text() if path.exists() else None

    @property
    def evaluation(self) -> dict | None:
        path = self.root / "output" / "data" / "evaluation.json"
        return json.loads(path.read_text()) if path.exists() else None

    def metrics(self) -> dict[str, list[float]]:
        """Every value the job's MetricDefinitions pick up from its output, by metric name."""
        found: dict[str, list[float]] = {}
        for definition in algorithm_get(self.algorithm).metric_definitions(self.channels):
            pattern = re.compile(definition["regex"])
            for line in self.stdout.splitlines():
                match = pattern.match(line)
                if match:
                    found.setdefault(definition["name"], []).append(float(match.group(1)))
        return found

    def last(self, name: str) -> float:
        return self.metrics()[name][-1]


def run_job(
    tmp_path: Path,
    algorithm: str,
    hyperparameters: dict,
    channels: dict[str, np.ndarray | dict[str, bytes]],
    content_types: dict[str, str] | None = None,
) -> JobRun:
    """Lay out a job folder and run the built-in in it.

    A channel is an array (written as ``part.csv``: label first, no header) or a mapping of file
    names to bytes (written as given, subfolders allowed).
    """
    root = tmp_path / "job"
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (root / "model").mkdir()
    (root / "output" / "data").mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hyperparameters.items()}))
    content_types = content_types or {}
    data_config = {}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SM_", "DJANGO_")) and key != "PYTHONPATH"
    }
    for name, content in channels.items():
        folder = root / "input" / "data" / name
        folder.mkdir(parents=True)
        if isinstance(content, np.ndarray):
            np.savetxt(folder / "part.csv", content, delimiter=",", fmt="%.7g")
        else:
            for filename, data in content.items():
                (folder / filename).parent.mkdir(parents=True, exist_ok=True)
                (folder / filename).write_bytes(data)
        data_config[name] = {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
        if name in content_types:
            data_config[name]["ContentType"] = content_types[name]
        env[f"SM_CHANNEL_{name.upper()}"] = str(folder)
    (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    env.update(
        SM_INPUT_CONFIG_DIR=str(config),
        SM_CHANNELS=json.dumps(sorted(channels)),
        SM_MODEL_DIR=str(root / "model"),
        SM_OUTPUT_DIR=str(root / "output"),
        SM_OUTPUT_DATA_DIR=str(root / "output" / "data"),
        SM_NUM_CPUS="1",
        SM_NUM_GPUS="0",
        CUDA_VISIBLE_DEVICES="",
        SM_HPS=json.dumps(hyperparameters),
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS="1",
    )
    completed = subprocess.run(
        [sys.executable, "-u", "-m", "jobs.algorithms", algorithm],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    return JobRun(completed.returncode, completed.stdout, completed.stderr, root, algorithm, sorted(channels))


def assert_succeeded(run: JobRun) -> None:
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert run.failure is None


def assert_model_files(run: JobRun, expected: set[str]) -> dict:
    """algorithm.json plus the algorithm's files, none of them a pickle."""
    manifest = json.loads((run.model_dir / "algorithm.json").read_text())
    assert manifest["algorithm"] == run.algorithm
    assert manifest["format_version"] == 1
    assert set(manifest["files"]) == expected
    assert {path.name for path in run.model_dir.iterdir()} == expected | {"algorithm.json"}
    for name in expected:
        head = (run.model_dir / name).read_bytes()[:2]
        assert not head.startswith(PICKLE_MAGIC), f"{name} is a pickle"
    return manifest


def assert_metric_lines(run: JobRun) -> None:
    """Every ``[N]#011channel-metric:value`` line names a channel of the job; the registry's metrics parse."""
    lines = [line for line in run.stdout.splitlines() if re.match(r"\[\d+\]#011", line)]
    assert lines, run.stdout
    for line in lines:
        for entry in line.split("#011")[1:]:
            channel, _, rest = entry.partition("-")
            assert channel in run.channels, line
            float(rest.rpartition(":")[2])
    assert run.metrics(), run.stdout


def features_of(data: np.ndarray) -> np.ndarray:
    return data[:, 1:]


# --- data ---------------------------------------------------------------------------------


def binary_data(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 4))
    labels = (features[:, 0] + 0.8 * features[:, 1] > 0).astype(float)
    return np.column_stack([labels, features])


def multiclass_data(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=rows)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 1.0], [0.0, 3.0, -1.0]])
    features = centres[labels] + rng.normal(scale=0.7, size=(rows, 3))
    return np.column_stack([labels.astype(float), features])


def regression_data(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 3))
    labels = 3 * features[:, 0] - 2 * features[:, 1] + 0.5 * features[:, 2] + rng.normal(scale=0.2, size=rows)
    return np.column_stack([labels, features])


def blobs(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, size=rows)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    return centres[truth] + rng.normal(size=(rows, 2)), truth


# --- xgboost -------------------------------------------------------------------------------


def test_xgboost_binary_trains_reports_and_saves_a_json_booster(tmp_path):
    from jobs.algorithms.inference import load_model

    test = binary_data(200, 3)
    run = run_job(
        tmp_path,
        "xgboost",
        {"num_round": 30, "objective": "binary:logistic", "max_depth": 3, "early_stopping_rounds": 5},
        {"train": binary_data(400, 1), "validation": binary_data(150, 2), "test": test},
        content_types={"train": "text/csv"},
    )
    assert_succeeded(run)
    assert_metric_lines(run)
    metrics = run.metrics()
    assert len(metrics["validation:logloss"]) >= 5  # one per round, plus the final line
    assert len(metrics["train:error"]) == 1  # the final line only: per round costs a pass
    assert metrics["validation:auc"][-1] > 0.9  # from the final line
    assert run.last("test:accuracy") > 0.85
    assert "#011test-" in run.stdout

    manifest = assert_model_files(run, {"xgboost-model.json"})
    assert manifest["problem"] == "binary_classification"
    assert manifest["classes"] == [0, 1]
    assert manifest["hyperparameters"]["num_round"] == 30
    json.loads((run.model_dir / "xgboost-model.json").read_text())  # XGBoost's JSON format

    report = run.evaluation
    assert report["problem"] == "binary_classification"
    assert report["channel"] == "test"
    assert report["rows"] == 200
    assert report["algorithm"] == "xgboost"
    assert set(report["metrics"]) >= {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
    assert report["metrics"]["accuracy"] > 0.85
    assert report["confusion_matrix"]["labels"] == [0, 1]
    assert np.array(report["confusion_matrix"]["matrix"]).sum() == 200
    assert len(report["roc_curve"]["fpr"]) == len(report["roc_curve"]["tpr"]) <= 500
    assert report["pr_curve"]["average_precision"] > 0.9
    importances = report["feature_importances"]
    assert importances["features"] == ["f0", "f1", "f2", "f3"]
    assert importances["importances"][0] > importances["importances"][3]  # f3 is noise

    model = load_model(run.model_dir)
    outputs = model.predict(features_of(test))
    assert set(outputs) == {"predicted_label", "score"}
    assert np.all((outputs["score"] >= 0) & (outputs["score"] <= 1))
    accuracy = float(np.mean(outputs["predicted_label"] == test[:, 0]))
    assert accuracy == pytest.approx(report["metrics"]["accuracy"])
    assert accuracy == pytest.approx(run.last("test:accuracy"), abs=1e-5)


def test_xgboost_multiclass_predicts_probabilities(tmp_path):
    from jobs.algorithms.inference import load_model

    test = multiclass_data(150, 5)
    run = run_job(
        tmp_path,
        "xgboost",
        {"num_round": 10, "objective": "multi:softprob", "num_class": 3, "max_depth": 3},
        {"train": multiclass_data(300, 4), "test": test},
    )
    assert_succeeded(run)
    assert_metric_lines(run)
    assert run.last("train:mlogloss") < run.metrics()["train:mlogloss"][0]
    assert run.last("test:accuracy") > 0.85

    report = run.evaluation
    assert report["problem"] == "multiclass_classification"
    assert report["confusion_matrix"]["labels"] == [0, 1, 2]
    assert report["metrics"]["roc_auc"] > 0.9
    assert report["roc_curve"]["average"] == "micro"

    outputs = load_model(run.model_dir).predict(features_of(test))
    assert outputs["probabilities"].shape == (150, 3)
    assert np.allclose(outputs["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    assert float(np.mean(outputs["predicted_label"] == test[:, 0])) == pytest.approx(
        report["metrics"]["accuracy"]
    )


def test_xgboost_regression_evaluates_on_validation_without_test(tmp_path):
    from jobs.algorithms.inference import load_model

    validation = regression_data(200, 7)
    train = regression_data(400, 6)
    train[::40, 3] = np.nan  # empty cells: XGBoost learns where missing values go
    run = run_job(
        tmp_path,
        "xgboost",
        {"num_round": 40, "max_depth": 3, "eta": "0.3"},
        {"train": train, "validation": validation},
    )
    assert_succeeded(run)
    assert_metric_lines(run)
    rmse = run.metrics()["validation:rmse"]
    assert rmse[-1] < rmse[0]
    assert run.last("validation:r2") > 0.8

    report = run.evaluation
    assert report["problem"] == "regression"
    assert report["channel"] == "validation"
    assert report["metrics"]["r2"] > 0.8
    assert len(report["residuals"]["actual"]) == 200
    outputs = load_model(run.model_dir).predict(features_of(validation))
    rmse_here = float(np.sqrt(np.mean((outputs["score"] - validation[:, 0]) ** 2)))
    assert rmse_here == pytest.approx(report["metrics"]["rmse"], rel=1e-6)


# --- linear learner -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predictor_type", "extra", "make", "metric", "minimum"),
    [
        ("binary_classifier", {}, binary_data, "binary_classification_accuracy", 0.9),
        ("multiclass_classifier", {"num_classes": 3}, multiclass_data, "multiclass_accuracy", 0.85),
        ("regressor", {}, regression_data, "rmse", None),
    ],
)
def test_linear_learner_learns_each_predictor_type(tmp_path, predictor_type, extra, make, metric, minimum):
    from jobs.algorithms.inference import load_model

    test = make(200, 12)
    run = run_job(
        tmp_path,
        "linear-learner",
        {
            "predictor_type": predictor_type,
            "epochs": 8,
            "mini_batch_size": 32,
            "learning_rate": 0.05,
            **extra,
        },
        {"train": make(400, 10), "validation": make(150, 11), "test": test},
    )
    assert_succeeded(run)
    assert_metric_lines(run)
    losses = run.metrics()["validation:objective_loss"]
    assert len(losses) >= 3
    assert losses[-1] < losses[0]
    if minimum is None:
        assert run.last("test:rmse") < 0.5  # the noise is 0.2
        assert run.evaluation["metrics"]["r2"] > 0.95
    else:
        assert run.last(f"test:{metric}") > minimum
    manifest = assert_model_files(run, {"model.npz"})
    outputs = load_model(run.model_dir).predict(features_of(test))
    if predictor_type == "regressor":
        assert set(outputs) == {"score"}
        assert manifest["problem"] == "regression"
    else:
        accuracy = float(np.mean(outputs["predicted_label"] == test[:, 0]))
        assert accuracy == pytest.approx(run.evaluation["metrics"]["accuracy"])
        assert len(run.evaluation["feature_importances"]["importances"]) == test.shape[1] - 1


# --- unsupervised ---------------------------------------------------------------------------


def test_kmeans_recovers_the_clusters(tmp_path):
    from jobs.algorithms.inference import load_model

    train, _ = blobs(300, 20)
    test, truth = blobs(150, 21)
    run = run_job(
        tmp_path,
        "k-means",
        {"k": 3, "epochs": 2, "mini_batch_size": 100, "init_method": "kmeans++"},
        {"train": train, "test": test},
        content_types={"train": "text/csv;label_size=0", "test": "text/csv;label_size=0"},
    )
    assert_succeeded(run)
    assert_metric_lines(run)
    msd = run.last("test:msd")
    spread = float(((test - test.mean(axis=0)) ** 2).sum(axis=1).mean())  # the msd with k=1
    assert msd < spread / 5
    assert msd < 3  # two unit-variance dimensions: about 2
    assert_model_files(run, {"model.npz"})

    outputs = load_model(run.model_dir).predict(test)
    assert set(outputs) == {"closest_cluster", "distance_to_cluster"}
    for cluster in range(3):  # each true cluster lands in one found cluster
        assert len(set(outputs["closest_cluster"][truth == cluster])) == 1
    report = run.evaluation
    assert report["problem"] == "clustering"
    assert report["metrics"]["msd"] == pytest.approx(float(np.mean(outputs["distance_to_cluster"] ** 2)))
    assert sum(report["cluster_sizes"]) == 150


def test_pca_keeps_the_variance_of_two_true_components(tmp_path):
    from jobs.algorithms.inference import load_model

    rng = np.random.default_rng(30)
    mixing = rng.normal(size=(2, 6))
    train = rng.normal(size=(300, 2)) * [3.0, 2.0] @ mixing + rng.normal(scale=0.05, size=(300, 6))
    test = rng.normal(size=(100, 2)) * [3.0, 2.0] @ mixing + rng.normal(scale=0.05, size=(100, 6))
    run = run_job(
        tmp_path, "pca", {"num_components": 2, "mini_batch_size": 100}, {"train": train, "test": test}
    )
    assert_succeeded(run)
    assert_metric_lines(run)
    assert run.last("train:explained_variance_ratio") > 0.9
    assert run.last("test:explained_variance_ratio") > 0.9
    assert_model_files(run, {"model.npz"})
    projection = load_model(run.model_dir).predict(test)["projection"]
    assert projection.shape == (100, 2)
    report = run.evaluation
    assert report["problem"] == "dimensionality_reduction"
    assert report["metrics"]["explained_variance_ratio"] > 0.9
    assert sum(report["components"]["explained_variance_ratio"]) > 0.9


def test_random_cut_forest_flags_injected_outliers(tmp_path):
    from jobs.algorithms.inference import load_model

    rng = np.random.default_rng(40)

    def outliers(count):
        angle = rng.uniform(0, 2 * np.pi, count)
        return np.column_stack([np.cos(angle), np.sin(angle)]) * rng.uniform(6, 9, (count, 1))

    train = np.vstack([rng.normal(size=(400, 2)), outliers(8)])
    test_rows = np.vstack([rng.normal(size=(200, 2)), outliers(10)])
    labels = np.r_[np.zeros(200), np.ones(10)]
    test = np.column_stack([labels, test_rows])
    run = run_job(
        tmp_path,
        "random-cut-forest",
        {"num_trees": 50, "num_samples_per_tree": 128},
        {"train": train, "test": test},
        content_types={"test": "text/csv;label_size=1"},
    )
    assert_succeeded(run)
    assert_metric_lines(run)
    assert run.last("test:f1") > 0.5
    assert_model_files(run, {"model.skops"})
    scores = load_model(run.model_dir).predict(test_rows)["score"]
    assert scores[200:].mean() > scores[:200].mean()  # higher = more anomalous
    report = run.evaluation
    assert report["problem"] == "anomaly_detection"
    assert report["metrics"]["f1"] == pytest.approx(run.last("test:f1"), abs=1e-5)
    assert report["metrics"]["mean_score"] == pytest.approx(float(scores.mean()))


# --- knn, lightgbm, mlp ------------------------------------------------------------------------


def test_knn_classifies_from_parquet_files_in_subfolders(tmp_path):
    import io

    import pandas as pd

    from jobs.algorithms.inference import load_model

    def parquet(array):
        buffer = io.BytesIO()
        pd.DataFrame(array, columns=[f"c{index}" for index in range(array.shape[1])]).to_parquet(buffer)
        return buffer.getvalue()

    train = multiclass_data(300, 50)
    test = multiclass_data(120, 51)
    run = run_job(
        tmp_path,
        "knn",
        {"k": 5, "predictor_type": "classifier", "sample_size": 250},
        {
            "train": {
                "a/part-0.parquet": parquet(train[:150]),
                "b/part-1.parquet": parquet(train[150:]),
                ".hidden.csv": b"not,data\n",
            },
            "test": test,
        },
        content_types={"train": "application/x-parquet"},
    )
    assert_succeeded(run)
    assert "300 rows" in run.stdout
    assert_metric_lines(run)
    assert run.last("test:accuracy") > 0.85
    manifest = assert_model_files(run, {"model.npz"})
    assert manifest["classes"] == [0, 1, 2]
    outputs = load_model(run.model_dir).predict(features_of(test))
    accuracy = float(np.mean(outputs["predicted_label"] == test[:, 0]))
    assert accuracy == pytest.approx(run.evaluation["metrics"]["accuracy"])
    assert accuracy == pytest.approx(run.last("test:accuracy"), abs=1e-5)


def test_lightgbm_binary_with_early_stopping(tmp_path):
    from jobs.algorithms.inference import load_model

    test = binary_data(200, 62)
    run = run_job(
        tmp_path,
        "lightgbm",
        {
            "objective": "binary",
            "num_boost_round": 60,
            "num_leaves": 8,
            "min_data_in_leaf": 5,
            "early_stopping_rounds": 10,
        },
        {"train": binary_data(400, 60), "validation": binary_data(150, 61), "test": test},
    )
    assert_succeeded(run)
    assert_metric_lines(run)
    assert run.metrics()["validation:logloss"][0] > min(run.metrics()["validation:logloss"])
    assert run.last("test:accuracy") > 0.85
    assert run.last("test:auc") > 0.9
    assert_model_files(run, {"model.txt"})
    report = run.evaluation
    outputs = load_model(run.model_dir).predict(features_of(test))
    assert float(np.mean(outputs["predicted_label"] == test[:, 0])) == pytest.approx(
        report["metrics"]["accuracy"]
    )
    assert len(report["feature_importances"]["importances"]) == 4


def test_mlp_binary_classifier_on_cpu(tmp_path):
    import torch

    from jobs.algorithms.inference import load_model

    test = binary_data(200, 72)
    run = run_job(
        tmp_path,
        "mlp",
        {
            "predictor_type": "binary_classifier",
            "epochs": 6,
            "hidden_units": 16,
            "mini_batch_size": 32,
            "learning_rate": 0.01,
        },
        {"train": binary_data(400, 70), "validation": binary_data(150, 71), "test": test},
    )
    assert_succeeded(run)
    assert "Training on cpu" in run.stdout
    assert_metric_lines(run)
    losses = run.metrics()["validation:loss"]
    assert losses[-1] < losses[0]
    assert run.last("test:accuracy") > 0.85
    manifest = assert_model_files(run, {"model.pt"})
    assert manifest["architecture"]["hidden_units"] == 16
    state = torch.load(run.model_dir / "model.pt", weights_only=True)
    assert "x_mean" in state
    outputs = load_model(run.model_dir).predict(features_of(test))
    accuracy = float(np.mean(outputs["predicted_label"] == test[:, 0]))
    assert accuracy == pytest.approx(run.evaluation["metrics"]["accuracy"])


# --- failures ------------------------------------------------------------------------------


def assert_client_error(run: JobRun, *fragments: str) -> None:
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.failure is not None
    assert run.failure.startswith("ClientError: "), run.failure
    assert "Traceback" not in run.failure
    for fragment in fragments:
        assert fragment in run.failure, run.failure


def test_a_non_numeric_label_is_a_client_error_naming_file_and_column(tmp_path):
    run = run_job(
        tmp_path,
        "xgboost",
        {"num_round": 2},
        {"train": {"part.csv": b"1,0.5,0.2\nyes,0.1,0.3\n"}},
    )
    assert_client_error(run, "part.csv", "column 1", "'yes'", "row 2")


def test_a_missing_train_channel_is_a_client_error(tmp_path):
    run = run_job(tmp_path, "xgboost", {"num_round": 2}, {"validation": binary_data(20, 1)})
    assert_client_error(run)
    assert run.failure == "ClientError: channel 'train' is missing"


def test_a_binary_label_other_than_0_or_1_is_a_client_error(tmp_path):
    data = binary_data(30, 1)
    data[4, 0] = 2
    run = run_job(tmp_path, "xgboost", {"num_round": 2, "objective": "binary:logistic"}, {"train": data})
    assert_client_error(run, "label 2", "row 5 of part.csv", "0 or 1")


def test_num_class_smaller_than_the_labels_is_a_client_error(tmp_path):
    run = run_job(
        tmp_path,
        "xgboost",
        {"num_round": 2, "objective": "multi:softmax", "num_class": 2},
        {"train": multiclass_data(30, 1)},
    )
    assert_client_error(run, "num_class is 2", "label 2")


def test_a_channel_of_empty_files_is_a_client_error(tmp_path):
    run = run_job(tmp_path, "k-means", {"k": 2}, {"train": {"part.csv": b""}})
    assert_client_error(run, "channel 'train'", "empty")


def test_invalid_hyperparameters_fail_the_job_as_a_client_error(tmp_path):
    run = run_job(
        tmp_path, "xgboost", {"num_round": 2, "objective": "multi:softprob"}, {"train": binary_data(20, 1)}
    )
    assert_client_error(run, "num_class")


# --- reading channels ---------------------------------------------------------------------


def test_read_channel_reads_csv_gzip_libsvm_and_parquet_and_skips_hidden_files(tmp_path):
    import gzip
    import io

    import pandas as pd

    from jobs.algorithms.data import read_channel

    folder = tmp_path / "train"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.csv").write_text("1,0.5,2\n0,1.5,\n")
    (folder / "nested" / "b.csv.gz").write_bytes(gzip.compress(b"1,3,4\n"))
    (folder / ".hidden").write_text("junk\n")
    (folder / "_SUCCESS").write_text("")
    buffer = io.BytesIO()
    pd.DataFrame({"label": [0.0], "x": [7.0], "y": [8.0]}).to_parquet(buffer)
    (folder / "c.data").write_bytes(buffer.getvalue())  # Parquet found by its magic bytes
    dataset = read_channel("train", folder, "text/csv", labelled=True)
    assert dataset.labels.tolist() == [1, 0, 0, 1]
    assert dataset.features.shape == (4, 2)
    assert np.isnan(dataset.features[1, 1])
    assert dataset.where(3) == "row 1 of nested/b.csv.gz"

    unlabelled = read_channel("train", folder, "text/csv;label_size=0", labelled=False)
    assert unlabelled.labels is None
    assert unlabelled.features.shape == (4, 3)

    svm = tmp_path / "svm"
    svm.mkdir()
    (svm / "part.libsvm").write_text("1 1:0.5 3:2\n0 2:1\n")
    dataset = read_channel("train", svm, None, labelled=True)
    assert dataset.labels.tolist() == [1, 0]
    assert dataset.features.shape[0] == 2


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b"label,x\n1,2\n", "text/csv", "a header row?"),
        (b"1,2\n1,abc\n", "text/csv", "column 2 (a feature) holds a non-numeric value 'abc' in row 2"),
        (b"1,2\n", "text/csv;label_size=0", "needs the label"),
        (b"1,2\n", "application/x-recordio-protobuf", "not supported"),
        (b",2\n", "text/csv", "has no label"),
    ],
)
def test_read_channel_rejects_bad_data_with_a_client_error(tmp_path, content, content_type, message):
    from jobs.algorithms.data import read_channel
    from jobs.algorithms.errors import ClientError

    (tmp_path / "part.csv").write_bytes(content)
    with pytest.raises(ClientError, match=re.escape(message)):
        read_channel("train", tmp_path, content_type, labelled=True)


# --- registry ------------------------------------------------------------------------------


def test_every_algorithm_module_is_importable_and_names_its_metrics():
    import importlib

    for algorithm in ALGORITHMS.values():
        module = importlib.import_module(algorithm.module)
        assert callable(module.train)
        assert callable(module.load)
        for definition in algorithm.metric_definitions(list(algorithm.channels)):
            re.compile(definition["regex"])


@pytest.mark.parametrize(
    ("algorithm", "values", "field"),
    [
        ("xgboost", {"num_round": "10", "colour": "red"}, "colour"),
        ("xgboost", {"num_round": "10", "eta": "2"}, "eta"),
        ("xgboost", {"num_round": "ten"}, "num_round"),
        ("xgboost", {"eta": "0.1"}, "num_round"),
        ("xgboost", {"num_round": "10", "objective": "multi:softmax"}, "num_class"),
        (
            "xgboost",
            {"num_round": "10", "objective": "binary:logistic", "eval_metric": "merror"},
            "eval_metric",
        ),
        ("linear-learner", {"predictor_type": "multiclass_classifier"}, "num_classes"),
        ("mlp", {"predictor_type": "multiclass_classifier"}, "num_classes"),
        ("lightgbm", {"objective": "multiclass"}, "num_class"),
        ("pca", {"num_components": "5", "feature_dim": "3"}, "num_components"),
        ("k-means", {"k": "1.5"}, "k"),
    ],
)
def test_registry_validation_names_the_field(algorithm, values, field):
    with pytest.raises(HyperparameterError) as caught:
        algorithm_get(algorithm).validate(values)
    assert field in caught.value.errors


def test_registry_validation_accepts_the_cross_field_rules_when_met():
    clean = algorithm_get("xgboost").validate({"num_round": 5, "objective": "multi:softprob", "num_class": 3})
    assert clean == {"num_round": "5", "objective": "multi:softprob", "num_class": "3"}
    assert algorithm_get("lightgbm").validate({"objective": "multiclass", "num_class": "4"})
    assert algorithm_get("linear-learner").validate({"predictor_type": "regressor"})


def test_the_registry_imports_nothing_heavy():
    code = (
        "import sys, jobs.algorithms.registry; "
        "print(sorted({'numpy', 'xgboost', 'torch'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
