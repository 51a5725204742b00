"""Reading a channel's files the way SageMaker's built-in algorithms do.

Formats (the channel's ``ContentType``, else each file's extension):

- ``text/csv``: no header row, the label in the first column. ``text/csv;label_size=0`` has no
  label (the default of the unsupervised algorithms), ``label_size=1`` has one.
- ``application/x-parquet`` (or files ending ``.parquet``/``.pq``; a file that starts with
  Parquet's magic bytes is read as Parquet whatever the content type says): the same column rules.
- ``text/libsvm`` (or ``.libsvm``/``.svm``/``.svmlight`` files): ``label index:value ...``.

Every file of the channel's folder is read, subfolders included, in sorted order; hidden files
(any path part starting with ``.``) and empty files are skipped. Values must be numbers; an empty
cell is a missing value (NaN), which only the tree algorithms accept.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jobs.algorithms.errors import ClientError

CSV, PARQUET, LIBSVM = "csv", "parquet", "libsvm"
_CONTENT_TYPES = {
    "text/csv": CSV,
    "csv": CSV,
    "text/x-csv": CSV,
    "application/csv": CSV,
    "application/x-parquet": PARQUET,
    "application/parquet": PARQUET,
    "application/vnd.apache.parquet": PARQUET,
    "parquet": PARQUET,
    "text/libsvm": LIBSVM,
    "text/x-libsvm": LIBSVM,
    "libsvm": LIBSVM,
}
_EXTENSIONS = {".parquet": PARQUET, ".pq": PARQUET, ".libsvm": LIBSVM, ".svm": LIBSVM, ".svmlight": LIBSVM}
_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class ContentType:
    """A channel's ``ContentType``: the format, and ``label_size`` when it says one."""

    format: str | None  # None: guess from each file's extension
    label_size: int | None
    raw: str = ""

    @classmethod
    def parse(cls, raw: str | None) -> ContentType:
        text = (raw or "").strip()
        if not text:
            return cls(format=None, label_size=None, raw="")
        base, *params = (part.strip() for part in text.split(";"))
        fmt = _CONTENT_TYPES.get(base.lower())
        if fmt is None:
            known = "text/csv, application/x-parquet, text/libsvm"
            raise ClientError(f"content type {text!r} is not supported by the built-in algorithms ({known})")
        label_size = None
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "label_size":
                if value.strip() not in ("0", "1"):
                    raise ClientError(f"content type {text!r}: label_size must be 0 or 1")
                label_size = int(value)
        return cls(format=fmt, label_size=label_size, raw=text)


@dataclass
class Dataset:
    """One channel's rows: ``features`` (rows x feature_dim, float64) and ``labels`` (or None)."""

    channel: str
    features: np.ndarray
    labels: np.ndarray | None
    # (file name relative to the channel folder, rows), in reading order: to say where a row is.
    files: list[tuple[str, int]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[1])

    def where(self, row: int) -> str:
        """'row 12 of part.csv' (1-based) for a row of the whole channel."""
        start = 0
        for name, count in self.files:
            if row < start + count:
                return f"row {row - start + 1} of {name}"
            start += count
        return f"row {row + 1}"

    def require_complete(self, algorithm: str) -> None:
        """Refuse missing values: only the tree algorithms know what to do with them."""
        missing = np.isnan(self.features)
        if missing.any():
            row, column = (int(index[0]) for index in np.nonzero(missing))
            offset = 0 if self.labels is None else 1
            raise ClientError(
                f"channel {self.channel!r}: {self.where(row)} has an empty value in column "
                f"{column + offset + 1}; {algorithm} needs a number in every cell"
            )


