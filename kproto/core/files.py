"""Writing any file atomically (temporary file, fsync, rename) and reading JSON back with clear errors."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from kproto.core.errors import ModelFileError, RunError


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


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    target: Path, *, inputs: tuple[Path | None, ...] = (), force: bool = False, option: str = "--out"
) -> None:
    """Refuse to write `target` over one of `inputs` (whatever `force` says), over a folder, or over an existing
    file unless `force`."""
    target = Path(target)
    for source in inputs:
        if source is not None and (_same_file(target, Path(source)) or target.resolve() == Path(source).resolve()):
            raise RunError(
                f"{target} is the input file {source}; writing there would replace the data with the output",
                field=option,
                hint=f"choose another {option}",
            )
    if target.is_dir():
        raise RunError(f"{target} is a folder", field=option, hint=f"give {option} a file name")
    if target.exists() or target.is_symlink():
        if not force:
            raise RunError(
                f"{target} already exists; kproto does not overwrite files",
                field=option,
                hint=f"choose another {option}, or add --force to replace it",
            )
        if not target.is_file():
            raise RunError(f"{target} is not a regular file; --force replaces only files", field=option)
    if not target.parent.is_dir():
        raise RunError(f"the folder of {target} does not exist", field=option, hint="create it first")


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
        os.chmod(tmp, _file_mode(target))  # one rule for every file kproto writes (mkstemp alone gives 0o600)
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
