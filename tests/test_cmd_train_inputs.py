"""Several inputs end to end (in-process, TensorFlow): text + numeric + categorical columns, and image paths +
numeric, each trained for a few epochs, then predicted, evaluated, served, explained and exported; the refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from helpers import assert_clean_error, metrics, train

from kproto.cli import cli

WORDS = ["good", "bad", "fine", "okay", "great", "poor", "nice", "awful"]


def text_frame(n: int = 160) -> pd.DataFrame:
    """A label that the number carries strongly, the text weakly (the word 'excellent'), the city somewhat."""
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, n)
    text = [" ".join(rng.choice(WORDS, 10)) + (" excellent" if y and rng.random() < 0.6 else "") for y in label]
    city = np.where(
        rng.random(n) < 0.7, np.where(label == 1, "paris", "rome"), rng.choice(["paris", "rome", "oslo"], n)
    )
    return pd.DataFrame(
        {
            "message": text,
            "length": (rng.normal(size=n) + 2.5 * label).round(3),
            "city": city,
            "label": np.where(label == 1, "yes", "no"),
        }
    )


def text_recipe(data: Path, family: str = "feedforward", **model: object) -> dict:
    sizes = {"feedforward": {"units": [16]}, "lstm": {"units": [8]}, "transformer": {"layers": 1, "heads": 2}}
    return {
        "name": "several",
        "seed": 1,
        "data": {"path": str(data), "target": "label", "features": ["message", "length", "city"]},
        "model": {"type": family, **sizes.get(family, {}), **model},
        "train": {"epochs": 3, "batch_size": 16, "optimizer": {"name": "adam", "learning_rate": 0.01}},
    }


@pytest.fixture(scope="module")
def text_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("several")
    text_frame().to_csv(folder / "mixed.csv", index=False)
    return folder / "mixed.csv"


@pytest.fixture(scope="module")
def text_run(text_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    return train(CliRunner(), tmp_path_factory.mktemp("ff"), text_recipe(text_data))


@pytest.mark.slow
def test_feedforward_reads_text_numbers_and_categories_as_named_inputs(text_run: Path) -> None:
    saved = json.loads((text_run / "preprocess.json").read_text())
    assert saved["info"]["kind"] == "mixed"
    assert [p["name"] for p in saved["info"]["inputs"]] == ["text", "tabular", "categorical"]
    assert saved["state"]["features"] == ["message", "length", "city"]
    import keras

    from kproto.runs.load import load_keras_model

    model = load_keras_model(text_run / "model.keras", compile=False)
    inner = model.get_layer("feedforward_inputs")
    assert sorted(tensor.name for tensor in inner.inputs) == ["categorical", "tabular", "text"]
    names = {layer.name for layer in inner.layers}
    assert {"category_embedding", "tabular_dense_0", "combine"} <= names
    encoder = inner.get_layer("text_encoder")
    assert isinstance(encoder, keras.Model) and "bag_embedding" in {layer.name for layer in encoder.layers}
    test = metrics(text_run)["test"]
    assert test["accuracy"] >= 0.7, test  # the number alone separates most rows


@pytest.mark.slow
def test_predict_and_evaluate_take_rows_with_all_columns(text_run: Path, text_data: Path, runner, tmp_path: Path):
    rows = text_frame().head(6)
    rows.loc[rows.index[0], "city"] = "tokyo"  # unseen: coded as no category, and said
    new = tmp_path / "new.csv"
    rows.drop(columns=["label"]).to_csv(new, index=False)
    result = runner.invoke(cli, ["predict", str(text_run), "--data", str(new)])
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(io.StringIO(result.stdout))
    assert len(predicted) == 6 and set(predicted["prediction"]) <= {"yes", "no"}
    rows.drop(columns=["length"]).to_csv(new, index=False)
    assert_clean_error(runner.invoke(cli, ["predict", str(text_run), "--data", str(new)]), says="'length'")
    result = runner.invoke(cli, ["evaluate", str(text_run), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy"] == pytest.approx(metrics(text_run)["test"]["accuracy"], abs=1e-6)


@pytest.mark.slow
def test_serve_answers_json_rows_with_every_column(text_run: Path) -> None:
    from test_serve import running

    from kproto.serve.app import create_app
    from kproto.serve.predictor import load_predictor

    predictor = load_predictor(text_run)
    with running(create_app(predictor)) as url:
        meta = httpx.get(f"{url}/metadata").json()
        assert [c["type"] for c in meta["columns"]] == ["text", "numeric", "categorical"]
        body = {"rows": [{"message": "good excellent", "length": 3.0, "city": "paris"}, {"message": "bad"}]}
        response = httpx.post(f"{url}/predict", json=body)
        assert response.status_code == 422 and response.json()["error"]["column"] == "length"
        body["rows"][1].update(length=None, city="tokyo")
        answers = httpx.post(f"{url}/predict", json=body).json()["predictions"]
        assert answers[0]["prediction"] == "yes"
        assert {w["code"] for w in answers[1]["warnings"]} == {"imputed", "unseen_category"}


@pytest.mark.slow
def test_explain_ranks_each_original_column(text_run: Path, runner) -> None:
    result = runner.invoke(cli, ["explain", str(text_run), "--json"])
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)["global"]
    assert {row["feature"] for row in ranking} == {"message", "length", "city"}
    assert ranking[0]["feature"] == "length"
    assert_clean_error(
        runner.invoke(cli, ["explain", str(text_run), "--method", "occlusion"]), says="does not apply to mixed"
    )


@pytest.mark.slow
def test_export_has_named_inputs_and_tflite_is_refused(text_run: Path, runner, tmp_path: Path) -> None:
    out = tmp_path / "saved"
    result = runner.invoke(cli, ["export", str(text_run), "--format", "savedmodel", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "named inputs: text (int32" in result.output
    import tensorflow as tf

    signature = tf.saved_model.load(str(out)).signatures["serving_default"]
    assert set(signature.structured_input_signature[1]) == {"text", "tabular", "categorical"}
    result = runner.invoke(cli, ["export", str(text_run), "--format", "tflite", "--out", str(tmp_path / "m.tflite")])
    assert_clean_error(result, says="exports as savedmodel or onnx", code=result.exit_code or 2)
    assert result.exit_code != 0


@pytest.mark.slow
@pytest.mark.parametrize(("family", "combine"), [("lstm", "concat"), ("transformer", "attention")])
def test_sequence_families_encode_the_text_beside_a_tabular_tower(
    family: str, combine: str, text_data: Path, runner, tmp_path: Path
) -> None:
    run = train(runner, tmp_path, text_recipe(text_data, family, combine=combine))
    from kproto.runs.load import load_keras_model

    inner = load_keras_model(run / "model.keras", compile=False).get_layer(f"{family}_inputs")
    encoder = inner.get_layer("text_encoder")
    assert any(layer.name.startswith(("lstm", "encoder_")) for layer in encoder.layers)
    assert "tabular_dense_0" in {layer.name for layer in inner.layers}
    assert metrics(run)["test"]["accuracy"] >= 0.6


@pytest.mark.slow
def test_a_text_encoder_override_and_a_tabular_tower(text_data: Path, runner, tmp_path: Path) -> None:
    recipe = text_recipe(text_data, inputs={"text": {"type": "gru", "units": [4]}, "tabular": {"units": [8, 4]}})
    run = train(runner, tmp_path, recipe)
    from kproto.runs.load import load_keras_model

    inner = load_keras_model(run / "model.keras", compile=False).get_layer("feedforward_inputs")
    assert "gru_0" in {layer.name for layer in inner.get_layer("text_encoder").layers}
    assert inner.get_layer("tabular_dense_1").units == 4


@pytest.mark.slow
def test_feedforward_reads_a_lone_text_column_through_an_embedding_bag(text_data: Path, runner, tmp_path: Path):
    recipe = text_recipe(text_data)
    recipe["data"] = {"path": str(text_data), "target": "label", "text": "message"}
    run = train(runner, tmp_path, recipe)
    saved = json.loads((run / "preprocess.json").read_text())
    assert [p["name"] for p in saved["info"]["inputs"]] == ["text"]
    from kproto.runs.load import load_keras_model

    inner = load_keras_model(run / "model.keras", compile=False).get_layer("feedforward_inputs")
    assert "bag_embedding" in {layer.name for layer in inner.get_layer("text_encoder").layers}


@pytest.fixture(scope="module")
def image_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    folder = tmp_path_factory.mktemp("pictures")
    (folder / "img").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        dark = i % 2
        pixels = (rng.random((8, 8, 3)) * 90 + (0 if dark else 150)).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "img" / f"p{i}.png")
        rows.append({"photo": f"img/p{i}.png", "size": round(float(rng.normal()), 3), "label": "d" if dark else "b"})
    pd.DataFrame(rows).to_csv(folder / "pictures.csv", index=False)
    return folder / "pictures.csv"


@pytest.mark.slow
def test_image_paths_beside_a_number(image_data: Path, runner, tmp_path: Path) -> None:
    recipe = {
        "name": "pictures",
        "seed": 2,
        "data": {"path": str(image_data), "target": "label", "shape": [8, 8, 3]},
        "model": {"type": "cnn", "filters": [4], "combine": "gated"},
        "train": {"epochs": 3, "batch_size": 8, "optimizer": {"name": "adam", "learning_rate": 0.01}},
    }
    run = train(runner, tmp_path, recipe)
    saved = json.loads((run / "preprocess.json").read_text())
    assert [p["name"] for p in saved["info"]["inputs"]] == ["image", "tabular"]
    assert saved["info"]["inputs"][0]["shape"] == [8, 8, 3]
    # relative paths start at the folder of the file the rows come from
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    pd.read_csv(image_data).head(4).drop(columns=["label"]).assign(
        photo=lambda f: [str(image_data.parent / p) for p in f["photo"]]
    ).to_csv(moved / "rows.csv", index=False)
    result = runner.invoke(cli, ["predict", str(run), "--data", str(moved / "rows.csv")])
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(io.StringIO(result.stdout))["prediction"]) == ["b", "d", "b", "d"]
    result = runner.invoke(cli, ["explain", str(run), "--json"])
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)["global"]
    assert ranking[0]["feature"] == "photo"
    result = runner.invoke(cli, ["export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    assert "named inputs: image (float32, [8, 8, 3]), tabular" in result.output


@pytest.mark.slow
def test_a_missing_image_file_is_a_clean_error(image_data: Path, runner, tmp_path: Path) -> None:
    frame = pd.read_csv(image_data)
    frame.loc[3, "photo"] = "img/none.png"
    frame.to_csv(tmp_path / "broken.csv", index=False)
    (tmp_path / "img").symlink_to(image_data.parent / "img")
    recipe = {
        "name": "broken",
        "data": {"path": str(tmp_path / "broken.csv"), "target": "label"},
        "model": {"type": "feedforward", "units": [4]},
        "train": {"epochs": 1},
    }
    output = train(runner, tmp_path / "t", recipe, code=2)
    assert "row 3 names the image 'img/none.png'" in output


# ----------------------------------------------------------------------------- refusals (nothing is trained)
def write_recipe(folder: Path, recipe: dict) -> Path:
    import yaml

    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.parametrize(
    ("model", "field", "says"),
    [
        ({"type": "gan", "inputs": {"tabular": {"units": [8]}}}, "model.inputs", "a gan model takes one kind"),
        ({"type": "autoencoder", "combine": "gated"}, "model.combine", "model.combine does not apply"),
        ({"type": "lstm", "inputs": {"text": {"type": "cnn"}}}, "model.inputs.text", "needs `type:` one of"),
        ({"type": "lstm", "inputs": {"text": {"type": "gru", "unit": [3]}}}, "model.inputs.text", "unit"),
    ],
)
def test_inputs_fields_are_refused_where_they_cannot_work(model, field, says, text_data, runner, tmp_path):
    recipe = {"data": {"path": str(text_data), "target": "label"}, "model": model}
    result = runner.invoke(cli, ["validate", str(write_recipe(tmp_path, recipe))])
    assert_clean_error(result, says=says, field=field)


def test_text_beside_columns_on_a_one_input_family_names_data_features(text_data, runner, tmp_path):
    recipe = {
        "data": {"path": str(text_data), "target": "label", "text": "message", "features": ["message", "length"]},
        "model": {"type": "sequential", "layers": [{"Dense": {"units": 2}}]},
        "train": {"epochs": 1},
    }
    result = runner.invoke(cli, ["train", str(write_recipe(tmp_path, recipe)), "--out", str(tmp_path / "runs")])
    assert_clean_error(result, says="families that take several inputs read them all", field="data.features")


@pytest.mark.slow
def test_several_inputs_with_several_targets(text_data: Path, runner, tmp_path: Path) -> None:
    recipe = text_recipe(text_data)
    recipe["data"].update(target=["label", "city"], features=["message", "length"])
    run = train(runner, tmp_path, recipe)
    saved = json.loads((run / "preprocess.json").read_text())
    assert [p["name"] for p in saved["info"]["inputs"]] == ["text", "tabular"]
    assert [t["name"] for t in saved["info"]["targets"]] == ["label", "city"]
    result = runner.invoke(cli, ["explain", str(run), "--json"])
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)["global"]
    assert {(row["target"], row["feature"]) for row in ranking} == {
        (target, column) for target in ("label", "city") for column in ("message", "length")
    }
