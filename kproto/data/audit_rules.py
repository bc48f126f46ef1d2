"""The data audit's rules, free of pandas and NumPy at import: what each column's facts make of its role, the
warnings and their words, the target's checks and the leak check.

A table reaches these rules through a `TableView` (its columns as `ColumnView`s): `kproto.data.audit` wraps a pandas
DataFrame (training, `kproto inspect`), `kproto.data.sample` the first rows of a CSV read with the `csv` module
(`kproto validate`, without importing pandas). Both answer the same questions, so each rule is written once here.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kproto.core.text import listed

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

TEXT_MIN_MEAN_LENGTH = 40  # a string column whose values average this many characters is free text
CATEGORY_CAP = 50  # the audit keeps this many of a high-cardinality column's most frequent values, the rest: OTHER
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
    "mostly_missing",
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
MOSTLY_MISSING = 0.5  # a kept column empty in more than this share of rows is warned about
LEAK_ACCURACY = 0.98  # one column alone reaching this held-out accuracy (or R²) is a leak suspect
LEAK_R2 = 0.95
LEAK_ROWS = 20_000  # the leak check reads at most this many rows
MAX_PROFILE_ROWS = 200_000  # a larger file is profiled on a uniform sample of this many rows
VALIDATE_ROWS = 50_000  # `kproto validate` audits the first rows only
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
        return listed([f"{name} ({why})" for name, why in self.dropped().items()], limit)

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


def recipe_audit_plan(recipe: Any) -> tuple[AuditSettings, list[str]]:
    """The settings `kproto validate` audits a recipe's table with, and the columns it leaves out: with several
    targets the first is profiled as the target and the others are left out; a family with a task of its own
    (autoencoders, GANs) predicts no column, so its target column is left out and no target is checked."""
    from kproto.core import catalog
    from kproto.recipe.targets import target_names

    data, left_out = recipe.data, []
    names = target_names(data)
    if len(names) >= 2:
        data, left_out = data.model_copy(update={"target": names[0]}), list(names[1:])
    family = catalog.family(recipe.model.type)
    settings = AuditSettings.from_recipe(data, several_inputs=family.extra_inputs)
    if family.task is not None:  # a family with a task of its own (autoencoder, GAN) has no target to check
        left_out.append(data.target)
        settings.target = None
    return settings, left_out


DATE_SAMPLE = 300  # values read to decide a column holds dates
NUMBER_SAMPLE = 2000  # values read for the share of numbers in a string column
IMAGE_SAMPLE = 1000  # values read to decide a column names image files
TEXT_SAMPLE = 5000  # values whose mean length decides free text


# ----------------------------------------------------------------------------------------------- the views
class ColumnView(Protocol):
    """The facts the rules read about one column (its present values: the non-empty cells)."""

    def dtype(self) -> str:
        """integer, float, boolean, string or datetime (whole numbers stored as floats are integer)."""

    def numeric_storage(self) -> bool:
        """Stored as numbers (booleans included), not parsed from strings."""

    def present(self) -> int:
        """Non-empty cells."""

    def missing(self) -> int:
        """Empty cells."""

    def unique(self) -> int:
        """Distinct non-empty values."""

    def example(self) -> str | None:
        """The first present value as text."""

    def numeric_share(self) -> float:
        """The share of the first NUMBER_SAMPLE present values that read as numbers."""

    def date_share(self) -> float:
        """The share of the first DATE_SAMPLE present values (as text) that parse as dates: called only when
        `DATE_PATTERN` matches at least 95% of them."""

    def texts(self, limit: int) -> Sequence[str]:
        """The first `limit` present values as text."""

    def number_facts(self) -> tuple[float, float, bool]:
        """(lowest, highest, whether every value has as many digits before the point as the first: True where the
        lowest is not positive) of a numeric column."""

    def class_counts(self) -> list[tuple[str, int]]:
        """Each present value as text → its count, most frequent first (ties in the order first seen)."""

    def stats(self) -> tuple[float, float, float, float]:
        """Mean, standard deviation (1 degree of freedom), min and max of a numeric column."""

    def task(self, max_classes: int) -> str:
        """classification or regression, as training infers it for this column as the target."""


class TableView(Protocol):
    """A table the rules read: its column names, rows, columns, duplicates and the leak check's arrays."""

    names: list[str]
    rows: int

    def column(self, name: str) -> ColumnView: ...

    def duplicate_rows(self) -> int:
        """Rows that repeat an earlier row exactly."""

    def present_mask(self, name: str) -> np.ndarray:
        """Whether each row's cell of `name` is non-empty."""

    def label_codes(self, name: str, rows: np.ndarray) -> tuple[np.ndarray, int]:
        """The codes of `rows`' values (as text) in order of first appearance, and how many there are."""

    def numbers(self, name: str, rows: np.ndarray) -> np.ndarray:
        """`rows`' values as float64, NaN where empty or not a number."""

    def category_codes(self, name: str, rows: np.ndarray) -> np.ndarray:
        """`rows`' values coded in order of first appearance, -1 where empty."""

    def leak_scores(self, target: str, task: str, columns: dict[str, bool], seed: int) -> LeakScores | None:
        """The leak check's scores (`leak_scores` computes them with NumPy)."""


