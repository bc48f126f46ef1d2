"""The first rows of a CSV read with the `csv` module, typed as pandas types them, for `kproto validate`'s audit.

Importing pandas costs about half a second, more than the rest of `kproto validate`. `read_sample` reads the rows
the audit profiles and types each column the way `pandas.read_csv` does (integers, floats, booleans, strings and its
default missing-value markers), so that `kproto.data.audit_rules` finds what it finds on the DataFrame training reads.
Where a file holds something this reader cannot type exactly as pandas would (numbers with spaces or a sign, `inf`,
ragged rows, repeated column names, ...), it raises `Unsupported` and the caller reads the file with pandas.
"""

from __future__ import annotations

import bisect
import csv
import math
import re
import warnings
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kproto.data.audit_rules import (
    DATE_SAMPLE,
    LEAK_ROWS,
    NUMBER_SAMPLE,
    VALIDATE_ROWS,
    Audit,
    LeakScores,
    audit_table,
    infer_task,
    leak_scores,
    recipe_audit_plan,
)
from kproto.data.header import TABLE_SUFFIXES, check_path, decode, sniff

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

# the cells pandas.read_csv reads as missing by default (pandas._libs.parsers.STR_NA_VALUES)
NA_VALUES = frozenset(
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
        "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }
)  # fmt: skip
INTEGER = re.compile(r"-?[0-9]+")
NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
BOOLEANS = {"True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False}
INT64 = 1 << 63
LIGHT_BYTES = 1 << 20  # larger files go to pandas, whose parser (and NumPy's leak check) then repay their import
LONGEST_NUMBER = 300  # pandas' reader refuses a text cell of more digits (kproto.data.readers)
ISO_DATE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-](\d{2}):?(\d{2}))?"
)


class Unsupported(Exception):
    """The file holds something this reader cannot type exactly as pandas would: read it with pandas."""


