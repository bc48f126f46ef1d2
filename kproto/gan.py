"""GAN training, sampling and judging.

`GanEngine` has the interface of the other engines (train_epoch / evaluate), so the Trainer's epoch loop,
checkpoints, history and reporting work unchanged; it trains the generator (the run's model) against a
discriminator it owns, with one TensorFlow train step (tf.GradientTape inside tf.function). Keras must be
configured with the TensorFlow backend before this module's engine is used.

The generator's input is the noise, followed by the one-hot class label for a conditional GAN (a generator
named "conditional_generator"), so every saved generator can be sampled without its recipe.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kproto.errors import KprotoError

GRID_COLUMNS = 10
JUDGE_SAMPLES = 1000


# ----------------------------------------------------------------------------- sampling
def latent_layout(generator: Any, info: Any) -> tuple[int, int]:
    """(noise size, one-hot label width) of a generator's single input."""
    width = int(generator.inputs[0].shape[-1])
    classes = info.num_classes if generator.name.startswith("conditional") else 0
    return width - classes, classes


def latent_batch(
    generator: Any, info: Any, count: int, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Generator inputs for `count` samples: seeded normal noise (+ one-hot labels, cycling through the classes)."""
    latent, classes = latent_layout(generator, info)
    noise = np.random.default_rng(seed).standard_normal((count, latent)).astype(np.float32)
    if not classes:
        return noise, None
    if labels is None:
        labels = np.arange(count) % classes
    return np.concatenate([noise, np.eye(classes, dtype=np.float32)[labels]], axis=1), labels


def generate(
    generator: Any, info: Any, count: int, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """`count` samples in the model's (scaled) input space, and the class index each was conditioned on."""
    z, labels = latent_batch(generator, info, count, seed, labels)
    return np.asarray(generator.predict(z, batch_size=256, verbose=0), dtype=np.float32), labels


def inverse_features(pre: Any, x: np.ndarray) -> Any:
    """Scaled model inputs → a DataFrame of the original feature columns (pixels or numeric/categorical columns)."""
    import pandas as pd

    flat = x.reshape(len(x), -1)
    if pre.kind == "image":
        image = pre.state["image"]
        values = flat * ((image["max"] - image["min"]) or 1.0) + image["min"]
        return pd.DataFrame(np.round(values, 4), columns=list(pre.state["features"]))
    if pre.kind != "tabular":
        raise KprotoError(f"samples of {pre.kind} data cannot be mapped back to columns", field="model.type")
    onehot = pre.state.get("categorical", "onehot") == "onehot"
    columns: dict[str, Any] = {}
    at = 0
    for column in pre.state["columns"]:
        if column["type"] == "numeric":
            columns[column["name"]] = np.round(flat[:, at] * column["std"] + column["mean"], 6)
            at += 1
        elif onehot:
            width = len(column["values"])
            columns[column["name"]] = [column["values"][i] for i in flat[:, at : at + width].argmax(axis=1)]
            at += width
        else:
            codes = np.clip(np.rint(flat[:, at]).astype(int) - 1, 0, max(len(column["values"]) - 1, 0))
            columns[column["name"]] = [column["values"][i] for i in codes]
            at += 1
    return pd.DataFrame(columns)


def sample_grid(
    x: np.ndarray, info: Any, pre: Any, path: Path, title: str = "", labels: list[Any] | None = None
) -> Path:
    """A PNG of generated samples: an image grid (rows of GRID_COLUMNS), or a table of rows for tabular data."""
    from kproto.plots import _figure, save

    if info.kind == "image" and len(info.input_shape) == 3:
        count = min(len(x), 100)
        rows = max(math.ceil(count / GRID_COLUMNS), 1)
        fig, axes = _figure(rows, GRID_COLUMNS, size=(GRID_COLUMNS * 0.9, rows * 0.9 + 0.5))
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i >= count:
                continue
            image = np.clip(x[i], 0.0, 1.0)
            ax.imshow(
                image[..., 0] if image.shape[-1] == 1 else image,
                cmap="gray_r" if image.shape[-1] == 1 else None,
                vmin=0.0,
                vmax=1.0,
            )
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=7)
    else:
        frame = inverse_features(pre, x[:12]).iloc[:, :8]
        if labels is not None:
            frame.insert(0, "label", [str(v) for v in labels[:12]])
        fig, axes = _figure(size=(min(1.2 * len(frame.columns) + 1, 12), 0.32 * len(frame) + 1))
        ax = axes[0][0]
        ax.axis("off")
        cells = [[v if isinstance(v, str) else f"{v:.3g}" for v in row] for row in frame.itertuples(index=False)]
        ax.table(cellText=cells, colLabels=list(frame.columns), loc="center").scale(1, 1.2)
    if title:
        fig.suptitle(title, fontsize=9)
    return save(fig, path)


