"""kproto.commands.sweep: grid parsing, sampling, ranking and Optuna's direction from the catalog; `kproto sweep` end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kproto.cli import cli
from kproto.commands import sweep
from kproto.core import catalog
from kproto.core.errors import RecipeError
from kproto.runs import layout

TF = ["--backend", "tensorflow"]
RECIPE = """\
name: tiny
seed: 7
data:
  path: tiny.csv
  target: label
model:
  type: feedforward
  units: [8]
  dropout: 0.0
train:
  optimizer: {name: adam, learning_rate: 0.001}
  epochs: 2
  batch_size: 16
"""


def _invoke(args: list[object]) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny binary-classification data file and a recipe for it (nothing trained)."""
    folder = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(3)
    n = 120
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    label = np.where(x1 + 0.5 * x2 > 0, "yes", "no")
    pd.DataFrame({"x1": x1, "x2": x2, "label": label}).to_csv(folder / "tiny.csv", index=False)
    recipe = folder / "tiny.yaml"
    recipe.write_text(RECIPE)
    return {"folder": folder, "recipe": recipe}


# ----------------------------------------------------------------------------- grid parsing
@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("0.001,0.01", ["0.001", "0.01"]),
        ("[64,32],[128]", ["[64,32]", "[128]"]),
        ("{name: sgd, momentum: 0.9},adam", ["{name: sgd, momentum: 0.9}", "adam"]),
        ("'a,b',c", ["'a,b'", "c"]),
        (" 1 , 2 ", ["1", "2"]),
        ("relu", ["relu"]),
    ],
)
def test_split_values_keeps_brackets_and_quotes_whole(text: str, parts: list[str]) -> None:
    assert sweep.split_values(text) == parts


def test_parse_grid_reads_yaml_values() -> None:
    axes = sweep.parse_grid(["train.optimizer.learning_rate=0.001,0.01", "model.units=[64,32],[128]"])
    assert [a.key for a in axes] == ["train.optimizer.learning_rate", "model.units"]
    assert axes[0].values == [0.001, 0.01] and axes[0].texts == ["0.001", "0.01"]
    assert axes[1].values == [[64, 32], [128]]


@pytest.mark.parametrize(
    ("items", "words"),
    [
        (["model.units"], "FIELD=V1,V2"),
        (["=1,2"], "FIELD=V1,V2"),
        (["model.units="], "FIELD=V1,V2"),
        (["model.units=[1"], "not valid YAML"),
        (["model.units=[1]", "model.units=[2]"], "given twice"),
        ([], "at least one"),
    ],
)
def test_parse_grid_refuses_malformed_options(items: list[str], words: str) -> None:
    with pytest.raises(RecipeError, match=words) as info:
        sweep.parse_grid(items)
    assert info.value.field == "--grid"


def test_combinations_and_seeded_sample() -> None:
    axes = sweep.parse_grid(["a=1,2,3", "b=x,y"])
    combos = sweep.combinations(axes)
    assert len(combos) == 6 and combos[0] == {"a": 0, "b": 0} and combos[-1] == {"a": 2, "b": 1}
    picked = sweep.sample(combos, 3, seed=5)
    assert picked == sweep.sample(combos, 3, seed=5) and len(picked) == 3
    assert all(p in combos for p in picked) and len({tuple(p.values()) for p in picked}) == 3
    assert sweep.sample(combos, 10, seed=5) == combos


# ----------------------------------------------------------------------------- direction: the catalog's, as early stopping
MONITORS = [
    "val_loss",
    "val_accuracy",
    "val_poisson",
    "val_cosine_similarity",
    "val_log_cosh",
    "val_kl",
    "val_msle",
    "val_mean_iou",
    "val_prc",
    "val_mae",
    "val_r2",
]


def _trials(values: list[float | None]) -> list[sweep.Trial]:
    return [sweep.Trial(number, {}, {}, name=f"t{number}", value=v) for number, v in enumerate(values, start=1)]


@pytest.mark.parametrize("monitor", MONITORS)
def test_ranking_follows_the_catalogs_direction(monitor: str) -> None:
    order = [t.value for t in sweep.ranked(_trials([0.5, None, 0.2, 0.9]), monitor)]
    best_first = [0.2, 0.5, 0.9] if catalog.lower_is_better(monitor) else [0.9, 0.5, 0.2]
    assert order == [*best_first, None]  # a failed trial goes last


@pytest.mark.parametrize("monitor", MONITORS)
def test_optuna_direction_follows_the_catalog(monitor: str) -> None:
    expected = "minimize" if catalog.metric_direction(monitor) == "min" else "maximize"
    assert sweep.optuna_direction(monitor) == expected


def test_val_poisson_ranks_lower_first_as_early_stopping_does() -> None:
    assert [t.value for t in sweep.ranked(_trials([0.3, 0.1]), "val_poisson")] == [0.1, 0.3]
    assert sweep.optuna_direction("val_poisson") == "minimize"
    assert [t.value for t in sweep.ranked(_trials([0.3, 0.1]), "val_cosine_similarity")] == [0.3, 0.1]
    assert sweep.optuna_direction("val_cosine_similarity") == "maximize"


