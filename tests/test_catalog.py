"""kproto.core.catalog: one test per registry entry checks its traits, and every reader of a metric's direction agrees."""

from __future__ import annotations

import importlib
import inspect
import typing
from pathlib import Path

import pytest

from kproto.core import catalog
from kproto.core.errors import RecipeError

DATA = Path(__file__).resolve().parent.parent / "data"
INPUT_KINDS = {"table", "image", "image_folder", "text", "window", "pairs", "interactions"}


# ----------------------------------------------------------------------------- families
@pytest.mark.parametrize("name", list(catalog.FAMILIES))
def test_family_module_defines_its_spec_and_build(name: str) -> None:
    entry = catalog.FAMILIES[name]
    assert entry.name == name
    module = importlib.import_module(entry.module)
    spec = catalog.family_spec(entry)
    assert spec is getattr(module, entry.spec)
    assert typing.get_args(spec.model_fields["type"].annotation) == (name,), "the spec's type: Literal[name]"
    assert spec.model_config.get("extra") == "forbid", "unknown keys in model: are refused"
    assert callable(module.build)
    assert list(inspect.signature(module.build).parameters)[:2] == ["spec", "info"]


@pytest.mark.parametrize("name", list(catalog.FAMILIES))
def test_family_traits_are_consistent(name: str) -> None:
    entry = catalog.FAMILIES[name]
    assert entry.description.endswith(".") and len(entry.description) < 120
    assert entry.inputs and set(entry.inputs) <= INPUT_KINDS
    assert entry.backend in catalog.BACKENDS and entry.backend != "auto"
    assert (DATA / entry.example_data).is_file()
    for module in entry.custom_objects:
        importlib.import_module(module)
        assert module in catalog.custom_object_modules()
    assert entry.generative is (not entry.needs_target)
    if not entry.needs_target:
        assert entry.task in ("reconstruction", "generation"), "a family without a target fixes its task"
    if entry.engine is not None:  # an engine of its own: never fused, and it says what it cannot do
        assert not entry.fused
        assert entry.engine not in catalog.ENGINES
        importlib.import_module(f"kproto.training.engines.{entry.engine}")


def test_family_lookup_names_the_choices() -> None:
    assert catalog.family("cnn") is catalog.FAMILIES["cnn"]
    with pytest.raises(RecipeError) as err:
        catalog.family("cnnn")
    assert err.value.field == "model.type"
    assert "cnn" in err.value.message and "feedforward" in err.value.message


def test_custom_object_modules_are_listed_once_and_import() -> None:
    modules = catalog.custom_object_modules()
    assert len(modules) == len(set(modules))
    assert set(catalog.CUSTOM_OBJECT_MODULES) <= set(modules)
    for module in modules:
        importlib.import_module(module)


# ----------------------------------------------------------------------------- metrics
@pytest.mark.parametrize("name", list(catalog.METRICS))
def test_metric_entry_has_a_direction_and_keras_builds_it(name: str) -> None:
    import keras

    entry = catalog.METRICS[name]
    assert entry.name == name
    assert entry.direction in ("min", "max")
    assert entry.task in ("classification", "regression", "seq2seq")
    assert catalog.metric_direction(name) == entry.direction
    assert catalog.metric_direction(f"val_{name}") == entry.direction
    from kproto.training.compile import metric_class

    for class_name in filter(None, (entry.keras_class, entry.sparse_class)):
        cls = metric_class(class_name)
        assert issubclass(cls, keras.metrics.Metric), class_name
        options = dict(entry.options)
        if "TopK" in class_name:
            options["k"] = 2
        assert cls(name=name, **options).name == name
    assert (name in catalog.CLASSIFICATION_METRICS) is (entry.task == "classification")
    assert (name in catalog.REGRESSION_METRICS) is (entry.task == "regression")
    assert (name in catalog.ONE_HOT_METRICS) is entry.one_hot


