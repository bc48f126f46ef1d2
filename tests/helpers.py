"""Helpers shared by test files: run folders made without training, and the checks on clean CLI errors."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def assert_clean_error(
    result: Any, *, says: str, field: str | None = None, line: int | None = None, code: int = 2
) -> None:
    """Exit `code`, no traceback, the message says `says` and names the field (and the recipe line)."""
    out = result.output
    assert result.exit_code == code, out
    assert "Traceback" not in out and "Unexpected error" not in out, out
    assert says in out, out
    if field:
        assert f"field '{field}'" in out, out
    if line is not None:
        assert f"line {line}" in out, out


def leftovers(folder: Path) -> list[str]:
    """Temporary files (dot-prefixed) anywhere under `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def untrained_run(recipe_path: Path, out: Path) -> Path:
    """A complete run folder for `recipe_path` under `out`, as `kproto train` writes it, but with the freshly built
    model: recipe.yaml, preprocess.json, model.keras, metrics.json (decisions and baselines included), history.csv
    and a checkpoint of "epoch 1".

    For tests of what reads runs (evaluate, predict, export, the safe loader) that must not train.
    """
    import keras

    from kproto.data import load_dataset
    from kproto.metrics.calibration import Decisions
    from kproto.models import build_model
    from kproto.recipe import dump_recipe, load_recipe
    from kproto.runs import layout
    from kproto.runs.store import RunDir, save_model_atomic
    from kproto.training.baselines import baseline_block
    from kproto.training.checkpoint import Checkpoint, save_checkpoint
    from kproto.training.compile import compile_model, model_spec_for
    from kproto.training.decisions import fit_decisions, positive_class
    from kproto.training.scoring import evaluate_splits

    recipe = load_recipe(recipe_path).recipe
    keras.utils.set_random_seed(recipe.seed)
    dataset = load_dataset(recipe)
    model = build_model(model_spec_for(recipe), dataset.info)
    steps = max(math.ceil(len(dataset.x_train) / recipe.train.batch_size), 1)
    setup = compile_model(model, recipe, dataset.info, steps, base=Path(recipe_path).parent, jit_compile=False)
    model.optimizer.build(model.trainable_variables)  # saved with its (untouched) state, as a trained run is
    run = RunDir.create(out, recipe.name)
    run.write_text(layout.RECIPE, dump_recipe(recipe))
    run.write_json(layout.PREPROCESS, {"info": dataset.info.to_dict(), "state": dataset.preprocessor.to_dict()})
    if dataset.audit is not None:
        run.write_json(layout.AUDIT, dataset.audit.to_dict())
    decisions = fit_decisions(model, dataset, recipe.train, setup.outputs, recipe.train.batch_size)
    if decisions.conformal is not None:
        run.write_json(layout.CONFORMAL, decisions.conformal.to_dict())
    decided = Decisions.from_metrics({**decisions.metrics, "outputs": setup.outputs})
    results = evaluate_splits(model, dataset, setup.label_mode, recipe.train.batch_size, decided, setup.metric_names)
    compared = baseline_block(recipe, dataset, results, setup.metric_names, 0.0)
    row = {"epoch": 1, "loss": results["train"]["loss"], "val_loss": results["validation"]["loss"]}
    save_checkpoint(run, model, Checkpoint(epoch=1, history=[row], best=row["val_loss"], best_epoch=1), 0.001)
    save_model_atomic(model, run.path / layout.MODEL)
    run.update_metrics(
        status="completed",
        seed=recipe.seed,
        backend=keras.backend.backend(),
        device="cpu",
        precision="float32",
        engine="fit",
        parameters=model.count_params(),
        **results,
        **decisions.metrics,
        **compared,
        **positive_class(dataset.info),
        epochs=1,
        best_epoch=1,
        seconds=0.0,
        finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
        label_mode=setup.label_mode,
        outputs=setup.outputs,
    )
    return run.path


# ----------------------------------------------------------------------------- `kproto train` in-process
BASE = {"name": "t", "seed": 3, "model": {"type": "feedforward", "units": [8], "dropout": 0.0}}


def train(runner: Any, folder: Path, recipe: dict[str, Any], *args: str, code: int = 0) -> Path | str:
    """Write `recipe` (JSON is YAML), run `kproto train` in-process; the run folder (or the output on failure)."""
    import yaml

    from kproto.cli import cli

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = folder / "runs"
    result = runner.invoke(cli, ["train", str(path), "--out", str(out), *args])
    assert result.exit_code == code, result.output + repr(result.exception)
    if code:
        return result.output
    (run,) = out.glob("*/*/metrics.json")
    return run.parent


def recipe_for(data: Path, **train: Any) -> dict[str, Any]:
    """A small feedforward recipe on `data` (target `label`), 4 epochs unless `train` says otherwise."""
    return {
        **BASE,
        "data": {"path": str(data), "target": "label"},
        "train": {"epochs": 4, "batch_size": 16, "steps_per_execution": 1, **train},
    }


def history(run: Path) -> Any:
    """The run's history.csv as a DataFrame."""
    import pandas as pd

    return pd.read_csv(run / "history.csv")


def metrics(run: Path) -> dict[str, Any]:
    """The run's metrics.json."""
    import json

    return json.loads((run / "metrics.json").read_text())


def assert_refused(result: Any, says: str) -> None:
    """Exit 2 with no traceback, and the message says `says`."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Unexpected error" not in result.output, result.output
    assert says in result.output, result.output


def fail_fsync(monkeypatch: Any, marker: str, nth: int, sticky: bool) -> list[str]:
    """os.fsync raises ENOSPC on the `nth` file whose name contains `marker` (and on every later file if sticky)."""
    import errno
    import os

    real_fsync = os.fsync
    seen: list[str] = []

    def fsync(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        if marker in Path(name).name:
            seen.append(name)
        if len(seen) >= nth and (sticky or len(seen) == nth and marker in Path(name).name):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


# ----------------------------------------------------------------------------- a tiny table with gaps
TINY_EPOCHS = 2
TINY_RECIPE = """\
seed: {seed}
data:
  path: tiny.csv
  target: label
model:
  type: feedforward
  units: [16]
train:
  batch_size: 16
"""


def tiny_frame(n: int, seed: int) -> Any:
    """Two numeric columns (one with gaps), a string column with gaps, a 3-class string target."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    color[::13] = None
    label = np.where(x1 + 0.3 * x2 > 0.4, "high", np.where(x1 < -0.4, "low", "mid"))
    x2_gaps = x2.copy()
    x2_gaps[::11] = np.nan
    return pd.DataFrame({"x1": x1, "x2": x2_gaps, "color": color, "label": label})


def tiny_untrained_run(folder: Path, seed: int = 42) -> Path:
    """An untrained run (see untrained_run) of TINY_RECIPE on 150 rows of tiny_frame, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    tiny_frame(150, 0).to_csv(folder / "tiny.csv", index=False)
    recipe = folder / "tiny_run.yaml"
    recipe.write_text(TINY_RECIPE.format(seed=seed) + f"  epochs: {TINY_EPOCHS}\n")
    return untrained_run(recipe, folder / "runs")


def mixed_frame(n: int = 60) -> Any:
    """A numeric, a categorical and a 2-class label column."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(2)
    return pd.DataFrame(
        {
            "num": rng.normal(10.0, 2.0, size=n),
            "cat": rng.choice(["a", "b", "c"], size=n),
            "label": rng.choice(["x", "y"], size=n),
        }
    )


# A two-feature table and a one-layer recipe for tests of data, training and run folders.
def table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "label": np.where(x1 + x2 > 0, "yes", "no")})


RECIPE = """\
data:
  path: data.csv
  target: label
{data_extra}model:
  type: feedforward
  units: [4]
train:
  epochs: {epochs}
  batch_size: 16
"""


def recipe_text(data_extra: str = "", epochs: int = 1) -> str:
    return RECIPE.format(data_extra=data_extra, epochs=epochs)


def write_data(folder: Path, frame: pd.DataFrame | None = None, raw: bytes | None = None) -> None:
    """data.csv in `folder`: a frame written as CSV, or raw bytes as they are."""
    if raw is not None:
        (folder / "data.csv").write_bytes(raw)
    elif frame is not None:
        frame.to_csv(folder / "data.csv", index=False)


def only_run(out: Path, name: str) -> Path:
    """The one run folder `kproto train` wrote under `out/name`."""
    runs = sorted((out / name).iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def train_recipe(runner: Any, recipe: Path, out: Path, name: str, *extra: str) -> Path:
    """`kproto train RECIPE --out OUT` in-process; must succeed; its run folder."""
    from kproto.cli import cli

    result = runner.invoke(cli, ["train", str(recipe), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return only_run(out, name)


# ----------------------------------------------------------------------------- a live `kproto serve`
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A `kproto serve RUN` process on a free loopback port: `url`, and `stop()` (SIGTERM) → its stderr."""

    def __init__(self, run: Path, *options: str, startup: float = 120.0) -> None:
        import os
        import subprocess
        import sys

        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        command = [sys.executable, "-m", "kproto", "serve", str(run), "--port", str(self.port), *options]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + startup
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.kill()
                raise RuntimeError(f"kproto serve did not start: {self.process.stderr.read()[-2000:]}")
            time.sleep(0.2)

    def stop(self, timeout: float = 60.0) -> str:
        """SIGTERM, wait for the process to end; its stderr (the request log)."""
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=timeout)
        return err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
