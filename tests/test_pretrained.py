"""The pretrained family end to end: recipes, data selection, `kproto fetch`, training in two phases, resume,
metrics.json provenance, summary, predict on raw text and export. Backbones are local and random: no downloads."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, RECIPES
from pretrained_cases import bert_preset, review_texts

from kproto.cli import cli
from kproto.core.errors import DataError
from kproto.data.selection import keep_classes, rows_per_class


# ----------------------------------------------------------------------------- no training
def test_keep_classes_compares_as_text() -> None:
    frame = pd.DataFrame({"label": [0, 5, 6, 1, 5], "x": range(5)})
    assert keep_classes(frame, "label", [5, "6"])["x"].tolist() == [1, 2, 4]
    with pytest.raises(DataError, match="'7'") as caught:
        keep_classes(frame, "label", [5, 7])
    assert caught.value.field == "data.classes"


def test_rows_per_class_is_seeded_and_capped() -> None:
    labels = np.array([0] * 30 + [1] * 5 + [2] * 20)
    rows = np.arange(len(labels))
    kept = rows_per_class(rows, labels, 10, seed=1)
    assert np.bincount(labels[kept]).tolist() == [10, 5, 10]
    assert np.array_equal(kept, rows_per_class(rows, labels, 10, seed=1))
    assert not np.array_equal(kept, rows_per_class(rows, labels, 10, seed=2))


@pytest.mark.parametrize(
    "name", ["digits_pretrain_04", "digits_finetune_59", "digits_scratch_59", "digits_mobilenet", "reviews_bert"]
)
def test_shipped_transfer_recipes_validate(runner, name: str) -> None:
    result = runner.invoke(cli, ["validate", str(RECIPES / f"{name}.yaml")])
    assert result.exit_code == 0, result.output


def test_recipe_errors_name_the_field(runner, make_recipe) -> None:
    recipe = make_recipe(
        f"data: {{path: {DATA / 'digits.csv'}, target: label, shape: [8, 8, 1]}}\n"
        "model: {type: pretrained, source: ../some/run, weights: none}\n"
    )
    result = runner.invoke(cli, ["validate", str(recipe)])
    assert result.exit_code == 2 and "Keras Applications sources only" in result.output
    recipe = make_recipe(
        f"data: {{path: {DATA / 'digits.csv'}, target: label, shape: [8, 8, 1], rows_per_class: 0}}\n"
        "model: {type: cnn}\n"
    )
    result = runner.invoke(cli, ["validate", str(recipe)])
    assert result.exit_code == 2 and "rows_per_class" in result.output


def test_schema_lists_the_family(runner) -> None:
    result = runner.invoke(cli, ["schema"])
    assert result.exit_code == 0 and '"pretrained"' in result.output and "fine_tune" in result.output


def test_fetch_without_network_fails_fast(runner, tmp_path: Path) -> None:
    began = time.monotonic()
    result = runner.invoke(cli, ["fetch", "bert_tiny_en_uncased", "--out", str(tmp_path / "preset")])
    assert result.exit_code == 2, result.output
    assert "needs the network" in result.output and "Traceback" not in result.output
    assert time.monotonic() - began < 20


def test_named_source_without_network_exits_2(runner, make_recipe, tmp_path: Path) -> None:
    texts, labels = review_texts(20)
    data = tmp_path / "reviews.csv"
    pd.DataFrame({"review": texts, "score": labels}).to_csv(data, index=False)
    recipe = make_recipe(
        f"data: {{path: {data}, target: score, text: review, sequence_length: 12}}\n"
        "model: {type: pretrained, source: bert_tiny_en_uncased}\ntrain: {epochs: 1}\n"
    )
    began = time.monotonic()
    result = runner.invoke(cli, ["train", str(recipe), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert "kproto fetch bert_tiny_en_uncased --out DIR" in result.output
    assert time.monotonic() - began < 30


# ----------------------------------------------------------------------------- training
def _train(runner, recipe: Path, out: Path, *extra: str) -> Path:
    before = set(out.glob("*/*/metrics.json"))
    result = runner.invoke(cli, ["train", str(recipe), "--out", str(out), "--backend", "tensorflow", *extra])
    assert result.exit_code == 0, result.output
    (metrics_file,) = set(out.glob("*/*/metrics.json")) - before
    return metrics_file.parent


def _backbone_weights(run: Path) -> list[np.ndarray]:
    from kproto.models.backbone_loader import load_model_file
    from kproto.models.pretrained import backbone_of

    return [np.array(w) for w in backbone_of(load_model_file(run / "model.keras")).get_weights()]


def _source_weights(run: Path) -> list[np.ndarray]:
    from kproto.models.backbone_loader import load_model_file, without_output

    return [np.array(w) for w in without_output(load_model_file(run / "model.keras")).get_weights()]


def _digits_recipes(make_recipe) -> tuple[Path, Path]:
    source = make_recipe(
        f"name: src\ndata: {{path: {DATA / 'digits.csv'}, target: label, shape: [8, 8, 1], classes: [0, 1, 2, 3, 4]}}\n"
        "model: {type: cnn, filters: [8, 16], convs_per_block: 1, dense: [16]}\n"
        "train: {epochs: 2, early_stopping: false}\n",
        "src.yaml",
    )
    tuned = make_recipe(
        "name: tuned\n"
        f"data: {{path: {DATA / 'digits.csv'}, target: label, shape: [8, 8, 1], classes: [5, 6, 7, 8, 9], "
        "rows_per_class: 10}\n"
        "model: {type: pretrained, source: runs/src, head: {units: [8]}, fine_tune: {after_epochs: 1}}\n"
        "train: {epochs: 2, batch_size: 8, early_stopping: false}\n",
        "tuned.yaml",
    )
    return source, tuned


@pytest.mark.slow
def test_fine_tune_from_a_run_in_two_phases_with_resume(runner, make_recipe, tmp_path: Path) -> None:
    source_recipe, tuned_recipe = _digits_recipes(make_recipe)
    out = tmp_path / "runs"
    source = _train(runner, source_recipe, out)
    # phase 1 only (epochs = after_epochs): the backbone is exactly the source run's, the head trained
    first = _train(runner, tuned_recipe, out, "--set", "train.epochs=1")
    for mine, theirs in zip(_backbone_weights(first), _source_weights(source)):
        np.testing.assert_array_equal(mine, theirs)
    metrics = json.loads((first / "metrics.json").read_text())
    record = metrics["pretrained"]
    assert record["kind"] == "run" and record["source"] == str(source.resolve())
    assert record["hash"].startswith("sha256:")
    assert json.loads((first / "preprocess.json").read_text())["info"]["rows"]["train"] == 50
    (phase,) = record["phases"]
    assert phase["phase"] == 1 and phase["backbone_trainable_layers"] == "none"
    # resume into phase 2: the backbone's convolutions change, history stays continuous
    result = runner.invoke(cli, ["train", "--resume", str(first), "--set", "train.epochs=2", "--backend", "tensorflow"])
    assert result.exit_code == 0, result.output
    changed = [not np.array_equal(a, b) for a, b in zip(_backbone_weights(first), _source_weights(source))]
    assert any(changed)
    metrics = json.loads((first / "metrics.json").read_text())
    phases = metrics["pretrained"]["phases"]
    assert [p["phase"] for p in phases] == [1, 2] and phases[1]["first_epoch"] == 2
    assert phases[1]["trainable_parameters"] > phases[0]["trainable_parameters"]
    assert len(pd.read_csv(first / "history.csv")) == 2
    # an uninterrupted two-phase run records the same phases
    both = _train(runner, tuned_recipe, out)
    assert [p["phase"] for p in json.loads((both / "metrics.json").read_text())["pretrained"]["phases"]] == [1, 2]
    for fmt in ("savedmodel", "onnx", "tflite"):  # a fine-tuned image model exports and passes the check
        result = runner.invoke(cli, ["export", str(both), "--format", fmt])
        assert result.exit_code == 0, (fmt, result.output)


@pytest.mark.slow
def test_summary_shows_frozen_and_trainable(runner, make_recipe, tmp_path: Path) -> None:
    recipe = make_recipe(
        f"data: {{path: {DATA / 'digits.csv'}, target: label, shape: [8, 8, 1]}}\n"
        "model: {type: pretrained, source: mobilenet_v3_small, weights: none, trainable: 5}\n"
    )
    result = runner.invoke(cli, ["summary", str(recipe)])
    assert result.exit_code == 0, result.output
    assert "frozen" in result.output.lower() and "trainable" in result.output.lower()


@pytest.mark.slow
def test_applications_source_trains_and_exports(runner, make_recipe, tmp_path: Path) -> None:
    recipe = make_recipe(
        f"data: {{path: {DATA / 'digits.csv'}, target: label, shape: [8, 8, 1], limit: 300}}\n"
        "model: {type: pretrained, source: mobilenet_v3_small, weights: none, trainable: 10, head: {units: []}}\n"
        "train: {epochs: 1}\n"
    )
    run = _train(runner, recipe, tmp_path / "runs")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["pretrained"]["weights"] == "none" and metrics["status"] == "completed"
    layers = metrics["pretrained"]["phases"][0]["backbone_trainable_layers"]
    assert isinstance(layers, list) and 0 < len(layers) <= 10
    result = runner.invoke(cli, ["export", str(run), "--format", "savedmodel"])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_text_preset_folder_fine_tunes_and_predicts_raw_text(runner, make_recipe, tmp_path: Path) -> None:
    preset = bert_preset(tmp_path / "preset")
    texts, labels = review_texts(80)
    data = tmp_path / "reviews.csv"
    pd.DataFrame({"review": texts, "score": labels}).to_csv(data, index=False)
    recipe = make_recipe(
        f"data: {{path: {data}, target: score, text: review, sequence_length: 12}}\n"
        f"model: {{type: pretrained, source: {preset}, head: {{units: []}}, fine_tune: {{after_epochs: 1}}}}\n"
        "train: {epochs: 2, batch_size: 8, early_stopping: false}\n"
    )
    run = _train(runner, recipe, tmp_path / "runs")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["pretrained"]["kind"] == "preset_folder" and metrics["pretrained"]["hash"].startswith("sha256:")
    state = json.loads((run / "preprocess.json").read_text())["state"]
    assert "hub" in state["text"]  # the tokenizer travels with the run
    new = tmp_path / "new.csv"
    pd.DataFrame({"review": ["this coffee is great", "awful tea"]}).to_csv(new, index=False)
    result = runner.invoke(cli, ["predict", str(run), "--data", str(new), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert len(predicted) == 2 and set(predicted["prediction"]) <= {"great", "other"}
    assert {"p_great", "p_other"} <= set(predicted.columns)
    result = runner.invoke(cli, ["evaluate", str(run), "--data", str(data)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["export", str(run), "--format", "savedmodel"])
    assert result.exit_code == 0, result.output
    assert "does not carry the tokenizer" in result.output


@pytest.mark.slow
def test_text_preset_without_sequence_length_trains_at_the_presets_limit(runner, make_recipe, tmp_path: Path) -> None:
    """A preset whose backbone accepts 64 tokens, a recipe that does not set data.sequence_length: 64 tokens."""
    preset = bert_preset(tmp_path / "preset", max_sequence_length=64)
    texts, labels = review_texts(40)
    data = tmp_path / "reviews.csv"
    pd.DataFrame({"review": texts, "score": labels}).to_csv(data, index=False)
    recipe = make_recipe(
        f"data: {{path: {data}, target: score, text: review}}\n"
        f"model: {{type: pretrained, source: {preset}, head: {{units: []}}}}\n"
        "train: {epochs: 1, batch_size: 8}\n"
    )
    run = _train(runner, recipe, tmp_path / "runs")
    text = json.loads((run / "preprocess.json").read_text())["state"]["text"]
    assert text["sequence_length"] == 64
    assert text["sequence_length_source"] == "the preset's own limit (its backbone's max_sequence_length, 64)"
