"""kproto.data.windows: consecutive rows in, the value `horizon` steps after the window out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kproto.data.preprocess import Preprocessor
from kproto.recipe.schema import Data


def _pre(frame: pd.DataFrame, target: str | None) -> Preprocessor:
    spec = Data(path="x.csv", target=target, window={"length": 3})
    features = [c for c in frame.columns if c != target]
    return Preprocessor.fit(frame, np.arange(len(frame)), spec, "regression", "window", features)


@pytest.mark.parametrize(
    ("length", "horizon", "stride", "count"), [(3, 1, 1, 8), (3, 2, 2, 4), (10, 1, 1, 1), (11, 1, 1, 0)]
)
def test_windows_and_their_targets(length: int, horizon: int, stride: int, count: int) -> None:
    from kproto.data.windows import make_windows

    frame = pd.DataFrame({"t": np.arange(11, dtype=float), "y": np.arange(11, dtype=float) * 10})
    x, y, last = make_windows(_pre(frame, "y"), frame, length, horizon, stride)
    assert x.shape == (count, length, 1) and y is not None and len(y) == count
    if count:
        assert y[0] == 10 * (length - 1 + horizon) and last[0] == 10 * (length - 1)
        assert np.allclose(np.diff(x[0, :, 0]), np.diff(x[0, :, 0])[0])  # consecutive rows, one scale


def test_without_the_target_every_window_is_kept() -> None:
    from kproto.data.windows import make_windows

    frame = pd.DataFrame({"t": np.arange(6, dtype=float), "y": np.arange(6, dtype=float)})
    pre = _pre(frame, "y")
    x, y, last = make_windows(pre, frame.drop(columns="y"), 3, 1, 1)
    assert x.shape == (4, 3, 1) and y is None and last is None
