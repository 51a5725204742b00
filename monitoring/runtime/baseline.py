"""The baselining job: ``statistics.json`` and suggested ``constraints.json`` of a dataset.

    python -m monitoring.runtime.baseline [--format csv] [--read-options JSON] [--target COL]

Reads ``processing/input/data/`` (a dataset version's files) and writes
``processing/output/baseline/statistics.json`` and ``constraints.json``; the target column is
not a feature. Prints ``records=<n>`` after each chunk.
"""

from __future__ import annotations

import argparse
import sys
import time

from datasets.readers import DEFAULT_CHUNK_ROWS, iter_frames
from monitoring.engine.constraints import suggest_constraints
from monitoring.engine.statistics import dataset_statistics
from monitoring.runtime import (
    JobError,
    config_file,
    json_argument,
    ml_root,
    progress_printer,
    run_main,
    write_json,
)

INPUT = "processing/input/data"
OUTPUT = "processing/output/baseline"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m monitoring.runtime.baseline", description=__doc__)
    parser.add_argument("--format", default="csv", help="csv, tsv, parquet, jsonl or xlsx")
    parser.add_argument("--read-options", default="{}", help="JSON: delimiter, header, encoding, ...")
    parser.add_argument("--target", default="", help="the target column, left out of the features")
    parser.add_argument("--config", default="", help="a JSON file with read_options, target_column")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    root = ml_root()
    config = config_file(args.config)
    read_options = config.get("read_options") or json_argument(args.read_options, "read-options")
    target = config.get("target_column") or args.target
    source = root / INPUT
    if not source.exists() or not any(path.is_file() for path in source.rglob("*")):
        raise JobError(f"No data found at {source}")
    started = time.perf_counter()
    print(
        f"baselining {args.format} data at {source}" + (f", target {target!r}" if target else ""), flush=True
    )
    statistics = dataset_statistics(
        iter_frames(source, args.format, read_options, chunk_rows=args.chunk_rows),
        exclude=[target] if target else (),
        chunk_update=progress_printer(),
    )
    if not statistics["features"]:
        raise JobError("The data has no feature columns to baseline.")
    constraints = suggest_constraints(statistics)
    output = root / OUTPUT
    write_json(output, "statistics.json", statistics)
    write_json(output, "constraints.json", constraints)
    print(
        f"done records={statistics['dataset']['item_count']} features={len(statistics['features'])} "
        f"seconds={time.perf_counter() - started:.2f}",
        flush=True,
    )
    return {"statistics": statistics, "constraints": constraints}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda: run(args), "Baselining")


if __name__ == "__main__":
    sys.exit(main())
