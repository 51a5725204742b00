"""Batch transform throughput and memory: a local transform job beside the same work done directly.

One fresh Studio (web server + one Celery worker, as ``manage.py serve`` starts them, on the embedded
default: SQLite + filesystem:// broker + file:// store), one seeded CSV of 1,000,000 rows x 20
features (``--quick``: 100,000; no header, uploaded once as an artifact) and two scikit-learn models
trained on a slice of it: a 100-tree GradientBoostingClassifier and a LogisticRegression, each a
joblib ``model.tar.gz`` created and trusted through the models API.

For each model, in turns (direct, job, direct, job, ...; the first pair a warm-up, not counted):

* **limit**: one process that does the work plainly: ``python limit.py`` imports pandas and
  joblib, loads the model, ``pd.read_csv`` the file, ``predict``s every row and writes the labels
  with ``to_csv``: its wall time from start to exit, interpreter start included.
* **job**: a transform job (``split_type`` Line, MultiRecord, 6 MB payloads, ``text/csv`` in and
  out, assemble Line; workers = the instance type's CPUs here) timed from its ``InProgress`` event
  to its ``Completed`` event in ``status_history``: the input's download into the job's folder, the
  model's unpacking, the transform process (start, model load, workers, every row) and the upload
  of the ``.out`` file. Its output is checked to be byte for byte the limit's.

Memory: the job's peak is the largest sum of the **PSS** (proportional set size,
``/proc/<pid>/smaps_rollup``) of the transform process and its worker processes, sampled while it
runs: whenever the sum of their RSS (``/proc/<pid>/statm``, read every 50 ms) reaches a new high,
and every 250 ms otherwise (reading PSS costs the kernel a walk of the page tables, CPU the job
would miss). PSS counts a page shared by N processes 1/N in each, so the sum is the memory the job
really holds; the peak sum of their RSS, which counts the pages the workers share with their parent
(the forked model, NumPy, pandas) once per process, is printed beside it.

Target (gradient boosting): limit_ratio = job rows/s / limit rows/s >= 0.7; peak_mb < 500.

    .venv/bin/python benchmarks/batch_transform.py [--quick]

The last line is ``RESULT batch_transform rows_per_s=... limit_rows_per_s=... limit_ratio=... peak_mb=...``
(the gradient-boosting model's figures).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from benchlib import PYTHON, BenchError, StudioServer, multipart, studio_env, tail

# The quiet-machine helpers of the training benchmark: waiting for other work to calm down, and
# measuring how many cores it kept busy meanwhile.
from training_overhead import QUIET_CORES, QUIET_WAIT_SECONDS, CpuMeter, wait_quiet

from studio.instance_types import instance_type_get

TARGET_RATIO = 0.7
TARGET_PEAK_MB = 500
FEATURES = 20
SEED = 20240607
TRAIN_ROWS = 20_000
PROJECT = "bench"
API = f"/api/v1/projects/{PROJECT}"
TERMINAL = {"Completed", "Failed", "Stopped"}
POLL_SECONDS = 0.5
SAMPLE_SECONDS = 0.05
PSS_SECONDS = 0.25
JOB_TIMEOUT_SECONDS = 900
REQUEST_TIMEOUT_SECONDS = 300
RUN_TIMEOUT_SECONDS = 900
RUNTIME_MODULE = "endpoints.inference.transform"

LIMIT_SCRIPT = """\
import sys

import joblib
import pandas as pd

