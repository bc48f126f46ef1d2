"""kproto.data.windows: `length` consecutive rows of one series in, the `horizon` values after them out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kproto.core.errors import DataError
from kproto.data.preprocess import Preprocessor
from kproto.recipe.schema import Data


def _pre(frame: pd.DataFrame, length: int, horizon: int, stride: int = 1) -> Preprocessor:
    spec = Data(path="x.csv", target="y", window={"length": length, "horizon": horizon, "stride": stride})
    return Preprocessor.fit(frame, np.arange(len(frame)), spec, "regression", "window", ["y"])


@pytest.mark.parametrize(
    ("length", "horizon", "stride", "count"), [(3, 1, 1, 8), (3, 2, 2, 4), (10, 1, 1, 1), (11, 1, 1, 0), (3, 4, 1, 5)]
)
def test_windows_and_their_targets(length: int, horizon: int, stride: int, count: int) -> None:
    from kproto.data.windows import make_windows

    frame = pd.DataFrame({"y": np.arange(11, dtype=float) * 10})
    x, y, last = make_windows(_pre(frame, length, horizon, stride), frame, length, horizon, stride)
    assert x.shape == (count, length, 1) and y is not None and y.shape == (count, horizon)
    if count:
        # the most recent window is always kept; the others step back from it by `stride`
        assert y[-1, -1] == 100.0 and last[-1] == 10 * (10 - horizon)
        assert list(y[0]) == [10.0 * (length + h) for h in range(horizon)] or stride > 1
        assert np.allclose(np.diff(x[0, :, 0]), np.diff(x[0, :, 0])[0])  # consecutive rows, one scale


@pytest.mark.parametrize(
    ("start", "stop", "first", "last", "expected"),
    [
        (0, 20, 0, 20, list(range(3, 17))),  # every window of the series (length 4, horizon 3)
        (0, 20, 14, 20, [13, 14, 15, 16]),  # targets from row 14 on: the inputs reach back before it
        (0, 20, 0, 10, [3, 4, 5, 6]),  # targets before row 10 only
        (10, 20, 10, 20, [13, 14, 15, 16]),  # a second series at rows 10..19: never before its start
        (0, 5, 0, 5, []),  # too short
    ],
)
def test_origins_between_keep_windows_inside_a_series_and_targets_inside_a_split(
    start: int, stop: int, first: int, last: int, expected: list[int]
) -> None:
    from kproto.data.windows import origins_between

    assert origins_between(start, stop, first, last, 4, 3, 1).tolist() == expected


def test_the_most_recent_window_anchors_the_stride() -> None:
    from kproto.data.windows import origins_between

    assert origins_between(0, 20, 0, 20, 4, 1, 5).tolist() == [3, 8, 13, 18]


def test_last_windows_need_a_whole_window_per_series() -> None:
    from kproto.data.series import order_rows
    from kproto.data.windows import last_windows, model_inputs

    frame = pd.DataFrame({"y": np.arange(10, dtype=float), "s": ["a"] * 6 + ["b"] * 4})
    pre = _pre(frame, 5, 2)
    pre.state["series"] = {"column": "s"}
    ordered = order_rows(frame, None, "s", ["y"])
    with pytest.raises(DataError, match="the last 5 rows of the series; the data has 4 of series 'b'"):
        last_windows(pre, ordered, model_inputs(pre, ordered))
    ordered = order_rows(frame.iloc[:6], None, "s", ["y"])
    windows = last_windows(pre, ordered, model_inputs(pre, ordered))
    assert windows.history.tolist() == [[1.0, 2.0, 3.0, 4.0, 5.0]] and windows.keys.tolist() == ["a"]
