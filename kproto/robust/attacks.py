"""Adversarial examples in the model's input space: FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018).

Epsilon is an L-infinity radius in the units the model sees: scaled pixels in [0, 1] for images, standardized units
for numeric columns (one-hot columns are left alone), standardized values for time-series windows. Text is refused:
tokens are discrete, so there is no small step to take.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog
from kproto.core.errors import KprotoError

if TYPE_CHECKING:
    import keras

    from kproto.data.types import DataInfo

METHODS = ("fgsm", "pgd")
DEFAULT_PGD_STEPS = 10
ROBUSTNESS_EPSILONS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)
ATTACKABLE_TASKS = ("classification", "regression")


def check_attack(method: str, epsilon: float, steps: int, kind: str, task: str, field_name: str = "--attack") -> None:
    """Refuse what cannot be attacked (text, autoencoders, GANs) and out-of-range settings, with the reason."""
    if method not in METHODS:
        raise KprotoError(f"unknown attack {method!r}", field=field_name, hint=f"expected one of: {', '.join(METHODS)}")
    if kind == catalog.MIXED:
        raise KprotoError(
            "adversarial attacks are not supported for a model of several inputs: its token ids and category codes "
            "are discrete, so there is no small step in its input space to take",
            field=field_name,
        )
    if kind == catalog.TEXT:
        raise KprotoError(
            "adversarial attacks are not supported for text: tokens are discrete, so there is no small step in the "
            "input space to take",
            field=field_name,
            hint="attacks work on images, numeric columns and time-series windows",
        )
    if task not in ATTACKABLE_TASKS:
        raise KprotoError(
            f"adversarial attacks need a classification or regression run; this is a {task} run", field=field_name
        )
    if not (epsilon >= 0 and np.isfinite(epsilon)):
        raise KprotoError(
            f"epsilon must be a finite number >= 0, received {epsilon}",
            field="--epsilon" if field_name == "--attack" else "train.adversarial.epsilon",
            hint="e.g. 0.1 for pixels scaled to [0, 1]",
        )
    if steps < 1:
        raise KprotoError(
            f"steps must be at least 1, received {steps}",
            field="--steps" if field_name == "--attack" else "train.adversarial.steps",
        )


def outputs_are_probabilities(model: keras.Model) -> bool:
    """True when the model ends in a softmax (kproto's default head); False for a linear (from_logits) head."""
    last = model.layers[-1] if getattr(model, "layers", None) else None
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def attack_loss(task: str, probabilities: bool) -> Callable[[Any, Any], Any]:
    """The summed loss an attack increases: cross-entropy of the true class, or squared error (regression).

    The cross-entropy is taken without Keras's clipping of probabilities, which would zero the gradient of every
    confidently right row and hide it from the attack.
    """
    from keras import ops

    if task == catalog.CLASSIFICATION:

        def cross_entropy(outputs: Any, labels: Any) -> Any:
            outputs = ops.cast(outputs, "float32")
            logs = ops.log(ops.maximum(outputs, 1e-30)) if probabilities else ops.log_softmax(outputs, axis=-1)
            chosen = ops.take_along_axis(logs, ops.expand_dims(ops.cast(labels, "int32"), 1), axis=1)
            return -ops.sum(chosen)

        return cross_entropy

    def squared_error(outputs: Any, targets: Any) -> Any:
        outputs = ops.reshape(ops.cast(outputs, "float32"), (ops.shape(outputs)[0], -1))
        targets = ops.reshape(ops.cast(targets, "float32"), (ops.shape(outputs)[0], -1))
        return ops.sum(ops.square(outputs - targets))

    return squared_error


def class_indices(y: np.ndarray) -> np.ndarray:
    """Labels as class indices, whether given as indices or one-hot rows."""
    y = np.asarray(y)
    return y.argmax(axis=1).astype(np.int32) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1).astype(np.int32)


