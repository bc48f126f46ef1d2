"""The recipe loader: every bad recipe is a RecipeError that names the field and the line, through the CLI (exit 2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kproto.cli import cli
from kproto.core.errors import RecipeError
from kproto.recipe import load_recipe

CSV = "x1,x2,label\n" + "".join(f"{i * 0.1:.1f},{(i % 7) * 0.5:.1f},{'ab'[i % 2]}\n" for i in range(40))
GOOD = """\
data:
  path: d.csv
  target: label
model:
  type: feedforward
  units: [4]
train:
  epochs: 1
"""


def in_data(lines: str) -> str:
    """GOOD with `lines` added to its data section (after line 3)."""
    return GOOD.replace("  target: label\n", "  target: label\n" + lines)


def in_model(lines: str) -> str:
    """GOOD with `lines` added to its model section (after line 6)."""
    return GOOD.replace("  units: [4]\n", "  units: [4]\n" + lines)


def _case(text: str, field: str, line: int, says: str) -> tuple[str, str, int, str]:
    return text, field, line, says


# id → (recipe text, the field the message must name, the line it must name, a phrase saying what's wrong/how to fix)
BAD_RECIPES = {
    # --- cross-field rules
    "balance-with-windows": _case(
        in_data("  window: {length: 4}\n  balance: oversample\n"), "data.balance", 5, "not on time-series windows"
    ),
    "balance-with-streaming": _case(
        in_data("  streaming: true\n  balance: undersample\n"), "data.balance", 5, "not on streamed data"
    ),
    # --- YAML syntax
    "malformed-flow-mapping": _case(
        "data: {path: d.csv, target: label\nmodel: {type: feedforward}\n", "", 2, "invalid YAML"
    ),
    "malformed-indent": _case(
        "data:\n  path: d.csv\n   target: label\nmodel: {type: feedforward}\n", "", 3, "invalid YAML"
    ),
    "unclosed-quote": _case('data:\n  path: "d.csv\nmodel: {type: feedforward}\n', "", 2, "quoted scalar"),
    "tab-indentation": _case(
        "data:\n\tpath: d.csv\n\ttarget: label\nmodel: {type: feedforward}\n", "", 2, "replace tabs with spaces"
    ),
    "duplicate-top-key": _case(GOOD + "model:\n  type: cnn\n", "model", 9, "duplicate key 'model'"),
    "duplicate-nested-key": _case(
        GOOD.replace("  epochs: 1\n", "  epochs: 1\n  epochs: 2\n"), "train.epochs", 9, "duplicate key 'epochs'"
    ),
    "not-a-mapping": _case("- data\n- model\n", "", 1, "must be a mapping"),
    # --- unknown keys, at every level
    "unknown-top": _case(GOOD + "colour: red\n", "colour", 9, "unknown field 'colour'"),
    "unknown-top-typo": _case(GOOD.replace("train:", "trian:"), "trian", 7, "Did you mean 'train'"),
    "unknown-data": _case(in_data("  pth: x.csv\n"), "data.pth", 4, "Did you mean 'path'"),
    "unknown-split": _case(
        in_data("  split:\n    validaton: 0.1\n"), "data.split.validaton", 5, "Did you mean 'validation'"
    ),
    "unknown-model": _case(GOOD.replace("  units: [4]\n", "  unit: [4]\n"), "model.unit", 6, "Did you mean 'units'"),
    "unknown-train": _case(GOOD.replace("  epochs: 1\n", "  epoch: 1\n"), "train.epoch", 8, "Did you mean 'epochs'"),
    "unknown-early-stopping": _case(
        GOOD + "  early_stopping:\n    patience: 2\n    patiense: 3\n",
        "train.early_stopping.patiense",
        11,
        "Did you mean 'patience'",
    ),
    # --- unknown values, at every level
    "value-top-seed": _case(GOOD + "seed: lucky\n", "seed", 9, "valid integer"),
    "value-data-missing": _case(in_data("  missing: maybe\n"), "data.missing", 4, "'impute' or 'error'"),
    "value-data-task": _case(in_data("  task: clustering\n"), "data.task", 4, "'classification' or 'regression'"),
    "value-split": _case(in_data("  split: {validation: lots}\n"), "data.split.validation", 4, "valid number"),
    "value-model-type": _case(GOOD.replace("feedforward", "feedfoward"), "model.type", 5, "Did you mean 'feedforward'"),
    "value-model-type-number": _case(GOOD.replace("type: feedforward", "type: 3"), "model.type", 5, "model type"),
    "value-model-activation": _case(in_model("  activation: relux\n"), "model.activation", 7, "Did you mean 'relu'"),
    "value-model-normalization": _case(
        in_model("  normalization: group\n"), "model.normalization", 7, "'none', 'batch' or 'layer'"
    ),
    "value-optimizer": _case(GOOD + "  optimizer: adamm\n", "train.optimizer", 9, "Did you mean 'adam'"),
    "value-optimizer-name-list": _case(GOOD + "  optimizer: {name: [adam]}\n", "train.optimizer.name", 9, "as a name"),
    "value-loss": _case(GOOD + "  loss: cross_entropy\n", "train.loss", 9, "is not one of"),
    "value-text-standardize": _case(
        in_data("  text_standardize: keep_punctuaton\n"),
        "data.text_standardize",
        4,
        "should be 'keep_punctuation', 'strip_punctuation', 'lower' or 'none'",
    ),
    "value-loss-name-list": _case(GOOD + "  loss: {name: [mse]}\n", "train.loss.name", 9, "as a name"),
    "value-metric": _case(GOOD + "  metrics: [acuracy]\n", "train.metrics[0]", 9, "Did you mean 'accuracy'"),
    "value-schedule": _case(GOOD + "  schedule: {name: cosinus}\n", "train.schedule.name", 9, "Did you mean 'cosine'"),
    "value-early-stopping-monitor": _case(
        GOOD + "  early_stopping: {monitor: val_acuracy}\n",
        "train.early_stopping.monitor",
        9,
        "Did you mean 'val_accuracy'",
    ),
    "value-early-stopping": _case(
        GOOD + "  early_stopping:\n    restore_best: maybe\n", "train.early_stopping.restore_best", 10, "valid boolean"
    ),
    # --- wrong types
    "type-data-scalar": _case(
        GOOD.replace("data:\n  path: d.csv\n  target: label\n", "data: d.csv\n"), "data", 1, "valid dictionary"
    ),
    "type-train-list": _case(GOOD.replace("train:\n  epochs: 1\n", "train: [1, 2]\n"), "train", 7, "valid dictionary"),
    "type-epochs-text": _case(GOOD.replace("epochs: 1", "epochs: ten"), "train.epochs", 8, "valid integer"),
    "type-batch-float": _case(GOOD + "  batch_size: 1.5\n", "train.batch_size", 9, "fractional part"),
    "type-units-text": _case(GOOD.replace("units: [4]", "units: big"), "model.units", 6, "valid list"),
    "type-features-text": _case(in_data("  features: x1\n"), "data.features", 4, "valid list"),
    "type-metrics-text": _case(GOOD + "  metrics: accuracy\n", "train.metrics", 9, "valid list"),
    "type-shape-text": _case(in_data("  shape: square\n"), "data.shape", 4, "valid list"),
    # --- zero or negative sizes, epochs, rates
    "zero-epochs": _case(GOOD.replace("epochs: 1", "epochs: 0"), "train.epochs", 8, "greater than 0"),
    "negative-epochs": _case(GOOD.replace("epochs: 1", "epochs: -3"), "train.epochs", 8, "greater than 0"),
    "zero-batch-size": _case(GOOD + "  batch_size: 0\n", "train.batch_size", 9, "greater than 0"),
    "negative-batch-size": _case(GOOD + "  batch_size: -32\n", "train.batch_size", 9, "greater than 0"),
    "zero-units": _case(GOOD.replace("units: [4]", "units: [4, 0]"), "model.units[1]", 6, "greater than 0"),
    "negative-units": _case(GOOD.replace("units: [4]", "units: [-4]"), "model.units[0]", 6, "greater than 0"),
    "zero-shape": _case(in_data("  shape: [2, 0]\n"), "data.shape[1]", 4, "greater than 0"),
    "negative-learning-rate": _case(
        GOOD + "  optimizer: {name: adam, learning_rate: -1}\n",
        "train.optimizer.learning_rate",
        9,
        "must be a positive number",
    ),
    "zero-learning-rate": _case(
        GOOD + "  optimizer:\n    name: sgd\n    learning_rate: 0\n",
        "train.optimizer.learning_rate",
        11,
        "must be a positive number",
    ),
    "text-learning-rate": _case(
        GOOD + "  optimizer:\n    name: sgd\n    learning_rate: fast\n",
        "train.optimizer.learning_rate",
        11,
        "must be a positive number",
    ),
    "negative-dropout": _case(in_model("  dropout: -0.1\n"), "model.dropout", 7, "greater than or equal to 0"),
    "dropout-one": _case(in_model("  dropout: 1.0\n"), "model.dropout", 7, "less than 1"),
    "negative-l2": _case(in_model("  l2: -0.01\n"), "model.l2", 7, "greater than or equal to 0"),
    "zero-patience": _case(
        GOOD + "  early_stopping: {patience: 0}\n", "train.early_stopping.patience", 9, "greater than 0"
    ),
    "negative-seed": _case(GOOD + "seed: -1\n", "seed", 9, "greater than or equal to 0"),
    "label-smoothing-one": _case(GOOD + "  label_smoothing: 1\n", "train.label_smoothing", 9, "less than 1"),
    # --- split fractions that leave no training data
    "split-sums-to-one": _case(
        in_data("  split: {validation: 0.5, test: 0.5}\n"), "data.split", 4, "leaves no training data"
    ),
    "split-almost-all": _case(
        in_data("  split:\n    validation: 0.9\n    test: 0.09\n"), "data.split", 4, "leaves no training data"
    ),
    "split-negative": _case(in_data("  split: {test: -0.1}\n"), "data.split.test", 4, "greater than or equal to 0"),
    "split-whole": _case(in_data("  split: {validation: 1.0}\n"), "data.split.validation", 4, "less than 1"),
    # --- missing and cross-field
    "missing-model": _case("data:\n  path: d.csv\n  target: label\n", "model", 1, "add `model: {type: feedforward}`"),
    "missing-model-type": _case(GOOD.replace("  type: feedforward\n", ""), "model", 4, "`model.type` is missing"),
    "missing-data-path": _case(GOOD.replace("  path: d.csv\n", ""), "data.path", 1, "required field is missing"),
    "missing-target": _case(GOOD.replace("  target: label\n", ""), "data", 1, "`data.target` is required"),
    "target-is-feature": _case(in_data("  features: [x1, label]\n"), "data.features", 4, "also listed as a feature"),
    "regression-with-accuracy": _case(
        in_data("  task: regression\n") + "  metrics: [accuracy]\n", "train.metrics[0]", 10, "classification metric"
    ),
    # --- the data audit's fields
    "columns-unknown-role": _case(in_data("  columns: {x1: dro}\n"), "data.columns.x1", 4, "'identifier'"),
    "columns-not-a-mapping": _case(in_data("  columns: [x1]\n"), "data.columns", 4, "dictionary"),
    "encoding-unknown": _case(in_data("  encoding: klingon\n"), "data.encoding", 4, "unknown text encoding"),
    "audit-not-a-switch": _case(in_data("  audit: maybe\n"), "data.audit", 4, "valid boolean"),
    # --- the tabular fields of feedforward and data.scaling
    "numeric-embedding-unknown": _case(
        in_model("  numeric_embedding: splines\n"), "model.numeric_embedding", 7, "'piecewise_linear'"
    ),
    "ensemble-zero": _case(in_model("  ensemble: 0\n"), "model.ensemble", 7, "greater than or equal to 1"),
    "ensemble-word": _case(
        in_model("  ensemble: many\n"),
        "model.ensemble",
        7,
        "valid integer, unable to parse string as an integer (or 'auto')",
    ),
    "bins-one": _case(in_model("  bins: 1\n"), "model.bins", 7, "greater than or equal to 2"),
    "scaling-unknown": _case(in_data("  scaling: minmax\n"), "data.scaling", 4, "'robust'"),
    "log-skewed-word": _case(
        in_data("  log_skewed: some\n"), "data.log_skewed", 4, "valid boolean, unable to interpret input (or 'auto')"
    ),
    "missing-indicators-word": _case(
        in_data("  missing_indicators: some\n"), "data.missing_indicators", 4, "valid boolean"
    ),
    # --- extends
    "extends-missing-parent": _case("extends: nowhere.yaml\n" + GOOD, "extends", 1, "parent recipe not found"),
    "extends-not-a-path": _case("extends: [a.yaml]\n" + GOOD, "extends", 1, "expected a file path"),
    "extends-itself": _case("extends: recipe.yaml\n" + GOOD, "extends", 1, "forms a cycle"),
    # --- unusable data paths
    "data-path-nul": _case(GOOD.replace("path: d.csv", 'path: "d\\0.csv"'), "data.path", 2, "not a usable file path"),
    "data-path-empty": _case(GOOD.replace("path: d.csv", 'path: ""'), "data.path", 2, "not a usable file path"),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "d.csv").write_text(CSV)
    return tmp_path


def _assert_clean_error(result, *, field: str, line: int | None, says: str, file: str | None = None) -> None:
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out and "Unexpected error" not in out, out
    if field:
        assert f"field '{field}'" in out, out
    if line is not None:
        assert re.search(rf"\bline {line}\b", out), out
    if file:
        assert file in out, out
    assert says in out, out


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("", ("periodic", 16, "auto")),
        ("  numeric_embedding: piecewise_linear\n  ensemble: 1\n", ("piecewise_linear", 16, 1)),
        ("  numeric_embedding: none\n  bins: 32\n  ensemble: 8\n", ("none", 32, 8)),
    ],
)
def test_feedforward_tabular_fields(folder: Path, lines: str, expected: tuple) -> None:
    recipe = folder / "recipe.yaml"
    recipe.write_text(in_model(lines))
    model = load_recipe(recipe).recipe.model
    assert (model.numeric_embedding, model.bins, model.ensemble) == expected


def test_good_recipe_validates(runner, folder: Path) -> None:
    (folder / "recipe.yaml").write_text(GOOD)
    result = runner.invoke(cli, ["validate", str(folder / "recipe.yaml")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("case", list(BAD_RECIPES), ids=list(BAD_RECIPES))
def test_bad_recipe(runner, folder: Path, case: str) -> None:
    text, field, line, says = BAD_RECIPES[case]
    recipe = folder / "recipe.yaml"
    recipe.write_text(text)
    out = folder / "runs"
    for args in (["validate", str(recipe)], ["train", str(recipe), "--out", str(out)]):
        result = runner.invoke(cli, args)
        _assert_clean_error(result, field=field, line=line, says=says, file="recipe.yaml")
    assert not out.exists(), "a failed recipe must not leave a run directory"
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    assert (info.value.field or "") == field
    assert info.value.line == line


def test_extends_cycle_between_two_files(runner, folder: Path) -> None:
    (folder / "a.yaml").write_text("extends: b.yaml\n" + GOOD)
    (folder / "b.yaml").write_text("seed: 1\nextends: a.yaml\n")
    result = runner.invoke(cli, ["validate", str(folder / "a.yaml")])
    _assert_clean_error(result, field="extends", line=2, says="a.yaml -> b.yaml -> a.yaml", file="b.yaml")


def test_error_in_parent_names_the_parent_file(runner, folder: Path) -> None:
    (folder / "base.yaml").write_text(GOOD.replace("epochs: 1", "epochs: 0"))
    (folder / "child.yaml").write_text("extends: base.yaml\nseed: 3\n")
    result = runner.invoke(cli, ["validate", str(folder / "child.yaml")])
    _assert_clean_error(result, field="train.epochs", line=8, says="greater than 0", file="base.yaml")


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("train.epochs=0", "greater than 0"),
        ("train.epochs", "FIELD=VALUE"),
        ("train.epochs=[", "not valid YAML"),
        ("model.units.deep=3", "not a section"),
        ("train.optimizer={name: adam, learning_rate: -1}", "must be a positive number"),
        ("data.splitt.test=0.1", "Did you mean 'split'"),
    ],
)
def test_bad_override(runner, folder: Path, override: str, says: str) -> None:
    (folder / "recipe.yaml").write_text(GOOD)
    out = folder / "runs"
    result = runner.invoke(cli, ["train", str(folder / "recipe.yaml"), "--set", override, "--out", str(out)])
    _assert_clean_error(result, field="", line=None, says=says)
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "the recipe is empty"),
        (b"# only a comment\n", "the recipe is empty"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"just a sentence", "must be a mapping"),
    ],
)
def test_unusable_recipe_file(runner, folder: Path, content: bytes, says: str) -> None:
    (folder / "recipe.yaml").write_bytes(content)
    result = runner.invoke(cli, ["validate", str(folder / "recipe.yaml")])
    _assert_clean_error(result, field="", line=None, says=says)


def test_missing_recipe_file(runner, folder: Path) -> None:
    result = runner.invoke(cli, ["train", str(folder / "nope.yaml"), "--out", str(folder / "runs")])
    _assert_clean_error(result, field="", line=None, says="recipe file not found")
    assert not (folder / "runs").exists()


# ----------------------------------------------------------------------------- property: random documents
FIELD_NAMES = [
    "data",
    "model",
    "train",
    "name",
    "seed",
    "extends",
    "path",
    "target",
    "features",
    "task",
    "split",
    "validation",
    "test",
    "shape",
    "text",
    "window",
    "length",
    "missing",
    "type",
    "units",
    "dropout",
    "activation",
    "loss",
    "optimizer",
    "learning_rate",
    "epochs",
    "batch_size",
    "metrics",
    "early_stopping",
    "patience",
    "schedule",
    "python",
    "layers",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["feedforward", "adam", "d.csv", "label", "relu", "mse", "cosine", "~x", "a.yaml"]),
)
KEYS = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8), st.integers(-3, 3), st.none(), st.booleans())
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=25,
)
RECIPE_LIKE = st.fixed_dictionaries(
    {
        "data": st.one_of(
            DOCUMENTS,
            st.fixed_dictionaries(
                {"path": st.just("d.csv"), "target": st.just("label")},
                optional={"split": DOCUMENTS, "missing": DOCUMENTS},
            ),
        ),
        "model": st.one_of(
            DOCUMENTS,
            st.fixed_dictionaries(
                {"type": st.sampled_from(["feedforward", "cnn", "gan", "x"])},
                optional={"units": DOCUMENTS, "dropout": DOCUMENTS},
            ),
        ),
    },
    optional={
        "train": st.dictionaries(st.sampled_from(FIELD_NAMES), DOCUMENTS, max_size=4),
        "seed": DOCUMENTS,
        "extends": DOCUMENTS,
        "name": DOCUMENTS,
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(document=st.one_of(DOCUMENTS, RECIPE_LIKE))
def test_random_documents_never_crash(runner, folder: Path, document: object) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    (folder / "recipe.yaml").write_text(text, encoding="utf-8")
    result = runner.invoke(cli, ["validate", str(folder / "recipe.yaml")])
    assert result.exit_code in (0, 2), f"{text!r}\n{result.output}"
    assert "Traceback" not in result.output and "Unexpected error" not in result.output, f"{text!r}\n{result.output}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("abd:{}[]-#&*!|>'\" \n\t,.0123456789?%@`")), max_size=80))
def test_random_yaml_text_never_crashes(runner, folder: Path, text: str) -> None:
    (folder / "recipe.yaml").write_text(text, encoding="utf-8")
    result = runner.invoke(cli, ["validate", str(folder / "recipe.yaml")])
    assert result.exit_code in (0, 2), f"{text!r}\n{result.output}"
    assert "Unexpected error" not in result.output, f"{text!r}\n{result.output}"


def test_a_misspelt_column_in_data_columns_suggests_the_name(runner, folder: Path) -> None:
    recipe = folder / "recipe.yaml"
    recipe.write_text(in_data("  columns: {x_1: drop}\n"))
    for args in (["validate", str(recipe)], ["train", str(recipe), "--out", str(folder / "runs")]):
        result = runner.invoke(cli, args)
        _assert_clean_error(result, field="data.columns.x_1", line=4, says="did you mean 'x1'")


@pytest.mark.parametrize("value", ["off", "false", "no"])
def test_data_audit_off(folder: Path, value: str) -> None:
    recipe = folder / "recipe.yaml"
    recipe.write_text(in_data(f"  audit: {value}\n  columns: {{x2: categorical}}\n"))
    data = load_recipe(recipe).recipe.data
    assert data.audit is False and data.columns == {"x2": "categorical"}


# ----------------------------------------------------------------------------- hostile recipes
@pytest.mark.parametrize(
    "name",
    [
        "../../escape",
        "/abs/dir",
        "..",
        ".",
        "a/b",
        "a\\b",
        "",
        " lead",
        "x" * 101,
        "tab\there",
        "\x1b]0;t\x07",
        "-dash",
    ],
)
@pytest.mark.parametrize("where", ["recipe", "--set"])
def test_a_run_name_is_one_safe_folder_name(runner, folder: Path, name: str, where: str) -> None:
    """A name that is not one path component would put runs outside --out: exit 2, nothing written."""
    out = folder / "deep" / "runs"
    text = GOOD + (
        "name: " + yaml.safe_dump(name).strip().removesuffix("...").strip() + "\n" if where == "recipe" else ""
    )
    (folder / "recipe.yaml").write_text(text)
    extra = ["--set", f"name={yaml.safe_dump(name).strip().removesuffix('...').strip()}"] if where == "--set" else []
    result = runner.invoke(cli, ["train", str(folder / "recipe.yaml"), "--out", str(out), *extra])
    _assert_clean_error(result, field="name", line=None, says="a run name is one folder name")
    assert "\x1b" not in result.output
    assert not out.exists() and sorted(p.name for p in folder.iterdir()) == ["d.csv", "recipe.yaml"]


@pytest.mark.parametrize("name", ["iris-mlp", "run_2", "v1.2", "Ünïcode-run", "a" * 100])
def test_safe_run_names_are_kept(folder: Path, name: str) -> None:
    (folder / "recipe.yaml").write_text(GOOD + f"name: {name}\n")
    assert load_recipe(folder / "recipe.yaml").recipe.name == name


def test_a_recipe_file_name_that_is_no_run_name_asks_for_name(folder: Path) -> None:
    (folder / "..yaml").write_text(GOOD)
    with pytest.raises(RecipeError, match="cannot name its runs"):
        load_recipe(folder / "..yaml")


@pytest.mark.parametrize(
    ("parent", "says"),
    [
        ("/etc", "is a folder, not a recipe file"),
        ("/etc/shadow", "is not a recipe: `extends` names a .yaml or .yml file"),
        ("/etc/passwd", "is not a recipe: `extends` names a .yaml or .yml file"),
        ("/proc/self/environ", "is not a recipe: `extends` names a .yaml or .yml file"),
        ("fifo.yaml", "is not a regular file (a FIFO, socket or device)"),
        ("/dev/zero", "is not a regular file"),
        ("missing.yaml", "parent recipe not found"),
    ],
)
def test_extends_reads_only_recipes(runner, folder: Path, parent: str, says: str) -> None:
    """`extends` never shows another file's contents, never hangs on a FIFO or a device."""
    import os

    os.mkfifo(folder / "fifo.yaml")
    (folder / "recipe.yaml").write_text(f"extends: {parent}\n" + GOOD)
    result = runner.invoke(cli, ["validate", str(folder / "recipe.yaml")])
    _assert_clean_error(result, field="extends", line=1, says=says)
    assert "root:" not in result.output and "PATH=" not in result.output


