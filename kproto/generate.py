"""GAN runs after training: generated rows in the original columns, pictures of them, and how good they are.

Sampling itself (the generator's input layout, seeded noise, `generate`) belongs to the family in
kproto.models.gan; this module maps samples back to the data's columns, draws them, and judges them against the
test split or a classifier run. It depends only on models, data, runs and plots, so the GAN engine uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kproto.errors import KprotoError
from kproto.models.gan import generate

JUDGE_SAMPLES = 1000  # samples scored by `kproto evaluate` (statistics and the judge)
TABLE_ROWS, TABLE_COLUMNS = 12, 8  # how much of a tabular sample a picture shows


def inverse_features(pre: Any, x: np.ndarray) -> Any:
    """Scaled model inputs → a DataFrame of the original feature columns (pixels or numeric/categorical columns)."""
    import pandas as pd

    flat = x.reshape(len(x), -1)
    if pre.kind == "image":
        image = pre.state["image"]
        values = flat * ((image["max"] - image["min"]) or 1.0) + image["min"]
        return pd.DataFrame(np.round(values, 4), columns=list(pre.state["features"]))
    if pre.kind != "tabular":
        raise KprotoError(
            f"samples of {pre.kind} data cannot be mapped back to columns",
            field="model.type",
            hint="a GAN generates tabular rows or images",
        )
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


def draw_samples(
    x: np.ndarray, info: Any, pre: Any, path: Path, title: str = "", labels: list[Any] | None = None
) -> Path:
    """A PNG of generated samples: an image grid (rows of 10), or the first rows as a table of original values."""
    from kproto import plots

    if info.kind == "image" and len(info.input_shape) == 3:
        return plots.image_rows(x, path, title, labels)
    frame = inverse_features(pre, x[:TABLE_ROWS]).iloc[:, :TABLE_COLUMNS]
    if labels is not None:
        frame.insert(0, "label", [str(v) for v in labels[:TABLE_ROWS]])
    return plots.table(frame, path, title)


def class_names(info: Any, labels: np.ndarray | None) -> list[Any] | None:
    """The class name of each conditioned label (None for an unconditional generator or unnamed classes)."""
    if labels is None or not info.class_names:
        return None
    return [info.class_names[i] for i in labels]


# ----------------------------------------------------------------------------- judging
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
        "generated_to_train_rms": nearest_rms(fake_flat, train),
        "test_to_train_rms": nearest_rms(real_flat, train),
    }
    return {"train": {}, "validation": {}, "test": stats, "report": {"samples": count}}


def nearest_rms(rows: np.ndarray, reference: np.ndarray) -> float:
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
    from kproto.runs.load import load_keras_model, load_run

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


def evaluate_generator(
    run: Any, generator: Any, judge: Path | None = None, trust: bool = False
) -> tuple[dict[str, float], dict[str, Any]]:
    """`kproto evaluate` for a GAN run: (metrics, report) of sample statistics against its test split and, with
    `judge`, the classifier run's verdict and its histogram of predicted classes."""
    from kproto.data import Preprocessor, load_dataset

    dataset = load_dataset(run.recipe, Preprocessor.from_dict(run.preprocess))
    metrics = dict(generation_metrics(generator, dataset)["test"])
    report: dict[str, Any] = {}
    if judge is not None:
        verdict, histogram = judge_samples(run, generator, Path(judge), trust)
        metrics.update(verdict)
        report.update(histogram)
    return metrics, report


# ----------------------------------------------------------------------------- sampling a run
@dataclass
class Samples:
    """Generated rows: raw columns (+ the label column when conditional), the scaled samples, their labels."""

    frame: Any
    x: np.ndarray
    labels: list[Any] | None
    info: Any
    pre: Any

    def grid(self, path: Path, title: str = "") -> Path:
        """The samples as a PNG (see draw_samples)."""
        return draw_samples(self.x, self.info, self.pre, path, title, self.labels)


def sample_run(path: Path, count: int, trust: bool = False, seed: int | None = None) -> Samples:
    """`count` generated rows of a GAN run (seeded by the run's seed unless `seed` is given)."""
    from kproto.data import Preprocessor
    from kproto.runs.load import load_keras_model, load_run

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
