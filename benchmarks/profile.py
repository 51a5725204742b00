"""Profiling speed and memory: Studio's profile engine beside ydata-profiling on the same file.

A seeded CSV of N rows x 20 columns (12 numeric: normal with missing values, log-normal, uniform,
counts, an id, ages, a correlated score; 8 others: cities, segments, products, user ids, a
boolean, dates, free text, a yes/no label) is written under ``benchmarks/.data/`` (reused when it
exists). Then, each in its own subprocess, measured the same way:

* Studio: ``datasets.profiling.profile_file`` on the CSV (read in chunks, one pass);
* ydata-profiling in minimal mode: ``pandas.read_csv`` + ``ProfileReport(minimal=True).to_json()``,
  in its own virtual environment (``benchmarks/.venv-ydata``, created with ``python3.11 -m venv``
  and ``pip install ydata-profiling`` on first use: its pins clash with Studio's pandas).

Each command runs under a small wrapper process that waits for it and reads
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the command's peak RSS. Wall time is the
wrapper's clock around the command (interpreter start and imports included); ``compute_s`` is the
command's own clock around reading and profiling.

Target: Studio at least 5x faster than ydata-profiling, with a peak under 1 GB.

    .venv/bin/python benchmarks/profile.py [--quick] [--rows N] [--target label] [--skip-ydata]

``--quick`` profiles 100,000 rows; the default is 1,000,000. The last line is
``RESULT profile studio_s=<x.xx> ydata_s=<x.xx> speedup=<x.x> peak_mb=<int>`` (Studio's peak).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchlib import measured_run

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "benchmarks" / ".data"
YDATA_VENV = ROOT / "benchmarks" / ".venv-ydata"
SEED = 20260101
CHUNK_ROWS = 100_000
TARGET_SPEEDUP = 5.0
TARGET_PEAK_MB = 1024
RUN_TIMEOUT_SECONDS = 3600

STUDIO_CODE = """
import json, sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from datasets.profiling import profile_file
report = profile_file(sys.argv[2], "csv", {"delimiter": ",", "header": True}, target_column=sys.argv[3])
print(json.dumps({
    "compute_s": time.perf_counter() - started,
    "rows": report["dataset"]["rows"],
    "columns": report["dataset"]["columns"],
    "warnings": len(report["warnings"]),
    "report_bytes": len(json.dumps(report)),
}))
"""

YDATA_CODE = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
started = time.perf_counter()
import pandas as pd
from ydata_profiling import ProfileReport
frame = pd.read_csv(sys.argv[1])
report = ProfileReport(frame, minimal=True, progress_bar=False, title="benchmark")
text = report.to_json()
print(json.dumps({
    "compute_s": time.perf_counter() - started,
    "rows": len(frame),
    "columns": frame.shape[1],
    "report_bytes": len(text),
}))
"""


def generate(path: Path, rows: int) -> None:
    """The benchmark's CSV, written chunk by chunk from a seeded generator (same file every time)."""
    import numpy as np
    import pandas as pd

    cities = np.array([f"city_{i}" for i in range(50)])
    products = np.array([f"p{i:04d}" for i in range(2000)])
    comments = np.array(["ok", "great product", "would not buy again", "meh", ""])
    partial = path.with_suffix(".partial")
    seeds = np.random.SeedSequence(SEED).spawn((rows + CHUNK_ROWS - 1) // CHUNK_ROWS)
    with open(partial, "w", encoding="utf-8") as handle:
        for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
            n = min(CHUNK_ROWS, rows - start)
            rng = np.random.default_rng(seeds[index])
            columns = {}
            for i in range(6):
                values = rng.normal(i * 10, 1 + i, n)
                values[rng.random(n) < 0.02 * i] = np.nan
                columns[f"num_{i}"] = values.round(4)
            columns["lognormal"] = rng.lognormal(3, 1, n).round(3)
            columns["uniform"] = rng.uniform(-1, 1, n).round(5)
            columns["count"] = rng.poisson(3, n)
            columns["row_id"] = np.arange(start, start + n)
            columns["age"] = rng.integers(18, 90, n)
            columns["score"] = (np.nan_to_num(columns["num_0"]) * 2 + rng.normal(0, 1, n)).round(4)
            columns["city"] = rng.choice(cities, n)
            columns["segment"] = rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05])
            columns["product"] = rng.choice(products, n)
            columns["user"] = np.char.add("u", rng.integers(0, 300_000, n).astype(str))
            columns["flag"] = rng.random(n) < 0.3
            days = np.datetime64("2024-01-01") + rng.integers(0, 365, n).astype("timedelta64[D]")
            columns["day"] = days.astype(str)
            columns["comment"] = rng.choice(comments, n)
            columns["label"] = rng.choice(["yes", "no"], n, p=[0.2, 0.8])
            pd.DataFrame(columns).to_csv(handle, index=False, header=index == 0)
    partial.replace(path)


