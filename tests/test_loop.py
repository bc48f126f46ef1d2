"""kproto.training.loop under faults (TensorFlow): a full disk while saving, NaN loss, SIGINT/SIGTERM/SIGKILL leave a
run that loads and resumes to the same numbers; and the test suite's own rule that fast tests train nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import (
    assert_clean_error,
    fail_fsync,
    history,
    leftovers,
    metrics,
    recipe_text,
    table,
    train,
    write_data,
)

from kproto.cli import cli

ROOT = Path(__file__).resolve().parent.parent


TF = ["--backend", "tensorflow"]


ENV = {
    **os.environ,
    "KERAS_BACKEND": "tensorflow",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "CUDA_VISIBLE_DEVICES": "-1",
    "PYTHONPATH": str(ROOT),
    "COLUMNS": "120",
}


@pytest.fixture
def small_recipe(tmp_path: Path) -> Path:
    write_data(tmp_path, table(80))
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe_text(epochs=3).replace("  batch_size: 16\n", "  batch_size: 16\n  early_stopping: false\n"))
    return path


# ----------------------------------------------------------------------------- full disk
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to name an fd's file")
@pytest.mark.parametrize(
    ("marker", "nth", "sticky"),
    # a run of fast epochs checkpoints its first epoch and its last (epoch 3), and logs every epoch
    [(".epoch-0003.", 1, False), (".epoch-0003.", 1, True), (".metrics.json.", 4, False), (".history.csv.", 2, True)],
    ids=["checkpoint-once", "checkpoint-disk-stays-full", "metrics-once", "history-disk-stays-full"],
)
def test_disk_full_while_saving(
    runner, small_recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: str, nth: int, sticky: bool
) -> None:
    from kproto.runs.load import check_model_file, load_keras_model

    out = tmp_path / "runs"
    seen = fail_fsync(monkeypatch, marker, nth, sticky)
    result = runner.invoke(cli, ["train", str(small_recipe), "--out", str(out), *TF])
    monkeypatch.undo()
    assert seen, "the simulated failure never triggered"
    assert_clean_error(result, says="No space left on device")
    assert "disk full" in result.output
    (run,) = (out / "recipe").iterdir()
    assert leftovers(run) == [], "temporary files were left behind"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == ("running" if sticky else "failed")
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["epoch"] >= 1
    check_model_file(run / "checkpoint" / state["model_file"])
    assert load_keras_model(run / "model.keras") is not None
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == list(range(1, len(history) + 1))
    if not sticky and marker.startswith(".epoch"):  # space is back: the run resumes from its last checkpoint
        resumed = runner.invoke(cli, ["train", "--resume", str(run), *TF])
        assert resumed.exit_code == 0, resumed.output
        assert json.loads((run / "metrics.json").read_text())["status"] == "completed"
        assert list(pd.read_csv(run / "history.csv")["epoch"]) == [1, 2, 3]


# ----------------------------------------------------------------------------- faults during training (subprocesses)
def kproto(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kproto.cli", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout
    )


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kproto.cli", *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_epoch(out: Path, epoch: int, proc: subprocess.Popen, timeout: float = 60) -> Path:
    """The run folder once its checkpoint records `epoch` (the process must still be running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for state in out.glob("*/*/checkpoint/state.json"):
            if json.loads(state.read_text())["epoch"] >= epoch:
                return state.parent.parent
        if proc.poll() is not None:
            pytest.fail(f"training ended (exit {proc.returncode}) before epoch {epoch}:\n{proc.stdout.read()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no checkpoint for epoch {epoch} within {timeout} s")


EPOCHS = 4


LONG_RECIPE = f"""\
seed: 7
data:
  path: long.csv
  target: label
model:
  type: feedforward
  units: [16]
  dropout: 0.2
train:
  epochs: {EPOCHS}
  batch_size: 1
  early_stopping: false
"""


@pytest.fixture(scope="module")
def long_job(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """800 rows at batch size 1 (epochs of about half a second) and the final metrics of an uninterrupted run."""
    folder = tmp_path_factory.mktemp("long")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(800, 6))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    frame["label"] = np.where(x[:, 0] + x[:, 1] * x[:, 2] > 0, "a", "b")
    frame.to_csv(folder / "long.csv", index=False)
    (folder / "long.yaml").write_text(LONG_RECIPE)

    done = CliRunner().invoke(cli, ["train", str(folder / "long.yaml"), "--out", str(folder / "reference"), *TF])
    assert done.exit_code == 0, done.output
    (run,) = (folder / "reference" / "long").iterdir()
    return {"folder": folder, "reference": json.loads((run / "metrics.json").read_text())}


def _assert_same_result(run: Path, reference: dict) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert metrics["epochs"] == EPOCHS
    assert list(pd.read_csv(run / "history.csv")["epoch"]) == list(range(1, EPOCHS + 1))
    for split in ("validation", "test"):
        for name, value in reference[split].items():
            assert metrics[split][name] == pytest.approx(value, abs=1e-5), (split, name)


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_after_the_step_and_resumes_to_the_same_result(long_job: dict, sig: int, code: int) -> None:
    folder = long_job["folder"]
    out = folder / f"runs-{sig.name}"
    proc = start("train", "long.yaml", "--out", out.name, *TF, cwd=folder)
    run = wait_for_epoch(out, 1, proc)
    time.sleep(0.3)  # into the next epoch
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, output
    assert "Traceback" not in output
    assert f"kproto train --resume {run.relative_to(folder)}" in output.replace("\n", "")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert 1 <= state["epoch"] < EPOCHS
    assert [row["epoch"] for row in state["history"]] == list(range(1, state["epoch"] + 1))
    assert (run / "checkpoint" / state["model_file"]).exists()
    assert leftovers(run) == []
    if sig == signal.SIGTERM:  # resuming is the same as after SIGINT (checked there)
        return

    resumed = kproto("train", "--resume", str(run), cwd=folder)  # the backend comes from the run
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"after epoch {state['epoch']}" in resumed.stdout
    _assert_same_result(run, long_job["reference"])


@pytest.mark.slow
def test_sigkill_leaves_a_consistent_run_that_resumes(long_job: dict) -> None:
    from kproto.runs.load import check_model_file

    folder = long_job["folder"]
    out = folder / "runs-kill"
    proc = start("train", "long.yaml", "--out", out.name, *TF, cwd=folder)
    run = wait_for_epoch(out, 1, proc)
    time.sleep(0.3)
    proc.kill()
    proc.communicate(timeout=30)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "running"
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    check_model_file(run / "checkpoint" / state["model_file"])
    check_model_file(run / "model.keras")
    json.loads((run / "preprocess.json").read_text())
    assert len(pd.read_csv(run / "history.csv")) >= state["epoch"]
    for path in run.rglob("*"):  # every finished file is whole; only dot-prefixed temporaries may be partial
        if path.is_file() and not path.name.startswith("."):
            if path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".keras":
                check_model_file(path)
    # a kill in the middle of a save leaves a temporary file: resume ignores and removes it
    (run / ".model.partial.keras").write_bytes(b"PK\x03\x04half")
    (run / "checkpoint" / ".state.json.x1y2.tmp").write_text('{"epoch": ')

    resumed = kproto("train", "--resume", str(run), cwd=folder)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert leftovers(run) == []
    _assert_same_result(run, long_job["reference"])


NAN_RECIPE = """\
data:
  path: unscaled.csv
  target: y
model:
  type: feedforward
  units: [8]
train:
  epochs: 4
  batch_size: 8
  early_stopping: false
  optimizer: {name: sgd, learning_rate: 0.001}
  schedule: {name: exponential, decay_rate: 1.0e+8, decay_epochs: 1, staircase: true}
"""


@pytest.mark.slow
def test_nan_loss_stops_with_a_clear_message(tmp_path: Path) -> None:
    """The learning rate jumps from 1e-3 to 1e5 after epoch 1: epoch 2 diverges, epoch 1 stays usable."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1000, size=(300, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": x @ [3.0, -2.0, 5.0] / 1000}).to_csv(
        tmp_path / "unscaled.csv", index=False
    )
    (tmp_path / "nan.yaml").write_text(NAN_RECIPE)
    done = kproto("train", "nan.yaml", "--out", "runs", *TF, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert "Training diverged" in output and "epoch 2" in output
    assert "learning rate" in output
    (run,) = (tmp_path / "runs" / "nan").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "failed"
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1
    assert leftovers(run) == []
    from kproto.runs.load import load_keras_model

    for path in (run / "model.keras", run / "checkpoint" / state["model_file"]):
        model = load_keras_model(path, compile=False)
        assert all(np.isfinite(w).all() for w in model.get_weights()), path


# ----------------------------------------------------------------------------- fast tests train nothing (conftest)
def test_a_fast_test_cannot_fit_a_model() -> None:
    """conftest's guard: outside tests marked slow, every way of fitting a model stops with the rule to follow."""
    import keras

    from kproto.training.engines.adversarial import AdversarialEngine
    from kproto.training.engines.fused import FusedEngine
    from kproto.training.loop import Trainer

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(RuntimeError, match="this test trains a model .*: mark it slow"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)
    with pytest.raises(RuntimeError, match="mark it slow"):
        FusedEngine.train_epoch(None, None, None, None)
    with pytest.raises(RuntimeError, match="mark it slow"):
        Trainer._loop(None)
    with pytest.raises(RuntimeError, match="mark it slow"):
        AdversarialEngine.train_epoch(None, None, None, None)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "precise"), [("tensorflow", True), ("tensorflow", False), ("jax", True)])
