"""Small generated data files for the datasets tests (no tests in here), and the fixture that gives
each test its own data directory for staging files."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))

CITIES = ["Oslo", "Lima", "Pune"]
CSV = b"id,score,label,when,city\n" + b"".join(
    f"{i},{i * 0.5 + 0.25},{'yes' if i % 2 else 'no'},2024-01-{i % 28 + 1:02d},{CITIES[i % 3]}\n".encode()
    for i in range(40)
)


@pytest.fixture(autouse=True)
def isolated_data_dir(settings, tmp_path):
    """Staging files and caches of each test in its own folder."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR


def numbered_csv(rows: int, *, header: str = "n,square,word") -> bytes:
    lines = [header] + [f"{i},{i * i},w{i % 7}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def parquet_bytes(frame: pd.DataFrame | None = None) -> bytes:
    frame = (
        frame
        if frame is not None
        else pd.DataFrame({"x": [1, 2, 3], "y": [0.5, 1.5, None], "z": ["a", "b", "c"]})
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def xlsx_bytes(rows: list[list] | None = None) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "data"
    for row in rows or [["name", "age", "member"], ["ann", 31, True], ["bob", 42, False], ["cy", 27, True]]:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.txt", b"fine")
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def tar_bytes(
    members: dict[str, bytes], *, mode: str = "w:gz", extra: list[tarfile.TarInfo] | None = None
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra or []:
            archive.addfile(info)
    return buffer.getvalue()


def tar_member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def zip_bomb() -> bytes:
    """One member that expands about a thousand times: 8 MB of zeros in a few KB."""
    return zip_bytes({"zeros.txt": b"\x00" * (8 * 1024 * 1024)})


def images_zip() -> bytes:
    return zip_bytes({"images/cat.png": PNG, "images/dog.png": PNG, "notes/readme.txt": b"two pets\n"})


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
