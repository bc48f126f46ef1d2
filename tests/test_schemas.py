"""kproto.runs.schemas: a run folder's JSON files are untrusted input. Hostile metrics.json, preprocess.json,
conformal.json and checkpoint/state.json, symbolic links out of the run folder and models that carry code are
refused with exit 2 and a message naming the file, by evaluate, predict, export, serve's loader and --resume;
nothing in the folder is written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import TINY_EPOCHS, assert_clean_error

from kproto.cli import cli
from kproto.core.errors import ModelFileError
from kproto.runs import layout
from kproto.runs.load import check_model_file, code_in_config, load_run
from kproto.runs.schemas import owner_alive, read_run_json, this_owner


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, tiny_run: Callable[[Path], Path]) -> Path:
    return tiny_run(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / "tiny-run" / finished.name
    shutil.copytree(finished, copy)
    return copy


def _edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _pre(change: Any) -> Any:
    return lambda run: _edit(run / layout.PREPROCESS, change)


def _raw(name: str, text: str) -> Any:
    return lambda run: (run / name).write_text(text)


def _first_numeric(data: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in data["state"]["columns"] if c["type"] == "numeric")


def _link(name: str, target: str = "/etc/hostname") -> Any:
    def make(run: Path) -> None:
        (run / name).unlink()
        (run / name).symlink_to(target)

    return make


def _link_to_copy(name: str) -> Any:
    """A symbolic link to a valid copy of the file, outside the run folder: refused all the same."""

    def make(run: Path) -> None:
        outside = run.parent.parent.parent / f"outside-{name}"
        shutil.copy(run / name, outside)
        (run / name).unlink()
        (run / name).symlink_to(outside)

    return make


HOSTILE = {
    "metrics null": (_raw(layout.METRICS, "null"), "metrics.json holds null, not a JSON object"),
    "metrics list": (_raw(layout.METRICS, "[1, 2]"), "not a JSON object"),
    "metrics unknown status": (lambda r: _edit(r / layout.METRICS, lambda d: d.update(status="\x1b[2J")), "status"),
    "metrics string epochs": (lambda r: _edit(r / layout.METRICS, lambda d: d.update(epochs="3")), "epochs"),
    "metrics nested 100,000 deep": (_raw(layout.METRICS, "[" * 100_000), "nested too deeply"),
    "preprocess NaN mean": (_pre(lambda d: _first_numeric(d).update(mean="NaN")), "mean"),
    "preprocess NaN std": (_raw(layout.PREPROCESS, ""), None),  # filled in below: the NaN literal
    "preprocess inf fill": (_raw(layout.PREPROCESS, ""), None),  # filled in below: 1e400
    "preprocess zero std": (_pre(lambda d: _first_numeric(d).update(std=0.0)), "std"),
    "preprocess features null": (_pre(lambda d: d["state"].update(features=None)), "features"),
    "preprocess 200,001 class names": (
        _pre(lambda d: d["info"].update(class_names=[str(i) for i in range(200_001)])),
        "class_names",
    ),
    "preprocess class names unlike num_classes": (
        _pre(lambda d: d["info"].update(class_names=["a", "b"])),
        "class names for num_classes=3",
    ),
    "preprocess nested 100,000 deep": (_raw(layout.PREPROCESS, "[" * 100_000), "nested too deeply"),
    "preprocess 400-digit integer": (_pre(lambda d: d["info"].update(num_classes=10**400)), "num_classes"),
    "preprocess 10^5000": (_raw(layout.PREPROCESS, '{"info": ' + "9" * 5000 + "}"), "not valid JSON"),
    "preprocess not UTF-8": (lambda r: (r / layout.PREPROCESS).write_bytes(b'{"info": "\xff"}'), "not UTF-8"),
    "metrics symlink out": (_link(layout.METRICS), "symbolic link"),
    "metrics symlink to a valid copy": (_link_to_copy(layout.METRICS), "symbolic link"),
    "preprocess symlink out": (_link(layout.PREPROCESS), "symbolic link"),
    "recipe symlink out": (_link_to_copy(layout.RECIPE), "symbolic link"),
    "model symlink out": (_link_to_copy(layout.MODEL), "symbolic link"),
    "preprocess is a FIFO": (lambda r: ((r / layout.PREPROCESS).unlink(), os.mkfifo(r / layout.PREPROCESS)), "regular"),
}


def _nan_std(run: Path) -> None:
    text = json.dumps(json.loads((run.parent / "preprocess.orig").read_text()))
    data = json.loads(text)
    _first_numeric(data)["std"] = float("nan")
    (run / layout.PREPROCESS).write_text(json.dumps(data))  # json writes the NaN literal


def _inf_fill(run: Path) -> None:
    data = json.loads((run.parent / "preprocess.orig").read_text())
    _first_numeric(data)["fill"] = 12345.5
    (run / layout.PREPROCESS).write_text(json.dumps(data).replace("12345.5", "1e400"))


HOSTILE["preprocess NaN std"] = (_nan_std, "not valid JSON: holds NaN")
HOSTILE["preprocess inf fill"] = (_inf_fill, "is not a finite number")


@pytest.mark.parametrize("command", ["evaluate", "predict"])
@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_run_files_are_refused(runner, finished: Path, run: Path, case: str, command: str) -> None:
    shutil.copy(run / layout.PREPROCESS, run.parent / "preprocess.orig")
    damage, says = HOSTILE[case]
    damage(run)
    before = {p: p.lstat().st_mtime_ns for p in run.rglob("*")}
    data = finished.parents[2] / "tiny.csv"
    args = ["evaluate", str(run)] if command == "evaluate" else ["predict", str(run), "--data", str(data)]
    result = runner.invoke(cli, args)
    assert_clean_error(result, says=says)
    assert "\x1b" not in result.output
    assert {p: p.lstat().st_mtime_ns for p in run.rglob("*")} == before, "a refused run is never written to"


def test_non_finite_statistics_never_reach_a_prediction(run: Path) -> None:
    """The failure the schema exists for: a NaN std used to give 1/3, 1/3, 1/3 with exit 0."""
    shutil.copy(run / layout.PREPROCESS, run.parent / "preprocess.orig")
    _nan_std(run)
    with pytest.raises(ModelFileError, match=r"preprocess\.json"):
        load_run(run)


def test_a_valid_run_still_loads(run: Path) -> None:
    loaded = load_run(run)
    assert loaded.info.num_classes == 3 and loaded.metrics["status"] == "completed"
    assert read_run_json(run, layout.METRICS)["epochs"] == 1


# ----------------------------------------------------------------------------- --resume
def _state(change: Any) -> Any:
    return lambda run: _edit(run / layout.CHECKPOINT / layout.CHECKPOINT_STATE, change)


def _lambda_checkpoint(run: Path) -> None:
    """The checkpoint swapped for a .keras file whose config holds a Lambda layer (no code runs: it is refused
    from the config alone)."""
    state = json.loads((run / layout.CHECKPOINT / layout.CHECKPOINT_STATE).read_text())
    path = run / layout.CHECKPOINT / state["model_file"]
    _rewrite_config(path, lambda config: config["config"]["layers"].append(LAMBDA_LAYER))


LAMBDA_LAYER = {
    "module": "keras.layers",
    "class_name": "Lambda",
    "config": {"name": "evil", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}},
}


def _rewrite_config(path: Path, change: Any) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


RESUME = {
    "model_file /etc/passwd": (_state(lambda d: d.update(model_file="/etc/passwd")), "model_file"),
    "model_file ../model.keras": (_state(lambda d: d.update(model_file="../model.keras")), "model_file"),
    "string epoch": (_state(lambda d: d.update(epoch="1")), "epoch"),
    "state null": (_raw(f"{layout.CHECKPOINT}/{layout.CHECKPOINT_STATE}", "null"), "not a JSON object"),
    "state symlink out": (
        lambda r: (
            (r / layout.CHECKPOINT / layout.CHECKPOINT_STATE).unlink(),
            (r / layout.CHECKPOINT / layout.CHECKPOINT_STATE).symlink_to("/etc/hostname"),
        ),
        "symbolic link",
    ),
    "checkpoint with a Lambda layer": (_lambda_checkpoint, "contains Python code: a Lambda layer"),
    "recipe symlink out": (_link_to_copy(layout.RECIPE), "symbolic link"),
    "metrics symlink out": (_link_to_copy(layout.METRICS), "symbolic link"),
}


@pytest.mark.parametrize("case", list(RESUME), ids=list(RESUME))
def test_hostile_checkpoints_are_refused_on_resume(runner, run: Path, case: str) -> None:
    _edit(run / layout.METRICS, lambda d: d.update(status="interrupted"))
    damage, says = RESUME[case]
    damage(run)
    result = runner.invoke(cli, ["train", "--resume", str(run)])
    assert_clean_error(result, says=says)
    assert not (run / layout.LOCK).exists(), "the lock is released after a refusal"


def test_a_second_writer_is_refused(runner, run: Path) -> None:
    _edit(run / layout.METRICS, lambda d: d.update(status="interrupted"))
    (run / layout.LOCK).write_text(json.dumps(this_owner()))  # this very process holds it
    result = runner.invoke(cli, ["train", "--resume", str(run)])
    assert_clean_error(result, says="is being trained by process")
    assert (run / layout.LOCK).exists(), "another writer's lock is left alone"


def test_a_completed_run_is_not_resumed_without_more_epochs(runner, run: Path) -> None:
    _edit(run / layout.METRICS, lambda d: d.update(epochs=TINY_EPOCHS))  # as many as its recipe asks for
    before = (run / layout.METRICS).read_text()
    result = runner.invoke(cli, ["train", "--resume", str(run)])
    assert_clean_error(result, says=f"already completed {TINY_EPOCHS} epochs")
    assert f"--set train.epochs=N with N > {TINY_EPOCHS}" in result.output
    assert (run / layout.METRICS).read_text() == before


# ----------------------------------------------------------------------------- models that carry code
CODE = {
    "Lambda layer": (
        {"class_name": "Lambda", "module": "keras.layers", "config": {}},
        "contains Python code: a Lambda",
    ),
    "__lambda__ function": (
        {"class_name": "Dense", "config": {"activation": {"class_name": "__lambda__", "config": {}}}},
        "`__lambda__`",
    ),
    "os.system": (
        {"module": "keras.layers", "class_name": "Dense", "config": {"activation": OS_SYSTEM}}
        if (OS_SYSTEM := {"module": "os", "class_name": "function", "config": "system"})
        else {},
        "names a function outside Keras: os.system",
    ),
    "a class from subprocess": (
        {"layers": [{"module": "subprocess", "class_name": "Popen", "config": {}}]},
        "names a class outside Keras: subprocess.Popen",
    ),
}


@pytest.mark.parametrize("case", list(CODE), ids=list(CODE))
def test_code_in_a_model_config_is_named(case: str) -> None:
    config, says = CODE[case]
    assert says in (code_in_config(config) or "")


def test_plain_configs_pass() -> None:
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"layers": [{"module": "keras.layers", "class_name": "Dense", "config": {"activation": "relu"}}]},
        "compile_config": {"loss": {"module": "my_losses", "class_name": "function", "config": "focal"}},
    }
    assert code_in_config(config) is None


def test_a_model_naming_os_system_is_refused_before_keras_reads_it(run: Path) -> None:
    _rewrite_config(
        run / layout.MODEL,
        lambda c: c["config"]["layers"][-1]["config"].update(activation=CODE["os.system"][0]["config"]["activation"]),
    )
    with pytest.raises(ModelFileError, match="names a function outside Keras: os.system"):
        check_model_file(run / layout.MODEL)
    check_model_file(run / layout.MODEL, trust=True)  # --trust: the user's call


# ----------------------------------------------------------------------------- owners
def test_history_is_read_only_from_inside_the_run(run: Path) -> None:
    from kproto.runs.index import read_history

    assert read_history(run / layout.HISTORY)
    _link_to_copy(layout.HISTORY)(run)
    assert read_history(run / layout.HISTORY) == []


def test_owner_alive_tells_live_dead_and_foreign_processes() -> None:
    me = this_owner()
    assert owner_alive(me) is True
    finished = subprocess.run(["true"], check=True)
    assert finished.returncode == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert owner_alive({**me, "pid": dead.pid}) is False
    assert owner_alive({**me, "started": me["started"] - 1000}) is False, "a reused pid is not the owner"
    assert owner_alive({**me, "host": "elsewhere.example"}) is None
