"""Preprocessing that travels with the model: fitted on the training rows only, saved as JSON.

A `Preprocessor` turns raw rows of the original columns into model inputs (and targets), and
model outputs back into the original labels. Its state is plain JSON (`preprocess.json` in a run).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kproto.core import catalog
from kproto.core.errors import DataError
from kproto.data import tokenizer
from kproto.data.audit_rules import CATEGORY_CAP, TEXT_MIN_MEAN_LENGTH
from kproto.data.text_length import length_from_texts

OTHER = "(other)"  # the category of a capped column's rare and unseen values
DATE_FEATURES = (
    "year",
    "month_sin",
    "month_cos",
    "weekday_sin",
    "weekday_cos",
    "yearday_sin",
    "yearday_cos",
    "elapsed",
)

if TYPE_CHECKING:
    from kproto.recipe.schema import Data


def infer_task(target: pd.Series, max_classes: int) -> str:
    """classification for strings, booleans and integers with few values; regression otherwise."""
    values = target.dropna()
    if values.dtype == bool or values.dtype == object or isinstance(values.dtype, pd.CategoricalDtype):
        return "classification"
    if pd.api.types.is_string_dtype(values.dtype):
        return "classification"
    if pd.api.types.is_numeric_dtype(values.dtype):
        integral = pd.api.types.is_integer_dtype(values.dtype) or bool(np.all(np.mod(values.to_numpy(float), 1) == 0))
        if integral and values.nunique() <= max_classes:
            return "classification"
        return "regression"
    return "classification"


def is_text_column(column: pd.Series) -> bool:
    """A string column of long free text (detected so that `data.text` can be left out)."""
    if not (column.dtype == object or pd.api.types.is_string_dtype(column.dtype)):
        return False
    values = column.dropna().astype(str)
    if values.empty:
        return False
    return values.str.len().mean() >= TEXT_MIN_MEAN_LENGTH and values.nunique() > 0.5 * len(values)


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column.dtype) or column.dtype == bool


def _check_numeric_column(name: str, column: pd.Series) -> pd.Series | None:
    """Mostly-numbers text columns are typos in data: point at the first bad cell. Returns parsed numbers or None."""
    present = column.dropna()
    if present.empty:
        return None
    parsed = pd.to_numeric(present, errors="coerce")
    share = parsed.notna().mean()
    if share >= 0.9 and share < 1.0:
        bad = parsed[parsed.isna()].index[0]
        raise DataError(
            f"column '{name}' holds numbers, but row {bad} has the text {str(column.loc[bad])!r}",
            field="data.path",
            hint="fix or remove that cell (leave it empty to have it imputed)",
        )
    return pd.to_numeric(column, errors="coerce") if share == 1.0 else None


def _finite_or_error(name: str, values: np.ndarray, index: pd.Index) -> None:
    bad = np.isinf(values)
    if bad.any():
        row = index[int(np.flatnonzero(bad)[0])]
        raise DataError(
            f"column '{name}' has an infinite value at row {row}",
            field="data.path",
            hint="replace inf with a finite number or leave the cell empty to have it imputed",
        )


HUGE = 1e100  # numeric columns beyond this magnitude are standardized on scaled-down values


SMOOTH_CLIP = 3.0  # robust scaling: z / sqrt(1 + (z / SMOOTH_CLIP)^2) keeps values within ±SMOOTH_CLIP
NORMAL_IQR = 1.3490  # the interquartile range of a standard normal: IQR / NORMAL_IQR is in standard-deviation units
QUANTILE_STEPS = 256  # quantile scaling: the training quantiles at levels 0, 1/256, …, 1
NORMAL_TAIL = 1e-3  # quantile scaling: levels are held within [NORMAL_TAIL, 1 - NORMAL_TAIL] (normal scores ±3.09)


@dataclass(frozen=True)
class NumericRule:
    """How a table's numeric columns are read: `scaling` (kproto.core.catalog.SCALINGS); with `log_skewed`, a column
    whose training values are all positive and skewed beyond catalog.LOG_SKEW is scaled as log(1 + x); with
    `indicators`, a column with a gap in its training rows also gets a 0/1 missing-value input."""

    scaling: str = "standard"
    log_skewed: bool = False
    indicators: bool = False


def skewed_positive(values: pd.Series) -> float | None:
    """The skewness of a column whose known values are all positive and skewed beyond catalog.LOG_SKEW (a scale
    such as an income, an area or an age in days), else None."""
    known = values.dropna()
    if len(known) < 3 or not float(known.min()) > 0:
        return None
    skew = float(known.skew())
    return skew if math.isfinite(skew) and skew > catalog.LOG_SKEW else None


def fit_numeric(name: str, values: pd.Series, scaling: str = "standard", log_skewed: bool = False) -> dict[str, Any]:
    """The numeric column rule, fitted on training rows: gaps filled with the median, then standardized by the
    filled column's mean and population standard deviation (1 for a constant column); `scaling: robust` centres on
    the median, divides by the interquartile range in normal units (the standard deviation where that is 0) and
    records the smooth clip `standardize` applies; `scaling: quantile` records the column's distinct training
    quantiles and the normal score of each (a value repeated over several levels gets the middle one's). With
    `log_skewed`, a `skewed_positive` column is logged first (`"log": true`; every statistic but `fill` is of
    log(1 + x))."""
    skew = skewed_positive(values) if log_skewed else None
    if skew is not None:
        logged = fit_numeric(name, np.log1p(values), scaling)
        fill = float(values.median())
        return {**logged, "fill": fill, "log": True, "skew": round(skew, 2)}
    largest = float(values.abs().max()) if values.notna().any() else 0.0
    scale = largest if largest > HUGE else 1.0  # near the float64 limit sums and squares overflow: work scaled down
    fill = float((values / scale).median()) * scale if values.notna().any() else 0.0
    filled = values.fillna(fill)
    mean, std = float((filled / scale).mean()) * scale, float((filled / scale).std(ddof=0)) * scale
    if scaling == "quantile":
        levels = np.linspace(0.0, 1.0, QUANTILE_STEPS + 1)
        grid = np.asarray((filled / scale).quantile(levels), np.float64) * scale
        values_at, position = np.unique(grid, return_inverse=True)
        if len(values_at) > 1:  # a constant column is standardized (to 0)
            middle = np.bincount(position, weights=levels) / np.bincount(position)
            normal = NormalDist()
            scores = [normal.inv_cdf(min(max(float(p), NORMAL_TAIL), 1.0 - NORMAL_TAIL)) for p in middle]
            return {
                "name": name,
                "type": "numeric",
                "fill": fill,
                "mean": mean,
                "std": std or 1.0,
                "quantile_values": [float(v) for v in values_at],
                "normal_scores": scores,
            }
    if scaling != "robust":
        return {"name": name, "type": "numeric", "fill": fill, "mean": mean, "std": std or 1.0}
    low, high = (float(q) * scale for q in (filled / scale).quantile([0.25, 0.75]))
    spread = (high - low) / NORMAL_IQR
    centre = float((filled / scale).median()) * scale
    return {
        "name": name,
        "type": "numeric",
        "fill": fill,
        "mean": centre,
        "std": spread or std or 1.0,
        "clip": SMOOTH_CLIP,
    }


def standardize(values: np.ndarray, column: dict[str, Any]) -> np.ndarray:
    """[N, 1] standardized values of a gap-free numeric column fitted by `fit_numeric` (smoothly clipped where the
    column records a clip, or onto normal scores where it records quantiles; logged first where it records `log`:
    a value below 0, outside what training saw, counts as 0)."""
    if column.get("log"):
        values = np.log1p(np.maximum(values, 0.0))
    if "normal_scores" in column:
        return np.interp(values, column["quantile_values"], column["normal_scores"])[:, None]
    z = (values - column["mean"]) / column["std"]
    if "clip" in column:
        z = z / np.sqrt(1.0 + np.square(z / column["clip"]))
    return z[:, None]


def unstandardize(scaled: np.ndarray, column: dict[str, Any]) -> np.ndarray:
    """The original values of standardized ones (the inverse of `standardize`; clipped values beyond the clip's
    reach come back as the largest value it can give; quantile-scaled ones within the training range)."""
    z = np.asarray(scaled, np.float64)
    if "normal_scores" in column:
        values = np.interp(z, column["normal_scores"], column["quantile_values"])
    else:
        if "clip" in column:
            limit = column["clip"]
            ratio = np.clip(z / limit, -0.999999, 0.999999)
            z = ratio * limit / np.sqrt(1.0 - np.square(ratio))
        values = z * column["std"] + column["mean"]
    return np.expm1(values) if column.get("log") else values


class Preprocessor:
    """Fitted preprocessing state; `fit` on training rows, then `features`/`targets` on any rows."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return self.state

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Preprocessor:
        """The fitted preprocessing read back from a run folder (older runs' `tabular` read as `table`)."""
        return cls({**state, "kind": catalog.input_kind(state["kind"])})

    @property
    def kind(self) -> catalog.InputKind:
        return self.state["kind"]

    @property
    def task(self) -> str:
        return self.state["task"]

    @property
    def classes(self) -> list[Any] | None:
        return self.state.get("target", {}).get("classes")

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        train_rows: np.ndarray,
        spec: Data,
        task: str,
        kind: str,
        features: list[str],
        adopted: dict[str, Any] | None = None,
        roles: dict[str, str] | None = None,
        numeric: NumericRule | None = None,
    ) -> Preprocessor:
        """Learn every statistic from `frame.iloc[train_rows]` only; `adopted` feature preprocessing (a pretrained
        backbone's) is taken as it is, and only the target is fitted. `roles` (the audit's: numeric, categorical,
        datetime) decide how each column is read; without them the column's values do, and nothing is capped. `numeric`
        is how numeric table columns are read (standard scaling without it)."""
        train = frame.iloc[train_rows]
        state: dict[str, Any] = {"kind": kind, "task": task, "features": features, "imputed": {}}
        target = spec.target
        if target and task in (catalog.CLASSIFICATION, catalog.REGRESSION, catalog.GENERATION) and target in frame:
            state["target"] = cls._fit_target(
                train[target], task if task != catalog.GENERATION else "classification", target
            )
        if adopted is not None:
            state.update(adopted)
        elif kind == catalog.MIXED:  # one record per named input (kproto.data.inputs)
            from kproto.data.inputs import fit_inputs

            folder = str(frame.attrs.get("folder", ""))
            state.update(fit_inputs(sys.modules[__name__], train, features, spec, roles or {}, folder))
        elif kind == catalog.TEXT:
            state["text"] = cls._fit_text(train, spec)
        elif kind in catalog.IMAGE_KINDS:
            pixels = cls._numeric_block(train, features) if kind == catalog.IMAGE else None
            state["image"] = {"shape": list(spec.shape or []), "min": 0.0, "max": 255.0}
            if pixels is not None:
                state["image"].update(min=float(np.nanmin(pixels)), max=float(np.nanmax(pixels)))
        else:
            state["columns"] = cls._fit_columns(train, features, spec, roles, numeric)
            if kind == catalog.WINDOW:
                state["window"] = spec.window.model_dump()
        return cls(state)

    @staticmethod
    def _numeric_block(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
        block = frame[features]
        non_numeric = [c for c in features if not _is_numeric(block[c])]
        for name in non_numeric:
            parsed = _check_numeric_column(name, block[name])
            if parsed is None:
                raise DataError(f"pixel column '{name}' is not numeric", field="data.features")
        if not non_numeric:  # already numbers: one conversion instead of one per column
            return block.to_numpy(np.float32)
        return block.apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)

    @staticmethod
    def _fit_target(column: pd.Series, task: str, name: str) -> dict[str, Any]:
        values = column.dropna()
        if task == catalog.CLASSIFICATION:
            classes = sorted(values.unique().tolist(), key=lambda v: (str(type(v)), v))
            if len(classes) < 2:
                raise DataError(
                    f"the target '{name}' has only one class ({classes[0]!r}) in the training rows",
                    field="data.target",
                    hint="a classifier needs at least two classes; check the target column",
                )
            return {"name": name, "classes": [_plain(c) for c in classes]}
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            bad = numbers[numbers.isna()].index[0]
            raise DataError(
                f"regression target '{name}' has the text {str(values.loc[bad])!r} at row {bad}", field="data.target"
            )
        std = float(numbers.std()) or 1.0
        return {"name": name, "mean": float(numbers.mean()), "std": std if math.isfinite(std) else 1.0}

    @staticmethod
    def _fit_columns(
        train: pd.DataFrame,
        features: list[str],
        spec: Data,
        roles: dict[str, str] | None = None,
        numeric: NumericRule | None = None,
    ) -> list[dict[str, Any]]:
        rule = numeric or NumericRule()
        columns = []
        for name in features:
            column = train[name]
            role = (roles or {}).get(name)
            if role == "datetime":
                columns.append(_fit_datetime(name, column))
            elif role == "numeric" or (
                role != "categorical" and (_is_numeric(column) or _check_numeric_column(name, column) is not None)
            ):
                values = pd.to_numeric(column, errors="coerce").astype(float)
                _finite_or_error(name, values.to_numpy(), values.index)
                columns.append(fit_numeric(name, values, rule.scaling, rule.log_skewed))
                if rule.indicators and values.isna().any():
                    columns[-1]["indicator"] = True
            else:
                columns.append(_fit_categorical(name, column, capped=roles is not None))
        return columns

    @staticmethod
    def _fit_text(train: pd.DataFrame, spec: Data) -> dict[str, Any]:
        texts = train[spec.text].fillna("").astype(str)
        if texts.str.strip().eq("").all():
            raise DataError(f"the text column '{spec.text}' is empty in every training row", field="data.text")
        rule = spec.text_standardize
        if spec.sequence_length is None:
            length, source = length_from_texts(texts, rule)
        else:
            length, source = spec.sequence_length, "set by data.sequence_length"
        if rule == tokenizer.STRIP_PUNCTUATION:  # Keras's own rule, as every run before data.text_standardize
            import keras

            vectorizer = keras.layers.TextVectorization(
                max_tokens=spec.vocab_size, output_mode="int", output_sequence_length=length
            )
            vectorizer.adapt(texts.to_numpy())
            vocabulary = vectorizer.get_vocabulary()
        else:
            vocabulary = tokenizer.fit_vocabulary(texts.tolist(), rule, spec.vocab_size)
        return {
            "column": spec.text,
            "standardize": rule,
            "vocabulary": vocabulary,
            "sequence_length": length,
            "sequence_length_source": source,
        }

    # ------------------------------------------------------------------ transforming
    def check_columns(self, frame: pd.DataFrame, need_target: bool, field: str = "data.path") -> None:
        """Every column the model reads, and with `need_target` the target, is present in `frame`; `field` names
        where the rows came from in the error (data.path, or --data for a new file)."""
        needed = [self.state["text"]["column"]] if self.kind == catalog.TEXT else list(self.state["features"])
        if self.kind == catalog.IMAGE_FOLDER:
            needed = []
        target = self.state["target"]["name"] if need_target and "target" in self.state else None
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            shown = f"{', '.join(needed[:12])}{' …' if len(needed) > 12 else ''}"
            raise DataError(
                f"the data has no column(s) {', '.join(map(repr, missing))}, which the model reads",
                field=field,
                hint=f"the model was trained on the columns {shown}" + (f" (target: {target})" if target else ""),
            )
        if target is not None and target not in frame.columns:
            raise DataError(
                f"the data has no column {target!r}, the target its predictions are scored against",
                field=field,
                hint="add the target column, or use kproto predict for rows without it",
            )

    def features(self, frame: pd.DataFrame, missing: str = "impute") -> np.ndarray:
        """Model inputs for raw rows (imputed, encoded, scaled)."""
        if self.kind == catalog.TEXT:
            return self._text(frame)
        if self.kind == catalog.MIXED:
            from kproto.data.inputs import mixed_features

            return mixed_features(sys.modules[__name__], self.state, frame, missing)
        if self.kind == catalog.IMAGE:
            image = self.state["image"]
            pixels = self._numeric_block(frame, self.state["features"])
            if np.isnan(pixels).any():
                if missing == "error":
                    raise DataError("the pixel columns have missing values", field="data.path")
                pixels = np.nan_to_num(pixels, nan=image["min"])
            scale = (image["max"] - image["min"]) or 1.0
            return ((pixels - image["min"]) / scale).reshape((-1, *image["shape"])).astype(np.float32)
        return self._tabular(frame, missing)

    def _text(self, frame: pd.DataFrame) -> np.ndarray:
        text = self.state["text"]
        values = frame[text["column"]].fillna("").astype(str).to_numpy()
        if "hub" in text:  # a KerasHub backbone's own tokenizer and packing
            from kproto.data.hub_text import encode_texts

            return encode_texts(text, values)
        rule = tokenizer.check_rule(text.get("standardize", tokenizer.BEFORE), field="preprocess.json")
        if rule != tokenizer.STRIP_PUNCTUATION:
            return tokenizer.token_ids(values.tolist(), text["vocabulary"], int(text["sequence_length"]), rule)
        import keras

        vectorizer = keras.layers.TextVectorization(
            vocabulary=text["vocabulary"][2:], output_mode="int", output_sequence_length=text["sequence_length"]
        )
        return np.asarray(keras.ops.convert_to_numpy(vectorizer(values)), dtype=np.int32)

    def _tabular(self, frame: pd.DataFrame, missing: str) -> np.ndarray:
        blocks = []
        imputed = self.state.setdefault("imputed", {})
        onehot = self.state.get("categorical", "onehot") == "onehot"
        for column in self.state["columns"]:
            name = column["name"]
            raw = frame[name]
            if column["type"] == "datetime":
                blocks.append(_date_block(column, raw, missing, imputed))
            elif column["type"] == "numeric":
                values = pd.to_numeric(raw, errors="coerce").astype(float)
                bad_text = values.isna() & raw.notna()
                if bad_text.any():
                    row = values.index[int(np.flatnonzero(bad_text.to_numpy())[0])]
                    raise DataError(
                        f"column '{name}' holds numbers, but row {row} has the text {str(raw.loc[row])!r}",
                        field="data.path",
                        hint="fix or remove that cell (leave it empty to have it imputed)",
                    )
                array = values.to_numpy()
                _finite_or_error(name, array, values.index)
                gaps = np.isnan(array)
                if gaps.any():
                    if missing == "error":
                        row = values.index[int(np.flatnonzero(gaps)[0])]
                        raise DataError(
                            f"column '{name}' has a missing value at row {row}",
                            field="data.missing",
                            hint="set data.missing: impute to fill gaps with the training median",
                        )
                    imputed[name] = f"median {column['fill']:g}" + (
                        " and a missing-value input" if column.get("indicator") else ""
                    )
                    array = np.where(gaps, column["fill"], array)
                blocks.append(standardize(array, column))
                if column.get("indicator"):  # 1 where the value was missing
                    blocks.append(gaps.astype(np.float32)[:, None])
            else:
                values = raw.astype("string")
                if values.isna().any():
                    if missing == "error":
                        raise DataError(f"column '{name}' has missing values", field="data.missing")
                    imputed[name] = f"most frequent {column['fill']!r}"
                    values = values.fillna(column["fill"])
                if "other" in column:  # capped: rare and unseen values share one category
                    values = values.where(values.isin(column["values"]), column["other"])
                categories = pd.Categorical(values, categories=column["values"])
                codes = np.asarray(categories.codes)
                if onehot:
                    block = np.zeros((len(values), len(column["values"])), dtype=np.float32)
                    known = codes >= 0
                    block[np.flatnonzero(known), codes[known]] = 1.0
                    blocks.append(block)
                else:
                    blocks.append((codes + 1).astype(np.float32)[:, None])
        return np.concatenate(blocks, axis=1).astype(np.float32) if blocks else np.zeros((len(frame), 0), np.float32)

    def targets(self, frame: pd.DataFrame) -> np.ndarray:
        """Targets of raw rows: class indices, or float values for regression."""
        target = self.state["target"]
        column = frame[target["name"]]
        if "classes" in target:
            lookup = {str(c): i for i, c in enumerate(target["classes"])}
            codes = column.map(lambda v: lookup.get(str(_plain(v)), -1)).to_numpy()
            unknown = codes < 0
            if unknown.any():
                row = column.index[int(np.flatnonzero(unknown)[0])]
                raise DataError(
                    f"the target '{target['name']}' has the label {column.loc[row]!r} at row {row}, not seen in training",
                    field="data.target",
                    hint=f"known labels: {', '.join(map(str, target['classes'][:20]))}",
                )
            return codes.astype(np.int32)
        return pd.to_numeric(column, errors="coerce").to_numpy(np.float32)

    def decode(self, predictions: np.ndarray) -> list[Any]:
        """Class indices → the original labels."""
        classes = self.classes or []
        return [classes[int(i)] for i in predictions]


