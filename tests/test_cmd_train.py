"""`kproto train` end to end (in-process, TensorFlow): the run folder it writes, the training controls a recipe sets
(early stopping, metrics, class weights, custom losses, precision, resume, seeds), and the clean errors for bad
data, bad output folders and untrusted inputs (exit 2, no traceback, nothing half-written)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import socket
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from helpers import (
    TINY_EPOCHS,
    TINY_RECIPE,
    assert_clean_error,
    assert_refused,
    history,
    metrics,
    only_run,
    recipe_for,
    recipe_text,
    table,
    tiny_frame,
    train,
    write_data,
)

from kproto.cli import cli

TF = ["--backend", "tensorflow"]


@pytest.fixture(autouse=True)
def float32_policy():
    yield
    keras.mixed_precision.set_dtype_policy("float32")


# ----------------------------------------------------------------------------- the run folder
def train_run(folder: Path, seed: int = 42, *extra: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "tiny.csv").exists():
        tiny_frame(150, 0).to_csv(folder / "tiny.csv", index=False)
    recipe = folder / "tiny_run.yaml"
    recipe.write_text(TINY_RECIPE.format(seed=seed))
    result = CliRunner().invoke(
        cli,
        [
            "train",
            str(recipe),
            "--backend",
            "tensorflow",
            "--out",
            str(folder / "runs"),
            "--set",
            f"train.epochs={TINY_EPOCHS}",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    runs = sorted((folder / "runs" / "tiny-run").iterdir())
    assert str(runs[-1]) in result.output.replace("\n", "")
    return runs[-1]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_run(tmp_path_factory.mktemp("train"))


@pytest.mark.slow
def test_run_directory_has_every_file(run: Path) -> None:
    for name in ("recipe.yaml", "model.keras", "history.csv", "metrics.json", "curves.png", "preprocess.json"):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(run.glob("**/*.tmp")) and not list(run.glob("**/.partial*"))


@pytest.mark.slow
def test_history_has_a_row_per_epoch_with_the_learning_rate(run: Path) -> None:
    rows = list(csv.DictReader(io.StringIO((run / "history.csv").read_text())))
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(rows) == metrics["epochs"] == TINY_EPOCHS
    assert [int(r["epoch"]) for r in rows] == list(range(1, TINY_EPOCHS + 1))
    for row in rows:
        assert float(row["learning_rate"]) > 0
        for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
            assert np.isfinite(float(row[key])), key


@pytest.mark.slow
def test_metrics_json(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"train", "validation", "test", "epochs", "seconds", "seed", "versions"} <= set(metrics)
    assert metrics["status"] == "completed"
    assert metrics["seed"] == 42
    assert metrics["seconds"] > 0
    assert "keras" in metrics["versions"]
    for split in ("train", "validation", "test"):
        assert {"loss", "accuracy"} <= set(metrics[split])
        assert 0.0 <= metrics[split]["accuracy"] <= 1.0


@pytest.mark.slow
def test_saved_recipe_is_fully_resolved(run: Path) -> None:

    saved = yaml.safe_load((run / "recipe.yaml").read_text())
    assert saved["train"]["epochs"] == TINY_EPOCHS  # the --set value
    assert saved["name"] == "tiny-run"
    assert Path(saved["data"]["path"]).is_absolute()
    assert saved["train"]["early_stopping"]["patience"] == 5  # defaults are written out
    from kproto.recipe.schema import Split

    assert saved["data"]["split"] == Split().model_dump(mode="json")  # every split default, written out
    assert saved["data"]["split"]["validation"] == saved["data"]["split"]["test"] == 0.15


@pytest.mark.slow
def test_imputation_is_recorded_in_preprocess_json(run: Path) -> None:
    saved = json.loads((run / "preprocess.json").read_text())
    imputed = saved["state"]["imputed"]
    assert set(imputed) == {"x2", "color"}
    columns = {c["name"]: c for c in saved["state"]["columns"]}
    assert str(round(columns["x2"]["fill"], 2))[:3] in imputed["x2"]
    assert columns["color"]["fill"] in imputed["color"]
    assert saved["info"]["class_names"] == ["high", "low", "mid"]


@pytest.fixture(scope="module")
def again(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's run trained a second time (same recipe, seed and rows, another folder)."""
    return train_run(tmp_path_factory.mktemp("again"))


