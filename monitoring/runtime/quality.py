"""A model quality execution: captured predictions merged with ground-truth labels.

    python -m monitoring.runtime.quality --start ISO --end ISO --problem-type BinaryClassification \
        [--config processing/input/config/config.json]

Reads capture files (with outputs) under ``processing/input/capture/`` and labels under
``processing/input/ground_truth/*.jsonl`` (lines ``{"inference_id", "label"}``, or SageMaker's
``{"groundTruthData": {"data"}, "eventMetadata": {"eventId"}}``), matched by inference id, else
event id. Config keys: ``thresholds`` (``{"accuracy": {"threshold", "comparison_operator"}}``),
``positive_label``, ``probability_threshold`` (for endpoints that answer with a score).
Writes ``processing/output/report/metrics.json`` and ``constraint_violations.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from monitoring.engine.capture import CaptureStats, capture_frames, capture_inputs
from monitoring.engine.quality import (
    BINARY,
    REGRESSION,
    check_quality,
    normalize_problem_type,
    quality_metrics,
)
from monitoring.runtime import JobError, config_file, ml_root, parse_moment, run_main, write_json

CAPTURE = "processing/input/capture"
GROUND_TRUTH = "processing/input/ground_truth"
CONFIG = "processing/input/config/config.json"
OUTPUT = "processing/output/report"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m monitoring.runtime.quality", description=__doc__)
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument(
        "--problem-type", required=True, help="BinaryClassification, MulticlassClassification, Regression"
    )
    parser.add_argument("--config", default=CONFIG)
    return parser.parse_args(argv)


def read_labels(folder: Path) -> dict[str, object]:
    """Ground truth by id (a later label for the same id wins: a correction)."""
    labels: dict[str, object] = {}
    if not folder.exists():
        return labels
    for path in sorted(folder.rglob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                    if "groundTruthData" in value:
                        key = value["eventMetadata"].get("inferenceId") or value["eventMetadata"]["eventId"]
                        label = value["groundTruthData"]["data"]
                    else:
                        key = value.get("inference_id") or value.get("event_id")
                        label = value["label"]
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                if key is not None and label is not None:
                    labels[str(key)] = label
    return labels


def _as_number(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers if numbers.notna().all() else values.astype(str)


def run(args: argparse.Namespace) -> dict:
    root = ml_root()
    start, end = parse_moment(args.start, "start"), parse_moment(args.end, "end")
    try:
        kind = normalize_problem_type(args.problem_type)
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    config = config_file(args.config)
    output = root / OUTPUT
    started = time.perf_counter()
    labels = read_labels(root / GROUND_TRUTH)
    files = capture_inputs(root / CAPTURE)
    stats = CaptureStats()
    matched_parts = []
    for frame in capture_frames(files, start=start, end=end, with_output=True, stats=stats):
        keys = frame["__inference_id"].where(frame["__inference_id"].notna(), frame["__event_id"]).astype(str)
        label = keys.map(labels)
        found = label.notna() & frame["__prediction"].notna()
        matched_parts.append(
            pd.DataFrame(
                {
                    "label": label[found],
                    "prediction": frame["__prediction"][found],
                    "score": frame["__score"][found],
                }
            )
        )
        print(f"records={stats.records}", flush=True)
    matched = pd.concat(matched_parts, ignore_index=True) if matched_parts else pd.DataFrame()
    if matched.empty:
        message = (
            f"No captured data between {args.start} and {args.end}"
            if not stats.records
            else f"No ground truth labels match the {stats.records} captured records"
        )
        report = {"record_count": stats.records, "matched": 0, "metrics": {}, "message": message}
        write_json(output, "metrics.json", report)
        write_json(output, "constraint_violations.json", {"violations": []})
        print(message, flush=True)
        return report

    truth = _as_number(matched["label"])
    predicted = _as_number(matched["prediction"])
    scores = matched["score"] if matched["score"].notna().all() else None
    if kind == REGRESSION:
        truth, predicted = truth.astype(float), predicted.astype(float)
    elif kind == BINARY and predicted.dtype.kind == "f" and not np.isin(predicted, truth.unique()).all():
        # The endpoint answered with a probability: that is the score, the label its threshold.
        scores = predicted
        positive = config.get("positive_label", sorted(truth.unique().tolist())[-1])
        negative = next((value for value in sorted(truth.unique().tolist()) if value != positive), 0)
        limit = float(config.get("probability_threshold", 0.5))
        predicted = pd.Series(np.where(predicted >= limit, positive, negative))
    if truth.dtype.kind in "iuf" and predicted.dtype == object:
        truth = truth.astype(str)
    if predicted.dtype.kind in "iuf" and truth.dtype == object:
        predicted = predicted.astype(str)
    try:
        metrics = quality_metrics(
            kind,
            truth.to_numpy(),
            predicted.to_numpy(),
            None if scores is None else scores.to_numpy(),
            positive_label=config.get("positive_label"),
        )
        violations = check_quality(metrics, config.get("thresholds") or {})
    except ValueError as exc:
        raise JobError(f"The quality metrics could not be computed: {exc}") from exc
    report = {
        "record_count": stats.records,
        "matched": len(matched),
        "metrics": metrics,
        "message": f"{len(matched)} of {stats.rows} predictions matched a label; "
        f"{len(violations)} violations.",
    }
    write_json(output, "metrics.json", report)
    write_json(output, "constraint_violations.json", {"violations": violations})
    print(f"done matched={len(matched)} seconds={time.perf_counter() - started:.2f}", flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda: run(args), "The model quality execution")


if __name__ == "__main__":
    sys.exit(main())
