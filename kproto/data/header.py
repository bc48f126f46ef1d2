"""Column names of a data file, read without pandas (fast enough for `kproto validate`)."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any

from kproto.core.errors import DataError

HEADER_BYTES = 64 << 20  # the longest header row read (200,000 columns of 10-character names: 2 MB)
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None, ".parquet": None, ".pq": None, ".npz": None}


def check_path(path: str | Path) -> Path:
    """The data path, or a DataError that says what is wrong with it."""
    path = Path(path)
    try:
        found = path.exists()
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long for the file system
        raise DataError(f"cannot use the data path {str(path)[:200]!r}: {exc}", field="data.path") from None
    if not found:
        raise DataError(
            f"data file not found: {path}", field="data.path", hint="paths are relative to the recipe's folder"
        )
    if path.is_dir():
        return path
    if not path.is_file():  # reading a FIFO would wait for a writer, a device may never end
        raise DataError(
            f"{path} is not a regular file (a FIFO, socket or device)",
            field="data.path",
            hint="save the data to a .csv, .tsv, .parquet or .npz file",
        )
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise DataError(
            f"unsupported data file type '{path.suffix}'",
            field="data.path",
            hint="use a .csv, .tsv, .parquet or .npz file, or a folder of images with one subfolder per class",
        )
    if path.stat().st_size == 0:
        raise DataError(f"the data file is empty: {path}", field="data.path")
    return path


def decode(raw: bytes, path: Path) -> str:
    if b"\x00" in raw:
        raise DataError(f"{path} looks like a binary file, not text", field="data.path", hint="is it really a CSV?")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def sniff(text: str) -> str:
    counts = {d: text.count(d) for d in (",", "\t", ";", "|")}
    return max(counts, key=counts.get) if any(counts.values()) else ","


def read_header(path: str | Path) -> list[str]:
    """Column names of a csv/tsv/parquet/npz file ([] for an image folder)."""
    path = check_path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        return []
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types
            raise DataError(f"cannot read the Parquet file {path}: {exc}", field="data.path") from None
    if suffix == ".npz":
        try:
            with zipfile.ZipFile(path) as archive:
                return [name.removesuffix(".npy") for name in archive.namelist()]
        except zipfile.BadZipFile:
            raise DataError(f"{path} is not a valid .npz file", field="data.path") from None
    with path.open("rb") as handle:
        first = handle.readline(HEADER_BYTES + 1)
    if len(first) > HEADER_BYTES and not first.endswith(b"\n"):
        raise DataError(
            f"the header row of {path} is longer than {HEADER_BYTES >> 20} MB, so its column names were not read",
            field="data.path",
            hint="is it really a CSV with a header row? Keep the columns you need, or use Parquet",
        )
    text = decode(first, path)
    delimiter = TABLE_SUFFIXES[suffix] or sniff(text)
    try:
        columns = next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter), [])
    except csv.Error as exc:
        raise DataError(
            f"cannot read the header row of {path}: {exc}", field="data.path", hint="is it really a CSV?"
        ) from None
    if not any(c.strip() for c in columns):
        raise DataError(f"the data file has no header row: {path}", field="data.path")
    return columns


AUDITED_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


def audit_applies(recipe: Any) -> bool:
    """Whether training audits this recipe's data (a table or text file read as a table, `data.audit` on): decided
    without pandas, so `kproto validate` imports pandas only when there is an audit to show."""
    from kproto.core import catalog

    data = recipe.data
    family = catalog.family(recipe.model.type)
    if not data.audit or data.shape or data.window is not None:
        return False
    if not {catalog.TABLE, catalog.TEXT} & set(family.inputs):
        return False
    return not Path(data.path).is_dir() and Path(data.path).suffix.lower() in AUDITED_SUFFIXES
