"""Training-job overhead: a user's script and the built-in XGBoost as local training jobs, each
beside the same work run directly, on the embedded default (SQLite + filesystem:// broker).

One fresh Studio (web server + one Celery worker, as ``manage.py serve`` starts them) and one set of
generated data (binary classification, label first, no header; written once as CSV and uploaded
once as artifacts). Direct runs and jobs alternate (direct, job, direct, job, ...) so both see the
same machine; the first pair of each part is a warm-up and is not counted. All figures are medians.

1. A short script (reads its channel, about 1.5 s of NumPy, writes a small model file) run as
   ``python script.py --rounds R`` and as a training job (``source`` upload, same hyperparameters).
   Job wall time: the client's clock just before the POST to the server's time of the job's
   ``Completed`` event in ``status_history`` (client and server share this machine's clock).
2. XGBoost called directly (a script that reads the CSVs as a user would, ``pd.read_csv(path,
   header=None)``, builds DMatrix objects, ``xgb.train`` with the same hyperparameters and
   ``evals=[(dtrain, "train"), (dvalidation, "validation")]``, so XGBoost's default metric of the
   objective printed each round, then ``save_model``) versus the built-in ``xgboost`` as a training
   job. The built-in's compute time is the time between the job's ``Training`` and ``Uploading``
   events (its whole process: start, data read, training, final metrics, exit). For a breakdown
   the built-in is also run directly (``python -m jobs.algorithms xgboost`` in a folder laid out
   like /opt/ml), outside Studio.

Everything runs with the thread count the instance type (default ml.m5.large, 2 vCPUs) gets on
this machine: the jobs get it from Studio (OMP_NUM_THREADS, CPU affinity), the direct runs from
OMP_NUM_THREADS and ``nthread``.

Other work on the machine skews such timings badly (two OpenMP threads on two busy cores), so each
run starts once other processes use under 0.2 cores (waiting at most 15 s each time, and
``--max-wait`` seconds in all), and a counted run during which they used more is done again
(``--retries``). The report says how busy the machine was, and warns when the figures are noisy.

Targets: overhead_s = median job wall time - 1.05 x median direct time of the short script < 1.5 s;
builtin_ratio = median built-in compute time / median direct XGBoost time <= 1.10.

    .venv/bin/python benchmarks/training_overhead.py [--quick]

The last line is ``RESULT training overhead_s=<x.xxx> builtin_ratio=<x.xx>``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from benchlib import PYTHON, ROOT, BenchError, StudioServer, multipart, studio_env, tail

from studio.instance_types import instance_type_get

TARGET_OVERHEAD_S = 1.5
TARGET_RATIO = 1.10
DIRECT_ALLOWANCE = 1.05  # the job may take 5 % longer than the direct run before it counts as overhead
TERMINAL = {"Completed", "Failed", "Stopped"}
# Job times come from status_history, so polling only has to notice the end; seldom, so that the
# web server's work for it takes as little as possible from the job on a small machine.
POLL_SECONDS = 1.0
REQUEST_TIMEOUT_SECONDS = 120
JOB_TIMEOUT_SECONDS = 600
RUN_TIMEOUT_SECONDS = 600
PROJECT = "bench"
API = f"/api/v1/projects/{PROJECT}"
FEATURES = 20
SEED = 20240601
SHORT_ROWS = 20_000
SHORT_ROUNDS = 12

XGB_HYPERPARAMETERS = {
    "objective": "binary:logistic",
    "num_round": 100,
    "max_depth": 6,
    "eta": 0.3,
    "tree_method": "hist",
}

# A user's short training script: SageMaker's contract (channel and model folders from SM_*).
SHORT_SCRIPT = """\
import argparse
import os
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--rounds", type=int, default=12)
parser.add_argument("--width", type=int, default=512)
parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "model"))
parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN", "train"))
args = parser.parse_args()

files = sorted(Path(args.train).glob("*.csv"))
data = np.concatenate([np.loadtxt(path, delimiter=",", ndmin=2) for path in files])
labels, features = data[:, 0], data[:, 1:]
rng = np.random.default_rng(0)
projection = rng.normal(size=(features.shape[1], args.width)) / np.sqrt(features.shape[1])
hidden = np.tanh(features @ projection)
ridge = np.eye(args.width)
for step in range(args.rounds):
    gram = hidden.T @ hidden
    weights = np.linalg.solve(gram + ridge * (1.0 + step), hidden.T @ (2 * labels - 1))