model_path, data_path, out_path = sys.argv[1:4]
model = joblib.load(model_path)
frame = pd.read_csv(data_path, header=None)
predictions = model.predict(frame.to_numpy())
pd.Series(predictions).to_csv(out_path, header=False, index=False)
"""


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# --- Data and models --------------------------------------------------------------------------------


@dataclass
class Data:
    csv: Path
    rows: int
    bytes: int
    models: dict[str, Path] = field(default_factory=dict)  # name -> model.tar.gz
    joblibs: dict[str, Path] = field(default_factory=dict)  # name -> model.joblib, for the limit


def make_data(folder: Path, rows: int) -> Data:
    """Seeded features (4 decimals, no header) and the two models, trained on the first rows."""
    import joblib
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    folder.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    features = np.round(rng.normal(size=(rows, FEATURES)), 4)
    score = features[:, 0] + 0.8 * features[:, 1] * features[:, 2] - 0.6 * np.abs(features[:, 3])
    labels = (score + rng.normal(scale=0.5, size=rows) > 0).astype(np.int64)
    data = Data(csv=folder / "features.csv", rows=rows, bytes=0)
    table = pa.table({f"f{i}": features[:, i] for i in range(FEATURES)})
    pcsv.write_csv(table, data.csv, pcsv.WriteOptions(include_header=False))
    data.bytes = data.csv.stat().st_size
    train, target = features[:TRAIN_ROWS], labels[:TRAIN_ROWS]
    for name, estimator in (
        ("gbc", GradientBoostingClassifier(n_estimators=100, random_state=0)),
        ("logreg", LogisticRegression(max_iter=1000)),
    ):
        estimator.fit(train, target)
        data.joblibs[name] = folder / f"{name}.joblib"
        joblib.dump(estimator, data.joblibs[name])
        data.models[name] = folder / f"{name}.tar.gz"
        with tarfile.open(data.models[name], "w:gz") as archive:
            archive.add(data.joblibs[name], arcname="model.joblib")
    return data


# --- Memory of the job's processes -------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (of each of its threads), from /proc: no scan of every process."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(value) for value in handle.read().split())
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children(current))
    return found


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def job_processes(root: int) -> list[int]:
    """The transform process below ``root`` (the Celery worker) and all its descendants (its workers)."""
    top = next((pid for pid in descendants(root) if RUNTIME_MODULE in command_line(pid)), None)
    return [] if top is None else descendants(top)


PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def rss_kib(pid: int) -> int:
    """A process's RSS in KiB from /proc/<pid>/statm (cheap); 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * PAGE_KIB
    except (OSError, IndexError, ValueError):
        return 0


def pss_kib(pid: int) -> int:
    """A process's PSS in KiB from /proc/<pid>/smaps_rollup (the kernel walks its page tables: a few
    ms for a large process); 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return 0


class MemorySampler(threading.Thread):
    """Samples the job's process tree until stopped: the peak sums of RSS (every sample) and of PSS
    (whenever the RSS sum reaches a new high, else every PSS_SECONDS: reading PSS costs CPU the job
    would miss), and the most processes seen at once."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_pss = self.peak_rss = self.processes = self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        top, last_pss = None, 0.0
        while not self.done.is_set():
            if top is None:
                found = job_processes(self.root)
                top = found[0] if found else None
            pids = descendants(top) if top is not None else []
            rss = sum(rss_kib(pid) for pid in pids)
            if rss:
                now = time.monotonic()
                if rss > self.peak_rss or now - last_pss >= PSS_SECONDS:
                    self.peak_pss = max(self.peak_pss, sum(pss_kib(pid) for pid in pids))
                    last_pss = now
                self.peak_rss = max(self.peak_rss, rss)
                self.processes = max(self.processes, len(pids))
                self.samples += 1
            time.sleep(SAMPLE_SECONDS)

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)


# --- Studio ------------------------------------------------------------------------------------------


