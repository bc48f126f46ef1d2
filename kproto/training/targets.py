"""Training several targets (`data.target: [a, b]`): per-target losses, weights and metrics compiled on the model's
named outputs, and per-target decisions and scores at the end.

Each target's settings come from its single-target recipe (kproto.recipe.targets.for_target), resolved through the
same functions as a single-target run (keras.*.get and the catalog); Keras names the logged values after the target
(`default_loss`, `val_student_accuracy`), and `loss` / `val_loss` is the weighted total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from kproto.core import catalog
from kproto.core.errors import RecipeError
from kproto.data.targets import names_of, target_dataset, target_info
from kproto.recipe.targets import checked_metrics, for_target, setting, target_names
from kproto.runs import layout
from kproto.training.compile import (
    CompiledSetup,
    class_weights,
    default_metrics,
    encode_labels,
    from_logits,
    label_mode_for,
    resolve_loss,
    resolve_metrics,
    resolve_optimizer,
)

if TYPE_CHECKING:
    from kproto.data.types import DataInfo, Dataset
    from kproto.recipe.schema import Recipe
    from kproto.runs.store import RunDir


@dataclass
class TargetsSetup(CompiledSetup):
    """A compiled model with several targets: the total's facts, and each target's own setup."""

    targets: dict[str, CompiledSetup] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)


def _target_parts(recipe: Recipe, info: DataInfo, name: str, allow_code: bool, base: Path | None) -> tuple:
    """(loss object, metric objects, the target's CompiledSetup) for one target."""
    one, one_info = for_target(recipe, name), target_info(info, name)
    train = one.train
    metric_names = list(train.metrics) if train.metrics is not None else default_metrics(one_info.task)
    checked_metrics(metric_names, one_info.task, f"train.metrics.{name}")
    if from_logits(train):
        raise RecipeError(
            f"from_logits is not available per target (target '{name}')",
            field=f"train.loss.{name}.from_logits",
            hint="leave from_logits out: each classification head outputs probabilities",
        )
    needs_onehot = any(m in catalog.ONE_HOT_METRICS for m in metric_names)
    loss, loss_name = resolve_loss(train.loss, one_info, train.label_smoothing, allow_code, base, onehot=needs_onehot)
    custom_labels = train.loss.get("labels", "onehot") if isinstance(train.loss, dict) else "onehot"
    mode = label_mode_for(one_info, loss_name, metric_names, custom_labels)
    metrics = resolve_metrics(metric_names, one_info, mode, False)
    return loss, metrics, CompiledSetup(loss_name, mode, 0.0, metric_names)


def compile_targets(
    model: keras.Model,
    recipe: Recipe,
    info: DataInfo,
    steps_per_epoch: int,
    *,
    allow_code: bool = False,
    base: Path | None = None,
    jit_compile: Any = "auto",
    steps_per_execution: int = 1,
) -> TargetsSetup:
    """Compile a model with one named output per target: a loss, a weight and metrics for each."""
    losses, metrics, setups, weights = {}, {}, {}, {}
    names = target_names(recipe.data)
    for name in names:
        losses[name], metrics[name], setups[name] = _target_parts(recipe, info, name, allow_code, base)
        weights[name] = float(setting(recipe.train, "loss_weights", name, names))
    optimizer, learning_rate = resolve_optimizer(
        recipe.train.optimizer, recipe.train.schedule, steps_per_epoch, recipe.train.epochs
    )
    model.compile(
        optimizer=optimizer,
        loss=losses,
        loss_weights=weights,
        metrics=metrics,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    described = ", ".join(f"{n}: {setups[n].loss_name} ×{weights[n]:g}" for n in names)
    metric_names = [f"{n}_{m}" for n in names for m in setups[n].metric_names]
    return TargetsSetup(described, "several", learning_rate, metric_names, targets=setups, weights=weights)


def encode_targets(y: dict[str, np.ndarray] | None, setup: TargetsSetup, info: DataInfo) -> dict | None:
    """Each target's values as its loss reads them."""
    if y is None:
        return None
    counts = {entry["name"]: entry["num_classes"] for entry in info.targets}
    return {n: encode_labels(y[n], setup.targets[n].label_mode, counts[n]) for n in setup.targets}


def target_weights(recipe: Recipe, y: dict[str, np.ndarray], info: DataInfo) -> dict[str, np.ndarray] | None:
    """Per-row sample weights per target from `train.class_weight` (None when no target has any)."""
    names = target_names(recipe.data)
    weights: dict[str, np.ndarray] = {}
    for entry in info.targets:
        name = entry["name"]
        chosen = setting(recipe.train, "class_weight", name, names)
        rows = None
        if chosen is not None and entry["task"] == catalog.CLASSIFICATION:
            rows = class_weights(chosen, y[name], entry["class_names"] or [])
        weights[name] = rows if rows is not None else np.ones(len(y[name]), np.float32)
    chosen_any = any(setting(recipe.train, "class_weight", n, names) is not None for n in names)
    return weights if chosen_any else None


def target_model(model: keras.Model, name: str) -> keras.Model:
    """A single-output view of one target's head (the weights are shared, not copied)."""
    outputs = model.output
    if isinstance(outputs, dict):
        return keras.Model(model.input, outputs[name])
    from kproto.models.heads import head_name

    return keras.Model(model.input, model.get_layer(head_name(name)).output)


def task_fact(info: DataInfo) -> str:
    """The header's task line: each target, its task and its classes."""
    return ", ".join(
        f"{e['name']} ({e['task']}" + (f", {e['num_classes']} classes)" if e["num_classes"] else ")")
        for e in info.targets
    )


def _total_losses(model: keras.Model, dataset: Dataset, setup: TargetsSetup, batch_size: int) -> dict[str, float]:
    totals = {}
    for split in catalog.SPLITS:
        x, y = dataset.split(split)
        if len(x):
            logs = model.evaluate(
                x, encode_targets(y, setup, dataset.info), batch_size=max(batch_size, 256), verbose=0, return_dict=True
            )
            totals[split] = float(logs["loss"])
    return totals


def target_results(
    model: keras.Model,
    dataset: Dataset,
    recipe: Recipe,
    setup: TargetsSetup,
    run: RunDir,
    monitor: str,
    *,
    allow_code: bool = False,
    base: Path | None = None,
    train_seconds: float = 0.0,
    say: Any = None,
    jobs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """metrics.json's fields of a run with several targets: per split the total loss and one block per target,
    each target's decisions, report and baselines under `targets`, and the monitored value; conformal.json holds
    each target's scores."""
    from kproto.metrics.calibration import Decisions
    from kproto.training.baselines import baseline_block
    from kproto.training.compile import compile_model
    from kproto.training.decisions import fit_decisions, positive_class
    from kproto.training.scoring import evaluate_splits

    batch = recipe.train.batch_size
    totals = _total_losses(model, dataset, setup, batch)
    results: dict[str, Any] = {split: {"loss": totals[split]} if split in totals else {} for split in catalog.SPLITS}
    blocks: dict[str, Any] = {}
    conformal: dict[str, Any] = {}
    for name in names_of(dataset.info):
        one, view, sub = for_target(recipe, name), target_dataset(dataset, name), target_model(model, name)
        own = setup.targets[name]
        compile_model(sub, one, view.info, 1, allow_code=allow_code, base=base, jit_compile=False)
        decisions = fit_decisions(sub, view, one.train, own.outputs, batch)
        if decisions.conformal is not None:
            conformal[name] = decisions.conformal.to_dict()
        decided = Decisions.from_metrics({**decisions.metrics, "outputs": own.outputs})
        scored = evaluate_splits(sub, view, own.label_mode, batch, decided, own.metric_names)
        for split in catalog.SPLITS:
            if scored.get(split):
                results[split][name] = scored[split]
        block: dict[str, Any] = {
            "task": view.info.task,
            "loss": own.loss_name,
            "loss_weight": setup.weights[name],
            "metrics": own.metric_names,
            **decisions.metrics,
            "label_mode": own.label_mode,
            "outputs": own.outputs,
            **positive_class(view.info),
        }
        if "report" in scored:
            block["report"] = scored["report"]
        if (jobs or {}).get(name) is not None:
            block.update(jobs[name].block(scored, train_seconds, say))
        elif recipe.train.baselines != "none":
            block.update(baseline_block(one, view, scored, own.metric_names, train_seconds, say))
        blocks[name] = block
    if conformal:
        run.write_json(layout.CONFORMAL, {"targets": conformal})
    return {**results, "targets": blocks, "monitor": monitor, "label_mode": "several", "outputs": "several"}


def baseline_jobs(recipe: Recipe, dataset: Dataset, setup: TargetsSetup, start: bool = True) -> dict[str, Any]:
    """Each target's scikit-learn baselines, fitted in the background while the model trains (from `start()` on
    where `start` is False)."""
    from kproto.training.baselines import BaselineJob

    return {
        name: BaselineJob(
            for_target(recipe, name), target_dataset(dataset, name), setup.targets[name].metric_names, start=start
        )
        for name in names_of(dataset.info)
    }