def test_a_fifo_recipe_is_refused_without_waiting(runner, folder: Path) -> None:
    import os

    os.mkfifo(folder / "pipe.yaml")
    result = runner.invoke(cli, ["validate", str(folder / "pipe.yaml")])
    _assert_clean_error(result, field="", line=None, says="not a regular file")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("model.units.0=3", "model.units.0"),
        ("model.dropout.rate=0.1", "model.dropout"),  # a section the option made: its error is the option's
        ("data.target.x=1", "data.target.x"),
        ("train.epochs=[", "train.epochs"),
        ("train.epochs", None),
    ],
)
def test_set_errors_name_the_option_not_a_recipe_line(runner, folder: Path, override: str, field: str | None) -> None:
    (folder / "recipe.yaml").write_text(GOOD)
    result = runner.invoke(cli, ["validate", str(folder / "recipe.yaml"), "--set", override])
    _assert_clean_error(result, field=field or "", line=None, says=f"in --set {override}")
    assert "line " not in result.output.split("\n")[0]


@pytest.mark.parametrize(
    ("override", "shown"),
    [
        ("data.target=\x1b]0;pwned\x07\x1b[2J", "\\x1b]0;pwned\\x07\\x1b[2J"),
        ("data.target=" + "y" * 1_000_000, "more characters"),
    ],
    ids=["escape-sequences", "1MB"],
)
def test_bad_values_are_escaped_and_shortened_in_messages(runner, folder: Path, override: str, shown: str) -> None:
    (folder / "recipe.yaml").write_text(GOOD)
    result = runner.invoke(cli, ["validate", str(folder / "recipe.yaml"), "--set", override])
    assert result.exit_code == 2, result.output[:2000]
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert shown in result.output and len(result.output) < 12_000


