"""kproto.runs.index and `kproto runs`: listing, filters, sorting by the catalog's direction, compare, unreadable runs."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from run_folders import ALIAS_BOMB, finished_metrics, history_rows, tiny_recipe, write_run

from kproto.cli import cli
from kproto.core import catalog
from kproto.core.errors import KprotoError
from kproto.runs import index, layout

ROOT = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _invoke(args: list[object]) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path]:
    """Two finished tiny runs (units 8 vs 16, learning rate 0.001 vs 0.01) and one broken run folder."""
    runs = tmp_path / "runs"
    a = write_run(
        runs,
        "tiny-a",
        "20260101-000001",
        recipe=tiny_recipe("tiny-a", [8], 0.001),
        metrics=finished_metrics({"loss": 0.61, "accuracy": 0.70}, {"loss": 0.64, "accuracy": 0.66}),
        history=history_rows([0.70, 0.61]),
    )
    b = write_run(
        runs,
        "tiny-b",
        "20260101-000002",
        recipe=tiny_recipe("tiny-b", [16], 0.01),
        metrics=finished_metrics({"loss": 0.42, "accuracy": 0.80}, {"loss": 0.45, "accuracy": 0.78}),
        history=history_rows([0.55, 0.42]),
    )
    broken = write_run(runs, "broken", "20200101-000000", recipe="data: [unclosed\n", metrics=None)
    return {"folder": tmp_path, "runs": runs, "broken": broken, "a": a, "b": b}


# ----------------------------------------------------------------------------- `kproto runs`
def test_runs_table_lists_every_run_and_marks_broken(workspace: dict[str, Path]) -> None:
    output = _invoke(["runs", workspace["runs"]])
    assert "tiny-a" in output and "tiny-b" in output
    assert "broken" in output
    assert "model.units" in output  # the only recipe fields that differ are shown
    assert "[16]" in output


def test_runs_sort_json_and_csv(workspace: dict[str, Path]) -> None:
    rows = json.loads(_invoke(["runs", workspace["runs"], "--sort", "val_loss", "--json"]))
    losses = [r["validation"].get("loss") for r in rows if r["status"] == "completed"]
    assert losses == sorted(losses)
    assert rows[-1]["status"] == "broken"  # no value: last
    rows = json.loads(_invoke(["runs", workspace["runs"], "--sort", "test.accuracy", "--json"]))
    accuracies = [r["test"]["accuracy"] for r in rows if r["status"] == "completed"]
    assert accuracies == sorted(accuracies, reverse=True)
    assert rows[0]["params"]["model.units"] in ([8], [16])
    table = list(
        csv.DictReader(io.StringIO(_invoke(["runs", workspace["runs"], "--csv", "--sort", "validation.loss"])))
    )
    assert {r["name"] for r in table} == {"tiny-a", "tiny-b", "broken"}
    assert "validation.loss" in table[0] and "model.units" in table[0]


def test_runs_filter(workspace: dict[str, Path]) -> None:
    rows = json.loads(_invoke(["runs", workspace["runs"], "--filter", "tiny-a", "--json"]))
    assert [r["name"] for r in rows] == ["tiny-a"]
    rows = json.loads(_invoke(["runs", workspace["runs"], "--filter", "model.units=[16]", "--json"]))
    assert [r["name"] for r in rows] == ["tiny-b"]
    rows = json.loads(
        _invoke(["runs", workspace["runs"], "--filter", "status=completed", "--filter", "epochs>=2", "--json"])
    )
    assert sorted(r["name"] for r in rows) == ["tiny-a", "tiny-b"]


def test_runs_unknown_sort_key_suggests(workspace: dict[str, Path]) -> None:
    result = CliRunner().invoke(cli, ["runs", str(workspace["runs"]), "--sort", "test.acuracy"])
    assert result.exit_code == 2
    assert "did you mean 'test.accuracy'" in result.output


def test_compare_shows_differing_fields_and_plots(workspace: dict[str, Path]) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plot = workspace["folder"] / "compare.png"
    output = _invoke(["runs", "--compare", workspace["a"], workspace["b"], "--plot", plot])
    assert "model.units" in output and "train.optimizer.learning_rate" in output
    assert "delta" in output and "validation" in output
    assert plot.read_bytes()[:8] == PNG_SIGNATURE
    image = plt.imread(plot)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    data = json.loads(_invoke(["runs", "--compare", workspace["a"], workspace["b"], "--json"]))
    assert {f["field"] for f in data["fields"]} >= {"model.units", "name"}
    loss = next(m for m in data["metrics"] if m["split"] == "test" and m["metric"] == "loss")
    assert loss["delta"] == pytest.approx(loss["b"] - loss["a"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--json", "--csv"], "choose one of --json and --csv"),
        (["--plot", "x.png"], "use it with --compare"),
    ],
)
def test_runs_usage_errors(workspace: dict[str, Path], args: list[str], words: str) -> None:
    result = CliRunner().invoke(cli, ["runs", str(workspace["runs"]), *args])
    assert result.exit_code == 2 and words in result.output


def test_runs_of_an_empty_folder_and_a_missing_one(tmp_path: Path) -> None:
    assert "no runs under" in _invoke(["runs", tmp_path])
    result = CliRunner().invoke(cli, ["runs", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no such folder" in result.output


# ----------------------------------------------------------------------------- direction from the catalog
DIRECTIONS = [  # monitor, the run listed first
    ("val_poisson", "low"),
    ("val_cosine_similarity", "high"),
    ("val_log_cosh", "low"),
    ("val_kl_divergence", "low"),
    ("val_msle", "low"),
    ("val_mean_iou", "high"),
    ("val_prc", "high"),
    ("val_loss", "low"),
    ("val_accuracy", "high"),
    ("test.mae", "low"),
    ("test.r2", "high"),
]


@pytest.mark.parametrize(("monitor", "first"), DIRECTIONS)
def test_sort_direction_is_the_catalogs(tmp_path: Path, monitor: str, first: str) -> None:
    split, metric = index.parse_metric(monitor)
    for name, value in (("low", 0.2), ("high", 0.9)):
        write_run(
            tmp_path,
            name,
            "20260101-000000",
            recipe=tiny_recipe(name, [8], 0.001),
            metrics={**finished_metrics({}, {}), split: {metric: value}},
        )
    ordered = [r.name for r in index.sort_runs(index.scan_runs(tmp_path), monitor)]
    assert ordered[0] == first
    assert (first == "low") == catalog.lower_is_better(monitor) == catalog.lower_is_better(metric)


@pytest.mark.parametrize(("monitor", "first"), DIRECTIONS)
def test_compare_names_the_better_run_by_the_catalogs_direction(tmp_path: Path, monitor: str, first: str) -> None:
    split, metric = index.parse_metric(monitor)
    a = write_run(tmp_path, "a", "1", recipe=tiny_recipe("a", [8], 0.001), metrics={split: {metric: 0.2}})
    b = write_run(tmp_path, "b", "1", recipe=tiny_recipe("b", [8], 0.001), metrics={split: {metric: 0.9}})
    comparison = index.compare_runs(a, b)
    metrics = next(t for t in index.comparison_tables(comparison) if "Metrics" in str(t.title))
    better = list(metrics.columns[-1].cells)
    assert better == ["A" if first == "low" else "B"]


def test_index_has_no_direction_rule_of_its_own() -> None:
    assert index.lower_is_better is catalog.lower_is_better
    assert not hasattr(index, "HIGHER_WORDS")


# ----------------------------------------------------------------------------- reading runs
def test_an_alias_bomb_recipe_is_reported_unreadable_within_seconds(tmp_path: Path) -> None:
    bomb = write_run(tmp_path, "bomb", "20260101-000000", recipe=ALIAS_BOMB, metrics={"status": "completed"})
    began = time.perf_counter()
    record = index.read_run(bomb)
    assert time.perf_counter() - began < 5
    assert record.status == "broken" and f"{layout.RECIPE} is unreadable" in record.problem
    assert record.recipe == {}


def test_kproto_runs_answers_on_an_alias_bomb_within_seconds(tmp_path: Path) -> None:
    write_run(tmp_path, "bomb", "20260101-000000", recipe=ALIAS_BOMB, metrics={"status": "completed"})
    write_run(
        tmp_path,
        "fine",
        "20260101-000001",
        recipe=tiny_recipe("fine", [8], 0.001),
        metrics=finished_metrics({"loss": 0.5}, {}),
    )
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "kproto.cli", "runs", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    elapsed = time.perf_counter() - began
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["bomb"]["status"] == "broken" and "unreadable" in rows["bomb"]["problem"]
    assert rows["fine"]["status"] == "completed"
    assert elapsed < 20, f"kproto runs took {elapsed:.1f} s"


@pytest.mark.parametrize(
    ("recipe", "metrics", "problem"),
    [
        (None, {"status": "completed"}, f"{layout.RECIPE} is missing"),
        ("- a list\n", {"status": "completed"}, f"{layout.RECIPE} is unreadable"),
        ("model: !!python/object:os.system {}\n", {"status": "completed"}, f"{layout.RECIPE} is unreadable"),
        ({"name": "x"}, None, f"{layout.METRICS} is missing"),
        ({"name": "x"}, "[1, 2]", f"{layout.METRICS} is unreadable"),
    ],
)
def test_broken_runs_say_what_is_wrong(tmp_path: Path, recipe: object, metrics: object, problem: str) -> None:
    folder = write_run(tmp_path, "x", "1", recipe=recipe, metrics=None if isinstance(metrics, str) else metrics)
    if isinstance(metrics, str):
        (folder / layout.METRICS).write_text(metrics)
    record = index.read_run(folder)
    assert record.status == "broken" and problem in record.problem


def test_scan_skips_checkpoints_and_orders_by_start(workspace: dict[str, Path]) -> None:
    checkpoint = workspace["a"] / layout.CHECKPOINT
    checkpoint.mkdir()
    (checkpoint / layout.METRICS).write_text("{}")
    records = index.scan_runs(workspace["runs"])
    assert [r.name for r in records] == ["broken", "tiny-a", "tiny-b"]
    assert index.scan_runs(workspace["a"])[0].name == "tiny-a"  # a run folder itself


def test_resolve_run_takes_the_newest_stamp(workspace: dict[str, Path]) -> None:
    newer = write_run(
        workspace["runs"], "tiny-a", "20270101-000000", recipe=tiny_recipe("tiny-a", [8], 0.001), metrics={}
    )
    assert index.resolve_run(workspace["runs"] / "tiny-a") == newer
    assert index.resolve_run(workspace["a"] / layout.METRICS) == workspace["a"]
    with pytest.raises(KprotoError, match="not a run folder"):
        index.resolve_run(workspace["folder"])
    with pytest.raises(KprotoError, match="no such run"):
        index.resolve_run(workspace["folder"] / "nowhere")


def test_history_and_flatten(workspace: dict[str, Path]) -> None:
    history = index.read_run(workspace["a"]).history()
    assert [row["epoch"] for row in history] == [1, 2] and history[1]["val_loss"] == pytest.approx(0.61)
    assert index.read_history(workspace["folder"] / "nowhere.csv") == []
    assert index.flatten({"train": {"optimizer": {"name": "adam"}, "metrics": ["mae"]}}) == {
        "train.optimizer.name": "adam",
        "train.metrics": ["mae"],
    }


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        ("test.accuracy", ("test", "accuracy")),
        ("val_loss", ("validation", "loss")),
        ("loss", ("validation", "loss")),
        ("train_mae", ("train", "mae")),
        ("seconds", ("run", "seconds")),
        ("model.units", ("recipe", "model.units")),
    ],
)
def test_parse_metric(key: str, parsed: tuple[str, str]) -> None:
    assert index.parse_metric(key) == parsed


@pytest.mark.parametrize(
    ("files", "is_run"),
    [
        ((), False),
        ((layout.RECIPE,), True),
        ((layout.METRICS,), True),
        ((layout.HISTORY,), True),
        (("notes.txt",), False),
    ],
)
def test_one_rule_tells_a_run_folder(tmp_path: Path, files: tuple[str, ...], is_run: bool) -> None:
    for name in files:
        (tmp_path / name).write_text("{}", encoding="utf-8")
    assert layout.is_run_folder(tmp_path) is is_run
    if is_run:
        assert index.resolve_run(tmp_path) == tmp_path
    else:
        with pytest.raises(KprotoError, match="not a run folder"):
            index.resolve_run(tmp_path)


# ----------------------------------------------------------------------------- stale runs, untrusted text
def _running(owner: dict[str, object]) -> dict[str, object]:
    return {**finished_metrics({"accuracy": 0.5}, {"accuracy": 0.5}), "status": "running", "owner": owner}


@pytest.mark.parametrize(
    ("owner", "status"),
    [
        ({"pid": 2**22 + 12345, "host": None, "started": 0.0}, "stale"),  # no such process on this host
        ({"pid": None, "host": None, "started": 0.0}, "running"),  # None: filled in below with this process
        ({"pid": 1, "host": "another-host.example", "started": 0.0}, "running"),  # cannot be checked from here
    ],
    ids=["gone", "alive", "other-host"],
)
def test_a_running_run_whose_process_is_gone_is_stale(tmp_path: Path, owner: dict, status: str) -> None:
    import os
    import socket

    from kproto.runs.schemas import this_owner

    me = this_owner()
    owner = {**owner, "host": owner["host"] or socket.gethostname()}
    if owner["pid"] is None:
        owner = me
    assert os.getpid() == me["pid"]
    folder = write_run(tmp_path, "r", "20260101-000001", recipe=tiny_recipe("r", [8], 0.01), metrics=_running(owner))
    record = index.read_run(folder)
    assert record.status == status
    if status == "stale":
        assert "is gone" in record.problem
        assert "stale" in _invoke(["runs", tmp_path])


def test_untrusted_text_in_run_folders_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    """Terminal sequences and Rich markup from metrics.json and recipe.yaml are shown as text, a 1 MB value cut."""
    recipe = tiny_recipe("r", [8], 0.01)
    recipe["name"] = "r"
    recipe["data"]["target"] = "\x1b]0;pwned\x07[bold red]label[/]"
    recipe["model"]["note"] = "x" * 1_000_000
    metrics = finished_metrics({"accuracy\x1b[2J": 0.5}, {"accuracy": 0.5})
    metrics["started"] = "\x1b]0;title\x07\x1b[2J[blink]now"
    folder = write_run(tmp_path, "r", "20260101-000001", recipe=recipe, metrics=metrics)
    other = write_run(tmp_path, "r", "20260101-000002", recipe=tiny_recipe("r", [16], 0.01), metrics=metrics)
    listing = _invoke(["runs", tmp_path])
    compared = _invoke(["runs", "--compare", folder, other])
    for shown in (listing, compared):
        assert "\x1b" not in shown and "\x07" not in shown
        assert len(shown) < 20_000
    assert "\\x1b" in listing and "[blink]" in listing
    assert "[bold red]" in compared


def verdict_of(model: float, baseline: float) -> dict[str, object]:
    from kproto.metrics.verdict import verdict

    return verdict("accuracy", model, {"gradient_boosting": {"accuracy": baseline}})


def test_runs_and_compare_name_the_verdict(tmp_path: Path) -> None:
    for stamp, model in (("20260101-000000", 0.937), ("20260102-000000", 0.99), ("20260103-000000", 0.978)):
        metrics = {**finished_metrics({"accuracy": model}, {"accuracy": model}), "verdict": verdict_of(model, 0.978)}
        write_run(tmp_path, "t", stamp, recipe=tiny_recipe("t", [8], 0.01), metrics=metrics)
    write_run(
        tmp_path, "old", "20250101-000000", recipe=tiny_recipe("old", [8], 0.01), metrics=finished_metrics({}, {})
    )
    result = CliRunner().invoke(cli, ["runs", str(tmp_path)], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert "verdict" in result.output
    assert "gradient boosting wins (accuracy 0.978 vs 0.937)" in result.output
    assert "beats gradient boosting (accuracy)" in result.output
    assert "ties gradient boosting (accuracy)" in result.output  # a tie counts for the model, in words a tie
    rows = list(csv.DictReader(io.StringIO(CliRunner().invoke(cli, ["runs", str(tmp_path), "--csv"]).output)))
    assert {row["verdict"] for row in rows} == {
        "",
        "beats gradient boosting (accuracy)",
        "ties gradient boosting (accuracy)",
        "gradient boosting wins (accuracy 0.978 vs 0.937)",
    }
    listed = json.loads(CliRunner().invoke(cli, ["runs", str(tmp_path), "--json"]).output)
    assert sorted(str((r["verdict"] or {}).get("model_wins")) for r in listed) == ["False", "None", "True", "True"]
    a, b = tmp_path / "t" / "20260101-000000", tmp_path / "t" / "20260102-000000"
    compared = CliRunner().invoke(cli, ["runs", "--compare", str(a), str(b)], terminal_width=250)
    assert "gradient boosting wins" in compared.output and "beats gradient boosting" in compared.output
    data = json.loads(CliRunner().invoke(cli, ["runs", "--compare", str(a), str(b), "--json"]).output)
    assert data["verdict"]["a"]["model_wins"] is False and data["verdict"]["b"]["model_wins"] is True