def test_batch_norm_is_right_after_one_short_epoch(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, precise: bool
) -> None:
    """Digits with a batch-normalized CNN, one epoch of ~40 steps: validation accuracy is close to training accuracy
    with statistics re-estimated after the epoch; with only the moving averages (momentum 0.99) it stays near chance."""
    from kproto.training import loop

    if not precise:
        monkeypatch.setattr(loop, "trainable_batch_norms", lambda model: [])
    data = tmp_path / "digits.csv"
    pd.read_csv(ROOT / "data" / "digits.csv").head(900).to_csv(data, index=False)
    recipe = {
        "name": "bn",
        "seed": 1,
        "data": {"path": str(data), "target": "label", "shape": [8, 8, 1]},
        "model": {"type": "cnn", "filters": [8, 16], "dense": [32], "dropout": 0.0, "spatial_dropout": 0.0},
        "train": {"epochs": 1, "batch_size": 16, "optimizer": {"name": "adam", "learning_rate": 0.01}},
    }
    if backend == "jax":  # Keras cannot switch backends within the test process
        import yaml

        (tmp_path / "bn.yaml").write_text(yaml.safe_dump(recipe))
        done = kproto("train", "bn.yaml", "--backend", "jax", "--out", "out", cwd=tmp_path, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        (run,) = (p.parent for p in (tmp_path / "out").glob("*/*/metrics.json"))
    else:
        run = train(runner, tmp_path / "out", recipe, "--backend", backend)
    row = history(run).iloc[0]
    if precise:
        assert row["val_accuracy"] >= row["accuracy"] - 0.1, row.to_dict()
        assert "re-estimated after each epoch" in metrics(run)["batch_norm"]
    else:
        assert row["val_accuracy"] < row["accuracy"] - 0.2, row.to_dict()
        assert "batch_norm" not in metrics(run)


def test_the_header_names_the_columns_with_a_missing_value_input() -> None:
    from types import SimpleNamespace

    from kproto.training.loop import numeric_facts

    def dataset(columns: list[dict]) -> SimpleNamespace:
        return SimpleNamespace(preprocessor=SimpleNamespace(state={"columns": columns}))

    plain = [{"name": "age", "type": "numeric"}]
    assert numeric_facts(dataset(plain)) == {}
    marked = [{"name": f"c{i}", "type": "numeric", "indicator": True} for i in range(8)]
    line = numeric_facts(dataset(plain + marked))["missing values"]
    assert line.startswith("c0, c1, c2, c3, c4, c5, … and 2 more:") and "0/1 input" in line
    assert "age" not in line
    logged = [{"name": "area", "type": "numeric", "log": True, "skew": 4.21}]
    assert numeric_facts(dataset(logged)) == {"log scale": "area (skewness 4.21): log(1 + x), then scaled"}
