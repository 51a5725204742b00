"""Upload throughput and the web server's memory: a large CSV sent in 8 MB chunks over HTTP.

A fresh Studio web server (gunicorn, as ``manage.py serve`` starts it) runs on 127.0.0.1 in the
embedded mode under a temporary data directory. The client creates an upload, PUTs the file in
8 MB chunks with ``Content-Range``, then completes it (the server checks every line and row,
infers the schema, counts rows and copies the file into the artifact store, hashing it) and
commits it as a dataset version. Meanwhile a sampler reads ``VmRSS`` from /proc for the gunicorn
master and every worker, every 20 ms.

Figures: transfer MB/s (chunks only), complete seconds, end-to-end MB/s (chunks + complete),
the peak RSS of the largest web process and of the whole web tree, and the peer: a plain local
copy of the same file (``shutil.copyfile``, what ``cp`` does) on the same disk.

Target: every web process under 200 MB RSS.

    .venv/bin/python benchmarks/upload.py            # 1 GB (about 1-2 minutes)
    .venv/bin/python benchmarks/upload.py --quick    # 200 MB (well under a minute)

The last line is ``RESULT upload mb_per_s=<end-to-end> web_rss_mb=<largest web process peak>``.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import BenchError, StudioServer, studio_env

MB = 1024 * 1024
CHUNK_BYTES = 8 * MB
TARGET_RSS_MB = 200
SAMPLE_SECONDS = 0.02
REQUEST_TIMEOUT_SECONDS = 600  # complete reads the whole file once; generous for slow disks


# --- The data -----------------------------------------------------------------------------------


def write_csv(path: Path, size: int) -> int:
    """A CSV of about ``size`` bytes (whole rows): ids, floats, a category, a date and some text.
    One block of 50,000 distinct rows is written again and again, so generating 1 GB takes seconds."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    rows = 50_000
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "amount": rng.normal(100, 25, rows).round(2),
            "score": rng.random(rows).round(6),
            "segment": rng.choice(["retail", "online", "partner", "wholesale"], rows),
            "day": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D"),
            "note": [f"order {i} shipped" for i in range(rows)],
            "clicks": rng.integers(0, 10_000, rows),
        }
    )
    block = frame.to_csv(index=False, header=False, date_format="%Y-%m-%d").encode()
    header = (",".join(frame.columns) + "\n").encode()
    written = 0
    with open(path, "wb") as handle:
        handle.write(header)
        written += len(header)
        while written + len(block) <= size:
            handle.write(block)
            written += len(block)
        rest = block[: max(size - written, 0)]
        rest = rest[: rest.rfind(b"\n") + 1] if b"\n" in rest else b""
        handle.write(rest)
        written += len(rest)
    return written


# --- Memory of the web process tree ---------------------------------------------------------------


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def is_reader_child(pid: int) -> bool:
    """The process a web worker starts to read a large file (``python -m datasets.formats``)."""
    try:
        return b"datasets.formats" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@dataclass
class RssSampler:
    """Samples the RSS of gunicorn (master and workers) and of the reader processes the workers
    start, until stopped; keeps the peaks."""

    root_pid: int
    peak_single: float = 0.0
    peak_tree: float = 0.0
    peak_reader: float = 0.0
    baseline_single: float = 0.0
    samples: int = 0
    phase: str = "start"
    phase_peaks: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> tuple[float, float, float]:
        """(largest web process, all web processes, largest reader child), in MB."""
        web, readers = [self.root_pid], []
        for pid in descendants(self.root_pid):
            (readers if is_reader_child(pid) else web).append(pid)
        values = [rss_mb(pid) for pid in web]
        return max(values, default=0.0), sum(values), max((rss_mb(pid) for pid in readers), default=0.0)

    def start(self) -> None:
        self.baseline_single = self.sample()[0]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            single, tree, reader = self.sample()
            self.peak_single = max(self.peak_single, single)
            self.peak_tree = max(self.peak_tree, tree)
            self.peak_reader = max(self.peak_reader, reader)
            self.phase_peaks[self.phase] = max(self.phase_peaks.get(self.phase, 0.0), single)
            self.samples += 1
            time.sleep(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


# --- One Studio web server -------------------------------------------------------------------------


def warm_up(studio: StudioServer) -> None:
    """Load the app (URLs, pandas) in every worker before measuring anything."""
    for _ in range(8):
        studio.request("GET", "/api/v1/projects/bench/datasets/")


# --- The measurement --------------------------------------------------------------------------------


def upload(studio: StudioServer, path: Path, size: int, sampler: RssSampler) -> dict:
    """Create, send in chunks, complete and commit; the times of each phase."""
    api = "/api/v1/projects/bench/uploads/"
    status, created = studio.request("POST", api, {"filename": path.name, "total_size": size})
    if status != 201:
        raise BenchError(f"POST uploads/ -> {status}: {created}")
    url = f"{api}{created['uuid']}/"
    conn = studio.connection()  # one keep-alive connection, as a browser would use
    sampler.phase = "transfer"
    started = time.perf_counter()
    with open(path, "rb") as handle:
        offset = 0
        while chunk := handle.read(CHUNK_BYTES):
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"bytes {offset}-{offset + len(chunk) - 1}/{size}",
            }
            status, body = studio.request("PUT", url, chunk, headers, connection=conn)
            if status != 200:
                raise BenchError(f"PUT at {offset} -> {status}: {body}")
            offset += len(chunk)
    transferred = time.perf_counter()
    sampler.phase = "complete"
    status, staged = studio.request("POST", f"{url}complete/", connection=conn)
    if status != 200:
        raise BenchError(f"complete -> {status}: {staged}")
    completed = time.perf_counter()
    sampler.phase = "commit"
    status, version = studio.request("POST", f"{url}commit/", {"dataset": "bench-data"}, connection=conn)
    if status != 201:
        raise BenchError(f"commit -> {status}: {version}")
    committed = time.perf_counter()
    conn.close()
    return {
        "transfer_s": transferred - started,
        "complete_s": completed - transferred,
        "commit_s": committed - completed,
        "rows": staged["inspection"]["row_count"],
        "schema": staged["inspection"]["schema"],
    }


