"""The training loop: data → model → epochs with checkpoints, early stopping and resume → run directory.

Keras must be configured (kproto.core.backend.configure) before this module is imported. The engine that runs each
epoch comes from kproto.training.engines.get_engine; checkpoints from kproto.training.checkpoint; early stopping, the plateau
schedule and the stop flag from kproto.training.controls.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from rich.markup import escape

from kproto.core import catalog
from kproto.core.backend import choose_precision, device_name, skip_tensorflow_probe, versions
from kproto.core.errors import RunError, TrainingDiverged, TrainingInterrupted
from kproto.data import Dataset, load_dataset
from kproto.models import build_model
from kproto.models.backbones import describe_source
from kproto.models.pretrained import data_preprocessing
from kproto.recipe import Recipe, dump_recipe
from kproto.recipe.targets import several
from kproto.report.tables import Reporter
from kproto.runs import layout
from kproto.runs.store import RunDir, save_model_atomic
from kproto.training.augment import with_augmentation
from kproto.training.baselines import BaselineJob, baseline_block, prefetch_imports
from kproto.training.callbacks import (
    BestEpoch,
    Checkpoints,
    EarlyStop,
    EpochCallback,
    FiniteLoss,
    MonitorLogged,
    PlateauSchedule,
    PreciseBatchNorm,
    TensorBoard,
    trainable_batch_norms,
)
from kproto.training.checkpoint import Checkpoint, checkpoint_epoch, load_checkpoint, log_epochs, save_checkpoint
from kproto.training.compile import CompiledSetup, class_weights, compile_model, encode_labels, model_spec_for
from kproto.training.controls import Plateau, StopFlag, monitored, stop_on_signals
from kproto.training.distribute import Distribution, make_distribution, scale_learning_rate
from kproto.training.ema import AveragedWeights
from kproto.training.engines.base import Engine, EngineContext
from kproto.training.engines.select import EnginePlan, get_engine
from kproto.training.engines.streaming import epoch_order
from kproto.training.length import open_length
from kproto.training.phases import Phases
from kproto.training.schedules import last_step_rate, plateau_options, plateau_warmup_rate
from kproto.training.targets import task_fact

if TYPE_CHECKING:
    from kproto.recipe.schema import EarlyStopping as EarlyStoppingSettings


@dataclass
class TrainResult:
    run: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    chief: bool = True  # False on a non-chief worker of a multi-worker run: it wrote nothing lasting


def seed_everything(seed: int) -> None:
    """keras.utils.set_random_seed, without importing TensorFlow (~4 s) on the JAX and torch backends."""
    if keras.backend.backend() == catalog.TENSORFLOW or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    import random

    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    global_state.set_global_attribute("global_random_seed", seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == catalog.TORCH:
        import torch

        torch.manual_seed(seed)


def current_learning_rate(optimizer: Any) -> float:
    """The rate the optimizer's latest step used (a schedule is read at that step, not the next one)."""
    return last_step_rate(optimizer)


