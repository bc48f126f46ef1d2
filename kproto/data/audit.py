"""Know the data before training on it: each column's type, role and what training will do with it, and warnings.

`audit_frame` profiles a DataFrame (pandas and NumPy only); `sample_file` reads a data file in bounded memory for
`kproto inspect`. The audit's decisions (drop identifiers and constants, date features, capped categories) are applied
by `kproto.data.preprocess` and saved in the run as `audit.json`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kproto.data.preprocess import CATEGORY_CAP, TEXT_MIN_MEAN_LENGTH, infer_task
from kproto.data.splits import min_rows_per_split

ROLES = ("numeric", "categorical", "text", "image", "datetime", "identifier", "constant", "target")
OVERRIDES = ("drop", "identifier", "numeric", "categorical", "text", "image", "datetime")  # the values of data.columns
CODES = (
    "identifier",
    "high_cardinality",
    "constant",
    "datetime",
    "leak_suspect",
    "imbalance",
    "many_classes",
    "duplicate_rows",
    "missing_target",
    "tiny_classes",
    "encoding",
    "mixed_types",
    "unused_column",
)
# what training does with a column, by role (a column's `action`)
ACTIONS = {
    "numeric": "standardize",
    "categorical": "one-hot",
    "datetime": "date_features",
    "identifier": "drop",
    "constant": "drop",
    "target": "predict",
    "text": "tokenize",
    "image": "read_image",
}
IMAGE_PATH = re.compile(r"\.(?:png|jpe?g|bmp|gif|webp)$", re.IGNORECASE)  # a cell naming an image file
IMBALANCE_SHARE = 0.10  # a minority class under this share of rows is an imbalance
ID_UNIQUE_SHARE = 0.95  # a string column this unique per row is an identifier
LEAK_ACCURACY = 0.98  # one column alone reaching this held-out accuracy (or R²) is a leak suspect
LEAK_R2 = 0.95
LEAK_ROWS = 20_000  # the leak check reads at most this many rows
MAX_PROFILE_ROWS = 200_000  # a larger file is profiled on a uniform sample of this many rows
DATE_PATTERN = re.compile(
    r"^\s*(\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?|\d{1,2}/\d{1,2}/\d{2,4})\s*$"
)
ID_NAMES = {"id", "index", "key", "uuid", "guid", "rownames", "unnamed: 0", "row", "row_id"}


SHOWN_PER_CODE = 5  # warnings of one code printed by validate and train before the rest are counted


@dataclass
class Finding:
    """One warning: a stable `code` for scripts, the column it is about, and what it means and what to do."""

    code: str
    message: str
    column: str | None = None

    def to_dict(self, with_column: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code}
        if with_column and self.column is not None:
            data["column"] = self.column
        data["message"] = self.message
        return data


@dataclass
class ColumnReport:
    """One column of the profile."""

    name: str
    dtype: str  # integer, float, boolean, string or datetime
    role: str  # one of ROLES
    missing: float  # share of empty cells
    unique: int  # distinct non-empty values
    example: str | None
    action: str  # what training does: standardize, one-hot, cap, date_features, tokenize, predict, drop, unused
    warnings: list[Finding] = field(default_factory=list)
    reason: str = ""  # why it is dropped or unused (shown in the run header)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["warnings"] = [w.to_dict(with_column=False) for w in self.warnings]
        if not self.reason:
            del data["reason"]
        return data


@dataclass
class Audit:
    """The profile of a table: its rows, target, columns and table-wide warnings."""

    rows: int
    columns: list[ColumnReport]
    target: dict[str, Any] | None = None
    warnings: list[Finding] = field(default_factory=list)
    sampled: int | None = None  # rows profiled, when the file was sampled

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rows": self.rows}
        if self.sampled is not None:
            data["sampled_rows"] = self.sampled
        data["target"] = self.target
        data["columns"] = [c.to_dict() for c in self.columns]
        data["warnings"] = [w.to_dict() for w in self.all_warnings()]
        return data

    def column(self, name: str) -> ColumnReport | None:
        return next((c for c in self.columns if c.name == name), None)

    def all_warnings(self) -> list[Finding]:
        """Every warning, the columns' ones first (each naming its column), then the table's."""
        found = [Finding(w.code, w.message, c.name) for c in self.columns for w in c.warnings]
        return found + list(self.warnings)

    def codes(self) -> set[str]:
        return {w.code for w in self.all_warnings()}

    def features(self) -> list[str]:
        """The columns training reads, in file order."""
        return [c.name for c in self.columns if c.action not in ("drop", "unused", "predict")]

    def dropped(self) -> dict[str, str]:
        """Columns left out of training → why."""
        return {c.name: c.reason or c.role for c in self.columns if c.action in ("drop", "unused")}

    def roles(self) -> dict[str, str]:
        return {c.name: c.role for c in self.columns}

    def dropped_line(self, limit: int = SHOWN_PER_CODE * 4) -> str:
        """The dropped columns and why, as one line: at most `limit` named, then how many more."""
        items = [f"{name} ({why})" for name, why in self.dropped().items()]
        more = f", … and {len(items) - limit} more" if len(items) > limit else ""
        return ", ".join(items[:limit]) + more

    def warning_lines(self, per_code: int = SHOWN_PER_CODE) -> list[str]:
        """The warnings as printed lines: at most `per_code` of each code, then one line counting the rest."""
        lines: list[str] = []
        by_code: dict[str, list[Finding]] = {}
        for warning in self.all_warnings():
            by_code.setdefault(warning.code, []).append(warning)
        for code, found in by_code.items():
            for warning in found[:per_code]:
                lines.append(
                    f"warning [{code}]" + (f" {warning.column}" if warning.column else "") + f": {warning.message}"
                )
            if len(found) > per_code:
                lines.append(
                    f"warning [{code}]: {len(found) - per_code} more columns like these "
                    "(kproto inspect --json lists every one)"
                )
        return lines


@dataclass
class AuditSettings:
    """What the audit needs from a recipe (all optional for `kproto inspect`)."""

    target: str | None = None
    task: str | None = None  # data.task when written
    max_classes: int = 20
    overrides: dict[str, str] = field(default_factory=dict)  # data.columns
    features: list[str] | None = None  # data.features when written
    text: str | None = None  # data.text
    validation: float = 0.15
    test: float = 0.15
    missing_target: int = 0  # rows with an empty target already dropped
    encoding: str | None = None  # a note on how the file was decoded (a non-UTF-8 file read for inspection)
    categorical: str = "onehot"
    several_inputs: bool = False  # the model takes columns of several kinds (text and image columns are read too)

    @classmethod
    def from_recipe(cls, data: Any, missing_target: int = 0, several_inputs: bool = False) -> AuditSettings:
        return cls(
            several_inputs=several_inputs,
            target=data.target,
            task=data.task,
            max_classes=data.max_classes,
            overrides=dict(data.columns or {}),
            features=list(data.features) if data.features is not None else None,
            text=data.text,
            validation=data.split.validation,
            test=data.split.test,
            missing_target=missing_target,
            categorical=data.categorical,
        )


# ----------------------------------------------------------------------------------------------- per column
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


def looks_like_dates(values: pd.Series) -> bool:
    """Strings that are dates (ISO 2024-03-01, with a time or not, or 03/01/2024) in at least 95% of a sample."""
    sample = values.dropna().astype(str)
    sample = sample.iloc[: min(len(sample), 300)]
    if sample.empty:
        return False
    if sample.str.match(DATE_PATTERN).mean() < 0.95:
        return False
    return bool(pd.to_datetime(sample, errors="coerce", format="mixed", utc=True).notna().mean() >= 0.95)


def _numeric_share(values: pd.Series) -> float:
    sample = values.dropna()
    sample = sample.iloc[: min(len(sample), 2000)]
    if sample.empty:
        return 0.0
    return float(pd.to_numeric(sample, errors="coerce").notna().mean())


def _id_name(name: str) -> bool:
    lower = name.strip().lower()
    return lower in ID_NAMES or bool(re.search(r"[_\s.-]id$", lower)) or bool(re.search(r"[a-z]Id$", name))


def _id_like_integers(values: pd.Series, unique: int, name: str) -> bool:
    """Integers unique per row that count rows (1, 2, 3, ...), have an ID's name, or all share a long width."""
    present = values.dropna()
    if len(present) < 20 or unique < ID_UNIQUE_SHARE * len(present):
        return False
    numbers = present.to_numpy(np.float64)
    if _id_name(name):
        return True
    low, high = float(numbers.min()), float(numbers.max())
    if high - low + 1 <= len(present) * 1.05 and unique >= 0.99 * len(present):
        return True  # a row counter
    if low >= 100_000:
        widths = np.floor(np.log10(np.abs(numbers))).astype(int)
        return bool(np.all(widths == widths[0]))  # codes of one width: 7-digit patient numbers
    return False