@dataclass
class Attacker:
    """Crafts adversarial inputs for one model: FGSM (one signed-gradient step of size epsilon) or PGD (`steps`
    signed steps of 2.5 epsilon / steps from a random start, projected back onto the epsilon ball each time).

    `mask` (broadcastable to one input) marks what may change (0 keeps one-hot columns discrete); `clip` keeps inputs
    in their valid range ((0, 1) for scaled pixels).
    """

    model: keras.Model
    task: str
    method: str
    epsilon: float
    steps: int = DEFAULT_PGD_STEPS
    clip: tuple[float, float] | None = None
    mask: np.ndarray | None = None
    seed: int = 0
    _gradient: Any = field(default=None, repr=False)
    _rng: np.random.Generator = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        from kproto.robust.gradients import InputGradient

        loss = attack_loss(self.task, outputs_are_probabilities(self.model))
        self._gradient = InputGradient(self.model, loss)
        self._rng = np.random.default_rng(self.seed)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        if self.task == catalog.CLASSIFICATION:
            return class_indices(y)
        return np.asarray(y, dtype=np.float32).reshape(len(y), -1)

    def _project(self, x_adv: np.ndarray, x: np.ndarray) -> np.ndarray:
        x_adv = np.clip(x_adv, x - self.epsilon, x + self.epsilon)
        if self.clip is not None:
            x_adv = np.clip(x_adv, *self.clip)
        return x_adv.astype(np.float32)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Adversarial versions of the rows x (with true targets y)."""
        x = np.asarray(x, dtype=np.float32)
        if self.epsilon == 0 or len(x) == 0:
            return x.copy()
        targets = self._targets(y)
        mask = np.ones(x.shape[1:], np.float32) if self.mask is None else np.asarray(self.mask, np.float32)
        if self.method == "fgsm":
            return self._project(x + self.epsilon * mask * np.sign(self._gradient(x, targets)), x)
        step = 2.5 * self.epsilon / self.steps
        start = self._rng.uniform(-self.epsilon, self.epsilon, size=x.shape).astype(np.float32)
        x_adv = self._project(x + mask * start, x)
        for _ in range(self.steps):
            x_adv = self._project(x_adv + step * mask * np.sign(self._gradient(x_adv, targets)), x)
        return x_adv

    def batches(self, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Adversarial versions of many rows, `batch_size` at a time (memory stays bounded)."""
        parts = [self(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.asarray(x, np.float32)


def input_space(kind: str, preprocess: dict[str, Any] | None = None) -> tuple[tuple[float, float] | None, Any, str]:
    """(clip range, perturbation mask, a sentence naming the units of epsilon) for a kind of input."""
    if kind in catalog.IMAGE_KINDS:
        return (0.0, 1.0), None, "scaled pixels in [0, 1]"
    if kind == catalog.TABLE and preprocess is not None:
        mask = numeric_mask(preprocess)
        if not mask.any():
            raise KprotoError(
                "this run has no numeric input columns to perturb (one-hot columns are discrete)", field="--attack"
            )
        return None, mask, "standardized units of the numeric columns (one-hot columns unchanged)"
    if kind == catalog.WINDOW:
        return None, None, "standardized units of the window's values"
    return None, None, "the model's input units"


def numeric_mask(preprocess: dict[str, Any]) -> np.ndarray:
    """1 for each model input that holds a numeric column's value, 0 for one-hot or index-coded categories and for
    missing-value indicators."""
    from kproto.data.preprocess import feature_groups

    groups = feature_groups(preprocess)
    width = groups[-1].stop if groups else 0
    mask = np.zeros(width, np.float32)
    kinds = {c["name"]: c["type"] for c in preprocess.get("columns", [])}
    for group in groups:
        if kinds.get(group.name) == "numeric":
            mask[group.start] = 1.0
    return mask


def task_score(task: str, outputs: np.ndarray, y: np.ndarray) -> tuple[str, float]:
    """(name, value): accuracy for classification, MAE for regression, from raw model outputs."""
    if task == catalog.CLASSIFICATION:
        return "accuracy", float(np.mean(outputs.reshape(len(y), -1).argmax(axis=1) == class_indices(y)))
    return "mae", float(np.mean(np.abs(outputs.reshape(-1) - np.asarray(y, np.float64).reshape(-1))))


def robustness_curve(
    attacker: Attacker, x: np.ndarray, y: np.ndarray, epsilons: tuple[float, ...] = ROBUSTNESS_EPSILONS
) -> list[dict[str, float]]:
    """[{"epsilon", "accuracy" (or "mae")}, ...]: the task score under attack at each epsilon."""
    points = []
    for epsilon in epsilons:
        attacker.epsilon = float(epsilon)
        x_adv = attacker.batches(x, y)
        outputs = np.asarray(attacker.model.predict(x_adv, batch_size=256, verbose=0))
        name, value = task_score(attacker.task, outputs, y)
        points.append({"epsilon": float(epsilon), name: value})
    return points


ATTACK_ROWS = 10_000  # rows attacked at most (the first ones of the split): PGD costs `steps` gradients per row


def evaluate_under_attack(
    model: keras.Model,
    info: DataInfo,
    preprocess: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    evaluate: Callable[[np.ndarray], dict[str, float]],
    method: str,
    epsilon: float,
    steps: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The "attack" block: metrics on the clean rows and on their adversarial versions, side by side.

    `y` holds the raw targets (class indices or values) that the attack pushes away from; `evaluate(x)` returns the
    run's metrics for inputs x, whose targets are the first len(x) targets (at most ATTACK_ROWS rows are attacked).
    """
    steps = (steps or DEFAULT_PGD_STEPS) if method == "pgd" else 1
    check_attack(method, epsilon, steps, info.kind, info.task)
    clip, mask, space = input_space(info.kind, preprocess)
    x, y = np.asarray(x[:ATTACK_ROWS]), np.asarray(y[:ATTACK_ROWS])
    attacker = Attacker(model, info.task, method, float(epsilon), steps=steps, clip=clip, mask=mask, seed=seed)
    adversarial = attacker.batches(x, y)
    return {
        "method": method,
        "epsilon": float(epsilon),
        "steps": steps,
        "space": space,
        "rows": int(len(x)),
        "clean": evaluate(x),
        "adversarial": evaluate(adversarial),
    }
