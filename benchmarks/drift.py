"""Drift detection speed and memory: one Studio monitoring execution beside Evidently's data-drift
report, on the same captured traffic and the same baseline data.

The data (seeded, written once under ``benchmarks/.data/`` and reused):

* a **baseline** CSV with a header (200,000 rows; quick 50,000) of 20 features: 15 numeric
  (normal, log-normal, uniform, exponential, gamma, beta, Poisson counts, integer ages and ids)
  and 5 categorical (3 to 20 values);
* **captured traffic**: N records (1,000,000; quick 100,000) of the same features, three of them
  shifted (``num_03``: mean + 0.5 sd; ``num_08``: sd x 1.6; ``cat_1``: category frequencies
  reversed), the other 17 drawn as the baseline was. They are written as SageMaker data-capture
  JSON lines by ``endpoints.gateway.capture.capture_line`` (what a Studio endpoint writes: CSV
  input without a header, one record per request by default, a CSV score as the output), spread
  over one hour, 20,000 requests a file, in the ``<endpoint>/<variant>/yyyy/mm/dd/hh/`` layout.

Then, each in its own subprocess, measured the same way:

* **Studio**: the monitoring job's Django-free runtime, in a temporary ``STUDIO_ML_ROOT`` laid out
  as the processing job's: ``python -m monitoring.runtime.baseline`` over
  ``processing/input/data/`` first (timed and shown, not counted), its ``statistics.json`` and
  ``constraints.json`` copied to ``processing/input/baseline/``, the capture files hard-linked to
  ``processing/input/capture/``; then the counted step, ``python -m monitoring.runtime.execute
  --start ... --end ...`` over the hour (reads every capture line, computes the window's
  statistics, checks them against the baseline, writes ``processing/output/report/``). Drifted
  features: its ``baseline_drift_check`` violations.
* **Evidently** (0.7): ``Report([DataDriftPreset()])`` on the reference CSV (``pandas.read_csv``)
  and a current DataFrame parsed from the same capture files in the same process (``json.loads``
  per line, window filter, the CSV bodies joined and read by ``pandas.read_csv``), the snapshot
  serialized as JSON; its default tests (normed Wasserstein distance for numeric columns,
  Jensen-Shannon for categorical ones, threshold 0.1). Evidently runs from a virtual environment
  of its own, ``benchmarks/.venv-evidently``, made on first use with ``python3.11 -m venv`` +
  ``pip install "evidently>=0.7,<0.8" "pandas<3"`` (0.7 does not import with Studio's pandas 3;
  allow a few minutes more for that first run).

Each command runs under a small wrapper process that waits for it and reads
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the command's peak RSS. Wall time is the
wrapper's clock around the command (interpreter start and imports included). Both tools must find
exactly the three shifted features.

Target: Studio at least 5x faster than Evidently, Studio's peak under 1 GB.

    .venv/bin/python benchmarks/drift.py [--quick] [--records N] [--rows-per-request K]

The last line is ``RESULT drift studio_s=<x.xx> evidently_s=<x.xx> speedup=<x.x> peak_mb=<int>``
(wall times of the execution and of Evidently's report; ``peak_mb`` is Studio's).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from benchlib import measured_run

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "benchmarks" / ".data"
EVIDENTLY_VENV = ROOT / "benchmarks" / ".venv-evidently"
EVIDENTLY_REQUIREMENTS = ("evidently>=0.7,<0.8", "pandas<3")
SEED = 20260107
CHUNK_ROWS = 100_000
REQUESTS_PER_FILE = 20_000
ENDPOINT, VARIANT = "drift-bench", "AllTraffic"
WINDOW_START = datetime(2026, 1, 1, 10, tzinfo=UTC)
WINDOW_SECONDS = 3600
NUMERIC = [f"num_{i:02d}" for i in range(15)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
COLUMNS = NUMERIC + CATEGORICAL
SHIFTED = ("num_03", "num_08", "cat_1")
TARGET_SPEEDUP = 5.0
TARGET_PEAK_MB = 1024
RUN_TIMEOUT_SECONDS = 3600
QUIET = {"DO_NOT_TRACK": "1"}

EVIDENTLY_CODE = """
import time
started = time.perf_counter()
import io, json, os, sys, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
imported = time.perf_counter()
capture, reference_path, start, end, spec = sys.argv[1:6]
spec = json.loads(spec)
bodies, requests = [], 0
for folder, _, names in sorted(os.walk(capture)):
    for name in sorted(names):
        if not name.endswith(".jsonl"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                if not start <= record["eventMetadata"]["inferenceTime"] < end:
                    continue
                requests += 1
                bodies.append(record["captureData"]["endpointInput"]["data"].strip("\\r\\n"))
current = pd.read_csv(io.StringIO("\\n".join(bodies)), header=None, names=spec["columns"])
del bodies
parsed = time.perf_counter()
reference = pd.read_csv(reference_path)
referenced = time.perf_counter()
definition = DataDefinition(numerical_columns=spec["numerical"], categorical_columns=spec["categorical"])
snapshot = Report(metrics=[DataDriftPreset()]).run(
    current_data=Dataset.from_pandas(current, data_definition=definition),
    reference_data=Dataset.from_pandas(reference, data_definition=definition),
)
report = snapshot.json()
drifted, scores = [], {}
for metric in snapshot.dict()["metrics"]:
    config = metric.get("config", {})
    if not config.get("type", "").endswith(":ValueDrift"):
        continue
    score, threshold = float(metric["value"]), float(config["threshold"])
    by_p_value = "p_value" in config["method"]
    scores[config["column"]] = [config["method"], score, threshold]
    if (score < threshold) if by_p_value else (score >= threshold):
        drifted.append(config["column"])
done = time.perf_counter()
print(json.dumps({
    "import_s": imported - started, "parse_s": parsed - imported, "reference_s": referenced - parsed,
    "compute_s": done - referenced, "requests": requests, "rows": len(current),
    "reference_rows": len(reference), "drifted": sorted(drifted), "scores": scores,
    "report_bytes": len(report),
}))
"""


# -- data ----------------------------------------------------------------------------------------


def _frame(rng, n: int, *, shifted: bool):
    """``n`` rows of the 20 features; ``shifted`` moves num_03, num_08 and cat_1."""
    import numpy as np
    import pandas as pd

    columns = {
        "num_00": rng.normal(0, 1, n).round(4),
        "num_01": rng.normal(50, 10, n).round(3),
        "num_02": rng.lognormal(3, 0.8, n).round(3),
        "num_03": rng.normal(107.5 if shifted else 100, 15, n).round(3),
        "num_04": rng.uniform(0, 1, n).round(5),
        "num_05": rng.exponential(2, n).round(4),
        "num_06": rng.poisson(4, n),
        "num_07": rng.integers(18, 90, n),
        "num_08": rng.normal(0, 8 if shifted else 5, n).round(4),
        "num_09": rng.gamma(2, 2, n).round(4),
        "num_10": rng.beta(2, 5, n).round(5),
        "num_11": rng.normal(-20, 3, n).round(4),
        "num_12": rng.integers(0, 1000, n),
        "num_13": rng.lognormal(0, 0.5, n).round(4),
        "num_14": rng.normal(1, 0.1, n).round(5),
        "cat_0": rng.choice(np.array(["red", "green", "blue", "black"]), n, p=[0.4, 0.3, 0.2, 0.1]),
        "cat_1": rng.choice(
            np.array(["basic", "plus", "pro", "team", "enterprise"]),
            n,
            p=[0.05, 0.1, 0.15, 0.3, 0.4] if shifted else [0.4, 0.3, 0.15, 0.1, 0.05],
        ),
        "cat_2": rng.choice(np.array([f"city_{i:02d}" for i in range(20)]), n),
        "cat_3": rng.choice(np.array(["web", "ios", "android"]), n, p=[0.6, 0.3, 0.1]),
        "cat_4": rng.choice(
            np.array([f"seg_{i}" for i in range(8)]), n, p=np.array([8, 7, 6, 5, 4, 3, 2, 1]) / 36
        ),
    }
    return pd.DataFrame(columns)[COLUMNS]


def generate(folder: Path, records: int, baseline_rows: int, rows_per_request: int) -> None:
    """The baseline CSV and the capture files, into ``folder`` (written aside, then renamed)."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from endpoints.gateway.capture import CaptureRecord, capture_line

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    seeds = np.random.SeedSequence(SEED).spawn(2)
    baseline_rng, current_rng = (np.random.default_rng(seed) for seed in seeds)
    with open(partial / "baseline.csv", "w", encoding="utf-8") as handle:
        for start in range(0, baseline_rows, CHUNK_ROWS):
            frame = _frame(baseline_rng, min(CHUNK_ROWS, baseline_rows - start), shifted=False)
            frame.to_csv(handle, index=False, header=start == 0)

    capture = {"csv_content_types": ["text/csv"], "json_content_types": ["application/json"]}
    requests = (records + rows_per_request - 1) // rows_per_request
    step = WINDOW_SECONDS / requests
    base = WINDOW_START.timestamp()
    times: dict[int, str] = {}
    lines: list[str] = []
    request = 0

    def flush() -> None:
        at = base + (request - len(lines)) * step
        moment = datetime.fromtimestamp(at, tz=UTC)
        hour = partial / "capture" / ENDPOINT / VARIANT / f"{moment:%Y/%m/%d/%H}"
        hour.mkdir(parents=True, exist_ok=True)
        unique = uuid.UUID(bytes=current_rng.bytes(16), version=4)
        name = f"{moment:%M-%S}-{moment.microsecond // 1000:03d}-{unique}.jsonl"
        (hour / name).write_text("".join(lines), encoding="utf-8")
        lines.clear()

    for start in range(0, records, CHUNK_ROWS):
        n = min(CHUNK_ROWS, records - start)
        frame = _frame(current_rng, n, shifted=True)
        rows = frame.to_csv(index=False, header=False).splitlines()
        scores = 1 / (1 + np.exp(-(frame["num_00"].to_numpy() + (frame["num_03"].to_numpy() - 100) / 15)))
        for offset in range(0, n, rows_per_request):
            body = "\n".join(rows[offset : offset + rows_per_request]) + "\n"
            answer = "\n".join(f"{score:.4f}" for score in scores[offset : offset + rows_per_request])
            at = base + request * step
            second = int(at)
            if second not in times:
                times[second] = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            record = CaptureRecord(
                "", ENDPOINT, VARIANT, capture, body.encode(), "text/csv", answer.encode(),
                "text/csv; charset=utf-8", str(uuid.UUID(int=request, version=4)), "", at,
            )  # fmt: skip
            lines.append(capture_line(record, times[second]) + "\n")
            request += 1
            if len(lines) == REQUESTS_PER_FILE:
                flush()
    if lines:
        flush()
    (partial / "spec.json").write_text(
        json.dumps({"records": records, "requests": requests, "baseline_rows": baseline_rows, "seed": SEED})
    )
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)