def _wide_file(folder: Path, columns: int, name: str = "x") -> None:
    """wide.csv: `columns` feature columns (`name` + a number) and a label, one row."""
    names = ",".join(f"{name}{i}" for i in range(columns)) + ",label"
    (folder / "wide.csv").write_text(names + "\n" + "1," * columns + "1\n")


def test_a_header_of_200001_columns_is_read_whole(runner, folder: Path) -> None:
    """The header reader alone (the audit is off: profiling 200,000 columns takes minutes; the next test audits a
    header longer than the delimiter sniff)."""
    _wide_file(folder, 200_000)
    recipe = GOOD.replace("d.csv", "wide.csv").replace("  target: label\n", "  target: label\n  audit: off\n")
    (folder / "recipe.yaml").write_text(recipe)
    result = runner.invoke(cli, ["validate", str(folder / "recipe.yaml")])
    assert result.exit_code == 0 and "200001 columns" in result.output, result.output[-500:]
    (folder / "recipe.yaml").write_text(recipe.replace("target: label", "target: nope"))
    result = runner.invoke(cli, ["validate", str(folder / "recipe.yaml")])
    _assert_clean_error(result, field="data.target", line=None, says="the column 'nope' is not in wide.csv")


def test_the_audit_reads_a_header_longer_than_the_delimiter_sniff(runner, folder: Path) -> None:
    """1,001 columns of 70-character names: a header longer than the 64 KB the delimiter is sniffed from, read and
    audited whole (the label is the last column)."""
    _wide_file(folder, 1_000, name="a_long_feature_name_" + "w" * 45 + "_")
    assert (folder / "wide.csv").stat().st_size > 64 << 10
    (folder / "recipe.yaml").write_text(GOOD.replace("d.csv", "wide.csv"))
    result = runner.invoke(cli, ["validate", str(folder / "recipe.yaml")])
    assert result.exit_code == 0 and "1001 columns" in result.output, result.output[-500:]
    assert "… and 980 more" in result.output, result.output[-800:]
    assert "warning [constant]: 995 more columns like these" in result.output, result.output[-800:]


