"""Predictions for raw rows, decoded back to the original labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def predict_frame(
    model: Any,
    pre: Any,
    info: Any,
    frame: pd.DataFrame,
    batch_size: int = 256,
    keep_columns: bool = True,
    encode: bool = False,
    logits: bool = False,
) -> pd.DataFrame:
    """A DataFrame of predictions (plus the input columns when rows line up one to one).

    For an autoencoder: the per-row reconstruction error (an anomaly score), and with `encode` the bottleneck
    codes as columns code_0 … code_{k-1}.
    """
    from kproto.data import transform_rows

    x, _ = transform_rows(pre, frame, need_target=False)
    outputs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    result = pd.DataFrame(index=range(len(x)))
    if info.task == "classification":
        if logits:  # a from_logits model outputs raw scores: report probabilities
            shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
            outputs = shifted / shifted.sum(axis=1, keepdims=True)
        result["prediction"] = pre.decode(outputs.argmax(axis=1))
        for i, name in enumerate(info.class_names or range(outputs.shape[1])):
            result[f"p_{name}"] = outputs[:, i]
    elif info.task == "regression":
        result["prediction"] = outputs.reshape(len(x), -1)[:, 0]
    elif info.task == "reconstruction":
        flat_in, flat_out = x.reshape(len(x), -1), outputs.reshape(len(x), -1)
        result["reconstruction_error"] = np.mean((flat_out - flat_in) ** 2, axis=1)
        if encode:
            from kproto.models.autoencoder import encoder

            codes = np.asarray(encoder(model).predict(x, batch_size=batch_size, verbose=0)).reshape(len(x), -1)
            for i in range(codes.shape[1]):
                result[f"code_{i}"] = codes[:, i]
    if keep_columns and len(x) == len(frame) and pre.kind != "window":
        inputs = frame.reset_index(drop=True)
        result = pd.concat([inputs, result.drop(columns=[c for c in result if c in inputs])], axis=1)
    return result


def predict_run(path: Path, data: Path, trust: bool = False, encode: bool = False) -> pd.DataFrame:
    """Load a run and predict on the raw rows of `data` (`encode`: add an autoencoder's codes)."""
    from kproto.data import Preprocessor
    from kproto.data.readers import read_table
    from kproto.runs.load import load_keras_model, load_run

    run = load_run(path)
    if encode and run.info.task != "reconstruction":
        from kproto.errors import KprotoError

        raise KprotoError(f"--encode outputs autoencoder codes; {run.path} is a {run.info.task} run", field="--encode")
    if run.info.task == "generation":
        from kproto.errors import KprotoError

        raise KprotoError(
            f"{run.path} is a GAN run: it generates rows instead of predicting",
            field="--data",
            hint="use kproto predict RUN --samples N [--out FILE]",
        )
    model = load_keras_model(run.model_path, trust=trust, compile=False)
    frame = read_table(data)
    return predict_frame(
        model,
        Preprocessor.from_dict(run.preprocess),
        run.info,
        frame,
        encode=encode,
        logits=run.metrics.get("outputs") == "logits",
    )
