"""Learning-rate schedules built from `train.schedule`, measured in epochs and converted to steps.

Custom schedules are registered with Keras so saved models reload in safe mode.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras

from kproto.core.errors import RecipeError

if TYPE_CHECKING:
    from kproto.recipe.schema import Schedule


@keras.saving.register_keras_serializable(package="kproto")
class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to the wrapped schedule's value over `warmup_steps`."""

    def __init__(self, schedule: Any, warmup_steps: int) -> None:
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step: Any) -> Any:
        step = keras.ops.cast(step, "float32")
        target = self.schedule(step) if callable(self.schedule) else keras.ops.cast(self.schedule, "float32")
        ramp = (step + 1.0) / float(max(self.warmup_steps, 1))
        return keras.ops.where(step < self.warmup_steps, target * ramp, target)

    def get_config(self) -> dict[str, Any]:
        inner = self.schedule
        if isinstance(inner, keras.optimizers.schedules.LearningRateSchedule):
            inner = keras.saving.serialize_keras_object(inner)
        return {"schedule": inner, "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Warmup:
        inner = config["schedule"]
        if isinstance(inner, dict):
            inner = keras.saving.deserialize_keras_object(inner)
        return cls(inner, config["warmup_steps"])


@keras.saving.register_keras_serializable(package="kproto")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """1cycle: cosine rise from max/div_factor to max over pct_start of the run, then cosine fall to max/final_div."""

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ) -> None:
        self.max_learning_rate = float(max_learning_rate)
        self.total_steps = int(total_steps)
        self.pct_start = float(pct_start)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step: Any) -> Any:
        step = keras.ops.cast(step, "float32")
        peak = self.max_learning_rate
        start, end = peak / self.div_factor, peak / self.final_div_factor
        up = max(self.total_steps * self.pct_start, 1.0)
        down = max(self.total_steps - up, 1.0)
        rise = start + (peak - start) * 0.5 * (1 - keras.ops.cos(math.pi * keras.ops.minimum(step / up, 1.0)))
        t = keras.ops.clip((step - up) / down, 0.0, 1.0)
        fall = end + (peak - end) * 0.5 * (1 + keras.ops.cos(math.pi * t))
        return keras.ops.where(step < up, rise, fall)

    def get_config(self) -> dict[str, Any]:
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }


def _take(args: dict[str, Any], allowed: dict[str, Any], name: str) -> dict[str, Any]:
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise RecipeError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for the '{name}' schedule; "
            f"expected some of {', '.join(map(repr, sorted(allowed)))}",
            field=f"train.schedule.{unknown[0]}",
        )
    return {**allowed, **args}


def build_schedule(spec: Schedule | None, learning_rate: float, steps_per_epoch: int, epochs: int) -> Any:
    """A Keras schedule (or the plain rate) for `train.schedule`; `plateau` is handled by the training loop."""
    if spec is None:
        return learning_rate
    name = spec.name
    args = dict(spec.model_extra or {})
    total = max(int(steps_per_epoch * epochs), 1)
    spe = max(int(steps_per_epoch), 1)
    schedules = keras.optimizers.schedules
    if name in ("constant", "plateau"):
        opts = _take(
            args,
            {"factor": 0.5, "patience": 3, "min_lr": 1e-6, "monitor": "val_loss"} if name == "plateau" else {},
            name,
        )
        schedule: Any = learning_rate
        del opts
    elif name == "step":
        opts = _take(args, {"boundaries": None, "values": None, "gamma": 0.1, "every": 10}, name)
        if opts["boundaries"] is None:
            boundaries = list(range(opts["every"], epochs, opts["every"]))
            values = [learning_rate * opts["gamma"] ** i for i in range(len(boundaries) + 1)]
        else:
            boundaries, values = list(opts["boundaries"]), list(opts["values"] or [])
            if len(values) != len(boundaries) + 1:
                raise RecipeError(
                    "a step schedule needs one more value than boundaries; "
                    f"received {len(boundaries)} boundaries and {len(values)} values",
                    field="train.schedule.values",
                )
        if not boundaries:
            schedule = learning_rate
        else:
            schedule = schedules.PiecewiseConstantDecay([int(b * spe) for b in boundaries], [float(v) for v in values])
    elif name == "exponential":
        opts = _take(args, {"decay_rate": 0.9, "decay_epochs": 1, "staircase": False}, name)
        schedule = schedules.ExponentialDecay(
            learning_rate, max(int(opts["decay_epochs"] * spe), 1), opts["decay_rate"], opts["staircase"]
        )
    elif name == "cosine":
        opts = _take(args, {"alpha": 0.0}, name)
        schedule = schedules.CosineDecay(learning_rate, total, alpha=opts["alpha"])
    elif name == "cosine_restarts":
        opts = _take(args, {"first_decay_epochs": max(epochs // 3, 1), "t_mul": 2.0, "m_mul": 1.0, "alpha": 0.0}, name)
        schedule = schedules.CosineDecayRestarts(
            learning_rate,
            int(opts["first_decay_epochs"] * spe),
            t_mul=opts["t_mul"],
            m_mul=opts["m_mul"],
            alpha=opts["alpha"],
        )
    elif name == "polynomial":
        opts = _take(args, {"end_learning_rate": learning_rate * 0.01, "power": 1.0}, name)
        schedule = schedules.PolynomialDecay(learning_rate, total, opts["end_learning_rate"], opts["power"])
    elif name == "one_cycle":
        opts = _take(
            args,
            {"max_learning_rate": learning_rate * 10, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4},
            name,
        )
        schedule = OneCycle(
            opts["max_learning_rate"], total, opts["pct_start"], opts["div_factor"], opts["final_div_factor"]
        )
    else:  # pragma: no cover - the loader checks names
        raise RecipeError(f"unknown schedule '{name}'", field="train.schedule.name")
    if spec.warmup_epochs and name != "plateau":  # plateau warms up per epoch in the training loop
        schedule = Warmup(schedule, max(int(round(spec.warmup_epochs * spe)), 1))
    return schedule


def plateau_warmup_rate(spec: Schedule | None, learning_rate: float, epoch: int) -> float | None:
    """For a `plateau` schedule with warmup_epochs W: the rate of epoch `epoch` (0-based) while it warms up.

    base * (epoch + 1) / W for the first ceil(W) epochs (the last of them reaches the base rate); None afterwards,
    when the plateau rule alone moves the rate.
    """
    if spec is None or spec.name != "plateau" or not spec.warmup_epochs or epoch >= math.ceil(spec.warmup_epochs):
        return None
    return float(learning_rate * min(1.0, (epoch + 1) / float(spec.warmup_epochs)))


def last_step_rate(optimizer: Any) -> float:
    """The learning rate the optimizer's most recent step used (what an epoch's row reports)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer under mixed_float16
    rate = inner._learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        step = max(int(keras.ops.convert_to_numpy(inner.iterations)) - 1, 0)
        return float(keras.ops.convert_to_numpy(rate(step)))
    return float(keras.ops.convert_to_numpy(inner.learning_rate))


def plateau_options(spec: Schedule | None) -> dict[str, Any] | None:
    """factor, patience, min_lr and monitor of a `plateau` schedule, or None."""
    if spec is None or spec.name != "plateau":
        return None
    return _take(
        dict(spec.model_extra or {}), {"factor": 0.5, "patience": 3, "min_lr": 1e-6, "monitor": "val_loss"}, "plateau"
    )
