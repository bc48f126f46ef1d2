"""`kproto new`: a commented starter recipe for any family, filled in from a data file's columns."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kproto.core import catalog
from kproto.core.errors import DataError, KprotoError, RecipeError, not_one_of
from kproto.core.text import listed
from kproto.data.text_length import length_from_texts

TARGET_NAMES = ("label", "target", "class", "y")
RECURRENT = ("rnn", "gru", "lstm")  # their starter always forecasts a numeric column when there is no text


def is_sequence_family(family: str) -> bool:
    """A family built for sequences: it reads text and time-series windows, and not folders of images."""
    inputs = catalog.family(family).inputs
    return catalog.TEXT in inputs and catalog.WINDOW in inputs and catalog.IMAGE_FOLDER not in inputs


def learns_inputs_only(family: str) -> bool:
    """A family that learns its inputs (autoencoder, GAN): the target column is not predicted."""
    return catalog.family(family).generative


SAMPLE_ROWS = 5000  # the rows `kproto new` reads to guess the recipe


@dataclass
class DataGuess:
    """What the data file suggests for the recipe's data section."""

    path: Path
    columns: list[str]
    rows: int  # the rows read (at most SAMPLE_ROWS)
    total_rows: int | None = None  # the file's rows, where known
    target: str | None = None
    task: str | None = None
    classes: int = 0
    numeric: list[str] = field(default_factory=list)
    gappy: list[str] = field(default_factory=list)  # numeric columns with an empty cell in the rows read
    categorical: list[str] = field(default_factory=list)
    text: str | None = None
    shape: list[int] | None = None
    sequence_length: int = 200
    window: int | None = None
    season: int | None = None  # the season the time column implies (observations per year, week or day)
    time: str | None = None  # a column of dates (or years) beside a series
    dropped: dict[str, str] = field(default_factory=dict)  # columns the audit leaves out → why
    notes: list[str] = field(default_factory=list)  # the audit's warnings, written as comments

    @property
    def counted(self) -> bool:
        """Whether the file's rows are known: all of them were read, or the file was counted."""
        return self.total_rows is not None or self.rows < SAMPLE_ROWS

    def rows_text(self) -> str:
        """The file's rows for a comment: '53,940', or '5,000+' where they were not counted."""
        return f"{self.total_rows or self.rows:,}" if self.counted else f"{self.rows:,}+"


