"""Run directories: created once, written atomically (kproto.core.files), never overwritten."""

from __future__ import annotations

import os
import time
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
        path = self.path / layout.METRICS
        return read_json(path) if path.exists() else {}

    def update_metrics(self, **fields: Any) -> dict[str, Any]:
        data = {**self.metrics(), **fields}
        self.write_json(layout.METRICS, data)
        return data
