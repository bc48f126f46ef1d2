"""Model outputs turned into the answers `kproto predict`, `kproto evaluate` and `kproto serve` give.

One place decides what a prediction is: calibrated class probabilities, the run's binary threshold, conformal
prediction sets or intervals, reconstruction errors. No Keras import: the ONNX serving path uses it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kproto.core import catalog
from kproto.core.errors import KprotoError
from kproto.metrics.calibration import Decisions
from kproto.metrics.conformal import Conformal, check_coverage, set_labels
from kproto.runs import layout
from kproto.runs.schemas import read_run_json

if TYPE_CHECKING:
    from kproto.data.types import DataInfo
    from kproto.runs.load import LoadedRun

PROBABILITY_PREFIX = "p_"


def read_conformal(folder: Path) -> Conformal | None:
    """A run's conformal scores (layout.CONFORMAL), or None for runs trained without them."""
    path = Path(folder) / layout.CONFORMAL
    return Conformal.from_dict(read_run_json(Path(folder), layout.CONFORMAL)) if path.exists() else None


@dataclass(frozen=True)
class Answering:
    """How a run's outputs become answers: its decisions (calibration, binary threshold, logits), its conformal
    scores, and the coverage of the prediction sets or intervals asked for (None: none)."""

    decisions: Decisions
    conformal: Conformal | None = None
    coverage: float | None = None


def run_decisions(run: LoadedRun, coverage: float | None = None, flag: str = "--coverage") -> tuple[Decisions, Any]:
    """A loaded run's decisions and, when `coverage` is asked for, its conformal scores (checked to exist)."""
    decisions = Decisions.from_metrics(run.metrics)
    if coverage is None:
        return decisions, read_conformal(run.path)
    check_coverage(coverage, flag)
    if run.info.task not in catalog.SUPERVISED_TASKS:
        raise KprotoError(
            f"{flag} gives prediction sets (classification) or intervals (regression); {run.path} is a "
            f"{run.info.task} run",
            field=flag,
        )
    conformal = read_conformal(run.path)
    if conformal is None:
        raise missing_conformal(run.path, flag)
    return decisions, conformal


def missing_conformal(run_path: Any, flag: str = "--coverage") -> KprotoError:
    """The error for --coverage on a run trained without conformal scores."""
    return KprotoError(
        f"{run_path} has no conformal scores, so it cannot give prediction sets or intervals",
        field=flag,
        hint="retrain the run with this version of kproto (scores are fitted on the validation split after training)",
    )


def answer_frame(
    outputs: np.ndarray,
    x: np.ndarray | None,
    info: DataInfo,
    decode: Any,
    decisions: Decisions,
    conformal: Conformal | None = None,
    coverage: float | None = None,
) -> pd.DataFrame:
    """One row per model output: `prediction` and `p_<label>` columns (classification; plus `prediction_set`
    with a coverage), `prediction` (regression; plus `lower`, `upper`), `score` (implicit-feedback recommenders),
    `reconstruction_error` (autoencoders); recommender rows also say `known_user` and `known_item`.

    `decode` maps class indices to the original labels (the preprocessor's `decode`).
    """
    outputs = np.asarray(outputs)
    rows = len(outputs)
    result: dict[str, Any] = {}
    if coverage is not None and conformal is None and info.task in catalog.SUPERVISED_TASKS:
        raise missing_conformal("this run")
    if info.task == catalog.CLASSIFICATION:
        probabilities = decisions.probabilities(outputs)
        result["prediction"] = decode(decisions.classes(probabilities))
        names = info.class_names or list(range(probabilities.shape[1]))
        for i, name in enumerate(names):
            result[f"{PROBABILITY_PREFIX}{name}"] = probabilities[:, i]
        if coverage is not None:
            result["prediction_set"] = set_labels(conformal.sets(probabilities, coverage), names)
    elif info.task == catalog.REGRESSION:
        predicted = outputs.reshape(rows, -1)[:, 0]
        result["prediction"] = predicted
        if coverage is not None:
            lower, upper = conformal.intervals(predicted, coverage)
            result["lower"], result["upper"] = lower, upper
    elif info.task == catalog.RANKING:  # implicit feedback: an interaction score per user–item row
        result["score"] = outputs.reshape(rows, -1)[:, 0]
    elif info.task == catalog.SEQ2SEQ:  # the generated texts (the model call decodes)
        result["prediction"] = [str(text) for text in outputs]
    elif info.task == catalog.RECONSTRUCTION and x is not None:
        flat_in, flat_out = np.asarray(x).reshape(rows, -1), outputs.reshape(rows, -1)
        result["reconstruction_error"] = np.mean((flat_out - flat_in) ** 2, axis=1)
    if getattr(info, "kind", None) == catalog.INTERACTIONS and x is not None:  # cold-start rows are told apart
        packed = np.asarray(x)
        result["known_user"], result["known_item"] = packed[:, 0] > 0, packed[:, 1] > 0
    return pd.DataFrame(result, index=range(rows))


def _plain(value: Any) -> Any:
    """A JSON-safe scalar: NumPy values unwrapped, NaN and ±inf as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def answer_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The JSON shape of `answer_frame`: {"prediction", "probabilities": {label: p}, "prediction_set": [...], ...}."""
    probability_columns = [c for c in frame.columns if str(c).startswith(PROBABILITY_PREFIX)]
    other = [c for c in frame.columns if c not in probability_columns]
    columns = {c: frame[c].tolist() for c in frame.columns}  # plain Python values, one conversion per column
    labels = [str(c)[len(PROBABILITY_PREFIX) :] for c in probability_columns]
    records = []
    for i in range(len(frame)):
        record: dict[str, Any] = {}
        for column in other:
            value = columns[column][i]
            if column == "prediction_set":
                record[column] = [label for label in str(value).split("|") if label]
            else:
                record[str(column)] = _plain(value)
        if probability_columns:
            record["probabilities"] = {
                label: _plain(float(columns[c][i])) for label, c in zip(labels, probability_columns)
            }
        records.append(record)
    return records
