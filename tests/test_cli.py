"""The recipe loader (--set, extends, names, paths), `kproto validate`/`schema`/`--help`, and CLI error handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras  # noqa: F401 - pins this pytest process to conftest's backend (tensorflow) before later modules are collected
import pytest

from kproto.cli import cli
from kproto.core.errors import RecipeError
from kproto.recipe import dump_recipe, load_recipe
from kproto.recipe.loader import Source, apply_override, deep_merge

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes"

MINIMAL = "data:\n  path: {data}\n  target: label\nmodel:\n  type: feedforward\n"


# ----------------------------------------------------------------------------- --set
@pytest.mark.parametrize(
    ("assignment", "path", "expected"),
    [
        ("train.epochs=3", ("train", "epochs"), 3),
        ("model.units=[64]", ("model", "units"), [64]),
        ("model.units=[64, 32]", ("model", "units"), [64, 32]),
        ("model.dropout=0.25", ("model", "dropout"), 0.25),
        ("train.early_stopping=false", ("train", "early_stopping"), False),
        ("train.optimizer={name: sgd, momentum: 0.9}", ("train", "optimizer"), {"name": "sgd", "momentum": 0.9}),
        ("name=my-run", ("name",), "my-run"),
        ("name='123'", ("name",), "123"),
        ("data.features=", ("data", "features"), None),
        ("data.split.test=0.1", ("data", "split", "test"), 0.1),
        ("train.schedule.name=cosine", ("train", "schedule", "name"), "cosine"),
        ("train.optimizer.learning_rate=0.01", ("train", "optimizer"), {"name": "adam", "learning_rate": 0.01}),
        ("seed=7", ("seed",), 7),
    ],
)
def test_set_parses_a_yaml_value_at_a_dotted_path(assignment: str, path: tuple[str, ...], expected: object) -> None:
    raw = {"data": {"path": "x.csv", "target": "y"}, "model": {"type": "feedforward"}, "train": {"optimizer": "adam"}}
    source = Source()
    apply_override(raw, source, assignment)
    node = raw
    for part in path:
        node = node[part]
    assert node == expected
    assert type(node) is type(expected)
    assert raw["data"]["path"] == "x.csv"  # siblings untouched
    file, line = source.locate(tuple(assignment.split("=", 1)[0].split(".")))
    assert file.startswith("--set") and line is None


@pytest.mark.parametrize(
    ("assignment", "words"),
    [
        ("train.epochs", "FIELD=VALUE"),
        ("=3", "FIELD=VALUE"),
        ("model.units=[64", "not valid YAML"),
        ("data.path.deeper=1", "not a section"),
    ],
)
def test_set_refuses_malformed_assignments(assignment: str, words: str) -> None:
    raw = {"data": {"path": "x.csv"}, "model": {"type": "feedforward"}}
    with pytest.raises(RecipeError, match=words):
        apply_override(raw, Source(), assignment)


def test_set_through_load_recipe_is_validated(make_recipe, tiny_classification: Path) -> None:
    path = make_recipe(MINIMAL.format(data=tiny_classification))
    loaded = load_recipe(path, ["train.epochs=3", "model.units=[64]"])
    assert loaded.recipe.train.epochs == 3
    assert loaded.recipe.model.units == [64]
    with pytest.raises(RecipeError) as info:
        load_recipe(path, ["train.epochs=-1"])
    assert info.value.field == "train.epochs"
    assert info.value.file.startswith("--set")


# ----------------------------------------------------------------------------- extends
@pytest.mark.parametrize(
    ("base", "top", "expected"),
    [
        ({"a": 1, "b": 2}, {"b": 3}, {"a": 1, "b": 3}),
        ({"m": {"x": 1, "y": 2}}, {"m": {"y": 5, "z": 6}}, {"m": {"x": 1, "y": 5, "z": 6}}),
        ({"m": {"units": [64, 32]}}, {"m": {"units": [8]}}, {"m": {"units": [8]}}),
        ({"o": "adam"}, {"o": {"name": "sgd"}}, {"o": {"name": "sgd"}}),
        ({"o": {"name": "sgd"}}, {"o": "adam"}, {"o": "adam"}),
        ({"a": {"b": {"c": 1, "d": 2}}}, {"a": {"b": {"d": 3}}}, {"a": {"b": {"c": 1, "d": 3}}}),
        ({"a": 1}, {}, {"a": 1}),
    ],
)
def test_deep_merge(base: dict, top: dict, expected: dict) -> None:
    before = json.dumps(base, sort_keys=True)
    assert deep_merge(base, top) == expected
    assert json.dumps(base, sort_keys=True) == before  # the parent mapping is not modified


@pytest.fixture
def family(tmp_path: Path, tiny_classification: Path) -> Path:
    """shared/base.yaml (with the data path, relative to shared/) and child/child.yaml extending it."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "child").mkdir()
    (tmp_path / "shared" / "tiny.csv").write_bytes(tiny_classification.read_bytes())
    (tmp_path / "shared" / "base.yaml").write_text(
        textwrap.dedent("""\
        seed: 3
        data:
          path: tiny.csv
          target: label
        model:
          type: feedforward
          units: [64, 32]
          dropout: 0.3
        train:
          epochs: 50
          early_stopping: {patience: 9, monitor: val_loss}
        """)
    )
    child = tmp_path / "child" / "child.yaml"
    child.write_text(
        textwrap.dedent("""\
        extends: ../shared/base.yaml
        model:
          units: [16]
        train:
          early_stopping: {patience: 2}
        """)
    )
    return child