def test_a_fifo_data_file_is_not_called_empty(runner, folder: Path) -> None:
    import os

    os.mkfifo(folder / "pipe.csv")
    (folder / "recipe.yaml").write_text(GOOD.replace("d.csv", "pipe.csv"))
    result = runner.invoke(cli, ["validate", str(folder / "recipe.yaml")])
    _assert_clean_error(result, field="data.path", line=None, says="not a regular file (a FIFO, socket or device)")
    assert "empty" not in result.output


def test_a_training_cell_of_400_digits_is_a_data_error(runner, folder: Path) -> None:
    rows = ["x1,x2,label"] + [f"{i},{i % 7},{'ab'[i % 2]}" for i in range(40)]
    rows[5] = "1" + "0" * 400 + ",3,a"
    (folder / "big.csv").write_text("\n".join(rows) + "\n")
    (folder / "recipe.yaml").write_text(GOOD.replace("d.csv", "big.csv"))
    result = runner.invoke(cli, ["train", str(folder / "recipe.yaml"), "--out", str(folder / "runs")])
    _assert_clean_error(result, field="data.path", line=None, says="holds a number of more than 300 digits at row 4")


@pytest.mark.parametrize(
    ("saved", "read"), [("my run", "my-run"), ("../x", "x"), ("\x1b[2J", "2J"), ("...", "run"), ("ok-name", "ok-name")]
)
def test_a_saved_recipe_with_an_old_style_name_still_loads(saved: str, read: str) -> None:
    """Runs saved before names were checked stay readable; their name is only shown, never a path."""
    from kproto.recipe.loader import recipe_from_dict

    raw = yaml.safe_load(GOOD)
    raw["data"]["path"] = "/data/d.csv"
    assert recipe_from_dict({**raw, "name": saved}).name == read


