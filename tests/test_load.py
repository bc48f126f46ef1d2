"""kproto.runs.load, through evaluate, predict and export: damaged run folders and model files are clean errors that
write nothing; model files load in safe mode only (no Lambda code, no legacy HDF5, no old Keras) unless --trust.
The runs are built without training (tests/helpers.py: untrained_run).
Directly: load_run names what a run lacks, check_model_file refuses unsafe or broken files."""

from __future__ import annotations

import re
import shutil
import zipfile
from importlib.metadata import version
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from helpers import assert_clean_error, assert_refused, recipe_text, table, untrained_run, write_data

from kproto.cli import cli
from kproto.core.errors import KprotoError, ModelFileError
from kproto.runs.layout import REQUIRED as RUN_FILES
from kproto.runs.load import check_model_file, load_run


# ----------------------------------------------------------------------------- damaged run folders
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small complete run (TensorFlow, in-process), built without training."""
    folder = tmp_path_factory.mktemp("finished")
    write_data(folder, table(80))
    (folder / "recipe.yaml").write_text(recipe_text(epochs=2))
    return untrained_run(folder / "recipe.yaml", folder / "runs")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt(path: Path) -> None:
    """Flip bytes inside the first stored member: the zip directory stays intact, the CRC check fails."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[0]
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start, start + min(info.compress_size, 64)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "model-missing": (lambda run: (run / "model.keras").unlink(), "missing model.keras"),
    "model-empty": (lambda run: (run / "model.keras").write_bytes(b""), "is empty"),
    "model-truncated": (lambda run: _truncate(run / "model.keras"), "not a valid .keras archive"),
    "model-corrupted": (lambda run: _corrupt(run / "model.keras"), "corrupted"),
    "model-text": (lambda run: (run / "model.keras").write_text("not a model"), "not a valid .keras archive"),
    "model-zip-without-config": (
        lambda run: zipfile.ZipFile(run / "model.keras", "w").writestr("hello.txt", "hi"),
        "no config.json",
    ),
    "preprocess-missing": (lambda run: (run / "preprocess.json").unlink(), "missing preprocess.json"),
    "preprocess-garbled": (lambda run: (run / "preprocess.json").write_text("{not json"), "not valid JSON"),
    "preprocess-incomplete": (lambda run: (run / "preprocess.json").write_text("{}"), "lacks the preprocessing state"),
    "metrics-missing": (lambda run: (run / "metrics.json").unlink(), "missing metrics.json"),
    "metrics-garbled": (lambda run: (run / "metrics.json").write_text('{"status": '), "not valid JSON"),
    "recipe-missing": (lambda run: (run / "recipe.yaml").unlink(), "missing recipe.yaml"),
    "recipe-garbled": (lambda run: (run / "recipe.yaml").write_text("data: [\n"), "recipe.yaml"),
    "recipe-not-a-mapping": (lambda run: (run / "recipe.yaml").write_text("- 1\n"), "recipe.yaml"),
    "everything-missing": (lambda run: [p.unlink() for p in run.iterdir() if p.is_file()], "missing"),
}


@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
@pytest.mark.parametrize("case", list(DAMAGE), ids=list(DAMAGE))
def test_damaged_run(runner, finished_run: Path, tmp_path: Path, case: str, command: str) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    damage, says = DAMAGE[case]
    damage(run)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    args = {
        "evaluate": ["evaluate", str(run)],
        "predict": ["predict", str(run), "--data", str(finished_run.parent.parent.parent / "data.csv")],
        "export": ["export", str(run), "--format", "onnx"],
    }[command]
    result = runner.invoke(cli, args)
    assert_clean_error(result, says=says)
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before, "a refused run must not be written to"


@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_keras_file_passed_directly(runner, finished_run: Path, tmp_path: Path, command: str) -> None:
    """A .keras path is accepted where a run is; a truncated one is refused the same way."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    _truncate(run / "model.keras")
    args = {
        "evaluate": ["evaluate", str(run / "model.keras")],
        "predict": ["predict", str(run / "model.keras"), "--data", str(finished_run.parents[2] / "data.csv")],
        "export": ["export", str(run / "model.keras"), "--format", "onnx"],
    }[command]
    assert_clean_error(runner.invoke(cli, args), says="not a valid .keras archive")


def test_predict_on_data_without_the_columns(runner, finished_run: Path, tmp_path: Path) -> None:
    (tmp_path / "new.csv").write_text("a,b\n1,2\n")
    result = runner.invoke(cli, ["predict", str(finished_run), "--data", str(tmp_path / "new.csv")])
    assert_clean_error(result, says="'x1'")


# ----------------------------------------------------------------------------- model files that carry code
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete run on other data (built without training), whose model file the tests replace."""
    base = tmp_path_factory.mktemp("secure")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 2))
    pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "label": np.where(x.sum(axis=1) > 0, "yes", "no")}).to_csv(
        base / "data.csv", index=False
    )
    (base / "recipe.yaml").write_text(recipe_text(epochs=1))
    return untrained_run(base / "recipe.yaml", base / "runs")