# -- measuring -----------------------------------------------------------------------------------


def measure(command: list[str], env: dict[str, str], *, what: str) -> dict:
    """Run ``command`` measured (wall time, peak RSS, output); exits naming ``what`` if it fails."""
    measured = measured_run(command, env, timeout=RUN_TIMEOUT_SECONDS, cwd=ROOT)
    if measured["rc"] != 0:
        raise SystemExit(
            f"drift: {what} failed (exit {measured['rc']}):\n"
            f"{(measured['stdout'] + measured['stderr'])[-3000:]}"
        )
    return measured


def evidently_python(explicit: str) -> tuple[Path, str]:
    """A Python with Evidently 0.7 and its version: the one given, or benchmarks/.venv-evidently
    (made on first use)."""
    python = Path(explicit) if explicit else EVIDENTLY_VENV / "bin" / "python"
    check = [str(python), "-c", "import evidently; print(evidently.__version__)"]
    env = {**os.environ, **QUIET}
    found = (
        subprocess.run(check, capture_output=True, text=True, env=env, check=False)
        if python.exists()
        else None
    )
    if found is not None and found.returncode == 0:
        return python, found.stdout.strip()
    if explicit:
        raise SystemExit(
            f"drift: {explicit} cannot import evidently:\n{found.stderr[-2000:] if found else ''}"
        )
    base = shutil.which("python3.11") or sys.executable
    print(
        f"creating {EVIDENTLY_VENV.relative_to(ROOT)} and installing evidently (once; a few minutes)",
        flush=True,
    )
    subprocess.run([base, "-m", "venv", "--clear", str(EVIDENTLY_VENV)], check=True)
    install = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        *EVIDENTLY_REQUIREMENTS,
    ]
    result = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if result.returncode:
        lines = [line for line in (result.stdout + result.stderr).splitlines() if "is ignored" not in line]
        raise SystemExit(
            "drift: installing evidently failed (PyPI unreachable?); rerun with --skip-evidently:\n"
            + "\n".join(lines[-30:])
        )
    return evidently_python("")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _link_tree(source: Path, target: Path) -> None:
    """``source``'s files under ``target``, hard-linked (copied where links are refused)."""
    for path in sorted(source.rglob("*")):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, destination)
            except OSError:
                shutil.copyfile(path, destination)


