"""Predictions for raw rows, decoded back to the original labels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kproto.core import catalog
from kproto.core.options import DecodingOptions

if TYPE_CHECKING:
    from kproto.data.preprocess import Preprocessor
    from kproto.data.types import DataInfo
    from kproto.outputs.answers import Answering


def predict_frame(
    model: Any,
    pre: Preprocessor,
    info: DataInfo,
    frame: pd.DataFrame,
    batch_size: int = 256,
    keep_columns: bool = True,
    encode: bool = False,
    decoding: DecodingOptions = DecodingOptions(),
    answering: Answering | None = None,
) -> pd.DataFrame:
    """A DataFrame of predictions (plus the input columns when rows line up one to one).

    Classifiers: calibrated probabilities and the run's threshold (`answering.decisions`; without `answering`, the
    model's raw probabilities); with `answering.coverage`, a `prediction_set` column of labels joined by '|'
    (regression: `lower` and `upper`) from the run's conformal scores.

    For an autoencoder: the per-row reconstruction error (an anomaly score), and with `encode` the bottleneck
    codes as columns code_0 … code_{k-1}. For seq2seq: the generated text (`decoding`: greedy, or beam
    search; by default the run's own). For a recommender: the predicted rating, or the interaction score of implicit feedback.
    """
    from kproto.data import transform_rows

    if pre.kind == catalog.WINDOW:  # every window whose future the rows hold, labelled with the time of each step
        from kproto.commands.forecasting import in_sample_forecasts

        def call(x: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))

        if answering is None:
            return in_sample_forecasts(call, pre, frame)
        return in_sample_forecasts(call, pre, frame, answering.conformal, answering.coverage)
    x, _ = transform_rows(pre, frame, need_target=False)
    if pre.kind == catalog.PAIRS:  # the generated text beside each input row
        generated = pd.DataFrame({"prediction": _generated(model, pre, x, decoding)})
        return pd.concat([frame.reset_index(drop=True), generated], axis=1) if keep_columns else generated
    if info.targets:  # several targets: prediction_<target> and p_<target>_<label> columns
        from kproto.outputs.targets import target_frame

        outputs = model.predict(x, batch_size=batch_size, verbose=0)
        return target_frame(outputs, info, pre, frame, answering, keep_columns)
    outputs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    result = pd.DataFrame(index=range(len(x)))
    if info.task in (catalog.CLASSIFICATION, catalog.REGRESSION, catalog.RANKING):
        from kproto.metrics.calibration import Calibration, Decisions
        from kproto.outputs.answers import Answering, answer_frame

        answering = answering or Answering(Decisions(Calibration("none"), None, False))
        result = answer_frame(
            outputs, x, info, pre.decode, answering.decisions, answering.conformal, answering.coverage
        )
    elif info.task == catalog.RECONSTRUCTION:
        flat_in, flat_out = x.reshape(len(x), -1), outputs.reshape(len(x), -1)
        result["reconstruction_error"] = np.mean((flat_out - flat_in) ** 2, axis=1)
        if encode:
            from kproto.models.autoencoder import encoder

            codes = np.asarray(encoder(model).predict(x, batch_size=batch_size, verbose=0)).reshape(len(x), -1)
            for i in range(codes.shape[1]):
                result[f"code_{i}"] = codes[:, i]
    if keep_columns and len(x) == len(frame) and pre.kind != catalog.WINDOW:
        inputs = frame.reset_index(drop=True)
        result = pd.concat([inputs, result.drop(columns=[c for c in result if c in inputs])], axis=1)
    return result


def _generated(model: Any, pre: Preprocessor, x: np.ndarray, decoding: DecodingOptions) -> list[str]:
    """The generated target text of each packed seq2seq input row."""
    from kproto.data.pairs import PairEncoder
    from kproto.outputs.applications import predictor
    from kproto.outputs.decoding import decode

    encoder = PairEncoder.from_dict(pre.state["pairs"])
    options = decoding.resolved(pre.state.get("decoding", {}))
    ids = decode(predictor(model), encoder.split_sources(x), encoder.target_length, options)
    return [encoder.target_text(row) for row in ids]


def predict_run(
    path: Path,
    data: Path,
    trust: bool = False,
    encode: bool = False,
    decoding: DecodingOptions = DecodingOptions(),
    coverage: float | None = None,
) -> pd.DataFrame:
    """Load a run and predict on the raw rows of `data` (`encode`: add an autoencoder's codes; `decoding`: how a
    seq2seq run generates; `coverage`: add conformal prediction sets or intervals). `attrs["input_warnings"]` of
    the result counts the unseen categories and imputed cells (None: there were none)."""
    from kproto.data import Preprocessor
    from kproto.data.readers import read_table
    from kproto.runs.load import load_keras_model, load_run

    run = load_run(path)
    if encode and run.info.task != catalog.RECONSTRUCTION:
        from kproto.core.errors import KprotoError

        raise KprotoError(f"--encode outputs autoencoder codes; {run.path} is a {run.info.task} run", field="--encode")
    if run.info.task == catalog.GENERATION:
        from kproto.core.errors import KprotoError

        raise KprotoError(
            f"{run.path} is a GAN run: it generates rows instead of predicting",
            field="--data",
            hint="use kproto predict RUN --samples N [--out FILE]",
        )
    from kproto.outputs.answers import Answering, run_decisions

    if run.info.targets:  # several targets: each one's decisions and conformal scores
        from kproto.outputs.targets import target_answering

        answering: Any = target_answering(run, coverage)
    else:
        decisions, conformal = run_decisions(run, coverage)
        answering = Answering(decisions, conformal, coverage)
    model = load_keras_model(run.model_path, trust=trust, compile=False)
    frame = read_table(data, encoding=run.recipe.data.encoding)
    result = predict_frame(
        model,
        Preprocessor.from_dict(run.preprocess),
        run.info,
        frame,
        encode=encode,
        decoding=decoding,
        answering=answering,
    )
    from kproto.data.preprocess import input_problems, problems_summary

    result.attrs["input_warnings"] = problems_summary(input_problems(run.preprocess, frame))
    return result


def _recommender_run(path: Path, trust: bool, flag: str) -> tuple[Any, Any, Any, Any]:
    """A recommender run's model, preprocessing and interaction encoder; a KprotoError naming `flag` otherwise."""
    from kproto.core.errors import KprotoError
    from kproto.data import Preprocessor
    from kproto.data.interactions import InteractionEncoder
    from kproto.runs.load import load_keras_model, load_run

    run = load_run(path)
    if run.info.kind != catalog.INTERACTIONS:
        raise KprotoError(
            f"{flag} lists items of a recommender run; {run.path} is a {run.recipe.model.type} run",
            field=flag,
            hint="use kproto predict RUN --data FILE",
        )
    model = load_keras_model(run.model_path, trust=trust, compile=False)
    pre = Preprocessor.from_dict(run.preprocess)
    return run, model, pre, InteractionEncoder.from_dict(pre.state["interactions"])


def recommend_run(path: Path, user: str, top: int, trust: bool = False) -> pd.DataFrame:
    """The `top` items a recommender run scores highest for `user`, leaving out the items it saw in training
    (the training split is read again from the run's data file). An unknown user gets the unknown-user slot."""
    from kproto.data import load_dataset
    from kproto.outputs.applications import predictor
    from kproto.outputs.recommend import recommend_for_user

    run, model, pre, encoder = _recommender_run(path, trust, "--user")
    train = load_dataset(run.recipe, pre).split("train")
    return pd.DataFrame(recommend_for_user(predictor(model), encoder, train, user, top))


def similar_run(path: Path, item: str, top: int, trust: bool = False) -> pd.DataFrame:
    """The `top` items whose learned embeddings are nearest (cosine) to `item`'s."""
    from kproto.models.recommender import item_embeddings
    from kproto.outputs.recommend import similar_items

    _, model, _, encoder = _recommender_run(path, trust, "--similar")
    return pd.DataFrame(similar_items(item_embeddings(model), encoder, item, top))
