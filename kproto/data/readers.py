"""Read data files into pandas DataFrames, with clear errors for files that can't be used."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kproto.core.errors import DataError
from kproto.data.header import TABLE_SUFFIXES, check_path, read_header
from kproto.data.header import decode as _decode
from kproto.data.header import sniff as _sniff

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kproto.recipe.schema import Recipe

__all__ = ["check_path", "read_header", "read_table", "read_image_folder", "undecodable_line", "table_chunks"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


def _load_npz(path: Path) -> pd.DataFrame:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            columns = {}
            for name in arrays.files:
                array = arrays[name]
                if array.ndim == 1:
                    columns[name] = array
                else:
                    flat = array.reshape(len(array), -1)
                    for j in range(flat.shape[1]):
                        columns[f"{name}_{j}"] = flat[:, j]
    except ValueError as exc:
        raise DataError(
            f"cannot read {path}: {exc}",
            field="data.path",
            hint="object arrays are refused; save plain numeric or string arrays",
        ) from None
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read {path} as .npz: {exc}", field="data.path") from None
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise DataError(f"the arrays in {path} have different lengths {sorted(lengths)}", field="data.path")
    return pd.DataFrame(columns)


def undecodable_line(path: Path, encoding: str = "utf-8", block: int = 1 << 20) -> int | None:
    """The line number of the first bytes of `path` that are not valid `encoding` text, or None."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 1
    with Path(path).open("rb") as handle:
        while True:
            chunk = handle.read(block)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return lines + chunk[: max(exc.start, 0)].count(b"\n")
            if not chunk:
                return None
            lines += chunk.count(b"\n")


def not_text_error(path: Path, encoding: str | None) -> DataError:
    """The error for a file that is not text in the expected encoding: the line, and the field that fixes it."""
    line = undecodable_line(path, encoding or "utf-8")
    where = f"line {line} of {path.name}" if line is not None else path.name
    if encoding:
        return DataError(
            f"{where} is not valid {encoding} text",
            field="data.encoding",
            hint="write the file's real encoding in data.encoding (e.g. latin-1, cp1252, utf-16)",
        )
    return DataError(
        f"{where} is not UTF-8 text; kproto never guesses, so that two different byte strings can't become one value",
        field="data.encoding",
        hint="write data.encoding: latin-1 (or the file's encoding, e.g. cp1252) in the recipe, or save the file as "
        "UTF-8",
    )


def _delimiter(path: Path, encoding: str | None) -> tuple[str, str]:
    """The delimiter of a text table and the decoded start of the file (to check it)."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    text = _decode(head, path) if encoding is None else head.decode(encoding, errors="replace")
    return TABLE_SUFFIXES[path.suffix.lower()] or _sniff(text), text


def table_chunks(path: str | Path, rows: int, encoding: str | None = None) -> Iterator[pd.DataFrame]:
    """A csv/tsv/parquet file as DataFrames of at most `rows` rows each, one in memory at a time."""
    path = check_path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            frame = batch.to_pandas()
            frame.columns = [str(c) for c in frame.columns]
            yield frame
        return
    delimiter, _ = _delimiter(path, encoding)
    try:
        for chunk in pd.read_csv(path, sep=delimiter, chunksize=rows, encoding=encoding or "utf-8", low_memory=False):
            chunk.columns = [str(c) for c in chunk.columns]
            yield chunk
    except UnicodeDecodeError:
        raise not_text_error(path, encoding) from None


def _refuse_huge_numbers(frame: pd.DataFrame, path: Path) -> None:
    """A cell of more than 300 digits (a float holds at most 309): a DataError naming its column and row, before
    any conversion fails with an OverflowError."""
    number = re.compile(r"\s*[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\s*")

    def huge(value: object) -> bool:
        if isinstance(value, int) and not isinstance(value, bool):  # pandas keeps a 400-digit integer as an int
            return value.bit_length() > 1000
        return isinstance(value, str) and len(value) > 300 and number.fullmatch(value) is not None

    for name in [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)]:
        found = frame[name].dropna().map(huge)
        if found.any():
            row = found.index[found.to_numpy().argmax()]
            raise DataError(
                f"column '{name}' holds a number of more than 300 digits at row {row}, "
                "beyond what a float can hold (about 1.8e308)",
                field="data.path",
                hint="fix or remove that cell (leave it empty to have it imputed)",
            )


def read_table(path: str | Path, limit: int | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Read a csv/tsv/parquet/npz file into a DataFrame; refuse empty, header-only or garbled files, and text that
    is not UTF-8 (or not the declared `encoding`): nothing is decoded lossily."""
    path = check_path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"cannot read the Parquet file {path}: {exc}", field="data.path") from None
    elif suffix == ".npz":
        frame = _load_npz(path)
    else:
        delimiter, text = _delimiter(path, encoding)
        try:
            frame = pd.read_csv(path, sep=delimiter, nrows=limit, encoding=encoding or "utf-8", low_memory=False)
        except UnicodeDecodeError:
            raise not_text_error(path, encoding) from None
        except LookupError:
            raise DataError(
                f"unknown text encoding {encoding!r}", field="data.encoding", hint="e.g. utf-8, latin-1, cp1252"
            ) from None
        except pd.errors.EmptyDataError:
            raise DataError(f"the data file has no columns: {path}", field="data.path") from None
        except (pd.errors.ParserError, ValueError) as exc:
            raise DataError(
                f"cannot parse {path}: {str(exc).strip()}", field="data.path", hint="check the delimiter and quoting"
            ) from None
        if frame.shape[1] == 1 and delimiter == "," and any(d in text for d in ("\t", ";", "|")):
            raise DataError(
                f"{path} has one column when read with ',' as delimiter",
                field="data.path",
                hint="the file seems to use another delimiter (tab, ';' or '|'); save it as comma-separated or use a .tsv suffix",
            )
        _refuse_huge_numbers(frame, path)
    if limit is not None:
        frame = frame.iloc[:limit]
    if frame.shape[1] == 0:
        raise DataError(f"the data file has no columns: {path}", field="data.path")
    if len(frame) == 0:
        raise DataError(f"the data file has a header but no rows: {path}", field="data.path")
    frame.columns = [str(c) for c in frame.columns]
    frame.attrs["folder"] = str(path.resolve().parent)  # where relative image paths in its cells start
    return frame