accuracy = float(np.mean((hidden @ weights > 0) == (labels > 0.5)))
print(f"rows={len(labels)} train-accuracy={accuracy:.4f}")
Path(args.model_dir).mkdir(parents=True, exist_ok=True)
np.save(Path(args.model_dir) / "weights.npy", np.concatenate([projection.ravel(), weights]))
"""

# XGBoost called directly, as a user would: pandas reads the CSVs, DMatrix, xgb.train with the
# per-round evaluation printed, save_model. Prints its phase times as JSON on the last line.
XGB_DIRECT_SCRIPT = """\
import json
import sys
import time

started = time.perf_counter()
import pandas as pd
import xgboost as xgb

train_csv, validation_csv, model_path, params_json, num_round = sys.argv[1:6]
params = json.loads(params_json)
imported = time.perf_counter()
train = pd.read_csv(train_csv, header=None)
validation = pd.read_csv(validation_csv, header=None)
read = time.perf_counter()
dtrain = xgb.DMatrix(train.iloc[:, 1:], label=train[0], nthread=params["nthread"])
dvalidation = xgb.DMatrix(validation.iloc[:, 1:], label=validation[0], nthread=params["nthread"])
built = time.perf_counter()
booster = xgb.train(
    params, dtrain, num_boost_round=int(num_round), evals=[(dtrain, "train"), (dvalidation, "validation")]
)
trained = time.perf_counter()
booster.save_model(model_path)
saved = time.perf_counter()
phases = {
    "import": imported - started,
    "read": read - imported,
    "dmatrix": built - read,
    "train": trained - built,
    "save": saved - trained,
}
print(json.dumps(phases))
"""

TRAINED_IN = re.compile(r"Trained in ([0-9.]+)s\.")


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# --- The data -------------------------------------------------------------------------------------


@dataclass
class Data:
    folder: Path
    train: Path  # train/train.csv
    validation: Path  # validation/validation.csv
    short: Path  # short/train.csv: the short script's channel
    train_rows: int
    validation_rows: int
    train_bytes: int = 0


def write_csv(path: Path, labels, features) -> None:
    """SageMaker's CSV: no header, the label first; features rounded to 4 decimals."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    columns = {"label": labels.astype(np.int64)}
    columns.update({f"f{i}": np.round(features[:, i], 4) for i in range(features.shape[1])})
    path.parent.mkdir(parents=True, exist_ok=True)
    pcsv.write_csv(pa.table(columns), path, pcsv.WriteOptions(include_header=False))