@dataclass
class Studio(StudioServer):
    input_uri: str = ""
    instance_type: str = "ml.m5.large"

    def api(self, method: str, path: str, body: bytes | dict | None = None, content_type: str = "") -> dict:
        headers = {"Content-Type": content_type} if content_type else None
        status, data = self.request_bytes(method, path, body, headers, timeout=REQUEST_TIMEOUT_SECONDS)
        if not 200 <= status < 300:
            raise BenchError(f"{method} {path} -> {status}: {data[:1500].decode(errors='replace')}")
        return json.loads(data or b"{}")

    def upload(self, source: Path, path: str) -> str:
        body, content_type = multipart({"path": path}, {"file": (source.name, source.read_bytes())})
        return self.api("POST", f"{API}/artifacts/", body, content_type)["uri"]

    def create_model(self, name: str, archive: Path) -> None:
        body, content_type = multipart({"name": name}, {"model_file": ("model.tar.gz", archive.read_bytes())})
        self.api("POST", f"{API}/models/", body, content_type)
        self.api("POST", f"{API}/models/{name}/trust/")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return self.api("GET", f"{API}/transform-jobs/{name}/logs/")["text"][-chars:]

    def run_job(self, name: str, model: str, sampler: MemorySampler) -> dict:
        self.api(
            "POST",
            f"{API}/transform-jobs/",
            {
                "name": name,
                "model": model,
                "input_uri": self.input_uri,
                "content_type": "text/csv",
                "split_type": "Line",
                "batch_strategy": "MultiRecord",
                "accept": "text/csv",
                "assemble_with": "Line",
                "instance_type": self.instance_type,
            },
        )
        sampler.start()
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        job: dict = {}
        try:
            while time.monotonic() < deadline:
                job = self.api("GET", f"{API}/transform-jobs/{name}/")
                if job["status"] in TERMINAL and any(
                    e["status"] == job["status"] for e in job["status_history"]
                ):
                    break
                time.sleep(POLL_SECONDS)
            else:
                raise BenchError(f"transform job {name} not terminal after {JOB_TIMEOUT_SECONDS} s")
        finally:
            sampler.stop()
        if job["status"] != "Completed":
            raise BenchError(
                f"transform job {name} ended {job['status']}: {job.get('failure_reason') or '(no reason)'}\n"
                f"--- job log (tail) ---\n{self.log_tail(name)}"
            )
        return job


def event_time(job: dict, status: str, secondary: str) -> float:
    for event in job["status_history"]:
        if event["status"] == status and event["secondary_status"] == secondary:
            return parse_time(event["created_at"])
    raise BenchError(f"job {job['name']} has no ({status}, {secondary}) event")


# --- Runs --------------------------------------------------------------------------------------------


@dataclass
class Figures:
    limit: list[float] = field(default_factory=list)
    limit_rss_mb: list[float] = field(default_factory=list)
    job: list[float] = field(default_factory=list)  # InProgress -> Completed
    phases: list[dict] = field(default_factory=list)
    peak_pss_mb: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    processes: int = 0
    foreign: list[float] = field(default_factory=list)  # other processes' cores during each pair
    redone: int = 0
    waited: float = 0.0


