"""kproto.commands.tracking: the run reaches each tracker from training's own report; MLflow logging through a stand-in."""

from __future__ import annotations

import sys
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from run_folders import finished_metrics, history_rows, tiny_recipe, write_run

from kproto.cli import cli
from kproto.commands import tracking
from kproto.core.errors import KprotoError
from kproto.report.tables import Reporter
from kproto.runs import layout

MINIMAL = "data:\n  path: {data}\n  target: label\nmodel:\n  type: feedforward\n"


class StubTracker:
    """Remembers what it was asked to log."""

    name = "stub"

    def __init__(self) -> None:
        self.logged: list[tuple[Path, dict[str, Any]]] = []

    def log_run(self, run: Path, metrics: dict[str, Any]) -> None:
        self.logged.append((run, metrics))


class RecordingReporter(Reporter):
    def __init__(self) -> None:
        self.events: list[str] = []

    def header(self, facts: dict[str, Any]) -> None:
        self.events.append("header")

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.events.append("epoch_start")

    def progress(self, done: int, total: int) -> None:
        self.events.append("progress")

    def epoch_end(self, row: dict[str, Any]) -> None:
        self.events.append("epoch_end")

    def message(self, text: str) -> None:
        self.events.append("message")

    def close(self) -> None:
        self.events.append("close")


@dataclass
class FakeResult:
    run: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    chief: bool = True


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_run(
        tmp_path / "runs",
        "tiny",
        "20260101-000000",
        recipe=tiny_recipe("tiny", [8], 0.001),
        metrics=finished_metrics({"loss": 0.5, "accuracy": 0.75}, {"loss": 0.55, "accuracy": 0.7}),
        history=history_rows([0.6, 0.5]),
    )


# ----------------------------------------------------------------------------- the hook
def test_the_tracker_receives_the_run_training_returned(run: Path) -> None:
    inner, stub = RecordingReporter(), StubTracker()
    reporter = tracking.TrackingReporter(inner, [stub])
    reporter.header({"run": str(run), "recipe": "tiny"})
    reporter.epoch_start(1, 2, 3)
    reporter.progress(1, 3)
    reporter.epoch_end({"epoch": 1})
    reporter.message("hello")
    reporter.close()
    assert inner.events == ["header", "epoch_start", "progress", "epoch_end", "message", "close"]
    assert stub.logged == []  # nothing before training has ended
    reporter.finished(FakeResult(run, {"status": "completed", "test": {"loss": 0.5}}))
    assert stub.logged == [(run, {"status": "completed", "test": {"loss": 0.5}})]


def test_a_stopped_run_is_logged_from_its_folder(run: Path) -> None:
    stub = StubTracker()
    reporter = tracking.TrackingReporter(Reporter(), [stub])
    reporter.stopped()  # training failed before it made a run folder: nothing to log
    assert stub.logged == []
    reporter.header({"run": str(run)})
    reporter.stopped()
    ((logged_run, metrics),) = stub.logged
    assert logged_run == run and metrics["status"] == "completed" and metrics["test"]["accuracy"] == 0.7
    reporter.stopped()
    assert len(stub.logged) == 1  # once


def test_a_worker_that_wrote_no_run_logs_nothing(run: Path) -> None:
    stub = StubTracker()
    tracking.TrackingReporter(Reporter(), [stub]).finished(FakeResult(run, {}, chief=False))
    assert stub.logged == []


def test_every_tracker_is_told_and_reported(run: Path) -> None:
    first, second, told = StubTracker(), StubTracker(), []
    reporter = tracking.TrackingReporter(Reporter(), [first, second], on_logged=lambda t, r: told.append((t, r)))
    reporter.finished(FakeResult(run, {"status": "completed"}))
    assert len(first.logged) == len(second.logged) == 1
    assert told == [(first, run), (second, run)]


