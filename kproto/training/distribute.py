"""Data-parallel training on the backends' own engines: tf.distribute strategies and Keras 3's DataParallel.

`train.distribute`:
  none          one process, one device (the default)
  mirrored      tf.distribute.MirroredStrategy: every local GPU (or the CPU when none) is a replica
  multi_worker  tf.distribute.MultiWorkerMirroredStrategy: the cluster comes from the TF_CONFIG environment variable
  data_parallel keras.distribution.DataParallel on the JAX backend: every local JAX device is a replica

`train.batch_size` is the global batch size: each step it is split across the replicas. `train.lr_scaling` scales the
recipe's base learning rate by the number of replicas (linear) or by its square root (sqrt).

Only the chief (the `chief` task, else worker 0) writes the run directory; the other workers run the same code against
a scratch folder that is deleted when they finish. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kproto.core import catalog
from kproto.core.errors import RecipeError
from kproto.runs import layout

if TYPE_CHECKING:
    from kproto.recipe.schema import Recipe

TF_CONFIG_HINT = (
    'set TF_CONFIG on every worker, e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}; only the task part differs between workers'
)


@dataclass(frozen=True)
class ClusterSpec:
    """The parts of TF_CONFIG kproto uses: the task list and this process's place in it."""

    tasks: dict[str, list[str]]
    task_type: str
    task_index: int

    @property
    def num_workers(self) -> int:
        """Processes that train: chief + workers (parameter servers and evaluators do not)."""
        return len(self.tasks.get("chief", [])) + len(self.tasks.get("worker", []))

    @property
    def is_chief(self) -> bool:
        """The `chief` task if the cluster names one, else worker 0."""
        if "chief" in self.tasks:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    @property
    def worker_rank(self) -> int:
        """0 for the chief, then the workers in order."""
        offset = len(self.tasks.get("chief", []))
        return 0 if self.task_type == "chief" else offset + self.task_index


def parse_tf_config(text: str | None) -> ClusterSpec | None:
    """TF_CONFIG's JSON → ClusterSpec; None when unset or empty. Malformed values raise RecipeError."""
    if text is None or not text.strip():
        return None

    def bad(message: str) -> RecipeError:
        return RecipeError(f"TF_CONFIG {message}", field="train.distribute", hint=TF_CONFIG_HINT)

    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(config, dict):
        raise bad("must be a JSON object with 'cluster' and 'task'")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise bad("has no 'cluster' object listing the workers")
    tasks: dict[str, list[str]] = {}
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise bad(f"cluster.{kind} must be a list of 'host:port' strings")
        tasks[str(kind)] = list(addresses)
    if "chief" in tasks and len(tasks["chief"]) != 1:
        raise bad("may name at most one chief")
    if not isinstance(task, dict) or "type" not in task:
        raise bad("has no 'task' object ({'type': 'worker', 'index': N})")
    kind, index = str(task["type"]), task.get("index", 0)
    if kind not in ("chief", "worker"):
        raise bad(f"task type {kind!r} cannot train; kproto runs 'chief' and 'worker' tasks")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(tasks.get(kind, [])):
        raise bad(f"task index {index!r} is not in cluster.{kind} ({len(tasks.get(kind, []))} entries)")
    spec = ClusterSpec(tasks=tasks, task_type=kind, task_index=index)
    if spec.num_workers == 0:
        raise bad("lists no chief or worker tasks")
    return spec


def lr_factor(rule: str, replicas: int) -> float:
    """How much the base learning rate is multiplied by: 1 (none), replicas (linear) or sqrt(replicas) (sqrt)."""
    if rule == "linear":
        return float(replicas)
    if rule == "sqrt":
        return math.sqrt(replicas)
    return 1.0


def check_combination(mode: str, backend: str, engine: str = "auto", family: str = "") -> None:
    """A RecipeError when train.distribute cannot run on this backend, with this engine or this model family."""
    if mode not in catalog.DISTRIBUTE:  # pragma: no cover - the schema checks names
        raise RecipeError(
            f"unknown train.distribute {mode!r}",
            field="train.distribute",
            hint=f"one of {', '.join(catalog.DISTRIBUTE)}",
        )
    if mode == "none":
        return
    needed = catalog.DISTRIBUTE[mode]
    if backend != needed:
        other = {"tensorflow": "mirrored or multi_worker", "jax": "data_parallel"}.get(backend)
        raise RecipeError(
            f"train.distribute: {mode} needs the {needed} backend, but this run uses {backend}",
            field="train.distribute",
            hint=f"use --backend {needed}" + (f", or distribute: {other} on {backend}" if other else ""),
        )
    if family and not catalog.family(family).distribute:
        raise RecipeError(
            f"a {family} model trains with its own engine, which has no train.distribute: {mode}",
            field="train.distribute",
            hint=f"use distribute: none for {family} models",
        )
    if engine == "fused":
        raise RecipeError(
            f"the fused engine trains on one device and cannot be combined with train.distribute: {mode}",
            field="train.engine",
            hint="use engine: auto (or fit) with a distribution strategy",
        )