def test_extends_merges_the_parent_beneath(family: Path) -> None:
    loaded = load_recipe(family)
    recipe = loaded.recipe
    assert recipe.model.units == [16]  # child wins; the list is replaced, not merged
    assert recipe.model.dropout == 0.3  # inherited
    assert recipe.train.epochs == 50
    assert recipe.train.early_stopping.patience == 2
    assert recipe.train.early_stopping.monitor == "val_loss"
    assert recipe.seed == 3
    assert recipe.name == "child"  # the loaded file's stem, not the parent's
    assert Path(recipe.data.path) == (family.parent.parent / "shared" / "tiny.csv").resolve()


def test_extends_records_where_each_field_came_from(family: Path) -> None:
    source = load_recipe(family).source
    parent = family.parent.parent / "shared" / "base.yaml"
    file, line = source.locate(("model", "units"))
    assert Path(file).resolve() == family.resolve() and line == 3
    file, line = source.locate(("model", "dropout"))
    assert Path(file).resolve() == parent.resolve() and line == 8
    file, line = source.locate(("train", "epochs"))
    assert Path(file).resolve() == parent.resolve() and line == 10


@pytest.mark.parametrize(
    ("where", "field", "line"),
    [("parent", "model.dropout", 8), ("child", "model.units", 3)],
)
def test_extends_errors_point_at_the_file_that_wrote_the_field(family: Path, where: str, field: str, line: int) -> None:
    parent = family.parent.parent / "shared" / "base.yaml"
    target = parent if where == "parent" else family
    text = target.read_text()
    broken = text.replace("dropout: 0.3", "dropout: 2.0") if where == "parent" else text.replace("[16]", "[-4]")
    target.write_text(broken)
    with pytest.raises(RecipeError) as info:
        load_recipe(family)
    assert Path(info.value.file).resolve() == target.resolve()
    assert info.value.line == line
    assert info.value.field.startswith(field)


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"}, "cycle"),
        ({"a.yaml": "extends: a.yaml\n"}, "cycle"),
        ({"a.yaml": "extends: nowhere.yaml\n"}, "not found"),
        ({"a.yaml": "extends: [b.yaml]\n"}, "expected a file path"),
    ],
)
def test_extends_problems_are_recipe_errors(tmp_path: Path, files: dict[str, str], words: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(RecipeError, match=words) as info:
        load_recipe(tmp_path / "a.yaml")
    assert info.value.field == "extends"


def test_shipped_extends_recipe_resolves() -> None:
    loaded = load_recipe(RECIPES / "iris_extends.yaml")
    base = load_recipe(RECIPES / "base.yaml").recipe
    assert loaded.recipe.model.units != base.model.units
    assert loaded.recipe.train.optimizer == base.train.optimizer
    assert Path(loaded.recipe.data.path).exists()


# ----------------------------------------------------------------------------- names and paths
@pytest.mark.parametrize("stem", ["tiny", "my-model", "digits_mlp"])
def test_name_defaults_to_the_file_stem(make_recipe, tiny_classification: Path, stem: str) -> None:
    recipe = load_recipe(make_recipe(MINIMAL.format(data=tiny_classification), name=f"{stem}.yaml")).recipe
    assert recipe.name.replace("-", "_") == stem.replace("-", "_")
    named = load_recipe(make_recipe("name: chosen\n" + MINIMAL.format(data=tiny_classification), name=f"{stem}.yaml"))
    assert named.recipe.name == "chosen"


def test_data_path_is_relative_to_the_recipe_not_the_working_directory(
    tmp_path: Path, tiny_classification: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project" / "recipes"
    folder.mkdir(parents=True)
    (tmp_path / "project" / "data").mkdir()
    data = tmp_path / "project" / "data" / "t.csv"
    data.write_bytes(tiny_classification.read_bytes())
    recipe_path = folder / "r.yaml"
    recipe_path.write_text(MINIMAL.format(data="../data/t.csv"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    recipe = load_recipe(Path("..") / "project" / "recipes" / "r.yaml").recipe
    assert Path(recipe.data.path) == data.resolve()


def test_defaults_of_the_minimal_recipe(make_recipe, tiny_classification: Path) -> None:
    recipe = load_recipe(make_recipe(MINIMAL.format(data=tiny_classification))).recipe
    assert recipe.seed == 42
    assert recipe.data.split.validation == 0.15 and recipe.data.split.test == 0.15
    assert recipe.data.features is None and recipe.data.task is None
    assert recipe.train.loss == "auto"
    assert recipe.train.early_stopping.patience == 5
    assert recipe.train.early_stopping.monitor == "val_loss"
    assert recipe.train.early_stopping.restore_best is True


def test_dumped_recipe_loads_back_to_the_same_recipe(family: Path) -> None:
    import yaml

    from kproto.recipe import recipe_from_dict

    recipe = load_recipe(family, ["train.epochs=4"]).recipe
    again = recipe_from_dict(yaml.safe_load(dump_recipe(recipe)))
    assert again == recipe


# ----------------------------------------------------------------------------- validate / schema / help
def test_validate_accepts_every_shipped_recipe(runner) -> None:
    shipped = sorted(RECIPES.glob("*.yaml"))
    assert shipped
    for path in shipped:
        result = runner.invoke(cli, ["validate", str(path)])
        assert result.exit_code == 0, (path, result.output)
        assert "OK" in result.output


@pytest.mark.parametrize(
    ("recipe", "field", "words"),
    [
        (
            "data: {{path: {data}, target: label}}\nmodel:\n  type: feedforward\n  unitz: [3]\n",
            "model.unitz",
            ["Did you mean 'units'", "expected one of"],
        ),
        (
            "data: {{path: {data}, target: labl}}\nmodel: {{type: feedforward}}\n",
            "data.target",
            ["did you mean 'label'", "not in"],
        ),
        (
            "data: {{path: {data}, target: label}}\nmodel: {{type: feedfoward}}\n",
            "model.type",
            ["Did you mean 'feedforward'", "'feedfoward'"],
        ),
        (
            "data: {{path: {data}, target: label}}\nmodel: {{type: feedforward}}\ntrain:\n  epochs: many\n",
            "train.epochs",
            ["received 'many'", "integer"],
        ),
        (
            "data: {{path: {data}, target: label}}\nmodel: {{type: feedforward}}\ntrain:\n  optimizer: adm\n",
            "train.optimizer",
            ["Did you mean 'adam'"],
        ),
        ("data: {{path: missing.csv, target: label}}\nmodel: {{type: feedforward}}\n", "data.path", ["not found"]),
        ("data: {{path: {data}}}\nmodel: {{type: feedforward}}\n", "data", ["target"]),
        ("data: {{path: {data}, target: label}}\n", "model", ["missing"]),
    ],
)
def test_validate_errors_name_file_line_field_and_fix(
    runner, make_recipe, tiny_classification: Path, recipe: str, field: str, words: list[str]
) -> None:
    path = make_recipe(recipe.format(data=tiny_classification))
    result = runner.invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert str(path) in result.output
    assert f"field '{field}'" in result.output
    assert "line " in result.output
    for word in words:
        assert word in result.output
    assert "Traceback" not in result.output


def test_debug_shows_the_exception(runner, make_recipe, tiny_classification: Path) -> None:
    path = make_recipe(MINIMAL.format(data=tiny_classification).replace("feedforward", "feedfoward"))
    result = runner.invoke(cli, ["--debug", "validate", str(path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, RecipeError)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("data:\n\tpath: x.csv\n", "tab"),
        ("data: {path: a.csv}\ndata: {path: b.csv}\n", "duplicate key"),
        ("model: !!python/object:os.system {}\n", "not allowed"),
        ("- a\n- b\n", "mapping"),
        ("", "empty"),
    ],
)
def test_malformed_yaml_is_a_recipe_error(runner, make_recipe, text: str, words: str) -> None:
    path = make_recipe(text)
    result = runner.invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output


def test_validate_with_set(runner, make_recipe, tiny_classification: Path) -> None:
    path = make_recipe(MINIMAL.format(data=tiny_classification))
    assert runner.invoke(cli, ["validate", str(path), "--set", "model.units=[8]"]).exit_code == 0
    result = runner.invoke(cli, ["validate", str(path), "--set", "model.dropout=3"])
    assert result.exit_code == 2
    assert "model.dropout" in result.output and "--set" in result.output


def test_schema_is_json_schema_with_the_recipe_fields(runner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["type"] == "object"
    assert {"name", "seed", "extends", "data", "model", "train"} <= set(schema["properties"])
    assert {"data", "model"} <= set(schema["required"])
    definitions = schema.get("$defs", {})

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(schema):
        assert ref.startswith("#/$defs/") and ref.split("/")[-1] in definitions, ref
    data = definitions["Data"]
    assert {"path", "target", "features", "task", "split"} <= set(data["properties"])
    assert data.get("additionalProperties") is False
    train = definitions["Train"]
    assert {"loss", "optimizer", "epochs", "batch_size", "metrics", "early_stopping"} <= set(train["properties"])
    assert "feedforward" in json.dumps(schema["properties"]["model"]) or "Feedforward" in definitions
    out = tmp_path / "schema.json"
    assert runner.invoke(cli, ["schema", "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text()) == schema


LIGHT_CHECK = """
import sys, time
t0 = time.perf_counter()
from click.testing import CliRunner
from kproto.cli import cli
result = CliRunner().invoke(cli, {args!r})
elapsed, cpu = time.perf_counter() - t0, time.process_time()
heavy = sorted(m for m in ("tensorflow", "keras", "pandas", "numpy", "jax", "torch") if m in sys.modules)
print(result.exit_code, elapsed, cpu, ",".join(heavy))
print(result.output, file=sys.stderr)
"""


@pytest.mark.parametrize(
    "command", ["--help", "validate", "validate-no-audit", "validate-error", "schema", "train --help"]
)
def test_light_commands_do_not_import_heavy_libraries(command: str, tiny_classification: Path, make_recipe) -> None:
    path = make_recipe(MINIMAL.format(data=tiny_classification))
    args = {
        "--help": ["--help"],
        "validate": ["validate", str(path)],
        "validate-no-audit": ["validate", str(path), "--set", "data.audit=false"],
        "validate-error": ["validate", str(path), "--set", "model.type=cnnn"],
        "schema": ["schema"],
        "train --help": ["train", "--help"],
    }[command]
    proc = subprocess.run(
        [sys.executable, "-c", LIGHT_CHECK.format(args=args)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    code, elapsed, cpu, heavy = (proc.stdout.strip().split(" ") + [""])[:4]
    print(f"kproto {command}: {float(elapsed):.3f} s wall, {float(cpu):.3f} s CPU (imports included)")
    assert int(code) == (2 if command == "validate-error" else 0), proc.stderr
    # validate audits a classification table's first rows without pandas or NumPy (kproto.data.sample); none of these
    # imports TensorFlow, Keras or JAX (NumPy alone costs about 0.1 s of start-up)
    assert not heavy, f"kproto {command} imported {heavy}"
    # a sanity bound only (CPU time too, since other jobs may share the cores); the benchmark measures the real floor
    assert min(float(elapsed), float(cpu)) < 2.0


def test_help_lists_every_command(runner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("train", "validate", "schema", "evaluate", "predict", "export"):
        assert command in result.output


# ----------------------------------------------------------------------------- commands: usage errors without training
@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["train"], 2, "RECIPE"),
        (["train", "{recipe}", "--set", "train.epochs"], 2, "FIELD=VALUE"),
        (["train", "{recipe}", "--set", "model.units=[0]"], 2, "model.units"),
        (["evaluate", "{folder}"], 2, "missing"),
        (["predict", "{folder}", "--data", "{data}"], 2, "missing"),
        (["export", "{folder}", "--format", "onnx"], 2, "missing"),
        (["export", "{folder}", "--format", "pickle"], 2, "pickle"),
        (["evaluate", "{data}"], 2, "not a run directory"),
    ],
)
def test_commands_refuse_bad_input_cleanly(
    runner, make_recipe, tiny_classification: Path, tmp_path: Path, args: list[str], code: int, words: str
) -> None:
    recipe = make_recipe(MINIMAL.format(data=tiny_classification))
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    values = {"recipe": str(recipe), "folder": str(folder), "data": str(tiny_classification)}
    result = runner.invoke(cli, [a.format(**values) for a in args])
    assert result.exit_code == code, result.output
    assert words in result.output
    assert "Traceback" not in result.output


# ----------------------------------------------------------------------------- the lazy group, errors, list, summary
def test_every_command_is_lazy_and_has_help(runner) -> None:
    from kproto.cli import COMMANDS

    listed = runner.invoke(cli, ["--help"]).output
    for name in COMMANDS:
        assert name in listed
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage: " in result.output and name in result.output


def test_an_unknown_command_is_a_usage_error(runner) -> None:
    result = runner.invoke(cli, ["trian"])
    assert result.exit_code == 2 and "No such command 'trian'" in result.output


def test_version(runner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and "version" in result.output


def test_error_rendering_and_exit_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    """KprotoError: exit 2 with file, line, field and hint; a bug: exit 1 with a --debug hint; Ctrl-C: exit 130."""
    import click
    from click.testing import CliRunner

    from kproto.cli.common import KprotoGroup

    @click.group(cls=KprotoGroup)
    @click.option("--debug", is_flag=True)
    @click.pass_context
    def group(ctx: click.Context, debug: bool) -> None:
        ctx.ensure_object(dict)
        ctx.obj["debug"] = debug

    @group.command()
    @click.argument("what")
    def fail(what: str) -> None:
        if what == "recipe":
            raise RecipeError(
                "received 0, expected a positive integer", file="r.yaml", line=4, field="model.units", hint="use 8"
            )
        if what == "bug":
            raise ValueError("boom\nsecond line")
        raise KeyboardInterrupt

    result = CliRunner().invoke(group, ["fail", "recipe"])
    assert result.exit_code == 2
    assert "Recipe error in r.yaml, line 4, field 'model.units':" in result.output
    assert "received 0" in result.output and "Hint: use 8" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(group, ["fail", "bug"])
    assert result.exit_code == 1
    assert "Unexpected error: ValueError: boom" in result.output and "second line" not in result.output
    assert "--debug" in result.output
    assert isinstance(CliRunner().invoke(group, ["--debug", "fail", "bug"]).exception, ValueError)
    result = CliRunner().invoke(group, ["fail", "stop"])
    assert result.exit_code == 130 and "Interrupted." in result.output


def test_list() -> None:
    from click.testing import CliRunner

    def invoke(args: list[str]) -> str:
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    output = invoke(["list"])
    for name in ("feedforward", "adam", "cosine", "gelu", "accuracy", "rotation", "sparse_categorical_crossentropy"):
        assert name in output
    losses = invoke(["list", "losses"])
    assert "huber" in losses and "adamw" not in losses
    assert "transformer" in invoke(["list", "family"])
    result = CliRunner().invoke(cli, ["list", "optimisers"])
    assert result.exit_code == 2 and "Did you mean 'optimizers'?" in result.output


@pytest.mark.parametrize("section", ["families", "metrics"])
def test_list_shows_the_catalogs_descriptions(runner, section: str) -> None:
    from kproto.core import catalog

    result = runner.invoke(cli, ["list", section], terminal_width=400)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    for name, entry in getattr(catalog, section.upper()).items():
        assert name in flat
        assert " ".join(entry.description.split())[:30] in flat, name
    assert "Family(" not in flat and "Metric(" not in flat


def test_list_families_says_which_take_several_inputs_and_targets(runner) -> None:
    from kproto.core import catalog

    result = runner.invoke(cli, ["list", "families"])
    assert result.exit_code == 0, result.output
    flat = " ".join(line.strip("│ ") for line in result.output.splitlines())
    flat = " ".join(flat.split())
    families = catalog.FAMILIES.values()
    assert flat.count("reads: ") == len(families)
    assert flat.count("columns of several kinds: yes") == sum(f.extra_inputs for f in families) > 0
    assert flat.count("several targets: yes") == sum(f.multi_output for f in families) > 0
    assert flat.count("several targets: no") == sum(not f.multi_output for f in families) > 0


def test_family_completion_shows_descriptions() -> None:
    from kproto.cli.workflow import NameChoice
    from kproto.core import catalog

    items = NameChoice("type", "FAMILIES").shell_complete(None, None, "tra")  # type: ignore[arg-type]
    assert [(i.value, i.help) for i in items] == [("transformer", catalog.FAMILIES["transformer"].description)]


@pytest.fixture
def binary_recipe(tmp_path: Path) -> Path:
    """A feedforward recipe on two numeric features and a two-class label."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=120), rng.normal(size=120)
    pd.DataFrame({"x1": x1, "x2": x2, "label": np.where(x1 + 0.5 * x2 > 0, "yes", "no")}).to_csv(
        tmp_path / "tiny.csv", index=False
    )
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "name: tiny\nseed: 7\ndata:\n  path: tiny.csv\n  target: label\n"
        "model:\n  type: feedforward\n  units: [8]\n  dropout: 0.0\ntrain:\n  epochs: 2\n  batch_size: 16\n"
    )
    return path


def test_summary(runner, binary_recipe: Path) -> None:
    result = runner.invoke(
        cli,
        [
            "summary",
            str(binary_recipe),
            *("--set", "model.units=[12, 6]", "--set", "model.numeric_embedding=none", "--set", "model.ensemble=1"),
            *("--backend", "tensorflow"),
        ],
    )
    assert result.exit_code == 0, result.output
    output = result.output
    assert "dense_0" in output and "dense_1" in output and "output shape" in output
    assert "(batch, 12)" in output
    params = 2 * 12 + 12 + 12 * 6 + 6 + 6 * 2 + 2
    assert f"{params:,} total" in output


def test_summary_points_a_build_error_at_the_recipe_line(runner, binary_recipe: Path) -> None:
    result = runner.invoke(
        cli, ["summary", str(binary_recipe), "--set", "data.target=lable", "--backend", "tensorflow"]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "lable" in result.output


def test_help_and_completion_stay_light() -> None:
    code = "import sys, kproto.cli; sys.exit(any(m in sys.modules for m in ('keras', 'tensorflow', 'pandas', 'rich')))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    env = {**os.environ, "_KPROTO_COMPLETE": "bash_source"}
    script = subprocess.run([sys.executable, "-m", "kproto.cli"], env=env, capture_output=True, text=True)
    assert "complete" in script.stdout and "_KPROTO_COMPLETE" in script.stdout
    env = {**os.environ, "_KPROTO_COMPLETE": "bash_complete", "COMP_WORDS": "kproto new tra", "COMP_CWORD": "2"}
    words = subprocess.run([sys.executable, "-m", "kproto.cli"], env=env, capture_output=True, text=True)
    assert "transformer" in words.stdout


@pytest.mark.parametrize("args", [["--help"], ["validate", "no-such-recipe.yaml"]])
def test_the_console_script_freezes_what_is_left_for_a_quick_exit(
    monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """After the command (done or refused), `main` moves the objects left out of the collector's reach, so the
    interpreter's exit does not walk them; the exit code is the command's."""
    import gc

    from kproto.cli import main

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(sys, "argv", ["kproto", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert frozen == [True]
    assert exited.value.code == (0 if args == ["--help"] else 2)
