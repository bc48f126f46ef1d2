"""The GAN's own engine: alternating adversarial updates of the run's generator and a discriminator it owns.

It has the Engine interface, so the training loop's epochs, checkpoints, history and reporting work unchanged.
One TensorFlow train step (tf.GradientTape inside tf.function) updates both networks; Keras must be configured
with the TensorFlow backend before the engine is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog
from kproto.core.errors import KprotoError
from kproto.runs import layout
from kproto.training.engines.base import Engine, Progress

if TYPE_CHECKING:
    from kproto.data.preprocess import Preprocessor
    from kproto.data.types import DataInfo, Dataset
    from kproto.recipe.schema import Recipe


class GanEngine(Engine):
    """Alternating adversarial updates: the discriminator on real vs generated rows, the generator to fool it.

    Logs per epoch: d_loss, g_loss (non-saturating binary cross-entropy on logits) and d_accuracy (share of real
    and generated rows the discriminator tells apart). Real targets are smoothed to 0.9.
    """

    name = "gan"
    real_target = 0.9

    def __init__(
        self,
        generator: Any,
        discriminator: Any,
        d_optimizer: Any,
        info: DataInfo,
        pre: Preprocessor,
        batch_size: int,
        seed: int,
        should_stop: Callable[[], bool] = lambda: False,
        run_path: Path | None = None,
        samples_every: int = 5,
    ) -> None:
        import keras
        import tensorflow as tf

        from kproto.models.gan import latent_layout

        if keras.backend.backend() != catalog.TENSORFLOW:
            raise KprotoError(
                f"GANs train on the TensorFlow backend, not {keras.backend.backend()}",
                field="train.backend",
                hint="use --backend tensorflow (or leave train.backend: auto)",
            )
        super().__init__(should_stop)
        self.generator, self.discriminator = generator, discriminator
        # Under mixed_float16 compile wraps the optimizer for loss scaling; this step applies unscaled gradients.
        self.g_optimizer = getattr(generator.optimizer, "inner_optimizer", generator.optimizer)
        self.d_optimizer = d_optimizer
        for optimizer, model in ((self.g_optimizer, generator), (self.d_optimizer, discriminator)):
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
        self.info, self.pre = info, pre
        self.latent, self.classes = latent_layout(generator, info)
        self.batch_size, self.seed = batch_size, seed
        self.run_path = None if run_path is None else Path(run_path)
        self.samples_every = samples_every
        self.rng = tf.random.Generator.from_seed(seed)
        self._step = tf.function(self._train_step, reduce_retracing=True)

    @classmethod
    def for_run(
        cls, recipe: Recipe, dataset: Dataset, generator: Any, run_path: Path, should_stop: Callable[[], bool]
    ) -> GanEngine:
        """The engine for one run: builds the discriminator and its optimizer; on resume, reloads them."""
        from kproto.models.gan import build_discriminator
        from kproto.runs.load import check_model_file
        from kproto.training.compile import resolve_optimizer

        train = recipe.train
        discriminator = build_discriminator(recipe.model, dataset.info)
        steps = max(math.ceil(len(dataset.x_train) / train.batch_size), 1)
        optimizer, _ = resolve_optimizer(train.optimizer, train.schedule, steps, train.epochs)
        discriminator.compile(optimizer=optimizer)
        engine = cls(
            generator,
            discriminator,
            optimizer,
            dataset.info,
            dataset.preprocessor,
            train.batch_size,
            recipe.seed,
            should_stop,
            run_path,
            recipe.model.samples_every,
        )
        saved = Path(run_path) / layout.DISCRIMINATOR
        if saved.exists():
            check_model_file(saved)
            discriminator.load_weights(saved)
        return engine

    def _conditioned(self, x: Any, labels: Any) -> Any:
        import tensorflow as tf

        return tf.concat([x, labels], axis=1) if self.classes else x

    def _losses(self, real: Any, labels: Any, training: bool, noise: Any) -> tuple[Any, Any, Any]:
        import tensorflow as tf

        n = tf.shape(real)[0]
        fake = tf.cast(
            tf.reshape(self.generator(self._conditioned(noise, labels), training=training), (n, -1)), tf.float32
        )
        real_logit = tf.cast(self.discriminator(self._conditioned(real, labels), training=training), tf.float32)
        fake_logit = tf.cast(self.discriminator(self._conditioned(fake, labels), training=training), tf.float32)
        bce = tf.nn.sigmoid_cross_entropy_with_logits
        d_loss = tf.reduce_mean(
            bce(labels=tf.fill(tf.shape(real_logit), self.real_target), logits=real_logit)
        ) + tf.reduce_mean(bce(labels=tf.zeros_like(fake_logit), logits=fake_logit))
        g_loss = tf.reduce_mean(bce(labels=tf.ones_like(fake_logit), logits=fake_logit))
        accuracy = (
            tf.reduce_mean(tf.cast(real_logit > 0, tf.float32)) + tf.reduce_mean(tf.cast(fake_logit < 0, tf.float32))
        ) / 2
        return d_loss, g_loss, accuracy

    def _train_step(self, real: Any, labels: Any) -> dict[str, Any]:
        import tensorflow as tf

        noise = self.rng.normal((tf.shape(real)[0], self.latent))
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            d_loss, g_loss, accuracy = self._losses(real, labels, True, noise)
            d_total = d_loss + sum(self.discriminator.losses, tf.constant(0.0))
            g_total = g_loss + sum(self.generator.losses, tf.constant(0.0))
        d_vars, g_vars = self.discriminator.trainable_variables, self.generator.trainable_variables
        d_grads, g_grads = d_tape.gradient(d_total, d_vars), g_tape.gradient(g_total, g_vars)
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars, strict=True))
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars, strict=True))
        return {"d_loss": d_loss, "g_loss": g_loss, "d_accuracy": accuracy}

    def _arrays(self, x: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        flat = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        if not self.classes:
            return flat, np.zeros((len(x), 0), np.float32)
        if y is None:
            raise KprotoError(
                "a conditional GAN needs the class labels of its rows",
                field="data.target",
                hint="set data.target to the label column, or model.conditional: false",
            )
        codes = np.asarray(y).reshape(len(y), -1)[:, 0].astype(int)
        return flat, np.eye(self.classes, dtype=np.float32)[codes]

    def train_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray | None,
        order: np.ndarray,
        sample_weight: np.ndarray | None = None,
        on_progress: Progress | None = None,
    ) -> dict[str, float]:
        """One pass over the rows in `order`; sample weights are not used by the adversarial losses."""
        import time

        flat, onehot = self._arrays(x, y)
        flat, onehot = flat[order], onehot[order]
        steps = max(math.ceil(len(order) / self.batch_size), 1)
        totals = {"d_loss": 0.0, "g_loss": 0.0, "d_accuracy": 0.0}
        done, last = 0, 0.0
        for step in range(steps):
            rows = slice(step * self.batch_size, (step + 1) * self.batch_size)
            logs = self._step(flat[rows], onehot[rows])
            for key in totals:
                totals[key] += float(logs[key])
            done += 1
            if on_progress is not None and time.monotonic() - last > 0.1:
                last = time.monotonic()
                on_progress(step + 1, steps)
            if self.should_stop():
                break
        if on_progress is not None:
            on_progress(done, steps)
        return {key: value / max(done, 1) for key, value in totals.items()}

    def evaluate(
        self, x: np.ndarray, y: np.ndarray | None, sample_weight: np.ndarray | None = None
    ) -> dict[str, float]:
        """The same losses on held-out real rows against as many generated ones (fixed noise, so epochs compare)."""
        if len(x) == 0:
            return {}
        flat, onehot = self._arrays(x, y)
        noise = np.random.default_rng([self.seed, 1]).standard_normal((len(x), self.latent)).astype(np.float32)
        d_loss, g_loss, accuracy = self._losses(flat, onehot, False, noise)
        return {"d_loss": float(d_loss), "g_loss": float(g_loss), "d_accuracy": float(accuracy)}

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """After each epoch's checkpoint: save the discriminator; every samples_every epochs (and the last) a grid."""
        if self.run_path is None:
            return
        from kproto.runs.store import save_model_atomic

        save_model_atomic(self.discriminator, self.run_path / layout.DISCRIMINATOR)
        if epoch % self.samples_every == 0 or epoch == epochs:
            self.write_samples(self.run_path / layout.SAMPLES / layout.sample_grid(epoch), f"epoch {epoch}")

    def write_samples(self, path: Path, title: str = "") -> Path:
        """A grid from fixed noise (one row per class for a conditional GAN), so grids of different epochs compare."""
        from kproto.models.gan import class_names, draw_samples, generate
        from kproto.report.plots import GRID_COLUMNS

        path.parent.mkdir(parents=True, exist_ok=True)
        count = GRID_COLUMNS * min(self.classes or GRID_COLUMNS, GRID_COLUMNS)
        labels = np.arange(count) // GRID_COLUMNS if self.classes else None
        x, labels = generate(self.generator, self.info, count, self.seed + 2, labels)
        return draw_samples(x, self.info, self.pre, path, title, class_names(self.info, labels))