def make_data(folder: Path, rows: int) -> Data:
    """A seeded binary classification problem: 20 normal features, a non-linear noisy label."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    validation_rows = max(rows // 5, 1000)
    total = rows + validation_rows
    features = rng.normal(size=(total, FEATURES))
    score = (
        features[:, 0]
        + 0.8 * features[:, 1] * features[:, 2]
        - 0.6 * np.abs(features[:, 3])
        + 0.5 * np.sin(2 * features[:, 4])
        + 0.3 * features[:, 5:10].sum(axis=1)
        + rng.normal(scale=0.8, size=total)
    )
    labels = (score > np.median(score)).astype(np.int64)
    data = Data(
        folder=folder,
        train=folder / "train" / "train.csv",
        validation=folder / "validation" / "validation.csv",
        short=folder / "short" / "train.csv",
        train_rows=rows,
        validation_rows=validation_rows,
    )
    write_csv(data.train, labels[:rows], features[:rows])
    write_csv(data.validation, labels[rows:], features[rows:])
    write_csv(data.short, labels[:SHORT_ROWS], features[:SHORT_ROWS])
    data.train_bytes = data.train.stat().st_size
    return data


# --- Studio ---------------------------------------------------------------------------------------


@dataclass
class Studio(StudioServer):
    """A StudioServer (web + worker) that uploads artifacts and runs training jobs one at a time."""

    history_lags: int = 0
    uris: dict[str, str] = field(default_factory=dict)

    def api(
        self, method: str, path: str, body: bytes | dict | None = None, content_type: str | None = None
    ) -> dict:
        headers = {"Content-Type": content_type} if content_type else None
        status, data = self.request_bytes(method, path, body, headers, timeout=REQUEST_TIMEOUT_SECONDS)
        if not 200 <= status < 300:
            raise BenchError(f"{method} {path} -> {status}: {data[:1500].decode(errors='replace')}")
        return json.loads(data or b"{}")

    def upload(self, source: Path, path: str) -> str:
        """Upload ``source`` as the artifact ``path``; returns its URI."""
        body, content_type = multipart({"path": path}, {"file": (source.name, source.read_bytes())})
        return self.api("POST", f"{API}/artifacts/", body, content_type)["uri"]

    def submit(self, name: str, *, fields: dict, source: tuple[str, bytes] | None = None) -> None:
        """POST a training job (multipart; nested values as JSON strings)."""
        text = {key: value if isinstance(value, str) else json.dumps(value) for key, value in fields.items()}
        body, content_type = multipart({"name": name, **text}, {"source": source} if source else {})
        self.api("POST", f"{API}/training-jobs/", body, content_type)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        text, offset = "", 0
        for _ in range(1000):
            page = self.api("GET", f"{API}/training-jobs/{name}/logs/?offset={offset}")
            text = (text + page["text"])[-max(chars, 200_000) :]
            if page["complete"] or page["next_offset"] <= offset:
                break
            offset = page["next_offset"]
        return text[-chars:] if chars else text

    def wait_terminal(self, name: str) -> dict:
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        lagged = False
        job: dict = {}
        while time.monotonic() < deadline:
            job = self.api("GET", f"{API}/training-jobs/{name}/")
            if job["status"] in TERMINAL:
                # The status row and its event are two statements: read again until the event is there.
                if any(event["status"] == job["status"] for event in job["status_history"]):
                    break
                if not lagged:
                    lagged, self.history_lags = True, self.history_lags + 1
                    deadline = min(deadline, time.monotonic() + 5)
            time.sleep(POLL_SECONDS)
        else:
            if not lagged:
                raise BenchError(
                    f"training job {name} not terminal after {JOB_TIMEOUT_SECONDS} s "
                    f"(status {job.get('status')}/{job.get('secondary_status')}); worker log:\n"
                    f"{tail(self.logs['worker'])}"
                )
        if job["status"] != "Completed":
            raise BenchError(
                f"training job {name} ended {job['status']}: {job.get('failure_reason') or '(no reason)'}\n"
                f"--- job log (tail) ---\n{self.log_tail(name)}"
            )
        return job

    def run_job(
        self, name: str, *, fields: dict, source: tuple[str, bytes] | None = None
    ) -> tuple[float, dict]:
        """Submit, wait until Completed; (the client's time just before the POST, the job)."""
        posted = time.time()
        self.submit(name, fields=fields, source=source)
        return posted, self.wait_terminal(name)


def event_time(job: dict, status: str, secondary: str) -> float:
    for event in job["status_history"]:
        if event["status"] == status and event["secondary_status"] == secondary:
            return parse_time(event["created_at"])
    raise BenchError(f"job {job['name']} has no ({status}, {secondary}) event: {job['status_history']}")


# --- Other work on this machine -------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
QUIET_CORES = 0.2  # other processes using less than this many cores: a quiet machine
QUIET_WAIT_SECONDS = 15.0


def system_busy_seconds() -> float:
    """CPU seconds this machine's cores have been busy since boot (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as handle:
        values = [int(value) for value in handle.readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = values
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    """CPU seconds of this process and its descendants (Studio's web server, worker, jobs, direct runs),
    the reaped ones included (through their parents' cutime and cstime)."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        times[pid] = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    total, stack = 0.0, [os.getpid()]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


class CpuMeter:
    """How many cores other processes (not this benchmark's) kept busy since ``start()``."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self.at, self.busy, self.own = time.monotonic(), system_busy_seconds(), own_cpu_seconds()

    def foreign_cores(self) -> float:
        elapsed = max(time.monotonic() - self.at, 1e-3)
        foreign = (system_busy_seconds() - self.busy) - (own_cpu_seconds() - self.own)
        return max(foreign, 0.0) / elapsed


def wait_quiet(limit: float) -> float:
    """Wait (at most ``limit`` s) until other processes use under QUIET_CORES; seconds waited."""
    started = time.monotonic()
    meter = CpuMeter()
    while time.monotonic() - started < limit:
        time.sleep(0.5)
        if meter.foreign_cores() < QUIET_CORES:
            break
        meter.start()
    return time.monotonic() - started


# --- Direct runs ----------------------------------------------------------------------------------


def thread_env(threads: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(threads),
        DO_NOT_TRACK="1",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def timed_run(argv: list[str], cwd: Path, env: dict[str, str], what: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode:
        raise BenchError(f"{what} exited {result.returncode}:\n{(result.stdout + result.stderr)[-3000:]}")
    return elapsed, result.stdout


@dataclass
class Figures:
    """Seconds per counted run (each list in run order)."""

    short_direct: list[float] = field(default_factory=list)
    short_job: list[float] = field(default_factory=list)  # POST -> Completed
    short_job_run: list[float] = field(default_factory=list)  # Training -> Uploading
    xgb_direct: list[float] = field(default_factory=list)
    xgb_direct_phases: list[dict] = field(default_factory=list)
    builtin_direct: list[float] = field(default_factory=list)
    builtin_direct_trained: list[float] = field(default_factory=list)  # "Trained in" of its output
    builtin_compute: list[float] = field(default_factory=list)  # Training -> Uploading
    builtin_job: list[float] = field(default_factory=list)  # POST -> Completed
    builtin_trained: list[float] = field(default_factory=list)  # "Trained in" from the job's log
    # Cores other processes kept busy during each counted run (direct or job), per part.
    foreign: dict[str, list[float]] = field(default_factory=lambda: {"short": [], "xgboost": []})
    redone: dict[str, int] = field(default_factory=lambda: {"short": 0, "xgboost": 0})
    waited: float = 0.0  # seconds spent waiting for a quiet machine
    max_wait: float = 300.0  # after this many seconds of waiting in all, no more waiting nor redoing

    def measure(self, part: str, n: int, warmup: int, retries: int, pair) -> None:
        """``pair(tag, quietly)`` (a direct run, then a job; returns {figure: value}) warmup + n times.

        ``pair`` runs each of its runs through ``quietly(run)``: ``run(attempt)`` starts once the
        machine is quiet (or after QUIET_WAIT_SECONDS), and a counted run during which other
        processes kept QUIET_CORES or more busy is run again, up to ``retries`` times (the last
        attempt counts).
        """
        for i in range(warmup + n):
            counted = i >= warmup

            def quietly(run, counted=counted):
                for attempt in range(retries + 1):
                    budget = self.max_wait - self.waited
                    self.waited += wait_quiet(min(QUIET_WAIT_SECONDS, max(budget, 0.0)))
                    meter = CpuMeter()
                    result = run(attempt)
                    foreign = meter.foreign_cores()
                    done = not counted or foreign < QUIET_CORES or attempt == retries
                    if done or self.waited >= self.max_wait:
                        break
                    self.redone[part] += 1
                if counted:
                    self.foreign[part].append(foreign)
                return result

            values = pair(f"{i:02d}", quietly)
            if counted:
                for key, value in values.items():
                    if value is not None:
                        getattr(self, key).append(value)


def short_part(studio: Studio, data: Data, work: Path, args: argparse.Namespace, figures: Figures) -> None:
    folder = work / "short-direct"
    (folder / "model").mkdir(parents=True)
    script = folder / "script.py"
    script.write_text(SHORT_SCRIPT)
    argv = [PYTHON, str(script), "--rounds", str(SHORT_ROUNDS)]  # what the job runs: --key value
    env = thread_env(
        args.threads, SM_MODEL_DIR=str(folder / "model"), SM_CHANNEL_TRAIN=str(data.short.parent)
    )
    fields = {
        "channels": [{"name": "train", "source_uri": studio.uris["short"], "content_type": "text/csv"}],
        "hyperparameters": {"rounds": str(SHORT_ROUNDS)},
        "instance_type": args.instance_type,
        "metric_definitions": [{"name": "train:accuracy", "regex": r"train-accuracy=([0-9.]+)"}],
    }
    run_id = secrets.token_hex(3)

    def pair(tag: str, quietly) -> dict:
        direct, _ = quietly(lambda attempt: timed_run(argv, folder, env, "the short script (direct)"))
        posted, job = quietly(
            lambda attempt: studio.run_job(
                f"short-{run_id}-{tag}-{attempt}", fields=fields, source=("train.py", SHORT_SCRIPT.encode())
            )
        )
        return {
            "short_direct": direct,
            "short_job": event_time(job, "Completed", "Completed") - posted,
            "short_job_run": event_time(job, "InProgress", "Uploading")
            - event_time(job, "InProgress", "Training"),
        }

    figures.measure("short", args.n_short, args.warmup, args.retries, pair)


def write_builtin_layout(folder: Path, data: Data) -> None:
    """A folder laid out like /opt/ml, as Studio lays out the built-in's job."""
    for name, path in (("train", data.train), ("validation", data.validation)):
        (folder / "input/data" / name).mkdir(parents=True)
        shutil.copy(path, folder / "input/data" / name / path.name)
    config = folder / "input/config"
    config.mkdir(parents=True)
    hyperparameters = {key: str(value) for key, value in XGB_HYPERPARAMETERS.items()}
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    channels = {name: {"ContentType": "text/csv"} for name in ("train", "validation")}
    (config / "inputdataconfig.json").write_text(json.dumps(channels))


def xgb_part(studio: Studio, data: Data, work: Path, args: argparse.Namespace, figures: Figures) -> None:
    folder = work / "xgb-direct"
    folder.mkdir()
    script = folder / "xgb_direct.py"
    script.write_text(XGB_DIRECT_SCRIPT)
    params = {
        **{key: value for key, value in XGB_HYPERPARAMETERS.items() if key != "num_round"},
        "nthread": args.threads,
        "seed": 0,
    }
    argv = [
        PYTHON,
        str(script),
        str(data.train),
        str(data.validation),
        str(folder / "xgboost-model.json"),
        json.dumps(params),
        str(XGB_HYPERPARAMETERS["num_round"]),
    ]
    env = thread_env(args.threads)
    builtin = work / "builtin-direct"
    write_builtin_layout(builtin, data)
    builtin_argv = [PYTHON, "-u", "-m", "jobs.algorithms", "xgboost"]
    builtin_env = thread_env(args.threads, SM_NUM_CPUS=str(args.threads), PYTHONPATH=str(ROOT))
    fields = {
        "algorithm": "xgboost",
        "channels": [
            {"name": "train", "source_uri": studio.uris["train"], "content_type": "text/csv"},
            {"name": "validation", "source_uri": studio.uris["validation"], "content_type": "text/csv"},
        ],
        "hyperparameters": {key: str(value) for key, value in XGB_HYPERPARAMETERS.items()},
        "instance_type": args.instance_type,
    }
    run_id = secrets.token_hex(3)

    def trained_in(text: str) -> float | None:
        match = TRAINED_IN.search(text)
        return float(match.group(1)) if match else None

    def builtin_run(attempt: int) -> tuple[float, str]:
        shutil.rmtree(builtin / "model", ignore_errors=True)
        shutil.rmtree(builtin / "output", ignore_errors=True)
        return timed_run(builtin_argv, builtin, builtin_env, "the built-in run directly")

    def pair(tag: str, quietly) -> dict:
        direct, out = quietly(lambda attempt: timed_run(argv, folder, env, "XGBoost (direct)"))
        builtin_direct, builtin_out = quietly(builtin_run)
        posted, job = quietly(
            lambda attempt: studio.run_job(f"xgboost-{run_id}-{tag}-{attempt}", fields=fields)
        )
        return {
            "xgb_direct": direct,
            "xgb_direct_phases": json.loads(out.strip().splitlines()[-1]),
            "builtin_direct": builtin_direct,
            "builtin_direct_trained": trained_in(builtin_out),
            "builtin_compute": event_time(job, "InProgress", "Uploading")
            - event_time(job, "InProgress", "Training"),
            "builtin_job": event_time(job, "Completed", "Completed") - posted,
            "builtin_trained": trained_in(studio.log_tail(job["name"], chars=0)),
        }

    figures.measure("xgboost", args.n_xgb, args.warmup, args.retries, pair)


# --- Report ---------------------------------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(columns: list[str], rows: list[list]) -> None:
    widths = [max(len(str(row[i])) for row in [columns, *rows]) for i in range(len(columns))]
    line = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    print(line.format(*columns))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))


def report(figures: Figures, data: Data, args: argparse.Namespace) -> None:
    instance, threads, n_short, n_xgb = args.instance_type, args.threads, args.n_short, args.n_xgb
    print()
    print(
        f"Training overhead on the embedded default (SQLite + filesystem:// broker), {instance} "
        f"= {threads} thread(s) here; medians in seconds"
    )
    short_direct, short_job = med(figures.short_direct), med(figures.short_job)
    xgb_direct, builtin_compute = med(figures.xgb_direct), med(figures.builtin_compute)
    builtin_job, builtin_direct = med(figures.builtin_job), med(figures.builtin_direct)

    def row(what: str, n: int, direct: float, job: float) -> list:
        return [what, n, f"{direct:.3f}", f"{job:.3f}", f"{job - direct:+.3f}", f"{job / direct:.2f}"]

    rows = [
        row("1. short script (NumPy, ~1.5 s)", n_short, short_direct, short_job),
        row(
            "   its process in the job (Training->Uploading)",
            n_short,
            short_direct,
            med(figures.short_job_run),
        ),
        row(
            f"2. xgboost {data.train_rows:,} rows: compute (Training->Uploading)",
            n_xgb,
            xgb_direct,
            builtin_compute,
        ),
        row("   whole job (POST->Completed)", n_xgb, xgb_direct, builtin_job),
        row("   built-in run directly (python -m jobs.algorithms)", n_xgb, xgb_direct, builtin_direct),
    ]
    table(["what", "N", "direct", "job", "job-direct", "job/direct"], rows)
    print(
        f"(1: direct = `python script.py --rounds {SHORT_ROUNDS}`; job = client clock before the POST\n"
        "    -> Completed event. 2: direct = pandas.read_csv + DMatrix + xgb.train (train and validation\n"
        "    evaluated each round) + save_model in one subprocess; job = the built-in `xgboost`, same\n"
        "    data and hyperparameters)"
    )
    for what, values in (
        ("direct XGBoost", figures.xgb_direct),
        ("built-in compute in the job", figures.builtin_compute),
        ("built-in run directly", figures.builtin_direct),
    ):
        print(f"each run, {what}: {' '.join(f'{value:.3f}' for value in values)}")
    phases = {key: med([p[key] for p in figures.xgb_direct_phases]) for key in figures.xgb_direct_phases[0]}
    print(
        "direct XGBoost phases (median s): "
        + ", ".join(f"{key} {value:.3f}" for key, value in phases.items())
        + f", interpreter start+exit {xgb_direct - sum(phases.values()):.3f}"
    )
    trained, trained_direct = med(figures.builtin_trained), med(figures.builtin_direct_trained)
    print(
        f"built-in's own 'Trained in' (imports, data read, training; 0.1 s resolution): {trained:.1f} s "
        f"in the job, {trained_direct:.1f} s run directly; direct import+read+dmatrix+train: "
        f"{phases['import'] + phases['read'] + phases['dmatrix'] + phases['train']:.1f} s; the rest of "
        "the built-in is its start, the final metrics and evaluation.json, and its exit"
    )
    print(
        f"data: train {data.train_rows:,} x {FEATURES} ({data.train_bytes / 1e6:.1f} MB CSV), "
        f"validation {data.validation_rows:,} rows; short script's channel {SHORT_ROWS:,} rows"
    )
    cores = os.cpu_count() or 1
    busy = []
    for part, values in figures.foreign.items():
        busy.append(
            f"{part}: median {med(values):.2f}, max {max(values):.2f} cores of {cores}, "
            f"{sum(value >= QUIET_CORES for value in values)}/{len(values)} counted runs at {QUIET_CORES}+, "
            f"{figures.redone[part]} run(s) done again"
        )
    print(
        f"other processes' CPU during the counted runs (cores): {'; '.join(busy)}; "
        f"waited {figures.waited:.0f} s in all for a quiet machine"
    )
    if any(med(values) >= QUIET_CORES for values in figures.foreign.values()):
        print(
            "WARNING: other work kept this machine busy while it measured; the figures are noisy. "
            "Rerun it on a quiet machine."
        )
    overhead = short_job - DIRECT_ALLOWANCE * short_direct
    ratio = builtin_compute / xgb_direct
    overhead_met, ratio_met = overhead < TARGET_OVERHEAD_S, ratio <= TARGET_RATIO
    print(
        f"TARGET overhead_s = median job - {DIRECT_ALLOWANCE} x median direct (short script) < "
        f"{TARGET_OVERHEAD_S} s: {overhead:.3f} s -> {'MET' if overhead_met else 'NOT MET'}"
    )
    print(
        f"TARGET builtin_ratio = built-in compute / direct XGBoost <= {TARGET_RATIO:.2f}: {ratio:.3f} -> "
        f"{'MET' if ratio_met else 'NOT MET'}"
    )
    print(f"RESULT training overhead_s={overhead:.3f} builtin_ratio={ratio:.2f}")


# --- Main -----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> tuple[Figures, Data]:
    root = Path(tempfile.mkdtemp(prefix="studio-bench-training-"))
    data_dir, work = root / "studio", root / "work"
    data_dir.mkdir()
    work.mkdir()
    env = studio_env(
        data_dir, "training-benchmark-" + secrets.token_hex(16), DO_NOT_TRACK="1", PYTHONDONTWRITEBYTECODE="1"
    )
    studio = Studio(env, data_dir, worker=True, key_name="training overhead benchmark")
    figures = Figures(max_wait=args.max_wait)
    try:
        started = time.monotonic()
        data = make_data(root / "data", args.rows)
        print(
            f"[data] {args.rows:,} + {data.validation_rows:,} rows x {FEATURES} written in "
            f"{time.monotonic() - started:.1f} s",
            flush=True,
        )
        started = time.monotonic()
        studio.prepare()
        studio.start()
        for key, path, store_path in (
            ("train", data.train, "bench-data/train/train.csv"),
            ("validation", data.validation, "bench-data/validation/validation.csv"),
            ("short", data.short, "bench-data/short/train.csv"),
        ):
            studio.uris[key] = studio.upload(path, store_path)
        print(
            f"[studio] web on {studio.base} and worker ready, data uploaded "
            f"in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        for part, measure, n, what in (
            ("short", short_part, args.n_short, "direct runs and jobs"),
            ("xgboost", xgb_part, args.n_xgb, "direct runs, built-in direct runs and jobs"),
        ):
            started = time.monotonic()
            measure(studio, data, work, args, figures)
            redone = (
                f", {figures.redone[part]} run(s) done again (machine busy)" if figures.redone[part] else ""
            )
            print(
                f"[{part}] {args.warmup} warm-up + {n} {what} in {time.monotonic() - started:.1f} s{redone}",
                flush=True,
            )
        if studio.history_lags:
            print(f"({studio.history_lags} reads saw a terminal status before its status_history event)")
        return figures, data
    except BenchError:
        for name, log in studio.logs.items():
            print(f"--- {name} log (tail) ---\n{tail(log, 2000)}", file=sys.stderr)
        raise
    finally:
        studio.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="100,000 rows and fewer runs (under 2 minutes on a quiet machine)",
    )
    parser.add_argument("--rows", type=int, default=None, help="train rows (default 500,000; quick 100,000)")
    parser.add_argument(
        "-n", dest="n_short", type=int, default=None, help="counted short-script pairs (default 10; quick 5)"
    )
    parser.add_argument("--n-xgb", type=int, default=None, help="counted XGBoost pairs (default 5; quick 3)")
    parser.add_argument("--warmup", type=int, default=1, help="pairs run first in each part and not counted")
    parser.add_argument(
        "--retries",
        type=int,
        default=None,
        help="times a run disturbed by other processes is done again (default 2; quick 1)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=None,
        help="seconds of waiting for a quiet machine in all, then no more waiting nor redoing "
        "(default 300; quick 60)",
    )
    parser.add_argument("--instance-type", default="ml.m5.large", help="of the jobs (default ml.m5.large)")
    args = parser.parse_args()
    args.rows = args.rows or (100_000 if args.quick else 500_000)
    args.n_short = args.n_short or (5 if args.quick else 10)
    args.n_xgb = args.n_xgb or (3 if args.quick else 5)
    args.retries = (1 if args.quick else 2) if args.retries is None else args.retries
    args.max_wait = (60.0 if args.quick else 300.0) if args.max_wait is None else max(args.max_wait, 0.0)
    if args.rows < 1000 or args.n_short < 1 or args.n_xgb < 1 or args.warmup < 0 or args.retries < 0:
        parser.error("--rows must be at least 1000, -n and --n-xgb at least 1, --warmup and --retries 0+")
    try:
        instance = instance_type_get(args.instance_type)
    except Exception as exc:
        parser.error(f"--instance-type: {exc}")
    # The job's process gets this many CPUs (and OMP_NUM_THREADS) here: the direct runs get as many.
    args.threads = max(1, min(instance.vcpus, len(os.sched_getaffinity(0))))
    os.environ["DO_NOT_TRACK"] = "1"

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    try:
        figures, data = run(args)
    except BenchError as exc:
        print(f"training_overhead: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "training_overhead: interrupted; subprocesses stopped and temporary data removed", file=sys.stderr
        )
        return 130
    print(f"(total {time.monotonic() - started:.0f} s)")
    report(figures, data, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
