"""kproto.models.inputs: one Keras model over named inputs, built (not trained) from a DataInfo of several parts."""

from __future__ import annotations

import numpy as np
import pytest

from kproto.core.errors import KprotoError, RecipeError
from kproto.data.types import DataInfo
from kproto.models import build_model
from kproto.recipe.schema import MODEL_CLASSES

PARTS = [
    {"name": "text", "shape": [6], "dtype": "int32", "vocab": 20},
    {"name": "tabular", "shape": [2], "dtype": "float32"},
    {"name": "categorical", "shape": [2], "dtype": "int32", "vocab": 5},
]


def info(parts: list[dict] = PARTS) -> DataInfo:
    width = sum(int(np.prod(p["shape"])) for p in parts)
    return DataInfo(task="classification", kind="mixed", input_shape=(width,), num_classes=3, inputs=parts)


def spec(**fields: object):
    return MODEL_CLASSES[fields["type"]].model_validate(fields)


@pytest.mark.parametrize("combine", ["concat", "gated", "attention"])
def test_each_combination_builds_and_answers_packed_rows(combine: str) -> None:
    model = build_model(spec(type="feedforward", units=[4], combine=combine), info())
    inner = model.get_layer("feedforward_inputs")
    assert sorted(t.name for t in inner.inputs) == ["categorical", "tabular", "text"]
    rows = np.array([[1, 2, 3, 0, 0, 0, 0.5, -1.0, 1, 4]] * 3, np.float32)
    out = np.asarray(model.predict(rows, verbose=0))
    assert out.shape == (3, 3) and np.allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_a_sequence_family_encodes_the_text_with_its_own_network() -> None:
    model = build_model(spec(type="gru", units=[3]), info())
    encoder = model.get_layer("gru_inputs").get_layer("text_encoder")
    assert "gru_0" in {layer.name for layer in encoder.layers}
    assert "output" not in {layer.name for layer in encoder.layers}  # the head is left out


def test_an_image_part_gets_the_cnn_network_and_the_tower_its_units() -> None:
    parts = [{"name": "image", "shape": [8, 8, 1], "dtype": "float32"}, PARTS[1]]
    model = build_model(spec(type="lstm", units=[2], inputs={"tabular": {"units": [5]}}), info(parts))
    inner = model.get_layer("lstm_inputs")
    assert "block0_conv0" in {layer.name for layer in inner.get_layer("image_encoder").layers}
    assert inner.get_layer("tabular_dense_0").units == 5


def test_a_family_of_one_input_is_refused_naming_data_features() -> None:
    with pytest.raises(RecipeError) as error:
        build_model(spec(type="sequential", layers=[{"Dense": {"units": 2}}]), info())
    assert error.value.field == "data.features" and "text, tabular, categorical" in error.value.message


def test_augmentation_and_attacks_are_refused_for_several_inputs() -> None:
    from kproto.recipe.schema import Augment
    from kproto.robust.attacks import check_attack
    from kproto.training.augment import augmentation_layers

    with pytest.raises(RecipeError, match="several inputs"):
        augmentation_layers(Augment(noise=0.1), info())
    with pytest.raises(KprotoError, match="several inputs"):
        check_attack("fgsm", 0.1, 1, "mixed", "classification")
