"""The run folder's JSON files checked before use: read only from inside the folder, parsed strictly, validated.

A run folder may come from someone else, so `metrics.json`, `preprocess.json`, `conformal.json` and
`checkpoint/state.json` are untrusted input, checked as recipes are: a pydantic schema per file, finite statistics,
bounded sizes. `read_run_json` refuses a symbolic link, a file outside the run folder, a special file, a file over
MAX_BYTES, JSON's NaN/Infinity, nesting past Python's limits and anything the schema refuses, each with a
`ModelFileError` (exit 2) that names the file.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from kproto.core.errors import ModelFileError
from kproto.core.text import clean
from kproto.runs import layout

MAX_BYTES = 256 << 20  # the largest run JSON file read (a vocabulary of 10^6 words is ~20 MB)
MAX_CLASSES = 100_000  # class names in preprocess.json
CHECKPOINT_FILE = re.compile(r"epoch-\d{4,9}\.keras")  # layout.checkpoint_model's names, and nothing else

Number = StrictFloat | StrictInt
Count = Annotated[StrictInt, Field(ge=0)]


class Open(BaseModel):
    """A section with the fields kproto relies on checked, and any others kept."""

    model_config = ConfigDict(extra="allow")


# ----------------------------------------------------------------------------- metrics.json
class Owner(Open):
    """The process that writes a run: `kproto runs` shows a running run whose owner is gone as stale."""

    pid: Annotated[StrictInt, Field(gt=0)]
    host: StrictStr
    started: Number  # the process's start (seconds since the epoch), which tells a reused pid apart


class MetricsFile(Open):
    status: Literal["running", "completed", "interrupted", "failed"] | None = None  # what training writes
    epochs: Count | None = None
    best_epoch: Count | None = None
    seconds: Annotated[Number, Field(ge=0)] | None = None
    backend: StrictStr | None = None
    owner: Owner | None = None


# ----------------------------------------------------------------------------- preprocess.json
class Info(Open):
    task: StrictStr
    kind: StrictStr
    input_shape: list[Annotated[StrictInt, Field(ge=0)]] = Field(max_length=8)
    num_classes: Annotated[StrictInt, Field(ge=0, le=MAX_CLASSES)] = 0
    class_names: list[StrictStr | StrictInt | StrictFloat | bool] | None = Field(None, max_length=MAX_CLASSES)
    output_dim: Count = 1
    vocab_size: Count = 0
    target_mean: Number = 0.0
    target_std: Number = 1.0

    @field_validator("class_names")
    @classmethod
    def _as_many_as_classes(cls, value: list[Any] | None, info: Any) -> list[Any] | None:
        classes = info.data.get("num_classes", 0)
        if value is not None and classes and len(value) != classes:
            raise ValueError(f"lists {len(value)} class names for num_classes={classes}")
        return value


class NumericColumn(Open):
    name: StrictStr
    type: Literal["numeric"]
    fill: Number
    mean: Number
    std: Annotated[Number, Field(gt=0)]


class CategoricalColumn(Open):
    name: StrictStr
    type: Literal["categorical"]
    fill: StrictStr | None = None
    values: list[StrictStr]


class Target(Open):
    name: StrictStr | None = None
    classes: list[StrictStr | StrictInt | StrictFloat | bool] | None = Field(None, max_length=MAX_CLASSES)
    mean: Number | None = None
    std: Annotated[Number, Field(gt=0)] | None = None


class Image(Open):
    shape: list[Annotated[StrictInt, Field(ge=0)]]
    min: Number
    max: Number


class State(Open):
    kind: StrictStr
    task: StrictStr
    features: list[StrictStr]
    target: Target | None = None
    columns: list[Annotated[NumericColumn | CategoricalColumn, Field(discriminator="type")]] | None = None
    image: Image | None = None


class PreprocessFile(BaseModel):
    model_config = ConfigDict(extra="allow")
    info: Info
    state: State


# ----------------------------------------------------------------------------- checkpoint/state.json
class CheckpointFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epoch: Count
    history: list[dict[str, Any]] = Field(default_factory=list)
    best: Number | None = None
    best_epoch: Count = 0
    wait: Count = 0
    plateau_best: Number | None = None
    plateau_wait: Count = 0
    learning_rate: Annotated[Number, Field(gt=0)] | None = None
    seeds: list[list[StrictInt]] = Field(default_factory=list)
    model_file: StrictStr = ""
    averaged: StrictBool = False  # use_ema: the checkpoint's model holds the weight averages

    @field_validator("model_file")
    @classmethod
    def _inside_the_checkpoint_folder(cls, value: str) -> str:
        if value and not CHECKPOINT_FILE.fullmatch(value):
            raise ValueError(
                "must be the name of a checkpoint file in the run's checkpoint folder, such as epoch-0003.keras "
                "(no folder, no other name)"
            )
        return value


class AnyObject(Open):
    """A JSON object (conformal.json): only the generic checks apply."""


SCHEMAS: dict[str, type[BaseModel]] = {
    layout.METRICS: MetricsFile,
    layout.PREPROCESS: PreprocessFile,
    layout.CHECKPOINT_STATE: CheckpointFile,
    layout.CONFORMAL: AnyObject,
}
# Statistics that transform inputs must be finite; metrics and history may record a NaN score as it was measured.
FINITE = (layout.PREPROCESS, layout.CONFORMAL)


# ----------------------------------------------------------------------------- reading
def _refuse_constant(name: str) -> Any:
    raise ValueError(f"holds {name}, which is not a JSON number")


def check_inside(folder: Path, path: Path) -> Path:
    """`path`, a regular file inside `folder` and not a symbolic link, or a ModelFileError."""
    try:
        if path.is_symlink():
            raise ModelFileError(
                f"{path} is a symbolic link; kproto reads a run's files only from inside the run folder",
                hint="copy the file into the run folder instead of linking it",
            )
        inside = path.resolve().is_relative_to(Path(folder).resolve())
        info = path.stat()
    except FileNotFoundError:
        raise ModelFileError(f"{path} is missing", hint="the run may be incomplete or corrupted") from None
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelFileError(f"cannot read {path}: {exc}") from None
    if not inside:
        raise ModelFileError(
            f"{path} leads outside the run folder {folder}", hint="the run may have been tampered with"
        )
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path} is not a regular file", hint="the run may be corrupted")
    return path


def parse_strict_json(path: Path, limit: int = MAX_BYTES, finite: bool = True) -> Any:
    """JSON from `path`: at most `limit` bytes, UTF-8, not nested past Python's limits, and with `finite` no
    NaN/Infinity."""
    size = path.stat().st_size
    if size > limit:
        raise ModelFileError(f"{path} is {size:,} bytes; a run file is at most {limit:,}", hint="is it from a run?")
    try:
        text = path.read_bytes().decode("utf-8")
        return json.loads(text, parse_constant=_refuse_constant) if finite else json.loads(text)
    except UnicodeDecodeError:
        raise ModelFileError(f"{path} is not UTF-8 text", hint="the run may be corrupted") from None
    except RecursionError:
        raise ModelFileError(f"{path} is nested too deeply to be a run file", hint="the run may be corrupted") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, an integer past Python's digit limit
        raise ModelFileError(f"{path} is not valid JSON: {clean(exc, 200)}", hint="the run may be corrupted") from None


def _non_finite(value: Any, where: str = "") -> str | None:
    """The location of the first float that is not finite (1e400 reads as inf), or None."""
    stack = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return at or "(top)"
        if isinstance(item, dict):
            stack.extend((v, f"{at}.{k}" if at else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(item))
    return None


def validate_run_json(path: Path, data: Any, schema: type[BaseModel], finite: bool = True) -> dict[str, Any]:
    """`data` checked against `schema` (and with `finite` for non-finite numbers); the plain dict, or a
    ModelFileError."""
    if not isinstance(data, dict):
        raise ModelFileError(
            f"{path} holds {type(data).__name__ if data is not None else 'null'}, not a JSON object",
            hint="the run may be corrupted",
        )
    bad = _non_finite(data) if finite else None
    if bad:
        raise ModelFileError(
            f"{path}: '{clean(bad, 120)}' is not a finite number",
            hint="a run's statistics are finite; the file may have been edited or corrupted",
        )
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"]) or "(top)"
        received = error.get("input")
        shown = f"; received {clean(repr(received), 80)}" if not isinstance(received, (dict, list)) else ""
        raise ModelFileError(
            f"{path}: field '{clean(where, 120)}': {error['msg']}{shown}",
            hint="the run may be corrupted or edited by hand; retrain it, or restore the file",
        ) from None
    return data


def read_run_json(folder: Path, relative: str) -> dict[str, Any]:
    """The run file `folder/relative` checked (inside the folder, strict JSON, its schema) as a plain dict."""
    path = check_inside(folder, Path(folder) / relative)
    name = Path(relative).name
    finite = name in FINITE
    return validate_run_json(path, parse_strict_json(path, finite=finite), SCHEMAS.get(name, AnyObject), finite)


# ----------------------------------------------------------------------------- the owner of a run
def process_start(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None where this cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def this_owner() -> dict[str, Any]:
    """The owner record of the running process."""
    pid = os.getpid()
    started = process_start(pid)
    return {"pid": pid, "host": socket.gethostname(), "started": round(started, 2) if started is not None else 0.0}


def owner_alive(owner: dict[str, Any]) -> bool | None:
    """Whether the process in `owner` still runs: None when it ran on another host (it cannot be checked here)."""
    if owner.get("host") != socket.gethostname():
        return None
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process with that pid
        pass
    except OSError:
        return False
    started, recorded = process_start(pid), owner.get("started")
    if started is not None and isinstance(recorded, (int, float)) and recorded and abs(started - recorded) > 2.0:
        return False  # the pid was reused by a later process
    return True
