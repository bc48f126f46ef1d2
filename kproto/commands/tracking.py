"""Experiment tracking: hand a finished (or stopped) run to trackers such as MLflow.

Training reports through its `Reporter`; `TrackingReporter` wraps the console reporter, learns the run folder from the
run header, and gives each tracker the run (its folder and final metrics) once training ends. A tracker is anything
with `log_run(run, metrics)`; `MlflowTracker` is the one `kproto train --mlflow` uses. MLflow is imported only when a
run is logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from kproto.core import catalog
from kproto.core.errors import KprotoError
from kproto.report.tables import Reporter
from kproto.runs import layout

MLFLOW_PARAMS_PER_CALL = 100  # MLflow's limit on one log_params batch
MLFLOW_PARAM_LENGTH = 500  # MLflow's limit on a parameter value
MLFLOW_ARTIFACTS = (layout.MODEL, layout.RECIPE, layout.METRICS, layout.PREPROCESS, layout.HISTORY, layout.CURVES)


class Tracker(Protocol):
    """Receives a run once training has ended."""

    def log_run(self, run: Path, metrics: dict[str, Any]) -> None:
        """Record the run folder `run` and its final `metrics` (as in metrics.json)."""


class TrackingReporter(Reporter):
    """Forwards every training event to `inner` and hands the run to each tracker when training ends."""

    def __init__(self, inner: Reporter, trackers: list[Tracker], on_logged: Any = None) -> None:
        self.inner = inner
        self.trackers = list(trackers)
        self.on_logged = on_logged  # called with (tracker, run) after each tracker logged the run
        self.run: Path | None = None
        self.logged = False

    def header(self, facts: dict[str, Any]) -> None:
        if facts.get("run"):
            self.run = Path(facts["run"])
        self.inner.header(facts)

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.inner.epoch_start(epoch, epochs, steps)

    @property
    def shows_progress(self) -> bool:  # type: ignore[override]
        return self.inner.shows_progress

    def progress(self, done: int, total: int) -> None:
        self.inner.progress(done, total)

    def epoch_end(self, row: dict[str, Any]) -> None:
        self.inner.epoch_end(row)

    def message(self, text: str) -> None:
        self.inner.message(text)

    def close(self) -> None:
        self.inner.close()

    def finished(self, result: Any) -> None:
        """Training returned `result` (a TrainResult): log its run, unless this process wrote no run (a worker)."""
        if not getattr(result, "chief", True):
            return
        self._log(Path(result.run), dict(result.metrics))

    def stopped(self) -> None:
        """Training raised after the run folder was made (failed or interrupted): log what the folder holds."""
        if self.run is None or self.logged or not self.run.is_dir():
            return
        from kproto.runs.index import read_run

        self._log(self.run, read_run(self.run).metrics)

    def _log(self, run: Path, metrics: dict[str, Any]) -> None:
        self.logged = True
        for tracker in self.trackers:
            tracker.log_run(run, metrics)
            if self.on_logged is not None:
                self.on_logged(tracker, run)


class MlflowTracker:
    """Logs a run to the MLflow tracking store: flattened recipe as params, per-epoch and final metrics, its files."""

    name = "MLflow"

    def __init__(self, experiment: str | None = None) -> None:
        from kproto.core.backend import installed

        if not installed("mlflow"):
            raise KprotoError(
                "--mlflow needs MLflow, which is not installed",
                field="--mlflow",
                hint="pip install mlflow  (then set MLFLOW_TRACKING_URI, or runs go to ./mlruns)",
            )
        self.experiment = experiment

    def log_run(self, run: Path, metrics: dict[str, Any]) -> None:
        import os

        import mlflow

        from kproto.runs.index import SPLITS, read_run, show

        record = read_run(run)
        if metrics and record.status != catalog.BROKEN:
            record.metrics = metrics
        mlflow.set_experiment(self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "kproto")
        with mlflow.start_run(run_name=f"{record.name}/{record.stamp}"):
            params = [(key, show(value)[:MLFLOW_PARAM_LENGTH]) for key, value in record.recipe.items()]
            for start in range(0, len(params), MLFLOW_PARAMS_PER_CALL):
                mlflow.log_params(dict(params[start : start + MLFLOW_PARAMS_PER_CALL]))
            for row in record.history():
                mlflow.log_metrics(
                    {k: float(v) for k, v in row.items() if k != "epoch" and isinstance(v, float)},
                    step=int(row["epoch"]),
                )
            for split in SPLITS:
                values = {
                    f"{split}_{k}": float(v)
                    for k, v in record.split_metrics(split).items()
                    if isinstance(v, (int, float))
                }
                if values:
                    mlflow.log_metrics(values)
            mlflow.set_tags({"kproto.status": record.status, "kproto.run_dir": str(record.path)})
            for name in MLFLOW_ARTIFACTS:
                if (record.path / name).is_file() and not (record.path / name).is_symlink():  # never a linked file
                    mlflow.log_artifact(str(record.path / name))