def measure(command: list[str], env: dict[str, str]) -> dict:
    """Run ``command`` measured (wall time, peak RSS, output) and read its last line as JSON."""
    measured = measured_run(command, env, timeout=RUN_TIMEOUT_SECONDS)
    if measured["rc"] != 0:
        raise SystemExit(f"the profiled command failed:\n{measured['stderr'][-3000:]}")
    measured["result"] = json.loads(measured["stdout"].strip().splitlines()[-1])
    return measured


def ydata_python(explicit: str) -> Path:
    """A Python with ydata-profiling: the one given, or benchmarks/.venv-ydata (made on first use)."""
    if explicit:
        return Path(explicit)
    python = YDATA_VENV / "bin" / "python"
    check = [str(python), "-c", "import ydata_profiling"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    base = shutil.which("python3.11")
    if base is None:
        raise SystemExit("ydata-profiling needs python3.11 on PATH to build benchmarks/.venv-ydata")
    print(f"creating {YDATA_VENV.relative_to(ROOT)} and installing ydata-profiling (once; a few minutes)")
    subprocess.run([base, "-m", "venv", str(YDATA_VENV)], check=True)
    install = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "ydata-profiling",
    ]
    if subprocess.run(install, check=False).returncode != 0:
        raise SystemExit("pip install ydata-profiling failed (PyPI unreachable?); rerun with --skip-ydata")
    return python


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    parser.add_argument("--rows", type=int, default=0, help="rows to generate (overrides --quick)")
    parser.add_argument("--target", default="", help="also run Studio's target analysis (e.g. label)")
    parser.add_argument("--skip-ydata", action="store_true", help="Studio only (no comparison)")
    parser.add_argument("--ydata-python", default="", help="a Python that has ydata-profiling")
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"profile-{rows}x20-seed{SEED}.csv"
    if not path.exists():
        started = time.perf_counter()
        generate(path, rows)
        print(f"generated {path.relative_to(ROOT)} in {time.perf_counter() - started:.1f} s")
    size_mb = path.stat().st_size / 1024**2
    print(f"data: {rows:,} rows x 20 columns, {size_mb:.0f} MB CSV ({path.relative_to(ROOT)})")

    env = {key: value for key, value in os.environ.items() if not key.startswith(("STUDIO_", "DJANGO_"))}
    env.update({"DO_NOT_TRACK": "1", "YDATA_PROFILING_NO_ANALYTICS": "True", "MPLBACKEND": "Agg"})
    cpus = len(os.sched_getaffinity(0))
    print(f"machine: {cpus} CPU(s); each tool runs alone in its own process")

    studio = measure([sys.executable, "-c", STUDIO_CODE, str(ROOT), str(path), args.target], env)
    ydata = None
    if not args.skip_ydata:
        python = ydata_python(args.ydata_python)
        version = subprocess.run(
            [str(python), "-c", "import ydata_profiling; print(ydata_profiling.__version__)"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        ).stdout.strip()
        shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
        print(f"ydata-profiling {version} ({shown})")
        ydata = measure([str(python), "-c", YDATA_CODE, str(path)], env)

    print()
    print(f"{'':<28}{'Studio':>14}{'ydata (minimal)':>18}")
    other = ydata or {"result": {}}
    kb = other["result"].get("report_bytes")
    rows_out = [
        ("wall time (s)", studio["wall_s"], other.get("wall_s"), "{:.2f}"),
        ("compute time (s)", studio["result"]["compute_s"], other["result"].get("compute_s"), "{:.2f}"),
        ("peak RSS (MB)", studio["peak_mb"], other.get("peak_mb"), "{:.0f}"),
        ("rows profiled", studio["result"]["rows"], other["result"].get("rows"), "{:,}"),
        ("report size (KB)", studio["result"]["report_bytes"] / 1024, kb / 1024 if kb else None, "{:.0f}"),
    ]  # fmt: skip
    for label, ours, theirs, fmt in rows_out:
        print(f"{label:<28}{fmt.format(ours):>14}{fmt.format(theirs) if theirs is not None else '-':>18}")
    if args.target:
        print(
            f"(Studio also ran the target analysis on {args.target!r}: leakage checks and a baseline model)"
        )

    speedup = ydata["wall_s"] / studio["wall_s"] if ydata else float("nan")
    peak = studio["peak_mb"]
    print()
    if ydata:
        verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
        print(
            f"speed: Studio is {speedup:.1f}x faster than ydata-profiling "
            f"(target >= {TARGET_SPEEDUP:.0f}x): {verdict}"
        )
    print(f"memory: Studio peaked at {peak:.0f} MB (target < {TARGET_PEAK_MB} MB): "
          f"{'met' if peak < TARGET_PEAK_MB else 'NOT met'}")  # fmt: skip
    ydata_s = f"{ydata['wall_s']:.2f}" if ydata else "nan"
    print(
        f"RESULT profile studio_s={studio['wall_s']:.2f} ydata_s={ydata_s} "
        f"speedup={speedup:.1f} peak_mb={peak:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
