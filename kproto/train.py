"""The training loop: data → model → epochs with checkpoints, early stopping and resume → run directory.

Keras must be configured (kproto.backend.configure) before this module is imported.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kproto.augment import with_augmentation
from kproto.backend import (
    choose_precision,
    device_name,
    skip_tensorflow_probe,
    versions,
)
from kproto.compile import CompiledSetup, class_weights, compile_model, encode_labels, model_spec_for
from kproto.data import Dataset, load_dataset
from kproto.distribute import Distribution, make_distribution, scale_learning_rate
from kproto.engines.streaming import StreamingEngine, epoch_order, is_streamed
from kproto.errors import KprotoError, TrainingDiverged, TrainingInterrupted
from kproto.models import build_model
from kproto.recipe import Recipe, dump_recipe
from kproto.report import Reporter
from kproto.runs import RunDir, copy_atomic, read_json, save_model_atomic
from kproto.schedules import last_step_rate, plateau_options, plateau_warmup_rate

LOWER_IS_BETTER = ("loss", "mae", "mse", "rmse", "mape", "error", "crossentropy", "hinge", "divergence")


@dataclass
class TrainResult:
    run: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    chief: bool = True  # False on a non-chief worker of a multi-worker run: it wrote nothing lasting


@dataclass
class StopFlag:
    """Set by SIGINT/SIGTERM; training stops after the current step."""

    signal_name: str | None = None

    def __call__(self) -> bool:
        return self.signal_name is not None


@contextmanager
def _signals(flag: StopFlag) -> Iterator[None]:
    def handler(signum: int, _frame: Any) -> None:
        if flag.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        flag.signal_name = signal.Signals(signum).name

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not in the main thread
        previous = {}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def lower_is_better(monitor: str) -> bool:
    return any(word in monitor for word in LOWER_IS_BETTER) and "accuracy" not in monitor


def seed_generators(model: keras.Model) -> list[Any]:
    """The model's random seed generators (dropout, noise), in a stable order."""
    found = []
    for layer in model._flatten_layers():
        for value in vars(layer).values():
            if isinstance(value, keras.random.SeedGenerator):
                found.append(value)
    return found