def local_copy_seconds(path: Path, target: Path) -> float:
    started = time.perf_counter()
    shutil.copyfile(path, target)
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 MB instead of 1 GB")
    parser.add_argument("--size-mb", type=int, default=None, help="file size in MB (default 1024, quick 200)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args()
    size_mb = args.size_mb or (200 if args.quick else 1024)

    data_dir = Path(tempfile.mkdtemp(prefix="studio-upload-bench-"))
    env = studio_env(data_dir / "studio", "upload-benchmark-only")
    studio = StudioServer(env, data_dir, key_name="upload benchmark", request_timeout=REQUEST_TIMEOUT_SECONDS)
    stopping = threading.Event()

    def on_signal(signum, _frame) -> None:
        stopping.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        source = data_dir / "bench.csv"
        started = time.perf_counter()
        size = write_csv(source, size_mb * MB)
        print(f"file: {size / MB:.0f} MB CSV written in {time.perf_counter() - started:.1f} s ({source})")
        studio.prepare()
        studio.start()
        warm_up(studio)
        sampler = RssSampler(studio.pid("web"))
        sampler.start()
        try:
            result = upload(studio, source, size, sampler)
        finally:
            sampler.stop()
        copy_s = local_copy_seconds(source, data_dir / "copy.csv")
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        studio.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    size_in_mb = size / MB
    transfer = size_in_mb / result["transfer_s"]
    end_to_end = size_in_mb / (result["transfer_s"] + result["complete_s"])
    copy = size_in_mb / copy_s
    met = sampler.peak_single < TARGET_RSS_MB
    print(
        f"rows: {result['rows']:,}; schema: "
        + ", ".join(f"{c['name']}:{c['type']}" for c in result["schema"])
    )
    print()
    print(f"{'':34}{'Studio upload':>16}{'local copy (cp)':>18}")
    print(f"{'transfer (8 MB chunks), MB/s':34}{transfer:>16.0f}{copy:>18.0f}")
    print(f"{'complete (check, infer, store), s':34}{result['complete_s']:>16.1f}{'-':>18}")
    print(f"{'end to end, MB/s':34}{end_to_end:>16.0f}{copy:>18.0f}")
    print(f"{'commit, s':34}{result['commit_s']:>16.2f}{'-':>18}")
    print()
    print(
        f"web RSS: largest process peak {sampler.peak_single:.0f} MB "
        f"(idle {sampler.baseline_single:.0f} MB), "
        f"gunicorn master + workers peak {sampler.peak_tree:.0f} MB, {sampler.samples} samples"
    )
    print(
        "largest web process peak by phase: "
        + ", ".join(f"{k} {v:.0f} MB" for k, v in sampler.phase_peaks.items())
    )
    print(
        "reader child (python -m datasets.formats, which a worker starts for a large file): "
        f"peak {sampler.peak_reader:.0f} MB"
    )
    print(f"target: every web process under {TARGET_RSS_MB} MB RSS: {'met' if met else 'NOT met'}")
    print(f"RESULT upload mb_per_s={end_to_end:.0f} web_rss_mb={sampler.peak_single:.0f}")
    return 0 if met else 2


if __name__ == "__main__":
    sys.exit(main())