def data_files(folder: Path) -> list[Path]:
    """The channel's files, sorted, hidden ones left out."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        found.append(path)
    return sorted(found, key=lambda path: path.relative_to(folder).as_posix())


def read_channel(name: str, folder: Path | None, content_type: str | None, *, labelled: bool) -> Dataset:
    """Read every file of a channel.

    ``labelled`` is the algorithm's default: supervised algorithms read a label from the first
    column, unsupervised ones only when the content type says ``label_size=1``.
    """
    if folder is None or not folder.is_dir():
        raise ClientError(f"channel {name!r} is missing")
    kind = ContentType.parse(content_type)
    has_label = labelled if kind.label_size is None else kind.label_size == 1
    if labelled and not has_label:
        raise ClientError(
            f"channel {name!r}: this algorithm needs the label in the first column (label_size=1)"
        )
    files = data_files(folder)
    if not files:
        raise ClientError(f"channel {name!r} has no data files")
    empty = [path for path in files if path.stat().st_size == 0]
    files = [path for path in files if path.stat().st_size > 0]
    if not files:
        names = ", ".join(path.relative_to(folder).as_posix() for path in empty[:5])
        raise ClientError(f"channel {name!r} holds only empty files ({names})")

    libsvm = [path for path in files if _format_of(path, kind) == LIBSVM]
    if libsvm and len(libsvm) != len(files):
        raise ClientError(f"channel {name!r} mixes libsvm files with CSV or Parquet files")
    if libsvm:
        matrix, labels, counts = _read_libsvm(name, folder, files)
        features = matrix
        label_column = labels if has_label else None
    else:
        blocks, counts = [], []
        width = None
        for path in files:
            relative = path.relative_to(folder).as_posix()
            block = _read_table(name, relative, path, _format_of(path, kind), has_label)
            if block.shape[0] == 0:
                counts.append(0)
                continue
            if width is None:
                width = block.shape[1]
            elif block.shape[1] != width:
                raise ClientError(
                    f"channel {name!r}: {relative} has {block.shape[1]} columns but the files before it "
                    f"have {width}"
                )
            blocks.append(block)
            counts.append(block.shape[0])
        if not blocks:
            raise ClientError(f"channel {name!r} holds no rows")
        table = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        if has_label:
            if table.shape[1] < 2:
                raise ClientError(
                    f"channel {name!r} has a single column; the built-in algorithms read the label from "
                    "the first column and the features from the others"
                )
            label_column = np.ascontiguousarray(table[:, 0])
            features = np.ascontiguousarray(table[:, 1:])
        else:
            label_column = None
            features = table
    placed = [(path.relative_to(folder).as_posix(), count) for path, count in zip(files, counts, strict=True)]
    dataset = Dataset(channel=name, features=features, labels=label_column, files=placed)
    if dataset.rows == 0:
        raise ClientError(f"channel {name!r} holds no rows")
    if label_column is not None:
        missing = np.isnan(label_column)
        if missing.any():
            row = int(np.argmax(missing))
            raise ClientError(
                f"channel {name!r}: {dataset.where(row)} has no label (the first column is empty)"
            )
    return dataset


def _format_of(path: Path, kind: ContentType) -> str:
    with path.open("rb") as handle:
        if handle.read(4) == _PARQUET_MAGIC:
            return PARQUET
    if kind.format is not None:
        return kind.format
    suffixes = [suffix.lower() for suffix in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in _EXTENSIONS:
            return _EXTENSIONS[suffix]
    return CSV


def _read_table(channel: str, relative: str, path: Path, fmt: str, has_label: bool) -> np.ndarray:
    # pandas' C parser: the least CPU per row (XGBoost imports pandas anyway), compression inferred.
    import pandas as pd

    if fmt == PARQUET:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            frame = pq.read_table(path).to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise ClientError(
                f"channel {channel!r}: {relative} is not a readable Parquet file ({exc})"
            ) from None
    else:
        try:
            # Chunked type inference (low_memory) reads numeric data about twice as fast; a column
            # whose chunks disagree comes back as objects, which _numeric coerces or reports.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pd.errors.DtypeWarning)
                frame = pd.read_csv(path, header=None)
        except pd.errors.EmptyDataError:
            return np.empty((0, 0))
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ClientError(
                f"channel {channel!r}: {relative} is not a readable CSV file ({detail})"
            ) from None
    return _numeric(channel, relative, frame, has_label)


def _numeric(channel: str, relative: str, frame, has_label: bool) -> np.ndarray:
    """The table as a float64 matrix, or a ClientError naming the first non-numeric cell."""
    import pandas as pd
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    for index, name in enumerate(frame.columns):
        column = frame[name]
        if is_numeric_dtype(column) or is_bool_dtype(column):
            continue
        coerced = pd.to_numeric(column, errors="coerce")  # Decimal, all-empty columns, ...
        bad = (coerced.isna() & column.notna()).to_numpy()
        if bad.any():
            row = int(bad.argmax())
            raise ClientError(
                _non_numeric_message(channel, relative, index, row, column.iloc[row], has_label)
            )
        frame[name] = coerced
    return frame.to_numpy(dtype=np.float64, na_value=np.nan)


def _non_numeric_message(
    channel: str, relative: str, index: int, row: int, value: object, has_label: bool
) -> str:
    what = "the label" if index == 0 and has_label else "a feature"
    hint = (
        " (a header row? the built-in algorithms read CSV files without one)"
        if row == 0
        else "; the built-in algorithms read numbers only (encode categories as numbers first)"
    )
    return (
        f"channel {channel!r}: {relative} column {index + 1} ({what}) holds a non-numeric value "
        f"{str(value)[:40]!r} in row {row + 1}{hint}"
    )


def _read_libsvm(channel: str, folder: Path, files: list[Path]):
    from sklearn.datasets import load_svmlight_files

    try:
        loaded = load_svmlight_files([str(path) for path in files])
    except (ValueError, OSError) as exc:
        raise ClientError(f"channel {channel!r}: not readable as libsvm ({exc})") from None
    matrices, labels, counts = [], [], []
    for position in range(0, len(loaded), 2):
        matrix, label = loaded[position], loaded[position + 1]
        matrices.append(matrix.toarray())
        labels.append(np.asarray(label, dtype=np.float64))
        counts.append(matrix.shape[0])
    return np.concatenate(matrices).astype(np.float64), np.concatenate(labels), counts
