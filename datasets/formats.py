"""What a file is, and whether it reads: format sniffing, checks of every line and row, schema
inference over all rows, and safe archive extraction.

Django-free (limits come in as arguments), and streaming throughout: a file is looked at through a
sample and fixed-size chunks, never read whole. ``python -m datasets.formats`` runs
:func:`inspect_table` in a process of its own, which is how the web server reads large files
without growing.

* Text (CSV/TSV/JSON Lines): encoding from the BOM, else UTF-8 if it decodes, else charset-normalizer;
  delimiter and header sniffed on a sample; every line checked against a maximum length; CSV rows
  checked for their number of fields (the error names the line; with quoted multi-line values, the
  record).
* Parquet by its magic ``PAR1``; Excel as a zip holding ``xl/``; zip and tar(.gz/.bz2/.xz) archives
  are checked member by member *before* anything is extracted: no absolute paths, no ``..``, no
  links or devices, bounded file count, total size and compression ratio (a zip bomb is refused).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import ctypes
import io
import json
import os
import posixpath
import shutil
import stat
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

SAMPLE_BYTES = 1024 * 1024  # read to sniff the encoding and check for binary data
SNIFF_BYTES = 64 * 1024  # given to csv.Sniffer (its regexes are slow on more)
SCAN_CHUNK_BYTES = 4 * 1024 * 1024
# Arrow's CSV reader keeps far more than a block in memory (about 15 times in RSS, measured):
# small blocks, and big ones only for files whose rows need them.
SHAPE_BLOCK_BYTES = 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 10 * 1024 * 1024
DELIMITERS = ",;\t|"
NEWLINE = b"\n"

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
PARQUET_MAGIC = b"PAR1"
# Formats that are certainly not text, so the user hears what they sent rather than "undecodable".
KNOWN_BINARY = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"\x7fELF": "an executable (ELF)",
    b"MZ": "a Windows executable",
    b"\xd0\xcf\x11\xe0": "a legacy Office file (.xls/.doc); save it as .xlsx or CSV",
    b"SQLite format 3": "an SQLite database",
}
# Files in archives that are the archiver's own bookkeeping, not data.
ARCHIVE_JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db")


class FormatError(ValueError):
    """The file is not something Studio can read; the message says what and where."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int = 100_000
    max_total_bytes: int = 20 * 1024**3
    max_ratio: float = 200.0  # uncompressed / compressed, per member (zip) or overall (tar.gz)
    max_member_bytes: int = 5 * 1024**3


@dataclass
class Sniffed:
    """What a file is: its format, how to read it, and for archives, the kind of archive."""

    format: str
    read_options: dict = field(default_factory=dict)
    archive: str = ""  # "zip" or "tar" for archives


@dataclass(frozen=True)
class ArchiveMember:
    name: str  # the safe relative path it is extracted to
    size: int


# --- Sniffing -------------------------------------------------------------------------------------


def read_head(path: Path, size: int = SAMPLE_BYTES) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def sniff(path: Path, filename: str = "", overrides: dict | None = None) -> Sniffed:
    """The format of the file at ``path`` (``filename`` is the user's name for it, a hint only)."""
    overrides = overrides or {}
    size = path.stat().st_size
    if size == 0:
        raise FormatError("The file is empty.")
    head = read_head(path)
    lower = filename.lower()
    if head.startswith(PARQUET_MAGIC):
        _check_parquet(path)
        return Sniffed("parquet")
    if head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        if not zipfile.is_zipfile(path):
            raise FormatError("The file starts like a zip archive but is not a valid one.")
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any(name.startswith("xl/") for name in names):
            options = {"sheet": overrides["sheet"]} if overrides.get("sheet") else {}
            return Sniffed("xlsx", options)
        return Sniffed("archive", archive="zip")
    if _is_tar(path, head):
        return Sniffed("archive", archive="tar")
    if head.startswith((GZIP_MAGIC, BZIP2_MAGIC, XZ_MAGIC)):
        raise FormatError(
            "The file is compressed but is not a tar archive; upload the uncompressed file, "
            "or a .tar.gz / .zip of files."
        )
    for magic, what in KNOWN_BINARY.items():
        if head.startswith(magic):
            raise FormatError(f"The file is {what}, not tabular data; put images in a zip or tar archive.")
    return sniff_text(head, lower, overrides)