@pytest.mark.slow
def test_same_recipe_and_seed_give_the_same_split_and_metrics(run: Path, again: Path) -> None:
    first = json.loads((run / "preprocess.json").read_text())
    second = json.loads((again / "preprocess.json").read_text())
    assert first["info"]["rows"] == second["info"]["rows"]
    assert first["state"]["columns"] == second["state"]["columns"]  # fitted on exactly the same training rows
    a = json.loads((run / "metrics.json").read_text())
    b = json.loads((again / "metrics.json").read_text())
    for split in ("train", "validation", "test"):
        for key in a[split]:
            assert round(a[split][key], 4) == round(b[split][key], 4), (split, key)


@pytest.mark.slow
def test_the_minimal_recipe_learns_ordinary_tabular_data(tmp_path: Path) -> None:
    """Only data {path, target} + model {type}: beats the majority class clearly within a few epochs."""
    rng = np.random.default_rng(5)
    n = 600
    frame = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.uniform(0, 1000, size=n), "kind": rng.choice(["u", "v"], size=n)}
    )
    frame["target"] = np.where(frame["a"] + (frame["b"] - 500) / 300 + (frame["kind"] == "u") > 0.5, "yes", "no")
    frame.loc[frame.index[::9], "b"] = np.nan
    frame.to_csv(tmp_path / "plain.csv", index=False)
    recipe = tmp_path / "plain.yaml"
    recipe.write_text("data: {path: plain.csv, target: target}\nmodel: {type: feedforward}\n")
    result = CliRunner().invoke(
        cli,
        ["train", str(recipe), "--backend", "tensorflow", "--out", str(tmp_path / "runs"), "--set", "train.epochs=8"],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(next((tmp_path / "runs").glob("plain/*/metrics.json")).read_text())
    assert metrics["test"]["accuracy"] >= metrics["baselines"]["majority"]["accuracy"] + 0.2


# ----------------------------------------------------------------------------- training controls
def test_unknown_schedule_option(runner: Any, tmp_path: Path, tiny_classification: Path) -> None:
    output = train(runner, tmp_path, recipe_for(tiny_classification, schedule={"name": "cosine", "alpah": 0.1}), code=2)
    assert "alpah" in output and "train.schedule" in output


@pytest.mark.slow
def test_early_stopping_restores_the_best_epoch(runner: Any, tmp_path: Path, tiny_classification: Path) -> None:
    recipe = recipe_for(
        tiny_classification,
        epochs=40,
        optimizer={"name": "adam", "learning_rate": 0.05},
        early_stopping={"monitor": "val_accuracy", "patience": 1},
    )
    run = train(runner, tmp_path, recipe)
    rows, result = history(run), metrics(run)
    assert len(rows) < 40
    best = int(rows["val_accuracy"].idxmax())
    assert result["best_epoch"] == best + 1 and len(rows) == best + 2  # stopped one epoch after the best
    assert result["validation"]["accuracy"] == pytest.approx(rows["val_accuracy"][best], abs=1e-6)
    assert result["validation"]["loss"] == pytest.approx(rows["val_loss"][best], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_metrics_reach_history_and_metrics_json(
    runner: Any, tmp_path: Path, tiny_classification: Path, tiny_regression: Path, task: str
) -> None:
    if task == "classification":
        names = [
            "accuracy",
            "precision",
            "recall",
            "auc",
            "pr_auc",
            "f1",
            "macro_f1",
            "balanced_accuracy",
            "top_k_accuracy",
        ]
        recipe = recipe_for(tiny_classification, epochs=1, metrics=names)
    else:
        names = ["mae", "rmse", "r2", "mse", "mape"]
        recipe = {
            **recipe_for(tiny_regression, epochs=1, metrics=names),
            "data": {"path": str(tiny_regression), "target": "y"},
        }
    run = train(runner, tmp_path, recipe)
    columns, result = set(history(run).columns), metrics(run)
    for name in names:
        assert {name, f"val_{name}"} <= columns
        assert all(math.isfinite(result[split][name]) for split in ("train", "validation", "test"))
    if task == "classification":
        report = result["report"]
        assert set(report["per_class"]) == {"high", "low", "mid"}
        assert np.array(report["confusion"]).sum() == result["report"]["per_class"]["high"]["support"] + sum(
            c["support"] for k, c in report["per_class"].items() if k != "high"
        )


@pytest.mark.slow
def test_class_weights_reach_fit(runner: Any, tmp_path: Path, tiny_classification: Path, monkeypatch: Any) -> None:
    from kproto.training.engines.fit import FitEngine

    seen: list[np.ndarray | None] = []
    original = FitEngine.train_epoch

    def spy(self: Any, x: Any, y: Any, order: Any, sample_weight: Any = None, on_progress: Any = None) -> Any:
        seen.append(None if sample_weight is None else np.asarray(sample_weight)[order])
        return original(self, x, y, order, sample_weight, on_progress)

    monkeypatch.setattr(FitEngine, "train_epoch", spy)
    train(runner, tmp_path, recipe_for(tiny_classification, epochs=1, class_weight={"low": 3.0}))
    (weights,) = seen
    assert weights is not None and set(np.unique(weights)) == {1.0, 3.0}


@pytest.mark.slow
def test_custom_loss_trains_with_allow_code(runner: Any, tmp_path: Path, tiny_classification: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "losses.py").write_text(
        "import keras\n\ndef smooth_ce(y_true, y_pred):\n"
        "    return keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=0.1)\n"
    )
    recipe = recipe_for(tiny_classification, epochs=1, loss={"python": "losses.py:smooth_ce"})
    run = train(runner, tmp_path / "a", recipe, "--allow-code")
    assert metrics(run)["status"] == "completed" and math.isfinite(metrics(run)["test"]["loss"])


@pytest.mark.slow
def test_mixed_bfloat16_trains_on_cpu(runner: Any, tmp_path: Path, tiny_classification: Path) -> None:
    run = train(runner, tmp_path, recipe_for(tiny_classification, epochs=1, precision="mixed_bfloat16"))
    result = metrics(run)
    assert result["precision"] == "mixed_bfloat16" and result["device"] == "cpu" and result["backend"] == "tensorflow"
    assert all(math.isfinite(v) for v in result["test"].values())
    keras.mixed_precision.set_dtype_policy("float32")
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert model.get_layer("dense_0").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("output").dtype_policy.compute_dtype == "float32"
    assert model.output.dtype == "float32"


@pytest.mark.slow
def test_resume_continues_and_matches_an_uninterrupted_run(
    runner: Any, tmp_path: Path, tiny_classification: Path
) -> None:
    recipe = recipe_for(tiny_classification, epochs=4, early_stopping=False)
    recipe["model"] = {**recipe["model"], "dropout": 0.3}
    first = train(runner, tmp_path / "a", recipe, "--set", "train.epochs=2")
    assert len(history(first)) == 2
    result = runner.invoke(cli, ["train", "--resume", str(first), "--set", "train.epochs=4"])
    assert result.exit_code == 0, result.output
    resumed = history(first)
    assert resumed["epoch"].tolist() == [1, 2, 3, 4]
    assert "epochs: 4" in (first / "recipe.yaml").read_text()
    whole = train(runner, tmp_path / "b", recipe)
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), history(whole).drop(columns="seconds"), rtol=1e-5)
    for split in ("train", "validation", "test"):
        assert metrics(first)[split] == pytest.approx(metrics(whole)[split], abs=1e-5)


