"""kproto.runs.store: run folders get distinct names, writes are atomic (a failed write keeps the old file) and
written files get the usual permissions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import (
    fail_fsync,
    leftovers,
)

from kproto.errors import KprotoError


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