def _fit_categorical(name: str, column: pd.Series, capped: bool) -> dict[str, Any]:
    """The categories of a string column, most frequent first; `capped`: a column with more than CATEGORY_CAP values
    keeps the most frequent ones seen at least twice, and the rest (and unseen values) become OTHER."""
    values = column.astype("string")
    counts = values.value_counts()
    fill = str(counts.index[0]) if len(counts) else ""
    if capped and len(counts) > CATEGORY_CAP:
        kept = [str(v) for v in counts[counts >= 2].index[:CATEGORY_CAP]]
        fill = fill if fill in kept else OTHER
        return {"name": name, "type": "categorical", "fill": fill, "values": [*kept, OTHER], "other": OTHER}
    return {"name": name, "type": "categorical", "fill": fill, "values": [str(v) for v in counts.index[:1000]]}


def parse_dates(raw: pd.Series, name: str, fmt: str = "mixed") -> pd.Series:
    """Dates in UTC without a time zone (NaT for empty cells); a DataError names the first cell that is no date."""
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        stamps = pd.to_datetime(raw, utc=True)
    else:
        text = raw.astype("string")
        stamps = pd.to_datetime(text, errors="coerce", utc=True, format=fmt)
        bad = stamps.isna() & text.notna() & text.str.strip().ne("")
        if bad.any():
            row = raw.index[int(np.flatnonzero(bad.to_numpy())[0])]
            raise DataError(
                f"column '{name}' holds dates, but row {row} has {str(raw.loc[row])!r}",
                field="data.columns",
                hint=f"fix that cell (leave it empty to have it imputed), or write data.columns: {{{name}: categorical}}",
            )
    return stamps.dt.tz_convert(None)


