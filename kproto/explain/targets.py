"""`kproto explain` on a run with several targets: each target explained on the same rows as a single-target run
of it would be, its files in `explain/<target>/`, its ranking rows marked with the target."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from kproto.core import catalog
from kproto.core.errors import KprotoError
from kproto.explain.explainer import (
    DEFAULT_ROWS,
    Explanation,
    Progress,
    _Context,
    check_method,
    explain_context,
    explain_run,
)


def explain_any(path: Path, data: Path | None = None, rows: int = DEFAULT_ROWS, **options: Any) -> Explanation:
    """kproto.explain.explainer.explain_run, or `explain_targets` for a run with several targets."""
    from kproto.runs.load import load_run

    run = load_run(path)
    if not run.info.targets:
        return explain_run(path, data, rows=rows, **options)
    return explain_targets(run, data, rows, **options)


def test_rows(run: Any) -> Any:
    """The raw rows of the run's test split: the rows with every target, split as training split them."""
    from kproto.data.readers import read_table
    from kproto.data.splits import split_indices

    recipe = run.recipe
    frame = read_table(recipe.data.path, limit=recipe.data.limit, encoding=recipe.data.encoding)
    names = [e["name"] for e in run.info.targets]
    for name in names:
        column = frame[name]
        empty = column.isna() | column.astype("string").str.strip().eq("").fillna(False).astype(bool)
        frame = frame[~empty]
    stratify = next((e["name"] for e in run.info.targets if e["task"] == catalog.CLASSIFICATION), None)
    labels = frame[stratify].astype(str).to_numpy() if stratify else None
    split = recipe.data.split
    _, _, test = split_indices(len(frame), split.validation, split.test, recipe.seed, labels)
    return frame.iloc[test]


def explain_targets(
    run: Any,
    data: Path | None = None,
    rows: int = DEFAULT_ROWS,
    method: str = "auto",
    steps: int | None = None,
    out: Path | None = None,
    trust: bool = False,
    progress: Progress | None = None,
) -> Explanation:
    """Each target's explanation (its ranking rows carry `target`), written to `<out or explain>/<target>/`."""
    from rich.text import Text

    from kproto.data import Preprocessor, transform_rows
    from kproto.data.readers import read_table
    from kproto.data.targets import target_info, target_preprocessor
    from kproto.explain.attributions import DEFAULT_STEPS
    from kproto.recipe.targets import for_target
    from kproto.runs import layout
    from kproto.runs.load import load_keras_model
    from kproto.training.targets import target_model

    chosen = check_method(method, run.info.kind, catalog.CLASSIFICATION)
    if steps is not None and steps < 1:
        raise KprotoError(f"--steps must be at least 1, received {steps}", field="--steps")
    pre = Preprocessor.from_dict(run.preprocess)
    frame = read_table(data, encoding=run.recipe.data.encoding) if data is not None else test_rows(run)
    names = [e["name"] for e in run.info.targets]
    present = [n for n in names if n in frame.columns]
    x, _ = transform_rows(pre, frame, need_target=False)
    if len(x) == 0:
        raise KprotoError("there are no rows to explain", field="--data")
    model = load_keras_model(run.model_path, trust=trust, compile=False)
    base = Path(out) if out is not None else run.path / layout.EXPLAIN
    source = str(data) if data is not None else "test split"
    combined = Explanation(method=chosen, kind=run.info.kind, task=catalog.MULTI_TARGET, source=source, ranking=[])
    for name in names:
        one_pre = target_preprocessor(pre, name)
        one_run = replace(
            run,
            recipe=for_target(run.recipe, name),
            info=target_info(run.info, name),
            metrics=(run.metrics.get("targets") or {}).get(name, {}),
            preprocess=one_pre.state,
        )
        y = one_pre.targets(frame) if name in present else None
        needs_frame = run.info.kind in (catalog.TABLE, catalog.MIXED)
        context = _Context(
            one_run,
            target_model(model, name),
            x,
            None if y is None else np.asarray(y),
            frame if needs_frame else None,
            source,
            rows,
            steps or DEFAULT_STEPS,
            base / name,
            progress,
        )
        one = explain_context(context, chosen)
        combined.metric = combined.metric or one.metric
        combined.ranking += [{"target": name, **entry} for entry in one.ranking]
        combined.rows += [{"target": name, **entry} for entry in one.rows]
        combined.files += one.files
        combined.renderables += [Text(f"Target {name}", style="bold"), *one.renderables]
    return combined
