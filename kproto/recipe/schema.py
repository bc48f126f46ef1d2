"""The recipe schema: typed pydantic models that forbid unknown keys.

Importing this module never imports Keras or TensorFlow.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, field_validator, model_validator

from kproto.core import catalog
from kproto.core.fields import Fraction, PositiveInt, Strict

# ----------------------------------------------------------------------------- data
COLUMN_ROLES = ("drop", "identifier", "numeric", "categorical", "text", "image", "datetime")  # data.columns values
Steps = Annotated[int, Field(gt=0, strict=True)]  # a whole number of time steps held out (windowed series)


class Split(Strict):
    validation: Fraction | Steps = Field(
        0.15,
        description="Share of rows held out for validation; with data.window also a whole number of time steps "
        "(per series), e.g. 24.",
    )
    test: Fraction | Steps = Field(
        0.15,
        description="Share of rows held out for the final test; with data.window also a whole number of time steps "
        "(per series), e.g. 12 to hold out the last year of a monthly series.",
    )
    by: Literal["random", "user", "time"] = Field(
        "random",
        description="Recommenders: random rows, each user's latest share (user), or a cut in time (time: every "
        "training row older than every test row).",
    )
    column: str | None = Field(None, description="The time column of a split by time or by user (e.g. timestamp).")

    @model_validator(mode="after")
    def _leaves_training_rows(self) -> Split:
        if isinstance(self.validation, int) or isinstance(self.test, int):
            return self  # time steps: checked against each series' length when the data is read
        if self.validation + self.test >= 0.95:
            raise ValueError(
                f"validation + test = {self.validation + self.test:g} leaves no training data; "
                "expected a sum below 0.95 (e.g. validation: 0.15, test: 0.15)"
            )
        return self


class Window(Strict):
    length: PositiveInt = Field(description="Time steps in each input window.")
    horizon: PositiveInt = Field(
        1, description="Forecast this many steps after the window's last step, all at once (direct multi-step)."
    )
    stride: PositiveInt = Field(1, description="Steps between the starts of consecutive windows.")
    normalize: Literal["window", "global", "none"] = Field(
        "window",
        description="window: each window's target relative to its own last value (the model predicts changes, so a "
        "trending series can leave the training range); global: standardized with the training rows' mean and "
        "spread; none: raw values.",
    )
    season: PositiveInt | None = Field(
        None,
        description="Observations per season for the seasonal-naive baseline and MASE (12 for monthly data); "
        "default: from the frequency of data.time, else from the autocorrelation of the training rows.",
    )
    linear: bool = Field(
        True,
        description="normalize: window only: a linear autoregressive path (one Dense layer over the window's "
        "target) beside the network; the network learns what the linear forecast misses.",
    )


class Augment(Strict):
    flip: Literal["horizontal", "vertical", "horizontal_and_vertical"] | None = None
    rotation: Annotated[float, Field(ge=0, le=1)] | None = None
    zoom: Annotated[float, Field(ge=0, lt=1)] | None = None
    translation: Annotated[float, Field(ge=0, lt=1)] | None = None
    contrast: Annotated[float, Field(ge=0, le=1)] | None = None
    noise: Annotated[float, Field(ge=0)] | None = None
    mask: Annotated[float, Field(ge=0, lt=1)] | None = None


class Data(Strict):
    path: str = Field(description="csv, tsv, parquet or npz file, or a folder of images with a subfolder per class.")
    target: str | list[str] | None = Field(
        None,
        description="The column to predict (not used by autoencoders), or a list of columns: one model with one "
        "output head per target.",
    )
    features: list[str] | None = Field(None, description="Input columns; default: every column but the target.")
    task: Literal["classification", "regression"] | None = Field(None, description="Inferred from the target.")
    split: Split = Field(default_factory=Split)
    shape: list[PositiveInt] | None = Field(None, description="Reshape pixel columns into an image, e.g. [8, 8, 1].")
    text: str | None = Field(None, description="A free-text column, cut into tokens by data.text_standardize.")
    text_standardize: Literal[catalog.TEXT_STANDARDIZE] = Field(
        "keep_punctuation",
        description="How free text becomes tokens: keep_punctuation (lower case; words, and each punctuation mark, "
        "symbol or emoji as a token of its own; a web address as its host), strip_punctuation (Keras "
        "TextVectorization's rule: ASCII lower case, punctuation removed; runs trained before this option), lower "
        "(lower case, split on whitespace) or none (split on whitespace).",
    )
    vocab_size: PositiveInt = Field(20000, description="Largest vocabulary kept by the tokenizer.")
    sequence_length: PositiveInt | None = Field(
        None,
        description="Tokens per text after padding/truncation; default: a pretrained text preset's own limit, else "
        "the 95th percentile of the training texts' token counts (a multiple of 8, 16 to 256).",
    )
    window: Window | None = Field(None, description="Turn a time series into supervised windows.")
    time: str | None = Field(
        None,
        description="Windows: the time column (dates, or whole years); rows are sorted by it, duplicates refused, "
        "gaps filled (data.missing: impute) or refused, and calendar features added.",
    )
    series: str | None = Field(
        None,
        description="Windows: the column naming each series of a long file; windows never cross series, one model "
        "learns them all.",
    )
    missing: Literal["impute", "error"] = Field("impute", description="Impute missing values or refuse them.")
    log_skewed: bool | Literal["auto"] = Field(
        "auto",
        description="Tables: a numeric column whose training values are all positive and right-skewed (skewness "
        "above 2: an income, an area, an age in days) is scaled as log(1 + x) before data.scaling, so equal ratios "
        "are equal steps. auto: on for feedforward. The run header names the columns.",
    )
    missing_indicators: bool = Field(
        False,
        description="Tables: beside each numeric column with a gap in the training rows, a 0/1 input saying the "
        "value was missing (it is still imputed), so the model can learn what an empty cell means, as gradient "
        "boosting does natively. Off by default: on tables with such columns it raised the validation scores of "
        "some and lowered others' (BENCHMARKS.md).",
    )
    categorical: Literal["onehot", "index"] = Field("onehot", description="How string feature columns are encoded.")
    scaling: Literal[("auto", *catalog.SCALINGS)] = Field(
        "auto",
        description="How numeric table columns are scaled: standard (mean and standard deviation), robust (median "
        "and interquartile range, then smoothly clipped to ±3), quantile (training quantiles mapped onto a "
        "standard normal's), auto (the family's choice: robust for feedforward).",
    )
    max_classes: PositiveInt = Field(
        20, description="An integer target with at most this many distinct values is a classification target."
    )
    streaming: bool | Literal["auto"] = Field("auto", description="Stream files too large for memory.")
    augment: Augment | None = Field(None, description="Random augmentation of the training split.")
    limit: PositiveInt | None = Field(None, description="Use only the first N rows (quick experiments).")
    classes: list[str | int] | None = Field(
        None, description="Keep only the rows whose target is one of these labels, e.g. [5, 6, 7, 8, 9]."
    )
    rows_per_class: PositiveInt | None = Field(
        None, description="Keep at most N training rows per class (seeded); validation and test keep all theirs."
    )
    balance: Literal[catalog.BALANCE] = Field(
        "none",
        description="Rebalance the training split's classes (seeded): oversample repeats rows of the smaller "
        "classes up to the largest; undersample keeps as many rows of each class as the smallest has.",
    )
    user: str | None = Field(None, description="Recommenders: the column of user ids.")
    item: str | None = Field(None, description="Recommenders: the column of item ids.")
    target_tokens: Literal["words", "characters"] | None = Field(
        None, description="seq2seq: the output text's tokens, words (split on spaces) or characters; default words."
    )
    source_tokens: Literal["auto", "words", "characters"] = Field(
        "auto", description="seq2seq: the input text's tokens; auto: characters when inputs are single words."
    )
    encoding: str | None = Field(
        None,
        description="The text encoding of a csv/tsv file (e.g. latin-1, cp1252); default UTF-8, and a file that is "
        "not UTF-8 is refused, never decoded lossily.",
    )
    columns: dict[str, Literal[COLUMN_ROLES]] | None = Field(
        None,
        description="Override the role the audit gives a column: {name: drop | identifier | numeric | categorical "
        "| text | image | datetime}. identifier and drop leave it out; datetime makes date features; image: paths of "
        "image files (relative to the data file), read by models that take several inputs.",
    )
    audit: bool = Field(
        True,
        description="Profile the data before training (kproto inspect): drop identifiers and constants, date "
        "features, capped categories, and warnings. off: use every column as its type says, and say nothing.",
    )

    @field_validator("target")
    @classmethod
    def _one_or_several_targets(cls, value: str | list[str] | None) -> str | list[str] | None:
        if not isinstance(value, list):
            return value
        if not value:
            raise ValueError("an empty list names no target; expected a column name or a list of them")
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"data.target lists '{repeated[0]}' twice; expected distinct columns")
        return value[0] if len(value) == 1 else value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is None:
            return value
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"unknown text encoding {value!r}; expected a Python codec name such as utf-8, latin-1 or cp1252"
            ) from None
        return value


# ----------------------------------------------------------------------------- model
def _model_union() -> Any:
    """The `model:` section: one pydantic class per catalog family, told apart by `type`."""
    specs = tuple(catalog.family_spec(entry) for entry in catalog.FAMILIES.values())
    return Annotated[Union[tuple(dict.fromkeys(specs))], Field(discriminator="type")]


ModelSpec = _model_union()


# ----------------------------------------------------------------------------- train
NamedConfig = Union[str, dict[str, Any]]


def per_target(value: Any) -> Any:
    """`value`, or a mapping from target names to it (a per-target setting: kproto.recipe.targets)."""
    return Union[value, dict[str, value]]


class EarlyStopping(Strict):
    patience: PositiveInt = Field(
        5,
        description="Epochs without improvement before stopping; left open, feedforward on a table: an eighth of "
        "the epochs (at least 5).",
    )
    monitor: str = Field("val_loss", description="A logged value, e.g. val_loss or val_accuracy.")
    min_delta: Annotated[float, Field(ge=0)] = 0.0
    restore_best: bool = Field(True, description="Keep the best epoch's weights.")


class Schedule(Strict):
    model_config = ConfigDict(extra="allow")
    name: str = Field(
        description="constant, step, exponential, cosine, cosine_restarts, polynomial, one_cycle, plateau"
    )
    warmup_epochs: Annotated[float, Field(ge=0)] = Field(0, description="Linear warmup from zero.")


class Adversarial(Strict):
    method: Literal["fgsm", "pgd"] = Field("pgd", description="fgsm (one signed step) or pgd (projected steps).")
    epsilon: Annotated[float, Field(gt=0)] = Field(
        description="L-infinity radius in the model's input space: scaled pixels in [0, 1], standardized units."
    )
    ratio: Annotated[float, Field(ge=0, le=1)] = Field(
        0.5, description="Share of each training batch replaced by adversarial examples (1: all of it)."
    )
    steps: PositiveInt = Field(7, description="PGD steps per adversarial batch (fgsm takes one).")


class Train(Strict):
    loss: NamedConfig = Field("auto", description="A Keras loss name, {name: ..., args}, or {python: file.py:fn}.")
    optimizer: NamedConfig = Field("adam", description="An optimizer name or {name: adam, learning_rate: 0.001, ...}.")
    epochs: PositiveInt = Field(
        30,
        description="Left open, feedforward on a table with early stopping: enough for about 6,000 steps (30 to 200).",
    )
    batch_size: PositiveInt = 32
    metrics: per_target(list[str]) | None = Field(
        None,
        description="Default: accuracy (classification) or mae (regression); several targets: {target: [...]}.",
    )
    loss_weights: dict[str, Annotated[float, Field(ge=0)]] | None = Field(
        None, description="Several targets: each target's weight in the total loss, e.g. {default: 1.0, student: 0.5}."
    )
    early_stopping: EarlyStopping | None = Field(default_factory=EarlyStopping)
    schedule: Schedule | None = None
    class_weight: Literal["balanced"] | dict[str, float | Literal["balanced"] | dict[str, float] | None] | None = Field(
        None, description="balanced or {label: weight}; several targets: {target: balanced | {label: weight}}."
    )
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0
    precision: Literal[catalog.PRECISIONS] = "auto"
    jit_compile: bool | Literal["auto"] = "auto"
    engine: Literal[tuple(catalog.ENGINES)] = "auto"
    backend: Literal[catalog.BACKENDS] = "auto"
    steps_per_execution: PositiveInt | Literal["auto"] = "auto"
    distribute: Literal[tuple(catalog.DISTRIBUTE)] = "none"
    lr_scaling: Literal["none", "linear", "sqrt"] = Field(
        "none", description="Scale the learning rate with the number of replicas."
    )
    adversarial: Adversarial | None = Field(
        None, description="Adversarial training: {method: fgsm|pgd, epsilon, ratio: 0.5, steps: 7}."
    )
    calibrate: per_target(Literal[catalog.CALIBRATIONS]) = Field(
        "auto",
        description="Classifiers: temperature scaling fitted on the validation split (auto keeps it only when it "
        "lowers the validation calibration error), or none.",
    )
    threshold: per_target(Literal["auto"] | Annotated[float, Field(ge=0, le=1)]) = Field(
        0.5,
        description="Binary classifiers: predict the second class when its probability reaches this; auto picks "
        "the validation threshold that maximises threshold_metric.",
    )
    threshold_metric: per_target(Literal[catalog.THRESHOLD_METRICS]) = Field(
        "f1", description="What threshold: auto maximises on the validation split."
    )
    positive_class: per_target(str | int) | None = Field(
        None,
        description="Binary classifiers: the label of the positive class (auc, pr_auc, precision, recall, f1 and "
        "the threshold are about it); default: the second class in sorted order.",
    )
    baselines: Literal["auto", "none"] | list[Literal[tuple(catalog.BASELINES)]] = Field(
        "auto",
        description="Baselines fitted on the training split and scored on the same rows as the model: auto (all "
        "that apply, each within a small time budget), none, or a list of names.",
    )

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _false_means_off(cls, value: Any) -> Any:
        return None if value is False else value


# A run name is one folder name under --out: letters, digits, '.', '_' and '-', starting with a letter or digit.
SAFE_NAME = re.compile(r"[^\W_][\w.-]{0,99}")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a run name (a single, safe path component), or None."""
    if SAFE_NAME.fullmatch(name) and ".." not in name:
        return None
    return (
        "a run name is one folder name: 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit "
        "(no '/', '..', spaces or control characters)"
    )


def safe_name(name: str) -> str:
    """`name` made into a run name (for recipes saved before names were checked): unsafe characters become '-'."""
    cleaned = re.sub(r"[^\w.-]+", "-", name).replace("..", "-").strip(".-_")[:100]
    return cleaned if cleaned and not name_problem(cleaned) else "run"


class Recipe(Strict):
    name: str | None = Field(
        None,
        description="Run name (one folder name under --out: letters, digits, '.', '_', '-'); default: the recipe "
        "file's stem.",
    )
    seed: Annotated[int, Field(ge=0)] = 42
    extends: str | None = Field(None, description="A parent recipe, deep-merged beneath this one.")
    data: Data
    model: ModelSpec
    train: Train = Field(default_factory=Train)

    @field_validator("name")
    @classmethod
    def _one_path_component(cls, value: str | None) -> str | None:
        problem = None if value is None else name_problem(value)
        if problem:
            raise ValueError(problem)
        return value


# `model.type` → its pydantic class.
MODEL_CLASSES = {name: catalog.family_spec(entry) for name, entry in catalog.FAMILIES.items()}
