"""Bad input never crashes or loses work: bad data and model files are clean errors (exit 2, no traceback, nothing
half-written); a full disk, NaN loss, SIGINT/SIGTERM/SIGKILL leave a run that loads and resumes to the same numbers."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kproto.cli import cli
from kproto.errors import KprotoError

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


def assert_clean_error(result, *, says: str, field: str | None = None, line: int | None = None, code: int = 2) -> None:
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


# ----------------------------------------------------------------------------- bad data files
def _write(folder: Path, frame: pd.DataFrame | None = None, raw: bytes | None = None) -> None:
    if raw is not None:
        (folder / "data.csv").write_bytes(raw)
    elif frame is not None:
        frame.to_csv(folder / "data.csv", index=False)


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


# id → (data.csv content: a DataFrame, raw bytes or None for no file; extra data lines; field; phrase)
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
        _write(tmp_path, raw=content)
    elif content is not None:
        frame = content.drop(columns="label") if case == "target-missing" else content
        _write(tmp_path, frame)
    (tmp_path / "recipe.yaml").write_text(recipe_text(extra))
    out = tmp_path / "runs"
    result = runner.invoke(cli, ["train", str(tmp_path / "recipe.yaml"), "--out", str(out), *TF])
    line = {"data.path": 2, "data.target": 3}.get(field, 4)  # extra data lines start at line 4
    assert_clean_error(result, says=says, field=field, line=line)
    assert not out.exists(), "a data error must not leave a run directory"


def test_validate_reports_missing_target_without_keras(runner, tmp_path: Path) -> None:
    _write(tmp_path, table().drop(columns="label"))
    (tmp_path / "recipe.yaml").write_text(recipe_text())
    result = runner.invoke(cli, ["validate", str(tmp_path / "recipe.yaml")])
    assert_clean_error(result, says="'label' is not in data.csv", field="data.target", line=3)


# ----------------------------------------------------------------------------- one finished run, then damaged copies
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small completed run (TensorFlow, in-process)."""
    from click.testing import CliRunner

    folder = tmp_path_factory.mktemp("finished")
    _write(folder, table(80))
    (folder / "recipe.yaml").write_text(recipe_text(epochs=2))
    result = CliRunner().invoke(cli, ["train", str(folder / "recipe.yaml"), "--out", str(folder / "runs"), *TF])
    assert result.exit_code == 0, result.output
    (run,) = (folder / "runs" / "recipe").iterdir()
    return run


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


def test_resume_a_run_without_checkpoint(runner, finished_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "recipe" / "run"
    shutil.copytree(finished_run, run)
    shutil.rmtree(run / "checkpoint")
    result = runner.invoke(cli, ["train", "--resume", str(run), *TF])
    assert_clean_error(result, says="no checkpoint to resume from")


# ----------------------------------------------------------------------------- output folder, full disk
@pytest.fixture
def small_recipe(tmp_path: Path) -> Path:
    _write(tmp_path, table(80))
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


def _fail_fsync(monkeypatch: pytest.MonkeyPatch, marker: str, nth: int, sticky: bool) -> list[str]:
    """os.fsync raises ENOSPC on the `nth` file whose name contains `marker` (and on every later file if sticky)."""
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


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to name an fd's file")
@pytest.mark.parametrize(
    ("marker", "nth", "sticky"),
    [(".epoch-0002.", 1, False), (".epoch-0002.", 1, True), (".metrics.json.", 4, False), (".history.csv.", 2, True)],
    ids=["checkpoint-once", "checkpoint-disk-stays-full", "metrics-once", "history-disk-stays-full"],
)
def test_disk_full_while_saving(
    runner, small_recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: str, nth: int, sticky: bool
) -> None:
    from kproto.runs.load import check_model_file, load_keras_model

    out = tmp_path / "runs"
    seen = _fail_fsync(monkeypatch, marker, nth, sticky)
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


def test_two_runs_in_the_same_second_get_distinct_folders(tmp_path: Path) -> None:
    from kproto.runs.store import RunDir

    folders = {RunDir.create(tmp_path, "same").path for _ in range(5)}
    assert len(folders) == 5
    assert all(not any(p.iterdir()) for p in folders)


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kproto.runs.store import atomic_write_text, write_json

    write_json(tmp_path / "metrics.json", {"status": "running"})
    _fail_fsync(monkeypatch, ".metrics.json.", 1, True)
    with pytest.raises(KprotoError, match="No space left"):
        atomic_write_text(tmp_path / "metrics.json", '{"status": "completed"}')
    monkeypatch.undo()
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"status": "running"}
    assert leftovers(tmp_path) == []


def test_atomic_write_gives_usual_permissions(tmp_path: Path) -> None:
    from kproto.runs.store import atomic_write_text

    umask = os.umask(0o022)
    os.umask(umask)
    atomic_write_text(tmp_path / "new.csv", "a\n")
    assert (tmp_path / "new.csv").stat().st_mode & 0o777 == 0o666 & ~umask
    (tmp_path / "new.csv").chmod(0o640)
    atomic_write_text(tmp_path / "new.csv", "b\n")
    assert (tmp_path / "new.csv").stat().st_mode & 0o777 == 0o640


# ----------------------------------------------------------------------------- property: random CSV bytes
CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "nan",
            "inf",
            "-inf",
            "NA",
            "1",
            "0",
            "2.5",
            "-3",
            "1e308",
            "yes",
            "no",
            '"',
            '"a,b"',
            "é",
            "\t",
            ";",
            "label",
        ]
    ),
    st.text(max_size=4),
)
ROWS = st.lists(st.lists(CELLS, min_size=1, max_size=5).map(",".join), max_size=8)
CSV_BYTES = st.one_of(
    st.binary(max_size=200),
    ROWS.map(lambda rows: "\n".join(["x1,x2,label", *rows]).encode("utf-8")),
    ROWS.map(lambda rows: "\n".join(rows).encode("utf-8")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=CSV_BYTES)
def test_random_csv_never_crashes(runner, tmp_path: Path, content: bytes) -> None:
    from kproto.data import load_dataset
    from kproto.recipe import load_recipe

    (tmp_path / "data.csv").write_bytes(content)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe_text().replace("data.csv", "data.csv\n  split: {validation: 0.2, test: 0.2}"))
    result = runner.invoke(cli, ["validate", str(recipe)])
    assert result.exit_code in (0, 2), f"{content!r}\n{result.output}"
    assert "Unexpected error" not in result.output, f"{content!r}\n{result.output}"
    try:
        dataset = load_dataset(load_recipe(recipe).recipe)
    except KprotoError:
        return
    assert len(dataset.x_train) > 0
    assert np.isfinite(dataset.x_train).all()


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
    from click.testing import CliRunner

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
