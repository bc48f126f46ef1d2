"""Time-series windows: each input is `length` consecutive rows, the target `horizon` steps later."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kproto.data.preprocess import Preprocessor


def make_windows(
    pre: Preprocessor, frame: pd.DataFrame, length: int, horizon: int, stride: int, missing: str = "impute"
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(windows [n, length, features], targets [n] or None, the target's last value in each window or None).

    Rows stay in their order; scaling uses the preprocessor's training statistics.
    """
    scaled = pre.features(frame, missing)
    target = pre.state.get("target")
    has_target = target is not None and target["name"] in frame.columns
    raw_target = pre.targets(frame) if has_target else None
    starts = (
        np.arange(0, len(frame) - length - horizon + 1, stride)
        if has_target
        else np.arange(0, len(frame) - length + 1, stride)
    )
    if len(starts) == 0:
        return (
            np.zeros((0, length, scaled.shape[1]), np.float32),
            (np.zeros(0, np.float32) if has_target else None),
            None,
        )
    index = starts[:, None] + np.arange(length)[None, :]
    x = scaled[index].astype(np.float32)
    if not has_target:
        return x, None, None
    y = raw_target[starts + length - 1 + horizon]
    last = raw_target[starts + length - 1]
    return x, y, last
