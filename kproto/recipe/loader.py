"""Load a recipe: safe YAML with line numbers, `extends`, `--set` overrides, schema and name checks."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kproto.core import catalog
from kproto.core.errors import RecipeError, not_one_of
from kproto.core.text import clean
from kproto.recipe.schema import MODEL_CLASSES, Recipe, name_problem, safe_name
from kproto.recipe.targets import check_targets, several

Path_ = tuple[Any, ...]


@dataclass
class Source:
    """Where each field of a raw recipe came from: path tuple → (file, line)."""

    locations: dict[Path_, tuple[str, int | None]] = field(default_factory=dict)
    values: int = 0  # YAML nodes read so far (aliases nested in aliases can expand exponentially)

    def locate(self, path: Path_) -> tuple[str | None, int | None]:
        """The file and line of the longest known prefix of `path`."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.locations:
                return self.locations[path[:end]]
        return None, None

    def error(self, path: Path_, message: str, hint: str | None = None) -> RecipeError:
        file, line = self.locate(path)
        return RecipeError(message, file=file, line=line, field=dotted(path) or None, hint=hint)


@dataclass
class LoadedRecipe:
    """A validated recipe with the raw mapping it came from and where each field was written."""

    recipe: Recipe
    raw: dict[str, Any]
    source: Source
    path: Path | None


def dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# ----------------------------------------------------------------------------- YAML
def _yaml_error(exc: yaml.YAMLError, file: str) -> RecipeError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and "end of stream" in problem:  # an unclosed quote: point at its start
        line = context_mark.line + 1
        problem = f"{problem} {context} that starts on this line"
    hint = "check indentation, colons and quotes around this line"
    if "'\\t'" in problem or "\t" in problem:
        problem = "a tab character is used for indentation; YAML allows only spaces"
        hint = "replace tabs with spaces (2 per level is usual)"
    elif isinstance(exc, yaml.constructor.ConstructorError):
        hint = "recipes are plain data: Python tags and object construction are not allowed"
    return RecipeError(f"invalid YAML: {problem}", file=file, line=line, hint=hint)


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading 1e-6 and 1E+3 as floats (YAML 1.2) rather than strings."""


RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_value(text: str) -> Any:
    """One YAML value (as in `--set field=VALUE`), parsed like recipe files."""
    return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 - RecipeLoader is a SafeLoader


_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
MAX_VALUES = 100_000


def _walk(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, file: str, source: Source) -> Any:
    source.values += 1
    if source.values > MAX_VALUES:
        raise RecipeError(
            f"the recipe expands to more than {MAX_VALUES:,} values",
            file=file,
            line=node.start_mark.line + 1,
            hint="YAML aliases (*name) that repeat other aliases multiply; write the values out instead",
        )
    source.locations[path] = (file, node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        raise RecipeError(
            f"the tag {node.tag!r} is not allowed",
            file=file,
            line=node.start_mark.line + 1,
            field=dotted(path) or None,
            hint="recipes are plain data: Python tags and object construction are not allowed",
        )
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise RecipeError("a mapping key must be a plain name", file=file, line=key_node.start_mark.line + 1)
            key = loader.construct_object(key_node)
            if key in result:
                raise RecipeError(
                    f"duplicate key '{key}' (it is already set above)",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    field=dotted((*path, key)),
                    hint="remove one of the two entries",
                )
            result[key] = _walk(loader, value_node, (*path, key), file, source)
            source.locations[(*path, key)] = (file, key_node.start_mark.line + 1)  # point at the key, not its block
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, item, (*path, i), file, source) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_yaml(text: str, file: str) -> tuple[Any, Source]:
    """Parse YAML text safely, recording the line of every field."""
    source = Source()
    try:
        loader = RecipeLoader(text)
    except yaml.YAMLError as exc:  # e.g. a NUL byte: the reader refuses the text before parsing starts
        raise _yaml_error(exc, file) from None
    try:
        node = loader.get_single_node()
        value = None if node is None else _walk(loader, node, (), file, source)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None
    finally:
        loader.dispose()
    return value, source


def read_yaml_file(path: Path) -> tuple[dict[str, Any], Source]:
    """Read one recipe file (no `extends` processing)."""
    file = str(path)
    try:
        special = path.exists() and not path.is_dir() and not path.is_file()
    except (OSError, ValueError):
        special = False
    if special:  # reading a FIFO would wait for a writer; a device may never end
        raise RecipeError("not a regular file (a FIFO, socket or device), so it cannot be a recipe", file=file)
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError(f"recipe file not found: {path}", hint="check the path") from None
    except IsADirectoryError:
        raise RecipeError(f"{path} is a folder, not a recipe file") from None
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise RecipeError("the recipe is not UTF-8 text", file=file) from None
    value, source = parse_yaml(text, file)
    if value is None:
        raise RecipeError("the recipe is empty", file=file, hint="a recipe needs at least `data` and `model`")
    if not isinstance(value, dict):
        raise RecipeError(f"a recipe must be a mapping of fields, got a {type(value).__name__}", file=file, line=1)
    return value, source


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`: mappings merge key by key, everything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


RECIPE_SUFFIXES = (".yaml", ".yml")


def _check_parent(parent_path: Path, source: Source) -> None:
    """`extends` names an existing regular .yaml/.yml file (never a folder, a device, a FIFO or a system file)."""
    try:
        found, folder = parent_path.exists(), parent_path.is_dir()
        regular = parent_path.is_file()
    except (OSError, ValueError):  # e.g. a NUL byte or an over-long name
        found = folder = regular = False
    if not found:
        raise source.error(
            ("extends",), f"parent recipe not found: {parent_path}", hint="paths are relative to this recipe"
        )
    if folder:
        raise source.error(("extends",), f"{parent_path} is a folder, not a recipe file", hint="name a .yaml recipe")
    if not regular:
        raise source.error(
            ("extends",),
            f"{parent_path} is not a regular file (a FIFO, socket or device), so it cannot be a recipe",
            hint="name a .yaml recipe",
        )
    if parent_path.suffix.lower() not in RECIPE_SUFFIXES:
        raise source.error(
            ("extends",),
            f"{parent_path} is not a recipe: `extends` names a .yaml or .yml file",
            hint="its contents are not read, so that a recipe cannot make kproto show another file's text",
        )


def _resolve_extends(path: Path, chain: tuple[Path, ...] = ()) -> tuple[dict[str, Any], Source]:
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise RecipeError(f"`extends` forms a cycle: {cycle}", file=str(chain[-1]), field="extends")
    raw, source = read_yaml_file(path)
    parent_name = raw.get("extends")
    if parent_name is None:
        return raw, source
    if not isinstance(parent_name, str):
        raise source.error(("extends",), f"expected a file path, received {parent_name!r}")
    parent_path = path.parent / parent_name
    _check_parent(parent_path, source)
    if parent_path.resolve() in (*chain, path):
        cycle = " -> ".join(p.name for p in (*chain, path, parent_path.resolve()))
        raise source.error(
            ("extends",),
            f"`extends` forms a cycle: {cycle}",
            hint="a recipe cannot extend itself or one of the recipes that extend it",
        )
    parent_raw, parent_source = _resolve_extends(parent_path, (*chain, path))
    merged = deep_merge(parent_raw, raw)
    merged.pop("extends", None)
    locations = {**parent_source.locations, **source.locations}
    return merged, Source(locations)


# ----------------------------------------------------------------------------- --set
# fields that are either a name or a {name: ..., options} mapping
NAMED_SECTIONS = {("train", "optimizer"), ("train", "loss"), ("train", "schedule")}


# Sections whose default is a bare name: `--set train.optimizer.learning_rate=0.01` starts from {name: adam}.
NAMED_DEFAULTS = {("train", "optimizer"): "adam", ("train", "loss"): "auto"}


def apply_override(raw: dict[str, Any], source: Source, assignment: str) -> None:
    """Apply one `--set a.b.c=VALUE` (VALUE is YAML) to a raw recipe, in place."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    option = f"--set {clean(assignment, 200)}"  # where its errors are: the option, never a recipe line
    if not sep or not key:
        raise RecipeError(
            f"--set expects FIELD=VALUE, received {assignment!r}", file=option, hint="e.g. --set train.epochs=3"
        )
    try:
        value = load_value(text) if text.strip() else None
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise RecipeError(f"the value {text!r} is not valid YAML ({problem})", file=option, field=key) from None
    parts = key.split(".")
    node: dict[str, Any] = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        named = tuple(parts[: i + 1]) in NAMED_SECTIONS
        if isinstance(child, str) and named and i + 1 == len(parts) - 1:  # e.g. optimizer: adam → {name: adam}
            child = {"name": child}
            node[part] = child
        if child is None:
            default = NAMED_DEFAULTS.get(tuple(parts[: i + 1]))  # e.g. the default optimizer: adam → {name: adam}
            child = node[part] = {"name": default} if default else {}
            source.locations[tuple(parts[: i + 1])] = (option, None)  # a section this option made
        if not isinstance(child, dict):
            raise RecipeError(f"'{'.'.join(parts[: i + 1])}' is {child!r}, not a section", file=option, field=key)
        node = child
    node[parts[-1]] = value
    source.locations[tuple(parts)] = (option, None)