def _is_tar(path: Path, head: bytes) -> bool:
    if len(head) > 262 and head[257:262] == b"ustar":
        return True
    if head.startswith((GZIP_MAGIC, BZIP2_MAGIC, XZ_MAGIC)):
        try:
            with tarfile.open(path, "r:*") as archive:
                archive.next()  # reads only the first header
            return True
        except (tarfile.TarError, OSError, EOFError):
            return False
    return False


def _check_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.ParquetFile(path).metadata  # noqa: B018 - reading the footer is the check
    except (pa.ArrowInvalid, OSError) as exc:
        raise FormatError(f"The file starts like Parquet but its footer does not read: {exc}") from exc


def detect_encoding(head: bytes, declared: str = "") -> str:
    """The text encoding of a file starting with ``head``; FormatError if it is binary or unknown."""
    if declared:
        try:
            return codecs.lookup(declared).name
        except LookupError as exc:
            raise FormatError(f"Unknown encoding {declared!r}.") from exc
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"  # the BOM is dropped when reading, not taken for part of the first column name
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise FormatError(
            "The file holds binary data (NUL bytes), not text: it cannot be read as CSV or JSON."
        )
    try:
        # The sample may end in the middle of a character: decode up to the last complete one.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is None:
        raise FormatError(
            "The text encoding could not be detected (the bytes are not UTF-8 and match no known "
            "encoding); save the file as UTF-8 or name its encoding."
        )
    return codecs.lookup(best.encoding).name


def sniff_text(head: bytes, filename: str = "", overrides: dict | None = None) -> Sniffed:
    """CSV/TSV or JSON Lines, from the first bytes of a text file."""
    overrides = overrides or {}
    encoding = detect_encoding(head, overrides.get("encoding", ""))
    try:
        text = (
            head.decode(encoding, errors="strict")
            if len(head) < SAMPLE_BYTES
            else _decode_prefix(head, encoding)
        )
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"The file is not valid {encoding} text: {exc.reason} at byte {exc.start}."
        ) from exc
    if not text.strip():
        raise FormatError("The file is empty (only blank lines).")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if filename.endswith((".jsonl", ".ndjson", ".json")) or first_line.lstrip().startswith("{"):
        try:
            row = json.loads(first_line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict):
            return Sniffed("jsonl", {"encoding": encoding})
        if filename.endswith((".jsonl", ".ndjson", ".json")):
            raise FormatError("Line 1 is not a JSON object; JSON Lines files hold one object per line.")
    # Sniff on whole lines only: a cut-off last line confuses the delimiter count.
    sample = text[:SNIFF_BYTES]
    if len(text) > SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    delimiter = overrides.get("delimiter") or _sniff_delimiter(sample, filename)
    header = (
        overrides["header"] if isinstance(overrides.get("header"), bool) else _sniff_header(sample, delimiter)
    )
    options: dict = {"delimiter": delimiter, "header": header, "encoding": encoding}
    rows = list(csv.reader(io.StringIO(sample), delimiter=delimiter))
    width = len(rows[0]) if rows else 1
    if not header:
        options["columns"] = [f"column_{i}" for i in range(1, width + 1)]
    return Sniffed("tsv" if delimiter == "\t" else "csv", options)


def _decode_prefix(head: bytes, encoding: str) -> str:
    return codecs.getincrementaldecoder(encoding)().decode(head, final=False)


def _sniff_delimiter(sample: str, filename: str) -> str:
    first = sample.split("\n", 1)[0]
    if filename.endswith((".tsv", ".tab")) and "\t" in first:
        return "\t"
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        # One column, or too little text to tell: the delimiter that appears in the first line.
        counts = {delimiter: first.count(delimiter) for delimiter in DELIMITERS}
        best = max(counts, key=lambda delimiter: counts[delimiter])
        return best if counts[best] else ","


def _is_number(value: str) -> bool:
    try:
        float(value.replace(",", ".") if value.count(",") == 1 and "." not in value else value)
    except ValueError:
        return False
    return True