@pytest.mark.slow
def test_same_seed_same_run(run: Path, again: Path) -> None:
    assert (run / "preprocess.json").read_text() == (again / "preprocess.json").read_text()
    first, second = metrics(run), metrics(again)
    assert {k: round(v, 4) for k, v in first["test"].items()} == {k: round(v, 4) for k, v in second["test"].items()}
    for key in ("seed", "versions", "device", "backend", "precision"):
        assert first[key] == second[key] and first[key] not in (None, "", {})
    assert first["seed"] == 42 and "keras" in first["versions"]


# ----------------------------------------------------------------------------- bad data files


def _with_cell(column: str, row: int, value: object) -> pd.DataFrame:
    frame = table().astype({column: object})
    frame.loc[row, column] = value
    return frame


def _pixels(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.integers(0, 16, size=(n, 8)), columns=[f"p{i}" for i in range(8)])
    frame["label"] = np.where(rng.random(n) > 0.5, "a", "b")
    return frame


def _texts() -> pd.DataFrame:
    frame = table()
    frame["notes"] = ""
    return frame


BAD_DATA = {
    "missing-file": (None, "", "data.path", "data file not found"),
    "empty-file": (b"", "", "data.path", "the data file is empty"),
    "header-only": (b"x1,x2,label\n", "", "data.path", "header but no rows"),
    "binary-garbage": (bytes(range(256)) * 8, "", "data.path", "binary file"),
    "semicolon-in-csv": (
        b"x1;x2;label\n" + b"".join(b"%d;%d;%s\n" % (i, i % 3, b"ab"[i % 2 :][:1]) for i in range(30)),
        "",
        "data.path",
        "delimiter",
    ),
    "target-missing": (table(), "", "data.target", "target column 'label' is not in the data"),
    "target-one-class": (table().assign(label="yes"), "", "data.target", "only one class"),
    "nan-with-missing-error": (
        _with_cell("x1", 7, np.nan),
        "  missing: error\n",
        "data.missing",
        "missing value at row 7",
    ),
    "inf-in-feature": (_with_cell("x2", 3, "inf"), "", "data.path", "infinite value at row 3"),
    "text-in-numeric-column": (_with_cell("x1", 5, "twelve"), "", "data.path", "'twelve'"),
    "image-shape-mismatch": (_pixels(), "  shape: [3, 3, 1]\n", "data.shape", "needs 9 pixel columns, but there are 8"),
    "empty-text-column": (_texts(), "  text: notes\n  features: [notes]\n", "data.text", "empty in every training row"),
    "feature-missing": (table(), "  features: [x1, x3]\n", "data.features", "'x3'"),
}