# ----------------------------------------------------------------------------- checks
def _check_names(raw: dict[str, Any], source: Source) -> None:
    """Unknown model type, loss, optimizer, activation, metric or schedule: a Click-style error."""

    def check(path: Path_, value: Any, table: dict[str, str], what: str, name_only: bool = False) -> None:
        if name_only and not isinstance(value, str):
            raise source.error(
                path,
                f"expected the {what} as a name, received {value!r}",
                hint=f"one of {', '.join(sorted(table)[:12])}",
            )
        if isinstance(value, str) and value not in table:
            raise source.error(path, f"unknown {what}: {not_one_of(value, sorted(table))}")

    model = raw.get("model")
    if isinstance(model, dict):
        if "type" not in model:
            raise source.error(("model",), "`model.type` is missing", hint=f"one of {', '.join(catalog.FAMILIES)}")
        check(("model", "type"), model["type"], catalog.FAMILIES, "model type", name_only=True)
        for key in ("activation", "output_activation"):
            check(("model", key), model.get(key), catalog.ACTIVATIONS, "activation")
        for part in ("generator", "discriminator"):
            if isinstance(model.get(part), dict):
                check(("model", part, "activation"), model[part].get("activation"), catalog.ACTIVATIONS, "activation")
    train = raw.get("train")
    if not isinstance(train, dict):
        return
    loss = train.get("loss")
    if isinstance(loss, dict) and "name" in loss:
        check(("train", "loss", "name"), loss["name"], catalog.LOSSES, "loss", name_only=True)
    else:
        check(("train", "loss"), loss, catalog.LOSSES, "loss")
    optimizer = train.get("optimizer")
    if isinstance(optimizer, dict):
        if "name" not in optimizer:
            raise source.error(
                ("train", "optimizer"),
                "an optimizer mapping needs `name`",
                hint="e.g. {name: adam, learning_rate: 0.001}",
            )
        check(("train", "optimizer", "name"), optimizer["name"], catalog.OPTIMIZERS, "optimizer", name_only=True)
        rate = optimizer.get("learning_rate")
        number = isinstance(rate, (int, float)) and not isinstance(rate, bool)
        if "learning_rate" in optimizer and not (number and 0 < rate < float("inf")):
            raise source.error(
                ("train", "optimizer", "learning_rate"),
                f"the learning rate must be a positive number; received {rate!r}",
                hint="e.g. learning_rate: 0.001",
            )
    else:
        check(("train", "optimizer"), optimizer, catalog.OPTIMIZERS, "optimizer")
    schedule = train.get("schedule")
    if isinstance(schedule, dict):
        check(("train", "schedule", "name"), schedule.get("name"), catalog.SCHEDULES, "schedule")
    stopping = train.get("early_stopping")
    monitor = stopping.get("monitor") if isinstance(stopping, dict) else None
    if isinstance(monitor, str) and not monitor.endswith("loss"):  # a typo would only show after the first epoch
        logged = ["loss", *catalog.METRICS]
        choices = dict.fromkeys([*logged, *(f"val_{name}" for name in logged)], "")
        check(("train", "early_stopping", "monitor"), monitor, choices, "monitored value")
    metrics = train.get("metrics")
    if isinstance(metrics, list):
        for i, name in enumerate(metrics):
            check(("train", "metrics", i), name, catalog.METRICS, "metric")


