"""Run directories: created once, written atomically, never overwritten; loading them back safely."""

from __future__ import annotations

import json
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kproto.errors import ModelFileError, RunError

RUN_FILES = ("recipe.yaml", "model.keras", "preprocess.json", "metrics.json")
STATUSES = ("running", "completed", "interrupted", "failed")


def _file_mode(path: Path) -> int:
    """Permissions for a rewritten file: the old file's, else 0o666 less the umask (mkstemp alone gives 0o600)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        pass
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = 0o022
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise RunError(
            f"could not write {path}: {exc.strerror or exc}", hint="does the folder exist and is it writable?"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RunError(
            f"could not write {path}: {exc.strerror or exc}", hint="is the disk full or the folder read-only?"
        ) from None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # NumPy arrays and scalars (a scalar's tolist() is a plain number)
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON ({exc})", hint="the run may be corrupted") from None


def copy_atomic(source: Path, target: Path) -> None:
    """Copy `source` to a temporary file beside `target`, fsync, then rename over `target`."""
    import shutil

    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix or ".tmp", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RunError(f"could not write {target}: {exc.strerror or exc}", hint="is the disk full?") from None


def save_model_atomic(model: Any, path: Path) -> None:
    """model.save to a temporary .keras file beside `path`, then rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RunError(f"could not save the model to {path}: {exc.strerror or exc}", hint="is the disk full?") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        for folder in (self.path, self.path / "checkpoint"):
            if not folder.is_dir():
                continue
            for item in folder.iterdir():
                if item.is_file() and item.name.startswith(".") and item.suffix in (".tmp", ".keras"):
                    item.unlink(missing_ok=True)
                    removed.append(item)
        return removed

    @property
    def checkpoints(self) -> Path:
        folder = self.path / "checkpoint"
        folder.mkdir(exist_ok=True)
        return folder

    def write_json(self, name: str, data: Any) -> None:
        write_json(self.path / name, data)

    def write_text(self, name: str, text: str) -> None:
        atomic_write_text(self.path / name, text)

    def metrics(self) -> dict[str, Any]:
        path = self.path / "metrics.json"
        return read_json(path) if path.exists() else {}

    def update_metrics(self, **fields: Any) -> dict[str, Any]:
        data = {**self.metrics(), **fields}
        self.write_json("metrics.json", data)
        return data


@dataclass
class LoadedRun:
    """A finished (or interrupted) run read back from disk."""

    path: Path
    recipe: Any
    preprocess: dict[str, Any]
    info: Any
    metrics: dict[str, Any]
    model_path: Path


def load_run(path: str | Path) -> LoadedRun:
    """Read a run directory back; a clear error names any missing file."""
    from kproto.data import DataInfo
    from kproto.recipe import recipe_from_dict

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"no such run or model: {path}")
    if path.is_file():
        if path.suffix.lower() not in (".keras", ".h5", ".hdf5"):  # legacy HDF5 is refused later unless trusted
            raise ModelFileError(f"{path} is not a run directory or a .keras file")
        folder = path.parent
        model_path = path
    else:
        folder = path
        model_path = path / "model.keras"
    missing = [
        name
        for name in RUN_FILES
        if not (folder / name).exists() and not (name == "model.keras" and model_path.exists())
    ]
    if missing:
        raise ModelFileError(
            f"{folder} is missing {', '.join(missing)}",
            hint="pass a run directory written by `kproto train` (runs/<name>/<stamp>); "
            "an interrupted run can be continued with `kproto train --resume`",
        )
    from kproto.recipe.loader import parse_yaml

    try:  # the recipe's own safe reader: no tags, bounded alias expansion
        raw, _ = parse_yaml((folder / "recipe.yaml").read_text(encoding="utf-8"), str(folder / "recipe.yaml"))
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{folder / 'recipe.yaml'} is not text: {exc}", hint="the run may be corrupted") from None
    if not isinstance(raw, dict):
        raise ModelFileError(f"{folder / 'recipe.yaml'} does not hold a recipe", hint="the run may be corrupted")
    recipe = recipe_from_dict(raw, str(folder / "recipe.yaml"))
    preprocess = read_json(folder / "preprocess.json")
    if not isinstance(preprocess, dict) or "info" not in preprocess or "state" not in preprocess:
        raise ModelFileError(
            f"{folder / 'preprocess.json'} lacks the preprocessing state", hint="the run may be corrupted"
        )
    return LoadedRun(
        path=folder,
        recipe=recipe,
        preprocess=preprocess["state"],
        info=DataInfo.from_dict(preprocess["info"]),
        metrics=read_json(folder / "metrics.json"),
        model_path=model_path,
    )


def check_model_file(path: Path, trust: bool = False) -> None:
    """Refuse legacy HDF5 models (they ignore safe_mode) and files that aren't intact .keras archives."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    if path.suffix.lower() in (".h5", ".hdf5"):
        if not trust:
            raise ModelFileError(
                f"{path.name} is a legacy HDF5 model; Keras ignores safe_mode for these (CVE-2025-9905), "
                "so loading it could run code",
                hint="convert it to .keras where it came from, or pass --trust if you trust its author",
            )
        return
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path} is empty")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a valid .keras archive (truncated or corrupted?)")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelFileError(f"{path} is corrupted: {exc}") from None
    if bad is not None or "config.json" not in names:
        raise ModelFileError(
            f"{path} is corrupted ({bad or 'no config.json'})", hint="retrain, or use the run's checkpoint"
        )


def load_keras_model(path: Path, trust: bool = False, compile: bool = True) -> Any:
    """Load a .keras file in safe mode; models with code (Lambda layers) need --trust."""
    check_model_file(path, trust)
    from kproto.backend import check_keras_version

    check_keras_version()  # older Keras ignores safe_mode in ways kproto cannot check
    import keras

    import kproto.models.layers  # noqa: F401 - registers kproto's serializable layers (transformer family)
    import kproto.schedules  # noqa: F401 - registers kproto's serializable schedules

    try:
        return keras.saving.load_model(path, safe_mode=not trust, compile=compile)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text or "lambda" in text:
            raise ModelFileError(
                f"{path.name} contains Python code (a Lambda layer or a pickled function) and was refused",
                hint="loading it would run that code; pass --trust only if you trust the file's author",
            ) from None
        raise ModelFileError(f"cannot load {path}: {text.splitlines()[0] if text else exc}") from None
    except (OSError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        import re

        text = str(exc)
        unknown = re.search(r"Could not locate (?:function|class) '([^']+)'", text)
        if unknown:
            raise ModelFileError(
                f"{path.name} refers to '{unknown.group(1)}', a custom function or class that is not available here",
                hint="kproto never loads code from a model file; a model trained with a custom loss still works "
                "with `kproto predict` and `kproto export`",
            ) from None
        first = text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__
        raise ModelFileError(
            f"cannot load {path}: {first}", hint="the file may be corrupted or from an incompatible Keras"
        ) from None
