"""Adversarial training (Goodfellow et al. 2015; Madry et al. 2018): each batch mixes clean and attacked rows.

For every batch, `train.adversarial.ratio` of its rows are replaced by FGSM or PGD examples crafted against the
current weights, then the model takes one ordinary training step on the mixed batch (`train_on_batch`, so every
backend's own compiled step, optimizer, metrics and regularizers are used unchanged). Engines that run many steps
inside one compiled program (fused, distributed) or read blocks from disk (streaming) cannot craft examples between
steps; `check_supported` says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog
from kproto.core.errors import KprotoError
from kproto.training.engines.base import Engine

if TYPE_CHECKING:
    import keras

    from kproto.data.types import DataInfo
    from kproto.recipe.schema import Recipe


def check_supported(recipe: Recipe, kind: str, task: str, engine: str, streamed: bool) -> None:
    """Raise a KprotoError naming the reason where adversarial training cannot run."""
    field = "train.adversarial"
    if task not in catalog.SUPERVISED_TASKS:
        raise KprotoError(
            f"adversarial training needs a classification or regression model; this recipe is a {task} task",
            field=field,
        )
    if kind == catalog.MIXED:
        raise KprotoError(
            "adversarial attacks are not supported for a model of several inputs: its token ids and category codes "
            "are discrete, so there is no small step in its input space to take",
            field=field,
        )
    if kind == catalog.TEXT:
        raise KprotoError(
            "adversarial training is not supported for text: tokens are discrete, so there is no small step in the "
            "input space to take",
            field=field,
            hint="remove train.adversarial, or use it on images, numeric columns or time-series windows",
        )
    if streamed:
        raise KprotoError(
            "adversarial training cannot stream data from disk (attacked batches are crafted from rows in memory)",
            field=field,
            hint="set data.streaming: false (or data.limit) to train in memory",
        )
    if recipe.train.distribute != "none":
        raise KprotoError(
            f"adversarial training runs on one device; train.distribute is {recipe.train.distribute!r}",
            field=field,
            hint="set train.distribute: none",
        )
    if engine == "fused":
        raise KprotoError(
            "the fused engine compiles a whole epoch into one XLA loop, so it cannot craft attacked batches between "
            "steps",
            field="train.engine",
            hint="use train.engine: fit (or auto, which picks fit for adversarial training)",
        )


class AdversarialEngine(Engine):
    """One training step per batch on a mix of clean and attacked rows; evaluation is plain."""

    name = "adversarial"

    def __init__(
        self,
        model: keras.Model,
        batch_size: int,
        attacker: Any,
        ratio: float,
        seed: int = 0,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(should_stop)
        self.model = model
        self.batch_size = batch_size
        self.attacker = attacker
        self.ratio = ratio
        self.interrupted = False
        self.nonfinite = False
        self.rng = np.random.default_rng(seed)

    def mixed_batch(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The batch with `ratio` of its rows (chosen at random) replaced by adversarial versions."""
        count = int(round(self.ratio * len(x)))
        if count == 0:
            return x
        chosen = self.rng.choice(len(x), size=count, replace=False)
        mixed = np.array(x, dtype=np.float32, copy=True)
        mixed[chosen] = self.attacker(x[chosen], y[chosen])
        return mixed

    def train_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        order: np.ndarray,
        sample_weight: np.ndarray | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, float]:
        steps = math.ceil(len(order) / self.batch_size)
        totals: dict[str, float] = {}
        seen = 0
        last = 0.0
        self.interrupted = False
        for step in range(steps):
            rows = order[step * self.batch_size : (step + 1) * self.batch_size]
            xb, yb = x[rows], y[rows]
            weights = None if sample_weight is None else sample_weight[rows]
            logs = self.model.train_on_batch(self.mixed_batch(xb, yb), yb, sample_weight=weights, return_dict=True)
            for key, value in logs.items():
                totals[key] = totals.get(key, 0.0) + float(value) * len(rows)
            seen += len(rows)
            loss = float(logs.get("loss", 0.0))
            if not math.isfinite(loss):
                self.nonfinite = True
                break
            if self.should_stop():
                self.interrupted = True
                break
            now = time.monotonic()
            if on_progress is not None and now - last >= 0.1:
                last = now
                on_progress(step + 1, steps)
        if on_progress is not None:
            on_progress(steps, steps)
        return {key: value / max(seen, 1) for key, value in totals.items()}

    def evaluate(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> dict[str, float]:
        if len(x) == 0:
            return {}
        logs = self.model.evaluate(
            x, y, sample_weight=sample_weight, batch_size=max(self.batch_size, 256), verbose=0, return_dict=True
        )
        return {k: float(v) for k, v in logs.items()}


def make_attacker(model: keras.Model, setting: Any, info: DataInfo, preprocess: dict[str, Any], seed: int) -> Any:
    """The Attacker for `train.adversarial` (method, epsilon, steps) in the model's input space."""
    from kproto.robust.attacks import Attacker, check_attack, input_space

    steps = setting.steps if setting.method == "pgd" else 1
    check_attack(setting.method, setting.epsilon, steps, info.kind, info.task, field_name="train.adversarial")
    clip, mask, _ = input_space(info.kind, preprocess)
    return Attacker(model, info.task, setting.method, setting.epsilon, steps=steps, clip=clip, mask=mask, seed=seed)
