"""A monitoring execution (data quality): captured traffic of a window against a baseline.

    python -m monitoring.runtime.execute --start ISO --end ISO [--config processing/input/config/config.json]

Reads the capture files (``*.jsonl``, recursively) under ``processing/input/capture/``, the
baseline's ``processing/input/baseline/statistics.json`` and ``constraints.json``, and the
config (``drift_tests``: tests and thresholds; ``monitoring_config``: overrides of the
constraints'). Writes ``processing/output/report/statistics.json``,
``constraint_violations.json`` and ``drift.json``. A window without captured records is a
report that says so (exit 0), not a failure.
"""

from __future__ import annotations

import argparse
import sys
import time

from monitoring.engine.capture import CaptureStats, capture_frames, capture_inputs
from monitoring.engine.constraints import check_statistics
from monitoring.engine.statistics import dataset_statistics
from monitoring.runtime import (
    JobError,
    config_file,
    ml_root,
    parse_moment,
    progress_printer,
    read_json_file,
    run_main,
    write_json,
)

CAPTURE = "processing/input/capture"
BASELINE = "processing/input/baseline"
CONFIG = "processing/input/config/config.json"
OUTPUT = "processing/output/report"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m monitoring.runtime.execute", description=__doc__)
    parser.add_argument("--start", required=True, help="the window's start (ISO 8601, inclusive)")
    parser.add_argument("--end", required=True, help="the window's end (ISO 8601, exclusive)")
    parser.add_argument("--config", default=CONFIG, help="a JSON file: drift_tests, monitoring_config")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    return parser.parse_args(argv)


def drift_message(record_count: int, drift: dict, violations: list[dict]) -> str:
    drifted = sorted(name for name, item in drift.items() if item.get("drifted"))
    parts = [f"{record_count} records checked"]
    if drifted:
        parts.append(f"{len(drifted)} of {len(drift)} features drifted: {', '.join(drifted)}")
    else:
        parts.append(f"no drift in {len(drift)} features")
    parts.append(f"{len(violations)} violations" if violations else "no violations")
    return "; ".join(parts) + "."


def with_overrides(constraints: dict, config: dict) -> dict:
    overrides = config.get("monitoring_config") or {}
    if not overrides:
        return constraints
    merged = dict(constraints)
    monitoring = dict(constraints.get("monitoring_config") or {})
    for key, value in overrides.items():
        if key == "distribution_constraints" and isinstance(value, dict):
            monitoring[key] = {**(monitoring.get(key) or {}), **value}
        else:
            monitoring[key] = value
    merged["monitoring_config"] = monitoring
    return merged


def run(args: argparse.Namespace) -> dict:
    root = ml_root()
    start, end = parse_moment(args.start, "start"), parse_moment(args.end, "end")
    if end <= start:
        raise JobError(f"The window is empty: --end {args.end} is not after --start {args.start}")
    config = config_file(args.config)
    baseline = read_json_file(root / BASELINE / "statistics.json", "baseline statistics")
    constraints = with_overrides(
        read_json_file(root / BASELINE / "constraints.json", "baseline constraints"), config
    )
    columns = [feature["name"] for feature in baseline.get("features", [])]
    files = capture_inputs(root / CAPTURE)
    output = root / OUTPUT
    started = time.perf_counter()
    print(f"checking {len(files)} capture files from {start.isoformat()} to {end.isoformat()}", flush=True)
    stats = CaptureStats()
    current = dataset_statistics(
        capture_frames(files, start=start, end=end, columns=columns, chunk_rows=args.chunk_rows, stats=stats),
        chunk_update=progress_printer(),
    )
    if stats.bad_lines:
        print(f"skipped {stats.bad_lines} capture lines that did not parse", flush=True)
    if not stats.records:
        message = f"No captured data between {args.start} and {args.end}"
        report = {"record_count": 0, "drift": {}, "message": message, "bad_lines": stats.bad_lines}
        write_json(output, "statistics.json", current)
        write_json(output, "constraint_violations.json", {"violations": []})
        write_json(output, "drift.json", report)
        print(message, flush=True)
        return report
    result = check_statistics(current, baseline, constraints, config.get("drift_tests"))
    report = {
        "record_count": stats.records,
        "row_count": stats.rows,
        "bad_lines": stats.bad_lines,
        "drift": result.drift,
        "message": drift_message(stats.records, result.drift, result.violations),
    }
    write_json(output, "statistics.json", current)
    write_json(output, "constraint_violations.json", {"violations": result.violations})
    write_json(output, "drift.json", report)
    print(
        f"done records={stats.records} violations={len(result.violations)} "
        f"seconds={time.perf_counter() - started:.2f}",
        flush=True,
    )
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda: run(args), "The monitoring execution")


if __name__ == "__main__":
    sys.exit(main())
