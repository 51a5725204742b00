"""Real-time inference throughput: a Studio endpoint beside ``mlflow models serve`` and the limit of
Python HTTP serving, for the same scikit-learn and XGBoost models, under the same closed-loop load.

Three servers, each with the same number of worker processes (``--workers``, default 2), all
started first, then loaded in turns:

* **studio**: a fresh embedded Studio (SQLite): its web front (uvicorn, ``--workers`` processes,
  Django plus the invocation gateway) and the serving supervisor (``manage.py serve_models``). Each
  model is uploaded through the REST API as a ``model.tar.gz`` holding ``model.joblib``, trusted,
  and deployed as an endpoint of ``instance_count`` = ``--workers`` on ``ml.m5.large``; every
  serving process has ``STUDIO_SERVING_THREADS`` = 1 math-library thread. Requests: ``POST
  /api/v1/projects/bench/endpoints/<name>/invocations`` with the API key, ``text/csv`` in and out.
* **mlflow**: ``mlflow models serve --env-manager local --workers N`` (uvicorn + FastAPI, as
  MLflow ships it) on the same pickles saved with ``mlflow.sklearn`` / ``mlflow.xgboost``. MLflow
  runs from a virtual environment of its own, ``benchmarks/.venv-mlflow`` (made on first use with
  ``python3.11 -m venv`` + ``pip install mlflow``, scikit-learn, XGBoost, NumPy and pandas pinned to
  this environment's versions): it pins gunicorn < 27 and pyarrow < 26, older than Studio's, so it
  stays out of the ``bench`` extra. Its request format is whichever of ``text/csv`` (a header row,
  then the row), ``dataframe_split`` and ``inputs`` JSON answers one row fastest, measured first.
  ``pip install mlflow`` brings uvicorn without uvloop: with ``--workers`` > 1 its asyncio server
  leaves TCP_NODELAY off, and each keep-alive answer waits ~40 ms for the client's delayed ACK
  (uvicorn issue #3149; the run says so when it sees it). ``--mlflow-uvloop`` also measures MLflow
  with ``uvicorn[standard]`` (``benchmarks/.venv-mlflow-uvloop``), which does not stall.
* **limit**: a bare ASGI callable (no framework) under ``uvicorn --workers N --no-access-log``
  that reads the body, ``np.array(body.split(b","), dtype=float).reshape(1, -1)``, calls
  ``model.predict`` and answers CSV: what Python HTTP serving can do at best.

Every server process gets OMP / MKL / OpenBLAS threads = 1 (XGBoost with OpenMP's default of
every core per process collapses under concurrent single-row requests).

The load: a closed-loop client in its own process (asyncio on uvloop, raw HTTP/1.1 keep-alive on
127.0.0.1), ``--connections`` (16) connections, each sending a single-row request (20 features,
64 rows cycled) and the next as soon as the answer is in. Each server and model gets
``--duration`` seconds measured (10; quick 4), in ``--rounds`` slices (2; quick 1), each after
``--warmup`` seconds of load (2; quick 1) and once the machine is quiet (at most 10 s of waiting,
quick 3 s; ``--max-wait`` s in all, 60, quick 6); the servers take turns, in an order that
rotates each round.
Every latency of an answer completed in a window is kept; requests/s = those answers / the
windows. Every answer must be HTTP 200 (errors are counted and shown; a measurement with errors
is not valid and the run ends without RESULT). The CPU time each server's processes used in the
windows is shown per request, and the cores other work kept busy meanwhile ("others": noise).

Targets, scikit-learn model: Studio >= 10x MLflow's requests/s, >= 0.7x the bare app's, and a
p99 at most half of MLflow's.

    .venv/bin/python benchmarks/serving.py [--quick] [--mlflow-uvloop] [--servers studio,limit]

The last line is ``RESULT serving studio_rps=<int> mlflow_rps=<int> limit_rps=<int>
rps_ratio=<x.xx> limit_ratio=<x.xx> p99_ratio=<x.xx>`` (scikit-learn model; the ratios are
Studio's requests/s over MLflow's and over the bare app's, and Studio's p99 over MLflow's).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import PYTHON, ROOT, BenchError, StudioServer, free_port, multipart, studio_env, tail

MLFLOW_VENV = ROOT / "benchmarks" / ".venv-mlflow"
PROJECT = "bench"
API = f"/api/v1/projects/{PROJECT}"
FEATURES = 20
TRAIN_ROWS = 20_000
BODY_ROWS = 64
SEED = 20260501
XGB_PARAMS = {"n_estimators": 100, "max_depth": 6, "learning_rate": 0.3, "tree_method": "hist"}
MODELS = ("sklearn", "xgboost")
SERVERS = ("studio", "studio+capture", "mlflow", "mlflow+uvloop", "limit")
# Data capture at 100 % may add at most this much to Studio's median latency.
TARGET_CAPTURE_OVERHEAD = 0.10
MODEL_TITLES = {"sklearn": "LogisticRegression", "xgboost": "XGBClassifier (100 trees, depth 6)"}
TARGET_RPS_RATIO = 10.0
TARGET_LIMIT_RATIO = 0.7
TARGET_P99_RATIO = 0.5
READY_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 15
REQUEST_TIMEOUT_SECONDS = 30
MAX_REQUESTS = 20_000_000  # per run: a bound the client never reaches on this kind of machine
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
QUIET = {"DO_NOT_TRACK": "1", "MLFLOW_DISABLE_TELEMETRY": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def one_thread_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(dict.fromkeys(THREAD_VARIABLES, "1"), **QUIET, **extra)
    return env


# --- The bare ASGI app (imported by uvicorn as ``serving:bare_app``) -----------------------------

_BARE_MODELS: dict[str, object] = {}


async def bare_app(scope, receive, send) -> None:
    """``POST /<model>``: a single CSV row in, the prediction out as CSV. Models: the JSON object
    ``{"/<model>": "path/to/model.joblib"}`` in ``SERVING_BENCH_MODELS``, loaded at startup."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                import joblib

                for path, file in json.loads(os.environ["SERVING_BENCH_MODELS"]).items():
                    _BARE_MODELS[path] = joblib.load(file)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    import numpy as np

    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    model = _BARE_MODELS.get(scope["path"])
    if model is None:
        status, out = 404, b"no such model\n"
    else:
        prediction = model.predict(np.array(body.split(b","), dtype=float).reshape(1, -1))
        status, out = 200, ("\n".join(str(value) for value in prediction.tolist()) + "\n").encode()
    headers = [(b"content-type", b"text/csv"), (b"content-length", str(len(out)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": out})


# --- The closed-loop client (``serving.py --client``, a process of its own) ----------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, utime + stime in clock ticks), for every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return table


def tree_cpu_seconds(roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each role's processes and all their descendants."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    used = {}
    for role, pids in roots.items():
        seen: set[int] = set()
        stack = list(pids)
        while stack:
            pid = stack.pop()
            if pid in seen or pid not in table:
                continue
            seen.add(pid)
            stack.extend(children.get(pid, ()))
        used[role] = sum(table[pid][1] for pid in seen) / CLOCK_TICKS
    return used


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(value) for value in handle.readline().split()[1:9]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


async def _read_response(reader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked, close = 0, False, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        return status, b"".join(part[:-2] for part in parts), close
    return status, (await reader.readexactly(length) if length else b""), close


async def _load(spec: dict) -> dict:
    import asyncio

    port, requests = spec["port"], [request.encode("latin-1") for request in spec["requests"]]
    loop = asyncio.get_running_loop()
    now = time.perf_counter  # uvloop's loop.time() counts whole milliseconds
    started = now()
    measure_from = started + spec["warmup"]
    measure_to = measure_from + spec["duration"]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    samples: dict[str, str] = {}
    state = {"sent": 0, "stop": False, "cpu": {}}

    def error(kind: str, detail: str, when: float) -> None:
        if when <= measure_to:  # not the connections' last answers, after the window
            key = kind if when >= measure_from else f"{kind} (warm-up)"
            errors[key] = errors.get(key, 0) + 1
            samples.setdefault(key, detail[:300])

    async def connection(index: int) -> None:
        reader = writer = None
        position = index
        while not state["stop"]:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError as exc:
                    error(type(exc).__name__, str(exc), now())
                    await asyncio.sleep(0.05)
                    continue
            request = requests[position % len(requests)]
            position += 1
            state["sent"] += 1
            if state["sent"] > MAX_REQUESTS:
                state["stop"] = True
                break
            sent = now()
            try:
                writer.write(request)
                status, body, close = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                error(type(exc).__name__, str(exc), now())
                writer.close()
                writer = None
                continue
            done = now()
            if status != 200:
                error(f"HTTP {status}", body.decode(errors="replace"), done)
            elif measure_from <= done <= measure_to:  # answers completed in the window
                latencies.append(done - sent)
            if close:
                writer.close()
                writer = None
        if writer is not None:
            writer.close()

    async def clock() -> None:
        await asyncio.sleep(max(0.0, measure_from - now()))
        state["cpu"]["from"] = (tree_cpu_seconds(spec["roles"]), machine_busy_seconds(), time.process_time())
        await asyncio.sleep(max(0.0, measure_to - now()))
        state["cpu"]["to"] = (tree_cpu_seconds(spec["roles"]), machine_busy_seconds(), time.process_time())
        state["stop"] = True

    tasks = [loop.create_task(connection(index)) for index in range(spec["connections"])]
    timer = loop.create_task(clock())
    _, pending = await asyncio.wait(
        [timer, *tasks], timeout=spec["warmup"] + spec["duration"] + spec["grace"]
    )
    for task in pending:
        task.cancel()
    if pending:
        errors["stalled (no answer by the end)"] = len(pending - {timer})
    result = {"latencies": [round(value, 7) for value in latencies], "errors": errors, "samples": samples}
    if "from" in state["cpu"] and "to" in state["cpu"]:
        (roles_from, (busy_from, total_from), own_from) = state["cpu"]["from"]
        (roles_to, (busy_to, total_to), own_to) = state["cpu"]["to"]
        result["cpu"] = {role: roles_to[role] - roles_from.get(role, 0.0) for role in roles_to}
        result["cpu"]["client"] = own_to - own_from
        result["machine_busy"] = (busy_to - busy_from) / max(total_to - total_from, 1e-9)
    return result


def client_main() -> int:
    """Reads the load's spec (JSON) on stdin, runs it, writes the result (JSON) on stdout."""
    import asyncio

    spec = json.loads(sys.stdin.read())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(_load(spec))
    json.dump(result, sys.stdout)
    return 0


# --- Models and data -----------------------------------------------------------------------------


@dataclass
class Models:
    folder: Path
    joblib: dict[str, Path]  # model -> model.joblib
    tarballs: dict[str, Path]  # model -> model.tar.gz holding model.joblib
    rows: list[bytes]  # single CSV rows (no newline)
    expected: dict[str, list[float]]  # model -> its prediction for each row


def make_models(folder: Path) -> Models:
    """A seeded binary classification problem (20 features); a LogisticRegression and an
    XGBClassifier trained on it, pickled with joblib, left to use the threads their server gives."""
    import joblib
    import numpy as np
    import xgboost as xgb
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(SEED)
    features = rng.normal(size=(TRAIN_ROWS + BODY_ROWS, FEATURES))
    score = (
        features[:, 0]
        + 0.8 * features[:, 1] * features[:, 2]
        - 0.6 * np.abs(features[:, 3])
        + 0.5 * np.sin(2 * features[:, 4])
        + 0.3 * features[:, 5:10].sum(axis=1)
        + rng.normal(scale=0.8, size=len(features))
    )
    labels = (score > np.median(score)).astype(np.int64)
    train, train_labels = features[:TRAIN_ROWS], labels[:TRAIN_ROWS]
    trained = {
        "sklearn": LogisticRegression(max_iter=1000).fit(train, train_labels),
        "xgboost": xgb.XGBClassifier(**XGB_PARAMS, n_jobs=2, random_state=0).fit(train, train_labels),
    }
    # Saved without a thread count, so each server's OMP_NUM_THREADS decides (XGBoost's n_jobs
    # would override it).
    trained["xgboost"].set_params(n_jobs=None)
    body_rows = np.round(features[TRAIN_ROWS:], 4)
    rows = [",".join(f"{value:.4f}" for value in row).encode() for row in body_rows]
    parsed = np.array([np.array(row.split(b","), dtype=float) for row in rows])
    models = Models(folder, {}, {}, rows, {})
    for name, model in trained.items():
        model_dir = folder / name
        model_dir.mkdir(parents=True)
        models.joblib[name] = model_dir / "model.joblib"
        joblib.dump(model, models.joblib[name])
        models.tarballs[name] = folder / f"{name}.tar.gz"
        with tarfile.open(models.tarballs[name], "w:gz") as archive:
            archive.add(models.joblib[name], arcname="model.joblib")
        models.expected[name] = [float(value) for value in model.predict(parsed)]
    return models


NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def check_answer(what: str, body: bytes, expected: float) -> None:
    numbers = NUMBER.findall(body)
    if not numbers or abs(float(numbers[0]) - expected) > 1e-6:
        raise BenchError(f"{what} answered {body[:200]!r}, expected the prediction {expected:g}")


# --- Processes -----------------------------------------------------------------------------------


@dataclass
class Service:
    """A server command in its own process group, its output in ``log``."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path = ROOT
    process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "wb") as handle:
            self.process = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.process.returncode}:\n{tail(self.log)}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def connect(port: int) -> http.client.HTTPConnection:
    """A connection with TCP_NODELAY: http.client sends the headers and the body in two writes, which
    Nagle's algorithm and the server's delayed ACK would hold back for 40 ms."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def http_call(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, bytes]:
    connection = connect(port)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until(what: str, check, services: list, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Until ``check()`` is true (connection errors count as not yet), or a service exits."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for service in services:
            service.check_alive()
        try:
            if check():
                return
        except (OSError, http.client.HTTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise BenchError(f"{what} not ready after {timeout:g} s {last}")


def raw_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> str:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines) + "\r\n\r\n" + body.decode("latin-1")


# --- One target: how to call it ------------------------------------------------------------------


@dataclass
class Target:
    server: str  # studio, mlflow, limit
    model: str
    port: int
    path: str
    headers: dict[str, str]
    bodies: list[bytes]
    roles: dict[str, list[int]]  # role -> root pids, for the CPU breakdown
    processes: str  # what runs, for the table
    request_format: str

    def requests(self) -> list[str]:
        return [raw_request(self.port, self.path, body, self.headers) for body in self.bodies]

    def check(self, models: Models) -> None:
        """Each of the first rows answered with the model's own prediction."""
        for index in range(4):
            status, body = http_call(self.port, "POST", self.path, self.bodies[index], self.headers)
            if status != 200:
                raise BenchError(f"{self.server}/{self.model} answered HTTP {status}: {body[:500]!r}")
            check_answer(f"{self.server}/{self.model}", body, models.expected[self.model][index])


@dataclass
class Result:
    """A target's measurements, over all its slices (one client run each)."""

    target: Target
    latencies: list[float] = field(default_factory=list)  # seconds, every answer in the windows
    window: float = 0.0  # seconds measured in all
    slices: list[float] = field(default_factory=list)  # requests/s of each slice
    errors: dict[str, int] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # role -> CPU seconds in the windows
    busy: float = 0.0  # core-seconds the whole machine was busy in the windows

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.count / self.window if self.window else 0.0

    def percentile_ms(self, q: float) -> float:
        import numpy as np

        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def server_us_per_request(self) -> float:
        seconds = sum(value for role, value in self.cpu.items() if role != "client")
        return seconds / max(self.count, 1) * 1e6

    @property
    def other_cores(self) -> float:
        """Cores that processes other than the server's and the client's kept busy in the windows
        (the other servers' idle background included)."""
        return max(0.0, (self.busy - sum(self.cpu.values())) / self.window) if self.window else 0.0

    def add(self, data: dict, window: float) -> None:
        self.latencies += data["latencies"]
        self.window += window
        self.slices.append(len(data["latencies"]) / window)
        for kind, count in data["errors"].items():
            self.errors[kind] = self.errors.get(kind, 0) + count
        for kind, sample in data["samples"].items():
            self.samples.setdefault(kind, sample)
        for role, seconds in data.get("cpu", {}).items():
            self.cpu[role] = self.cpu.get(role, 0.0) + seconds
        self.busy += data.get("machine_busy", 0.0) * (os.cpu_count() or 1) * window


QUIET_CORES = 0.2  # a machine whose other work keeps fewer cores than this busy counts as quiet


def wait_quiet(args: argparse.Namespace) -> float:
    """Before a slice, wait (at most 10 s, quick 3 s, and ``--max-wait`` s in all) until the machine
    is quiet (our idle servers included); the cores that were busy at the end."""
    deadline = time.monotonic() + min(3.0 if args.quick else 10.0, args.max_wait)
    started = time.monotonic()
    while True:
        busy_from, total_from = machine_busy_seconds()
        time.sleep(0.3)
        busy_to, total_to = machine_busy_seconds()
        cores = (busy_to - busy_from) / max(total_to - total_from, 1e-9) * (os.cpu_count() or 1)
        if cores < QUIET_CORES or time.monotonic() >= deadline:
            args.max_wait = max(0.0, args.max_wait - (time.monotonic() - started))
            return cores


def run_slice(result: Result, window: float, args: argparse.Namespace) -> None:
    """One client run on the target: ``--warmup`` s, then ``window`` s measured, added to ``result``."""
    target = result.target
    busy = wait_quiet(args)
    spec = {
        "port": target.port,
        "requests": target.requests(),
        "connections": args.connections,
        "warmup": args.warmup,
        "duration": window,
        "grace": 10.0,
        "roles": target.roles,
    }
    completed = subprocess.run(
        [PYTHON, __file__, "--client"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=one_thread_env(),
        timeout=args.warmup + window + 60,
        check=False,
    )
    if completed.returncode:
        raise BenchError(f"the load client failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    data = json.loads(completed.stdout)
    result.add(data, window)
    count = len(data["latencies"])
    cpu = ", ".join(
        f"{role} {seconds / max(count, 1) * 1e6:.0f}" for role, seconds in data.get("cpu", {}).items()
    )
    latencies = sorted(data["latencies"])
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else float("nan")
    quiet = "" if busy < QUIET_CORES else f"; {busy:.2f} cores busy before it"
    print(
        f"  {target.server:<13} {target.model:<8} {count / window:7.0f} req/s  p50 {p50:6.2f} ms  "
        f"p99 {p99:7.2f} ms  errors {sum(data['errors'].values())}  (CPU us/request: {cpu}; "
        f"machine {data.get('machine_busy', 0.0):.0%} busy{quiet})",
        flush=True,
    )
    for kind, number in data["errors"].items():
        print(f"    error {kind} x{number}: {data['samples'].get(kind, '')}", flush=True)


def measure(targets: list[Target], args: argparse.Namespace) -> list[Result]:
    """``--rounds`` rounds; in each, every target gets one slice of ``--duration / --rounds`` s, the
    servers taking turns in an order that rotates, so that whatever else the machine does falls on
    all of them alike."""
    results = [Result(target) for target in targets]
    window = args.duration / args.rounds
    for round_index in range(args.rounds):
        print(
            f"round {round_index + 1} of {args.rounds} ({args.warmup:g} s warm-up + {window:g} s each):",
            flush=True,
        )
        for model in MODELS:
            ours = [result for result in results if result.target.model == model]
            shift = round_index % len(ours)
            for result in ours[shift:] + ours[:shift]:
                run_slice(result, window, args)
    return results


# --- The three servers ---------------------------------------------------------------------------


def csv_bodies(models: Models) -> list[bytes]:
    return list(models.rows)


def start_limit(
    stack: contextlib.ExitStack, models: Models, work: Path, args: argparse.Namespace
) -> list[Target]:
    """The bare ASGI app, both models in each of its ``--workers`` processes."""
    port = free_port()
    env = one_thread_env(SERVING_BENCH_MODELS=json.dumps({f"/{m}": str(models.joblib[m]) for m in MODELS}))
    argv = [
        str(Path(PYTHON).with_name("uvicorn")), "serving:bare_app", "--app-dir", str(Path(__file__).parent),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers), "--no-access-log",
        "--lifespan", "on",
    ]  # fmt: skip
    service = Service("bare ASGI app", argv, env, work / "limit.log")
    stack.callback(service.stop)
    service.start()
    headers = {"Content-Type": "text/csv"}
    try:
        wait_until(
            "the bare ASGI app",
            lambda: http_call(port, "POST", "/sklearn", models.rows[0], headers)[0] == 200,
            [service],
        )
    except BenchError:
        print(f"--- bare ASGI app log (tail) ---\n{tail(service.log, 2000)}", file=sys.stderr)
        raise
    targets = [
        Target(
            "limit",
            model,
            port,
            f"/{model}",
            headers,
            csv_bodies(models),
            {"server": [service.process.pid]},
            f"uvicorn --workers {args.workers}",
            "text/csv",
        )
        for model in MODELS
    ]
    for target in targets:
        target.check(models)
    print(f"[limit] bare ASGI app up (uvicorn --workers {args.workers})", flush=True)
    return targets


class Studio(StudioServer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.models_uploaded: dict[str, bool] = {}

    def api(self, method: str, path: str, body: bytes | dict | None = None, content_type: str = "") -> dict:
        """One REST call; a 404 (the API not there yet in a checkout being changed) is retried for a while."""
        headers = {"Content-Type": content_type} if content_type else None
        deadline = time.monotonic() + 30
        while True:
            status, data = self.request_bytes(method, path, body, headers, timeout=REQUEST_TIMEOUT_SECONDS)
            if status != 404 or time.monotonic() > deadline:
                break
            time.sleep(1)
        if not 200 <= status < 300:
            raise BenchError(f"[studio] {method} {path} -> {status}: {data[:1000].decode(errors='replace')}")
        return json.loads(data or b"{}")

    def deploy(self, model: str, tarball: Path, instances: int, capture: bool = False) -> str:
        """Upload and trust the model (once), configure and create the endpoint ``bench-<model>``
        (``bench-<model>-capture`` capturing every request); its name."""
        if not self.models_uploaded.get(model):
            body, content_type = multipart(
                {"name": f"bench-{model}"}, {"model_file": ("model.tar.gz", tarball.read_bytes())}
            )
            self.api("POST", f"{API}/models/", body, content_type)
            self.api("POST", f"{API}/models/bench-{model}/trust/")
            self.models_uploaded[model] = True
        name = f"bench-{model}-capture" if capture else f"bench-{model}"
        variant = {
            "name": "main", "model": f"bench-{model}", "instance_type": "ml.m5.large",
            "instance_count": instances, "initial_weight": 1,
        }  # fmt: skip
        config = {"name": name, "variants": [variant]}
        if capture:
            config["data_capture"] = {"sampling_percentage": 100}
        self.api("POST", f"{API}/endpoint-configs/", config)
        self.api("POST", f"{API}/endpoints/", {"name": name, "endpoint_config": name})
        return name

    def wait_in_service(self, name: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            endpoint = self.api("GET", f"{API}/endpoints/{name}/")
            if endpoint.get("status") == "InService":
                return
            if endpoint.get("status") == "Failed":
                raise BenchError(f"[studio] endpoint {name} Failed: {endpoint.get('failure_reason')}")
            for process_name, process in self.processes.items():
                if process.poll() is not None:
                    raise BenchError(f"[studio] {process_name} exited:\n{tail(self.logs[process_name])}")
            time.sleep(0.25)
        raise BenchError(f"[studio] endpoint {name} not InService after {READY_TIMEOUT_SECONDS} s")


def start_studio(
    stack: contextlib.ExitStack, models: Models, work: Path, args: argparse.Namespace
) -> list[Target]:
    """A fresh embedded Studio (web + serving supervisor) with one endpoint per model."""
    data_dir = work / "studio"
    data_dir.mkdir()
    env = studio_env(
        data_dir, "serving-benchmark-" + secrets.token_hex(16), STUDIO_SERVING_THREADS="1",
        **dict.fromkeys(THREAD_VARIABLES, "1"), **QUIET,
    )  # fmt: skip
    studio = Studio(env, data_dir, label="studio", serving=True, web_workers=args.workers, key_name="serving")
    stack.callback(studio.stop)
    started = time.monotonic()
    try:
        studio.prepare()
        studio.start()
        names = {
            ("studio", model): studio.deploy(model, models.tarballs[model], args.workers) for model in MODELS
        }
        if args.capture:
            names["studio+capture", "sklearn"] = studio.deploy(
                "sklearn", models.tarballs["sklearn"], args.workers, capture=True
            )
        for name in names.values():
            studio.wait_in_service(name)
        headers = {"Authorization": f"Bearer {studio.key}", "Content-Type": "text/csv", "Accept": "text/csv"}
        targets = []
        for (server, model), name in names.items():
            path = f"{API}/endpoints/{name}/invocations"
            # The gateway's route table follows the database within STUDIO_GATEWAY_REFRESH_SECONDS.
            wait_until(
                f"endpoint {name}",
                lambda path=path: http_call(studio.port, "POST", path, models.rows[0], headers)[0] == 200,
                [],
                timeout=30,
            )
            target = Target(
                server, model, studio.port, path, headers, csv_bodies(models),
                {"web": [studio.pid("web")], "serving": [studio.pid("serving")]},
                f"uvicorn --workers {args.workers} + {args.workers} model processes", "text/csv",
            )  # fmt: skip
            target.check(models)
            targets.append(target)
    except BenchError:
        for name, log in studio.logs.items():
            print(f"--- [studio] {name} log (tail) ---\n{tail(log, 2000)}", file=sys.stderr)
        for log in sorted((data_dir / "serving" / "logs").glob("*.log")):
            print(f"--- [studio] serving process {log.name} (tail) ---\n{tail(log, 1500)}", file=sys.stderr)
        raise
    print(
        f"[studio] web and {len(names)} endpoints in service in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    return targets


# --- MLflow --------------------------------------------------------------------------------------

MLFLOW_SAVE = """\
import sys
import warnings

warnings.filterwarnings("ignore")
import joblib
import mlflow.sklearn
import mlflow.xgboost

sklearn_file, xgboost_file, sklearn_out, xgboost_out = sys.argv[1:5]
mlflow.sklearn.save_model(joblib.load(sklearn_file), sklearn_out)
mlflow.xgboost.save_model(joblib.load(xgboost_file), xgboost_out)
"""


def installed_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("scikit-learn", "xgboost", "numpy", "pandas")}


MLFLOW_CHECK = (
    "import mlflow, sklearn, xgboost; print(mlflow.__version__, sklearn.__version__, xgboost.__version__)"
)


def mlflow_python(explicit: str | None, uvloop: bool) -> tuple[Path, str]:
    """A Python with MLflow and its version: the one given, or benchmarks/.venv-mlflow (``pip install
    mlflow``), or with ``uvloop`` benchmarks/.venv-mlflow-uvloop (``mlflow uvicorn[standard]``),
    made on first use with scikit-learn, XGBoost, NumPy and pandas at this environment's versions."""
    venv = MLFLOW_VENV.with_name(MLFLOW_VENV.name + "-uvloop") if uvloop else MLFLOW_VENV
    python = Path(explicit) if explicit else venv / "bin" / "python"
    pins = installed_versions()
    found = (
        subprocess.run([str(python), "-c", MLFLOW_CHECK], capture_output=True, text=True, check=False)
        if python.exists()
        else None
    )
    if found is not None and found.returncode == 0:
        mlflow_version, *versions = found.stdout.split()
        if explicit or versions == [pins["scikit-learn"], pins["xgboost"]]:
            return python, mlflow_version
    if explicit:
        raise BenchError(f"{explicit} cannot import mlflow, sklearn and xgboost:\n{found.stderr[-2000:]}")
    base = shutil.which("python3.11") or sys.executable
    print(f"creating {venv.relative_to(ROOT)} and installing mlflow (once; a few minutes)", flush=True)
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    install = [
        str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "mlflow",
        *(["uvicorn[standard]"] if uvloop else []), *(f"{name}=={value}" for name, value in pins.items()),
    ]  # fmt: skip
    result = subprocess.run(install, capture_output=True, text=True, check=False, env=one_thread_env())
    if result.returncode:
        lines = [line for line in (result.stdout + result.stderr).splitlines() if "is ignored" not in line]
        raise BenchError("installing mlflow failed:\n" + "\n".join(lines[-30:]))
    return mlflow_python(None, uvloop)


def mlflow_bodies(models: Models, kind: str) -> tuple[list[bytes], dict[str, str]]:
    """Single-row bodies in one of the formats MLflow's /invocations takes."""
    columns = [f"f{i}" for i in range(FEATURES)]
    if kind == "text/csv":  # pandas.read_csv: a header row, then the row
        header = ",".join(columns).encode()
        return [header + b"\n" + row + b"\n" for row in models.rows], {"Content-Type": "text/csv"}
    bodies = []
    for row in models.rows:
        values = [float(value) for value in row.split(b",")]
        if kind == "dataframe_split":
            payload = {"dataframe_split": {"columns": columns, "data": [values]}}
        else:
            payload = {"inputs": [values]}
        bodies.append(json.dumps(payload, separators=(",", ":")).encode())
    return bodies, {"Content-Type": "application/json"}


PROBE_REQUESTS = 25
PROBE_COUNTED = 20
NAGLE_STALL_MS = 30.0  # one request at a time slower than this, at ~2 ms of CPU: the delayed-ACK stall


def fastest_mlflow_format(name: str, port: int, models: Models, model: str) -> tuple[str, float]:
    """Of the formats MLflow takes for one row, the one it answers fastest, one request at a time
    (each answer checked); and that median latency in ms."""
    timings = {}
    for kind in ("text/csv", "dataframe_split", "inputs"):
        bodies, headers = mlflow_bodies(models, kind)
        connection = connect(port)
        try:
            times = []
            for index in range(PROBE_REQUESTS):
                started = time.perf_counter()
                connection.request("POST", "/invocations", body=bodies[index % len(bodies)], headers=headers)
                response = connection.getresponse()
                answer = response.read()
                times.append(time.perf_counter() - started)
                if response.status != 200:
                    break
                check_answer(f"{name}/{model} ({kind})", answer, models.expected[model][index % len(bodies)])
            else:
                counted = sorted(times[-PROBE_COUNTED:])
                timings[kind] = counted[len(counted) // 2] * 1000
        finally:
            connection.close()
    if not timings:
        raise BenchError(f"{name}/{model} answered no single-row format with HTTP 200")
    shown = ", ".join(f"{kind} {ms:.2f} ms" for kind, ms in timings.items())
    best = min(timings, key=timings.get)
    print(f"[{name}] {model}: one request at a time (median): {shown} -> {best}", flush=True)
    return best, timings[best]


def start_mlflow(
    stack: contextlib.ExitStack, models: Models, work: Path, args: argparse.Namespace, uvloop: bool = False
) -> list[Target]:
    """``mlflow models serve`` for each model, in the single-row format it answers fastest."""
    name = "mlflow+uvloop" if uvloop else "mlflow"
    python, version = mlflow_python(None if uvloop else args.mlflow_python, uvloop)
    folder = work / name
    saved = {model: folder / model for model in MODELS}
    subprocess.run(
        [str(python), "-c", MLFLOW_SAVE, str(models.joblib["sklearn"]), str(models.joblib["xgboost"]),
         str(saved["sklearn"]), str(saved["xgboost"])],
        capture_output=True, text=True, check=True, env=one_thread_env(), timeout=300,
    )  # fmt: skip
    # As in MLflow's own virtual environment, activated: it runs ``uvicorn`` from PATH.
    env = one_thread_env(
        PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}", VIRTUAL_ENV=str(python.parent.parent)
    )
    services, ports = {}, {}
    started = time.monotonic()
    for model in MODELS:
        ports[model] = free_port()
        argv = [
            str(python.with_name("mlflow")), "models", "serve", "-m", str(saved[model]), "--env-manager",
            "local", "--workers", str(args.workers), "-h", "127.0.0.1", "-p", str(ports[model]),
        ]  # fmt: skip
        services[model] = Service(
            f"{name} models serve ({model})", argv, env, folder / f"{model}.log", folder
        )
        stack.callback(services[model].stop)
        services[model].start()
    targets = []
    try:
        for model, service in services.items():
            wait_until(
                f"{name} {model}",
                lambda port=ports[model]: http_call(port, "GET", "/ping")[0] == 200,
                [service],
            )
        print(
            f"[{name}] {version}: {len(services)} servers up in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        for model, service in services.items():
            kind, one_ms = fastest_mlflow_format(name, ports[model], models, model)
            if one_ms > NAGLE_STALL_MS:
                print(
                    f"[{name}] NOTE: {one_ms:.0f} ms for one request alone: its uvicorn "
                    f"--workers {args.workers} runs on asyncio (no uvloop in `pip install mlflow`) and its "
                    "pre-bound socket leaves TCP_NODELAY off, so each keep-alive answer waits for the "
                    "client's delayed ACK (uvicorn issue #3149); --mlflow-uvloop also measures MLflow with "
                    "uvicorn[standard]",
                    flush=True,
                )
            bodies, headers = mlflow_bodies(models, kind)
            targets.append(
                Target(
                    name,
                    model,
                    ports[model],
                    "/invocations",
                    headers,
                    bodies,
                    {"server": [service.process.pid]},
                    f"mlflow {version}, uvicorn --workers {args.workers}",
                    kind,
                )
            )
    except BenchError:
        for model, service in services.items():
            print(f"--- {name} {model} log (tail) ---\n{tail(service.log, 2000)}", file=sys.stderr)
        raise
    return targets


# --- Report --------------------------------------------------------------------------------------


def report(results: list[Result], args: argparse.Namespace) -> bool:
    """Each peer's figures side by side; True when every result is valid (no errors)."""
    print()
    print(
        f"Serving: {args.connections} closed-loop connections on 127.0.0.1, single-row bodies ({FEATURES} "
        f"features); per server and model {args.rounds} x ({args.warmup:g} s warm-up + "
        f"{args.duration / args.rounds:g} s measured), servers taking turns; {os.cpu_count()} cores shared "
        "by all servers and the client"
    )
    columns = ["server", "model", "processes", "format", "req/s", "slices", "p50 ms", "p99 ms", "errors"]
    columns += ["CPU us/req", "others"]
    rows = []
    for model in MODELS:
        for server in SERVERS:
            for result in results:
                if result.target.server == server and result.target.model == model:
                    spread = "-".join(f"{rps:.0f}" for rps in (min(result.slices), max(result.slices)))
                    rows.append([
                        server, model, result.target.processes, result.target.request_format,
                        f"{result.rps:.0f}", spread if len(result.slices) > 1 else "",
                        f"{result.p50_ms:.2f}", f"{result.p99_ms:.2f}", str(result.error_count),
                        f"{result.server_us_per_request:.0f}", f"{result.other_cores:.2f}",
                    ])  # fmt: skip
    widths = [max(len(row[i]) for row in [columns, *rows]) for i in range(len(columns))]
    line = "  ".join(f"{{:{'>' if i >= 4 else '<'}{w}}}" for i, w in enumerate(widths))
    print(line.format(*columns))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))
    print(
        f"(models: {MODEL_TITLES['sklearn']} and {MODEL_TITLES['xgboost']}, the same pickles for all;\n"
        f" studio = its web front (uvicorn, {args.workers} workers: Django + the invocation gateway)\n"
        f" and {args.workers} serving processes per endpoint (instance_count {args.workers}): twice the\n"
        " processes of the others, on the same cores; every server process has one OpenMP/MKL/OpenBLAS\n"
        " thread; slices = req/s of the slowest and fastest slice; CPU us/req = CPU time of the\n"
        " server's processes in the windows / answers; others = cores busy with other work meanwhile,\n"
        " the idle servers' background included)"
    )
    by = {(result.target.server, result.target.model): result for result in results}
    for model in MODELS:
        studio = by.get(("studio", model))
        peers = [(server, by.get((server, model))) for server in SERVERS[1:]]
        ratios = [
            f"{studio.rps / peer.rps:.2f}x {server}'s req/s, p99 {studio.p99_ms / peer.p99_ms:.2f}x"
            for server, peer in peers
            if studio is not None and peer is not None and peer.rps
        ]
        if ratios:
            print(f"studio, {model}: " + "; ".join(ratios))
    noisy = [result for result in results if result.other_cores >= QUIET_CORES]
    if noisy:
        print(
            f"WARNING: {len(noisy)} of {len(results)} measurements shared the machine with other work "
            f"(others >= {QUIET_CORES:g} cores): low and noisy figures; run again on a quiet machine"
        )
    valid = all(result.error_count == 0 and result.count for result in results)
    if not valid:
        print("INVALID: some measurements had errors (above) or no answers: they are not results")
    return valid


def main() -> int:
    if "--client" in sys.argv[1:]:
        return client_main()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="under two minutes: 1 round of 1 s + 4 s")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds measured per server and model (10; quick 4)"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="slices the duration is split in (2; quick 1)"
    )
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds of load before each slice (2; quick 1)"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of every server")
    parser.add_argument(
        "--max-wait",
        type=float,
        default=None,
        help="seconds of waiting for a quiet machine in all (60; quick 6)",
    )
    parser.add_argument(
        "--servers", default="studio,mlflow,limit", help="a subset to run (no RESULT line without all three)"
    )
    parser.add_argument(
        "--mlflow-python", default=None, help="a Python with mlflow (default: benchmarks/.venv-mlflow)"
    )
    parser.add_argument(
        "--no-capture",
        dest="capture",
        action="store_false",
        help="skip the Studio endpoint that captures every request (the capture overhead figure)",
    )
    parser.add_argument(
        "--mlflow-uvloop",
        action="store_true",
        help="also MLflow with uvicorn[standard] (uvloop, httptools), from benchmarks/.venv-mlflow-uvloop",
    )
    args = parser.parse_args()
    args.duration = args.duration or (4.0 if args.quick else 10.0)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    args.max_wait = args.max_wait if args.max_wait is not None else (6.0 if args.quick else 60.0)
    if args.duration <= 0 or args.warmup < 0 or min(args.connections, args.workers, args.rounds) < 1:
        parser.error("--duration must be positive, --warmup at least 0, the others at least 1")
    servers = [server.strip() for server in args.servers.split(",") if server.strip()]
    if not servers or set(servers) - {"studio", "mlflow", "limit"}:
        parser.error("--servers: a comma-separated subset of studio,mlflow,limit")

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "2")  # training here; every server gets 1
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="studio-bench-serving-"))
    try:
        with contextlib.ExitStack() as stack:
            models = make_models(work / "models")
            print(f"models trained and saved in {time.monotonic() - started:.1f} s", flush=True)
            targets = []
            if "studio" in servers:
                targets += start_studio(stack, models, work, args)
            if "mlflow" in servers:
                targets += start_mlflow(stack, models, work, args)
                if args.mlflow_uvloop:
                    targets += start_mlflow(stack, models, work, args, uvloop=True)
            if "limit" in servers:
                targets += start_limit(stack, models, work, args)
            print(f"all servers up in {time.monotonic() - started:.0f} s", flush=True)
            results = measure(targets, args)
    except (BenchError, subprocess.CalledProcessError) as exc:
        print(f"serving: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("serving: interrupted; servers stopped and temporary data removed", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"(total {time.monotonic() - started:.0f} s)")
    valid = report(results, args)
    if set(servers) != {"studio", "mlflow", "limit"}:
        return 0 if valid else 1
    by = {(result.target.server, result.target.model): result for result in results}
    studio, mlflow, limit = (by[(server, "sklearn")] for server in ("studio", "mlflow", "limit"))
    rps_ratio = studio.rps / mlflow.rps if mlflow.rps else float("nan")
    limit_ratio = studio.rps / limit.rps if limit.rps else float("nan")
    p99_ratio = studio.p99_ms / mlflow.p99_ms
    for what, value, target, met in (
        ("Studio / MLflow requests/s", rps_ratio, f">= {TARGET_RPS_RATIO:g}", rps_ratio >= TARGET_RPS_RATIO),
        (
            "Studio / bare app requests/s",
            limit_ratio,
            f">= {TARGET_LIMIT_RATIO:g}",
            limit_ratio >= TARGET_LIMIT_RATIO,
        ),
        ("Studio / MLflow p99", p99_ratio, f"<= {TARGET_P99_RATIO:g}", p99_ratio <= TARGET_P99_RATIO),
    ):
        print(f"TARGET {what} {target} (scikit-learn): {value:.2f} -> {'MET' if met else 'NOT MET'}")
    captured = by.get(("studio+capture", "sklearn"))
    if captured is not None:
        overhead = captured.p50_ms / studio.p50_ms - 1
        met = overhead < TARGET_CAPTURE_OVERHEAD
        print(
            f"TARGET data capture at 100 % adds < {TARGET_CAPTURE_OVERHEAD:.0%} to Studio's median latency "
            f"(scikit-learn): p50 {captured.p50_ms:.2f} ms vs {studio.p50_ms:.2f} ms, {overhead:+.1%} -> "
            f"{'MET' if met else 'NOT MET'}"
        )
    if not valid:
        print("serving: no RESULT: measurements with errors are not valid", file=sys.stderr)
        return 1
    print(
        f"RESULT serving studio_rps={studio.rps:.0f} mlflow_rps={mlflow.rps:.0f} limit_rps={limit.rps:.0f} "
        f"rps_ratio={rps_ratio:.2f} limit_ratio={limit_ratio:.2f} p99_ratio={p99_ratio:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
