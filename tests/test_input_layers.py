"""kproto.models.input_layers.SplitInputs: one packed array cut into named inputs, saved and loaded in safe mode."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from kproto.data.inputs import pack
from kproto.models.input_layers import SplitInputs

PARTS = [
    {"name": "text", "shape": [3], "dtype": "int32"},
    {"name": "image", "shape": [2, 2, 1], "dtype": "float32"},
]


def test_split_gives_each_part_its_shape_and_dtype():
    text = np.array([[1, 2, 3], [4, 5, 0]], np.int32)
    image = np.arange(8, dtype=np.float32).reshape(2, 2, 2, 1) / 10
    packed = pack({"text": text, "image": image})
    pieces = SplitInputs(PARTS)(packed)
    assert keras.ops.convert_to_numpy(pieces[0]).dtype == np.int32
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(pieces[0]), text)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pieces[1]), image)


def test_a_model_with_the_layer_saves_and_loads_in_safe_mode(tmp_path: Path):
    packed = keras.Input(shape=(7,))
    text, image = SplitInputs(PARTS, name="split_inputs")(packed)
    tokens = keras.layers.Flatten()(keras.layers.Embedding(10, 2)(text))
    out = keras.layers.Concatenate()([tokens, keras.layers.Flatten()(image)])
    model = keras.Model(packed, out)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(0).integers(0, 9, (2, 7)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_layer("split_inputs").parts == PARTS