# ----------------------------------------------------------------------------- training
class GanEngine:
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
        info: Any,
        pre: Any,
        batch_size: int,
        seed: int,
        should_stop: Callable[[], bool] = lambda: False,
        run_path: Path | None = None,
        samples_every: int = 5,
    ) -> None:
        import keras
        import tensorflow as tf

        if keras.backend.backend() != "tensorflow":
            raise KprotoError(
                f"GANs train on the TensorFlow backend, not {keras.backend.backend()}",
                field="train.backend",
                hint="use --backend tensorflow (or leave train.backend: auto)",
            )
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
        self.should_stop = should_stop
        self.interrupted = False
        self.run_path = run_path
        self.samples_every = samples_every
        self.rng = tf.random.Generator.from_seed(seed)
        self._step = tf.function(self._train_step, reduce_retracing=True)

    @classmethod
    def for_run(
        cls, recipe: Any, dataset: Any, generator: Any, run_path: Path, should_stop: Callable[[], bool]
    ) -> GanEngine:
        """The engine for one run: builds the discriminator and its optimizer; on resume, reloads them."""
        from kproto.compile import resolve_optimizer
        from kproto.models.gan import build_discriminator
        from kproto.runs import check_model_file

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
        saved = Path(run_path) / "discriminator.keras"
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
            raise KprotoError("a conditional GAN needs the class labels of its rows", field="data.target")
        codes = np.asarray(y).reshape(len(y), -1)[:, 0].astype(int)
        return flat, np.eye(self.classes, dtype=np.float32)[codes]

    def train_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray | None,
        order: np.ndarray,
        sample_weight: np.ndarray | None = None,
        on_progress: Callable[[int, int], None] | None = None,
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
        self.interrupted = self.should_stop()
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
        from kproto.runs import save_model_atomic

        save_model_atomic(self.discriminator, self.run_path / "discriminator.keras")
        if epoch % self.samples_every == 0 or epoch == epochs:
            self.write_samples(self.run_path / "samples" / f"epoch-{epoch:03d}.png", f"epoch {epoch}")

    def write_samples(self, path: Path, title: str = "") -> Path:
        """A grid from fixed noise (one row per class for a conditional GAN), so grids of different epochs compare."""
        path.parent.mkdir(parents=True, exist_ok=True)
        count = GRID_COLUMNS * min(self.classes or GRID_COLUMNS, GRID_COLUMNS)
        labels = np.arange(count) // GRID_COLUMNS if self.classes else None
        x, labels = generate(self.generator, self.info, count, self.seed + 2, labels)
        names = [self.info.class_names[i] for i in labels] if labels is not None and self.info.class_names else None
        return sample_grid(x, self.info, self.pre, path, title, names)


# ----------------------------------------------------------------------------- evaluation
def generation_metrics(generator: Any, dataset: Any, count: int = JUDGE_SAMPLES) -> dict[str, Any]:
    """How generated rows compare with the real test rows: gaps in per-feature mean and spread, and how close
    generated rows come to the training rows (against the same distance for real test rows)."""
    real = dataset.x_test if len(dataset.x_test) else dataset.x_train
    fake, _ = generate(generator, dataset.info, count, 12345)
    fake_flat, real_flat = fake.reshape(len(fake), -1), real.reshape(len(real), -1)
    train = dataset.x_train.reshape(len(dataset.x_train), -1)
    stats = {
        "mean_gap": float(np.mean(np.abs(fake_flat.mean(axis=0) - real_flat.mean(axis=0)))),
        "std_gap": float(np.mean(np.abs(fake_flat.std(axis=0) - real_flat.std(axis=0)))),
        "generated_to_train_rms": _nearest_rms(fake_flat, train),
        "test_to_train_rms": _nearest_rms(real_flat, train),
    }
    return {"train": {}, "validation": {}, "test": stats, "report": {"samples": count}}


def _nearest_rms(rows: np.ndarray, reference: np.ndarray) -> float:
    """Mean over `rows` of the root-mean-square difference to the nearest reference row."""
    ref_sq = np.sum(reference**2, axis=1)
    best = []
    for start in range(0, len(rows), 512):
        chunk = rows[start : start + 512]
        distance = np.sum(chunk**2, axis=1)[:, None] - 2 * chunk @ reference.T + ref_sq[None, :]
        best.append(np.sqrt(np.maximum(distance.min(axis=1), 0.0) / rows.shape[1]))
    return float(np.mean(np.concatenate(best))) if best else 0.0