@pytest.mark.parametrize("case", list(BAD_DATA), ids=list(BAD_DATA))
def test_bad_data(runner, tmp_path: Path, case: str) -> None:
    content, extra, field, says = BAD_DATA[case]
    if isinstance(content, bytes):
        write_data(tmp_path, raw=content)
    elif content is not None:
        frame = content.drop(columns="label") if case == "target-missing" else content
        write_data(tmp_path, frame)
    (tmp_path / "recipe.yaml").write_text(recipe_text(extra))
    out = tmp_path / "runs"
    result = runner.invoke(cli, ["train", str(tmp_path / "recipe.yaml"), "--out", str(out), *TF])
    line = {"data.path": 2, "data.target": 3}.get(field, 4)  # extra data lines start at line 4
    assert_clean_error(result, says=says, field=field, line=line)
    assert not out.exists(), "a data error must not leave a run directory"


def test_validate_reports_missing_target_without_keras(runner, tmp_path: Path) -> None:
    write_data(tmp_path, table().drop(columns="label"))
    (tmp_path / "recipe.yaml").write_text(recipe_text())
    result = runner.invoke(cli, ["validate", str(tmp_path / "recipe.yaml")])
    assert_clean_error(result, says="'label' is not in data.csv", field="data.target", line=3)


# ----------------------------------------------------------------------------- output folder
@pytest.fixture
def small_recipe(tmp_path: Path) -> Path:
    write_data(tmp_path, table(80))
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe_text(epochs=3).replace("  batch_size: 16\n", "  batch_size: 16\n  early_stopping: false\n"))
    return path