def test_no_name_is_both_higher_and_lower_is_better() -> None:
    assert not catalog.HIGHER_IS_BETTER & catalog.LOWER_IS_BETTER


# Written out independently of the catalog: which way is better for values kproto or Keras log.
DIRECTIONS = {
    "loss": "min",
    "val_loss": "min",
    "g_loss": "min",
    "d_loss": "min",
    "val_accuracy": "max",
    "test_accuracy": "max",
    "val_auc": "max",
    "val_f1": "max",
    "val_r2": "max",
    "val_mae": "min",
    "val_rmse": "min",
    "val_mape": "min",
    "val_poisson": "min",
    "val_cosine_similarity": "max",
    "val_log_cosh": "min",
    "val_kl": "min",
    "val_kl_divergence": "min",
    "val_msle": "min",
    "val_mean_iou": "max",
    "val_prc": "max",
    "val_precision_at_recall": "max",
    "val_false_positives": "min",
    "train_huber": "min",
    "validation_sparse_categorical_accuracy": "max",
    "val_token_error_rate": "min",
    "val_bleu": "max",
}


@pytest.mark.parametrize(("monitor", "direction"), DIRECTIONS.items(), ids=list(DIRECTIONS))
def test_metric_direction_of_logged_values(monitor: str, direction: str) -> None:
    assert catalog.metric_direction(monitor) == direction
    assert catalog.lower_is_better(monitor) is (direction == "min")


def every_monitor() -> list[str]:
    """Every name kproto accepts as a metric or may log, bare and with each split's prefix."""
    names = {"loss", *catalog.METRICS, *catalog.HIGHER_IS_BETTER, *catalog.LOWER_IS_BETTER}
    names |= {name for name in catalog.LOSSES if name != "auto"}
    return sorted({f"{prefix}{name}" for name in names for prefix in ("", *catalog.SPLIT_PREFIXES)} | set(DIRECTIONS))


MONITORS = every_monitor()


@pytest.mark.parametrize("monitor", MONITORS)
def test_early_stopping_and_ranking_agree(monitor: str, tmp_path: Path) -> None:
    """Early stopping (improved), the best epoch of a sweep trial, sweep ranking, Optuna and `kproto runs --sort`
    all read one direction for `monitor`."""
    from kproto.commands.sweep import Trial, monitor_value, optuna_direction, ranked
    from kproto.runs.index import RunRecord, parse_metric, sort_runs
    from kproto.training.controls import improved

    direction = catalog.metric_direction(monitor)
    assert direction in ("min", "max")
    lower = direction == "min"
    assert catalog.lower_is_better(monitor) is lower
    better, worse = (1.0, 2.0) if lower else (2.0, 1.0)
    # early stopping and the best epoch
    assert improved(monitor, better, worse) and not improved(monitor, worse, better)
    assert improved(monitor, worse, None)
    # a sweep: its trials' ranking, the value read from a trial's history, Optuna's study direction
    trials = [Trial(0, {}, {}, value=worse), Trial(1, {}, {}, value=better), Trial(2, {}, {})]
    assert [t.number for t in ranked(trials, monitor)] == [1, 0, 2]
    history = [{monitor: worse}, {monitor: better}, {monitor: worse}]
    assert monitor_value({}, history, monitor) == better
    assert optuna_direction(monitor) == ("minimize" if lower else "maximize")
    # kproto runs --sort
    split, name = parse_metric(monitor)
    records = [
        RunRecord(tmp_path / run, run, "s", status="completed", metrics={split: {name: value}})
        for run, value in (("worse", worse), ("better", better))
    ]
    assert [r.name for r in sort_runs(records, monitor)][0] == "better"


def test_sweep_on_val_poisson_ranks_lower_first() -> None:
    from kproto.commands.sweep import Trial, ranked

    trials = [Trial(i, {}, {}, value=v) for i, v in enumerate([0.9, 0.2, 0.5])]
    assert [t.value for t in ranked(trials, "val_poisson")] == [0.2, 0.5, 0.9]