def _schema_path(loc: tuple[Any, ...], raw: dict[str, Any]) -> Path_:
    """Drop pydantic's union tags (e.g. 'feedforward', 'str', 'dict[str,any]') from an error location."""
    path: list[Any] = []
    node: Any = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(part, str) and part in MODEL_CLASSES:
            continue  # discriminated union tag
        elif isinstance(node, dict) and isinstance(part, str) and not path[-1:] == [part]:
            path.append(part)  # a missing or unknown field
            node = None
        else:
            continue
    return tuple(path)


def _expected_fields(path: Path_, raw: dict[str, Any]) -> list[str]:
    """The allowed keys of the section at `path` (for 'did you mean')."""
    from kproto.recipe import schema

    sections = {
        (): schema.Recipe,
        ("data",): schema.Data,
        ("data", "split"): schema.Split,
        ("data", "window"): schema.Window,
        ("data", "augment"): schema.Augment,
        ("train",): schema.Train,
        ("train", "early_stopping"): schema.EarlyStopping,
    }
    model_type = raw.get("model", {}).get("type") if isinstance(raw.get("model"), dict) else None
    if model_type in MODEL_CLASSES:
        spec = MODEL_CLASSES[model_type]
        sections[("model",)] = spec
        for key, info in spec.model_fields.items():  # nested sections of a family (a GAN's generator, ...)
            nested = _section_class(info.annotation)
            if nested is not None:
                sections[("model", key)] = nested
    cls = sections.get(path)
    return sorted(cls.model_fields) if cls else []


def _section_class(annotation: Any) -> type | None:
    """The pydantic class inside a field's annotation (`Part`, `Part | None`), if there is one."""
    import typing

    from pydantic import BaseModel

    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _translate(exc: ValidationError, raw: dict[str, Any], source: Source) -> RecipeError:
    errors = exc.errors(include_url=False)
    error = errors[0]
    path = _schema_path(error["loc"], raw)
    kind = error["type"]
    received = error.get("input")
    if kind == "extra_forbidden":
        allowed = _expected_fields(path[:-1], raw)
        message = f"unknown field '{path[-1]}'"
        if allowed:
            message += f"; {not_one_of(path[-1], allowed).split(' is ', 1)[1]}"
            message = message.replace("not one of", "expected one of")
        return source.error(path, message)
    if kind == "missing":
        return source.error(path, "this required field is missing", hint=_missing_hint(path))
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    # a field of several types (e.g. a number or 'auto'): the words the other types accept
    alternatives = [
        other["msg"].removeprefix("Input should be ")
        for other in errors[1:]
        if other["type"] == "literal_error" and _schema_path(other["loc"], raw) == path
    ]
    if alternatives:
        message += f" (or {', '.join(alternatives)})"
    if not isinstance(received, dict):
        message += f"; received {received!r}"
    return source.error(path, message)


def _check_window_rules(data: Any, source: Source) -> None:
    """data.time, data.series and step counts in data.split belong to windowed series."""
    for name in ("time", "series"):
        if getattr(data, name) is not None and data.window is None:
            raise source.error(
                ("data", name),
                f"data.{name} names a column of a time series, but the recipe has no data.window",
                hint="add `window: {length: 24, horizon: 12}` to forecast, or remove data." + name,
            )
    for name in ("validation", "test"):
        if isinstance(getattr(data.split, name), int) and data.window is None:
            raise source.error(
                ("data", "split", name),
                f"a whole number of held-out rows ({getattr(data.split, name)}) is for time series with "
                "data.window; other data is split by shares",
                hint=f"use a share below 1, e.g. {name}: 0.15",
            )
    if data.window is not None and data.features is not None:
        for name in ("time", "series"):
            column = getattr(data, name)
            if column is not None and column in data.features:
                raise source.error(
                    ("data", "features"),
                    f"'{column}' is data.{name}; it is not a covariate",
                    hint="calendar features come from data.time by themselves; leave it out of data.features",
                )