# ----------------------------------------------------------------------------- MLflow
def test_mlflow_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kproto.core.backend.installed", lambda module: module != "mlflow")
    with pytest.raises(KprotoError, match="needs MLflow") as info:
        tracking.MlflowTracker()
    assert info.value.field == "--mlflow" and "pip install mlflow" in info.value.hint


def test_train_mlflow_without_mlflow_is_a_clear_error(
    runner: CliRunner, make_recipe, tiny_classification: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kproto.core.backend.installed", lambda module: module != "mlflow")
    recipe = make_recipe(MINIMAL.format(data=tiny_classification))
    result = runner.invoke(cli, ["train", str(recipe), "--mlflow", "--out", str(tmp_path / "ml")])
    assert result.exit_code == 2
    assert "pip install mlflow" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "ml").exists()


class FakeMlflow(types.ModuleType):
    """The parts of the mlflow module kproto calls, recording each call."""

    def __init__(self) -> None:
        super().__init__("mlflow")
        self.calls: list[tuple[str, Any]] = []

    def set_experiment(self, name: str) -> None:
        self.calls.append(("experiment", name))

    @contextmanager
    def start_run(self, run_name: str):  # noqa: ANN201 - a context manager
        self.calls.append(("start", run_name))
        yield
        self.calls.append(("end", run_name))

    def log_params(self, params: dict[str, Any]) -> None:
        self.calls.append(("params", params))

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.calls.append(("metrics", (step, metrics)))

    def set_tags(self, tags: dict[str, str]) -> None:
        self.calls.append(("tags", tags))

    def log_artifact(self, path: str) -> None:
        self.calls.append(("artifact", Path(path).name))

    def of(self, kind: str) -> list[Any]:
        return [value for name, value in self.calls if name == kind]


def test_mlflow_logs_params_metrics_tags_and_files(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setattr("kproto.core.backend.installed", lambda module: True)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    (run / layout.MODEL).write_bytes(b"model")
    tracking.MlflowTracker().log_run(run, finished_metrics({"loss": 0.5, "accuracy": 0.75}, {"loss": 0.55}))
    assert fake.of("experiment") == ["kproto"]
    assert fake.of("start") == ["tiny/20260101-000000"] == fake.of("end")
    params = {k: v for batch in fake.of("params") for k, v in batch.items()}
    assert params["model.units"] == "[8]" and params["train.optimizer.learning_rate"] == "0.001"
    steps = [(step, metrics) for step, metrics in fake.of("metrics") if step is not None]
    assert [step for step, _ in steps] == [1, 2] and steps[1][1]["val_loss"] == pytest.approx(0.5)
    finals = {k: v for step, metrics in fake.of("metrics") if step is None for k, v in metrics.items()}
    assert finals["validation_accuracy"] == 0.75 and finals["test_loss"] == 0.55
    assert fake.of("tags") == [{"kproto.status": "completed", "kproto.run_dir": str(run)}]
    assert fake.of("artifact") == [layout.MODEL, layout.RECIPE, layout.METRICS, layout.HISTORY]


def test_train_mlflow_hands_the_trained_run_to_the_tracker(
    runner: CliRunner, make_recipe, tiny_classification: Path, run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kproto train --mlflow` gives the tracker the run that training reported: no folder search, no reload."""
    import kproto.training

    stub = StubTracker()
    monkeypatch.setattr(tracking, "MlflowTracker", lambda: stub)

    def fake_train(recipe: Any, out: Path, reporter: Reporter, **options: Any) -> FakeResult:
        reporter.header({"run": str(run)})
        return FakeResult(run, {"status": "completed", "test": {"loss": 0.5}})

    monkeypatch.setattr(kproto.training, "train", fake_train, raising=False)
    recipe = make_recipe(MINIMAL.format(data=tiny_classification))
    result = runner.invoke(cli, ["train", str(recipe), "--mlflow", "--backend", "tensorflow"])
    assert result.exit_code == 0, result.output
    assert stub.logged == [(run, {"status": "completed", "test": {"loss": 0.5}})]
    assert f"logged {run} to stub" in result.output
