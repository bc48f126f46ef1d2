"""Every file and folder name of a run directory, written once.

A run lives at `<out>/<recipe name>/<YYYYmmdd-HHMMSS>/`. Nothing else in kproto spells these names.
"""

from __future__ import annotations

from pathlib import Path

RECIPE = "recipe.yaml"  # the fully resolved recipe (defaults filled in, `extends` merged)
MODEL = "model.keras"  # the final (or best, with early_stopping.restore_best) model
PREPROCESS = "preprocess.json"  # data facts and the fitted preprocessing state
METRICS = "metrics.json"  # status, facts, versions and final metrics
CONFORMAL = "conformal.json"  # classification and regression: validation nonconformity scores and quantiles
HISTORY = "history.csv"  # one row per epoch
CURVES = "curves.png"  # learning curves drawn at the end of training
TENSORBOARD = "tensorboard"  # TensorBoard event files, one scalar per metric and epoch
CHECKPOINT = "checkpoint"  # resumable state: the latest epoch's model and optimizer
LOCK = "train.lock"  # while a process trains the run: its pid, host and start time (one writer at a time)
CHECKPOINT_STATE = "state.json"  # inside CHECKPOINT: epoch, history, early-stopping and plateau counters
DISCRIMINATOR = "discriminator.keras"  # GAN runs: the discriminator beside the generator in MODEL
SAMPLES = "samples"  # GAN runs: sample grids written during training
EXPORT = "export"  # `kproto export` output
# `kproto plot` draws these into the run folder itself (CURVES too), each where it applies:
CONFUSION = "confusion.png"  # classification: the test confusion matrix
ROC = "roc.png"  # binary classification
PRECISION_RECALL = "precision_recall.png"  # binary classification
PREDICTED_VS_ACTUAL = "predicted_vs_actual.png"  # regression
RESIDUALS = "residuals.png"  # regression
FORECAST = "forecast.png"  # time-series windows
RECONSTRUCTION = "reconstruction.png"  # autoencoders
RELIABILITY = "reliability.png"  # classification: test reliability diagram before and after calibration
SAMPLES_PLOT = "samples.png"  # GANs: generated samples against the test split
ROBUSTNESS = "robustness.png"  # classification and regression: the score under attack against epsilon
EXPLAIN = "explain"  # `kproto explain` output: importance.csv, attributions.json, PNG and HTML files
SWEEP_TABLE = "sweep.csv"  # a sweep folder's table of trials

# The files every finished or interrupted run has; `kproto evaluate` and friends refuse a folder without them.
REQUIRED = (RECIPE, MODEL, PREPROCESS, METRICS)
# Any one of these makes a folder a run folder (a run writes its recipe first, its metrics and history as it goes).
MARKERS = (RECIPE, METRICS, HISTORY)


def checkpoint_model(epoch: int) -> str:
    """The checkpoint file name of an epoch's model inside CHECKPOINT."""
    return f"epoch-{epoch:04d}.keras"


def sample_grid(epoch: int) -> str:
    """The sample grid of a GAN epoch inside SAMPLES."""
    return f"epoch-{epoch:03d}.png"


def is_run_folder(path: Path) -> bool:
    """A folder written by `kproto train`: it holds any of MARKERS (a finished, interrupted or broken run).

    The one rule every command uses to tell a run folder from a folder of runs; `kproto evaluate` and friends then
    ask for REQUIRED on top."""
    return any((Path(path) / marker).is_file() for marker in MARKERS)
