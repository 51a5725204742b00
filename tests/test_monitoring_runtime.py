"""Model Monitor's job modules, end to end in a temporary job directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.runtime import baseline, drift_report, execute, quality


@pytest.fixture
def ml_root(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_ML_ROOT", str(tmp_path))
    return tmp_path


def frame(rng: np.random.Generator, rows: int, *, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "income": rng.normal(50, 10, rows) + shift * 10,
            "city": rng.choice(["paris", "lyon", "nice"], rows),
            "label": rng.integers(0, 2, rows),
        }
    )


def capture_line(values: list, when: str, *, inference_id: str, output: str = "0.5") -> str:
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": ",".join(str(v) for v in values) + "\n",
                    "encoding": "CSV",
                },
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": output,
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {
                "eventId": f"e-{inference_id}",
                "inferenceId": inference_id,
                "inferenceTime": when,
            },
            "eventVersion": "0",
        }
    )


def write_baseline(root: Path, rng: np.random.Generator) -> None:
    data = root / "processing/input/data"
    data.mkdir(parents=True)
    frame(rng, 3000).to_csv(data / "train.csv", index=False)
    assert baseline.main(["--format", "csv", "--target", "label"]) == 0
    target = root / "processing/input/baseline"
    target.mkdir(parents=True)
    for name in ("statistics.json", "constraints.json"):
        (target / name).write_text((root / "processing/output/baseline" / name).read_text())


def write_capture(
    root: Path, current: pd.DataFrame, outputs: list[str] | None = None, *, input_name: str = "capture"
) -> None:
    folder = root / f"processing/input/{input_name}/ep/AllTraffic/2024/01/01/00"
    folder.mkdir(parents=True)
    lines = [
        capture_line(
            row,
            f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
            inference_id=f"i{i}",
            output=outputs[i] if outputs else "0.5",
        )
        for i, row in enumerate(current.itertuples(index=False, name=None))
    ]
    (folder / "00-00-000-x.jsonl").write_text("\n".join(lines) + "\n")


def test_baseline_writes_statistics_and_constraints_without_the_target(ml_root, capsys):
    write_baseline(ml_root, np.random.default_rng(0))
    statistics = json.loads((ml_root / "processing/output/baseline/statistics.json").read_text())
    constraints = json.loads((ml_root / "processing/output/baseline/constraints.json").read_text())
    assert [f["name"] for f in statistics["features"]] == ["age", "income", "city"]
    assert statistics["dataset"]["item_count"] == 3000
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.1
    assert "records=3000" in capsys.readouterr().out


def test_baseline_without_data_fails_with_a_reason(ml_root):
    assert baseline.main([]) == 1
    assert "No data found" in (ml_root / "output/failure").read_text()


def test_execute_reports_drift_and_violations(ml_root):
    rng = np.random.default_rng(1)
    write_baseline(ml_root, rng)
    current = frame(rng, 1500, shift=1.0)[["age", "income", "city"]]
    current.loc[::10, "city"] = "berlin"
    write_capture(ml_root, current)
    config = ml_root / "processing/input/config/config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"drift_tests": {"psi": {"threshold": 0.2}}}))
    assert execute.main(["--start", "2024-01-01T00:00:00Z", "--end", "2024-01-01T01:00:00Z"]) == 0
    report_dir = ml_root / "processing/output/report"
    drift = json.loads((report_dir / "drift.json").read_text())
    violations = json.loads((report_dir / "constraint_violations.json").read_text())["violations"]
    assert drift["record_count"] == 1500
    assert drift["drift"]["income"]["drifted"] is True
    assert drift["drift"]["age"]["drifted"] is False
    found = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert ("income", "baseline_drift_check") in found
    assert ("city", "categorical_values_check") in found
    statistics = json.loads((report_dir / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == 1500


def test_execute_reads_every_production_variants_capture(ml_root):
    rng = np.random.default_rng(4)
    write_baseline(ml_root, rng)
    write_capture(ml_root, frame(rng, 300)[["age", "income", "city"]])
    write_capture(ml_root, frame(rng, 200)[["age", "income", "city"]], input_name="capture-challenger")
    assert execute.main(["--start", "2024-01-01T00:00:00Z", "--end", "2024-01-01T01:00:00Z"]) == 0
    drift = json.loads((ml_root / "processing/output/report/drift.json").read_text())
    assert drift["record_count"] == 500


def test_execute_without_captured_data_says_so_and_succeeds(ml_root):
    write_baseline(ml_root, np.random.default_rng(2))
    write_capture(ml_root, frame(np.random.default_rng(3), 10)[["age", "income", "city"]])
    assert execute.main(["--start", "2024-02-01T00:00:00Z", "--end", "2024-02-01T01:00:00Z"]) == 0
    drift = json.loads((ml_root / "processing/output/report/drift.json").read_text())
    assert drift["record_count"] == 0
    assert drift["message"] == "No captured data between 2024-02-01T00:00:00Z and 2024-02-01T01:00:00Z"
    assert not (ml_root / "output/failure").exists()


def test_execute_without_a_baseline_fails_with_a_reason(ml_root):
    assert execute.main(["--start", "2024-01-01T00:00:00Z", "--end", "2024-01-01T01:00:00Z"]) == 1
    assert "baseline statistics is missing" in (ml_root / "output/failure").read_text()


def test_quality_merges_labels_with_predictions_and_checks_thresholds(ml_root):
    rng = np.random.default_rng(4)
    current = frame(rng, 200)[["age", "income", "city"]]
    truth = rng.integers(0, 2, 200)
    predicted = np.where(rng.random(200) < 0.6, truth, 1 - truth)
    write_capture(ml_root, current, outputs=[str(p) for p in predicted])
    labels = ml_root / "processing/input/ground_truth/2024/01/01/00/labels.jsonl"
    labels.parent.mkdir(parents=True)
    labels.write_text(
        "".join(json.dumps({"inference_id": f"i{i}", "label": int(truth[i])}) + "\n" for i in range(150))
    )
    config = ml_root / "processing/input/config/config.json"
    config.parent.mkdir(parents=True)
    config.write_text(
        json.dumps(
            {"thresholds": {"accuracy": {"threshold": 0.9, "comparison_operator": "LessThanThreshold"}}}
        )
    )
    argv = [
        "--start",
        "2024-01-01T00:00:00Z",
        "--end",
        "2024-01-02T00:00:00Z",
        "--problem-type",
        "BinaryClassification",
    ]
    assert quality.main(argv) == 0
    report = json.loads((ml_root / "processing/output/report/metrics.json").read_text())
    assert report["record_count"] == 200
    assert report["matched"] == 150
    accuracy = report["metrics"]["binary_classification_metrics"]["accuracy"]["value"]
    assert accuracy == pytest.approx(float(np.mean(truth[:150] == predicted[:150])))
    violations = json.loads((ml_root / "processing/output/report/constraint_violations.json").read_text())[
        "violations"
    ]
    assert [v["constraint_check_type"] for v in violations] == ["accuracy_check"]


def test_quality_without_labels_says_so(ml_root):
    write_capture(ml_root, frame(np.random.default_rng(5), 20)[["age", "income", "city"]])
    argv = [
        "--start",
        "2024-01-01T00:00:00Z",
        "--end",
        "2024-01-02T00:00:00Z",
        "--problem-type",
        "Regression",
    ]
    assert quality.main(argv) == 0
    report = json.loads((ml_root / "processing/output/report/metrics.json").read_text())
    assert report["matched"] == 0
    assert "No ground truth" in report["message"]


def test_drift_report_compares_two_dataset_versions(ml_root):
    rng = np.random.default_rng(6)
    for side, shift in (("reference", 0.0), ("current", 1.0)):
        folder = ml_root / f"processing/input/{side}"
        folder.mkdir(parents=True)
        frame(rng, 2000, shift=shift).to_csv(folder / "data.csv", index=False)
    assert drift_report.main(["--target", "label"]) == 0
    report = json.loads((ml_root / "processing/output/report/drift.json").read_text())
    assert report["record_count"] == 2000
    assert {name for name, d in report["drift"].items() if d["drifted"]} == {"income"}
    assert "label" not in report["drift"]


def test_drift_report_compares_a_version_with_a_capture_window(ml_root):
    rng = np.random.default_rng(7)
    folder = ml_root / "processing/input/reference"
    folder.mkdir(parents=True)
    frame(rng, 2000).drop(columns=["label"]).to_csv(folder / "data.csv", index=False)
    folder = ml_root / "processing/input/current"
    (ml_root / "processing/input").mkdir(exist_ok=True)
    write_capture(ml_root, frame(rng, 500)[["age", "income", "city"]])
    (ml_root / "processing/input/capture").rename(folder)
    assert drift_report.main(["--current-format", "capture"]) == 0
    report = json.loads((ml_root / "processing/output/report/drift.json").read_text())
    assert report["record_count"] == 500
    assert not any(d["drifted"] for d in report["drift"].values())
