"""Per-row attributions: integrated gradients (Sundararajan et al. 2017), occlusion, and reconstruction errors.

Integrated gradients integrate the input gradient along the straight line from a baseline to the input with
Gauss-Legendre quadrature, `batch` interpolated inputs per gradient call so that memory stays bounded however many
steps and features there are. Tabular attributions are summed back onto the original columns (a one-hot column's
units are one feature).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kproto.data.preprocess import FeatureGroup, feature_groups  # noqa: F401 - the column-to-input map, re-exported

DEFAULT_STEPS = 48
GRADIENT_BATCH = 512  # interpolated inputs per gradient call


def sum_onto_columns(attributions: np.ndarray, groups: list[FeatureGroup]) -> np.ndarray:
    """(rows, model inputs) attributions → (rows, original columns), each column the sum of its inputs."""
    return np.stack([attributions[:, g.start : g.stop].sum(axis=1) for g in groups], axis=1)


def quadrature(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre points in (0, 1) and their weights (summing to 1)."""
    points, weights = np.polynomial.legendre.leggauss(steps)
    return ((points + 1) / 2).astype(np.float32), (weights / 2).astype(np.float64)


def integrated_gradients(
    model: Any,
    x: np.ndarray,
    target: np.ndarray | int | None = None,
    baseline: np.ndarray | None = None,
    steps: int = DEFAULT_STEPS,
    batch: int = GRADIENT_BATCH,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Integrated gradients of output unit `target` (per row, or one for all; None: unit 0) for each row of x.

    The attributions of a row sum to f(x) - f(baseline) up to the quadrature error (completeness).
    """
    from kproto.robust.gradients import InputGradient, selected_output

    x = np.asarray(x, dtype=np.float32)
    base = np.zeros_like(x) if baseline is None else np.broadcast_to(np.asarray(baseline, np.float32), x.shape)
    targets = np.broadcast_to(np.asarray(0 if target is None else target, np.int32), (len(x),))
    alphas, weights = quadrature(steps)
    gradient = InputGradient(model, selected_output)
    total = np.zeros(x.shape, dtype=np.float64)
    jobs = [(row, step) for row in range(len(x)) for step in range(steps)]
    done = 0
    for begin in range(0, len(jobs), batch):
        chunk = jobs[begin : begin + batch]
        rows = np.array([r for r, _ in chunk])
        stepped = np.array([s for _, s in chunk])
        shape = (-1,) + (1,) * (x.ndim - 1)
        points = base[rows] + alphas[stepped].reshape(shape) * (x[rows] - base[rows])
        grads = gradient(points, targets[rows]).astype(np.float64)
        np.add.at(total, rows, grads * weights[stepped].reshape(shape))
        done += len(chunk)
        if on_progress is not None:
            on_progress(done, len(jobs))
    return (total * (x - base)).astype(np.float32)


def completeness_gap(model: Any, x: np.ndarray, attributions: np.ndarray, target: Any, baseline: Any = None) -> float:
    """The largest relative gap |sum(attributions) - (f(x) - f(baseline))| / |f(x) - f(baseline)| over the rows."""
    from kproto.robust.gradients import model_outputs

    x = np.asarray(x, np.float32)
    base = np.zeros_like(x) if baseline is None else np.broadcast_to(np.asarray(baseline, np.float32), x.shape)
    index = np.broadcast_to(np.asarray(0 if target is None else target), (len(x),)).astype(int)
    rows = np.arange(len(x))
    change = model_outputs(model, x)[rows, index] - model_outputs(model, base)[rows, index]
    sums = attributions.reshape(len(x), -1).sum(axis=1)
    return float(np.max(np.abs(sums - change) / np.maximum(np.abs(change), 1e-8)))


def occlusion(
    model: Any,
    images: np.ndarray,
    target: np.ndarray | int,
    patch: int = 2,
    fill: float = 0.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Per-pixel drop of output unit `target` when a `patch`×`patch` square around it is set to `fill`.

    Returns (rows, height, width): each pixel gets the mean drop over the patches that covered it.
    """
    from kproto.robust.gradients import model_outputs

    images = np.asarray(images, np.float32)
    rows, height, width = images.shape[:3]
    targets = np.broadcast_to(np.asarray(target, int), (rows,))
    reference = model_outputs(model, images)[np.arange(rows), targets]
    heat = np.zeros((rows, height, width))
    covered = np.zeros((height, width))
    corners = [(i, j) for i in range(0, height - patch + 1) for j in range(0, width - patch + 1)] or [(0, 0)]
    for n, (i, j) in enumerate(corners):
        masked = images.copy()
        masked[:, i : i + patch, j : j + patch] = fill
        drop = reference - model_outputs(model, masked)[np.arange(rows), targets]
        heat[:, i : i + patch, j : j + patch] += drop[:, None, None]
        covered[i : i + patch, j : j + patch] += 1
        if on_progress is not None:
            on_progress(n + 1, len(corners))
    return (heat / np.maximum(covered, 1)).astype(np.float32)


def token_occlusion(
    model: Any, tokens: np.ndarray, target: np.ndarray | int, pad: int = 0, batch: int = 512
) -> np.ndarray:
    """Per-token drop of output unit `target` when that token is replaced by padding (0 for padding itself)."""
    from kproto.robust.gradients import model_outputs

    tokens = np.asarray(tokens)
    rows, length = tokens.shape
    targets = np.broadcast_to(np.asarray(target, int), (rows,))
    reference = model_outputs(model, tokens)[np.arange(rows), targets]
    scores = np.zeros((rows, length), np.float32)
    for row in range(rows):
        present = np.flatnonzero(tokens[row] != pad)
        for begin in range(0, len(present), batch):
            positions = present[begin : begin + batch]
            variants = np.repeat(tokens[row : row + 1], len(positions), axis=0)
            variants[np.arange(len(positions)), positions] = pad
            outputs = model_outputs(model, variants)[:, targets[row]]
            scores[row, positions] = reference[row] - outputs
    return scores


def reconstruction_errors(model: Any, x: np.ndarray, names: list[str]) -> list[dict[str, float | str]]:
    """Mean squared reconstruction error per input column, worst first (for autoencoders)."""
    from kproto.robust.gradients import model_outputs

    flat = np.asarray(x, np.float64).reshape(len(x), -1)
    rebuilt = model_outputs(model, x)
    errors = np.mean((rebuilt - flat) ** 2, axis=0)
    spread = np.std((rebuilt - flat) ** 2, axis=0)
    if len(names) != len(errors):
        names = [f"input {i}" for i in range(len(errors))]
    table = [{"feature": n, "importance": float(e), "spread": float(s)} for n, e, s in zip(names, errors, spread)]
    return sorted(table, key=lambda row: -row["importance"])