def _seconds(stamps: pd.Series) -> np.ndarray:
    values = stamps.to_numpy("datetime64[ns]").astype("int64").astype(np.float64) / 1e9
    return np.where(stamps.isna().to_numpy(), np.nan, values)


def _fit_datetime(name: str, column: pd.Series) -> dict[str, Any]:
    """A date column's statistics: the median date (to impute), and the mean and spread of years and seconds."""
    present = column.dropna().astype(str)
    fmt = "ISO8601" if len(present) and present.str.match(r"^\s*\d{4}-\d{1,2}-\d{1,2}").all() else "mixed"
    stamps = parse_dates(column, name, fmt)
    seconds = _seconds(stamps)
    known = seconds[~np.isnan(seconds)]
    if known.size == 0:
        raise DataError(f"the date column '{name}' is empty in every training row", field="data.columns")
    years = stamps.dropna().dt.year.to_numpy(np.float64)
    return {
        "name": name,
        "type": "datetime",
        "format": fmt,
        "fill": float(np.median(known)),
        "mean": float(known.mean()),
        "std": float(known.std()) or 1.0,
        "year_mean": float(years.mean()),
        "year_std": float(years.std()) or 1.0,
        "features": list(DATE_FEATURES),
    }


def _date_block(column: dict[str, Any], raw: pd.Series, missing: str, imputed: dict[str, str]) -> np.ndarray:
    """The date features of a column: standardized year, month, weekday and day of year as (sin, cos) cycles,
    standardized elapsed time."""
    name = column["name"]
    seconds = _seconds(parse_dates(raw, name, column.get("format", "mixed")))
    gaps = np.isnan(seconds)
    if gaps.any():
        if missing == "error":
            row = raw.index[int(np.flatnonzero(gaps)[0])]
            raise DataError(f"column '{name}' has a missing date at row {row}", field="data.missing")
        imputed[name] = "median date"
        seconds = np.where(gaps, column["fill"], seconds)
    stamps = pd.DatetimeIndex(pd.to_datetime(seconds, unit="s"))
    parts = [((stamps.year.to_numpy(np.float64) - column["year_mean"]) / column["year_std"])]
    for value, period in ((stamps.month - 1, 12.0), (stamps.dayofweek, 7.0), (stamps.dayofyear - 1, 365.25)):
        angle = 2 * np.pi * np.asarray(value, np.float64) / period
        parts += [np.sin(angle), np.cos(angle)]
    parts.append((seconds - column["mean"]) / column["std"])
    return np.stack(parts, axis=1).astype(np.float32)


