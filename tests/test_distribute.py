"""train.distribute: TF_CONFIG parsing, validation, learning-rate scaling, and real runs (two CPU workers on 127.0.0.1,
MirroredStrategy on the CPU, Keras DataParallel over two forced JAX CPU devices)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.core.errors import RecipeError
from kproto.training.distribute import (
    Distribution,
    check_batch_size,
    check_combination,
    lr_factor,
    parse_tf_config,
    scale_learning_rate,
)

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120

RECIPE = """
name: tiny
seed: 3
data: {{path: {data}, target: label}}
model: {{type: feedforward, units: [16], dropout: 0.0, numeric_embedding: none, ensemble: 1}}  # the plain MLP measured below
train:
  epochs: 2
  batch_size: 16
  optimizer: {{name: adam, learning_rate: 0.01}}
  distribute: {distribute}
"""


def tf_config(ports: list[int], index: int) -> str:
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "XLA_FLAGS", "JAX_PLATFORMS")}
    env.update(CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT), **extra)
    return env


def runs_under(out: Path) -> list[Path]:
    return sorted(p.parent for p in out.glob("*/*/metrics.json"))


def train_cmd(recipe: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kproto.cli", "train", str(recipe), "--out", str(out), *extra]


# ----------------------------------------------------------------------------- pure functions
def test_tf_config_chief_is_worker_zero_or_the_chief_task() -> None:
    spec = parse_tf_config(tf_config([1000, 1001, 1002], 2))
    assert (spec.num_workers, spec.is_chief, spec.worker_rank) == (3, False, 2)
    assert parse_tf_config(tf_config([1000, 1001], 0)).is_chief
    with_chief = {"cluster": {"chief": ["h:1"], "worker": ["h:2", "h:3"]}}
    chief = parse_tf_config(json.dumps({**with_chief, "task": {"type": "chief", "index": 0}}))
    worker0 = parse_tf_config(json.dumps({**with_chief, "task": {"type": "worker", "index": 0}}))
    assert (chief.is_chief, chief.num_workers, chief.worker_rank) == (True, 3, 0)
    assert (worker0.is_chief, worker0.worker_rank) == (False, 1)
    assert parse_tf_config(None) is None and parse_tf_config("  ") is None


@pytest.mark.parametrize(
    "text, words",
    [
        ("{not json", "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "no 'cluster'"),
        ('{"cluster": {"worker": ["h:1"]}}', "no 'task'"),
        ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 3}}', "index 3"),
        ('{"cluster": {"worker": ["nohostport"]}, "task": {"type": "worker", "index": 0}}', "host:port"),
        ('{"cluster": {"worker": ["h:1"], "ps": ["h:2"]}, "task": {"type": "ps", "index": 0}}', "cannot train"),
    ],
)
def test_bad_tf_config_is_a_recipe_error(text: str, words: str) -> None:
    with pytest.raises(RecipeError) as info:
        parse_tf_config(text)
    assert words in info.value.message and info.value.field == "train.distribute" and "TF_CONFIG" in info.value.hint


def test_lr_scaling_rules() -> None:
    assert lr_factor("none", 8) == 1.0
    assert lr_factor("linear", 8) == 8.0
    assert lr_factor("sqrt", 4) == 2.0


def test_combinations_are_checked() -> None:
    check_combination("none", "torch")
    check_combination("mirrored", "tensorflow")
    check_combination("data_parallel", "jax")
    for mode, backend, needed in [
        ("mirrored", "jax", "tensorflow"),
        ("multi_worker", "torch", "tensorflow"),
        ("data_parallel", "tensorflow", "jax"),
    ]:
        with pytest.raises(RecipeError, match=f"needs the {needed} backend") as info:
            check_combination(mode, backend)
        assert info.value.field == "train.distribute" and f"--backend {needed}" in info.value.hint
    with pytest.raises(RecipeError, match="fused engine") as info:
        check_combination("data_parallel", "jax", engine="fused")
    assert info.value.field == "train.engine"
    with pytest.raises(RecipeError, match="a gan model trains with its own engine") as info:
        check_combination("mirrored", "tensorflow", family="gan")
    assert info.value.field == "train.distribute" and "distribute: none" in info.value.hint


def test_global_batch_must_cover_the_replicas() -> None:
    check_batch_size(16, 4, "mirrored")
    check_batch_size(17, 4, "mirrored")  # tf.distribute splits unevenly
    with pytest.raises(RecipeError, match="across 8 replicas") as info:
        check_batch_size(4, 8, "multi_worker")
    assert info.value.field == "train.batch_size"
    with pytest.raises(RecipeError, match="evenly") as info:
        check_batch_size(19, 2, "data_parallel", exact=True)
    assert "batch_size: 18" in info.value.hint


def test_only_the_chief_writes_where_asked(tmp_path: Path) -> None:
    chief = Distribution(mode="multi_worker", workers=2, replicas=2)
    assert chief.output_folder(tmp_path) == tmp_path
    worker = Distribution(mode="multi_worker", workers=2, replicas=2, is_chief=False, rank=1)
    scratch = worker.output_folder(tmp_path)
    assert scratch != tmp_path and scratch.exists()
    run = tmp_path / "tiny" / "stamp"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    copy = worker.resume_folder(run)
    assert (copy / "metrics.json").exists() and copy != run
    worker.cleanup()
    assert not scratch.exists() and not copy.exists() and (run / "metrics.json").exists()
    assert worker.facts()["distribute"] == "multi_worker: 2 workers, 2 replicas; this is worker 1"
    assert worker.metrics() == {
        "distribute": "multi_worker",
        "workers": 2,
        "replicas": 2,
        "lr_scaling": "none",
        "lr_factor": 1.0,
    }


def test_scaled_learning_rate_keeps_the_other_options(tiny_classification: Path, make_recipe) -> None:
    from kproto.recipe import load_recipe

    recipe = load_recipe(make_recipe(RECIPE.format(data=tiny_classification, distribute="mirrored")), ()).recipe
    assert scale_learning_rate(recipe, 1.0) is recipe
    scaled = scale_learning_rate(recipe, 4.0)
    assert scaled.train.optimizer == {"name": "adam", "learning_rate": 0.04}
    assert recipe.train.optimizer == {"name": "adam", "learning_rate": 0.01}
    default = recipe.model_copy(update={"train": recipe.train.model_copy(update={"optimizer": "sgd"})})
    assert scale_learning_rate(default, 2.0).train.optimizer == {"name": "sgd", "learning_rate": 0.02}


# ----------------------------------------------------------------------------- real runs
@pytest.mark.slow
def test_two_workers_on_localhost_match_one_process(tiny_classification: Path, tmp_path: Path, runner) -> None:
    from kproto.cli import cli

    recipe = tmp_path / "multi.yaml"
    recipe.write_text(RECIPE.format(data=tiny_classification, distribute="multi_worker"))
    ports = free_ports(2)
    outs = [tmp_path / f"out{i}" for i in range(2)]
    workers = [
        subprocess.Popen(
            train_cmd(recipe, outs[i]),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env(TF_CONFIG=tf_config(ports, i), KERAS_BACKEND="tensorflow"),
        )
        for i in range(2)
    ]
    try:
        single = runner.invoke(
            cli, ["train", str(recipe), "--out", str(tmp_path / "single"), "--set", "train.distribute=none"]
        )
        logs = [w.communicate(timeout=TIMEOUT)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()
    assert [w.returncode for w in workers] == [0, 0], "\n\n".join(log[-3000:] for log in logs)
    assert single.exit_code == 0, single.output
    assert "2 workers, 2 replicas; this is worker 0 (chief)" in logs[0]
    assert "chief wrote the run directory" in logs[1]
    chief_runs = runs_under(outs[0])
    assert len(chief_runs) == 1 and not outs[1].exists()  # the other worker kept nothing
    run = chief_runs[0]
    for name in ("model.keras", "recipe.yaml", "preprocess.json", "history.csv", "checkpoint/state.json"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 2
    assert (metrics["distribute"], metrics["workers"], metrics["replicas"]) == ("multi_worker", 2, 2)
    reference = json.loads((runs_under(tmp_path / "single")[0] / "metrics.json").read_text())
    assert reference["replicas"] == 1 and reference["distribute"] == "none"
    # Two workers average the same global batches' gradients as one process (measured on this data: the same
    # training loss to 2% per epoch, test loss 6% apart, one of 18 test rows classified differently), so both the
    # accuracy (at most two test rows apart) and the loss (within 10%) must agree, and so must training per epoch.
    got, want = metrics["test"], reference["test"]
    test_rows = json.loads((run / "preprocess.json").read_text())["info"]["rows"]["test"]
    assert abs(got["accuracy"] - want["accuracy"]) <= 2 / test_rows + 1e-6, (got, want)
    assert abs(got["loss"] - want["loss"]) <= 0.1 * want["loss"], (got, want)
    multi, one = (pd.read_csv(r / "history.csv") for r in (run, runs_under(tmp_path / "single")[0]))
    assert list(multi["epoch"]) == list(one["epoch"]) == [1, 2]
    np.testing.assert_allclose(multi["loss"], one["loss"], rtol=0.05)


@pytest.mark.slow
def test_mirrored_on_the_cpu_is_one_replica(tiny_classification: Path, make_recipe, runner, tmp_path: Path) -> None:
    from kproto.cli import cli

    recipe = make_recipe(RECIPE.format(data=tiny_classification, distribute="mirrored") + "  lr_scaling: linear\n")
    result = runner.invoke(cli, ["train", str(recipe), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "mirrored: 1 worker, 1 replica" in result.output
    metrics = json.loads((runs_under(tmp_path / "runs")[0] / "metrics.json").read_text())
    assert (metrics["distribute"], metrics["workers"], metrics["replicas"]) == ("mirrored", 1, 1)
    assert metrics["lr_factor"] == 1.0  # linear × 1 replica
    assert metrics["status"] == "completed" and metrics["test"]["accuracy"] > 0


def test_data_parallel_on_tensorflow_is_refused(tiny_classification: Path, make_recipe, runner, tmp_path: Path) -> None:
    from kproto.cli import cli

    recipe = make_recipe(RECIPE.format(data=tiny_classification, distribute="data_parallel"))
    result = runner.invoke(cli, ["train", str(recipe), "--backend", "tensorflow", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert "needs the jax backend" in result.output and "line 10" in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_data_parallel_over_two_jax_cpu_devices(tiny_classification: Path, make_recipe, tmp_path: Path) -> None:
    pytest.importorskip("jax")
    recipe = make_recipe(RECIPE.format(data=tiny_classification, distribute="data_parallel") + "  lr_scaling: sqrt\n")
    env = child_env(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    done = subprocess.run(
        train_cmd(recipe, tmp_path / "runs"), cwd=tmp_path, capture_output=True, text=True, env=env, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    metrics = json.loads((runs_under(tmp_path / "runs")[0] / "metrics.json").read_text())
    assert (metrics["backend"], metrics["distribute"], metrics["replicas"]) == ("jax", "data_parallel", 2)
    assert metrics["lr_factor"] == pytest.approx(2**0.5) and metrics["engine"] == "fit"
    assert metrics["status"] == "completed" and metrics["test"]["accuracy"] > 0