def image_shape(count: int) -> list[int] | None:
    """A square image shape for a pixel count: 64 → [8, 8, 1], 784 → [28, 28, 1], 3072 → [32, 32, 3]."""
    for channels in (1, 3):
        if count % channels:
            continue
        side = math.isqrt(count // channels)
        if side >= 4 and side * side * channels == count:
            return [side, side, channels]
    return None


def find_default_data(family: str) -> Path | None:
    """The shipped data file for a family, from ./data or the project's data folder."""
    name = catalog.family(family).example_data
    for folder in (Path("data"), Path(__file__).resolve().parent.parent / "data"):
        if (folder / name).is_file():
            return folder / name
    return None


def inspect_data(path: Path, family: str, target: str | None) -> DataGuess:
    """Column roles, the task, an image shape, a text column or a time-series window, from the first rows."""
    from kproto.data.audit import guess_target
    from kproto.data.preprocess import infer_task, is_text_column
    from kproto.data.readers import count_rows, read_table

    frame = read_table(path, limit=SAMPLE_ROWS)
    columns = [str(c) for c in frame.columns]
    total = len(frame) if len(frame) < SAMPLE_ROWS else count_rows(path)
    guess = DataGuess(path=path, columns=columns, rows=len(frame), total_rows=total)
    if target is not None and target not in columns:
        from kproto.core.errors import suggest

        near = suggest(target, columns)
        raise DataError(
            f"the column '{target}' is not in {path.name}",
            field="--target",
            hint=(f"did you mean '{near}'? " if near else "") + f"columns: {', '.join(columns[:15])}",
        )
    named = next((c for c in columns if c.lower() in TARGET_NAMES), None)
    texts = [c for c in columns if c != target and is_text_column(frame[c])]
    if is_sequence_family(family) and texts:
        guess.text = texts[0]
    if learns_inputs_only(family):
        guess.target = target or named  # kept out of the inputs; not predicted
    else:
        guess.target = target or named or guess_target(frame)  # never an identifier, a constant or free text
    _audit(frame, guess, family)
    pixels = 0  # numeric columns, constant ones included: an image's corners are often blank
    for name in columns:
        if name == guess.target or name == guess.text:
            continue
        if frame[name].dtype.kind in "biuf":
            pixels += 1
        if name in guess.dropped:
            continue
        if frame[name].dtype.kind in "biuf":
            guess.numeric.append(name)
            if frame[name].isna().any():
                guess.gappy.append(name)
        else:
            guess.categorical.append(name)
    if guess.target and not learns_inputs_only(family):
        guess.task = infer_task(frame[guess.target], 20)
        if guess.task == catalog.CLASSIFICATION:
            guess.classes = int(frame[guess.target].nunique())
    if not guess.categorical and guess.numeric:
        guess.shape = image_shape(pixels)
    if guess.text:
        guess.sequence_length = length_from_texts(frame[guess.text].dropna())[0]  # what training would choose
    elif is_sequence_family(family) and (family in RECURRENT or guess.shape is None):
        if guess.target is None or frame[guess.target].dtype.kind not in "biuf":
            numeric = [c for c in columns if frame[c].dtype.kind in "biuf"]
            if not numeric:
                raise DataError(
                    f"{path.name} has no numeric column to forecast and no text column",
                    field="--data",
                    hint=f"a {family} model reads text (a free-text column) or a numeric time series",
                )
            guess.target = numeric[-1]
        guess.task = (
            "regression" if frame[guess.target].dtype.kind == "f" or frame[guess.target].nunique() > 20 else guess.task
        )
        guess.window = max(4, min(24, len(frame) // 20))
        guess.time, guess.season = time_column(frame, [c for c in columns if c != guess.target])
        if guess.season and 2 * guess.season <= len(frame) // 5:  # two seasons, as the forecasting defaults were tuned
            guess.window = 2 * guess.season
    return guess


def _audit(frame: Any, guess: DataGuess, family: str) -> None:
    """The data audit of a table, for a family that reads table columns: its decisions and warnings go into
    `guess`."""
    from kproto.data.audit import AuditSettings, audit_frame

    if "table" not in catalog.family(family).inputs or guess.text:
        return
    target = None if learns_inputs_only(family) else guess.target
    data = frame.drop(columns=[guess.target]) if target is None and guess.target else frame
    audit = audit_frame(data, AuditSettings(target=target))
    guess.dropped = audit.dropped()
    guess.notes = [f"[{w.code}] {w.message}" for w in audit.all_warnings()]


def _audit_comments(guess: DataGuess, limit: int = 12) -> list[str]:
    """The audit's notes as comment lines of the data section (the first `limit`)."""
    if not guess.notes:
        return []
    import textwrap

    lines = [f"  # The data audit of the first {guess.rows} rows (kproto inspect {guess.path.name} shows it all):"]
    for note in guess.notes[:limit]:
        lines += textwrap.wrap(note, 116, initial_indent="  #   ", subsequent_indent="  #     ")
    if len(guess.notes) > limit:
        lines.append(f"  #   ... and {len(guess.notes) - limit} more")
    return lines


TIME_NAMES = ("date", "time", "timestamp", "month", "year", "day", "week", "ds", "period", "datetime")


def time_column(frame: Any, candidates: list[str]) -> tuple[str | None, int | None]:
    """The first column that reads as dates (by name, or text that parses as dates) and has no repeated value, with
    the season its spacing implies (12 for months, 4 for quarters, 7 for days, 24 for hours; None for years or an
    irregular spacing); (None, None) when no column does."""
    import pandas as pd

    from kproto.core.errors import KprotoError
    from kproto.data.series import infer_frequency, parse_times
    from kproto.metrics.forecast import season_from_frequency

    for name in candidates:
        column = frame[name]
        named = name.lower() in TIME_NAMES
        if not named and not (column.dtype == object or pd.api.types.is_string_dtype(column.dtype)):
            continue
        try:
            times = parse_times(column, name)
        except (KprotoError, ValueError, TypeError, OverflowError):
            continue
        if not times.duplicated().any():
            return name, season_from_frequency(infer_frequency(times.sort_values()))
    return None, None


def _data_section(guess: DataGuess, family: str, path_text: str) -> list[str]:
    import importlib

    own = getattr(importlib.import_module(catalog.family(family).module), "data_starter", None)
    if own is not None:  # a family whose data has a shape of its own (text pairs, user-item rows) writes it
        return own(guess, path_text)
    lines = [
        "data:",
        f"  path: {path_text}    # csv, tsv, parquet or npz (or an image folder); relative to this recipe",
    ]
    if guess.window:
        lines += [
            f"  target: {guess.target}    # the series to forecast (a numeric column)",
            *(
                [f"  time: {guess.time}    # parsed as dates: rows sorted and checked, calendar features added"]
                if guess.time
                else []
            ),
            f"  window: {{length: {guess.window}, horizon: 1}}    # {guess.window} rows"
            + (f" (two seasons of {guess.season})" if guess.season and guess.window == 2 * guess.season else "")
            + " forecast the next (horizon: the next H at once)",
            "  split: {validation: 0.15, test: 0.15}    # in time order: the last rows are the test split",
        ]
        return lines
    if guess.target and learns_inputs_only(family):
        lines.append(
            f"  target: {guess.target}    # not an input: the model learns the other columns"
            + (" (conditional GANs use it as the class)" if family == "gan" else "")
        )
    elif guess.target:
        what = (
            f"{guess.classes} classes → classification"
            if guess.task == catalog.CLASSIFICATION
            else "numeric → regression"
        )
        lines.append(f"  target: {guess.target}    # {what}")
    if guess.text:
        lines += [
            f"  text: {guess.text}    # free text",
            "  text_standardize: keep_punctuation    # lower case; punctuation, symbols and emoji are tokens too",
            f"  sequence_length: {guess.sequence_length}    # tokens per text (95% of the texts are no longer; the default when unset)",
            "  vocab_size: 20000",
        ]
    else:
        detail = f"{len(guess.numeric)} numeric"
        if guess.categorical:
            detail += (
                f", {len(guess.categorical)} categorical ({', '.join(guess.categorical[:6])}"
                + (", ..." if len(guess.categorical) > 6 else "")
                + ")"
            )
        lines.append(f"  # features: every other column ({detail}); list them in `features:` to choose")
        if guess.dropped:
            left_out = ", ".join(f"{k} ({v})" for k, v in guess.dropped.items())
            lines.append(f"  # left out by the data audit: {left_out}; data.columns: {{NAME: ROLE}} overrides it")
        lines += _audit_comments(guess)
        if guess.shape and family in ("cnn", "gan"):
            lines.append(
                f"  shape: {guess.shape}    # {len(guess.numeric)} pixel columns as "
                f"{guess.shape[0]}×{guess.shape[1]} images, {guess.shape[2]} channel(s)"
            )
        elif guess.shape:
            lines.append(f"  # shape: {guess.shape}    # read the {len(guess.numeric)} numeric columns as images")
        if guess.categorical:
            lines.append("  categorical: onehot    # string features: onehot or index")
        lines.append("  missing: impute    # fill gaps with training medians/modes, or `error`")
        if guess.gappy and not guess.shape:
            gappy = listed(guess.gappy, 4)
            lines.append(f"  # missing_indicators: true    # also a 0/1 input per gappy numeric column ({gappy})")
    lines.append("  split: {validation: 0.15, test: 0.15}    # seeded and stratified for classification")
    return lines


def _model_section(family: str, guess: DataGuess) -> list[str]:
    """The `model:` section: the family module's `starter(guess)` lines (its main fields, commented), if it has one."""
    import importlib

    module = importlib.import_module(catalog.family(family).module)
    starter = getattr(module, "starter", None)  # optional: a family without one starts from `type:` alone
    body = starter(guess) if starter is not None else []
    return ["model:", f"  type: {family}    # kproto list families", *body]


def _train_section(family: str, guess: DataGuess) -> list[str]:
    import importlib

    from kproto.recipe.schema import Train

    # a family that picks its training length from the data (feedforward on a table) leaves epochs and patience open
    chooser = getattr(importlib.import_module(catalog.family(family).module), "starter_length", None)
    default_batch = int(Train.model_fields["batch_size"].default)
    length = chooser(guess, default_batch) if chooser is not None else None
    lines = [
        "train:",
        "  loss: auto    # chosen from the task; or any name from `kproto list losses`",
        "  optimizer: {name: adam, learning_rate: 0.001}    # kproto list optimizers",
    ]
    if length is None:
        lines.append(f"  epochs: {50 if learns_inputs_only(family) else 30}")
        lines.append(f"  batch_size: {64 if guess.rows > 2000 else default_batch}")
    else:
        lines.append(f"  batch_size: {default_batch}")
        lines += length
    if family == "gan":
        lines.append("  # GANs keep the last generator; early stopping does not apply")
        return lines
    if guess.task == catalog.CLASSIFICATION:
        lines.append("  metrics: [accuracy]    # kproto list metrics")
    elif guess.task == catalog.REGRESSION:
        lines.append("  metrics: [mae]    # kproto list metrics")
    if length is None:
        lines.append("  early_stopping: {monitor: val_loss, patience: 5}    # stop when val_loss stops improving")
    return lines


def starter_recipe(family: str, data: Path | None = None, target: str | None = None, out: Path | None = None) -> str:
    """The text of a commented starter recipe for `family`; data paths are written relative to `out`'s folder."""
    if family not in catalog.FAMILIES:
        raise RecipeError(f"unknown model type: {not_one_of(family, list(catalog.FAMILIES))}", field="TYPE")
    if data is None:
        data = find_default_data(family)
        if data is None:
            raise KprotoError(
                "no --data was given and the shipped data folder is not here",
                field="--data",
                hint="pass --data FILE (and --target COLUMN)",
            )
    data = Path(data)
    guess = inspect_data(data, family, target)
    if family == "cnn" and not guess.shape:
        raise DataError(
            f"a cnn needs images, but the {len(guess.numeric)} numeric columns of {data.name} are not a square "
            "pixel count",
            field="--data",
            hint="use a feedforward model, or write data.shape by hand",
        )
    base = Path(out).resolve().parent if out is not None else Path.cwd()
    try:
        path_text = os.path.relpath(data.resolve(), base)
    except ValueError:  # another drive on Windows
        path_text = str(data.resolve())
    if path_text.startswith(os.path.join(os.pardir, os.pardir, os.pardir)):  # far away: an absolute path reads better
        path_text = str(data.resolve())
    name = (Path(out).stem if out is not None else f"{data.stem}-{family}").replace("_", "-")
    lines = [
        f"# A {family} starter recipe for {data.name} ({guess.rows_text()} rows, "
        f"{len(guess.columns)} columns), written by `kproto new`.",
        "# Check it:  kproto validate THIS.yaml     Train it:  kproto train THIS.yaml",
        "# Every field: kproto schema; every name: kproto list.",
        f"name: {name}",
        "seed: 42    # the same seed gives the same split and the same initial weights",
        "",
        *_data_section(guess, family, path_text),
        "",
        *_model_section(family, guess),
        "",
        *_train_section(family, guess),
    ]
    return "\n".join(lines) + "\n"


def write_starter(family: str, data: Path | None, target: str | None, out: Path | None) -> str:
    """Make the recipe; with `out`, write it (never over an existing file) and return its text."""
    if out is not None and Path(out).exists():
        raise KprotoError(
            f"{out} already exists; kproto new never overwrites a file",
            field="--out",
            hint="choose another --out path or delete the file first",
        )
    text = starter_recipe(family, data, target, out)
    if out is not None:
        from kproto.runs.store import atomic_write_text

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(out), text)
    return text
