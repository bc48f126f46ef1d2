"""GAN runs after training: `kproto predict --samples` and `kproto evaluate` (statistics and --judge).

Sampling itself belongs to the family in kproto.models.gan (the generator's input layout, seeded noise, `generate`,
samples mapped back to the data's columns and drawn), which the GAN engine uses during training too; this module
loads runs and judges their samples against the test split or a classifier run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog
from kproto.core.errors import KprotoError
from kproto.models.gan import draw_samples, generate, inverse_features
from kproto.training.scoring import JUDGE_SAMPLES, generation_metrics

if TYPE_CHECKING:
    from kproto.data.preprocess import Preprocessor
    from kproto.data.types import DataInfo
    from kproto.runs.load import LoadedRun


# ----------------------------------------------------------------------------- judging
def judge_samples(
    run: LoadedRun, generator: Any, judge: Path, trust: bool = False, count: int = JUDGE_SAMPLES
) -> tuple[dict[str, float], dict[str, int]]:
    """Score `count` generated samples with a classifier run: mean top-class probability, classes present, histogram.

    Samples are mapped back to raw column values with the GAN run's preprocessing, then go through the judge's own.
    """
    from kproto.data import Preprocessor, transform_rows
    from kproto.runs.load import load_keras_model, load_run

    judged = load_run(judge)
    if judged.info.task != catalog.CLASSIFICATION:
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
    run: LoadedRun, generator: Any, judge: Path | None = None, trust: bool = False
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
    info: DataInfo
    pre: Preprocessor

    def grid(self, path: Path, title: str = "") -> Path:
        """The samples as a PNG (see draw_samples)."""
        return draw_samples(self.x, self.info, self.pre, path, title, self.labels)


def sample_run(path: Path, count: int, trust: bool = False, seed: int | None = None) -> Samples:
    """`count` generated rows of a GAN run (seeded by the run's seed unless `seed` is given)."""
    from kproto.data import Preprocessor
    from kproto.runs.load import load_keras_model, load_run

    run = load_run(path)
    if run.info.task != catalog.GENERATION:
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