def run_limit(script: Path, model: Path, data: Data, out: Path, threads: int) -> tuple[float, float]:
    """The plain process's wall time, and its peak RSS (MB, ru_maxrss), with the job's thread count."""
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        **{name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    }
    before = _children_maxrss()
    started = time.perf_counter()
    result = subprocess.run(
        [PYTHON, str(script), str(model), str(data.csv), str(out)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
        env=env,
    )
    elapsed = time.perf_counter() - started
    if result.returncode:
        raise BenchError(
            f"the limit run exited {result.returncode}:\n{(result.stdout + result.stderr)[-3000:]}"
        )
    return elapsed, max(_children_maxrss(), before) / 1024


def _children_maxrss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def job_output(studio: Studio, job: dict) -> bytes:
    item = next(item for item in job["outputs"] if item["kind"] == "output")
    path = Path(item["uri"].removeprefix("file://"))
    return path.read_bytes()


def measure(studio: Studio, name: str, data: Data, work: Path, args: argparse.Namespace) -> Figures:
    """Limit and job in turns; a counted pair during which other processes kept QUIET_CORES or more
    busy is run again (up to ``--retries`` times; the last attempt counts whatever happened)."""
    figures = Figures()
    script = work / "limit.py"
    script.write_text(LIMIT_SCRIPT)
    expected = work / f"{name}-limit.out"
    for run in range(args.warmup + args.n):
        counted = run >= args.warmup
        for attempt in range(args.retries + 1):
            figures.waited += wait_quiet(min(QUIET_WAIT_SECONDS, max(args.max_wait - figures.waited, 0.0)))
            meter = CpuMeter()
            seconds, rss = run_limit(script, data.joblibs[name], data, expected, args.threads)
            sampler = MemorySampler(studio.pid("worker"))
            job = studio.run_job(f"{name}-{run + 1}-{attempt + 1}", name, sampler)
            foreign = meter.foreign_cores()
            if not counted or foreign < QUIET_CORES or attempt == args.retries:
                break
            figures.redone += 1
        started = event_time(job, "InProgress", "Starting")
        ended = event_time(job, "Completed", "Completed")
        phases = {
            "claim->download": event_time(job, "InProgress", "Downloading") - started,
            "download+unpack": event_time(job, "InProgress", "Transforming")
            - event_time(job, "InProgress", "Downloading"),
            "transform process": event_time(job, "InProgress", "Uploading")
            - event_time(job, "InProgress", "Transforming"),
            "upload+record": ended - event_time(job, "InProgress", "Uploading"),
        }
        if job_output(studio, job) != expected.read_bytes():
            raise BenchError(f"the job's {name} output differs from the direct run's")
        label = "counted" if counted else "warm-up"
        print(
            f"[{name} {run + 1} {label}] limit {seconds:.2f} s, job {ended - started:.2f} s "
            f"({', '.join(f'{key} {value:.2f}' for key, value in phases.items())}), "
            f"peak PSS {sampler.peak_pss / 1024:.0f} MB / RSS {sampler.peak_rss / 1024:.0f} MB "
            f"over {sampler.processes} processes; other processes {foreign:.2f} cores",
            flush=True,
        )
        if not counted:
            continue
        figures.limit.append(seconds)
        figures.limit_rss_mb.append(rss)
        figures.job.append(ended - started)
        figures.phases.append(phases)
        figures.peak_pss_mb.append(sampler.peak_pss / 1024)
        figures.peak_rss_mb.append(sampler.peak_rss / 1024)
        figures.processes = max(figures.processes, sampler.processes)
        figures.foreign.append(foreign)
    return figures


def report(results: dict[str, Figures], data: Data, args: argparse.Namespace) -> None:
    med = statistics.median
    print()
    print(
        f"Batch transform of {data.rows:,} rows x {FEATURES} features ({data.bytes / 1e6:.0f} MB CSV) on "
        f"{args.instance_type} ({args.threads} worker(s) here); medians of {args.n} run(s)"
    )
    header = [
        "model",
        "limit s",
        "limit rows/s",
        "job s",
        "job rows/s",
        "ratio",
        "peak PSS MB",
        "peak RSS MB",
    ]
    rows = []
    for name, figures in results.items():
        limit, job = med(figures.limit), med(figures.job)
        rows.append(
            [
                {"gbc": "GradientBoosting (100 trees)", "logreg": "LogisticRegression"}[name],
                f"{limit:.2f}",
                f"{data.rows / limit:,.0f}",
                f"{job:.2f}",
                f"{data.rows / job:,.0f}",
                f"{limit / job:.2f}",
                f"{max(figures.peak_pss_mb):.0f}",
                f"{max(figures.peak_rss_mb):.0f}",
            ]
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * width for width in widths], *rows]:
        print(
            "  ".join(
                str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
    for name, figures in results.items():
        phases = {key: med([item[key] for item in figures.phases]) for key in figures.phases[0]}
        print(
            f"{name} job phases (median s): "
            + ", ".join(f"{key} {value:.2f}" for key, value in phases.items())
        )
        print(f"{name} limit process peak RSS (ru_maxrss): {max(figures.limit_rss_mb):.0f} MB")
        print(
            f"{name}: other processes' CPU during the counted pairs: median {med(figures.foreign):.2f}, "
            f"max {max(figures.foreign):.2f} cores of {os.cpu_count()}; {figures.redone} pair(s) done again, "
            f"{figures.waited:.0f} s waited for a quiet machine"
        )
        if med(figures.foreign) >= QUIET_CORES:
            print(
                f"WARNING: other work kept this machine busy while {name} was measured: the figures "
                "are noisy."
            )
    print(
        "(limit: one `python limit.py` process: imports, joblib.load, pd.read_csv, predict, to_csv, "
        "wall time; job: InProgress -> Completed events; peak: the largest sampled sum of PSS over the "
        "transform process and its workers, RSS sum beside it)"
    )
    gbc = results["gbc"]
    rows_per_s = data.rows / med(gbc.job)
    limit_rows_per_s = data.rows / med(gbc.limit)
    ratio = rows_per_s / limit_rows_per_s
    peak = max(gbc.peak_pss_mb)
    print(
        f"TARGET limit_ratio >= {TARGET_RATIO}: {ratio:.2f} -> "
        f"{'MET' if ratio >= TARGET_RATIO else 'NOT MET'}; peak_mb < {TARGET_PEAK_MB}: {peak:.0f} -> "
        f"{'MET' if peak < TARGET_PEAK_MB else 'NOT MET'}"
    )
    print(
        f"RESULT batch_transform rows_per_s={rows_per_s:.0f} limit_rows_per_s={limit_rows_per_s:.0f} "
        f"limit_ratio={ratio:.2f} peak_mb={peak:.0f}"
    )


def run(args: argparse.Namespace) -> tuple[dict[str, Figures], Data]:
    root = Path(tempfile.mkdtemp(prefix="studio-bench-transform-"))
    data_dir, work = root / "studio", root / "work"
    data_dir.mkdir()
    work.mkdir()
    env = studio_env(data_dir, "transform-benchmark-" + secrets.token_hex(16), DO_NOT_TRACK="1")
    studio = Studio(env, data_dir, worker=True, key_name="batch transform benchmark")
    studio.instance_type = args.instance_type
    try:
        started = time.monotonic()
        data = make_data(root / "data", args.rows)
        print(
            f"[data] {args.rows:,} rows x {FEATURES} ({data.bytes / 1e6:.0f} MB) and two models "
            f"in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        started = time.monotonic()
        studio.prepare()
        studio.start()
        studio.input_uri = studio.upload(data.csv, "bench-data/features.csv")
        for name, archive in data.models.items():
            studio.create_model(name, archive)
        print(
            f"[studio] ready, data uploaded and models created in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        results = {name: measure(studio, name, data, work, args) for name in ("gbc", "logreg")}
        return results, data
    except BenchError:
        for name, log in studio.logs.items():
            print(f"--- {name} log (tail) ---\n{tail(log, 2000)}", file=sys.stderr)
        raise
    finally:
        studio.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one counted run per model")
    parser.add_argument("--rows", type=int, default=None, help="rows (default 1,000,000; quick 100,000)")
    parser.add_argument("-n", type=int, default=None, help="counted runs per model (default 3; quick 1)")
    parser.add_argument("--warmup", type=int, default=1, help="runs per model first, not counted (default 1)")
    parser.add_argument("--instance-type", default="ml.m5.large", help="of the jobs (default ml.m5.large)")
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="times a pair disturbed by other processes is run again (default 2)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=None,
        help="seconds of waiting for a quiet machine per model, in all (default 300; quick 60)",
    )
    args = parser.parse_args()
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.n = args.n or (1 if args.quick else 3)
    args.max_wait = (60.0 if args.quick else 300.0) if args.max_wait is None else max(args.max_wait, 0.0)
    if args.rows < TRAIN_ROWS or args.n < 1 or args.warmup < 0:
        parser.error(f"--rows must be at least {TRAIN_ROWS}, -n at least 1, --warmup 0 or more")
    try:
        instance = instance_type_get(args.instance_type, role="transform")
    except Exception as exc:
        parser.error(f"--instance-type: {exc}")
    args.threads = max(1, min(instance.vcpus, len(os.sched_getaffinity(0))))

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    try:
        results, data = run(args)
    except BenchError as exc:
        print(f"batch_transform: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "batch_transform: interrupted; subprocesses stopped and temporary data removed", file=sys.stderr
        )
        return 130
    print(f"(total {time.monotonic() - started:.0f} s)")
    report(results, data, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
