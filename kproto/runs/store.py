"""Run directories: created once, written atomically (kproto.core.files), never overwritten."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kproto.core.errors import RunError
from kproto.core.files import (  # noqa: F401 - the run folder's writers, importable from here
    atomic_write_bytes,
    atomic_write_text,
    copy_atomic,
    read_json,
    save_model_atomic,
    write_json,
)
from kproto.runs import layout


@dataclass
class RunDir:
    """One training run's folder: `<out>/<name>/<YYYYmmdd-HHMMSS>/`."""

    path: Path

    @classmethod
    def create(cls, out: Path, name: str) -> RunDir:
        """A new, empty run folder; an existing one is never reused."""
        parent = Path(out) / name
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create the output folder {parent}: {exc.strerror or exc}", field="--out") from None
        if not os.access(parent, os.W_OK):
            raise RunError(
                f"the output folder {parent} is not writable", field="--out", hint="choose another folder with --out"
            )
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for attempt in range(1000):
            path = parent / (stamp if attempt == 0 else f"{stamp}-{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise RunError(f"cannot create the run folder {path}: {exc.strerror or exc}", field="--out") from None
            return cls(path)
        raise RunError(f"too many runs started in the same second under {parent}")

    @contextmanager
    def lock(self) -> Iterator[dict[str, Any]]:
        """Hold the run's lock file (created exclusively, holding this process's pid, host and start time) while
        training: a second writer is refused; a lock whose process is gone is taken over."""
        from kproto.runs.schemas import owner_alive, this_owner

        path = self.path / layout.LOCK
        owner = this_owner()
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o666)
            except FileExistsError:
                held = _read_lock(path)
                if held is not None and owner_alive(held) is False:
                    path.unlink(missing_ok=True)  # its process is gone: the lock is stale
                    continue
                who = (
                    f"process {held.get('pid')} on {held.get('host')}" if held else "another process (unreadable lock)"
                )
                raise RunError(
                    f"{self.path} is being trained by {who}; two writers would corrupt it",
                    field="--resume",
                    hint=f"wait for it to finish or stop it; if no kproto process runs it, delete {path}",
                ) from None
            except OSError as exc:
                raise RunError(f"cannot create the lock file {path}: {exc.strerror or exc}") from None
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(owner) + "\n")
            break
        else:
            raise RunError(f"cannot take the lock file {path}", hint="another process took it at the same moment")
        try:
            yield owner
        finally:
            if _read_lock(path) == owner:
                path.unlink(missing_ok=True)

    def remove_temporaries(self) -> list[Path]:
        """Delete the dot-prefixed temporary files a killed save leaves behind (never a finished file)."""
        removed = []
        for folder in (self.path, self.path / layout.CHECKPOINT):
            if not folder.is_dir():
                continue
            for item in folder.iterdir():
                if item.is_file() and item.name.startswith(".") and item.suffix in (".tmp", ".keras"):
                    item.unlink(missing_ok=True)
                    removed.append(item)
        return removed

    @property
    def checkpoints(self) -> Path:
        folder = self.path / layout.CHECKPOINT
        folder.mkdir(exist_ok=True)
        return folder

    def write_json(self, name: str, data: Any) -> None:
        write_json(self.path / name, data)

    def write_text(self, name: str, text: str) -> None:
        atomic_write_text(self.path / name, text)

    def metrics(self) -> dict[str, Any]:
        """metrics.json checked against its schema ({} before the first write)."""
        from kproto.runs.schemas import read_run_json

        path = self.path / layout.METRICS
        return read_run_json(self.path, layout.METRICS) if path.exists() or path.is_symlink() else {}

    def update_metrics(self, **fields: Any) -> dict[str, Any]:
        data = {**self.metrics(), **fields}
        self.write_json(layout.METRICS, data)
        return data


def _read_lock(path: Path) -> dict[str, Any] | None:
    """The owner a lock file names, or None when it is unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8")[:4096])
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
