"""Answers of a run with several targets: each target's outputs go through the single-target answers
(kproto.outputs.answers) with that target's decisions and conformal scores, then get the target's name.

Columns: `prediction_<target>`, `p_<target>_<label>` (classification), `prediction_set_<target>` or
`lower_<target>`/`upper_<target>` with a coverage. JSON (serve): one object per row, {target: its answer}.
No Keras import: the ONNX serving path uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kproto.core.errors import KprotoError
from kproto.metrics.calibration import Decisions
from kproto.metrics.conformal import Conformal, check_coverage
from kproto.outputs.answers import PROBABILITY_PREFIX, answer_frame, answer_records, missing_conformal
from kproto.runs import layout
from kproto.runs.schemas import read_run_json

if TYPE_CHECKING:
    from kproto.data.preprocess import Preprocessor
    from kproto.data.types import DataInfo
    from kproto.runs.load import LoadedRun


@dataclass(frozen=True)
class TargetAnswering:
    """Each target's decisions and conformal scores, and the coverage asked for (None: none)."""

    decisions: dict[str, Decisions] = field(default_factory=dict)
    conformal: dict[str, Conformal] = field(default_factory=dict)
    coverage: float | None = None


def target_answering(run: LoadedRun, coverage: float | None = None, flag: str = "--coverage") -> TargetAnswering:
    """A loaded run's per-target decisions (metrics.json `targets`) and conformal scores (conformal.json)."""
    blocks = run.metrics.get("targets") or {}
    decisions = {e["name"]: Decisions.from_metrics(blocks.get(e["name"], {})) for e in run.info.targets}
    conformal: dict[str, Conformal] = {}
    if (Path(run.path) / layout.CONFORMAL).exists():
        stored = read_run_json(Path(run.path), layout.CONFORMAL).get("targets", {})
        conformal = {name: Conformal.from_dict(scores) for name, scores in stored.items()}
    if coverage is not None:
        check_coverage(coverage, flag)
        if not conformal:
            raise missing_conformal(run.path, flag)
    return TargetAnswering(decisions, conformal, coverage)


def _decode(pre: Preprocessor, name: str) -> Any:
    classes = next(t for t in pre.state["targets"] if t["name"] == name).get("classes") or []
    return lambda indices: [classes[int(i)] for i in indices]


def answer_targets(
    outputs: dict[str, np.ndarray], info: DataInfo, pre: Preprocessor, answering: TargetAnswering | None
) -> dict[str, pd.DataFrame]:
    """{target: its single-target answer frame (prediction, p_<label>, prediction_set, lower/upper)}."""
    from kproto.data.targets import target_info

    answering = answering or TargetAnswering()
    frames = {}
    for entry in info.targets:
        name = entry["name"]
        if name not in outputs:
            raise KprotoError(f"the model has no output for the target '{name}'", field="model")
        decisions = answering.decisions.get(name) or Decisions.from_metrics({})
        conformal = answering.conformal.get(name)
        if answering.coverage is not None and conformal is None:
            raise missing_conformal(f"target '{name}' of this run")
        frames[name] = answer_frame(
            outputs[name], None, target_info(info, name), _decode(pre, name), decisions, conformal, answering.coverage
        )
    return frames


def target_columns(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The per-target answers side by side: `prediction_<t>`, `p_<t>_<label>`, `<column>_<t>` for the others."""
    renamed = []
    for name, frame in frames.items():

        def column(c: str, name: str = name) -> str:
            if c.startswith(PROBABILITY_PREFIX):
                return f"{PROBABILITY_PREFIX}{name}_{c[len(PROBABILITY_PREFIX) :]}"
            return f"{c}_{name}"

        renamed.append(frame.rename(columns={c: column(str(c)) for c in frame.columns}))
    return pd.concat(renamed, axis=1) if renamed else pd.DataFrame()


def target_records(frames: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """The JSON shape: one object per row, {target: {"prediction", "probabilities", ...}}."""
    per_target = {name: answer_records(frame) for name, frame in frames.items()}
    rows = len(next(iter(per_target.values()))) if per_target else 0
    return [{name: records[i] for name, records in per_target.items()} for i in range(rows)]


def target_frame(
    outputs: dict[str, np.ndarray],
    info: DataInfo,
    pre: Preprocessor,
    frame: pd.DataFrame,
    answering: TargetAnswering | None,
    keep_columns: bool = True,
) -> pd.DataFrame:
    """`kproto predict`'s table for a run with several targets: the input columns, then each target's answers."""
    result = target_columns(answer_targets(outputs, info, pre, answering))
    if keep_columns and len(result) == len(frame):
        inputs = frame.reset_index(drop=True)
        result = pd.concat([inputs, result.drop(columns=[c for c in result if c in inputs])], axis=1)
    return result


def widths(info: DataInfo) -> list[int]:
    """Each target's output width (its classes, or 1), in the order of `info.targets`."""
    return [int(e["num_classes"]) if e["num_classes"] else 1 for e in info.targets]


def stack_outputs(outputs: Any, info: DataInfo) -> np.ndarray:
    """{target: [n, width]} → one [n, sum of widths] array (what a server's model call returns and splits)."""
    if not isinstance(outputs, dict):
        return np.asarray(outputs)
    rows = len(next(iter(outputs.values())))
    return np.concatenate([np.asarray(outputs[e["name"]]).reshape(rows, -1) for e in info.targets], axis=1)


def split_outputs(stacked: np.ndarray, info: DataInfo) -> dict[str, np.ndarray]:
    """The inverse of `stack_outputs`."""
    cuts = np.cumsum(widths(info))[:-1]
    parts = np.split(np.asarray(stacked), cuts, axis=1)
    return {e["name"]: part for e, part in zip(info.targets, parts)}


def target_metadata(info: DataInfo, answering: TargetAnswering) -> dict[str, Any]:
    """GET /metadata's `outputs` of a run with several targets: each target's task, labels and decisions."""
    described: dict[str, Any] = {}
    for entry in info.targets:
        one: dict[str, Any] = {"task": entry["task"]}
        decisions = answering.decisions.get(entry["name"])
        if entry["task"] == "classification":
            one["labels"] = list(entry["class_names"] or [])
            if decisions is not None:
                one["threshold"] = decisions.threshold
                one["calibration"] = decisions.calibration.to_dict()
        described[entry["name"]] = one
    return {"task": info.task, "targets": described}
