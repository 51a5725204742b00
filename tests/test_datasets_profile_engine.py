"""The profile engine (datasets/profiling/), checked against pandas on small generated frames."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from datasets.profiling import ProfileError, ProfileOptions, profile_file, profile_frames

ROWS = 600


def chunks(frame: pd.DataFrame, size: int):
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def by_name(report: dict) -> dict[str, dict]:
    return {column["name"]: column for column in report["columns"]}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    data = pd.DataFrame(
        {
            "height": rng.normal(170, 10, ROWS),
            "count": rng.integers(0, 6, ROWS),
            "income": rng.lognormal(10, 1, ROWS),
            "city": rng.choice(["paris", "lyon", "nice", "brest"], ROWS, p=[0.4, 0.3, 0.2, 0.1]),
            "member": rng.random(ROWS) < 0.25,
        }
    )
    data.loc[::7, "height"] = np.nan
    data.loc[::11, "city"] = None
    data.loc[3, "income"] = 1e7  # an outlier
    # 13 exact copies of earlier rows: duplicates across chunk boundaries too.
    return pd.concat(
        [data, data.iloc[[1, 5, 9, 40, 41, 42, 100, 200, 300, 301, 302, 303, 599]]], ignore_index=True
    )


@pytest.fixture(scope="module")
def whole(frame) -> dict:
    return profile_frames([frame])


@pytest.fixture(scope="module")
def chunked(frame) -> dict:
    return profile_frames(chunks(frame, 7))


def test_counts_missing_and_distinct_are_exact(frame, whole):
    columns = by_name(whole)
    for name in frame.columns:
        assert columns[name]["count"] == frame[name].notna().sum(), name
        assert columns[name]["missing"] == frame[name].isna().sum(), name
        assert columns[name]["distinct"] == frame[name].nunique(), name
        assert columns[name]["distinct_exact"] is True
    assert whole["dataset"]["rows"] == len(frame)
    assert whole["dataset"]["missing_cells"] == int(frame.isna().sum().sum())


def test_moments_match_pandas(frame, whole):
    columns = by_name(whole)
    for name in ("height", "count", "income"):
        series = frame[name]
        assert columns[name]["min"] == series.min()
        assert columns[name]["max"] == series.max()
        assert columns[name]["mean"] == pytest.approx(series.mean(), rel=1e-12)
        assert columns[name]["std"] == pytest.approx(series.std(), rel=1e-9)
    assert columns["count"]["type"] == "integer"
    assert columns["height"]["type"] == "float"
    assert columns["member"]["kind"] == "boolean"
    assert columns["member"]["mean"] == pytest.approx(frame["member"].mean())


def test_quantiles_are_exact_when_the_sample_holds_every_row(frame, whole):
    height = by_name(whole)["height"]
    assert height["quantiles_exact"] is True
    expected = frame["height"].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).tolist()
    assert list(height["quantiles"].values()) == pytest.approx(expected)


def test_quantiles_from_a_bounded_sample_are_close(frame):
    report = profile_frames(chunks(frame, 50), options=ProfileOptions(sample_rows=300))
    height = by_name(report)["height"]
    assert report["sample"]["rows"] == 300
    assert height["quantiles_exact"] is False
    spread = frame["height"].std()
    for key, q in (("p25", 0.25), ("p50", 0.5), ("p75", 0.75)):
        assert abs(height["quantiles"][key] - frame["height"].quantile(q)) < 0.25 * spread, key


def test_correlations_equal_dataframe_corr(frame, whole):
    correlations = whole["correlations"]
    expected = frame[correlations["columns"]].corr()
    assert correlations["columns"] == ["height", "count", "income"]
    np.testing.assert_allclose(np.array(correlations["matrix"], dtype=float), expected.to_numpy(), atol=1e-10)


def test_duplicate_rows_are_counted(frame, whole, chunked):
    assert whole["duplicates"]["rows"] == frame.duplicated().sum() == 13
    assert chunked["duplicates"]["rows"] == 13
    assert whole["duplicates"]["exact"] is True


def test_top_values_and_categorical_histogram(frame, whole):
    city = by_name(whole)["city"]
    expected = frame["city"].value_counts()
    assert [item["value"] for item in city["top_values"]] == expected.index.tolist()
    assert [item["count"] for item in city["top_values"]] == expected.tolist()
    assert city["top_values_exact"] is True
    assert city["histogram"]["kind"] == "values"
    assert city["length"]["max"] == 5


def test_numeric_histograms_count_every_value(frame, whole):
    columns = by_name(whole)
    height = columns["height"]["histogram"]
    assert height["kind"] == "bins"
    assert sum(height["counts"]) == frame["height"].notna().sum()
    assert height["edges"][0] <= frame["height"].min()
    assert height["edges"][-1] > frame["height"].max()
    # Few distinct integers: a bar per value.
    count = columns["count"]["histogram"]
    assert count["kind"] == "values"
    assert dict(zip(count["values"], count["counts"], strict=True)) == frame["count"].value_counts().to_dict()


def test_chunk_boundaries_do_not_change_the_results(whole, chunked):
    """Seven-row chunks give the report one chunk gives: everything exact is equal, sums to rounding."""
    assert chunked["engine"]["chunks"] > 80
    for one, many in zip(whole["columns"], chunked["columns"], strict=True):
        for key, value in one.items():
            if key in ("mean", "std") and value is not None:
                assert many[key] == pytest.approx(value, rel=1e-9), (one["name"], key)
            elif key == "length":
                assert many[key] == pytest.approx(value), one["name"]
            else:
                assert many[key] == value, (one["name"], key)
    np.testing.assert_allclose(
        np.array(chunked["correlations"]["matrix"], dtype=float),
        np.array(whole["correlations"]["matrix"], dtype=float),
        atol=1e-12,
    )
    assert chunked["duplicates"]["rows"] == whole["duplicates"]["rows"]
    assert chunked["warnings"] == whole["warnings"]


def test_outliers_are_found_with_the_iqr_rule(frame, whole):
    income = by_name(whole)["income"]["outliers"]
    q1, q3 = frame["income"].quantile([0.25, 0.75])
    upper = q3 + 1.5 * (q3 - q1)
    lower = q1 - 1.5 * (q3 - q1)
    expected = ((frame["income"] > upper) | (frame["income"] < lower)).sum()
    assert income["method"] == "iqr"
    assert income["sample_count"] == expected
    assert income["examples"][0] == 1e7  # the most extreme first


def test_distinct_beyond_the_cap_is_an_estimate():
    values = pd.DataFrame({"id": np.arange(5000)})
    report = profile_frames(chunks(values, 1000), options=ProfileOptions(distinct_cap=1024))
    column = report["columns"][0]
    assert column["distinct_exact"] is False
    assert column["distinct"] == pytest.approx(5000, rel=0.15)


def test_warnings_name_missing_constant_high_cardinality_and_duplicates():
    rng = np.random.default_rng(3)
    rows = 400
    frame = pd.DataFrame(
        {
            "mostly_empty": np.where(rng.random(rows) < 0.7, np.nan, 1.0),
            "constant": ["same"] * rows,
            "user_id": [f"user-{i}" for i in range(rows)],
            "x": rng.normal(size=rows),
        }
    )
    frame = pd.concat([frame, frame.iloc[:10]], ignore_index=True)
    report = profile_frames([frame])
    kinds = {(w["type"], w["column"]) for w in report["warnings"]}
    assert ("high_missing", "mostly_empty") in kinds
    assert ("constant", "constant") in kinds
    assert ("high_cardinality", "user_id") in kinds
    assert ("duplicates", None) in kinds
    assert report["warnings"][0]["severity"] == "high"  # most severe first


def test_empty_columns_and_a_file_without_rows_still_make_a_report(tmp_path):
    report = profile_frames([pd.DataFrame({"nothing": [np.nan] * 5, "same": [1] * 5})])
    assert [(w["type"], w["column"]) for w in report["warnings"][:2]] == [
        ("all_missing", "nothing"),
        ("constant", "same"),
    ]
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    report = profile_file(header_only, "csv", target_column="b")
    assert (report["dataset"]["rows"], report["dataset"]["columns"]) == (0, 2)
    assert report["warnings"][0]["type"] == "empty"
    assert "Too few sample rows" in report["target"]["note"]


def test_a_schema_types_columns_and_counts_invalid_values():
    frame = pd.DataFrame(
        {
            "amount": ["1.5", "2", "oops", None, "4"],
            "when": ["2024-01-01", "2024-02-01", "not a date", "2024-03-01", None],
            "ok": ["yes", "no", "YES", "maybe", "true"],
            "zip": [7501, 7502, 7501, 7503, 7504],
        }
    )
    schema = [
        {"name": "amount", "type": "float"},
        {"name": "when", "type": "datetime"},
        {"name": "ok", "type": "boolean"},
        {"name": "zip", "type": "categorical"},
    ]
    report = profile_frames([frame], schema=schema)
    columns = by_name(report)
    assert (columns["amount"]["invalid"], columns["amount"]["count"]) == (1, 3)
    assert columns["amount"]["mean"] == pytest.approx(2.5)
    assert columns["when"]["invalid"] == 1
    assert columns["when"]["min"].startswith("2024-01-01")
    assert columns["ok"]["invalid"] == 1
    assert columns["ok"]["mean"] == pytest.approx(0.75)
    assert columns["zip"]["kind"] == "categorical"
    assert columns["zip"]["top_values"][0]["value"] == "7501"
    assert ("invalid_values", "amount") in {(w["type"], w["column"]) for w in report["warnings"]}


# --- target analysis ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def labelled() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = 1500
    signal = rng.normal(size=rows)
    label = np.where(signal + rng.normal(0, 0.7, rows) > 0, "churn", "stay")
    return pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=rows),
            "plan": rng.choice(["basic", "pro"], rows),
            "label_copy": label,  # the answer itself, under another name
            "label": label,
        }
    )


def test_a_copy_of_the_target_is_flagged_as_leakage_and_a_noisy_feature_is_not(labelled):
    report = profile_frames(chunks(labelled, 400), target_column="label")
    target = report["target"]
    scores = {item["column"]: item for item in target["leakage"]["features"]}
    assert target["problem_type"] == "classification"
    assert scores["label_copy"]["leaks"] is True
    assert scores["label_copy"]["score"] >= 0.99
    assert scores["noise"]["leaks"] is False
    assert scores["noise"]["score"] < 0.7
    assert scores["signal"]["leaks"] is False
    assert {(w["type"], w["column"]) for w in report["warnings"]} >= {("target_leakage", "label_copy")}


def test_class_balance_and_baseline_model(labelled):
    report = profile_frames([labelled.drop(columns=["label_copy"])], target_column="label")
    target = report["target"]
    expected = labelled["label"].value_counts()
    assert {item["value"]: item["count"] for item in target["classes"]} == expected.to_dict()
    assert sum(item["fraction"] for item in target["classes"]) == pytest.approx(1.0)
    baseline = target["baseline"]
    assert baseline["model"] == "HistGradientBoostingClassifier"
    assert baseline["metric"] == "accuracy"
    assert 0.7 < baseline["score"] <= 1.0
    assert baseline["holdout_rows"] + baseline["train_rows"] == len(labelled)
    importances = {item["column"]: item["importance"] for item in baseline["importances"]}
    assert set(importances) == {"signal", "noise", "plan"}
    assert max(importances, key=importances.get) == "signal"


def test_imbalanced_classes_are_warned_about():
    rng = np.random.default_rng(5)
    rows = 1000
    frame = pd.DataFrame({"x": rng.normal(size=rows), "fraud": (rng.random(rows) < 0.03).astype(int)})
    report = profile_frames([frame], target_column="fraud")
    assert report["target"]["problem_type"] == "classification"
    assert report["target"]["imbalance_ratio"] < 0.1
    assert any(w["type"] == "class_imbalance" for w in report["warnings"])


def test_a_numeric_target_is_a_regression_with_r2_and_its_distribution():
    rng = np.random.default_rng(9)
    rows = 1200
    x = rng.uniform(0, 10, rows)
    frame = pd.DataFrame({"x": x, "other": rng.normal(size=rows), "price": 3 * x + rng.normal(0, 1, rows)})
    frame["price_again"] = frame["price"] * 2 + 1
    target = profile_frames([frame], target_column="price")["target"]
    assert target["problem_type"] == "regression"
    assert target["distribution"]["histogram"]["kind"] == "bins"
    scores = {item["column"]: item for item in target["leakage"]["features"]}
    assert scores["price_again"]["leaks"] is True
    assert scores["other"]["leaks"] is False
    assert target["baseline"]["metric"] == "r2"
    assert target["baseline"]["score"] > 0.95


def test_an_unknown_target_column_is_refused():
    with pytest.raises(ProfileError, match="'nope' is not in the data"):
        profile_frames([pd.DataFrame({"a": [1, 2]})], target_column="nope")


# --- files and JSON -----------------------------------------------------------------------------------


def test_a_csv_file_is_profiled_in_chunks_and_the_report_is_strict_json(tmp_path, frame):
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    report = profile_file(path, "csv", {}, options=ProfileOptions(chunk_rows=64))
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text)["dataset"]["rows"] == len(frame)
    assert report["engine"]["chunks"] == math.ceil(len(frame) / 64)
    assert by_name(report)["height"]["count"] == frame["height"].notna().sum()


def test_parquet_reads_the_same_as_csv(tmp_path, frame):
    frame.to_parquet(tmp_path / "data.parquet")
    frame.to_csv(tmp_path / "data.csv", index=False)
    from_parquet = by_name(profile_file(tmp_path / "data.parquet", "parquet"))
    from_csv = by_name(profile_file(tmp_path / "data.csv", "csv"))
    for name in ("height", "count", "income"):
        assert from_parquet[name]["mean"] == pytest.approx(from_csv[name]["mean"])
        assert from_parquet[name]["distinct"] == from_csv[name]["distinct"]


# --- the job module (run in-process here; the job tests run it as a real subprocess) ------------------


def test_the_job_module_writes_the_report_and_prints_progress(tmp_path, monkeypatch, capsys, frame):
    from datasets.runtime.profile import main

    data = tmp_path / "processing/input/data"
    data.mkdir(parents=True)
    frame.to_csv(data / "part-1.csv", index=False)
    monkeypatch.setenv("STUDIO_ML_ROOT", str(tmp_path))

    code = main(["--format", "csv", "--read-options", '{"delimiter": ","}', "--chunk-rows", "200"])

    assert code == 0
    report = json.loads((tmp_path / "processing/output/report/report.json").read_text())
    assert report["dataset"]["rows"] == len(frame)
    out = capsys.readouterr().out
    assert "rows=200 chunks=1" in out
    assert f"rows={len(frame)} " in out
    assert not (tmp_path / "output/failure").exists()


@pytest.mark.parametrize(
    ("arguments", "content", "reason"),
    [
        (["--format", "csv"], b"", "The data file is empty"),
        (
            ["--format", "csv", "--target", "nope"],
            b"a,b\n1,2\n",
            "The target column 'nope' is not in the data",
        ),
        (["--format", "csv", "--read-options", "{oops"], b"a\n1\n", "--read-options is not valid JSON"),
        (["--format", "jsonl"], b'{"a": 1}\n[1, 2]\n', "line 2: expected a JSON object per line"),
    ],
    ids=["empty", "unknown-target", "bad-options", "bad-jsonl"],
)
def test_the_job_module_explains_bad_input_in_the_failure_file(
    tmp_path, monkeypatch, arguments, content, reason
):
    from datasets.runtime.profile import main

    data = tmp_path / "processing/input/data"
    data.mkdir(parents=True)
    (data / "data.bin").write_bytes(content)
    monkeypatch.setenv("STUDIO_ML_ROOT", str(tmp_path))

    assert main(arguments) == 1
    failure = (tmp_path / "output/failure").read_text()
    assert reason in failure
    assert not (tmp_path / "processing/output/report/report.json").exists()
