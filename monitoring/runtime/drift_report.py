"""An ad-hoc drift report: a reference dataset against current data, without a schedule.

    python -m monitoring.runtime.drift_report [--reference-format csv] [--current-format csv|capture] \
        [--start ISO --end ISO] [--config processing/input/config/config.json]

Reference data under ``processing/input/reference/`` (a dataset version's files); current data
under ``processing/input/current/`` (another version's files, or capture files). Writes
``processing/output/report/drift.json``, ``constraint_violations.json`` and the two sides'
``reference_statistics.json`` / ``statistics.json``. Config keys: ``drift_tests``,
``reference_read_options``, ``current_read_options``, ``target_column``.
"""

from __future__ import annotations

import argparse
import sys
import time

from datasets.readers import iter_frames
from monitoring.engine.capture import CaptureStats, capture_frames, capture_inputs
from monitoring.engine.constraints import check_statistics, suggest_constraints
from monitoring.engine.statistics import dataset_statistics
from monitoring.runtime import (
    JobError,
    config_file,
    json_argument,
    ml_root,
    parse_moment,
    progress_printer,
    run_main,
    write_json,
)
from monitoring.runtime.execute import drift_message

REFERENCE = "processing/input/reference"
CURRENT = "processing/input/current"
CONFIG = "processing/input/config/config.json"
OUTPUT = "processing/output/report"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m monitoring.runtime.drift_report", description=__doc__)
    parser.add_argument("--reference-format", default="csv")
    parser.add_argument("--current-format", default="csv", help="a dataset format, or capture")
    parser.add_argument("--read-options", default="{}", help="JSON read options for both sides")
    parser.add_argument("--target", default="", help="a column left out of the comparison")
    parser.add_argument("--start", default="", help="capture window start (ISO 8601)")
    parser.add_argument("--end", default="", help="capture window end (ISO 8601)")
    parser.add_argument("--config", default=CONFIG)
    return parser.parse_args(argv)


def _has_files(path) -> bool:
    return path.exists() and any(item.is_file() for item in path.rglob("*"))


def run(args: argparse.Namespace) -> dict:
    root = ml_root()
    config = config_file(args.config)
    options = json_argument(args.read_options, "read-options")
    target = config.get("target_column") or args.target
    exclude = [target] if target else []
    reference_dir, current_dir = root / REFERENCE, root / CURRENT
    if not _has_files(reference_dir):
        raise JobError(f"No reference data found at {reference_dir}")
    started = time.perf_counter()
    progress = progress_printer()
    reference = dataset_statistics(
        iter_frames(reference_dir, args.reference_format, config.get("reference_read_options") or options),
        exclude=exclude,
        chunk_update=progress,
    )
    columns = [feature["name"] for feature in reference["features"]]
    record_count = 0
    if args.current_format == "capture":
        start = parse_moment(args.start, "start") if args.start else None
        end = parse_moment(args.end, "end") if args.end else None
        stats = CaptureStats()
        files = capture_inputs(current_dir)
        current = dataset_statistics(
            capture_frames(files, start=start, end=end, columns=columns, stats=stats),
            exclude=exclude,
            chunk_update=progress,
        )
        record_count = stats.records
    else:
        if not _has_files(current_dir):
            raise JobError(f"No current data found at {current_dir}")
        current = dataset_statistics(
            iter_frames(current_dir, args.current_format, config.get("current_read_options") or options),
            exclude=exclude,
            chunk_update=progress,
        )
        record_count = current["dataset"]["item_count"]
    output = root / OUTPUT
    write_json(output, "reference_statistics.json", reference)
    write_json(output, "statistics.json", current)
    if not record_count:
        message = "No current data to compare" + (
            f" between {args.start} and {args.end}" if args.current_format == "capture" else ""
        )
        report = {
            "record_count": 0,
            "reference_count": reference["dataset"]["item_count"],
            "drift": {},
            "message": message,
        }
        write_json(output, "constraint_violations.json", {"violations": []})
        write_json(output, "drift.json", report)
        print(message, flush=True)
        return report
    result = check_statistics(current, reference, suggest_constraints(reference), config.get("drift_tests"))
    report = {
        "record_count": record_count,
        "reference_count": reference["dataset"]["item_count"],
        "drift": result.drift,
        "message": drift_message(record_count, result.drift, result.violations),
    }
    write_json(output, "constraint_violations.json", {"violations": result.violations})
    write_json(output, "drift.json", report)
    print(f"done records={record_count} seconds={time.perf_counter() - started:.2f}", flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda: run(args), "The drift report")


if __name__ == "__main__":
    sys.exit(main())