def _missing_hint(path: Path_) -> str | None:
    hints = {
        ("data",): "add `data: {path: file.csv, target: column}`",
        ("model",): "add `model: {type: feedforward}`",
        ("data", "path"): "add `path:` with the data file, relative to the recipe",
    }
    return hints.get(path)


def _check_rules(recipe: Recipe, source: Source) -> None:
    """Cross-field rules that the per-field schema cannot express."""
    data, model = recipe.data, recipe.model
    check_targets(recipe, source.error)  # data.target lists and per-target train settings
    if catalog.family(model.type).needs_target and model.needs_target and not data.target:
        raise source.error(
            ("data",), f"`data.target` is required for a {model.type} model", hint="name the column to predict"
        )
    for name, meaning in model.required_data.items():  # columns a family cannot do without
        if getattr(data, name) is None:
            raise source.error(("data",), f"`data.{name}` is required for a {model.type} model", hint=meaning)
    if data.text and data.window:
        raise source.error(("data", "window"), "use either `data.text` or `data.window`, not both")
    if data.balance != "none" and (data.window is not None or data.streaming is True):
        raise source.error(
            ("data", "balance"),
            f"data.balance: {data.balance} works on in-memory rows of a table, not on "
            + ("time-series windows" if data.window is not None else "streamed data"),
            hint="use train.class_weight: balanced instead",
        )
    _check_window_rules(data, source)
    _check_inputs_rules(model, source)
    if data.features is not None and data.target and data.target in data.features:
        raise source.error(("data", "features"), f"the target '{data.target}' is also listed as a feature")
    metrics = recipe.train.metrics if isinstance(recipe.train.metrics, list) else []
    task = data.task
    for i, name in enumerate(metrics):
        if task == catalog.REGRESSION and name in catalog.CLASSIFICATION_METRICS:
            raise source.error(
                ("train", "metrics", i), f"'{name}' is a classification metric but the task is regression"
            )
        if task == catalog.CLASSIFICATION and name in catalog.REGRESSION_METRICS - {"mse", "mae"}:
            raise source.error(
                ("train", "metrics", i), f"'{name}' is a regression metric but the task is classification"
            )
    loss = recipe.train.loss
    if isinstance(loss, dict) and "python" not in loss and "name" not in loss and not several(recipe):
        raise source.error(("train", "loss"), "a loss mapping needs `name` (or `python: file.py:function`)")


ENCODER_FAMILIES = {"text": ("rnn", "gru", "lstm", "transformer"), "image": ("cnn", "pretrained")}


def _check_inputs_rules(model: Any, source: Source) -> None:
    """model.inputs and model.combine only on families that take several inputs; an encoder override is a family
    section of a family that can encode that kind."""
    family = catalog.family(model.type)
    if not family.extra_inputs:
        for name, default in (("inputs", None), ("combine", "concat")):
            if getattr(model, name) != default:
                takers = ", ".join(n for n, entry in catalog.FAMILIES.items() if entry.extra_inputs)
                raise source.error(
                    ("model", name),
                    f"a {model.type} model takes one kind of input, so model.{name} does not apply",
                    hint=f"remove model.{name}; families that take several inputs: {takers}",
                )
        return
    for kind, allowed in ENCODER_FAMILIES.items():
        section = getattr(model.inputs, kind, None) if model.inputs is not None else None
        if section is None:
            continue
        kind_type = section.get("type")
        if kind_type not in allowed:
            raise source.error(
                ("model", "inputs", kind),
                f"model.inputs.{kind} needs `type:` one of {', '.join(allowed)}; got {clean(str(kind_type))!r}",
                hint=f"e.g. model.inputs.{kind}: {{type: {'lstm' if kind == 'text' else 'cnn'}}}",
            )
        try:
            MODEL_CLASSES[kind_type].model_validate(section)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise source.error(
                ("model", "inputs", kind),
                f"model.inputs.{kind}.{where}: {first['msg']}",
                hint=f"the fields of a {kind_type} model section (kproto list families)",
            ) from None