def _image_paths(present: pd.Series) -> bool:
    """A string column whose cells (on a sample) all name image files."""
    if present.empty:
        return False
    sample = present.iloc[: min(len(present), 1000)].astype(str).str.strip()
    return bool(sample.str.contains(IMAGE_PATH).all())


def _is_text(present: pd.Series, unique: int) -> bool:
    """Free text as `is_text_column` defines it (long, mostly distinct strings), its length read on a sample."""
    if present.empty or unique <= 0.5 * len(present):
        return False
    sample = present.iloc[: min(len(present), 5000)].astype(str)
    return bool(sample.str.len().mean() >= TEXT_MIN_MEAN_LENGTH)


def _example(values: pd.Series) -> str | None:
    present = values.dropna()
    if present.empty:
        return None
    text = str(present.iloc[0])
    return text if len(text) <= 40 else text[:37] + "..."


def _detect(name: str, column: pd.Series, override: str | None) -> tuple[str, str, int]:
    """The column's (dtype, role, distinct count) from its values, or the role `override` gives."""
    dtype = dtype_name(column)
    present = column.dropna()
    unique = int(present.nunique())
    numbers = _numeric_share(present) if dtype == "string" and len(present) else 0.0
    if numbers == 1.0:
        dtype = "float"
    if override is not None and override != "drop":
        return dtype, override, unique
    if unique <= 1:
        return dtype, "constant", unique
    if dtype == "datetime":
        return dtype, "datetime", unique
    if dtype in ("integer", "float"):
        if dtype == "integer" and pd.api.types.is_numeric_dtype(column.dtype):
            if _id_like_integers(present, unique, name):
                return dtype, "identifier", unique
        return dtype, "numeric", unique
    if dtype == "boolean":
        return dtype, "categorical", unique
    if numbers >= 0.9:  # numbers with a few typos: training points at the first text cell
        return dtype, "numeric", unique
    if looks_like_dates(present):
        return "datetime", "datetime", unique
    if _image_paths(present):
        return dtype, "image", unique
    if _is_text(present, unique):
        return dtype, "text", unique
    if len(present) >= 20 and (
        unique >= ID_UNIQUE_SHARE * len(present) or (_id_name(name) and unique >= 0.5 * len(present))
    ):
        return dtype, "identifier", unique
    return dtype, "categorical", unique