def _sniff_header(sample: str, delimiter: str) -> bool:
    """Whether the first row names the columns.

    A header names columns with words: non-empty, distinct, none of them a number. csv.Sniffer's
    own vote (types and lengths of each column against the first row) decides the rest.
    """
    rows = [row for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
    if not rows:
        return True
    first = [value.strip() for value in rows[0]]
    looks_like_names = all(first) and len(set(first)) == len(first) and not any(map(_is_number, first))
    if looks_like_names:
        return True
    try:
        return csv.Sniffer().has_header(sample)
    except csv.Error:
        return False


# --- Checking text files, streaming -----------------------------------------------------------------


def check_text_lines(path: Path, encoding: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
    """Every line shorter than ``max_line_bytes``; no NUL bytes; for UTF-8, every byte decodes.

    One pass in chunks no longer than the limit, so a line inside a chunk is short enough by
    construction and only lines that span chunks need counting: no loop over lines in Python,
    and an enormous line is refused without ever being held.
    """
    check_utf8 = encoding in {"utf-8", "utf-8-sig"}
    wide = encoding.startswith(("utf-16", "utf_16", "utf-32", "utf_32"))
    decoder = codecs.getincrementaldecoder("utf-8")() if check_utf8 else None
    chunk_size = max(min(SCAN_CHUNK_BYTES, max_line_bytes), 1)
    line_number, line_length, offset = 1, 0, 0
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            if not wide and b"\x00" in chunk:
                at = chunk.index(b"\x00")
                where = line_number + chunk.count(NEWLINE, 0, at)
                raise FormatError(
                    f"Line {where} holds binary data (a NUL byte at byte {offset + at}); "
                    "this is not a text file."
                )
            if decoder is not None:
                try:
                    decoder.decode(chunk, final=False)
                except UnicodeDecodeError as exc:
                    where = line_number + chunk.count(NEWLINE, 0, max(exc.start, 0))
                    raise FormatError(
                        f"Line {where} is not valid UTF-8 (byte {offset + exc.start}); "
                        "save the file as UTF-8 or name its encoding."
                    ) from exc
            first = chunk.find(NEWLINE)
            if first < 0:
                line_length += len(chunk)
            else:
                line_length += first
            if line_length > max_line_bytes:
                raise FormatError(
                    f"Line {line_number} is longer than {_megabytes(max_line_bytes)}; the file may not be "
                    "line-oriented text (or a field is far too large)."
                )
            if first >= 0:
                line_number += chunk.count(NEWLINE)
                line_length = len(chunk) - chunk.rindex(NEWLINE) - 1
            offset += len(chunk)
    if decoder is not None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise FormatError(
                f"The file ends in the middle of a UTF-8 character (line {line_number})."
            ) from exc


def _megabytes(size: int) -> str:
    return f"{size / 1024**2:g} MB"


def check_csv_shape(path: Path, fmt: str, options: dict) -> int:
    """The number of data rows; FormatError naming the line of the first row whose field count is
    not the header's (too many or too few). Parsed by Arrow, streaming, one column converted.

    The first pass assumes no newlines inside quoted values (several times faster); only if it
    fails is the file read again allowing them, so a quoted multi-line value is never taken for a
    broken row.
    """
    try:
        return _count_csv_rows(path, fmt, options, newlines_in_values=False, block_size=SHAPE_BLOCK_BYTES)
    except FormatError:
        pass
    try:
        return _count_csv_rows(path, fmt, options, newlines_in_values=True, block_size=SHAPE_BLOCK_BYTES)
    except _RowTooLong:
        # Rows longer than a block: read again in blocks above the longest line allowed (more memory,
        # only for files that need it).
        return _count_csv_rows(path, fmt, options, newlines_in_values=True, block_size=SCAN_CHUNK_BYTES * 4)


class _RowTooLong(FormatError):
    pass


def _count_csv_rows(
    path: Path, fmt: str, options: dict, *, newlines_in_values: bool, block_size: int, probe: bool = False
) -> int:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header = options.get("header", True)
    columns = options.get("columns") or []
    first_error: list[str] = []

    def on_invalid(row) -> str:
        line = row.number if row.number is not None else "?"
        first_error.append(
            f"Line {line} has {row.actual_columns} field{'s' if row.actual_columns != 1 else ''}, "
            f"expected {row.expected_columns}: {row.text[:80]!r}"
        )
        return "error"

    encoding = options.get("encoding", "utf-8")
    read_options = pacsv.ReadOptions(
        use_threads=False,  # the row number of a bad row is only known single-threaded
        block_size=block_size,
        encoding="utf8" if encoding in {"utf-8", "utf-8-sig"} else encoding,
        column_names=None if header else columns,
        autogenerate_column_names=False,
    )
    parse_options = pacsv.ParseOptions(
        delimiter=options.get("delimiter", "\t" if fmt == "tsv" else ","),
        quote_char=options.get("quotechar", '"'),
        newlines_in_values=newlines_in_values,
        invalid_row_handler=on_invalid,
    )
    first_column: str | None = columns[0] if columns else None if probe else _first_header_name(path, options)
    rows = 0
    try:
        if first_column is None:
            # The header did not read with Python's csv module: ask Arrow (costs a converted block).
            with pacsv.open_csv(path, read_options=read_options, parse_options=parse_options) as first_block:
                first_column = first_block.schema.names[0] if first_block.schema.names else None
        if first_column is None:
            return 0
        convert = pacsv.ConvertOptions(
            include_columns=[first_column], column_types={first_column: pa.string()}
        )
        with pacsv.open_csv(
            path, read_options=read_options, parse_options=parse_options, convert_options=convert
        ) as reader:
            for batch in reader:
                rows += batch.num_rows
    except KeyError:  # Arrow read the header differently (a duplicate name, say): let Arrow name it
        if columns or probe:
            raise
        return _count_csv_rows(
            path, fmt, options, newlines_in_values=newlines_in_values, block_size=block_size, probe=True
        )
    except pa.ArrowInvalid as exc:
        if first_error:
            raise FormatError(first_error[0]) from exc
        message = str(exc)
        if "straddling" in message or "block size" in message:
            raise _RowTooLong("A row is too long to read (a quoted field may never be closed).") from exc
        raise FormatError(f"The file does not read as {fmt.upper()}: {message}") from exc
    return rows


def _first_header_name(path: Path, options: dict) -> str | None:
    """The first name in the header row, read the way Arrow reads it (BOM dropped, quotes removed)."""
    encoding = options.get("encoding", "utf-8")
    with open(
        path, encoding="utf-8-sig" if encoding in {"utf-8", "utf-8-sig"} else encoding, newline=""
    ) as handle:
        try:
            row = next(
                csv.reader(
                    handle, delimiter=options.get("delimiter", ","), quotechar=options.get("quotechar", '"')
                )
            )
        except (StopIteration, csv.Error, UnicodeDecodeError):
            return None
    return row[0] if row else None


# --- Archives -------------------------------------------------------------------------------------


def safe_member_name(name: str) -> str:
    """The relative path ``name`` is extracted to; FormatError for absolute paths and '..'."""
    if "\x00" in name:
        raise FormatError(f"Archive member {name!r} has a NUL byte in its name.")
    cleaned = name.replace("\\", "/")
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        raise FormatError(f"Archive member {name!r} has an absolute path; refusing to extract the archive.")
    parts = [part for part in cleaned.split("/") if part not in {"", "."}]
    if any(part == ".." for part in parts):
        raise FormatError(
            f"Archive member {name!r} points outside the archive ('..'); refusing to extract it."
        )
    if not parts:
        raise FormatError(f"Archive member {name!r} has no name.")
    return posixpath.join(*parts)


def _is_junk(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or base in ARCHIVE_JUNK or base.startswith("._")


def list_archive(path: Path, kind: str, limits: ArchiveLimits) -> list[ArchiveMember]:
    """Every file the archive would extract to, after checking every member against ``limits``.

    Nothing is extracted here; anything unsafe raises FormatError naming the member.
    """
    members = _list_zip(path, limits) if kind == "zip" else _list_tar(path, limits)
    if not members:
        raise FormatError("The archive holds no files.")
    return members


def _check_totals(members: list[ArchiveMember], total: int, limits: ArchiveLimits) -> None:
    if len(members) > limits.max_files:
        raise FormatError(f"The archive holds more than {limits.max_files} files.")
    if total > limits.max_total_bytes:
        raise FormatError(
            f"The archive would extract to more than {limits.max_total_bytes // 1024**2} MB; refusing it."
        )


def _list_zip(path: Path, limits: ArchiveLimits) -> list[ArchiveMember]:
    members: list[ArchiveMember] = []
    seen: set[str] = set()
    total = 0
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise FormatError(f"The zip archive does not read: {exc}") from exc
    with archive:
        for info in archive.infolist():
            name = safe_member_name(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise FormatError(
                    f"Archive member {info.filename!r} is a symbolic link; links are not extracted."
                )
            if info.is_dir():
                continue
            # Zips written by Python record only permission bits; any file-type bits must say "regular".
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                raise FormatError(f"Archive member {info.filename!r} is not a regular file.")
            if info.flag_bits & 0x1:
                raise FormatError(f"Archive member {info.filename!r} is encrypted.")
            if _is_junk(name):
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > 1024 * 1024 and ratio > limits.max_ratio:
                raise FormatError(
                    f"Archive member {info.filename!r} expands {ratio:.0f} times "
                    f"(limit {limits.max_ratio:.0f}): this looks like a zip bomb; refusing the archive."
                )
            if info.file_size > limits.max_member_bytes:
                raise FormatError(f"Archive member {info.filename!r} is larger than the limit per file.")
            if name in seen:
                raise FormatError(f"Archive member {name!r} appears twice.")
            seen.add(name)
            total += info.file_size
            members.append(ArchiveMember(name, info.file_size))
            _check_totals(members, total, limits)
    return members


def _list_tar(path: Path, limits: ArchiveLimits) -> list[ArchiveMember]:
    members: list[ArchiveMember] = []
    seen: set[str] = set()
    total = 0
    compressed = max(path.stat().st_size, 1)
    try:
        # Stream mode: members are read in order, and a bomb is stopped at the limit, not expanded whole.
        with tarfile.open(path, "r|*") as archive:
            for member in archive:
                name = safe_member_name(member.name)
                if member.issym() or member.islnk():
                    raise FormatError(f"Archive member {member.name!r} is a link; links are not extracted.")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise FormatError(f"Archive member {member.name!r} is a device or special file.")
                if _is_junk(name):
                    continue
                if member.size > limits.max_member_bytes:
                    raise FormatError(f"Archive member {member.name!r} is larger than the limit per file.")
                if name in seen:
                    raise FormatError(f"Archive member {name!r} appears twice.")
                seen.add(name)
                total += member.size
                members.append(ArchiveMember(name, member.size))
                _check_totals(members, total, limits)
                if total > 1024 * 1024 and total / compressed > limits.max_ratio:
                    raise FormatError(
                        f"The archive expands more than {limits.max_ratio:.0f} times: this looks like a "
                        "decompression bomb; refusing it."
                    )
    except tarfile.TarError as exc:
        raise FormatError(f"The tar archive does not read: {exc}") from exc
    except (EOFError, OSError) as exc:
        raise FormatError(f"The tar archive is truncated or corrupt: {exc}") from exc
    return members


class _Bounded(io.RawIOBase):
    """A member's stream that refuses to yield more than the size its header declared."""

    def __init__(self, stream: BinaryIO, limit: int, name: str) -> None:
        self._stream, self._left, self._name = stream, limit, name

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = SCAN_CHUNK_BYTES if size is None or size < 0 else size
        data = self._stream.read(min(want, self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise FormatError(f"Archive member {self._name!r} is larger than its header says.")
        return data


def iter_archive(path: Path, kind: str, limits: ArchiveLimits) -> Iterator[tuple[ArchiveMember, BinaryIO]]:
    """Yield each safe member with a bounded stream of its bytes, in archive order.

    Call :func:`list_archive` first; this re-checks names and sizes as it goes, so an archive
    changed in between still cannot escape.
    """
    allowed = {member.name: member for member in list_archive(path, kind, limits)}
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = safe_member_name(info.filename)
                if name not in allowed:
                    continue
                with archive.open(info) as stream:
                    yield allowed[name], _Bounded(stream, allowed[name].size, name)  # type: ignore[misc]
        return
    with tarfile.open(path, "r|*") as archive:
        for member in archive:
            if not member.isfile():
                continue
            name = safe_member_name(member.name)
            if name not in allowed:
                continue
            stream = archive.extractfile(member)
            if stream is None:
                continue
            yield allowed[name], _Bounded(stream, allowed[name].size, name)  # type: ignore[misc]


def extract_archive(path: Path, kind: str, target: Path, limits: ArchiveLimits) -> list[str]:
    """Unpack the safe members of ``path`` under ``target`` (names checked, sizes bounded); their names."""
    list_archive(path, kind, limits)
    names = []
    for member, stream in iter_archive(path, kind, limits):
        destination = target / member.name
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open(destination, "wb") as handle:
            shutil.copyfileobj(stream, handle)
        names.append(member.name)
    return names


# --- Inspecting a table: every check, the schema over every row, the row count ------------------------


@dataclass(frozen=True)
class InspectLimits:
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    archive: ArchiveLimits = field(default_factory=ArchiveLimits)
    # About this many bytes of text per chunk of rows read with pandas (memory, not speed).
    chunk_bytes: int = 4 * 1024 * 1024


CHUNK_ROWS_BOUNDS = (1_000, 100_000)


def chunk_rows_for(path: Path, fmt: str, chunk_bytes: int) -> int:
    """Rows per chunk so a chunk holds about ``chunk_bytes`` of text, whatever the row width."""
    if fmt not in {"csv", "tsv", "jsonl"}:
        return 20_000
    head = read_head(path)
    per_row = max(len(head) / max(head.count(b"\n"), 1), 1)
    low, high = CHUNK_ROWS_BOUNDS
    return int(min(max(chunk_bytes / per_row, low), high))


def inspect_table(
    paths: list[Path],
    fmt: str,
    read_options: dict,
    limits: InspectLimits | None = None,
    *,
    names: list[str] | None = None,
    preview_rows: int = 20,
) -> dict:
    """Check every line and row of one or more files of one tabular format, infer one schema over
    all their rows, count them, and keep a preview of the first rows.

    Streaming, one chunk of rows at a time. Files must have the same columns. FormatError names
    the first problem (and the file, when there are several; ``names`` are how to call them).
    """
    from datasets.readers import ReadError, iter_frames
    from datasets.schema import SchemaInferrer

    limits = limits or InspectLimits()
    names = names or [path.name for path in paths]
    inferrer = SchemaInferrer()
    rows = 0
    preview: dict | None = None
    for path, name in zip(paths, names, strict=True):
        where = f"{name}: " if len(paths) > 1 else ""
        try:
            if fmt in {"csv", "tsv", "jsonl"}:
                check_text_lines(
                    path, read_options.get("encoding", "utf-8"), max_line_bytes=limits.max_line_bytes
                )
            if fmt in {"csv", "tsv"}:
                check_csv_shape(path, fmt, read_options)
                release_memory()  # before pandas reads: the peaks of the two passes must not add up
            if fmt == "xlsx":
                list_archive(
                    path, "zip", limits.archive
                )  # an .xlsx is a zip: refuse a bomb before reading it
            first = True
            for frame in iter_frames(
                path, fmt, read_options, chunk_rows=chunk_rows_for(path, fmt, limits.chunk_bytes)
            ):
                if first:
                    columns = [str(column) for column in frame.columns]
                    if preview is None:
                        preview = frame_preview(frame, preview_rows)
                    elif columns != preview["columns"]:
                        raise FormatError(
                            f"has columns {columns}, unlike the first file's {preview['columns']}."
                        )
                    first = False
                inferrer.update(frame)
                rows += len(frame)
        except FormatError as exc:
            raise FormatError(f"{where}{exc}") from exc
        except ReadError as exc:
            raise FormatError(f"{where}{exc}") from exc
        except Exception as exc:
            # Readers fail in their own ways (pandas, pyarrow, openpyxl, zipfile); on a file that was
            # sniffed and checked, any of them means the data is bad, so the user gets the reason.
            raise FormatError(f"{where}The file does not read as {fmt.upper()}: {exc}") from exc
    release_memory()
    if rows == 0:
        raise FormatError("The file has no rows of data.")
    schema = inferrer.schema()
    return {
        "format": fmt,
        "read_options": dict(read_options),
        "schema": [dict(column) for column in schema],
        "row_count": rows,
        "column_count": len(schema),
        "file_count": len(paths),
        "preview": preview or {"columns": [], "rows": []},
    }


def release_memory() -> None:
    """Give back to the system what the readers freed: Arrow's pool and glibc's malloc keep freed
    memory for reuse, so a process that read a large file would otherwise stay as large."""
    with contextlib.suppress(ImportError):
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def check_schema_fits(
    paths: list[Path],
    fmt: str,
    read_options: dict,
    columns: list[dict],
    *,
    chunk_bytes: int = 4 * 1024 * 1024,
) -> None:
    """Cast every row to ``columns``' types, streaming; SchemaError names the first column that
    does not fit (and its row)."""
    from datasets.readers import iter_frames
    from datasets.schema import apply_schema

    for path in paths:
        for frame in iter_frames(path, fmt, read_options, chunk_rows=chunk_rows_for(path, fmt, chunk_bytes)):
            apply_schema(frame, columns)


def main() -> int:
    """``python -m datasets.formats``: inspect_table (or, with "check_schema", check_schema_fits) in a
    process of its own: the web server runs large files here, so its own memory stays flat.
    Request and answer are JSON, on stdin and stdout."""
    from datasets.readers import ReadError
    from datasets.schema import SchemaError

    request = json.load(sys.stdin)
    limits = InspectLimits(
        max_line_bytes=request["limits"]["max_line_bytes"],
        archive=ArchiveLimits(**request["limits"]["archive"]),
        chunk_bytes=request["limits"]["chunk_bytes"],
    )
    paths = [Path(path) for path in request["paths"]]
    try:
        if request.get("check_schema") is not None:
            check_schema_fits(
                paths,
                request["format"],
                request["read_options"],
                request["check_schema"],
                chunk_bytes=limits.chunk_bytes,
            )
            result: dict | None = None
        else:
            result = inspect_table(
                paths,
                request["format"],
                request["read_options"],
                limits,
                names=request.get("names"),
                preview_rows=request.get("preview_rows", 20),
            )
    except SchemaError as exc:
        json.dump({"schema_error": str(exc), "column": exc.column}, sys.stdout)
        return 0
    except (FormatError, ReadError) as exc:
        json.dump({"error": str(exc)}, sys.stdout)
        return 0
    json.dump({"result": result}, sys.stdout)
    return 0


# --- JSON-safe previews ---------------------------------------------------------------------------


def frame_preview(frame, rows: int | None = None) -> dict:
    """``{"columns": [...], "rows": [[...], ...]}`` of a DataFrame, with JSON-safe values (NaN → null,
    dates as ISO strings)."""
    if rows is not None:
        frame = frame.head(rows)
    payload = json.loads(frame.to_json(orient="split", index=False, date_format="iso", default_handler=str))
    return {"columns": [str(name) for name in payload["columns"]], "rows": payload["data"]}


__all__ = [
    "ArchiveLimits",
    "ArchiveMember",
    "FormatError",
    "InspectLimits",
    "Sniffed",
    "check_csv_shape",
    "check_text_lines",
    "detect_encoding",
    "frame_preview",
    "inspect_table",
    "iter_archive",
    "list_archive",
    "safe_member_name",
    "sniff",
    "sniff_text",
]


if __name__ == "__main__":
    exit_code = main()
    # The answer is complete once flushed; leave without interpreter finalization. A reader that
    # failed mid-file may only be freed during shutdown, and pyarrow's I/O threads then abort the
    # process ("terminate called without an active exception", seen once under load), which
    # would turn a clear answer about bad data into a crash.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