def looks_like_dates(column: ColumnView) -> bool:
    """Strings that are dates (ISO 2024-03-01, with a time or not, or 03/01/2024) in at least 95% of a sample."""
    sample = column.texts(DATE_SAMPLE)
    if not sample:
        return False
    if sum(DATE_PATTERN.match(value) is not None for value in sample) / len(sample) < 0.95:
        return False
    return column.date_share() >= 0.95


def _id_name(name: str) -> bool:
    lower = name.strip().lower()
    return lower in ID_NAMES or bool(re.search(r"[_\s.-]id$", lower)) or bool(re.search(r"[a-z]Id$", name))


def _code_name(name: str) -> bool:
    """A name that calls its values codes or numbers: district_code, distcod, order_no, case_nr, policy_number."""
    lower = name.strip().lower()
    return bool(re.search(r"(code|cod)$", lower) or re.search(r"(^|[_\s.-])(no|nr|num|number)$", lower))


def _id_like_integers(column: ColumnView, unique: int, name: str) -> bool:
    """Integers unique per row that count rows (1, 2, 3, ...), have an ID's or a code's name, or all share a long
    width."""
    present = column.present()
    if present < 20 or unique < ID_UNIQUE_SHARE * present:
        return False
    if _id_name(name) or _code_name(name):
        return True
    low, high, same_width = column.number_facts()
    if high - low + 1 <= present * 1.05 and unique >= 0.99 * present:
        return True  # a row counter
    if low >= 100_000:
        return same_width  # codes of one width: 7-digit patient numbers
    return False


def _image_paths(column: ColumnView) -> bool:
    """A string column whose cells (on a sample) all name image files."""
    sample = column.texts(IMAGE_SAMPLE)
    return bool(sample) and all(IMAGE_PATH.search(value.strip()) is not None for value in sample)


def _is_text(column: ColumnView, unique: int) -> bool:
    """Free text as `is_text_column` defines it (long, mostly distinct strings), its length read on a sample."""
    present = column.present()
    if not present or unique <= 0.5 * present:
        return False
    sample = column.texts(TEXT_SAMPLE)
    return sum(len(value) for value in sample) / len(sample) >= TEXT_MIN_MEAN_LENGTH


def detect(name: str, column: ColumnView, override: str | None) -> tuple[str, str, int]:
    """The column's (dtype, role, distinct count) from its values, or the role `override` gives."""
    dtype = column.dtype()
    unique = column.unique()
    numbers = column.numeric_share() if dtype == "string" and column.present() else 0.0
    if numbers == 1.0:
        dtype = "float"
    if override is not None and override != "drop":
        return dtype, override, unique
    if unique <= 1:
        return dtype, "constant", unique
    if dtype == "datetime":
        return dtype, "datetime", unique
    if dtype in ("integer", "float"):
        if dtype == "integer" and column.numeric_storage():
            if _id_like_integers(column, unique, name):
                return dtype, "identifier", unique
        return dtype, "numeric", unique
    if dtype == "boolean":
        return dtype, "categorical", unique
    if numbers >= 0.9:  # numbers with a few typos: training points at the first text cell
        return dtype, "numeric", unique
    if looks_like_dates(column):
        return "datetime", "datetime", unique
    if _image_paths(column):
        return dtype, "image", unique
    if _is_text(column, unique):
        return dtype, "text", unique
    present = column.present()
    if present >= 20 and (unique >= ID_UNIQUE_SHARE * present or (_id_name(name) and unique >= 0.5 * present)):
        return dtype, "identifier", unique
    return dtype, "categorical", unique