def _column_report(name: str, column: pd.Series, rows: int, settings: AuditSettings) -> ColumnReport:
    override = settings.overrides.get(name)
    dtype, role, unique = _detect(name, column, override)
    missing = float(column.isna().mean()) if rows else 0.0
    report = ColumnReport(name, dtype, role, round(missing, 4), unique, _example(column), ACTIONS[role])
    listed = settings.features is not None and name in settings.features
    fix = f"data.columns: {{{name}: categorical}}"
    if role == "identifier":
        report.reason = "identifier"
        share = unique / max(rows - int(column.isna().sum()), 1)
        report.warnings.append(
            Finding(
                "identifier",
                f"'{name}' has {unique} distinct values in {rows} rows ({share:.0%}): an ID or a name, which a model "
                "memorises instead of learning from"
                + (" (set in data.columns)" if override else "")
                + f"; it is dropped. If it carries meaning, write {fix} (or numeric)",
            )
        )
    elif role == "constant":
        report.reason = "constant"
        report.warnings.append(
            Finding(
                "constant",
                f"'{name}' has {'one value' if unique else 'no values'} in every row"
                + (f" ({report.example!r})" if report.example else "")
                + "; it carries no information and is dropped",
            )
        )
    elif role == "datetime":
        report.warnings.append(
            Finding(
                "datetime",
                f"'{name}' holds dates; they become date features (year, month, day of week and day of year as "
                f"cycles, elapsed time) instead of {unique} categories. To keep them as categories, write {fix}",
            )
        )
    elif role == "categorical" and unique > CATEGORY_CAP:
        report.action = "cap"
        report.warnings.append(
            Finding(
                "high_cardinality",
                f"'{name}' has {unique} distinct values; one-hot encoding keeps the {CATEGORY_CAP} most frequent in "
                f"the training rows and maps the rest to '(other)'. If it is an ID, write "
                f"data.columns: {{{name}: identifier}} to drop it",
            )
        )
    elif role == "categorical" and settings.categorical == "index":
        report.action = "index"
    if dtype == "string" and role not in ("datetime", "numeric"):
        share = _numeric_share(column)
        if 0.2 <= share < 1.0:
            report.warnings.append(
                Finding(
                    "mixed_types",
                    f"'{name}' mixes numbers ({share:.0%} of its cells) with text"
                    + (
                        "; training refuses it at the first text cell: fix those cells or leave them empty"
                        if share >= 0.9 and override is None
                        else "; it is read as categories"
                    )
                    + f", or write data.columns: {{{name}: categorical}} to read every value as a category",
                )
            )
    if override == "drop":
        report.action, report.reason = "drop", "data.columns"
    elif listed and report.action == "drop":  # the user listed it: kept, still said
        report.action = "standardize" if dtype in ("integer", "float") else "one-hot"
        report.reason = ""
        report.warnings[-1].message += " (kept: it is listed in data.features)"
    return report


