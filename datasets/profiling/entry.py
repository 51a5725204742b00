"""Entry points: profile a stream of DataFrames, or a version's files, reading ahead."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pandas as pd

from datasets.profiling.normalize import _schema_types
from datasets.profiling.options import ProfileOptions
from datasets.profiling.profiler import Profiler
from datasets.readers import iter_frames


def profile_frames(
    frames: Iterable[pd.DataFrame],
    *,
    target_column: str = "",
    schema: Iterable[dict] | dict[str, str] | None = None,
    options: ProfileOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Profile a stream of DataFrames (the chunks of one table)."""
    profiler = Profiler(target_column=target_column, schema=schema, options=options)
    for frame in read_ahead(frames):
        profiler.update(frame)
        if progress is not None:
            progress(profiler.rows, profiler.chunks)
    return profiler.report()


def read_ahead(frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The same chunks, the next one read by a thread while this one is profiled (the CSV and
    Parquet readers release the GIL while parsing). At most two chunks are held at once."""
    slot: queue.Queue = queue.Queue(maxsize=1)
    done = object()
    stop = threading.Event()

    def reader() -> None:
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        slot.put((frame, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slot.put((done, None))
        except BaseException as exc:  # handed to the consumer, raised there
            slot.put((done, exc))

    thread = threading.Thread(target=reader, name="profile-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slot.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            slot.get_nowait()  # unblock a reader waiting to put


def profile_file(
    path: Path,
    fmt: str,
    read_options: dict | None = None,
    *,
    target_column: str = "",
    schema: Iterable[dict] | dict[str, str] | None = None,
    options: ProfileOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Profile a version's data (a file, or a folder of files of one format), streaming it."""
    options = options or ProfileOptions()
    read_options = dict(read_options or {})
    types = _schema_types(schema)
    if fmt in {"csv", "tsv"} and types and "dtypes" not in read_options:
        # Read text columns as text in every chunk, so "007" stays "007" and chunks agree.
        read_options["dtypes"] = {
            name: "str" for name, kind in types.items() if kind in ("categorical", "text")
        }
    frames = iter_frames(Path(path), fmt, read_options, chunk_rows=options.chunk_rows)
    return profile_frames(
        frames, target_column=target_column, schema=types, options=options, progress=progress
    )