def seed_everything(seed: int) -> None:
    """keras.utils.set_random_seed, without importing TensorFlow (~4 s) on the JAX and torch backends."""
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    import random

    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    global_state.set_global_attribute("global_random_seed", seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


def current_learning_rate(optimizer: Any) -> float:
    """The rate the optimizer's latest step used (a schedule is read at that step, not the next one)."""
    return last_step_rate(optimizer)


def choose_engine(recipe: Recipe, dataset: Dataset, device: str) -> str:
    """fused (one compiled JAX loop per epoch) where it wins, else fit."""
    requested = recipe.train.engine
    backend = keras.backend.backend()
    if requested == "fused" and backend != "jax":
        raise KprotoError(
            "train.engine: fused needs the JAX backend", field="train.engine", hint="use --backend jax or engine: fit"
        )
    if recipe.model.type == "gan":  # adversarial steps: kproto.gan.GanEngine (TensorFlow)
        if requested == "fused":
            raise KprotoError(
                "a GAN trains with its own adversarial engine, not fused", field="train.engine", hint="use engine: auto"
            )
        return "gan"
    if requested != "auto":
        return requested
    if backend != "jax" or recipe.model.type == "gan" or recipe.train.distribute != "none":
        return "fit"
    from kproto.backend import FUSED_FAMILIES

    dense = recipe.model.type in FUSED_FAMILIES and not getattr(recipe.model, "convolutional", False)
    return "fused" if dense else "fit"


def _make_engine(
    name: str, model: keras.Model, batch_size: int, should_stop: Callable[[], bool], distribution: Any = None
) -> Any:
    if name == "fused":
        from kproto.engines.fused import FusedEngine

        engine = FusedEngine(model, batch_size)
        engine.should_stop = should_stop
        return engine
    if distribution is not None and distribution.mode != "none":  # kproto.distribute: data-parallel replicas
        from kproto.engines.distributed import distributed_engine

        return distributed_engine(distribution, model, batch_size, should_stop)
    from kproto.engines.fit import FitEngine

    return FitEngine(model, batch_size, should_stop)


def _steps_per_execution(recipe: Recipe, engine: str) -> int:
    spe = recipe.train.steps_per_execution
    if keras.backend.backend() == "torch":  # Keras's torch trainer runs one step per call
        return 1
    if spe == "auto":
        return 1 if engine == "fused" else 16
    return int(spe)


@dataclass
class Checkpoint:
    """What a resumed run needs besides the model and optimizer variables."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: float | None = None
    best_epoch: int = 0
    wait: int = 0
    plateau_best: float | None = None
    plateau_wait: int = 0
    learning_rate: float | None = None
    seeds: list[list[int]] = field(default_factory=list)
    model_file: str = ""


class Trainer:
    """Runs one recipe's training into one run directory."""

    def __init__(
        self,
        recipe: Recipe,
        out: Path,
        reporter: Reporter | None = None,
        *,
        allow_code: bool = False,
        device: str = "auto",
        recipe_dir: Path | None = None,
    ) -> None:
        self.recipe = recipe
        self.out = Path(out)
        self.reporter = reporter or Reporter()
        self.allow_code = allow_code
        self.device_request = device
        self.recipe_dir = recipe_dir
        self.stop = StopFlag()
        self.dist = Distribution()

    # ------------------------------------------------------------------ setup
    def _prepare(self) -> tuple[Dataset, keras.Model, CompiledSetup, str]:
        recipe = self.recipe
        seed_everything(recipe.seed)
        device = device_name(keras.backend.backend(), self.device_request)
        self.device = device
        self.precision = choose_precision(recipe.train.precision, device)
        keras.mixed_precision.set_dtype_policy(self.precision)
        dataset = load_dataset(recipe)  # the text tokenizer imports TensorFlow; nothing else here needs it
        skip_tensorflow_probe()
        engine_name = choose_engine(recipe, dataset, device)
        model = build_model(model_spec_for(recipe), dataset.info)
        if recipe.model.type != "gan":
            model = with_augmentation(model, recipe.data.augment, dataset.info)
        steps = max(math.ceil(len(dataset.x_train) / recipe.train.batch_size), 1)
        jit = recipe.train.jit_compile
        if jit == "auto":
            jit = "auto" if device == "gpu" else (keras.backend.backend() == "jax")
        setup = compile_model(
            model,
            scale_learning_rate(recipe, self.dist.lr_factor),
            dataset.info,
            steps,
            allow_code=self.allow_code,
            base=self.recipe_dir,
            jit_compile=jit,
            steps_per_execution=_steps_per_execution(recipe, engine_name),
        )
        return dataset, model, setup, engine_name

    def _facts(
        self, dataset: Dataset, model: keras.Model, setup: CompiledSetup, engine: str, run: RunDir
    ) -> dict[str, Any]:
        info = dataset.info
        return {
            "recipe": self.recipe.name,
            "run": str(run.path),
            "data": f"{Path(self.recipe.data.path).name}: {info.rows.get('train', 0)} train / {info.rows.get('validation', 0)} validation / {info.rows.get('test', 0)} test",
            "input": f"{info.kind} {tuple(info.input_shape)}",
            "task": info.task + (f" ({info.num_classes} classes)" if info.num_classes else ""),
            "model": f"{self.recipe.model.type}, {model.count_params():,} parameters",
            "loss": setup.loss_name if engine != "gan" else "adversarial (binary cross-entropy on logits)",
            "optimizer": f"{self._optimizer_name()} (learning rate {setup.learning_rate:g})",
            "schedule": self.recipe.train.schedule.name if self.recipe.train.schedule else "constant",
            "backend": keras.backend.backend(),
            "device": self.device,
            "precision": self.precision,
            "engine": engine,
            "seed": self.recipe.seed,
            **self.dist.facts(),
        }

    def _optimizer_name(self) -> str:
        opt = self.recipe.train.optimizer
        return opt if isinstance(opt, str) else opt["name"]

    # ------------------------------------------------------------------ main
    def run(self, resume: Path | None = None) -> TrainResult:
        self.dist = make_distribution(self.recipe)  # first: multi-worker collectives are set up before any op runs
        try:
            return self._run(resume)
        finally:
            self.dist.cleanup()

    def _run(self, resume: Path | None) -> TrainResult:
        with self.dist.scope():  # build and compile under the strategy
            dataset, model, setup, engine_name = self._prepare()
        recipe = self.recipe
        if resume is None:
            run = RunDir.create(self.dist.output_folder(self.out), recipe.name)
            state = Checkpoint()
            run.write_text("recipe.yaml", dump_recipe(recipe))
            run.write_json("preprocess.json", {"info": dataset.info.to_dict(), "state": dataset.preprocessor.to_dict()})
        else:
            run = RunDir(self.dist.resume_folder(Path(resume)))
            run.remove_temporaries()  # half-written files of a killed save
            with self.dist.scope():  # the optimizer's variables are created under the strategy too
                state = self._load_checkpoint(run, model)
            run.write_text("recipe.yaml", dump_recipe(recipe))  # --set train.epochs=N with --resume: the new total
        facts = self._facts(dataset, model, setup, engine_name, run)
        started = time.time() - float(run.metrics().get("seconds", 0.0) if resume else 0.0)
        run.update_metrics(
            status="running",
            started=time.strftime("%Y-%m-%dT%H:%M:%S"),
            seed=recipe.seed,
            backend=facts["backend"],
            device=self.device,
            precision=self.precision,
            engine=engine_name,
            parameters=model.count_params(),
            baselines=dataset.baselines,
            versions=versions(),
            **self.dist.metrics(),
        )
        self.reporter.header(facts)
        try:
            with _signals(self.stop):
                state = self._loop(run, dataset, model, setup, engine_name, state)
        except TrainingInterrupted:
            run.update_metrics(status="interrupted", epochs=state.epoch, seconds=round(time.time() - started, 3))
            raise
        except TrainingDiverged:
            run.update_metrics(
                status="failed", epochs=state.epoch, seconds=round(time.time() - started, 3), failure="non-finite loss"
            )
            raise
        except BaseException as exc:
            run.update_metrics(
                status="failed",
                epochs=state.epoch,
                seconds=round(time.time() - started, 3),
                failure=f"{type(exc).__name__}: {exc}"[:500],
            )
            raise
        metrics = self._finish(run, dataset, model, setup, engine_name, state, time.time() - started)
        return TrainResult(run.path, metrics, state.history, chief=self.dist.is_chief)

    def _loop(
        self,
        run: RunDir,
        dataset: Dataset,
        model: keras.Model,
        setup: CompiledSetup,
        engine_name: str,
        state: Checkpoint,
    ) -> Checkpoint:
        recipe = self.recipe
        train = recipe.train
        if engine_name == "gan":
            from kproto.gan import GanEngine

            engine = GanEngine.for_run(recipe, dataset, model, run.path, self.stop)
        else:
            engine = _make_engine(engine_name, model, train.batch_size, self.stop, self.dist)
        info = dataset.info
        if is_streamed(dataset.x_train):  # data on disk: blocks, labels encoded per block
            engine = StreamingEngine(engine, lambda y: encode_labels(y, setup.label_mode, info.num_classes))
            y_train, y_val = dataset.y_train, dataset.y_val
        else:
            y_train = encode_labels(
                dataset.y_train if info.task != "reconstruction" else dataset.x_train,
                setup.label_mode,
                info.num_classes,
            )
            y_val = encode_labels(
                dataset.y_val if info.task != "reconstruction" else dataset.x_val, setup.label_mode, info.num_classes
            )
        weights = (
            class_weights(train.class_weight, dataset.y_train, info.class_names or [])
            if info.task == "classification"
            else None
        )
        has_val = len(dataset.x_val) > 0
        stopping = train.early_stopping
        monitor = (stopping.monitor if stopping else "val_loss") if has_val else "loss"
        if (
            engine_name == "gan"
        ):  # adversarial losses don't track sample quality: no early stopping, keep the last epoch
            stopping, monitor = None, "g_loss"
        plateau = plateau_options(train.schedule)
        steps = max(math.ceil(len(dataset.x_train) / train.batch_size), 1)
        best_weights = None
        from kproto.eventlog import EventLog

        events = EventLog(run.path / "tensorboard")  # TensorBoard scalars, one append per epoch
        for epoch in range(state.epoch, train.epochs):
            warm = plateau_warmup_rate(train.schedule, setup.learning_rate, epoch)
            if warm is not None:
                model.optimizer.learning_rate = warm
            order = epoch_order(dataset.x_train, recipe.seed, epoch)
            self.reporter.epoch_start(epoch + 1, train.epochs, steps)
            began = time.perf_counter()
            logs = engine.train_epoch(dataset.x_train, y_train, order, weights, self.reporter.progress)
            if self.stop():
                raise self._interrupted(run, state)
            if has_val:
                logs.update({f"val_{k}": v for k, v in engine.evaluate(dataset.x_val, y_val).items()})
            row = {
                "epoch": epoch + 1,
                **logs,
                "learning_rate": current_learning_rate(model.optimizer),
                "seconds": round(time.perf_counter() - began, 4),
            }
            bad = [k for k, v in logs.items() if "loss" in k and not math.isfinite(v)]
            if bad:
                kept = (
                    f"the best model so far and the checkpoint of epoch {state.epoch} are kept in {run.path}"
                    if state.epoch
                    else "no epoch finished, so nothing was saved"
                )
                raise TrainingDiverged(
                    f"the {bad[0]} became {logs[bad[0]]} in epoch {epoch + 1}; training stopped",
                    hint="this usually means the learning rate is too high or the inputs are unscaled (try a 10x "
                    f"smaller learning_rate); {kept}",
                )
            if monitor not in row:
                raise KprotoError(
                    f"early_stopping.monitor '{monitor}' is not a logged value",
                    field="train.early_stopping.monitor",
                    hint=f"logged: {', '.join(k for k in row if k not in ('epoch', 'seconds'))}",
                )
            value = float(row[monitor])
            improved = state.best is None or (
                value < state.best - (stopping.min_delta if stopping else 0.0)
                if lower_is_better(monitor)
                else value > state.best + (stopping.min_delta if stopping else 0.0)
            )
            if improved:
                state.best, state.best_epoch, state.wait = value, epoch + 1, 0
                best_weights = model.get_weights()
            else:
                state.wait += 1
            if plateau is not None and plateau_warmup_rate(train.schedule, setup.learning_rate, epoch) is None:
                self._plateau_step(model, plateau, row, state)
            state.epoch = epoch + 1
            state.history.append(row)
            events.epoch(row)
            self._save_checkpoint(run, model, state)
            if improved:  # the best model so far is this epoch's checkpoint: copy it rather than save twice
                copy_atomic(run.checkpoints / state.model_file, run.path / "model.keras")
            if hasattr(engine, "end_epoch"):  # the GAN engine saves its discriminator and sample grids
                engine.end_epoch(state.epoch, train.epochs)
            self.reporter.epoch_end(row)
            if stopping and state.wait >= stopping.patience:
                self.reporter.message(
                    f"early stopping: {monitor} has not improved for {stopping.patience} epochs (best: epoch {state.best_epoch})"
                )
                break
        if hasattr(engine, "finish"):  # e.g. the fused engine swaps in EMA weights, as fit does at the end
            engine.finish()
        if stopping is None or not stopping.restore_best:
            save_model_atomic(model, run.path / "model.keras")
        elif best_weights is not None:
            model.set_weights(best_weights)
        elif (run.path / "model.keras").exists():
            model.load_weights(run.path / "model.keras")
        return state

    def _plateau_step(
        self, model: keras.Model, plateau: dict[str, Any], row: dict[str, Any], state: Checkpoint
    ) -> None:
        monitor = plateau["monitor"] if plateau["monitor"] in row else "loss"
        value = float(row[monitor])
        better = state.plateau_best is None or (
            value < state.plateau_best if lower_is_better(monitor) else value > state.plateau_best
        )
        if better:
            state.plateau_best, state.plateau_wait = value, 0
            return
        state.plateau_wait += 1
        if state.plateau_wait >= plateau["patience"]:
            rate = max(current_learning_rate(model.optimizer) * plateau["factor"], plateau["min_lr"])
            model.optimizer.learning_rate = rate
            state.plateau_wait = 0
            self.reporter.message(f"plateau: learning rate reduced to {rate:.3g}")

    # ------------------------------------------------------------------ checkpoints
    def _save_checkpoint(self, run: RunDir, model: keras.Model, state: Checkpoint) -> None:
        """Model + optimizer in a new file, then the state that points to it, then the old file goes."""
        folder = run.checkpoints
        name = f"epoch-{state.epoch:04d}.keras"
        save_model_atomic(model, folder / name)
        previous = state.model_file
        state.model_file = name
        state.learning_rate = current_learning_rate(model.optimizer)
        state.seeds = [np.asarray(keras.ops.convert_to_numpy(g.state)).tolist() for g in seed_generators(model)]
        from dataclasses import asdict

        run.write_json("checkpoint/state.json", asdict(state))
        _write_history(run, state.history)
        run.update_metrics(epochs=state.epoch, best_epoch=state.best_epoch)
        if previous and previous != name:
            (folder / previous).unlink(missing_ok=True)

    def _load_checkpoint(self, run: RunDir, model: keras.Model) -> Checkpoint:
        path = run.path / "checkpoint" / "state.json"
        if not path.exists():
            raise KprotoError(
                f"{run.path} has no checkpoint to resume from",
                field="--resume",
                hint="the run stopped before its first epoch finished; start it again with kproto train",
            )
        state = Checkpoint(**read_json(path))
        model_file = run.path / "checkpoint" / state.model_file
        model.optimizer.build(model.trainable_variables)
        from kproto.runs import check_model_file

        check_model_file(model_file)
        model.load_weights(model_file)
        for generator, value in zip(seed_generators(model), state.seeds):
            generator.state.assign(np.asarray(value, dtype=generator.state.dtype))
        if plateau_options(self.recipe.train.schedule) is not None and state.learning_rate is not None:
            model.optimizer.learning_rate = state.learning_rate
        self.reporter.message(f"resuming {run.path} after epoch {state.epoch}")
        return state

    def _interrupted(self, run: RunDir, state: Checkpoint) -> TrainingInterrupted:
        if state.epoch == 0:  # nothing to resume from yet
            return TrainingInterrupted(
                f"training stopped by {self.stop.signal_name} during epoch 1, before any epoch was checkpointed",
                signal_name=self.stop.signal_name or "SIGINT",
                hint=f"start it again with kproto train (the unfinished run folder can be deleted: {run.path})",
            )
        return TrainingInterrupted(
            f"training stopped by {self.stop.signal_name} during epoch {state.epoch + 1}; "
            f"epoch {state.epoch} is checkpointed in {run.path}",
            signal_name=self.stop.signal_name or "SIGINT",
            hint=f"continue with: kproto train --resume {run.path}",
        )

    # ------------------------------------------------------------------ final
    def _local_copy(self, model: keras.Model, dataset: Dataset) -> keras.Model:
        """The trained model outside the strategy: every worker evaluates the full splits alone (same numbers)."""
        local = keras.models.clone_model(model)
        local.set_weights(model.get_weights())
        compile_model(
            local, self.recipe, dataset.info, 1, allow_code=self.allow_code, base=self.recipe_dir, jit_compile=False
        )
        return local

    def _finish(
        self,
        run: RunDir,
        dataset: Dataset,
        model: keras.Model,
        setup: CompiledSetup,
        engine_name: str,
        state: Checkpoint,
        seconds: float,
    ) -> dict[str, Any]:
        from kproto.evaluate import evaluate_splits

        if self.dist.mode == "multi_worker":  # Keras 3's evaluate/predict fail under several workers: a local copy
            model = self._local_copy(model, dataset)
        results = evaluate_splits(model, dataset, setup.label_mode, self.recipe.train.batch_size)
        metrics = run.update_metrics(
            status="completed",
            **results,
            epochs=state.epoch,
            best_epoch=state.best_epoch,
            seconds=round(seconds, 3),
            finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
            label_mode=setup.label_mode,
            outputs=setup.outputs,
        )
        try:
            from kproto.plots import learning_curves

            learning_curves(state.history, run.path / "curves.png", title=self.recipe.name)
        except Exception as exc:  # noqa: BLE001 - a plot must never cost a finished run
            self.reporter.message(f"could not draw curves.png: {exc}")
        return metrics


def _write_history(run: RunDir, history: list[dict[str, Any]]) -> None:
    import csv
    import io

    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    run.write_text("history.csv", buffer.getvalue())


def train(
    recipe: Recipe,
    out: Path,
    reporter: Reporter | None = None,
    *,
    resume: Path | None = None,
    allow_code: bool = False,
    device: str = "auto",
    recipe_dir: Path | None = None,
) -> TrainResult:
    """Train `recipe` into a new run under `out` (or continue the run `resume`)."""
    return Trainer(recipe, out, reporter, allow_code=allow_code, device=device, recipe_dir=recipe_dir).run(resume)
