"""The verdict: a model's score beside the best baseline's on the same rows, in numbers and in words.

metrics.json stores baselines as `{"name": {"metric": value, ...}, ...}` (one split: the rows the verdict compares
on) and the verdict as the dict `verdict` returns. Baseline names read as words with underscores as spaces.
"""

from __future__ import annotations

import math
from typing import Any

from kproto.core.catalog import lower_is_better


def baseline_label(name: str) -> str:
    """A baseline's name for people: "gradient_boosting" → "gradient boosting"."""
    return name.replace("_", " ")


def verdict(
    metric: str, model_score: float, baselines: dict[str, dict[str, float]], split: str = "test"
) -> dict[str, Any] | None:
    """Compare `model_score` of `metric` with every baseline that has it; None when no baseline scored it.

    The metric's direction comes from the catalog; a tie counts as a win for the model (`model_wins`), and the
    message says it is a tie.
    """
    higher = not lower_is_better(metric)
    scored = {
        name: float(scores[metric])
        for name, scores in baselines.items()
        if isinstance(scores, dict) and isinstance(scores.get(metric), (int, float)) and math.isfinite(scores[metric])
    }
    if not scored or not math.isfinite(model_score):
        return None
    best = (max if higher else min)(scored, key=scored.__getitem__)
    wins = model_score >= scored[best] if higher else model_score <= scored[best]
    label = baseline_label(best)
    ours, theirs = _distinct(model_score, scored[best])
    if model_score == scored[best]:
        message = f"this model's {metric} {ours} on the {split} rows ties the best baseline ({label}, {theirs})"
    elif wins:
        message = f"this model's {metric} {ours} on the {split} rows beats every baseline (best: {label}, {theirs})"
    else:
        message = f"{label} reaches {theirs} {metric} on the same {split} rows; this model {ours}"
    return {
        "metric": metric,
        "split": split,
        "model": float(model_score),
        "best_baseline": best,
        "baseline": scored[best],
        "higher_is_better": higher,
        "model_wins": bool(wins),
        "message": message,
    }


def _distinct(a: float, b: float) -> tuple[str, str]:
    """`a` and `b` with 4 significant digits, or with as many more (up to 10) as it takes to show that they differ."""
    for digits in range(4, 11):
        first, second = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if first != second or a == b:
            return first, second
    return first, second
