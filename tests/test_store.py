"""kproto.runs.store: run folders are named out/name/timestamp and never reused, writes are atomic (a failed
write keeps the old file, no temporaries are left) with the usual permissions, and JSON reads are bounded errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from helpers import (
    fail_fsync,
    leftovers,
)

from kproto.core.errors import KprotoError, ModelFileError, RunError
from kproto.runs.store import RunDir, atomic_write_text, read_json, write_json


def test_two_runs_in_the_same_second_get_distinct_folders(tmp_path: Path) -> None:
    from kproto.runs.store import RunDir

    folders = {RunDir.create(tmp_path, "same").path for _ in range(5)}
    assert len(folders) == 5
    assert all(not any(p.iterdir()) for p in folders)


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kproto.runs.store import atomic_write_text, write_json

    write_json(tmp_path / "metrics.json", {"status": "running"})
    fail_fsync(monkeypatch, ".metrics.json.", 1, True)
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


def test_run_dir_is_out_name_timestamp(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "runs", "my-model")
    assert run.path.parent == tmp_path / "runs" / "my-model"
    assert re.fullmatch(r"\d{8}-\d{6}(-\d+)?", run.path.name)
    assert run.path.is_dir() and not any(run.path.iterdir())


def test_run_dirs_are_never_reused(tmp_path: Path) -> None:
    paths = {RunDir.create(tmp_path, "same").path for _ in range(5)}  # same second, most likely
    assert len(paths) == 5
    assert all(p.is_dir() for p in paths)


def test_unwritable_out_is_a_run_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RunError) as info:
        RunDir.create(blocker, "x")
    assert info.value.field == "--out"


@pytest.mark.parametrize("payload", [{"a": 1}, {"nested": {"list": [1, 2.5, None]}}, [1, "two"]])
def test_atomic_json_round_trip_leaves_no_temporary_files(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "data.json"
    write_json(path, payload)
    write_json(path, payload)  # overwriting is atomic too
    assert read_json(path) == payload
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_write_json_handles_numpy_values(tmp_path: Path) -> None:
    import numpy as np

    write_json(tmp_path / "m.json", {"x": np.float32(0.5), "n": np.int64(3), "a": np.arange(3)})
    assert read_json(tmp_path / "m.json") == {"x": 0.5, "n": 3, "a": [0, 1, 2]}


def test_update_metrics_merges(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, "m")
    run.update_metrics(status="running", seed=1)
    merged = run.update_metrics(status="completed", epochs=2)
    assert merged == {"status": "completed", "seed": 1, "epochs": 2}
    assert json.loads((run.path / "metrics.json").read_text()) == merged


@pytest.mark.parametrize("text", ["{not json", "", "\xff\xfe"])
def test_corrupt_json_is_a_model_file_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ModelFileError):
        read_json(path)


def test_atomic_write_into_a_missing_folder_is_a_run_error(tmp_path: Path) -> None:
    with pytest.raises(RunError):
        atomic_write_text(tmp_path / "no" / "such" / "file.txt", "x")


# ----------------------------------------------------------------------------- lock, one file mode
def test_the_lock_admits_one_writer(tmp_path: Path) -> None:
    from kproto.runs import layout
    from kproto.runs.schemas import this_owner

    run = RunDir.create(tmp_path, "locked")
    with run.lock() as owner:
        assert json.loads((run.path / layout.LOCK).read_text()) == owner == this_owner()
        with pytest.raises(RunError, match=rf"is being trained by process {os.getpid()}"), run.lock():
            pass
        assert (run.path / layout.LOCK).exists(), "a refused writer leaves the holder's lock"
    assert not (run.path / layout.LOCK).exists()


@pytest.mark.parametrize(
    ("held", "taken"),
    [({"pid": 2**22 + 12345, "host": None, "started": 0.0}, True), ("not json", False)],
    ids=["stale", "unreadable"],
)
def test_a_stale_lock_is_taken_over(tmp_path: Path, held: object, taken: bool) -> None:
    import socket

    from kproto.runs import layout

    run = RunDir.create(tmp_path, "stale")
    text = held if isinstance(held, str) else json.dumps({**held, "host": socket.gethostname()})
    (run.path / layout.LOCK).write_text(text)
    if taken:
        with run.lock() as owner:
            assert owner["pid"] == os.getpid()
    else:
        with pytest.raises(RunError, match="unreadable lock"), run.lock():
            pass


def test_copies_get_the_same_mode_as_every_other_file(tmp_path: Path) -> None:
    from kproto.core.files import copy_atomic

    source = tmp_path / "a.bin"
    source.write_bytes(b"x")
    source.chmod(0o600)
    copy_atomic(source, tmp_path / "b.bin")
    write_json(tmp_path / "c.json", {})
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "c.json").stat().st_mode & 0o777 == 0o666 & ~umask
