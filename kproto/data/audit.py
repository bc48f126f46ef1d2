"""Know the data before training on it: each column's type, role and what training will do with it, and warnings.

`audit_frame` profiles a DataFrame through `PandasTable` (the rules themselves live in `kproto.data.audit_rules`,
shared with `kproto validate`'s pandas-free reader, `kproto.data.sample`); `sample_file` reads a data file in bounded
memory for `kproto inspect`. The audit's decisions (drop identifiers and constants, date features, capped categories)
are applied by `kproto.data.preprocess` and saved in the run as `audit.json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kproto.data.audit_rules import (
    ACTIONS,
    CODES,
    DATE_SAMPLE,
    MAX_PROFILE_ROWS,
    NUMBER_SAMPLE,
    OVERRIDES,
    ROLES,
    SHOWN_PER_CODE,
    VALIDATE_ROWS,
    Audit,
    AuditSettings,
    ColumnReport,
    Finding,
    LeakScores,
    audit_table,
    detect,
    leak_scores,
    recipe_audit_plan,
)
from kproto.data.preprocess import infer_task

__all__ = [
    "ACTIONS",
    "CODES",
    "OVERRIDES",
    "ROLES",
    "SHOWN_PER_CODE",
    "Audit",
    "AuditSettings",
    "ColumnReport",
    "Finding",
    "PandasColumn",
    "PandasTable",
    "audit_frame",
    "dtype_name",
    "guess_target",
    "inspect_file",
    "recipe_audit",
    "sample_chunks",
    "sample_file",
]


# ----------------------------------------------------------------------------------------------- the pandas view
def dtype_name(column: pd.Series) -> str:
    """integer, float, boolean, string or datetime."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(column.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(column.dtype):
        present = column.dropna().to_numpy(float)
        present = present[np.isfinite(present)]
        if len(present) and bool(np.all(np.mod(present, 1) == 0)):
            return "integer"  # whole numbers with gaps read as floats
        return "float"
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return "datetime"
    return "string"


class PandasColumn:
    """A DataFrame column's facts for the audit's rules (`kproto.data.audit_rules.ColumnView`)."""

    def __init__(self, column: pd.Series) -> None:
        self.column = column
        self.values = column.dropna()

    def dtype(self) -> str:
        return dtype_name(self.column)

    def numeric_storage(self) -> bool:
        return pd.api.types.is_numeric_dtype(self.column.dtype)

    def present(self) -> int:
        return len(self.values)

    def missing(self) -> int:
        return len(self.column) - len(self.values)

    def unique(self) -> int:
        return int(self.values.nunique())

    def example(self) -> str | None:
        if self.values.empty:
            return None
        text = str(self.values.iloc[0])
        return text if len(text) <= 40 else text[:37] + "..."

    def numeric_share(self) -> float:
        sample = self.values.iloc[:NUMBER_SAMPLE]
        if sample.empty:
            return 0.0
        return float(pd.to_numeric(sample, errors="coerce").notna().mean())

    def date_share(self) -> float:
        sample = self.values.astype(str).iloc[:DATE_SAMPLE]
        return float(pd.to_datetime(sample, errors="coerce", format="mixed", utc=True).notna().mean())

    def texts(self, limit: int) -> list[str]:
        return [str(value) for value in self.values.iloc[:limit].tolist()]

    def number_facts(self) -> tuple[float, float, bool]:
        numbers = self.values.to_numpy(np.float64)
        low, high = float(numbers.min()), float(numbers.max())
        widths = np.floor(np.log10(np.abs(numbers))).astype(int) if low > 0 else np.zeros(1, int)
        return low, high, bool(np.all(widths == widths[0]))

    def class_counts(self) -> list[tuple[str, int]]:
        return [(str(k), int(v)) for k, v in self.values.astype(str).value_counts().items()]

    def stats(self) -> tuple[float, float, float, float]:
        numbers = pd.to_numeric(self.values, errors="coerce")
        return numbers.mean(), numbers.std(), numbers.min(), numbers.max()

    def task(self, max_classes: int) -> str:
        return infer_task(self.values, max_classes)


