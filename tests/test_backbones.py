"""Backbone sources: classification of model.source, Applications preprocessing, offline errors, and each
source built, trained one epoch with a frozen backbone, then fine-tuned (the loading code is the real one)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from pretrained_cases import bert_preset, changed, digits_run, review_texts, weight_values

from kproto.core.errors import ModelFileError, RecipeError
from kproto.models import backbones
from kproto.models.backbone_loader import load_backbone, text_state


# ----------------------------------------------------------------------------- parsing (no Keras)
@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("mobilenet_v3_small", backbones.APPLICATION),
        ("ResNet50", backbones.APPLICATION),
        ("bert_tiny_en_uncased", backbones.HUB_PRESET),
        ("kaggle://keras/bert/keras/bert_tiny_en_uncased/2", backbones.HUB_PRESET),
        ("hf://google/bert-tiny", backbones.HUB_PRESET),
    ],
)
def test_named_sources(source: str, kind: str) -> None:
    assert backbones.classify_source(source) == kind


def test_path_sources(tmp_path: Path) -> None:
    preset = tmp_path / "preset"
    preset.mkdir()
    (preset / "config.json").write_text("{}")
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text("")
    model = tmp_path / "m.keras"
    model.write_bytes(b"")
    assert backbones.classify_source(str(preset)) == backbones.PRESET_FOLDER
    assert backbones.classify_source(str(run)) == backbones.RUN
    assert backbones.classify_source(str(model)) == backbones.KERAS_FILE
    with pytest.raises(ModelFileError, match="not an existing folder"):
        backbones.classify_source(str(tmp_path / "missing"))
    with pytest.raises(ModelFileError, match="not found"):
        backbones.classify_source(str(tmp_path / "missing.keras"))


def test_latest_completed_run_of_a_folder(tmp_path: Path) -> None:
    for stamp, status in (
        ("20260101-000000", "completed"),
        ("20260102-000000", "completed"),
        ("20260103-000000", "failed"),
    ):
        run = tmp_path / stamp
        run.mkdir()
        (run / "recipe.yaml").write_text("")
        (run / "model.keras").write_bytes(b"x")
        (run / "metrics.json").write_text(json.dumps({"status": status}))
    assert backbones.resolve_run(tmp_path).name == "20260102-000000"
    assert backbones.resolve_run(tmp_path / "20260103-000000").name == "20260103-000000"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="no completed kproto run"):
        backbones.resolve_run(tmp_path / "empty")


def test_file_hash_is_stable(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("one")
    (tmp_path / "b").write_text("two")
    first = backbones.file_hash(tmp_path)
    assert first == backbones.file_hash(tmp_path) and first.startswith("sha256:")
    (tmp_path / "b").write_text("three")
    assert backbones.file_hash(tmp_path) != first


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"source": "some/preset", "weights": "none"}, "Keras Applications sources only"),
        ({"source": "bert_tiny_en_uncased", "lora_rank": 4, "trainable": True}, "trainable: false"),
        ({"source": "bert_tiny_en_uncased", "lora_rank": 4, "fine_tune": {"after_epochs": 1}}, "alternatives"),
        ({"source": "resnet50", "trainable": True, "fine_tune": {"after_epochs": 1}}, "never frozen"),
        ({"source": "resnet50", "trainable": -3}, "greater than or equal to 1"),
        ({"source": "resnet50", "fine_tune": {"after_epochs": 2, "learning_rate_factor": 2}}, "less than or equal"),
    ],
)
def test_spec_rules(fields: dict, message: str) -> None:
    from pydantic import ValidationError

    from kproto.models.pretrained import Pretrained

    with pytest.raises(ValidationError, match=message):
        Pretrained(type="pretrained", **fields)


def test_spec_defaults() -> None:
    from kproto.models.pretrained import Pretrained

    spec = Pretrained(type="pretrained", source="mobilenet_v3_small", trainable=20)
    assert spec.trainable == 20 and spec.weights is None and spec.head.units == [128] and spec.fine_tune is None
    assert Pretrained(type="pretrained", source="x", trainable=True).trainable is True
    assert Pretrained(type="pretrained", source="x", trainable=1).trainable == 1


# ----------------------------------------------------------------------------- Keras, nothing trained
def test_every_application_name_exists() -> None:
    import keras

    for name, (class_name, module, _) in backbones.APPLICATIONS.items():
        assert hasattr(keras.applications, class_name), name
        assert hasattr(getattr(keras.applications, module), "preprocess_input"), name


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "resnet50", "mobilenet_v2", "densenet121"])
def test_affine_matches_preprocess_input(name: str) -> None:
    import importlib

    module = importlib.import_module(f"keras.applications.{backbones.APPLICATIONS[name][1]}")
    matrix, bias = backbones.affine_of(module.preprocess_input)
    pixels = np.random.default_rng(0).uniform(0, 1, size=(2, 5, 5, 3)).astype(np.float32)
    expected = np.asarray(module.preprocess_input(pixels * 255.0))
    np.testing.assert_allclose(pixels @ np.array(matrix) + np.array(bias), expected, rtol=1e-4, atol=1e-3)


def test_named_preset_without_network_fails_fast() -> None:
    from kproto.data.dataset import DataInfo
    from kproto.models.pretrained import Pretrained

    info = DataInfo(task="classification", kind="text", input_shape=(16,), num_classes=2)
    for source in ("bert_tiny_en_uncased", "hf://google/bert-tiny"):
        began = time.monotonic()
        with pytest.raises(ModelFileError, match="needs the network") as caught:
            load_backbone(Pretrained(type="pretrained", source=source), info)
        assert time.monotonic() - began < 20
        assert f"kproto fetch {source} --out DIR" in caught.value.hint


def test_applications_imagenet_without_network_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    from kproto.data.dataset import DataInfo
    from kproto.models.pretrained import Pretrained

    monkeypatch.setattr(backbones, "network_available", lambda host, timeout=3.0: False)
    monkeypatch.setenv("KERAS_HOME", str(Path("/nonexistent-kproto-cache")))
    info = DataInfo(task="classification", kind="image", input_shape=(8, 8, 1), num_classes=3)
    with pytest.raises(ModelFileError, match="needs the network") as caught:
        load_backbone(Pretrained(type="pretrained", source="mobilenet_v3_small"), info)
    assert caught.value.field == "model.weights" and "kproto fetch mobilenet_v3_small" in caught.value.hint


def test_fetch_refuses_local_sources_and_needs_network(tmp_path: Path) -> None:
    (tmp_path / "m.keras").write_bytes(b"")
    with pytest.raises(RecipeError, match="already local"):
        backbones.fetch(str(tmp_path / "m.keras"), tmp_path / "out")
    with pytest.raises(ModelFileError, match="needs the network"):
        backbones.fetch("bert_tiny_en_uncased", tmp_path / "out")


def test_fetch_resaves_a_preset_folder(tmp_path: Path) -> None:
    preset = bert_preset(tmp_path / "preset")
    written = backbones.fetch(str(preset), tmp_path / "copy")
    assert Path(written["written"]) == tmp_path / "copy"
    for name in ("config.json", "model.weights.h5", "tokenizer.json"):
        assert (tmp_path / "copy" / name).is_file()


def test_text_state_round_trip(tmp_path: Path) -> None:
    from kproto.data.hub_text import encode_texts
    from kproto.models.pretrained import Pretrained

    preset = bert_preset(tmp_path / "preset")
    state = text_state(Pretrained(type="pretrained", source=str(preset)), "review", 12)
    json.dumps(state)  # plain JSON, so it lives in preprocess.json
    ids = encode_texts(state, np.array(["good coffee", "this is not great tea"]))
    assert ids.shape == (2, 12) and ids.dtype == np.int32
    assert ids[0, 0] == 2 and ids[0, 3] == 3 and ids[0, 4] == 0  # [CLS] good coffee [SEP] [PAD]...


# ----------------------------------------------------------------------------- every source trains
def _info(kind: str, shape: tuple[int, ...], classes: int = 2):
    from kproto.data.dataset import DataInfo

    return DataInfo(task="classification", kind=kind, input_shape=shape, num_classes=classes)


def _image_case(tmp_path: Path, source: str) -> tuple[dict, object, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(24, 8, 8, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.int32)
    fields: dict = {"source": source}
    if source == "mobilenet_v3_small":
        fields["weights"] = "none"
    return fields, _info("image", (8, 8, 1)), x, y


def _fit(model, x, y, rate: float = 0.05) -> None:
    import keras

    model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)


def _frozen_then_fine_tuned(fields: dict, info, x, y) -> None:
    from kproto.models.pretrained import Pretrained, backbone_of, build, set_phase, trainable_facts

    spec = Pretrained(type="pretrained", head={"units": [8]}, fine_tune={"after_epochs": 1}, **fields)
    model = build(spec, info)
    backbone = backbone_of(model)
    assert trainable_facts(model)["backbone_trainable_layers"] == "none"
    frozen = [weight_values(layer) for layer in backbone.layers]
    head = weight_values(model.get_layer("head_0"))
    _fit(model, x, y)
    assert not any(changed(a, weight_values(layer)) for a, layer in zip(frozen, backbone.layers))
    assert changed(head, weight_values(model.get_layer("head_0")))
    set_phase(model, spec, 2)
    assert trainable_facts(model)["trainable_parameters"] > 0
    unfrozen = [layer for layer in backbone.layers if layer.trainable_weights]
    assert unfrozen
    before = [weight_values(layer) for layer in unfrozen]
    _fit(model, x, y, rate=0.01)
    assert all(changed(a, weight_values(layer)) for a, layer in zip(before, unfrozen))


@pytest.mark.slow
def test_applications_source_trains_and_fine_tunes(tmp_path: Path) -> None:
    _frozen_then_fine_tuned(*_image_case(tmp_path, "mobilenet_v3_small"))


@pytest.mark.slow
def test_applications_local_weights_file(tmp_path: Path) -> None:
    import keras

    from kproto.models.pretrained import Pretrained, backbone_of, build

    donor = keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg")
    donor.save_weights(tmp_path / "mobilenet_v3_small.weights.h5")
    spec = Pretrained(
        type="pretrained", source="mobilenet_v3_small", weights=str(tmp_path / "mobilenet_v3_small.weights.h5")
    )
    model = build(spec, _info("image", (8, 8, 1)))
    for mine, theirs in zip(backbone_of(model).get_weights(), donor.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    with pytest.raises(ModelFileError, match="weights.h5"):
        build(
            Pretrained(type="pretrained", source="mobilenet_v3_small", weights=str(tmp_path / "x.h5")),
            _info("image", (8, 8, 1)),
        )


@pytest.mark.slow
def test_run_source_trains_and_fine_tunes(tmp_path: Path) -> None:
    run = digits_run(tmp_path / "runs" / "digits" / "20260101-000000")
    fields, info, x, y = _image_case(tmp_path, str(run.parent))  # a folder of runs: the latest completed one
    _frozen_then_fine_tuned(fields, info, x, y)
    from kproto.models.pretrained import Pretrained, build

    with pytest.raises(RecipeError, match="takes inputs of shape"):
        build(Pretrained(type="pretrained", source=str(run)), _info("image", (4, 4, 1)))


@pytest.mark.slow
def test_keras_file_source_trains_and_fine_tunes(tmp_path: Path) -> None:
    run = digits_run(tmp_path / "run")
    _frozen_then_fine_tuned(*_image_case(tmp_path, str(run / "model.keras")))


@pytest.mark.slow
def test_preset_folder_text_source_trains_and_fine_tunes(tmp_path: Path) -> None:
    from kproto.data.hub_text import encode_texts
    from kproto.models.pretrained import Pretrained

    preset = bert_preset(tmp_path / "preset")
    texts, labels = review_texts()
    state = text_state(Pretrained(type="pretrained", source=str(preset)), "review", 12)
    x = encode_texts(state, np.array(texts))
    y = np.array([0 if label == "great" else 1 for label in labels], dtype=np.int32)
    _frozen_then_fine_tuned({"source": str(preset)}, _info("text", (12,)), x, y)


@pytest.mark.slow
def test_lora_trains_adapters_only(tmp_path: Path) -> None:
    from kproto.data.hub_text import encode_texts
    from kproto.models.backbone_loader import load_model_file
    from kproto.models.pretrained import Pretrained, backbone_of, build, trainable_facts

    preset = bert_preset(tmp_path / "preset")
    spec = Pretrained(type="pretrained", source=str(preset), lora_rank=2, head={"units": []})
    texts, labels = review_texts()
    x = encode_texts(text_state(spec, "review", 12), np.array(texts))
    y = np.array([0 if label == "great" else 1 for label in labels], dtype=np.int32)
    model = build(spec, _info("text", (12,)))
    facts = trainable_facts(model)
    assert 0 < facts["trainable_parameters"] < facts["frozen_parameters"]
    embedding = backbone_of(model).get_layer("token_embedding")
    before = weight_values(embedding)
    _fit(model, x, y)
    assert not changed(before, weight_values(embedding))
    model.save(tmp_path / "lora.keras")
    again = load_model_file(tmp_path / "lora.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(RecipeError, match="does not support LoRA"):
        build(
            Pretrained(type="pretrained", source="mobilenet_v3_small", weights="none", lora_rank=2),
            _info("image", (8, 8, 1)),
        )


def test_sequences_longer_than_the_backbone_are_refused(tmp_path: Path) -> None:
    from kproto.models.pretrained import Pretrained, build

    preset = bert_preset(tmp_path / "preset", max_sequence_length=32)
    with pytest.raises(RecipeError, match="longer than the backbone's 32 positions") as caught:
        build(Pretrained(type="pretrained", source=str(preset)), _info("text", (64,)))
    assert caught.value.field == "data.sequence_length"


@pytest.mark.parametrize(
    ("sequence_length", "expected", "source"), [(None, 64, "the preset's own limit"), (16, 16, "set")]
)
def test_text_preset_packs_its_own_limit_unless_set(
    tmp_path: Path, sequence_length: int | None, expected: int, source: str
) -> None:
    from types import SimpleNamespace

    from kproto.models.backbone_loader import text_state
    from kproto.models.backbones import PRESET_FOLDER, preset_sequence_limit

    preset = bert_preset(tmp_path / "preset", max_sequence_length=64)
    assert preset_sequence_limit(str(preset), PRESET_FOLDER) == 64
    state = text_state(SimpleNamespace(source=str(preset)), "review", sequence_length)
    assert state["sequence_length"] == expected
    assert state["sequence_length_source"].startswith(source)


def test_preset_without_a_limit_says_so(tmp_path: Path) -> None:
    from kproto.models.backbones import PRESET_FOLDER, preset_sequence_limit

    (tmp_path / "config.json").write_text('{"class_name": "Backbone", "config": {"hidden_dim": 8}}')
    assert preset_sequence_limit(str(tmp_path), PRESET_FOLDER) is None
