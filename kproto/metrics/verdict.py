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

    The metric's direction comes from the catalog; a tie counts as a win for the model.
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
    if wins:
        message = (
            f"this model's {metric} {model_score:.4g} on the {split} rows beats every baseline "
            f"(best: {label}, {scored[best]:.4g})"
        )
    else:
        message = f"{label} reaches {scored[best]:.4g} {metric} on the same {split} rows; this model {model_score:.4g}"
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
