"""Reading a run back: its recipe, preprocessing and metrics, and its model in Keras's safe mode."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kproto.core import catalog
from kproto.core.errors import ModelFileError
from kproto.runs import layout
from kproto.runs.schemas import (
    MAX_BYTES,
    PreprocessFile,
    check_inside,
    parse_strict_json,
    read_run_json,
    validate_run_json,
)

if TYPE_CHECKING:
    from kproto.data.types import DataInfo
    from kproto.recipe.schema import Recipe


@dataclass
class LoadedRun:
    """A finished (or interrupted) run read back from disk."""

    path: Path
    recipe: Recipe
    preprocess: dict[str, Any]
    info: DataInfo
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
        model_path = path / layout.MODEL
    missing = [
        name
        for name in layout.REQUIRED
        if not (folder / name).exists() and not (name == layout.MODEL and model_path.exists())
    ]
    if missing:
        raise ModelFileError(
            f"{folder} is missing {', '.join(missing)}",
            hint="pass a run directory written by `kproto train` (runs/<name>/<stamp>); "
            "an interrupted run can be continued with `kproto train --resume`",
        )
    from kproto.recipe.loader import parse_yaml

    if folder == path:  # a run's model is checked; a .keras file passed by its own path is the user's choice
        check_inside(folder, model_path)
    recipe_file = check_inside(folder, folder / layout.RECIPE)
    if recipe_file.stat().st_size > MAX_BYTES:
        raise ModelFileError(f"{recipe_file} is larger than {MAX_BYTES:,} bytes", hint="the run may be corrupted")
    try:  # the recipe's own safe reader: no tags, bounded alias expansion
        raw, _ = parse_yaml(recipe_file.read_text(encoding="utf-8"), str(recipe_file))
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{recipe_file} is not text: {exc}", hint="the run may be corrupted") from None
    if not isinstance(raw, dict):
        raise ModelFileError(f"{recipe_file} does not hold a recipe", hint="the run may be corrupted")
    recipe = recipe_from_dict(raw, str(recipe_file))
    preprocess_file = check_inside(folder, folder / layout.PREPROCESS)
    preprocess = parse_strict_json(preprocess_file)
    if not isinstance(preprocess, dict) or "info" not in preprocess or "state" not in preprocess:
        raise ModelFileError(f"{preprocess_file} lacks the preprocessing state", hint="the run may be corrupted")
    validate_run_json(preprocess_file, preprocess, PreprocessFile)
    return LoadedRun(
        path=folder,
        recipe=recipe,
        preprocess=upgrade_state(preprocess["state"]),
        info=DataInfo.from_dict(preprocess["info"]),
        metrics=read_run_json(folder, layout.METRICS),
        model_path=model_path,
    )


def upgrade_state(state: dict[str, Any]) -> dict[str, Any]:
    """A preprocessing state as this release writes it: older runs recorded `tabular` where the catalog says `table`."""
    if isinstance(state.get("kind"), str):
        state["kind"] = catalog.input_kind(state["kind"])
    return state


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
    if not trust:
        _refuse_code(path)


TRUSTED_MODULES = ("keras", "keras_hub", "kproto")  # where a model's classes and functions may come from


def code_in_config(config: Any) -> str | None:
    """What in a .keras model's config would run code or name code outside Keras and kproto, or None."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        kind, module = item.get("class_name"), item.get("module")
        if kind == "Lambda":
            return "contains Python code: a Lambda layer (its function is stored as bytecode, `__lambda__`)"
        if kind == "__lambda__":
            return "contains Python code: `__lambda__` (a function stored as bytecode)"
        if isinstance(module, str) and module.split(".")[0] not in TRUSTED_MODULES:
            if kind == "function":
                name = item.get("config")
                return f"names a function outside Keras: {module}.{name if isinstance(name, str) else '?'}"
            if isinstance(kind, str) and not str(item.get("registered_name") or "").startswith("kproto>"):
                return f"names a class outside Keras: {module}.{kind}"
        stack.extend(v for k, v in item.items() if k != "compile_config")  # a custom loss is the recipe's choice
    return None


def _refuse_code(path: Path) -> None:
    """A model whose config carries code, refused before Keras reads it (safe mode would refuse it too)."""
    import json

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, RecursionError):
        raise ModelFileError(f"{path} has an unreadable config.json", hint="the file may be corrupted") from None
    found = code_in_config(config)
    if found:
        raise ModelFileError(
            f"{path.name} {found}, and was refused",
            hint="loading it would run or import that code; pass --trust only if you trust the file's author",
        )


def register_custom_objects() -> None:
    """Import every module that registers kproto's serializable Keras objects (layers, schedules), as the catalog
    lists them, so that models using them load in safe mode."""
    import importlib

    from kproto.core import catalog

    for module in catalog.custom_object_modules():
        importlib.import_module(module)


def _register_keras_hub(path: Path) -> None:
    """KerasHub registers its classes on import, which pulls in TensorFlow: import it only for files that use it."""
    try:
        with zipfile.ZipFile(path) as archive:
            uses_hub = b'"keras_hub' in archive.read("config.json")
    except (zipfile.BadZipFile, KeyError, OSError):
        return
    if uses_hub:
        import keras_hub  # noqa: F401


def load_keras_model(path: Path, trust: bool = False, compile: bool = True) -> Any:
    """Load a .keras file in safe mode; models with code (Lambda layers) need --trust."""
    check_model_file(path, trust)
    from kproto.core.backend import check_keras_version

    check_keras_version()  # older Keras ignores safe_mode in ways kproto cannot check
    import keras

    register_custom_objects()
    _register_keras_hub(path)

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