class PandasTable:
    """A DataFrame for the audit's rules (`kproto.data.audit_rules.TableView`)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.names = list(frame.columns)
        self.rows = len(frame)

    def column(self, name: str) -> PandasColumn:
        return PandasColumn(self.frame[name])

    def duplicate_rows(self) -> int:
        return duplicate_rows(self.frame)

    def present_mask(self, name: str) -> np.ndarray:
        return self.frame[name].notna().to_numpy()

    def label_codes(self, name: str, rows: np.ndarray) -> tuple[np.ndarray, int]:
        codes, labels = pd.factorize(self.frame[name].iloc[rows].astype(str))
        return codes, len(labels)

    def numbers(self, name: str, rows: np.ndarray) -> np.ndarray:
        return pd.to_numeric(self.frame[name].iloc[rows], errors="coerce").to_numpy(np.float64)

    def category_codes(self, name: str, rows: np.ndarray) -> np.ndarray:
        codes, _ = pd.factorize(self.frame[name].iloc[rows].astype("string"), use_na_sentinel=True)
        return codes

    def leak_scores(self, target: str, task: str, columns: dict[str, bool], seed: int) -> LeakScores | None:
        return leak_scores(self, target, task, columns, seed)


def audit_frame(frame: pd.DataFrame, settings: AuditSettings | None = None, rows: int | None = None) -> Audit:
    """Profile `frame`: roles, actions and warnings (`rows`: the file's row count when `frame` is a sample)."""
    return audit_table(PandasTable(frame), settings, rows)


def duplicate_rows(frame: pd.DataFrame) -> int:
    """Rows that repeat an earlier row exactly: rows are hashed first, and only rows whose hash repeats compared."""
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    candidates = pd.Series(hashes).duplicated(keep=False).to_numpy()
    return int(frame[candidates].duplicated().sum()) if candidates.any() else 0


# ----------------------------------------------------------------------------------------------- files
def sample_file(
    path: str | Path, max_rows: int = MAX_PROFILE_ROWS, encoding: str | None = None
) -> tuple[pd.DataFrame, int, str | None]:
    """(rows to profile, the file's row count, a note when the file is not UTF-8). At most `max_rows` rows are
    kept, a uniform seeded sample of a larger csv/tsv/parquet file read in chunks."""
    from kproto.data.readers import read_table, undecodable_line

    path = Path(path)
    suffix = path.suffix.lower()
    note = None
    if suffix not in (".parquet", ".pq", ".npz") and encoding is None:
        line = undecodable_line(path)
        if line is not None:
            encoding = "latin-1"
            note = (
                f"line {line} of {path.name} is not UTF-8 text; it was read as latin-1 for this profile. Training "
                "refuses it unless the recipe says how it is encoded: data.encoding: latin-1 (or cp1252, ...)"
            )
    if path.stat().st_size < 64 << 20 or suffix == ".npz":
        frame = read_table(path, encoding=encoding)
        total = len(frame)
        if total > max_rows:
            frame = frame.iloc[np.sort(np.random.default_rng(0).choice(total, max_rows, replace=False))]
        return frame.reset_index(drop=True), total, note
    return (*sample_chunks(path, max_rows, encoding), note)


def sample_chunks(
    path: Path, max_rows: int, encoding: str | None = None, chunk_rows: int = 100_000
) -> tuple[pd.DataFrame, int]:
    """A uniform sample of a large file, one chunk in memory at a time (each row kept with equal odds)."""
    from kproto.data.readers import table_chunks

    rng = np.random.default_rng(0)
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    total = 0
    for chunk in table_chunks(path, chunk_rows, encoding):
        total += len(chunk)
        chunk_keys = rng.random(len(chunk))  # every row draws a key; the max_rows smallest keys are the sample
        merged = chunk if kept is None else pd.concat([kept, chunk], ignore_index=True)
        keys = np.concatenate([keys, chunk_keys])
        if len(merged) > max_rows:
            chosen = np.sort(np.argpartition(keys, max_rows)[:max_rows])
            merged, keys = merged.iloc[chosen].reset_index(drop=True), keys[chosen]
        kept = merged
    frame = kept if kept is not None else pd.DataFrame()
    return frame.reset_index(drop=True), total


def inspect_file(
    path: str | Path, target: str | None = None, encoding: str | None = None, max_rows: int = MAX_PROFILE_ROWS
) -> Audit:
    """`kproto inspect`: the profile of a data file (sampled in bounded memory when large)."""
    from kproto.data.readers import check_target_name

    frame, total, note = sample_file(path, max_rows, encoding)
    columns = list(frame.columns)
    if target is not None:
        check_target_name(target, columns, "--target")
    else:
        target = guess_target(frame)
    settings = AuditSettings(target=target, encoding=note)
    return audit_frame(frame, settings, rows=total)


def recipe_audit(recipe: Any, rows: int = VALIDATE_ROWS) -> Audit | None:
    """The audit `kproto validate` shows: a recipe's table read as training reads it (the first `rows` rows).
    None where training audits nothing: data.audit off, images, windows, text pairs and interactions."""
    from kproto.data.header import audit_applies
    from kproto.data.readers import read_table

    if not audit_applies(recipe):
        return None
    data = recipe.data
    frame = read_table(data.path, limit=min(data.limit or rows, rows), encoding=data.encoding)
    settings, left_out = recipe_audit_plan(recipe)
    return audit_frame(frame.drop(columns=[c for c in left_out if c in frame]), settings)


TARGET_NAMES = ("label", "target", "class", "y", "outcome")


def guess_target(frame: pd.DataFrame) -> str | None:
    """A column named like a target (label, target, class, y, outcome), or else the last column that is neither an
    identifier, a constant, free text nor a date."""
    columns = [str(c) for c in frame.columns]
    named = next((c for c in columns if c.lower() in TARGET_NAMES), None)
    if named is not None:
        return named
    for name in reversed(columns):
        _, role, _ = detect(name, PandasColumn(frame[name]), None)
        if role in ("numeric", "categorical"):
            return name
    return columns[-1] if columns else None