@dataclass
class EpochInputs:
    """What every epoch trains and validates on: the splits' inputs, their targets as the loss reads them, and the
    per-row class weights (classification)."""

    x_train: Any  # an array, or blocks streamed from disk (kproto.data.streaming)
    y_train: np.ndarray | None
    x_val: Any
    y_val: np.ndarray | None
    weights: np.ndarray | None  # per-row sample weights (train.class_weight)


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
        self.phases: Phases | None = None  # a pretrained model's training phases
        self.baselines: BaselineJob | None = None  # the baselines, fitted in the background while the model trains
        self.target_baselines: dict[str, BaselineJob] = {}  # several targets: each target's baselines
        self.precise_bn: PreciseBatchNorm | None = None  # re-estimates batch-norm statistics after each epoch
        self.averaged: AveragedWeights | None = None  # use_ema: the averages are what each epoch is judged on
        self.length_fact: dict[str, str] = {}  # the training length the family chose for the data, for the header

    # ------------------------------------------------------------------ setup
    def _prepare(self) -> tuple[Dataset, keras.Model, CompiledSetup, EnginePlan]:
        recipe = self.recipe
        if keras.backend.backend() == catalog.JAX:  # the same random bits, compiled in a quarter of the time: every
            from kproto.training.engines.fused import unroll_threefry_on_cpu  # weight initializer draws them

            unroll_threefry_on_cpu()
        seed_everything(recipe.seed)
        device = device_name(keras.backend.backend(), self.device_request)
        self.device = device
        self.precision = choose_precision(recipe.train.precision, device)
        keras.mixed_precision.set_dtype_policy(self.precision)
        adopt = data_preprocessing(recipe) if Phases.applies(recipe) else None  # a backbone's own preprocessing
        dataset = load_dataset(recipe, adopt=adopt)  # the text tokenizer imports TensorFlow; nothing else here needs it
        self.recipe, self.length_fact = open_length(recipe, dataset.info)  # epochs and patience the recipe left open
        recipe = self.recipe
        skip_tensorflow_probe()
        plan = get_engine(recipe, dataset, device)
        model = build_model(model_spec_for(recipe), dataset.info)
        recipe.model.initialize(model, dataset)  # a start from the data where the family has one
        if catalog.family(recipe.model.type).augment:
            model = with_augmentation(model, recipe.data.augment, dataset.info)
        steps = max(math.ceil(len(dataset.x_train) / recipe.train.batch_size), 1)
        jit = recipe.train.jit_compile
        if jit == "auto":
            jit = "auto" if device == "gpu" else (keras.backend.backend() == catalog.JAX)

        compile_fn = compile_model
        if several(recipe):  # data.target: [a, b]: a loss, a weight and metrics per named output
            from kproto.training.targets import compile_targets as compile_fn

        def recompile(factor: float = 1.0) -> CompiledSetup:  # factor: a pretrained model's fine-tuning phase
            return compile_fn(
                model,
                scale_learning_rate(recipe, self.dist.lr_factor * factor),
                dataset.info,
                steps,
                allow_code=self.allow_code,
                base=self.recipe_dir,
                jit_compile=jit,
                steps_per_execution=plan.steps_per_execution(recipe.train.steps_per_execution, keras.backend.backend()),
            )

        setup = recompile()
        if Phases.applies(recipe):
            self.phases = Phases(recipe, model, recompile, describe_source(recipe.model))
        return dataset, model, setup, plan

    def _facts(
        self, dataset: Dataset, model: keras.Model, setup: CompiledSetup, engine: str, run: RunDir
    ) -> dict[str, Any]:
        info = dataset.info
        return {
            "recipe": self.recipe.name,
            "run": str(run.path),
            "data": f"{Path(self.recipe.data.path).name}: {info.rows.get('train', 0)} train / {info.rows.get('validation', 0)} validation / {info.rows.get('test', 0)} test"
            + (f" ({dataset.dropped_rows} rows with an empty target dropped)" if dataset.dropped_rows else ""),
            **dropped_fact(dataset),
            **numeric_facts(dataset),
            "input": f"{info.kind} {tuple(info.input_shape)}",
            "task": info.task + (f" ({info.num_classes} classes)" if info.num_classes else ""),
            **({"task": task_fact(info)} if info.targets else {}),
            "model": f"{self.recipe.model.type}, {model.count_params():,} parameters",
            "loss": "adversarial (binary cross-entropy on logits)" if engine == "gan" else setup.loss_name,
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
        prefetch_imports(self.recipe)  # scikit-learn loads while the data loads and the model trains
        if resume is not None:  # one writer at a time, checked before any work
            run = RunDir(self.dist.resume_folder(Path(resume)))
            with run.lock() as owner:
                self._check_resumable(run)
                return self._train(run, owner, resume)
        with self.dist.scope():  # build and compile under the strategy
            prepared = self._prepare()
        run = RunDir.create(self.dist.output_folder(self.out), self.recipe.name)
        with run.lock() as owner:
            return self._train(run, owner, None, prepared)

    def _check_resumable(self, run: RunDir) -> None:
        """A completed run is continued only when --set train.epochs asks for more epochs than it has."""
        metrics = run.metrics()
        done = metrics.get("epochs") or 0
        if metrics.get("status") == catalog.COMPLETED and self.recipe.train.epochs <= done:
            raise RunError(
                f"{run.path} already completed {done} epochs; resuming it would only save it again",
                field="--resume",
                hint=f"to train more, add --set train.epochs=N with N > {done}",
            )

    def _train(
        self, run: RunDir, owner: dict[str, Any], resume: Path | None, prepared: tuple[Any, ...] | None = None
    ) -> TrainResult:
        if prepared is None:
            with self.dist.scope():  # build and compile under the strategy
                prepared = self._prepare()
        dataset, model, setup, plan = prepared
        recipe = self.recipe
        if several(recipe):  # several targets: each target's baselines, fitted while the model trains
            from kproto.training.targets import baseline_jobs

            self.target_baselines = baseline_jobs(recipe, dataset, setup, start=False)
        else:  # fitted while the model trains, started with the first epoch (_start_baselines)
            self.baselines = BaselineJob(recipe, dataset, setup.metric_names, start=False)
        if resume is None:
            state = Checkpoint()
            run.write_text(layout.RECIPE, dump_recipe(recipe))
            run.write_json(layout.PREPROCESS, {"info": dataset.info.to_dict(), "state": dataset.preprocessor.to_dict()})
            if dataset.audit is not None:
                run.write_json(layout.AUDIT, dataset.audit.to_dict())
        else:
            run.remove_temporaries()  # half-written files of a killed save
            if self.phases is not None:  # enter the phase the checkpoint was written in, so its optimizer fits
                setup = self.phases.resume(checkpoint_epoch(run), run.metrics().get("pretrained")) or setup
            with self.dist.scope():  # the optimizer's variables are created under the strategy too
                state = self._load_checkpoint(run, model)
            run.write_text(layout.RECIPE, dump_recipe(recipe))  # --set train.epochs=N with --resume: the new total
        self.precise_bn = self._precise_bn(dataset, model, plan)
        if catalog.family(recipe.model.type).engine is None:  # a family's own engine keeps its own optimizers
            self.averaged = AveragedWeights.of(model, averaged=state.averaged)
        facts = self._facts(dataset, model, setup, plan.name, run)
        text = dataset.preprocessor.state.get("text") or {}
        if text.get("sequence_length_source"):
            facts["sequence length"] = f"{text['sequence_length']} tokens per text ({text['sequence_length_source']})"
        facts.update(recipe.model.chosen(dataset.info))  # what the family picked from the data (e.g. the encoder)
        facts.update(self.length_fact)
        if self.precise_bn is not None:
            rows = self.precise_bn.rows_used(len(dataset.x_train))
            facts["batch norm"] = f"statistics re-estimated after each epoch on {rows} training rows"
        started = time.time() - float(run.metrics().get("seconds", 0.0) if resume else 0.0)
        run.update_metrics(
            status=catalog.RUNNING,
            owner=owner,  # a run left "running" by a process that is gone shows as stale in `kproto runs`
            started=time.strftime("%Y-%m-%dT%H:%M:%S"),
            seed=recipe.seed,
            backend=facts["backend"],
            device=self.device,
            precision=self.precision,
            engine=plan.name,
            **({"batch_norm": facts["batch norm"]} if "batch norm" in facts else {}),
            parameters=model.count_params(),
            versions=versions(),
            **self.dist.metrics(),
        )
        self.reporter.header(facts)
        for line in audit_lines(dataset):  # before the first epoch (messages are rich markup: brackets escaped)
            self.reporter.message(escape(line))
        try:
            with stop_on_signals(self.stop):
                state = self._loop(run, dataset, model, setup, plan, state)
        except TrainingInterrupted:
            run.update_metrics(status=catalog.INTERRUPTED, epochs=state.epoch, seconds=round(time.time() - started, 3))
            raise
        except TrainingDiverged:
            run.update_metrics(
                status=catalog.FAILED,
                epochs=state.epoch,
                seconds=round(time.time() - started, 3),
                failure="non-finite loss",
            )
            raise
        except BaseException as exc:
            run.update_metrics(
                status=catalog.FAILED,
                epochs=state.epoch,
                seconds=round(time.time() - started, 3),
                failure=f"{type(exc).__name__}: {exc}"[:500],
            )
            raise
        metrics = self._finish(run, dataset, model, setup, state, time.time() - started)
        return TrainResult(run.path, metrics, state.history, chief=self.dist.is_chief)

    def _loop(
        self,
        run: RunDir,
        dataset: Dataset,
        model: keras.Model,
        setup: CompiledSetup,
        plan: EnginePlan,
        state: Checkpoint,
    ) -> Checkpoint:
        train = self.recipe.train
        info = dataset.info
        context = self._engine_context(run, dataset, model, setup)
        engine = plan.build(context)
        y_train, y_val = self._targets(dataset, plan, context.encode_labels)
        weights = (
            class_weights(train.class_weight, dataset.y_train, info.class_names or [])
            if info.task == catalog.CLASSIFICATION
            else None
        )
        if info.targets:  # several targets: {target: per-row weights}
            from kproto.training.targets import target_weights

            weights = target_weights(self.recipe, dataset.y_train, info)
        inputs = EpochInputs(dataset.x_train, y_train, dataset.x_val, y_val, weights)
        has_val = len(dataset.x_val) > 0
        stopping, monitor = self._stopping(dataset)
        best = BestEpoch(model, monitor, stopping.min_delta if stopping else 0.0)
        early = EarlyStop(stopping, monitor, self.phases.pending if self.phases else (lambda epoch: False))
        checks, booked, checkpoints = self._callbacks(run, model, best, lambda: setup.learning_rate, state.epoch)
        steps = max(math.ceil(len(dataset.x_train) / train.batch_size), 1)
        if has_val:
            engine.expect_evaluation(inputs.x_val, inputs.y_val)
        self._start_baselines()
        for epoch in range(state.epoch, train.epochs):
            if self.averaged is not None:  # the trained weights train on (the averages were shown since)
                self.averaged.show_trained()
            if self.phases is not None:
                entered = self._enter_phase(run, epoch)
                if entered is not None:  # the backbone is unfrozen: a new optimizer at a lower rate, a new engine
                    setup, state.wait = entered, 0
                    self.averaged = AveragedWeights.of(model) if self.averaged is not None else None
                    engine = plan.build(context)
                    if has_val:
                        engine.expect_evaluation(inputs.x_val, inputs.y_val)
            warm = plateau_warmup_rate(train.schedule, setup.learning_rate, epoch)
            if warm is not None:
                model.optimizer.learning_rate = warm
            self.reporter.epoch_start(epoch + 1, train.epochs, steps)
            row = self._train_epoch(run, engine, model, inputs, epoch, state)
            state.averaged = self.averaged is not None and self.averaged.averaged
            for check in checks:
                check.on_epoch_end(epoch, row, state)
            state.epoch = epoch + 1
            state.history.append(row)
            for check in booked:
                check.on_epoch_end(epoch, row, state)
            engine.end_epoch(state.epoch, train.epochs)  # e.g. the GAN engine saves its discriminator and samples
            self.reporter.epoch_end(row)
            if early.should_stop(epoch, state):
                self.reporter.message(early.message(state))
                break
        checkpoints.flush(state)  # the last epoch's checkpoint, whenever the one before was written
        if self.averaged is not None:  # the model keeps the averages, as after model.fit
            self.averaged.finalize()
        engine.finish()  # e.g. the fused engine swaps in EMA weights, as fit does at the end
        self._keep_final_model(run, model, stopping, best.weights)
        return state

    def _start_baselines(self) -> None:
        """Start the background baselines (once), as the first epoch starts: its compiles and the baselines share
        the cores (on the 50k-row benchmark this finished sooner than starting them after the first epoch)."""
        for job in (self.baselines, *self.target_baselines.values()):
            if job is not None:
                job.start()

    def _precise_bn(self, dataset: Dataset, model: keras.Model, plan: EnginePlan) -> PreciseBatchNorm | None:
        """Precise BN for a model with trainable batch norm whose training rows are in memory on one replica
        (not streamed, not distributed, not a family's own engine such as the GAN's)."""
        if plan.streamed or plan.distributed or catalog.family(self.recipe.model.type).engine is not None:
            return None
        layers = trainable_batch_norms(model)
        if not layers:
            return None
        return PreciseBatchNorm(model, self.recipe.train.batch_size, layers=layers)

    def _callbacks(
        self, run: RunDir, model: keras.Model, best: BestEpoch, base_rate: Callable[[], float], saved_epoch: int
    ) -> tuple[list[EpochCallback], list[EpochCallback], Checkpoints]:
        """The end-of-epoch checks, in order: those that run before the epoch is booked in the checkpoint state
        (finite loss, monitored value logged, best epoch, plateau), and those after (TensorBoard, checkpoint); and
        the checkpoint writer, which the loop flushes when training ends (`saved_epoch`: the epochs the checkpoint on
        disk holds, those of a resumed run)."""
        from kproto.training.eventlog import EventLog

        schedule = self.recipe.train.schedule
        checks: list[EpochCallback] = [FiniteLoss(run.path), MonitorLogged(best.monitor), best]
        options = plateau_options(schedule)
        if options is not None:
            checks.append(
                PlateauSchedule(
                    Plateau(**options),
                    model,
                    warming=lambda epoch: plateau_warmup_rate(schedule, base_rate(), epoch) is not None,
                    current_rate=lambda: current_learning_rate(model.optimizer),
                    report=self.reporter.message,
                )
            )
        checkpoints = Checkpoints(
            run,
            lambda saved: self._save_checkpoint(run, model, saved),
            lambda saved: log_epochs(run, saved),
            best,
            saved_epoch=saved_epoch,
        )
        booked: list[EpochCallback] = [
            TensorBoard(EventLog(run.path / layout.TENSORBOARD, report=self.reporter.message)),  # one append per epoch
            checkpoints,
        ]
        return checks, booked, checkpoints

    def _engine_context(self, run: RunDir, dataset: Dataset, model: keras.Model, setup: CompiledSetup) -> EngineContext:
        """What every engine needs: the model, the data, the stop flag, and how labels are encoded."""
        num_classes = dataset.info.num_classes

        def encode(y: np.ndarray) -> np.ndarray:
            if isinstance(y, dict):  # several targets
                from kproto.training.targets import encode_targets

                return encode_targets(y, setup, dataset.info)
            return encode_labels(y, setup.label_mode, num_classes)

        return EngineContext(
            model,
            self.recipe.train.batch_size,
            self.stop,
            recipe=self.recipe,
            dataset=dataset,
            distribution=self.dist,
            run_path=run.path,
            encode_labels=encode,
        )

    @staticmethod
    def _targets(
        dataset: Dataset, plan: EnginePlan, encode: Callable[[np.ndarray], np.ndarray]
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The training and validation targets as the loss reads them (streamed data: encoded per block)."""
        if plan.streamed:
            return dataset.y_train, dataset.y_val
        reconstruct = dataset.info.task == catalog.RECONSTRUCTION
        y_train = encode(dataset.x_train if reconstruct else dataset.y_train)
        y_val = encode(dataset.x_val if reconstruct else dataset.y_val)
        return y_train, y_val

    def _enter_phase(self, run: RunDir, epoch: int) -> CompiledSetup | None:
        """A pretrained model's phase for `epoch`: the new compiled setup when fine-tuning starts, else None."""
        assert self.phases is not None
        entered = self.phases.start(epoch)
        if entered is not None:
            self.reporter.message(
                f"fine-tuning from epoch {epoch + 1}: the backbone trains too, learning rate {entered.learning_rate:.3g}"
            )
        run.update_metrics(pretrained=self.phases.metrics())
        return entered

    def _train_epoch(
        self, run: RunDir, engine: Engine, model: keras.Model, inputs: EpochInputs, epoch: int, state: Checkpoint
    ) -> dict[str, Any]:
        """One epoch of training and validation: its history row (logs, learning rate, seconds)."""
        order = epoch_order(inputs.x_train, self.recipe.seed, epoch)
        began = time.perf_counter()
        progress = self.reporter.progress if self.reporter.shows_progress else None  # no bar: no waits per chunk
        logs = engine.train_epoch(inputs.x_train, inputs.y_train, order, inputs.weights, progress)
        if self.stop():
            raise self._interrupted(run, state)
        if self.averaged is not None:  # batch norm, validation, the best epoch and the checkpoint see the averages
            self.averaged.show_average()
        if self.precise_bn is not None:  # validation sees statistics of this epoch's weights
            self.precise_bn.refresh(inputs.x_train, order)
        if len(inputs.x_val) > 0:
            logs.update({f"val_{k}": v for k, v in engine.evaluate(inputs.x_val, inputs.y_val).items()})
        return {
            "epoch": epoch + 1,
            **logs,
            "learning_rate": current_learning_rate(model.optimizer),
            "seconds": round(time.perf_counter() - began, 4),
        }

    @staticmethod
    def _keep_final_model(
        run: RunDir, model: keras.Model, stopping: EarlyStoppingSettings | None, best_weights: list[Any] | None
    ) -> None:
        """The run's model file: the last epoch's, or with restore_best the best epoch's (its weights in memory too)."""
        if stopping is None or not stopping.restore_best:
            save_model_atomic(model, run.path / layout.MODEL)
        elif best_weights is not None:
            model.set_weights(best_weights)
        elif (run.path / layout.MODEL).exists():
            model.load_weights(run.path / layout.MODEL)

    # ------------------------------------------------------------------ checkpoints
    def _save_checkpoint(self, run: RunDir, model: keras.Model, state: Checkpoint) -> None:
        save_checkpoint(run, model, state, current_learning_rate(model.optimizer))

    def _load_checkpoint(self, run: RunDir, model: keras.Model) -> Checkpoint:
        state = load_checkpoint(run, model)
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
        state: Checkpoint,
        seconds: float,
    ) -> dict[str, Any]:
        from kproto.training.scoring import evaluate_splits

        if self.dist.mode == "multi_worker":  # Keras 3's evaluate/predict fail under several workers: a local copy
            model = self._local_copy(model, dataset)
        if dataset.info.targets:  # several targets: per-target decisions, scores and baselines
            return self._finish_targets(run, dataset, model, setup, state, seconds)
        from kproto.metrics.calibration import Decisions
        from kproto.training.decisions import fit_decisions, positive_class, validation_uses

        decisions = fit_decisions(model, dataset, self.recipe.train, setup.outputs, self.recipe.train.batch_size)
        if decisions.conformal is not None:
            run.write_json(layout.CONFORMAL, decisions.conformal.to_dict())
        decided = Decisions.from_metrics({**decisions.metrics, "outputs": setup.outputs})
        results = evaluate_splits(
            model, dataset, setup.label_mode, self.recipe.train.batch_size, decided, setup.metric_names
        )
        if self.baselines is not None:
            compared = self.baselines.block(results, seconds, self.reporter.message)
        else:
            compared = baseline_block(self.recipe, dataset, results, setup.metric_names, seconds, self.reporter.message)
        metrics = run.update_metrics(
            status=catalog.COMPLETED,
            **results,
            **decisions.metrics,
            **compared,
            epochs=state.epoch,
            best_epoch=state.best_epoch,
            seconds=round(seconds, 3),
            finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
            label_mode=setup.label_mode,
            outputs=setup.outputs,
            **positive_class(dataset.info),
            **validation_uses(*self._stopping(dataset), decisions.metrics),
        )
        self._draw_curves(run, state)
        return metrics

    def _stopping(self, dataset: Dataset) -> tuple[Any, str]:
        """(early-stopping settings or None, the monitored value), as the loop used them."""
        own_engine = catalog.family(self.recipe.model.type).engine is not None
        return monitored(self.recipe, len(dataset.x_val) > 0, own_engine=own_engine)

    def _finish_targets(
        self, run: RunDir, dataset: Dataset, model: keras.Model, setup: Any, state: Checkpoint, seconds: float
    ) -> dict[str, Any]:
        """The end of a run with several targets: kproto.training.targets scores each target."""
        from kproto.training.decisions import validation_uses
        from kproto.training.targets import target_results

        stopping, monitor = self._stopping(dataset)
        fields = target_results(
            model,
            dataset,
            self.recipe,
            setup,
            run,
            monitor,
            allow_code=self.allow_code,
            base=self.recipe_dir,
            train_seconds=seconds,
            say=self.reporter.message,
            jobs=self.target_baselines,
        )
        metrics = run.update_metrics(
            status=catalog.COMPLETED,
            **fields,
            **validation_uses(stopping, monitor, {}),  # each target's decisions are in its own block
            epochs=state.epoch,
            best_epoch=state.best_epoch,
            seconds=round(seconds, 3),
            finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        self._draw_curves(run, state)
        return metrics

    def _draw_curves(self, run: RunDir, state: Checkpoint) -> None:
        try:
            from kproto.report.plots import learning_curves

            learning_curves(state.history, run.path / layout.CURVES, title=self.recipe.name)
        except Exception as exc:  # noqa: BLE001 - a plot must never cost a finished run
            self.reporter.message(f"could not draw {layout.CURVES}: {exc}")


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


def dropped_fact(dataset: Dataset) -> dict[str, str]:
    """The header's `dropped` line: each column the audit left out, and why."""
    if dataset.audit is None or not dataset.audit.dropped():
        return {}
    return {"dropped": dataset.audit.dropped_line()}


def numeric_facts(dataset: Dataset) -> dict[str, str]:
    """The header's `log scale` line (the numeric columns scaled as log(1 + x), `data.log_skewed`) and `missing
    values` line (those whose gaps the model sees as a 0/1 input beside the imputed median,
    `data.missing_indicators`)."""
    from kproto.core.text import listed

    state = dataset.preprocessor.state if dataset.preprocessor is not None else {}
    columns = state.get("columns", [])
    facts = {}
    logged = [f"{c['name']} (skewness {c['skew']:g})" if "skew" in c else c["name"] for c in columns if c.get("log")]
    if logged:
        facts["log scale"] = f"{listed(logged, 6)}: log(1 + x), then scaled"
    marked = [c["name"] for c in columns if c.get("indicator")]
    if marked:
        facts["missing values"] = f"{listed(marked, 6)}: the training median, and a 0/1 input marking each gap"
    return facts


def audit_lines(dataset: Dataset) -> list[str]:
    """The audit's warnings, one line each, as training prints them before the first epoch."""
    if dataset.audit is None:
        return []
    return dataset.audit.warning_lines()