def run_studio(data: Path, hour: Path, env: dict[str, str], start: str, end: str) -> tuple[dict, dict, dict]:
    """Baseline (not counted), then the counted execution: (baseline run, execution run, report)."""
    work = Path(tempfile.mkdtemp(prefix="drift-ml-", dir=DATA_DIR))
    try:
        processing = work / "processing"
        (processing / "input" / "data").mkdir(parents=True)
        os.link(data / "baseline.csv", processing / "input" / "data" / "baseline.csv")
        studio_env = {**env, "STUDIO_ML_ROOT": str(work)}
        module = [sys.executable, "-m"]
        baseline = measure([*module, "monitoring.runtime.baseline"], studio_env, what="Studio's baseline")
        _link_tree(processing / "output" / "baseline", processing / "input" / "baseline")
        _link_tree(hour, processing / "input" / "capture")
        arguments = ["monitoring.runtime.execute", "--start", start, "--end", end]
        execution = measure([*module, *arguments], studio_env, what="Studio's monitoring execution")
        folder = processing / "output" / "report"
        report = {
            name: json.loads((folder / f"{name}.json").read_text())
            for name in ("statistics", "constraint_violations", "drift")
            if (folder / f"{name}.json").exists()
        }
        if "constraint_violations" not in report:
            raise SystemExit(
                f"drift: the execution wrote no constraint_violations.json:\n{execution['stderr']}"
            )
        return baseline, execution, report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _studio_findings(report: dict) -> tuple[list[str], dict[str, int], int | None]:
    """Drifted features (baseline_drift_check), violations by check type, records counted."""
    violations = report["constraint_violations"].get("violations", [])
    by_type: dict[str, int] = {}
    for item in violations:
        by_type[item["constraint_check_type"]] = by_type.get(item["constraint_check_type"], 0) + 1
    drifted = sorted(
        {v["feature_name"] for v in violations if v["constraint_check_type"] == "baseline_drift_check"}
    )
    count = report.get("statistics", {}).get("dataset", {}).get("item_count")
    return drifted, by_type, count


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100,000 records and a 50,000-row baseline")
    parser.add_argument("--records", type=int, default=0, help="captured records (1,000,000; quick 100,000)")
    parser.add_argument("--baseline-rows", type=int, default=0, help="baseline rows (200,000; quick 50,000)")
    parser.add_argument("--rows-per-request", type=int, default=1, help="CSV rows in each captured request")
    parser.add_argument(
        "--skip-evidently", action="store_true", help="Studio only (no comparison, no RESULT)"
    )
    parser.add_argument("--evidently-python", default="", help="a Python that has evidently 0.7")
    args = parser.parse_args()
    records = args.records or (100_000 if args.quick else 1_000_000)
    baseline_rows = args.baseline_rows or (50_000 if args.quick else 200_000)
    if min(records, baseline_rows, args.rows_per_request) < 1:
        parser.error("--records, --baseline-rows and --rows-per-request must be at least 1")

    if not (ROOT / "monitoring" / "runtime" / "execute.py").exists():
        print("drift: monitoring/runtime/execute.py is missing in this checkout", file=sys.stderr)
        return 2
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    data = DATA_DIR / f"drift-{records}x20-b{baseline_rows}-r{args.rows_per_request}-seed{SEED}"
    if not (data / "spec.json").exists():
        started = time.perf_counter()
        generate(data, records, baseline_rows, args.rows_per_request)
        print(f"generated {data.relative_to(ROOT)} in {time.perf_counter() - started:.1f} s", flush=True)
    spec = json.loads((data / "spec.json").read_text())
    files = sorted((data / "capture").rglob("*.jsonl"))
    hours = sorted({path.parent for path in files})
    if len(hours) != 1:
        raise SystemExit(f"drift: expected the capture files in one hour folder, found {len(hours)}")
    hour = hours[0]
    size_mb = sum(path.stat().st_size for path in files) / 1024**2
    print(
        f"data: {records:,} captured records x {len(COLUMNS)} features ({len(NUMERIC)} numeric, "
        f"{len(CATEGORICAL)} categorical) in {spec['requests']:,} requests, {len(files)} files, "
        f"{size_mb:.0f} MB of JSON lines; baseline {baseline_rows:,} rows, "
        f"{(data / 'baseline.csv').stat().st_size / 1024**2:.0f} MB CSV ({data.relative_to(ROOT)})"
    )
    print(f"shifted features: {', '.join(SHIFTED)}; the other {len(COLUMNS) - len(SHIFTED)} are not")

    env = {key: value for key, value in os.environ.items() if not key.startswith(("STUDIO_", "DJANGO_"))}
    env.update(QUIET)
    start, end = (
        _iso(WINDOW_START),
        _iso(datetime.fromtimestamp(WINDOW_START.timestamp() + WINDOW_SECONDS, tz=UTC)),
    )
    print(
        f"machine: {len(os.sched_getaffinity(0))} CPU(s); each tool runs alone in its own process", flush=True
    )

    baseline, studio, report = run_studio(data, hour, env, start, end)
    studio_drifted, by_type, item_count = _studio_findings(report)
    print(
        f"Studio baseline (not counted): {baseline['wall_s']:.2f} s, peak {baseline['peak_mb']:.0f} MB "
        f"over {baseline_rows:,} rows",
        flush=True,
    )

    evidently = None
    if not args.skip_evidently:
        python, version = evidently_python(args.evidently_python)
        shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
        print(f"evidently {version} ({shown})", flush=True)
        columns = json.dumps({"columns": COLUMNS, "numerical": NUMERIC, "categorical": CATEGORICAL})
        command = [
            str(python),
            "-c",
            EVIDENTLY_CODE,
            str(hour),
            str(data / "baseline.csv"),
            start,
            end,
            columns,
        ]
        evidently = measure(command, env, what="Evidently's report")
        evidently["result"] = json.loads(evidently["stdout"].strip().splitlines()[-1])

    print()
    other = evidently["result"] if evidently else {}
    done = re.search(r"^done .*seconds=([0-9.]+)", studio["stdout"], re.MULTILINE)
    studio_work = float(done.group(1)) if done else None
    studio_start = studio["wall_s"] - studio_work if studio_work is not None else None
    print(f"{'':<34}{'Studio':>14}{'Evidently':>14}")
    table = [
        ("wall time (s)", studio["wall_s"], evidently and evidently["wall_s"], "{:.2f}"),
        ("  of which start and imports (s)", studio_start, other.get("import_s"), "{:.2f}"),
        ("  of which parse capture (s)", None, other.get("parse_s"), "{:.2f}"),
        ("  of which read reference (s)", None, other.get("reference_s"), "{:.2f}"),
        ("  of which drift report (s)", None, other.get("compute_s"), "{:.2f}"),
        ("  of which parse + check (s)", studio_work, None, "{:.2f}"),
        ("peak RSS (MB)", studio["peak_mb"], evidently and evidently["peak_mb"], "{:.0f}"),
        ("records checked", item_count, other.get("rows"), "{:,}"),
        (
            "drifted features found",
            len(studio_drifted),
            len(other["drifted"]) if "drifted" in other else None,
            "{}",
        ),
    ]
    for label, ours, theirs, fmt in table:
        left = fmt.format(ours) if ours is not None else "-"
        right = fmt.format(theirs) if theirs is not None else "-"
        print(f"{label:<34}{left:>14}{right:>14}")
    print(
        "(Studio reads the baseline's statistics.json, computed beforehand; Evidently reads the baseline\n"
        " rows each time. Wall times include interpreter start and imports.)"
    )
    print(f"Studio drifted:    {', '.join(studio_drifted) or '-'}")
    counts = ", ".join(f"{kind} {count}" for kind, count in sorted(by_type.items()))
    print(f"Studio violations: {counts or 'none'}")
    if evidently:
        print(f"Evidently drifted: {', '.join(other['drifted']) or '-'}")
    expected = sorted(SHIFTED)
    found_ok = studio_drifted == expected and (not evidently or other["drifted"] == expected)
    if item_count is not None and item_count != records:
        print(f"WARNING: Studio's statistics count {item_count:,} records, {records:,} were captured")
        found_ok = False
    if evidently and other["rows"] != records:
        print(f"WARNING: Evidently's current data has {other['rows']:,} rows, {records:,} were captured")
        found_ok = False
    who = "both" if evidently else "Studio"
    print(f"exactly the shifted features found by {who}: {'yes' if found_ok else 'NO'}")

    peak = studio["peak_mb"]
    speedup = evidently["wall_s"] / studio["wall_s"] if evidently else float("nan")
    print()
    if evidently:
        verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
        print(
            f"speed: Studio is {speedup:.1f}x faster than Evidently "
            f"(target >= {TARGET_SPEEDUP:.0f}x): {verdict}"
        )
    print(
        f"memory: Studio peaked at {peak:.0f} MB (target < {TARGET_PEAK_MB} MB): "
        f"{'met' if peak < TARGET_PEAK_MB else 'NOT met'}"
    )
    if not evidently:
        return 0 if found_ok else 1
    print(
        f"RESULT drift studio_s={studio['wall_s']:.2f} evidently_s={evidently['wall_s']:.2f} "
        f"speedup={speedup:.1f} peak_mb={peak:.0f}"
    )
    return 0 if found_ok else 1


if __name__ == "__main__":
    sys.exit(main())