def check_batch_size(batch_size: int, replicas: int, mode: str, exact: bool = False) -> None:
    """train.batch_size is global: every replica needs at least one row of it (and, on JAX, an equal share)."""
    if batch_size < replicas or (exact and batch_size % replicas):
        good = max(replicas, batch_size - batch_size % replicas)
        raise RecipeError(
            f"train.batch_size {batch_size} is the global batch and cannot be split "
            + ("evenly " if exact else "")
            + f"across {replicas} replicas ({mode})",
            field="train.batch_size",
            hint=f"use a multiple of {replicas}, e.g. batch_size: {good} (or {good * 2})",
        )


@dataclass
class Distribution:
    """One run's distribution: the strategy (or Keras distribution), its sizes, and where this process writes."""

    mode: str = "none"
    strategy: Any = None
    workers: int = 1
    replicas: int = 1
    is_chief: bool = True
    rank: int = 0
    lr_scaling: str = "none"
    _scratch: list[Path] = field(default_factory=list)

    @property
    def lr_factor(self) -> float:
        return lr_factor(self.lr_scaling, self.replicas)

    @property
    def uses_tf_strategy(self) -> bool:
        return self.mode in ("mirrored", "multi_worker")

    def scope(self) -> AbstractContextManager[Any]:
        """Build and compile the model inside this (the strategy's or distribution's scope; else a no-op)."""
        return self.strategy.scope() if self.strategy is not None else nullcontext()

    def output_folder(self, out: Path) -> Path:
        """`out` on the chief; a scratch folder (deleted by cleanup) on the other workers."""
        if self.is_chief:
            return Path(out)
        return self._new_scratch()

    def resume_folder(self, run: Path) -> Path:
        """The run to continue: itself on the chief; a scratch copy on the other workers, who must not write to it."""
        if self.is_chief:
            return Path(run)
        copy = self._new_scratch() / Path(run).name
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns(layout.LOCK))  # the chief's lock stays its own
        return copy

    def _new_scratch(self) -> Path:
        folder = Path(tempfile.mkdtemp(prefix=f"kproto-worker{self.rank}-"))
        self._scratch.append(folder)
        return folder

    def cleanup(self) -> None:
        """Delete the scratch folders of a non-chief worker."""
        while self._scratch:
            shutil.rmtree(self._scratch.pop(), ignore_errors=True)

    def facts(self) -> dict[str, Any]:
        """For the run header ('distribute' line); empty when not distributed."""
        if self.mode == "none":
            return {}
        workers = f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        text = f"{self.mode}: {workers}, {self.replicas} replica{'s' if self.replicas != 1 else ''}"
        if self.mode == "multi_worker":
            text += f"; this is worker {self.rank}" + (" (chief)" if self.is_chief else "")
        if self.lr_factor != 1:
            text += f"; learning rate ×{self.lr_factor:g} ({self.lr_scaling})"
        return {"distribute": text}

    def metrics(self) -> dict[str, Any]:
        """The fields metrics.json records about distribution."""
        return {
            "distribute": self.mode,
            "workers": self.workers,
            "replicas": self.replicas,
            "lr_scaling": self.lr_scaling,
            "lr_factor": self.lr_factor,
        }


def make_distribution(
    recipe: Recipe, backend: str | None = None, environ: dict[str, str] | None = None
) -> Distribution:
    """The Distribution for `recipe.train.distribute`; must run before the backend executes any operation
    (MultiWorkerMirroredStrategy configures collectives at start-up)."""
    train = recipe.train
    mode = train.distribute
    if backend is None:
        import keras

        backend = keras.backend.backend()
    check_combination(mode, backend, train.engine, recipe.model.type)
    env = os.environ if environ is None else environ
    if mode == "none":
        return Distribution(lr_scaling=train.lr_scaling)
    if mode == "data_parallel":
        import keras

        devices = keras.distribution.list_devices()
        check_batch_size(train.batch_size, len(devices), mode, exact=True)
        dist = keras.distribution.DataParallel(devices=devices)
        return Distribution(mode=mode, strategy=dist, replicas=len(devices), lr_scaling=train.lr_scaling)
    import tensorflow as tf

    if mode == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        check_batch_size(train.batch_size, int(strategy.num_replicas_in_sync), mode)
        return Distribution(
            mode=mode, strategy=strategy, replicas=int(strategy.num_replicas_in_sync), lr_scaling=train.lr_scaling
        )
    cluster = parse_tf_config(env.get("TF_CONFIG"))
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    check_batch_size(train.batch_size, int(strategy.num_replicas_in_sync), mode)
    return Distribution(
        mode=mode,
        strategy=strategy,
        replicas=int(strategy.num_replicas_in_sync),
        workers=cluster.num_workers if cluster else 1,
        is_chief=cluster.is_chief if cluster else True,
        rank=cluster.worker_rank if cluster else 0,
        lr_scaling=train.lr_scaling,
    )


def scale_learning_rate(recipe: Recipe, factor: float) -> Any:
    """A copy of `recipe` whose optimizer has its base learning rate multiplied by `factor` (schedules follow it)."""
    if factor == 1:
        return recipe
    from kproto.training.compile import resolve_optimizer

    config = recipe.train.optimizer
    name, args = (config, {}) if isinstance(config, str) else (config["name"], dict(config))
    _, base = resolve_optimizer(config, None, 1, 1)
    scaled = {**args, "name": name, "learning_rate": base * factor}
    train = recipe.train.model_copy(update={"optimizer": scaled})
    return recipe.model_copy(update={"train": train})
