"""kproto.core.backend: a run trained on JAX (fit and auto engines) evaluates, predicts and exports on TensorFlow with the
same numbers; a missing backend or GPU is a clear error (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kproto.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def _jax_train(folder: Path, data: Path, engine: str) -> Path:
    recipe = {
        "name": f"jax-{engine}",
        "seed": 5,
        "data": {"path": str(data), "target": "label"},
        "model": {"type": "feedforward", "units": [8], "dropout": 0.1},
        "train": {"epochs": 2, "batch_size": 16, "engine": engine},
    }
    path = folder / f"{engine}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "kproto.cli", "train", str(path), "--out", str(folder / "runs"), "--backend", "jax"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run,) = (folder / "runs" / f"jax-{engine}").glob("*/metrics.json")
    return run.parent


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fit", "auto"])
def test_jax_run_evaluates_on_tensorflow(runner: Any, tmp_path: Path, tiny_classification: Path, engine: str) -> None:
    pytest.importorskip("jax")
    run = _jax_train(tmp_path, tiny_classification, engine)
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["backend"] == "jax" and saved["status"] == "completed"
    if engine == "fit":
        assert saved["engine"] == "fit"
    result = runner.invoke(cli, ["evaluate", str(run), "--backend", "tensorflow", "--json"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.output)
    for name, value in saved["test"].items():
        assert again[name] == pytest.approx(value, abs=1e-5), name
    predicted = runner.invoke(cli, ["predict", str(run), "--data", str(tiny_classification), "--backend", "tensorflow"])
    assert predicted.exit_code == 0, predicted.output
    assert predicted.stdout.splitlines()[0].count("p_") == 3  # the CSV on stdout; notes go to stderr
    if engine == "fit":
        exported = runner.invoke(cli, ["export", str(run), "--format", "savedmodel"])
        assert exported.exit_code == 0, exported.output


def test_torch_backend_missing_says_how_to_install(runner: Any, make_recipe: Any, tiny_classification: Path) -> None:
    if "torch" in sys.modules or __import__("importlib").util.find_spec("torch") is not None:
        pytest.skip("torch is installed here")
    recipe = make_recipe(f"data: {{path: {tiny_classification}, target: label}}\nmodel: {{type: feedforward}}\n")
    result = runner.invoke(cli, ["train", str(recipe), "--backend", "torch"])
    assert result.exit_code == 2
    assert "torch backend is not installed" in result.output and "pip install" in result.output


def test_device_gpu_without_a_gpu_exits_2(
    runner: Any, make_recipe: Any, tiny_classification: Path, tmp_path: Path
) -> None:
    recipe = make_recipe(f"data: {{path: {tiny_classification}, target: label}}\nmodel: {{type: feedforward}}\n")
    result = runner.invoke(cli, ["train", str(recipe), "--device", "gpu", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert "no GPU is visible" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_torch_run_evaluates_on_tensorflow(runner: Any, tmp_path: Path, tiny_classification: Path) -> None:
    """Where the optional torch extra is installed: train on torch, evaluate the same numbers on TensorFlow."""
    pytest.importorskip("torch")
    recipe = tmp_path / "torch.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": "on-torch",
                "data": {"path": str(tiny_classification), "target": "label"},
                "model": {"type": "feedforward", "units": [8]},
                "train": {"epochs": 2, "batch_size": 16},
            }
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kproto.cli",
            "train",
            str(recipe),
            "--out",
            str(tmp_path / "runs"),
            "--backend",
            "torch",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "torch"},
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (metrics,) = (tmp_path / "runs" / "on-torch").glob("*/metrics.json")
    saved = json.loads(metrics.read_text())
    assert saved["backend"] == "torch" and saved["status"] == "completed"
    evaluated = runner.invoke(cli, ["evaluate", str(metrics.parent), "--backend", "tensorflow", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    again = json.loads(evaluated.output)
    for name, value in saved["test"].items():
        assert again[name] == pytest.approx(value, abs=1e-5), name


@pytest.mark.parametrize(
    ("line", "noise"),
    [
        ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR", True),
        ("I0000 00:00:1796651528.809342   23337 port.cc:153] oneDNN custom operations are on. You may see", True),
        ("I1207 13:45:01.123456   23337 cudart_stub.cc:31] Could not find cuda drivers on your machine", True),
        (
            "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
            "appropriate compiler flags.",
            True,
        ),
        ("E0000 00:00:1796651528.809714   23337 cuda_dnn.cc:8] Unable to register cuDNN factory", False),
        ("/site-packages/tensorflow/__init__.py:3: UserWarning: a Python warning", False),
    ],
)
def test_tensorflow_start_up_notices_are_told_from_other_output(line: str, noise: bool) -> None:
    from kproto.core.backend import native_noise

    assert native_noise(line) is noise


def test_only_the_start_up_notices_are_held_back(tmp_path: Path) -> None:
    """A stand-in `tensorflow` that writes notices and an error line straight to file descriptor 2: the error line
    comes through, the notices do not."""
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1796651528.809342   23337 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'E0000 00:00:1796651528.809714   23337 loader.cc:8] a real problem\\n')\n"
    )
    code = "from kproto.core.backend import import_tensorflow_quietly\nimport_tensorflow_quietly()\nprint('loaded')\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "loaded"
    assert done.stderr.splitlines() == ["E0000 00:00:1796651528.809714   23337 loader.cc:8] a real problem"]


def test_configuring_tensorflow_leaves_stderr_clean() -> None:
    """TensorFlow's C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL; configuring the backend loads it with them
    caught."""
    code = (
        "import warnings, sys\n"
        "from kproto.core.backend import configure\n"
        "configure('tensorflow')\n"
        "import keras\n"
        "print('tensorflow' in sys.modules, keras.backend.backend())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "tensorflow"]
    assert done.stderr == ""
