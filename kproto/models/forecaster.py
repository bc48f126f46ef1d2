"""A forecaster of windows normalised per window: any family's network sees each window relative to its own last
value (in units of its mean absolute step) and predicts the next steps in the same units; the forecasts are then
put back at the window's level. A trending series can leave the training range without leaving the network's.

With `data.window.linear`, a linear autoregressive path (one Dense layer over the window's relative target) is
added to the network's output, so the network learns what a linear forecast misses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


def window_forecaster(builder: Callable[[Any, Any], Any], spec: Any, info: Any) -> Any:
    """inputs → WindowNormalize → family network (+ linear path) → WindowRestore → [batch, horizon]."""
    import keras

    from kproto.models.layers import TargetChannel, WindowNormalize, WindowRestore

    channel = int(info.forecast.get("channel", 0))
    horizon = int(info.output_dim)
    inner_info = dataclasses.replace(info, target_mean=0.0, target_std=1.0)
    network = builder(spec, inner_info)
    inputs = keras.Input(shape=tuple(info.input_shape), name="window")
    relative = WindowNormalize(channel, name="window_normalize")(inputs)
    outputs = network(relative)
    if info.forecast.get("linear", True):
        history = TargetChannel(channel, name="target_history")(relative)
        linear = keras.layers.Dense(horizon, dtype="float32", name="linear_ar")(history)
        outputs = keras.layers.Add(name="network_plus_linear")([outputs, linear])
    restored = WindowRestore(channel, info.target_mean, info.target_std, dtype="float32", name="forecast")(
        [outputs, inputs]
    )
    model = keras.Model(inputs, restored, name=f"{spec.type}_forecaster")
    start = info.forecast.get("linear_init")
    if info.forecast.get("linear", True) and start:
        _start_from_linear(model, network, start)
    return model


def _start_from_linear(model: Any, network: Any, start: dict[str, Any]) -> None:
    """The linear path starts at the training windows' ridge solution and the network's output at zero, so
    training begins from the linear forecast and only has to learn what it misses."""
    import numpy as np

    linear = model.get_layer("linear_ar")
    kernel, bias = np.asarray(start["kernel"], np.float32), np.asarray(start["bias"], np.float32)
    if tuple(kernel.shape) == tuple(linear.kernel.shape):
        linear.set_weights([kernel, bias])
    try:
        head = network.get_layer("output_raw")
    except ValueError:
        return
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