def column_report(name: str, column: ColumnView, rows: int, settings: AuditSettings) -> ColumnReport:
    """One column's role, action and warnings."""
    override = settings.overrides.get(name)
    dtype, role, unique = detect(name, column, override)
    missing = column.missing() / rows if rows else 0.0
    report = ColumnReport(name, dtype, role, round(missing, 4), unique, column.example(), ACTIONS[role])
    listed = settings.features is not None and name in settings.features
    fix = f"data.columns: {{{name}: categorical}}"
    if role == "identifier":
        report.reason = "identifier"
        share = unique / max(rows - column.missing(), 1)
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
        share = column.numeric_share()
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
    if missing > MOSTLY_MISSING and report.action in ("standardize", "one-hot", "cap", "index"):
        fill = "median" if report.action == "standardize" else "most frequent value"
        marker = (
            "a 0/1 input marking it carries that (data.missing_indicators: true adds one)"
            if report.action == "standardize"
            else "a 0/1 column marking it carries that"
        )
        report.warnings.append(
            Finding(
                "mostly_missing",
                f"'{name}' is empty in {missing:.0%} of the rows; training fills those cells with the training "
                f"{fill}, so for most rows it tells the model nothing but that value. If an empty cell means "
                f"something (none measured, not applicable), {marker}; if not, write data.columns: {{{name}: drop}}",
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
def infer_task(dtype: str, numeric_storage: bool, unique: int, max_classes: int) -> str:
    """classification for strings, booleans and integers with few values; regression otherwise: the rule of
    `kproto.data.preprocess.infer_task` from a column's facts, for a column of finite numbers or strings."""
    if numeric_storage and dtype in ("integer", "float"):
        return "classification" if dtype == "integer" and unique <= max_classes else "regression"
    return "classification"


def target_report(column: ColumnView, settings: AuditSettings) -> tuple[dict[str, Any], list[Finding]]:
    """The target's facts (task, classes or statistics) and its warnings."""
    name = settings.target or ""
    unique = column.unique()
    integral = column.dtype() == "integer"
    numeric = column.numeric_storage()
    task = settings.task or (column.task(settings.max_classes) if column.present() else "classification")
    info: dict[str, Any] = {"name": name, "task": task}
    found: list[Finding] = []
    if task == "classification":
        counts = column.class_counts()
        info["classes"] = dict(counts[:50])
        if len(counts) > 50:
            info["distinct"] = len(counts)
        found += _class_warnings(name, counts, settings)
        if integral and settings.task is None and unique > 10 and numeric:
            found.append(
                Finding(
                    "many_classes",
                    f"the target '{name}' has {unique} whole-number values and is treated as {unique} classes; "
                    "if they are quantities (counts, scores), write data.task: regression",
                    name,
                )
            )
    else:
        mean, std, low, high = column.stats()
        info.update(mean=_num(mean), std=_num(std), min=_num(low), max=_num(high))
        if integral and settings.task is None and settings.max_classes < unique <= 100:
            found.append(
                Finding(
                    "many_classes",
                    f"the target '{name}' has {unique} whole-number values and is treated as regression; if they are "
                    f"classes, write data.task: classification (or data.max_classes: {unique})",
                    name,
                )
            )
    if settings.missing_target or column.missing():
        count = settings.missing_target + column.missing()
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
    return round(value, 6) if math.isfinite(value) else None


def _class_warnings(name: str, counts: list[tuple[str, int]], settings: AuditSettings) -> list[Finding]:
    from kproto.data.splits import min_rows_per_split

    found = []
    total = sum(count for _, count in counts)
    if len(counts) >= 2 and total:
        minority, share = counts[-1][0], counts[-1][1] / total
        if share < min(IMBALANCE_SHARE, 0.5 / len(counts)):  # rare, and rare for this many classes
            majority = counts[0][1] / total
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
    tiny = [(label, count) for label, count in counts if count < need]
    if tiny:
        found.append(
            Finding(
                "tiny_classes",
                f"{len(tiny)} of {len(counts)} classes have fewer than {need} rows (e.g. '{tiny[0][0]}' with "
                f"{tiny[0][1]}), too few to be in the training, validation and test splits at once. Keep the "
                "larger classes with data.classes: [...], merge the rare ones in the file, or predict a coarser target",
                name,
            )
        )
    return found


# ----------------------------------------------------------------------------------------------- leaks
def _codes(table: TableView, name: str, rows: np.ndarray, train: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    """Bins of a numeric column's `values` (quantiles of the training half) or codes of a categorical one (`values`
    None); -1 for empty."""
    import numpy as np

    if values is None:
        return table.category_codes(name, rows)
    known = values[train][~np.isnan(values[train])]
    if known.size == 0:
        return np.full(len(values), -1)
    edges = np.unique(np.quantile(known, np.linspace(0, 1, 33)[1:-1]))
    codes = np.searchsorted(edges, values, side="right")
    return np.where(np.isnan(values), -1, codes)


def _leak_score(codes: np.ndarray, y: np.ndarray, train: np.ndarray, held: np.ndarray, classes: int) -> float:
    """Held-out accuracy (classification) or R² (regression, classes=0) of predicting y from the column's
    bin or value alone: the majority class or mean per bin, learnt on the training half."""
    import numpy as np

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
    import numpy as np

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


def leak_scores(table: TableView, target: str, task: str, columns: dict[str, bool], seed: int = 0) -> LeakScores | None:
    """The leak check's scores with NumPy: each column's (`columns`: name → numeric) held-out accuracy or R² from
    its values alone, learnt on a seeded half of the rows with a target; None with fewer than 40 such rows."""
    import numpy as np

    rows = np.flatnonzero(table.present_mask(target))
    rng = np.random.default_rng(seed)
    if len(rows) > LEAK_ROWS:
        rows = np.sort(rng.choice(rows, LEAK_ROWS, replace=False))
    if len(rows) < 40:
        return None
    order = rng.permutation(len(rows))
    train, held = order[: len(rows) // 2], order[len(rows) // 2 :]
    if task == "classification":
        y, classes = table.label_codes(target, rows)
        counts = np.bincount(y[held], minlength=classes)
        baseline = float(counts.max() / max(len(held), 1))
    else:
        y = table.numbers(target, rows)
        if np.isnan(y).any():
            return None
        classes, baseline = 0, 0.0
    scores = {}
    for name, numeric in columns.items():
        values = table.numbers(name, rows) if numeric else None
        score = _leak_score(_codes(table, name, rows, train, values), y, train, held, classes)
        if values is not None:
            score = max(score, _nearest_score(values, y, train, held, classes))
        scores[name] = score
    return LeakScores(classes, baseline, scores)


@dataclass
class LeakScores:
    """What the leak check measured: the target's classes (0: regression), the majority class's held-out accuracy,
    and each column's score."""

    classes: int
    baseline: float
    scores: dict[str, float]


def find_leaks(table: TableView, reports: list[ColumnReport], info: dict[str, Any], seed: int = 0) -> None:
    """Mark the columns that alone predict the target almost perfectly on held-out rows (warned, not dropped)."""
    name = info["name"]
    columns = {
        r.name: r.role == "numeric"
        for r in reports
        if r.role in ("numeric", "categorical") and r.action not in ("drop", "unused")
    }
    measured = table.leak_scores(name, info["task"], columns, seed)
    if measured is None:
        return
    classes, baseline = measured.classes, measured.baseline
    for report in reports:
        if report.name not in columns:
            continue
        score = measured.scores[report.name]
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
def audit_table(table: TableView, settings: AuditSettings | None = None, rows: int | None = None) -> Audit:
    """Profile `table`: roles, actions and warnings (`rows`: the file's row count when `table` is a sample)."""
    settings = settings or AuditSettings()
    count = table.rows
    reports: list[ColumnReport] = []
    target_info: dict[str, Any] | None = None
    found: list[Finding] = []
    for name in table.names:
        column = table.column(name)
        if name == settings.target:
            target_info, warnings = target_report(column, settings)
            found += warnings
            missing = column.missing() / count if count else 0.0
            reports.append(
                ColumnReport(
                    name, column.dtype(), "target", round(missing, 4), column.unique(), column.example(), "predict"
                )
            )
            continue
        reports.append(column_report(name, column, count, settings))
    _mark_unused(reports, settings)
    if target_info is not None and count:
        find_leaks(table, reports, target_info)
    duplicates = table.duplicate_rows() if count else 0
    if duplicates:
        found.append(
            Finding(
                "duplicate_rows",
                f"{duplicates} row(s) ({duplicates / count:.1%}) repeat an earlier row exactly; a repeat can land in "
                "both the training and the test split and flatter held-out scores. Remove them from the file unless "
                "they are real repeated observations",
            )
        )
    if settings.encoding:
        found.append(Finding("encoding", settings.encoding))
    audit = Audit(rows=rows if rows is not None else count, columns=reports, target=target_info, warnings=found)
    if rows is not None and rows > count:
        audit.sampled = count
    return audit


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
