"""Job dispatch latency: how long from the API call until a trivial processing job runs, and ends.

For each mode, a fresh Studio (web server + one Celery worker, started as ``manage.py serve``
starts them) gets N trivial processing jobs, one at a time (submit, wait until it ends, next), so
no job waits behind another. Per job:

* POST->InProgress: the client's clock just before the POST to the server's time of the
  (InProgress, Starting) event in ``status_history`` (the worker claimed the job);
* POST->Completed: the same to the (Completed, Completed) event.

Client and server share this machine's clock. The peer is the same script run directly
(``python script.py``), N times. Modes:

* redis:    PostgreSQL (a fresh ``studio_bench`` database) + Redis (db 14, flushed) + file:// store;
* embedded: SQLite + kombu's filesystem:// broker under a fresh data directory.

Target: median POST->InProgress under 300 ms on Redis.

    .venv/bin/python benchmarks/job_dispatch.py [--quick]

Needs PostgreSQL and Redis on 127.0.0.1 (--pg-url, --redis-url); exits non-zero without them.
The last line is ``RESULT job_dispatch redis_p50_ms=<int> embedded_p50_ms=<int> overhead_s=<x.xxx>``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchlib import PYTHON, BenchError, StudioServer, studio_env, tail

BENCH_DB = "studio_bench"
SCRIPT = 'print("hello")\n'
TARGET_MS = 300
TERMINAL = {"Completed", "Failed", "Stopped"}
POLL_SECONDS = 0.05
JOB_TIMEOUT_SECONDS = 60
REQUEST_TIMEOUT_SECONDS = 15


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


# --- Preconditions: the servers of the full stack -------------------------------------------------


def check_servers(pg_url: str, redis_url: str) -> str | None:
    """None when both answer, else a line saying which does not."""
    import psycopg
    import redis

    try:
        with psycopg.connect(pg_url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL at {pg_url} is unreachable ({type(exc).__name__}: {one_line(exc)})"
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        return f"Redis at {redis_url} is unreachable ({type(exc).__name__}: {one_line(exc)})"
    return None


def recreate_database(pg_url: str, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))


def flush_redis(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
    client.flushdb()
    client.close()


def bench_database_url(pg_url: str) -> str:
    parts = urlsplit(pg_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{BENCH_DB}", parts.query, parts.fragment))


# --- One Studio: migrate, seed, web + worker ------------------------------------------------------


@dataclass
class Studio(StudioServer):
    """A StudioServer (web + worker) labelled with its mode, that submits jobs and waits for them."""

    history_lags: int = 0  # reads that saw a terminal status before its status_history event

    @property
    def mode(self) -> str:
        return self.label

    def _request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, dict]:
        headers = {"Content-Type": content_type} if content_type else None
        status, data = self.request_bytes(method, path, body, headers, timeout=REQUEST_TIMEOUT_SECONDS)
        if not 200 <= status < 300:
            raise BenchError(
                f"[{self.mode}] {method} {path} -> {status}: {data[:1000].decode(errors='replace')}"
            )
        return status, json.loads(data or b"{}")

    def submit(self, name: str) -> None:
        boundary = "----studio-bench-" + secrets.token_hex(8)
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'.encode(),
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="script"; filename="hello.py"\r\n'
                f"Content-Type: text/x-python\r\n\r\n"
            ).encode()
            + SCRIPT.encode()
            + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
        status, _ = self._request(
            "POST",
            "/api/v1/projects/bench/processing-jobs/",
            b"".join(parts),
            f"multipart/form-data; boundary={boundary}",
        )
        if status != 201:
            raise BenchError(f"[{self.mode}] POST answered {status}, expected 201")

    def wait_terminal(self, name: str) -> dict:
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        lagged = False
        while time.monotonic() < deadline:
            _, job = self._request("GET", f"/api/v1/projects/bench/processing-jobs/{name}/")
            if job["status"] in TERMINAL:
                # Job.transition updates the row and inserts the event in two statements, so a read
                # in between sees the terminal status without its event: read again until it is there.
                if any(event["status"] == job["status"] for event in job["status_history"]):
                    return job
                if not lagged:
                    lagged, self.history_lags = True, self.history_lags + 1
                    deadline = min(deadline, time.monotonic() + 5)
            time.sleep(POLL_SECONDS)
        if lagged:
            return job  # event_time() names the missing event
        raise BenchError(
            f"[{self.mode}] job {name} not terminal after {JOB_TIMEOUT_SECONDS} s; worker log:\n"
            f"{tail(self.logs['worker'])}"
        )


@dataclass
class ModeResult:
    mode: str
    to_in_progress: list[float]  # seconds
    to_completed: list[float]
    post_response: list[float]


def event_time(job: dict, status: str, secondary: str) -> float:
    for event in job["status_history"]:
        if event["status"] == status and event["secondary_status"] == secondary:
            return parse_time(event["created_at"])
    raise BenchError(f"job {job['name']} has no ({status}, {secondary}) event: {job['status_history']}")


def run_jobs(studio: Studio, n: int, warmup: int) -> ModeResult:
    result = ModeResult(studio.mode, [], [], [])
    run_id = secrets.token_hex(3)
    for i in range(warmup + n):
        name = f"dispatch-{run_id}-{i:03d}"
        posted = time.time()
        studio.submit(name)
        answered = time.time()
        job = studio.wait_terminal(name)
        if job["status"] != "Completed":
            raise BenchError(f"[{studio.mode}] job {name} ended {job['status']}: {job.get('failure_reason')}")
        if i < warmup:
            continue
        result.post_response.append(answered - posted)
        result.to_in_progress.append(event_time(job, "InProgress", "Starting") - posted)
        result.to_completed.append(event_time(job, "Completed", "Completed") - posted)
    return result


def run_mode(mode: str, n: int, warmup: int, pg_url: str, redis_url: str) -> ModeResult:
    data_dir = Path(tempfile.mkdtemp(prefix=f"studio-bench-{mode}-"))
    env = studio_env(
        data_dir,
        "job-dispatch-benchmark-" + secrets.token_hex(16),
        DO_NOT_TRACK="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    if mode == "redis":
        recreate_database(pg_url)
        flush_redis(redis_url)
        env["DATABASE_URL"] = bench_database_url(pg_url)
        env["CELERY_BROKER_URL"] = redis_url
    studio = Studio(env, data_dir, label=mode, worker=True, key_name="job dispatch benchmark")
    try:
        started = time.monotonic()
        studio.prepare()
        studio.start()
        print(
            f"[{mode}] web on {studio.base} and worker ready in {time.monotonic() - started:.1f} s; "
            f"running {warmup} warm-up + {n} jobs one at a time",
            flush=True,
        )
        result = run_jobs(studio, n, warmup)
        lags = (
            f"; {studio.history_lags} reads saw the terminal status before its status_history event"
            if studio.history_lags
            else ""
        )
        print(f"[{mode}] done in {time.monotonic() - started:.1f} s{lags}", flush=True)
        return result
    except BenchError:
        for name, log in studio.logs.items():
            print(f"--- [{mode}] {name} log (tail) ---\n{tail(log, 2000)}", file=sys.stderr)
        raise
    finally:
        studio.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        if mode == "redis":
            with contextlib.suppress(Exception):
                flush_redis(redis_url)
            with contextlib.suppress(Exception):
                recreate_database(pg_url, drop_only=True)


def direct_runs(n: int) -> list[float]:
    folder = Path(tempfile.mkdtemp(prefix="studio-bench-direct-"))
    try:
        script = folder / "script.py"
        script.write_text(SCRIPT)
        times = []
        for i in range(n + 1):  # the first one warms the page cache, like the jobs' warm-up
            started = time.perf_counter()
            subprocess.run([PYTHON, str(script)], cwd=folder, capture_output=True, check=True, timeout=60)
            if i:
                times.append(time.perf_counter() - started)
        return times
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def report(results: dict[str, ModeResult], direct: list[float], n: int) -> None:
    direct_median = statistics.median(direct)
    print()
    print(
        f"Job dispatch: {n} trivial processing jobs per mode, submitted one at a time "
        f"(POST -> status_history event times; client and server share one clock)"
    )
    columns = [
        "mode",
        "POST->InProgress p50",
        "p95",
        "POST->Completed p50",
        "p95",
        "direct run p50",
        "POST response p50",
    ]
    rows = []
    for mode, result in results.items():
        rows.append(
            [
                mode,
                *(ms(percentile(result.to_in_progress, q)) for q in (0.5, 0.95)),
                *(ms(percentile(result.to_completed, q)) for q in (0.5, 0.95)),
                ms(direct_median),
                ms(statistics.median(result.post_response)),
            ]
        )
    widths = [max(len(str(row[i])) for row in [columns, *rows]) for i in range(len(columns))]
    line = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    print(line.format(*columns))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))
    print(
        "(all figures in ms; 'direct run' = the same script run as `python script.py`, same N;\n"
        " 'POST response' = the create request alone, client-side)"
    )
    redis = results["redis"]
    overhead = statistics.median(redis.to_completed) - direct_median
    p50_redis = statistics.median(redis.to_in_progress) * 1000
    met = p50_redis < TARGET_MS
    print(f"overhead_s (redis median POST->Completed - direct-run median) = {overhead:.3f}")
    print(
        f"TARGET median POST->InProgress on Redis < {TARGET_MS} ms: {p50_redis:.0f} ms -> "
        f"{'MET' if met else 'NOT MET'}"
    )
    embedded_p50 = ms(statistics.median(results["embedded"].to_in_progress))
    print(
        f"RESULT job_dispatch redis_p50_ms={round(p50_redis)} embedded_p50_ms={embedded_p50} "
        f"overhead_s={overhead:.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 jobs per mode instead of 50")
    parser.add_argument("-n", type=int, default=None, help="jobs per mode (overrides --quick)")
    parser.add_argument("--warmup", type=int, default=1, help="jobs per mode run first and not counted")
    parser.add_argument(
        "--pg-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help=f"a PostgreSQL maintenance database; the benchmark creates and drops {BENCH_DB!r} beside it",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="flushed before and after")
    args = parser.parse_args()
    n = args.n or (10 if args.quick else 50)
    if n < 1 or args.warmup < 0:
        parser.error("-n must be at least 1 and --warmup at least 0")
    for url in (args.pg_url, args.redis_url):
        if urlsplit(url).hostname not in {"127.0.0.1", "localhost", "::1"}:
            parser.error(f"{url}: only servers on this machine (127.0.0.1)")

    problem = check_servers(args.pg_url, args.redis_url)
    if problem:
        print(f"job_dispatch: cannot run the redis mode: {problem}", file=sys.stderr)
        return 2

    # SIGTERM unwinds like Ctrl-C, through every finally below.
    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    try:
        direct = direct_runs(n)
        print(
            f"[direct] {n} runs of `python script.py`: median {ms(statistics.median(direct))} ms", flush=True
        )
        results = {
            mode: run_mode(mode, n, args.warmup, args.pg_url, args.redis_url)
            for mode in ("redis", "embedded")
        }
    except BenchError as exc:
        print(f"job_dispatch: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("job_dispatch: interrupted; subprocesses stopped and temporary data removed", file=sys.stderr)
        return 130
    print(f"(total {time.monotonic() - started:.0f} s)")
    report(results, direct, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