# ----------------------------------------------------------------------------------------------- the target
def _target_report(column: pd.Series, settings: AuditSettings) -> tuple[dict[str, Any], list[Finding]]:
    name = settings.target or ""
    present = column.dropna()
    task = settings.task or (infer_task(present, settings.max_classes) if len(present) else "classification")
    info: dict[str, Any] = {"name": name, "task": task}
    found: list[Finding] = []
    unique = int(present.nunique())
    integral = dtype_name(present) == "integer"
    if task == "classification":
        counts = present.astype(str).value_counts()
        info["classes"] = {str(k): int(v) for k, v in counts.iloc[:50].items()}
        if len(counts) > 50:
            info["distinct"] = int(len(counts))
        found += _class_warnings(name, counts, settings)
        if integral and settings.task is None and unique > 10 and pd.api.types.is_numeric_dtype(present.dtype):
            found.append(
                Finding(
                    "many_classes",
                    f"the target '{name}' has {unique} whole-number values and is treated as {unique} classes; "
                    "if they are quantities (counts, scores), write data.task: regression",
                    name,
                )
            )
    else:
        numbers = pd.to_numeric(present, errors="coerce")
        info.update(
            mean=_num(numbers.mean()), std=_num(numbers.std()), min=_num(numbers.min()), max=_num(numbers.max())
        )
        if integral and settings.task is None and settings.max_classes < unique <= 100:
            found.append(
                Finding(
                    "many_classes",
                    f"the target '{name}' has {unique} whole-number values and is treated as regression; if they are "
                    f"classes, write data.task: classification (or data.max_classes: {unique})",
                    name,
                )
            )
    if settings.missing_target or column.isna().any():
        count = settings.missing_target + int(column.isna().sum())
        found.append(
            Finding(
                "missing_target",
                f"{count} row(s) have an empty target '{name}' and are dropped (not used for training or scores)",
                name,
            )
        )
    return info, found


def _num(value: Any) -> float | None:
    value = float(value)
    return round(value, 6) if np.isfinite(value) else None