def _floatable(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def parse_column(cells: Sequence[str]) -> tuple[str, list[Any]]:
    """A column's cells → (integer, float, boolean or string; the values, None where missing), as pandas types it."""
    distinct = set(cells) - NA_VALUES  # each check runs once per distinct cell
    complete = not NA_VALUES.intersection(cells)
    if not distinct:
        return "float", [None] * len(cells)  # pandas: a column of empty cells is float64
    if all(INTEGER.fullmatch(cell) for cell in distinct):
        integers = {cell: int(cell) for cell in distinct}
        if any(abs(number) >= INT64 for number in integers.values()):
            raise Unsupported("an integer beyond 64 bits")
        if complete:
            return "integer", [integers[cell] for cell in cells]
        floats = {cell: float(number) for cell, number in integers.items()}
        return "float", [floats.get(cell) for cell in cells]
    if all(NUMBER.fullmatch(cell) for cell in distinct):
        floats = {cell: float(cell) for cell in distinct}
        if not all(math.isfinite(number) for number in floats.values()):
            raise Unsupported("a number beyond float64")
        return "float", [floats.get(cell) for cell in cells]
    if distinct <= BOOLEANS.keys():
        if not complete:
            raise Unsupported("booleans with empty cells")
        return "boolean", [BOOLEANS[cell] for cell in cells]
    for cell in distinct:
        if cell in BOOLEANS:
            raise Unsupported("booleans among text")
        strict = NUMBER.fullmatch(cell) is not None
        if (strict and len(cell) > LONGEST_NUMBER) or (not strict and _floatable(cell)):
            raise Unsupported(f"a cell pandas may read otherwise: {cell[:40]!r}")
    return "string", [None if cell in NA_VALUES else cell for cell in cells]


def _date_valid(text: str) -> bool:
    """Whether pandas parses `text` (an ISO date, with a time or not) as a timestamp."""
    found = ISO_DATE.fullmatch(text)
    if found is None or not text.isascii():
        raise Unsupported("dates pandas parses with its own rules")
    year, month, day, hour, minute, second, fraction, zone, zone_hours, zone_minutes = found.groups()
    if not 1678 <= int(year) <= 2261 or (zone_hours is not None and (int(zone_hours) > 23 or int(zone_minutes) > 59)):
        raise Unsupported("dates near the limits of pandas' timestamps")
    try:
        datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return False
    return True


class SampleColumn:
    """A column of the sample, with the facts the audit's rules read (`kproto.data.audit_rules.ColumnView`)."""

    def __init__(self, kind: str, values: list[Any]) -> None:
        self.kind = kind
        self.values = values
        self.present_values = [value for value in values if value is not None]

    def dtype(self) -> str:
        if self.kind == "float" and self.present_values and all(v.is_integer() for v in self.present_values):
            return "integer"  # whole numbers with gaps read as floats
        return self.kind

    def numeric_storage(self) -> bool:
        return self.kind != "string"

    def present(self) -> int:
        return len(self.present_values)

    def missing(self) -> int:
        return len(self.values) - len(self.present_values)

    def unique(self) -> int:
        return len(set(self.present_values))

    def example(self) -> str | None:
        if not self.present_values:
            return None
        text = str(self.present_values[0])
        return text if len(text) <= 40 else text[:37] + "..."

    def numeric_share(self) -> float:
        sample = self.present_values[:NUMBER_SAMPLE]
        if not sample:
            return 0.0
        if self.kind != "string":
            return 1.0
        return sum(NUMBER.fullmatch(value) is not None for value in sample) / len(sample)

    def date_share(self) -> float:
        sample = self.texts(DATE_SAMPLE)
        return sum(_date_valid(value) for value in sample) / len(sample)

    def texts(self, limit: int) -> list[str]:
        return [str(value) for value in self.present_values[:limit]]

    def number_facts(self) -> tuple[float, float, bool]:
        numbers = [float(value) for value in self.present_values]
        low, high = min(numbers), max(numbers)
        if low <= 0:
            return low, high, True
        widths = {math.floor(math.log10(abs(number))) for number in numbers}
        return low, high, len(widths) == 1

    def class_counts(self) -> list[tuple[str, int]]:
        counts = Counter(str(value) for value in self.present_values)  # in the order first seen
        return sorted(counts.items(), key=lambda item: -item[1])  # stable: ties keep that order, as pandas does

    def stats(self) -> tuple[float, float, float, float]:
        import numpy as np

        numbers = np.array([float(value) for value in self.present_values], dtype=np.float64)
        if not len(numbers):
            return math.nan, math.nan, math.nan, math.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # one value: no standard deviation (NaN, as in pandas)
            return float(np.mean(numbers)), float(np.std(numbers, ddof=1)), float(numbers.min()), float(numbers.max())

    def task(self, max_classes: int) -> str:
        return infer_task(self.dtype(), self.numeric_storage(), self.unique(), max_classes)


class SampleTable:
    """The sample's columns (`kproto.data.audit_rules.TableView`)."""

    def __init__(self, columns: dict[str, SampleColumn], rows: int) -> None:
        self.columns = columns
        self.names = list(columns)
        self.rows = rows

    def column(self, name: str) -> SampleColumn:
        return self.columns[name]

    def without(self, names: list[str]) -> SampleTable:
        """The table less the columns `names`."""
        return SampleTable({k: v for k, v in self.columns.items() if k not in names}, self.rows)

    def duplicate_rows(self) -> int:
        seen: set[tuple[Any, ...]] = set()
        repeats = 0
        for row in zip(*(column.values for column in self.columns.values()), strict=True):
            if row in seen:
                repeats += 1
            else:
                seen.add(row)
        return repeats

    def present_mask(self, name: str) -> np.ndarray:
        import numpy as np

        return np.array([value is not None for value in self.columns[name].values], dtype=bool)

    def label_codes(self, name: str, rows: np.ndarray) -> tuple[np.ndarray, int]:
        import numpy as np

        values = self.columns[name].values
        codes: dict[str, int] = {}
        found = [codes.setdefault(str(values[row]), len(codes)) for row in rows.tolist()]
        return np.array(found, dtype=np.intp), len(codes)

    def numbers(self, name: str, rows: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.array(self._numbers(name, rows.tolist()), dtype=np.float64)

    def category_codes(self, name: str, rows: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.array(self._category_codes(name, rows.tolist()), dtype=np.intp)

    def _category_codes(self, name: str, rows: list[int]) -> list[int]:
        values = self.columns[name].values
        codes: dict[Any, int] = {}
        return [-1 if values[row] is None else codes.setdefault(values[row], len(codes)) for row in rows]

    def _numbers(self, name: str, rows: list[int]) -> list[float]:
        column = self.columns[name]
        values = column.values
        if column.kind != "string":
            return [math.nan if values[row] is None else float(values[row]) for row in rows]
        return [
            float(values[row]) if values[row] is not None and NUMBER.fullmatch(values[row]) else math.nan
            for row in rows
        ]

    def leak_scores(self, target: str, task: str, columns: dict[str, bool], seed: int) -> LeakScores | None:
        """`audit_rules.leak_scores` without NumPy for a classification target of at most LEAK_ROWS rows."""
        labels = self.columns[target].values
        rows = [i for i, value in enumerate(labels) if value is not None]
        if task != "classification" or len(rows) > LEAK_ROWS or not 0 <= seed < 1 << 32:
            return leak_scores(self, target, task, columns, seed)
        if len(rows) < 40:
            return None
        order = SeededPermutation(seed).permutation(len(rows))
        train, held = order[: len(rows) // 2], order[len(rows) // 2 :]
        codes: dict[str, int] = {}
        y = [codes.setdefault(str(labels[row]), len(codes)) for row in rows]
        classes = len(codes)
        held_counts = Counter(y[i] for i in held)
        baseline = max(held_counts.values()) / max(len(held), 1)
        scores = {}
        for name, numeric in columns.items():
            if numeric:
                values = self._numbers(name, rows)
                scores[name] = max(
                    _bin_accuracy(_bins(values, train), y, train, held, classes),
                    _nearest_accuracy(values, y, train, held, classes),
                )
            else:
                scores[name] = _bin_accuracy(self._category_codes(name, rows), y, train, held, classes)
        return LeakScores(classes, baseline, scores)


def read_sample(path: str | Path, limit: int, encoding: str | None = None) -> SampleTable:
    """The first `limit` rows of a csv/tsv/txt file, each column typed as pandas.read_csv types it; `Unsupported`
    where that cannot be done exactly."""
    path = check_path(path)
    suffix = path.suffix.lower()
    if path.is_dir() or suffix not in (".csv", ".tsv", ".txt"):
        raise Unsupported("not a text table")
    if encoding is not None and encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise Unsupported("an encoding other than UTF-8")
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    delimiter = TABLE_SUFFIXES[suffix] or sniff(decode(head, path))
    rows: list[list[str]] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, [])
            width = len(header)
            for row in reader:
                if not row:
                    continue  # pandas skips blank lines
                if len(row) != width:
                    raise Unsupported("rows of different lengths")
                rows.append(row)
                if len(rows) >= limit:
                    break
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Unsupported(str(exc)) from None
    if width < 2 or not rows or len(set(header)) != width or not all(header):
        raise Unsupported("one column, no rows, or unnamed or repeated column names")
    columns = {name: SampleColumn(*parse_column(cells)) for name, cells in zip(header, zip(*rows), strict=True)}
    return SampleTable(columns, len(rows))


def sample_audit(recipe: Any, rows: int = VALIDATE_ROWS) -> Audit | None:
    """`kproto validate`'s audit: `kproto.data.audit.recipe_audit` without pandas where the file allows (the first
    `rows` rows of a file of at most LIGHT_BYTES read by `read_sample`), with pandas where it does not. None where
    training audits nothing."""
    from kproto.data.header import audit_applies

    if not audit_applies(recipe):
        return None
    data = recipe.data
    try:
        if Path(data.path).stat().st_size > LIGHT_BYTES:
            raise Unsupported("a file large enough for pandas' parser to repay its import")
        table = read_sample(data.path, min(data.limit or rows, rows), data.encoding)
    except Unsupported:
        from kproto.data.audit import recipe_audit

        return recipe_audit(recipe, rows)
    settings, left_out = recipe_audit_plan(recipe)
    table = table.without(left_out)
    try:
        return audit_table(table, settings)
    except Unsupported:  # dates pandas would parse with its own rules
        from kproto.data.audit import recipe_audit

        return recipe_audit(recipe, rows)


# ----------------------------------------------------------------------------------------------- the leak check
# `kproto.data.audit_rules.leak_scores` with lists instead of NumPy arrays, for a classification target: the same
# seeded half of the rows (NumPy's `default_rng(seed).permutation`, drawn here), the same quantile bins and nearest
# values, so the same scores. A regression target or more than LEAK_ROWS rows go to the NumPy version.
MASK32, MASK64, MASK128 = (1 << 32) - 1, (1 << 64) - 1, (1 << 128) - 1
PCG_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645


class SeededPermutation:
    """NumPy's `np.random.default_rng(seed).permutation(n)`: SeedSequence, PCG64 (XSL-RR) and Generator.shuffle's
    bounded draws, in pure Python (small non-negative seeds, n below 2**32)."""

    def __init__(self, seed: int) -> None:
        words = self._seed_state(seed)
        wide = [words[2 * k] | words[2 * k + 1] << 32 for k in range(4)]
        start, stream = wide[0] << 64 | wide[1], wide[2] << 64 | wide[3]
        self.increment = (stream << 1 | 1) & MASK128
        self.state = 0
        self._step()
        self.state = (self.state + start) & MASK128
        self._step()
        self.spare: int | None = None

    @staticmethod
    def _seed_state(seed: int) -> list[int]:
        """SeedSequence(seed).generate_state(4, uint64) as 8 little-endian 32-bit words."""
        entropy = [seed & MASK32] + [seed >> (32 * k) & MASK32 for k in range(1, (seed.bit_length() + 31) // 32)]
        constant = 0x43B0D7E5

        def hashmix(value: int) -> int:
            nonlocal constant
            value ^= constant
            constant = constant * 0x931E8875 & MASK32
            value = value * constant & MASK32
            return value ^ value >> 16

        def mix(x: int, y: int) -> int:
            result = (0xCA01F9DD * x - 0x4973F715 * y) & MASK32
            return result ^ result >> 16

        pool = [hashmix(entropy[i] if i < len(entropy) else 0) for i in range(4)]
        for source in range(4):
            for target in range(4):
                if source != target:
                    pool[target] = mix(pool[target], hashmix(pool[source]))
        for source in range(4, len(entropy)):
            for target in range(4):
                pool[target] = mix(pool[target], hashmix(entropy[source]))
        constant, words = 0x8B51F9DD, []
        for i in range(8):
            value = pool[i % 4] ^ constant
            constant = constant * 0x58F38DED & MASK32
            value = value * constant & MASK32
            words.append(value ^ value >> 16)
        return words

    def _step(self) -> None:
        self.state = (self.state * PCG_MULTIPLIER + self.increment) & MASK128

    def _next64(self) -> int:
        self._step()
        folded = (self.state >> 64 ^ self.state) & MASK64
        rotation = self.state >> 122
        return (folded >> rotation | folded << (-rotation & 63)) & MASK64

    def _next32(self) -> int:
        if self.spare is not None:
            value, self.spare = self.spare, None
            return value
        value = self._next64()
        self.spare = value >> 32
        return value & MASK32

    def _interval(self, highest: int) -> int:
        """A uniform integer in [0, highest] (masked rejection, as NumPy's random_interval)."""
        if highest == 0:
            return 0
        mask = (1 << highest.bit_length()) - 1
        while True:
            value = self._next32() & mask
            if value <= highest:
                return value

    def permutation(self, n: int) -> list[int]:
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self._interval(i)
            order[i], order[j] = order[j], order[i]
        return order


def _quantile(ordered: list[float], q: float) -> float:
    """NumPy's default (linear) quantile of sorted values, with its interpolation's rounding."""
    virtual = (len(ordered) - 1) * q
    if virtual >= len(ordered) - 1:
        return ordered[-1]
    below = math.floor(virtual)
    low, high, weight = ordered[below], ordered[below + 1], virtual - below
    gap = high - low
    return high - gap * (1 - weight) if weight >= 0.5 else low + gap * weight


def _bins(values: list[float], train: list[int]) -> list[int]:
    """Bins of a numeric column: 32 quantiles of the training half, -1 for empty (`audit_rules._codes`)."""
    known = sorted(value for value in (values[i] for i in train) if not math.isnan(value))
    if not known:
        return [-1] * len(values)
    edges = sorted({_quantile(known, k / 32) for k in range(1, 32)})
    bins = {value: bisect.bisect_right(edges, value) for value in set(values) if not math.isnan(value)}
    return [-1 if math.isnan(value) else bins[value] for value in values]


def _majority(labels: list[int], classes: int) -> int:
    counts = [0] * classes
    for label in labels:
        counts[label] += 1
    return counts.index(max(counts))


def _bin_accuracy(codes: list[int], y: list[int], train: list[int], held: list[int], classes: int) -> float:
    """Held-out accuracy of each bin's majority class learnt on the training half (`audit_rules._leak_score`)."""
    table: dict[int, list[int]] = {}
    for i in train:
        table.setdefault(codes[i], [0] * classes)[y[i]] += 1
    fallback = _majority([y[i] for i in train], classes)
    guess = {code: counts.index(max(counts)) for code, counts in table.items()}
    return sum(guess.get(codes[i], fallback) == y[i] for i in held) / len(held)


def _nearest_accuracy(values: list[float], y: list[int], train: list[int], held: list[int], classes: int) -> float:
    """Held-out accuracy of the nearest training value's class (`audit_rules._nearest_score`)."""
    known = sorted((i for i in train if not math.isnan(values[i])), key=values.__getitem__)
    if len(known) < 2:
        return 0.0
    xs, ys = [values[i] for i in known], [y[i] for i in known]
    fallback = _majority([y[i] for i in train], classes)
    guesses: dict[float, int] = {}  # the nearest training value's class depends on the value alone
    right = 0
    for i in held:
        x = values[i]
        if math.isnan(x):
            right += fallback == y[i]
            continue
        guess = guesses.get(x)
        if guess is None:
            pos = min(max(bisect.bisect_left(xs, x), 1), len(xs) - 1)
            guess = guesses[x] = ys[pos - 1 if abs(x - xs[pos - 1]) <= abs(xs[pos] - x) else pos]
        right += guess == y[i]
    return right / len(held)