@pytest.mark.parametrize(("monitor", "best"), [("val_poisson", 0.1), ("val_cosine_similarity", 0.8)])
def test_monitor_value_takes_the_best_epoch_by_direction(monitor: str, best: float) -> None:
    history = [{"epoch": 1, monitor: 0.4}, {"epoch": 2, monitor: 0.1}, {"epoch": 3, monitor: 0.8}]
    assert sweep.monitor_value({}, history, monitor) == pytest.approx(best)
    metric = monitor.removeprefix("val_")
    assert sweep.monitor_value({"validation": {metric: 0.5}}, history, monitor) == pytest.approx(0.5)
    assert sweep.monitor_value({}, [], monitor) is None


def test_sweep_rows_rank_completed_trials_and_keep_failures() -> None:
    axes = sweep.parse_grid(["model.units=[4],[8]"])
    trials = _trials([0.7, None, 0.3])
    for trial, units in zip(trials, ([4], [8], [8]), strict=True):
        trial.params = {"model.units": units}
        trial.status = "completed" if trial.value is not None else "failed"
    rows = sweep.sweep_rows(trials, axes, "val_loss")
    assert [(r["rank"], r["trial"]) for r in rows] == [(1, 3), (2, 1), ("", 2)]
    assert rows[0]["model.units"] == "[8]" and rows[0]["val_loss"] == 0.3


def test_the_trial_reporter_records_the_run_folder_training_made(tmp_path: Path) -> None:
    trial = sweep.Trial(1, {}, {}, name="t1")
    board = sweep._Board(None, [], "val_loss", "Sweep")
    sweep._TrialReporter(board, trial, epochs=2).header({"run": str(tmp_path / "t1" / "stamp")})
    assert trial.run == tmp_path / "t1" / "stamp"


# ----------------------------------------------------------------------------- `kproto sweep`
def test_sweep_bad_key_stops_before_training(workspace: dict[str, Path]) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "sweep",
            str(workspace["recipe"]),
            "--grid",
            "model.unitz=[4],[8]",
            "--out",
            str(workspace["folder"] / "never"),
            *TF,
        ],
    )
    assert result.exit_code == 2
    assert not (workspace["folder"] / "never").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--search", "optuna", "--random", "2"], "--trials N"),
        (["--trials", "2"], "--random N"),
    ],
)
def test_sweep_usage_errors(workspace: dict[str, Path], args: list[str], words: str) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(workspace["recipe"]), "--grid", "model.units=[4],[8]", *args])
    assert result.exit_code == 2 and words in result.output


@pytest.mark.slow
def test_sweep_failed_value_is_not_fatal(workspace: dict[str, Path]) -> None:
    out = workspace["folder"] / "sweeps-bad"
    output = _invoke(
        ["sweep", workspace["recipe"], "--grid", "model.dropout=0.0,1.5", "--out", out, "--set", "train.epochs=1", *TF]
    )
    (folder,) = out.iterdir()
    rows = {r["model.dropout"]: r for r in csv.DictReader((folder / layout.SWEEP_TABLE).open())}
    assert rows["0"]["status"] == "completed" and rows["1.5"]["status"] == "failed"
    assert "failed" in output
    assert Path(rows["0"]["path"]).parent == folder / rows["0"]["run"]  # the run training made for the trial


@pytest.mark.slow
def test_sweep_grid_trains_each_combination_and_ranks_them(workspace: dict[str, Path]) -> None:
    out = workspace["folder"] / "sweeps"
    output = _invoke(
        [
            "sweep",
            workspace["recipe"],
            "--grid",
            "train.optimizer.learning_rate=0.001,0.01",
            "--grid",
            "model.units=[4],[8]",
            "--out",
            out,
            "--set",
            "train.epochs=1",
            *TF,
        ]
    )
    (folder,) = out.iterdir()
    runs = [p for p in folder.rglob(layout.METRICS)]
    assert len(runs) == 4
    rows = list(csv.DictReader((folder / layout.SWEEP_TABLE).open()))
    assert len(rows) == 4
    values = [float(r["val_loss"]) for r in rows]
    assert values == sorted(values)
    assert {r["model.units"] for r in rows} == {"[4]", "[8]"}
    assert {r["train.optimizer.learning_rate"] for r in rows} == {"0.001", "0.01"}
    assert "ranked by val_loss" in output
    assert {Path(r["path"]) for r in rows} == {p.parent for p in runs}
    listed = json.loads(_invoke(["runs", folder, "--json"]))
    assert len(listed) == 4


@pytest.mark.slow
def test_sweep_records_a_failed_combination_and_random_sampling(workspace: dict[str, Path]) -> None:
    out = workspace["folder"] / "sweeps-failed"
    _invoke(
        [
            "sweep",
            workspace["recipe"],
            "--grid",
            "model.dropout=0.0,1.5",
            "--grid",
            "model.units=[4],[8]",
            "--random",
            "2",
            "--out",
            out,
            "--set",
            "train.epochs=1",
            *TF,
        ]
    )
    (folder,) = out.iterdir()
    rows = list(csv.DictReader((folder / layout.SWEEP_TABLE).open()))
    assert len(rows) == 2  # a seeded sample of the four combinations


@pytest.mark.slow
def test_sweep_optuna(workspace: dict[str, Path]) -> None:
    out = workspace["folder"] / "sweeps-optuna"
    _invoke(
        [
            "sweep",
            workspace["recipe"],
            "--grid",
            "model.units=[4],[8]",
            "--search",
            "optuna",
            "--trials",
            "2",
            "--out",
            out,
            "--set",
            "train.epochs=1",
            *TF,
        ]
    )
    (folder,) = out.iterdir()
    rows = list(csv.DictReader((folder / layout.SWEEP_TABLE).open()))
    assert len(rows) == 2 and all(r["status"] == "completed" for r in rows)