def _class_warnings(name: str, counts: pd.Series, settings: AuditSettings) -> list[Finding]:
    found = []
    total = int(counts.sum())
    if len(counts) >= 2 and total:
        minority, share = str(counts.index[-1]), float(counts.iloc[-1]) / total
        if share < min(IMBALANCE_SHARE, 0.5 / len(counts)):  # rare, and rare for this many classes
            majority = float(counts.iloc[0]) / total
            threshold = "train.threshold: auto, " if len(counts) == 2 else ""
            found.append(
                Finding(
                    "imbalance",
                    f"the class '{minority}' is {share:.1%} of the rows (the majority class alone is right "
                    f"{majority:.1%} of the time), so accuracy can look high while '{minority}' is missed. Remedies: "
                    f"{threshold}train.class_weight: balanced, data.balance: oversample, and train.metrics: "
                    f"[accuracy, f1{', auc' if len(counts) == 2 else ''}]",
                    name,
                )
            )
    need = min_rows_per_split(settings.validation, settings.test)
    tiny = counts[counts < need]
    if len(tiny):
        found.append(
            Finding(
                "tiny_classes",
                f"{len(tiny)} of {len(counts)} classes have fewer than {need} rows (e.g. '{tiny.index[0]}' with "
                f"{int(tiny.iloc[0])}), too few to be in the training, validation and test splits at once. Keep the "
                "larger classes with data.classes: [...], merge the rare ones in the file, or predict a coarser target",
                name,
            )
        )
    return found


# ----------------------------------------------------------------------------------------------- leaks
def _codes(column: pd.Series, train: np.ndarray, numeric: bool) -> np.ndarray:
    """Bins of a numeric column (quantiles of the training half) or codes of a categorical one; -1 for empty."""
    if numeric:
        values = pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
        known = values[train][~np.isnan(values[train])]
        if known.size == 0:
            return np.full(len(values), -1)
        edges = np.unique(np.quantile(known, np.linspace(0, 1, 33)[1:-1]))
        codes = np.searchsorted(edges, values, side="right")
        return np.where(np.isnan(values), -1, codes)
    codes, _ = pd.factorize(column.astype("string"), use_na_sentinel=True)
    return codes


def _leak_score(codes: np.ndarray, y: np.ndarray, train: np.ndarray, held: np.ndarray, classes: int) -> float:
    """Held-out accuracy (classification) or R² (regression, classes=0) of predicting y from the column's
    bin or value alone: the majority class or mean per bin, learnt on the training half."""
    shift = codes + 1  # -1 (empty) becomes its own bin
    bins = int(shift.max()) + 1
    if classes:
        table = np.zeros((bins, classes))
        np.add.at(table, (shift[train], y[train]), 1)
        seen = table.sum(axis=1) > 0
        fallback = int(np.bincount(y[train], minlength=classes).argmax())
        guess = np.where(seen, table.argmax(axis=1), fallback)
        return float(np.mean(guess[shift[held]] == y[held]))
    sums = np.bincount(shift[train], weights=y[train], minlength=bins)
    counts = np.bincount(shift[train], minlength=bins)
    mean = float(y[train].mean())
    guess = np.where(counts > 0, sums / np.maximum(counts, 1), mean)[shift[held]]
    residual = float(np.sum((y[held] - guess) ** 2))
    total = float(np.sum((y[held] - y[held].mean()) ** 2)) or 1.0
    return 1.0 - residual / total


def _nearest_score(values: np.ndarray, y: np.ndarray, train: np.ndarray, held: np.ndarray, classes: int) -> float:
    """Held-out accuracy (or R²) of the nearest training value's target: sharp where bins are coarse (a column that
    is the target in disguise separates cleanly, however few the rows)."""
    known = train[~np.isnan(values[train])]
    if known.size < 2:
        return 0.0
    order = known[np.argsort(values[known], kind="stable")]
    xs, ys = values[order], y[order]
    x = values[held]
    pos = np.clip(np.searchsorted(xs, np.nan_to_num(x, nan=xs[0])), 1, len(xs) - 1)
    pick = np.where(np.abs(x - xs[pos - 1]) <= np.abs(xs[pos] - x), pos - 1, pos)
    guess = ys[pick]
    if classes:
        fallback = int(np.bincount(y[train], minlength=classes).argmax())
        guess = np.where(np.isnan(x), fallback, guess)
        return float(np.mean(guess == y[held]))
    guess = np.where(np.isnan(x), float(y[train].mean()), guess)
    total = float(np.sum((y[held] - y[held].mean()) ** 2)) or 1.0
    return 1.0 - float(np.sum((y[held] - guess) ** 2)) / total


