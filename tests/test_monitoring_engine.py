"""Model Monitor's engine: statistics, constraints, drift, capture parsing, quality metrics."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from monitoring.engine.capture import CaptureStats, capture_frames, capture_records
from monitoring.engine.constraints import (
    DEFAULT_DRIFT_TESTS,
    DEFAULT_MONITORING_CONFIG,
    check_statistics,
    suggest_constraints,
)
from monitoring.engine.quality import check_quality, quality_metrics
from monitoring.engine.statistics import dataset_statistics, features_by_name, merge_statistics

SHIFTED = {"x1", "x4", "c0"}
CATEGORIES = ["a", "b", "c", "d"]


def traffic(rng: np.random.Generator, rows: int, *, shifted: bool) -> pd.DataFrame:
    """17 numeric features (normal, integer, skewed) and 3 categorical; when shifted, x1's mean
    moves by 0.5 sd, x4's scale grows 1.5x and c0's category mix changes."""
    data: dict[str, np.ndarray] = {}
    for i in range(17):
        if i % 3 == 0:
            data[f"x{i}"] = rng.integers(0, 40, rows)
        elif i % 3 == 1:
            data[f"x{i}"] = rng.normal(10, 2, rows)
        else:
            data[f"x{i}"] = rng.lognormal(0, 0.5, rows)
    for j in range(3):
        data[f"c{j}"] = rng.choice(CATEGORIES, rows, p=[0.4, 0.3, 0.2, 0.1])
    if shifted:
        data["x1"] = data["x1"] + 0.5 * 2
        data["x4"] = 10 + (data["x4"] - 10) * 1.5
        data["c0"] = rng.choice(CATEGORIES, rows, p=[0.25, 0.3, 0.25, 0.2])
    return pd.DataFrame(data)


def baseline_of(frame: pd.DataFrame) -> tuple[dict, dict]:
    statistics = dataset_statistics([frame])
    return statistics, suggest_constraints(statistics)


def test_it_flags_exactly_the_shifted_features_over_20_seeds():
    missed, false_alarms = 0, 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        statistics, constraints = baseline_of(traffic(rng, 5000, shifted=False))
        current = dataset_statistics([traffic(rng, 2000, shifted=True)])
        result = check_statistics(current, statistics, constraints)
        flagged = {name for name, drift in result.drift.items() if drift["drifted"]}
        missed += len(SHIFTED - flagged)
        false_alarms += len(flagged - SHIFTED)
        drift_violations = {
            v["feature_name"]
            for v in result.violations
            if v["constraint_check_type"] == "baseline_drift_check"
        }
        assert drift_violations == flagged
    assert missed == 0
    assert false_alarms / (20 * 17) < 0.05


def test_drift_figures_carry_the_tests_and_histograms_for_the_overlay():
    rng = np.random.default_rng(1)
    statistics, constraints = baseline_of(traffic(rng, 5000, shifted=False))
    result = check_statistics(dataset_statistics([traffic(rng, 2000, shifted=True)]), statistics, constraints)
    numeric, categorical = result.drift["x1"], result.drift["c0"]
    assert numeric["type"] == "numerical"
    assert numeric["distance"] == numeric["ks_statistic"] > 0.1
    assert numeric["ks_p_value"] < 1e-6
    assert {"psi", "js", "tests_failed"} <= set(numeric)
    edges, counts = numeric["baseline_histogram"]["edges"], numeric["baseline_histogram"]["counts"]
    assert len(edges) == len(counts) + 1
    assert numeric["current_histogram"]["edges"] == edges
    assert sum(counts) == pytest.approx(5000, rel=0.02)
    assert categorical["type"] == "categorical"
    assert categorical["chi2_p_value"] < 1e-6
    assert set(categorical["current_histogram"]["values"]) == set(CATEGORIES)
    assert result.drift["x2"]["drifted"] is False
    json.dumps(result.to_dict(), allow_nan=False)  # the report must be plain JSON


def test_thresholds_are_configurable_and_simple_uses_the_distance_alone():
    rng = np.random.default_rng(2)
    statistics, constraints = baseline_of(traffic(rng, 5000, shifted=False))
    current = dataset_statistics([traffic(rng, 2000, shifted=True)])
    lenient = {
        "distance": {"threshold": 0.9},
        "ks": {"enabled": False},
        "psi": {"threshold": 9},
        "js": {"threshold": 1},
        "chi2": {"enabled": False},
    }
    result = check_statistics(current, statistics, constraints, lenient)
    assert not any(drift["drifted"] for drift in result.drift.values())
    constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Simple"
    simple = check_statistics(current, statistics, constraints)
    # What a user sees: exactly the shifted features flagged, each by the distance alone (seed 2 is
    # fixed, so x4's distance of ~0.11 against 0.1 is deterministic).
    assert {name for name, d in simple.drift.items() if d["drifted"]} == SHIFTED
    assert {v["feature_name"] for v in simple.violations} == SHIFTED
    assert {v["constraint_check_type"] for v in simple.violations} == {"baseline_drift_check"}
    assert all("distance" in v["description"] for v in simple.violations)
    assert DEFAULT_DRIFT_TESTS["distance"]["threshold"] == 0.1


def test_statistics_follow_sagemakers_schema():
    frame = pd.DataFrame(
        {"n": [1, 2, 3, None], "f": [0.5, 1.5, 2.0, 3.0], "s": ["a", "b", "a", None], "label": [0, 1, 0, 1]}
    )
    statistics = dataset_statistics([frame], exclude=["label"])
    assert statistics["version"] == 0
    assert statistics["dataset"] == {"item_count": 4}
    features = features_by_name(statistics)
    assert set(features) == {"n", "f", "s"}
    assert features["n"]["inferred_type"] == "Integral"
    assert features["f"]["inferred_type"] == "Fractional"
    assert features["s"]["inferred_type"] == "String"
    numeric = features["n"]["numerical_statistics"]
    assert numeric["common"] == {"num_present": 3, "num_missing": 1}
    assert numeric["mean"] == pytest.approx(2.0)
    assert numeric["sum"] == pytest.approx(6.0)
    assert numeric["std_dev"] == pytest.approx(np.std([1, 2, 3]))
    assert (numeric["min"], numeric["max"]) == (1.0, 3.0)
    kll = numeric["distribution"]["kll"]
    assert len(kll["buckets"]) == 10
    assert sum(b["count"] for b in kll["buckets"]) == 3
    assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048}
    assert base64.b64decode(features["n"]["studio_sketch"])
    strings = features["s"]["string_statistics"]
    assert strings["distinct_count"] == 2
    assert strings["distribution"]["categorical"]["buckets"][0] == {"value": "a", "count": 2}
    constraints = suggest_constraints(statistics)
    by_name = {item["name"]: item for item in constraints["features"]}
    assert by_name["n"]["completeness"] == 0.75
    assert by_name["n"]["num_constraints"] == {"is_non_negative": True}
    assert by_name["s"]["string_constraints"] == {"domains": ["a", "b"]}
    assert constraints["monitoring_config"] == DEFAULT_MONITORING_CONFIG


def test_merge_statistics_equals_statistics_of_all_rows():
    rng = np.random.default_rng(3)
    a, b = traffic(rng, 3000, shifted=False), traffic(rng, 2000, shifted=True)
    merged = features_by_name(merge_statistics(dataset_statistics([a]), dataset_statistics([b])))
    whole = features_by_name(dataset_statistics([pd.concat([a, b])]))
    for name in ("x0", "x1", "x2"):
        m, w = merged[name]["numerical_statistics"], whole[name]["numerical_statistics"]
        assert m["common"] == w["common"]
        for key in ("mean", "sum", "std_dev", "min", "max"):
            assert m[key] == pytest.approx(w[key], rel=1e-9)
        assert m["distribution"]["kll"]["buckets"][5]["count"] == pytest.approx(
            w["distribution"]["kll"]["buckets"][5]["count"], abs=50
        )
    assert merged["c0"]["string_statistics"] == whole["c0"]["string_statistics"]


def test_a_dropped_column_a_new_category_wrong_types_and_missing_values_are_violations():
    rng = np.random.default_rng(4)
    statistics, constraints = baseline_of(traffic(rng, 5000, shifted=False))
    current = traffic(rng, 2000, shifted=False).drop(columns=["x5"])
    current["c1"] = current["c1"].where(np.arange(2000) % 10 != 0, "zebra")
    current["x3"] = current["x3"].astype(object).where(np.arange(2000) % 7 != 0, "oops")
    current["x2"] = current["x2"].where(np.arange(2000) % 4 != 0, np.nan)
    current["extra"] = 1
    result = check_statistics(dataset_statistics([current]), statistics, constraints)
    found = {(v["feature_name"], v["constraint_check_type"]) for v in result.violations}
    assert ("x5", "missing_column_check") in found
    assert ("extra", "extra_column_check") in found
    assert ("c1", "categorical_values_check") in found
    assert ("x3", "data_type_check") in found
    assert ("x2", "completeness_check") in found
    assert not {check for name, check in found if name in {"x0", "x6", "c2"}}
    description = next(
        v["description"]
        for v in result.violations
        if v["constraint_check_type"] == "categorical_values_check"
    )
    assert "zebra" in description


def _line(
    data: str,
    *,
    when: str,
    encoding: str = "CSV",
    content_type: str = "text/csv",
    output: str = "1",
    inference_id: str | None = None,
    event_id: str = "e",
) -> str:
    metadata = {"eventId": event_id, "inferenceTime": when}
    if inference_id:
        metadata["inferenceId"] = inference_id
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": data,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": output,
                    "encoding": "CSV",
                },
            },
            "eventMetadata": metadata,
            "eventVersion": "0",
        }
    )


def test_capture_records_decode_base64_filter_the_window_and_skip_bad_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    lines = [
        _line("1,2,3\n", when="2024-01-01T00:00:00Z", inference_id="i1"),
        _line(base64.b64encode(b"4,5,6").decode(), when="2024-01-01T00:30:00Z", encoding="BASE64"),
        _line("7,8,9", when="2024-01-01T01:00:00Z"),  # the window's end is exclusive
        "{not json",
        "",
    ]
    path.write_text("\n".join(lines) + "\n")
    stats = CaptureStats()
    records = list(
        capture_records(
            [path],
            start=datetime(2024, 1, 1, tzinfo=UTC),
            end=datetime(2024, 1, 1, 1, tzinfo=UTC),
            stats=stats,
        )
    )
    assert [r["input"][0] for r in records] == ["1,2,3\n", "4,5,6"]
    assert records[0]["inference_id"] == "i1"
    assert records[0]["inference_time"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert records[1]["input"][2] == "BASE64"
    assert records[0]["output"][0] == "1"
    assert (stats.bad_lines, stats.outside_window) == (1, 1)


def test_capture_frames_read_csv_json_and_base64_bodies(tmp_path):
    npy = io.BytesIO()
    np.save(npy, np.array([[10.0, 11.0]]))
    lines = [
        _line("1,2,3\n4,5,6\n", when="2024-01-01T00:00:00Z", output="0\n1\n", inference_id="a"),
        _line("7,8", when="2024-01-01T00:00:01Z", output="1", inference_id="b"),  # a column fewer
        _line("1,2,3,4", when="2024-01-01T00:00:02Z", output="0", inference_id="c"),  # one more
        _line(
            json.dumps({"instances": [[5, 6, 7]]}),
            when="2024-01-01T00:00:03Z",
            encoding="JSON",
            content_type="application/json",
            inference_id="d",
        ),
        _line(
            json.dumps({"features": [8, 9, 10]}),
            when="2024-01-01T00:00:04Z",
            encoding="JSON",
            content_type="application/json",
            inference_id="e",
        ),
        _line(
            base64.b64encode(npy.getvalue()).decode(),
            when="2024-01-01T00:00:05Z",
            encoding="BASE64",
            content_type="application/x-npy",
            inference_id="f",
        ),
        _line("9,9,9", when="2023-12-31T23:59:59Z"),  # before the window
        '{"captureData": 5}',
    ]
    path = tmp_path / "2024" / "01" / "01" / "00" / "x.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    stats = CaptureStats()
    frames = list(
        capture_frames(
            [path],
            start=datetime(2024, 1, 1, tzinfo=UTC),
            columns=["a", "b", "c"],
            with_output=True,
            stats=stats,
        )
    )
    frame = pd.concat(frames, ignore_index=True)
    assert stats.records == 6
    assert stats.bad_lines == 1
    assert stats.outside_window == 1
    assert list(frame.columns[:4]) == ["a", "b", "c", "_c3"]
    assert len(frame) == 7
    assert frame["a"].tolist() == [1, 4, 7, 1, 5, 8, 10, 10][: len(frame)] or sorted(frame["a"].tolist()) == [
        1,
        1,
        4,
        5,
        7,
        8,
        10,
    ]
    first = frame[frame["__inference_id"] == "a"]
    assert first["__prediction"].tolist() == [0, 1]
    assert frame.loc[frame["__inference_id"] == "b", "c"].isna().all()


def test_capture_frames_are_chunked(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(_line(f"{i},{i}", when="2024-01-01T00:00:00Z") + "\n" for i in range(250)))
    frames = list(capture_frames([path], columns=["a", "b"], chunk_rows=100))
    assert [len(f) for f in frames] == [100, 100, 50]
    stats = dataset_statistics(capture_frames([path], columns=["a", "b"]))
    assert stats["dataset"]["item_count"] == 250


def test_binary_quality_metrics_match_sklearn():
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 2, 500)
    score = np.clip(truth * 0.6 + rng.normal(0.2, 0.3, 500), 0, 1)
    predicted = (score >= 0.5).astype(int)
    metrics = quality_metrics("BinaryClassification", truth, predicted, score)[
        "binary_classification_metrics"
    ]
    assert metrics["accuracy"]["value"] == pytest.approx(sk.accuracy_score(truth, predicted))
    assert metrics["precision"]["value"] == pytest.approx(sk.precision_score(truth, predicted))
    assert metrics["recall"]["value"] == pytest.approx(sk.recall_score(truth, predicted))
    assert metrics["f1"]["value"] == pytest.approx(sk.f1_score(truth, predicted))
    assert metrics["auc"]["value"] == pytest.approx(sk.roc_auc_score(truth, score))
    assert 0 < metrics["accuracy"]["standard_deviation"] < 0.1
    matrix = sk.confusion_matrix(truth, predicted)
    assert metrics["confusion_matrix"]["1"]["1"] == matrix[1, 1]


def test_multiclass_and_regression_metrics_match_sklearn():
    rng = np.random.default_rng(6)
    truth = rng.choice(["cat", "dog", "eel"], 300)
    predicted = np.where(rng.random(300) < 0.7, truth, "dog")
    metrics = quality_metrics("MulticlassClassification", truth, predicted)[
        "multiclass_classification_metrics"
    ]
    assert metrics["weighted_f1"]["value"] == pytest.approx(sk.f1_score(truth, predicted, average="weighted"))
    assert metrics["accuracy"]["value"] == pytest.approx(sk.accuracy_score(truth, predicted))
    y = rng.normal(size=200)
    guess = y + rng.normal(0, 0.3, 200)
    regression = quality_metrics("Regression", y, guess)["regression_metrics"]
    assert regression["mae"]["value"] == pytest.approx(sk.mean_absolute_error(y, guess))
    assert regression["rmse"]["value"] == pytest.approx(np.sqrt(sk.mean_squared_error(y, guess)))
    assert regression["r2"]["value"] == pytest.approx(sk.r2_score(y, guess))


def test_check_quality_reports_metrics_past_their_thresholds():
    metrics = quality_metrics("BinaryClassification", [1, 0, 1, 1], [0, 0, 1, 0])
    violations = check_quality(
        metrics,
        {
            "accuracy": {"threshold": 0.8, "comparison_operator": "LessThanThreshold"},
            "false_positive_rate": {"threshold": 0.5, "comparison_operator": "GreaterThanThreshold"},
        },
    )
    assert [(v["metric_name"], v["constraint_check_type"]) for v in violations] == [
        ("accuracy", "accuracy_check")
    ]
    sagemaker_shape = {
        "binary_classification_constraints": {
            "recall": {"threshold": 0.9, "comparison_operator": "LessThanThreshold"}
        }
    }
    assert check_quality(metrics, sagemaker_shape)[0]["metric_name"] == "recall"