def input_problems(state: dict[str, Any], frame: pd.DataFrame) -> list[list[dict[str, str]]]:
    """Per row, what the preprocessing fitted in training had to guess for new rows: each imputed cell
    (code `imputed`) and each category training did not keep (code `unseen_category`), as {code, column, message}.
    Only table runs (and the table columns of several inputs) have such columns; others get empty lists."""
    problems: list[list[dict[str, str]]] = [[] for _ in range(len(frame))]
    kind = catalog.input_kind(state.get("kind", ""))
    columns = state.get("columns", [])
    if kind == catalog.MIXED:  # several inputs: the table columns among them
        inputs = state.get("inputs", {})
        columns = [*inputs.get("tabular", {}).get("columns", []), *inputs.get("categorical", {}).get("columns", [])]
    elif kind != catalog.TABLE:
        return problems
    for column in columns:
        name = column["name"]
        if name not in frame:
            continue
        raw = frame[name]
        empty = raw.isna().to_numpy()
        for row in np.flatnonzero(empty):
            message = f"'{name}' is empty: imputed with the {_fill_text(column)}"
            problems[row].append({"code": "imputed", "column": name, "message": message})
        if column["type"] == "categorical":
            known = set(column["values"]) - {column.get("other")}
            unseen = ~raw.astype("string").isin(known).fillna(False).to_numpy(dtype=bool) & ~empty
            if "other" in column:
                why = f"not among the {len(known)} categories kept in training: encoded as {column['other']!r}"
            else:
                why = "unseen in training: encoded as no known category (all zeros)"
            for row in np.flatnonzero(unseen):
                message = f"'{name}' has the category {str(raw.iloc[row])[:40]!r}, {why}"
                problems[row].append({"code": "unseen_category", "column": name, "message": message})
    return problems