def _leaks(frame: pd.DataFrame, reports: list[ColumnReport], info: dict[str, Any], seed: int = 0) -> None:
    """Mark the columns that alone predict the target almost perfectly on held-out rows (warned, not dropped)."""
    name = info["name"]
    target = frame[name]
    keep = target.notna().to_numpy()
    rows = np.flatnonzero(keep)
    rng = np.random.default_rng(seed)
    if len(rows) > LEAK_ROWS:
        rows = np.sort(rng.choice(rows, LEAK_ROWS, replace=False))
    if len(rows) < 40:
        return
    part = frame.iloc[rows]
    order = rng.permutation(len(rows))
    train, held = order[: len(rows) // 2], order[len(rows) // 2 :]
    if info["task"] == "classification":
        y, labels = pd.factorize(part[name].astype(str))
        classes = len(labels)
        counts = np.bincount(y[held], minlength=classes)
        baseline = counts.max() / max(len(held), 1)
    else:
        y = pd.to_numeric(part[name], errors="coerce").to_numpy(np.float64)
        if np.isnan(y).any():
            return
        classes, baseline = 0, 0.0
    for report in reports:
        if report.role not in ("numeric", "categorical") or report.action in ("drop", "unused"):
            continue
        numeric = report.role == "numeric"
        codes = _codes(part[report.name], train, numeric)
        score = _leak_score(codes, y, train, held, classes)
        if numeric:
            values = pd.to_numeric(part[report.name], errors="coerce").to_numpy(np.float64)
            score = max(score, _nearest_score(values, y, train, held, classes))
        if classes:
            suspect = score >= LEAK_ACCURACY and (1 - score) <= 0.25 * (1 - baseline)
            what = f"{score:.1%} held-out accuracy (the majority class alone: {baseline:.1%})"
        else:
            suspect = score >= LEAK_R2
            what = f"a held-out R² of {score:.3f}"
        if suspect:
            report.warnings.append(
                Finding(
                    "leak_suspect",
                    f"'{report.name}' alone predicts '{name}' with {what} on half the rows learnt from the other "
                    "half: it may be computed from the target or known only after it. It is kept; if it would not "
                    f"be known when predicting, write data.columns: {{{report.name}: drop}}",
                )
            )


# ----------------------------------------------------------------------------------------------- the table
def audit_frame(frame: pd.DataFrame, settings: AuditSettings | None = None, rows: int | None = None) -> Audit:
    """Profile `frame`: roles, actions and warnings (`rows`: the file's row count when `frame` is a sample)."""
    settings = settings or AuditSettings()
    count = len(frame)
    reports: list[ColumnReport] = []
    target_info: dict[str, Any] | None = None
    table: list[Finding] = []
    for name in frame.columns:
        if name == settings.target:
            target_info, found = _target_report(frame[name], settings)
            table += found
            present = frame[name].dropna()
            reports.append(
                ColumnReport(
                    name, dtype_name(present), "target", round(float(frame[name].isna().mean()), 4),
                    int(present.nunique()), _example(present), "predict",
                )
            )  # fmt: skip
            continue
        reports.append(_column_report(name, frame[name], count, settings))
    _mark_unused(reports, settings)
    if target_info is not None and count:
        _leaks(frame, reports, target_info)
    duplicates = duplicate_rows(frame) if count else 0
    if duplicates:
        table.append(
            Finding(
                "duplicate_rows",
                f"{duplicates} row(s) ({duplicates / count:.1%}) repeat an earlier row exactly; a repeat can land in "
                "both the training and the test split and flatter held-out scores. Remove them from the file unless "
                "they are real repeated observations",
            )
        )
    if settings.encoding:
        table.append(Finding("encoding", settings.encoding))
    audit = Audit(rows=rows if rows is not None else count, columns=reports, target=target_info, warnings=table)
    if rows is not None and rows > count:
        audit.sampled = count
    return audit


def duplicate_rows(frame: pd.DataFrame) -> int:
    """Rows that repeat an earlier row exactly: rows are hashed first, and only rows whose hash repeats compared."""
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    candidates = pd.Series(hashes).duplicated(keep=False).to_numpy()
    return int(frame[candidates].duplicated().sum()) if candidates.any() else 0


def _mark_unused(reports: list[ColumnReport], settings: AuditSettings) -> None:
    """Columns the model cannot read: others beside data.text, free text (or image paths) beside table columns; a
    model of several inputs reads every listed column, and only data.text without data.features leaves some out."""
    inputs = [r for r in reports if r.role != "target" and r.action not in ("drop",)]
    if settings.features is not None:
        inputs = [r for r in inputs if r.name in settings.features]
    if settings.text and not (settings.several_inputs and settings.features is not None):
        several = (
            f"; or list them in data.features (with '{settings.text}') to read them as extra inputs"
            if settings.several_inputs
            else "; leave data.text out to train a table model on the other columns"
        )
        for report in inputs:
            if report.name != settings.text:
                report.action, report.reason = "unused", f"data.text reads only '{settings.text}'"
                report.warnings.append(
                    Finding(
                        "unused_column",
                        f"'{report.name}' is not used: a text model reads only the column data.text names "
                        f"('{settings.text}'){several}",
                    )
                )
        return
    if settings.several_inputs:
        return  # every kind has an encoder (kproto.models.inputs)
    texts = [r for r in inputs if r.role in ("text", "image")]
    if len(inputs) == 1 and texts and texts[0].role == "text":
        return  # the only input: a text model reads it (data.text is inferred)
    for report in texts:
        what = "free text" if report.role == "text" else "a column of image paths"
        report.action, report.reason = "unused", f"{what} beside table columns"
        fix = (
            f"Write data.text: {report.name} to train a text model on it alone, or data.columns: "
            f"{{{report.name}: categorical}} to read its values as categories"
            if report.role == "text"
            else f"Write data.columns: {{{report.name}: categorical}} to read its values as categories"
        )
        report.warnings.append(
            Finding(
                "unused_column",
                f"'{report.name}' is {what}, which a model of table columns cannot read; it is left out. {fix}; "
                "families that take several inputs (feedforward, cnn, rnn, gru, lstm, transformer) read it too",
            )
        )


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


VALIDATE_ROWS = 50_000  # `kproto validate` audits the first rows only


def recipe_audit(recipe: Any, rows: int = VALIDATE_ROWS) -> Audit | None:
    """The audit `kproto validate` shows: a recipe's table read as training reads it (the first `rows` rows).
    None where training audits nothing: data.audit off, images, windows, text pairs and interactions."""
    from kproto.core import catalog
    from kproto.data.header import audit_applies
    from kproto.data.readers import read_table

    if not audit_applies(recipe):
        return None
    data = recipe.data
    family = catalog.family(recipe.model.type)
    frame = read_table(data.path, limit=min(data.limit or rows, rows), encoding=data.encoding)
    data, frame = first_target_view(data, frame)
    settings = AuditSettings.from_recipe(data, several_inputs=family.extra_inputs)
    if family.task is not None:  # autoencoders and GANs predict nothing
        frame = frame.drop(columns=[data.target]) if data.target in frame else frame
        settings.target = None
    return audit_frame(frame, settings)


def first_target_view(data: Any, frame: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    """Several targets: the audit profiles the first as the target and leaves the other target columns out."""
    from kproto.recipe.targets import target_names

    names = target_names(data)
    if len(names) < 2:
        return data, frame
    return data.model_copy(update={"target": names[0]}), frame.drop(columns=[n for n in names[1:] if n in frame])


TARGET_NAMES = ("label", "target", "class", "y", "outcome")


def guess_target(frame: pd.DataFrame) -> str | None:
    """A column named like a target (label, target, class, y, outcome), or else the last column that is neither an
    identifier, a constant, free text nor a date."""
    columns = [str(c) for c in frame.columns]
    named = next((c for c in columns if c.lower() in TARGET_NAMES), None)
    if named is not None:
        return named
    for name in reversed(columns):
        _, role, _ = _detect(name, frame[name], None)
        if role in ("numeric", "categorical"):
            return name
    return columns[-1] if columns else None