def judge_samples(
    run: Any, generator: Any, judge: Path, trust: bool = False, count: int = JUDGE_SAMPLES
) -> tuple[dict[str, float], dict[str, int]]:
    """Score `count` generated samples with a classifier run: mean top-class probability, classes present, histogram.

    Samples are mapped back to raw column values with the GAN run's preprocessing, then go through the judge's own.
    """
    from kproto.data import Preprocessor, transform_rows
    from kproto.runs import load_keras_model, load_run

    judged = load_run(judge)
    if judged.info.task != "classification":
        raise KprotoError(
            f"the judge {judge} is a {judged.info.task} run; it must be a classifier",
            field="--judge",
            hint="train a classifier on the same columns, e.g. kproto train recipes/digits_cnn.yaml",
        )
    gan_pre, judge_pre = Preprocessor.from_dict(run.preprocess), Preprocessor.from_dict(judged.preprocess)
    missing = [c for c in judge_pre.state.get("features", []) if c not in gan_pre.state.get("features", [])]
    if missing:
        raise KprotoError(
            f"the judge needs column(s) the GAN does not generate: {', '.join(missing[:5])}",
            field="--judge",
            hint="judge with a classifier trained on the same feature columns",
        )
    model = load_keras_model(judged.model_path, trust=trust, compile=False)
    x, labels = generate(generator, run.info, count, run.recipe.seed + 3)
    judge_x, _ = transform_rows(judge_pre, inverse_features(gan_pre, x), need_target=False)
    probabilities = np.asarray(model.predict(judge_x, batch_size=256, verbose=0))
    predicted = probabilities.argmax(axis=1)
    names = [str(c) for c in (judged.info.class_names or range(probabilities.shape[1]))]
    counts = np.bincount(predicted, minlength=len(names))
    metrics = {
        "judge_mean_top_probability": float(probabilities.max(axis=1).mean()),
        "judge_classes_present": int(np.count_nonzero(counts)),
        "judge_classes": len(names),
        "judge_samples": count,
    }
    if labels is not None and run.info.class_names:
        asked = np.asarray([str(run.info.class_names[i]) for i in labels])
        metrics["judge_agrees_with_condition"] = float(np.mean(asked == np.asarray(names)[predicted]))
    return metrics, {f"judged_{name}": int(n) for name, n in zip(names, counts, strict=True)}


def evaluate_generator(run: Any, generator: Any, judge: Path | None = None, trust: bool = False) -> Any:
    """`kproto evaluate` for a GAN run: sample statistics against its test split, and the judge's verdict."""
    from kproto.data import Preprocessor, load_dataset
    from kproto.evaluate import Evaluation

    dataset = load_dataset(run.recipe, Preprocessor.from_dict(run.preprocess))
    results = generation_metrics(generator, dataset)
    metrics = dict(results["test"])
    report: dict[str, Any] = {}
    if judge is not None:
        verdict, histogram = judge_samples(run, generator, Path(judge), trust)
        metrics.update(verdict)
        report.update(histogram)
    return Evaluation(source="generated samples vs test split", metrics=metrics, report=report, task="generation")


@dataclass
class Samples:
    """Generated rows: raw columns (+ the label column when conditional), the scaled samples, their labels."""

    frame: Any
    x: np.ndarray
    labels: list[Any] | None
    info: Any
    pre: Any

    def grid(self, path: Path, title: str = "") -> Path:
        return sample_grid(self.x, self.info, self.pre, path, title, self.labels)


def sample_run(path: Path, count: int, trust: bool = False, seed: int | None = None) -> Samples:
    """`count` generated rows of a GAN run (seeded by the run's seed unless `seed` is given)."""
    from kproto.data import Preprocessor
    from kproto.runs import load_keras_model, load_run

    run = load_run(path)
    if run.info.task != "generation":
        raise KprotoError(
            f"{run.path} is a {run.info.task} run; --samples needs a GAN run",
            field="--samples",
            hint="use --data FILE to predict with this model",
        )
    generator = load_keras_model(run.model_path, trust=trust, compile=False)
    pre = Preprocessor.from_dict(run.preprocess)
    x, labels = generate(generator, run.info, count, run.recipe.seed if seed is None else seed)
    frame = inverse_features(pre, x)
    names = None
    if labels is not None:
        names = [run.info.class_names[i] for i in labels]
        frame[pre.state.get("target", {}).get("name", "label")] = names
    return Samples(frame, x, names, run.info, pre)