def test_the_saved_recipe_names_inputs_and_combine_only_when_set() -> None:
    from kproto.recipe.loader import dump_recipe
    from kproto.recipe.schema import Recipe

    plain = Recipe.model_validate({"data": {"path": "x.csv", "target": "y"}, "model": {"type": "lstm"}})
    assert "combine" not in dump_recipe(plain) and "inputs" not in dump_recipe(plain)
    several = Recipe.model_validate(
        {"data": {"path": "x.csv", "target": "y"}, "model": {"type": "lstm", "combine": "gated"}}
    )
    assert "combine: gated" in dump_recipe(several)


def test_a_saved_recipe_from_before_text_standardize_keeps_the_keras_rule(folder: Path) -> None:
    """A run's recipe names every field; one without data.text_standardize was trained with Keras's rule, and reading
    it back (load_run, `kproto train --resume`) says so. A new recipe gets today's default."""
    from kproto.recipe.loader import dump_recipe, recipe_from_dict

    raw = yaml.safe_load(GOOD.replace("  target: label\n", "  target: label\n  text: review\n"))
    assert load_recipe_text(folder, yaml.safe_dump(raw)).data.text_standardize == "keep_punctuation"
    assert recipe_from_dict(raw).data.text_standardize == "strip_punctuation"
    assert "text_standardize" not in raw["data"]  # the caller's mapping is left alone
    (folder / "saved.yaml").write_text(yaml.safe_dump(raw))
    assert load_recipe(folder / "saved.yaml", saved=True).recipe.data.text_standardize == "strip_punctuation"
    today = recipe_from_dict(yaml.safe_load(dump_recipe(load_recipe_text(folder, yaml.safe_dump(raw)))))
    assert today.data.text_standardize == "keep_punctuation"  # a run saved today reads back as it was trained


def load_recipe_text(folder: Path, text: str):
    """The recipe of `text`, written to a file in `folder` and loaded as a user's recipe."""
    (folder / "recipe.yaml").write_text(text)
    return load_recipe(folder / "recipe.yaml").recipe