COUNT_BYTES = 1 << 30  # count_rows leaves larger text files uncounted (about a second of reading)


def count_rows(path: str | Path) -> int | None:
    """A table file's data rows without parsing them: a Parquet file's metadata, or a delimited text file's lines less
    its header (a quoted value that spans lines counts once per line). None for other files, text files larger than
    COUNT_BYTES, or where that fails."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if suffix == ".npz" or path.stat().st_size > COUNT_BYTES:
            return None
        lines, last = 0, b"\n"
        with open(path, "rb") as handle:
            while block := handle.read(1 << 22):
                lines, last = lines + block.count(b"\n"), block[-1:]
    except Exception:  # noqa: BLE001 - a count is a nicety: the reader reports the file's real problems
        return None
    return max(lines - (last == b"\n"), 0)


def read_image_folder(path: Path, image_shape: list[int] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images from `path/<class>/*.png` as float32 arrays in [0, 255], integer labels and the class names."""
    from PIL import Image

    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(
            f"an image folder needs one subfolder per class; found {len(classes)} in {path}", field="data.path"
        )
    height, width, channels = (image_shape or [None, None, None]) + [None] * (3 - len(image_shape or []))
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((path / name).iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as img:
                    mode = "L" if channels == 1 else "RGB"
                    img = img.convert(mode)
                    if height is None:
                        height, width = img.height, img.width
                    if (img.height, img.width) != (height, width):
                        img = img.resize((width, height))
                    array = np.asarray(img, dtype=np.float32)
            except OSError as exc:
                raise DataError(f"cannot read image {file}: {exc}", field="data.path") from None
            if array.ndim == 2:
                array = array[..., None]
            channels = array.shape[-1]
            images.append(array)
            labels.append(label)
    if not images:
        raise DataError(
            f"no image files found under {path}", field="data.path", hint=f"expected {sorted(IMAGE_SUFFIXES)}"
        )
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes


def missing_column_error(name: str, columns: list[str], field: str, what: str = "column") -> DataError:
    """A DataError for a column that is not in the data: did-you-mean and the columns there are."""
    from kproto.core.errors import suggest

    guess = suggest(name, columns)
    return DataError(
        f"the {what} '{name}' is not in the data",
        field=field,
        hint=(f"did you mean '{guess}'? " if guess else "") + f"columns: {', '.join(columns[:15])}",
    )


def check_target_name(name: str, columns: list[str], field: str = "data.target") -> None:
    """A DataError naming the choices when `name` is not among `columns`."""
    if name not in columns:
        raise missing_column_error(name, columns, field, "target column")


def check_target(recipe: Recipe, columns: list[str]) -> None:
    """A DataError naming the choices when the recipe's target column is not among `columns`."""
    if recipe.data.target:
        check_target_name(recipe.data.target, columns)
    for name in recipe.data.columns or {}:
        if name not in columns:
            raise missing_column_error(name, columns, f"data.columns.{name}")