def test_out_under_a_regular_file(runner, small_recipe: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    result = runner.invoke(cli, ["train", str(small_recipe), "--out", str(blocker / "runs"), *TF])
    assert_clean_error(result, says="cannot create the output folder", field="--out")
    assert blocker.read_text() == "a file, not a folder"


def test_out_not_writable(runner, small_recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod 555 does not stop root, so the permission check itself is simulated."""
    out = tmp_path / "readonly"
    out.mkdir()
    real_access = os.access

    def access(path: str, mode: int, **kwargs: object) -> bool:
        if mode & os.W_OK and Path(path).is_relative_to(out):
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    result = runner.invoke(cli, ["train", str(small_recipe), "--out", str(out), *TF])
    assert_clean_error(result, says="is not writable", field="--out")
    assert not [p for p in out.rglob("*") if p.is_file()]
    assert not list((out / "recipe").iterdir()) if (out / "recipe").exists() else True


# ----------------------------------------------------------------------------- untrusted inputs never run code
PLAIN_RECIPE = """\
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


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "label": np.where(x.sum(axis=1) > 0, "yes", "no")}).to_csv(
        tmp_path / "data.csv", index=False
    )
    return tmp_path


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
    text, args = PLAIN_RECIPE, []
    if where == "value":
        text = PLAIN_RECIPE + f"name: {tagged}\n"
    elif where == "nested":
        text = PLAIN_RECIPE.replace("  units: [4]\n", f"  units: [4]\n  activation: {tagged}\n")
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
    (folder / "recipe.yaml").write_text("\n".join(lines) + "\n" + PLAIN_RECIPE)
    assert_refused(runner.invoke(cli, ["validate", str(folder / "recipe.yaml")]), "expands to more than")


def test_npz_with_pickled_objects_is_refused(runner, folder: Path) -> None:
    canary = folder / "unpickled"
    np.savez(folder / "data.npz", x1=np.arange(10.0), label=np.array([_Canary(str(canary))] * 10, dtype=object))
    (folder / "recipe.yaml").write_text(PLAIN_RECIPE.replace("data.csv", "data.npz"))
    result = runner.invoke(cli, ["train", str(folder / "recipe.yaml"), "--out", str(folder / "runs"), *TF])
    assert_refused(result, "object arrays are refused")
    assert not canary.exists()


class _Canary:
    """Unpickling this leaves a file behind."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "a"))


LOSS_FILE = """\
import pathlib
pathlib.Path(__file__).with_name("imported").touch()

import keras


def half_mse(y_true, y_pred):
    return 0.5 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)