def problems_summary(problems: list[list[dict[str, str]]]) -> str | None:
    """One line counting the guesses over all rows (None when there were none)."""
    counts: dict[str, dict[str, int]] = {"unseen_category": {}, "imputed": {}}
    for row in problems:
        for problem in row:
            per_column = counts[problem["code"]]
            per_column[problem["column"]] = per_column.get(problem["column"], 0) + 1
    if not any(counts.values()):
        return None
    rows = sum(1 for row in problems if row)
    parts = []
    for code, what in (("unseen_category", "unseen categories"), ("imputed", "imputed cells")):
        if counts[code]:
            detail = ", ".join(f"{k}: {v}" for k, v in sorted(counts[code].items(), key=lambda kv: -kv[1])[:8])
            parts.append(f"{sum(counts[code].values())} {what} ({detail})")
    return f"warning: {rows} of {len(problems)} rows needed a guess: " + "; ".join(parts)


def _fill_text(column: dict[str, Any]) -> str:
    if column["type"] == "numeric":
        told = ", the model told it was missing" if column.get("indicator") else ""
        return f"training median {column['fill']:g}{told}"
    if column["type"] == "datetime":
        return "training median date"
    return f"most frequent training value {column['fill']!r}"


def _plain(value: Any) -> Any:
    """NumPy scalars → plain Python values (JSON-safe)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class FeatureGroup:
    """The model inputs [start, stop) that one original tabular column became."""

    name: str
    start: int
    stop: int


def feature_groups(state: dict[str, Any]) -> list[FeatureGroup]:
    """Each original tabular column and the model inputs it fills, in the order `Preprocessor.features` writes them
    (a one-hot column fills one input per known value; numeric and index-coded columns fill one, a numeric column with
    a missing-value indicator two: its value, then the indicator)."""
    onehot = state.get("categorical", "onehot") == "onehot"
    groups, start = [], 0
    for column in state.get("columns", []):
        width = len(column["values"]) if column["type"] == "categorical" and onehot else 1
        if column.get("indicator"):
            width = 2
        if column["type"] == "datetime":
            width = len(DATE_FEATURES)
        groups.append(FeatureGroup(column["name"], start, start + width))
        start += width
    return groups


def positive_last(pre: Preprocessor, recipe: Any) -> Preprocessor:
    """`train.positive_class` becomes the second of two classes (the one thresholds and positive-class metrics
    are about); without it the sorted order stays."""
    positive = getattr(recipe.train, "positive_class", None)
    classes = pre.state.get("target", {}).get("classes")
    if positive is None or classes is None:
        return pre
    names = [str(c) for c in classes]
    if str(positive) not in names:
        raise DataError(
            f"train.positive_class is {positive!r}, which is not a class of the target '{recipe.data.target}'",
            field="train.positive_class",
            hint=f"classes: {', '.join(names[:20])}",
        )
    if len(classes) != 2:
        raise DataError(
            f"train.positive_class names the positive class of a two-class target; '{recipe.data.target}' has "
            f"{len(classes)} classes",
            field="train.positive_class",
            hint="leave train.positive_class out for multi-class targets (their metrics average over classes)",
        )
    index = names.index(str(positive))
    pre.state["target"]["classes"] = [classes[1 - index], classes[index]]
    return pre
