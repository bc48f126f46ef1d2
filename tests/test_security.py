"""Untrusted files never run code: recipes are plain data, model files load in safe mode, user Python needs
--allow-code, old Keras is refused, and training makes no network connection."""

from __future__ import annotations

import json
import shutil
import socket
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.cli import cli
from kproto.errors import CodeNotAllowedError, KprotoError, ModelFileError

TF = ["--backend", "tensorflow"]
RECIPE = """\
data:
  path: data.csv
  target: label
model:
  type: feedforward
  units: [4]
train:
  epochs: 1
  batch_size: 16
"""


def assert_refused(result, says: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Unexpected error" not in result.output, result.output
    assert says in result.output, result.output


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "label": np.where(x.sum(axis=1) > 0, "yes", "no")}).to_csv(
        tmp_path / "data.csv", index=False
    )
    return tmp_path


# ----------------------------------------------------------------------------- recipes are plain data
PAYLOADS = {
    "object-apply": "!!python/object/apply:os.system ['touch {canary}']",
    "object-apply-subprocess": "!!python/object/apply:subprocess.check_output [['touch', '{canary}']]",
    "object-new": "!!python/object/new:os.system ['touch {canary}']",
    "object": "!!python/object:os.system {{}}",
    "name": "!!python/name:os.system",
    "module": "!!python/module:os",
    "tuple": "!!python/tuple [1, 2]",
    "custom-local-tag": "!canary {{path: '{canary}'}}",
}


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
@pytest.mark.parametrize("where", ["value", "nested", "override"])
def test_python_tags_are_refused(runner, folder: Path, payload: str, where: str) -> None:
    canary = folder / "canary"
    tagged = PAYLOADS[payload].format(canary=canary)
    text, args = RECIPE, []
    if where == "value":
        text = RECIPE + f"name: {tagged}\n"
    elif where == "nested":
        text = RECIPE.replace("  units: [4]\n", f"  units: [4]\n  activation: {tagged}\n")
    else:
        args = ["--set", f"name={tagged}"]
    (folder / "recipe.yaml").write_text(text)
    for command in ("validate", "train"):
        extra = ["--out", str(folder / "runs"), *TF] if command == "train" else []
        result = runner.invoke(cli, [command, str(folder / "recipe.yaml"), *args, *extra])
        assert_refused(result, "Recipe error")
        if where != "override":
            assert "line " in result.output
    assert not canary.exists(), "a YAML tag ran code"
    assert not (folder / "runs").exists()


def test_alias_bomb_is_refused_quickly(runner, folder: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    (folder / "recipe.yaml").write_text("\n".join(lines) + "\n" + RECIPE)
    assert_refused(runner.invoke(cli, ["validate", str(folder / "recipe.yaml")]), "expands to more than")


# ----------------------------------------------------------------------------- model files
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    base = tmp_path_factory.mktemp("secure")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 2))
    pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "label": np.where(x.sum(axis=1) > 0, "yes", "no")}).to_csv(
        base / "data.csv", index=False
    )
    (base / "recipe.yaml").write_text(RECIPE)
    result = CliRunner().invoke(cli, ["train", str(base / "recipe.yaml"), "--out", str(base / "runs"), *TF])
    assert result.exit_code == 0, result.output
    (run,) = (base / "runs" / "recipe").iterdir()
    return run


def _lambda_model(canary: Path):
    """Same inputs and outputs as the run's model, plus a Lambda layer that leaves a file behind when it runs."""
    import keras

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
    import keras

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


def test_npz_with_pickled_objects_is_refused(runner, folder: Path) -> None:
    canary = folder / "unpickled"
    np.savez(folder / "data.npz", x1=np.arange(10.0), label=np.array([_Canary(str(canary))] * 10, dtype=object))
    (folder / "recipe.yaml").write_text(RECIPE.replace("data.csv", "data.npz"))
    result = runner.invoke(cli, ["train", str(folder / "recipe.yaml"), "--out", str(folder / "runs"), *TF])
    assert_refused(result, "object arrays are refused")
    assert not canary.exists()


class _Canary:
    """Unpickling this leaves a file behind."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "a"))


# ----------------------------------------------------------------------------- user Python needs --allow-code
LOSS_FILE = """\
import pathlib
pathlib.Path(__file__).with_name("imported").touch()

import keras


def half_mse(y_true, y_pred):
    return 0.5 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)
"""


def test_custom_loss_needs_allow_code(runner, folder: Path) -> None:
    (folder / "my_loss.py").write_text(LOSS_FILE)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 2))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": x @ [2.0, -1.0]}).to_csv(folder / "reg.csv", index=False)
    text = RECIPE.replace("data.csv", "reg.csv").replace("target: label", "target: y")
    (folder / "recipe.yaml").write_text(text + "  loss: {python: my_loss.py:half_mse}\n")
    out = folder / "runs"

    refused = runner.invoke(cli, ["train", str(folder / "recipe.yaml"), "--out", str(out), *TF])
    assert_refused(refused, "--allow-code")
    assert "Code not allowed" in refused.output and "train.loss.python" in refused.output
    assert "line 10" in refused.output
    assert not (folder / "imported").exists(), "the loss file was imported without --allow-code"
    assert not out.exists()

    allowed = runner.invoke(cli, ["train", str(folder / "recipe.yaml"), "--out", str(out), "--allow-code", *TF])
    assert allowed.exit_code == 0, allowed.output
    assert (folder / "imported").exists()
    (run,) = (out / "recipe").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 1
    assert np.isfinite(metrics["test"]["loss"])


def test_code_not_allowed_in_the_library(folder: Path) -> None:
    from kproto.compile import load_python_object

    (folder / "evil.py").write_text("import pathlib\npathlib.Path(__file__).with_name('imported').touch()\nfn = 1\n")
    with pytest.raises(CodeNotAllowedError):
        load_python_object("evil.py:fn", allow_code=False, field="train.loss.python", base=folder)
    assert not (folder / "imported").exists()


# ----------------------------------------------------------------------------- Keras version
def test_installed_keras_has_the_safe_mode_fixes() -> None:
    from kproto.backend import MIN_KERAS, check_keras_version

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


# ----------------------------------------------------------------------------- no network at run time
def test_train_evaluate_predict_make_no_network_connection(
    runner, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: refuse(address))
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    (folder / "recipe.yaml").write_text(RECIPE)
    out = folder / "runs"
    trained = runner.invoke(cli, ["train", str(folder / "recipe.yaml"), "--out", str(out), *TF])
    assert trained.exit_code == 0, trained.output
    (run,) = (out / "recipe").iterdir()
    assert runner.invoke(cli, ["evaluate", str(run)]).exit_code == 0
    assert runner.invoke(cli, ["predict", str(run), "--data", str(folder / "data.csv")]).exit_code == 0
    assert attempts == []