"""


@pytest.mark.slow
def test_custom_loss_needs_allow_code(runner, folder: Path) -> None:
    (folder / "my_loss.py").write_text(LOSS_FILE)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 2))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": x @ [2.0, -1.0]}).to_csv(folder / "reg.csv", index=False)
    text = PLAIN_RECIPE.replace("data.csv", "reg.csv").replace("target: label", "target: y")
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


@pytest.mark.slow
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
    (folder / "recipe.yaml").write_text(PLAIN_RECIPE)
    out = folder / "runs"
    trained = runner.invoke(cli, ["train", str(folder / "recipe.yaml"), "--out", str(out), *TF])
    assert trained.exit_code == 0, trained.output
    (run,) = (out / "recipe").iterdir()
    assert runner.invoke(cli, ["evaluate", str(run)]).exit_code == 0
    assert runner.invoke(cli, ["predict", str(run), "--data", str(folder / "data.csv")]).exit_code == 0
    assert attempts == []


@pytest.mark.slow
def test_train_shows_what_the_audit_dropped_and_why(runner, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    n = 120
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "record": np.arange(1, n + 1),
            "x": x,
            "lab": "central",
            "label": np.where(x + rng.normal(size=n) > 0, "yes", "no"),
        }
    )
    frame.loc[[4, 8], "label"] = None
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "recipe.yaml").write_text(recipe_text(epochs=1))
    result = runner.invoke(cli, ["train", str(tmp_path / "recipe.yaml"), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.replace("│", " ").split())  # the header's box and line breaks undone
    assert "(2 rows with an empty target dropped)" in out
    assert "record (identifier), lab (constant)" in out
    assert out.index("warning [identifier] record") < out.index("epoch 1")  # printed before training
    run = only_run(tmp_path / "runs", "recipe")
    saved = json.loads((run / "audit.json").read_text())
    assert [c["action"] for c in saved["columns"]] == ["drop", "standardize", "drop", "predict"]
    assert json.loads((run / "preprocess.json").read_text())["state"]["features"] == ["x"]


# ----------------------------------------------------------------------------- owner, lock, permissions
@pytest.mark.slow
def test_a_run_records_its_owner_holds_a_lock_and_writes_one_file_mode(runner, tmp_path: Path) -> None:
    """metrics.json names the process that trained the run; the lock file is gone afterwards; every file of the
    run folder has the same permissions (0666 less the umask; model.keras too); a completed run resumes only
    for more epochs; a run whose process is gone shows as stale."""
    from kproto.runs import index, layout

    write_data(tmp_path, table(80))
    run = train(runner, tmp_path, recipe_for(tmp_path / "data.csv", epochs=1), *TF)
    owner = metrics(run)["owner"]
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
    assert not (run / layout.LOCK).exists()
    umask = os.umask(0)
    os.umask(umask)
    modes = {p.relative_to(run).as_posix(): p.stat().st_mode & 0o777 for p in run.rglob("*") if p.is_file()}
    assert set(modes.values()) == {0o666 & ~umask}, modes
    assert modes[layout.MODEL] == modes[layout.METRICS]
    more = runner.invoke(cli, ["train", "--resume", str(run), "--set", "train.epochs=2", *TF])
    assert more.exit_code == 0, more.output
    assert metrics(run)["epochs"] == 2 and metrics(run)["status"] == "completed"
    data = metrics(run)
    data["status"] = "running"
    data["owner"] = {**owner, "pid": 2**22 + 12345}  # above the default pid_max: no such process
    (run / layout.METRICS).write_text(json.dumps(data))
    assert index.read_run(run).status == "stale"


@pytest.mark.slow
def test_missing_indicators_train_and_predict_end_to_end(tmp_path: Path) -> None:
    """data.missing_indicators: x2's gaps become a 0/1 input, said in the header and preprocess.json, and a row with
    x2 empty is predicted differently from the same row with x2 at the median it is imputed with."""
    tiny_frame(150, 0).to_csv(tmp_path / "tiny.csv", index=False)
    recipe = tmp_path / "tiny_run.yaml"
    recipe.write_text(TINY_RECIPE.format(seed=42))
    out = tmp_path / "runs"
    args = ["train", str(recipe), "--out", str(out), "--set", "train.epochs=3", "--set", "data.missing_indicators=true"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "missing values" in result.output and "x2: the training median, and a 0/1 input" in result.output
    run = next((out / "tiny-run").iterdir())
    saved = json.loads((run / "preprocess.json").read_text())["state"]
    columns = {c["name"]: c for c in saved["columns"]}
    assert columns["x2"].get("indicator") is True and "indicator" not in columns["x1"]
    rows = pd.DataFrame({"x1": [0.5, 0.5], "x2": [np.nan, columns["x2"]["fill"]], "color": ["red", "red"]})
    rows.to_csv(tmp_path / "rows.csv", index=False)
    predicted = CliRunner().invoke(cli, ["predict", str(run), "--data", str(tmp_path / "rows.csv")])
    assert predicted.exit_code == 0, predicted.output
    frame = pd.read_csv(io.StringIO(predicted.stdout))
    probabilities = frame[["p_high", "p_low", "p_mid"]].to_numpy()
    assert not np.allclose(probabilities[0], probabilities[1])  # the model sees which one was missing