def _lambda_model(canary: Path):
    """Same inputs and outputs as the run's model, plus a Lambda layer that leaves a file behind when it runs."""

    path = str(canary)
    code = keras.layers.Lambda(lambda x: (open(path, "a").close(), x)[1])  # noqa: SIM115 - the side effect is the point
    model = keras.Sequential([keras.Input((2,)), code, keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _args(command: str, target: Path, data: Path) -> list[str]:
    exported = str(target.parent / "exported")
    return {
        "evaluate": ["evaluate", str(target)],
        "predict": ["predict", str(target), "--data", str(data)],
        "export": ["export", str(target), "--format", "savedmodel", "--out", exported],
    }[command]


@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
@pytest.mark.parametrize("passed", ["run-dir", "keras-file"])
def test_lambda_layer_refused_without_trust(runner, run_dir: Path, tmp_path: Path, command: str, passed: str) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    canary = tmp_path / "ran"
    _lambda_model(canary).save(run / "model.keras")
    canary.unlink(missing_ok=True)  # building the model ran the Lambda once
    target = run if passed == "run-dir" else run / "model.keras"
    result = runner.invoke(cli, _args(command, target, run_dir.parents[2] / "data.csv"))
    assert_refused(result, "contains Python code")
    assert "--trust" in result.output
    assert not canary.exists(), "the Lambda's code ran without --trust"
    assert not (run / "exported").exists()


def test_lambda_layer_loads_with_trust(runner, run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    canary = tmp_path / "ran"
    _lambda_model(canary).save(run / "model.keras")
    canary.unlink(missing_ok=True)
    result = runner.invoke(cli, ["predict", str(run), "--data", str(run_dir.parents[2] / "data.csv"), "--trust"])
    assert result.exit_code == 0, result.output
    assert canary.exists(), "with --trust the model (and its code) is loaded"


def test_load_keras_model_refuses_lambda_in_the_library(run_dir: Path, tmp_path: Path) -> None:
    from kproto.runs.load import load_keras_model

    path = tmp_path / "lambda.keras"
    _lambda_model(tmp_path / "ran").save(path)
    with pytest.raises(ModelFileError, match="contains Python code"):
        load_keras_model(path)


@pytest.mark.parametrize("suffix", [".h5", ".hdf5"])
@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_legacy_hdf5_refused_without_trust(runner, run_dir: Path, tmp_path: Path, suffix: str, command: str) -> None:

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    model = keras.saving.load_model(run / "model.keras")
    legacy = run / f"model{suffix}"
    model.save(legacy)
    result = runner.invoke(cli, _args(command, legacy, run_dir.parents[2] / "data.csv"))
    assert_refused(result, "legacy HDF5")
    assert "CVE-2025-9905" in result.output and "--trust" in result.output
    if command == "evaluate":
        trusted = runner.invoke(cli, ["evaluate", str(legacy), "--trust", "--json"])
        assert trusted.exit_code == 0, trusted.output


# ----------------------------------------------------------------------------- Keras version
def test_installed_keras_has_the_safe_mode_fixes() -> None:
    from kproto.core.backend import MIN_KERAS, check_keras_version

    major, minor = (int(p) for p in version("keras").split(".")[:2])
    assert (major, minor) >= (3, 11)
    assert MIN_KERAS >= (3, 11)
    assert check_keras_version() == version("keras")


@pytest.mark.parametrize("old", ["3.10.2", "3.8.0", "2.15.0"])
def test_old_keras_is_refused(runner, run_dir: Path, monkeypatch: pytest.MonkeyPatch, old: str) -> None:
    import importlib.metadata

    from kproto.runs.load import load_keras_model

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: old if name == "keras" else real(name))
    result = runner.invoke(cli, ["evaluate", str(run_dir)])
    assert_refused(result, f"Keras {old} is too old")
    assert "CVE-2025" in result.output and "pip install" in result.output
    with pytest.raises(KprotoError, match="too old"):
        load_keras_model(run_dir / "model.keras")


# ----------------------------------------------------------------------------- load_run and check_model_file
def fake_run(folder: Path, skip: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if name != skip:
            (folder / name).write_text("{}")
    return folder


@pytest.mark.parametrize("missing", list(RUN_FILES))
def test_load_run_names_the_missing_file(tmp_path: Path, missing: str) -> None:
    folder = fake_run(tmp_path / "run", skip=missing)
    with pytest.raises(ModelFileError, match=re.escape(missing)):
        load_run(folder)


@pytest.mark.parametrize("name", ["nothing-here", "model.txt"])
def test_load_run_refuses_what_is_not_a_run(tmp_path: Path, name: str) -> None:
    if name.endswith(".txt"):
        (tmp_path / name).write_text("x")
    with pytest.raises(ModelFileError):
        load_run(tmp_path / name)


def test_load_run_refuses_a_preprocess_file_without_state(tmp_path: Path, tiny_classification: Path) -> None:
    folder = fake_run(tmp_path / "run")
    recipe = f"data: {{path: {tiny_classification}, target: label}}\nmodel: {{type: feedforward}}\n"
    (folder / "recipe.yaml").write_text(recipe)
    with pytest.raises(ModelFileError, match="preprocess"):
        load_run(folder)


@pytest.mark.parametrize(
    ("name", "content", "trust", "words"),
    [
        ("m.h5", b"\x89HDF", False, "HDF5"),
        ("m.keras", b"", False, "empty"),
        ("m.keras", b"this is not a zip", False, "not a valid .keras"),
        ("missing.keras", None, False, "not found"),
    ],
)
def test_check_model_file_refuses_unsafe_or_broken_files(
    tmp_path: Path, name: str, content: bytes | None, trust: bool, words: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=words):
        check_model_file(path, trust)


def test_check_model_file_accepts_h5_only_with_trust(tmp_path: Path) -> None:
    path = tmp_path / "m.h5"
    path.write_bytes(b"\x89HDF")
    check_model_file(path, trust=True)


def test_a_zip_without_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.txt", "x")
    with pytest.raises(ModelFileError, match="config.json"):
        check_model_file(path)


def test_models_with_code_need_trust(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    from kproto.runs.load import load_keras_model
    from kproto.runs.store import save_model_atomic

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    path = tmp_path / "lambda.keras"
    save_model_atomic(model, path)
    with pytest.raises(ModelFileError, match="trust"):
        load_keras_model(path)
    assert load_keras_model(path, trust=True, compile=False) is not None
