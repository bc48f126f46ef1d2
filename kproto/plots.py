"""Headless matplotlib plots saved as PNG files in a run directory (written atomically)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from kproto.runs import atomic_write_bytes


def _figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (6.4, 4.2)) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=size, squeeze=False)


def save(fig: Any, path: Path) -> Path:
    """Render `fig` to PNG bytes and write them atomically."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def learning_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Loss and each metric per epoch, training against validation, one panel each."""
    names = [k for k in (history[0] if history else {}) if k not in ("epoch", "seconds", "learning_rate") and not k.startswith("val_")]
    names = names or ["loss"]
    fig, axes = _figure(1, len(names), size=(4.6 * len(names), 3.8))
    epochs = [row["epoch"] for row in history]
    for ax, name in zip(axes[0], names):
        ax.plot(epochs, [row.get(name) for row in history], marker="o", markersize=3, label="train")
        if any(f"val_{name}" in row for row in history):
            ax.plot(epochs, [row.get(f"val_{name}") for row in history], marker="o", markersize=3, label="validation")
        ax.set_title(f"{name}" + (f" — {title}" if title and name == names[0] else ""))
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return save(fig, path)


def confusion_matrix(report: dict[str, Any], path: Path) -> Path:
    """The test confusion matrix with counts in each cell."""
    import numpy as np

    matrix = np.asarray(report["confusion"])
    classes = report["classes"]
    size = max(4.0, 0.45 * len(classes) + 2.5)
    fig, axes = _figure(size=(size + 1, size))
    ax = axes[0][0]
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix (accuracy {report['accuracy']:.3f})")
    limit = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color="white" if count > limit else "black")
    return save(fig, path)