def validate_raw(raw: dict[str, Any], source: Source) -> Recipe:
    """Check a raw recipe mapping and return the typed recipe."""
    _check_names(raw, source)
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise _translate(exc, raw, source) from None
    _check_rules(recipe, source)
    return recipe


# A run's saved recipe names every field (dump_recipe). One that lacks these was saved before the field existed,
# and its run had this value, not today's default.
SAVED_BEFORE: dict[tuple[str, str], object] = {("data", "text_standardize"): "strip_punctuation"}


def as_saved(raw: dict[str, Any]) -> dict[str, Any]:
    """A run's saved recipe with each field added since it was saved set to the value its run had (SAVED_BEFORE)."""
    for (section, name), value in SAVED_BEFORE.items():
        part = raw.get(section)
        if isinstance(part, dict) and name not in part:
            raw[section] = {**part, name: value}
    return raw


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = (), saved: bool = False) -> LoadedRecipe:
    """Load, merge, override and validate a recipe file. Relative data paths become absolute. `saved`: the file is
    a run's own recipe (`kproto train --resume`), read as its run was trained."""
    path = Path(path)
    raw, source = _resolve_extends(path)
    if saved:
        as_saved(raw)
    for assignment in overrides:
        apply_override(raw, source, assignment)
    recipe = validate_raw(raw, source)
    if recipe.name is None:
        recipe.name = path.stem.replace("_", "-")
        if name_problem(recipe.name):
            raise RecipeError(
                f"the recipe file's name {clean(recipe.name)!r} cannot name its runs: {name_problem(recipe.name)}",
                file=str(path),
                field="name",
                hint="add `name: my-run` to the recipe",
            )
    if "\x00" in recipe.data.path or not recipe.data.path.strip():
        raise source.error(
            ("data", "path"),
            f"{recipe.data.path!r} is not a usable file path",
            hint="name a .csv, .tsv, .parquet or .npz file, or an image folder",
        )
    data_path = Path(recipe.data.path)
    try:
        data_path = data_path.expanduser()
    except RuntimeError:  # ~user that does not exist: keep the path as written; reading it reports it missing
        pass
    if not data_path.is_absolute():
        # relative to the recipe file that wrote data.path (a parent's path stays relative to the parent)
        written_in, _ = source.locate(("data", "path"))
        origin = Path(written_in) if written_in and Path(written_in).is_file() else path.resolve()
        data_path = (origin.resolve().parent / data_path).resolve()
    recipe.data.path = str(data_path)
    _absolute_model_paths(recipe, source, path)
    return LoadedRecipe(recipe=recipe, raw=raw, source=source, path=path)


def _absolute_model_paths(recipe: Recipe, source: Source, path: Path) -> None:
    """Model fields that hold local paths (a family's spec lists them in `path_fields()`) become absolute like
    data.path: relative to the recipe file that wrote them."""
    for key in recipe.model.path_fields():
        local = Path(getattr(recipe.model, key)).expanduser()
        if not local.is_absolute():
            written_in, _ = source.locate(("model", key))
            origin = Path(written_in) if written_in and Path(written_in).is_file() else path.resolve()
            local = (origin.resolve().parent / local).resolve()
        setattr(recipe.model, key, str(local))


def recipe_from_dict(raw: dict[str, Any], origin: str = "<recipe>") -> Recipe:
    """Validate an in-memory recipe mapping (used when a run's saved recipe is reloaded)."""
    source = Source({(): (origin, None)})
    raw = as_saved(dict(raw))  # a copy: the caller's mapping stays as read
    if isinstance(raw.get("name"), str) and name_problem(raw["name"]):  # a run saved before names were checked
        raw = {**raw, "name": safe_name(raw["name"])}
    return validate_raw(raw, source)


def dump_recipe(recipe: Recipe) -> str:
    """The fully resolved recipe as YAML text."""
    data = recipe.model_dump(mode="json", exclude={"extends"})
    model = data.get("model") or {}
    for name, default in (("inputs", None), ("combine", "concat")):  # several inputs only: a one-input run's file
        if name in model and model[name] == default:  # stays as it was
            del model[name]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