# ----------------------------------------------------------------------------- the other tables
def test_name_tables_describe_every_entry() -> None:
    for table in (
        catalog.LOSSES,
        catalog.OPTIMIZERS,
        catalog.SCHEDULES,
        catalog.ACTIVATIONS,
        catalog.AUGMENTATIONS,
        catalog.ENGINES,
    ):
        assert table and all(name == name.lower() and text.strip() for name, text in table.items())
    assert "auto" in catalog.ENGINES and "auto" in catalog.LOSSES and "auto" in catalog.BACKENDS


@pytest.mark.parametrize("name", list(catalog.SCHEDULES))
def test_every_schedule_builds(name: str) -> None:
    from types import SimpleNamespace

    from kproto.training.schedules import build_schedule

    spec = SimpleNamespace(name=name, model_extra={}, warmup_epochs=0)
    schedule = build_schedule(spec, 0.01, steps_per_epoch=4, epochs=3)
    rate = schedule(0) if callable(schedule) else schedule
    assert float(rate) > 0


@pytest.mark.parametrize("mode", list(catalog.DISTRIBUTE))
def test_distribute_mode_runs_on_its_backend_only(mode: str) -> None:
    from kproto.recipe.schema import Train
    from kproto.training.distribute import check_combination

    assert Train(distribute=mode).distribute == mode
    needed = catalog.DISTRIBUTE[mode]
    assert needed is None or needed in catalog.BACKENDS
    for backend in ("tensorflow", "jax", "torch"):
        if needed is None or backend == needed:
            check_combination(mode, backend)
        else:
            with pytest.raises(RecipeError, match=f"needs the {needed} backend") as err:
                check_combination(mode, backend)
            assert err.value.field == "train.distribute"
    for family in catalog.FAMILIES.values():
        if mode != "none" and not family.distribute:
            with pytest.raises(RecipeError) as err:
                check_combination(mode, needed, family=family.name)
            assert err.value.field == "train.distribute"


@pytest.mark.parametrize(
    ("alias", "names"),
    [
        (catalog.Task, catalog.TASKS),
        (catalog.InputKind, catalog.INPUT_KINDS),
        (catalog.Split, catalog.SPLITS),
        (catalog.Status, catalog.STATUSES),
        (catalog.Backend, catalog.KERAS_BACKENDS),
    ],
)
def test_each_vocabulary_is_its_literal_alias(alias: object, names: tuple[str, ...]) -> None:
    assert typing.get_args(alias) == names and len(set(names)) == len(names)


def test_vocabulary_groups_and_traits_use_the_names() -> None:
    assert set(catalog.SUPERVISED_TASKS) <= set(catalog.TASKS)
    assert set(catalog.IMAGE_KINDS) <= set(catalog.INPUT_KINDS)
    assert set(catalog.STATUS_COLOURS) == set(catalog.STATUSES)
    assert catalog.BACKENDS == ("auto", *catalog.KERAS_BACKENDS)
    assert catalog.SPLITS == ("train", "validation", "test")
    for entry in catalog.FAMILIES.values():
        assert set(entry.inputs) <= set(catalog.INPUT_KINDS), entry.name
        assert entry.task is None or entry.task in catalog.TASKS
    assert catalog.supervised("regression") and not catalog.supervised("generation")
    assert catalog.is_image("image_folder") and not catalog.is_image("table")


@pytest.mark.parametrize(("recorded", "read"), [("tabular", "table"), ("table", "table"), ("image", "image")])
def test_older_kind_names_read_as_todays(recorded: str, read: str) -> None:
    from kproto.data.preprocess import Preprocessor
    from kproto.data.types import DataInfo

    assert catalog.input_kind(recorded) == read
    assert DataInfo.from_dict({"task": "regression", "kind": recorded, "input_shape": [3]}).kind == read
    assert Preprocessor.from_dict({"kind": recorded, "features": []}).kind == read
