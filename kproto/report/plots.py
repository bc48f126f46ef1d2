"""Headless matplotlib figures saved as PNG files, written atomically.

Drawing only: every function takes arrays (or a history, a report, a table) and a path. Loading runs and
predicting belong to the callers (kproto.commands.figures for `kproto plot`, the training loop, the GAN engine).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from kproto.core.files import atomic_write_bytes


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
    names = [
        k
        for k in (history[0] if history else {})
        if k not in ("epoch", "seconds", "learning_rate") and not k.startswith("val_")
    ]
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


# ----------------------------------------------------------------------------- run comparison and task plots
def _metric_names(history: list[dict[str, Any]]) -> list[str]:
    skip = ("epoch", "seconds", "learning_rate")
    return [k for k in (history[0] if history else {}) if k not in skip and not k.startswith("val_")]


def compare_curves(
    history_a: list[dict[str, Any]], history_b: list[dict[str, Any]], path: Path, label_a: str = "A", label_b: str = "B"
) -> Path:
    """Two runs' learning curves overlaid: a panel per shared metric, solid = training, dashed = validation."""
    names = [n for n in _metric_names(history_a) if n in _metric_names(history_b)] or ["loss"]
    fig, axes = _figure(1, len(names), size=(4.8 * len(names), 3.9))
    for ax, name in zip(axes[0], names, strict=True):
        for history, label, color in ((history_a, label_a, "tab:blue"), (history_b, label_b, "tab:orange")):
            epochs = [row["epoch"] for row in history]
            ax.plot(
                epochs,
                [row.get(name) for row in history],
                color=color,
                marker="o",
                markersize=3,
                label=f"{label} train",
            )
            if any(f"val_{name}" in row for row in history):
                ax.plot(
                    epochs,
                    [row.get(f"val_{name}") for row in history],
                    color=color,
                    linestyle="--",
                    marker="s",
                    markersize=3,
                    label=f"{label} validation",
                )
        ax.set_title(f"{name}: {label_a} vs {label_b}", fontsize=10)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save(fig, path)


def roc_points(y_true: Any, scores: Any) -> tuple[Any, Any, float]:
    """False and true positive rates over every threshold, and the area under the curve."""
    import numpy as np

    y_true, scores = np.asarray(y_true).astype(bool), np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="mergesort")
    y_sorted, s_sorted = y_true[order], scores[order]
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s_sorted) - 1]  # the last index of each distinct score
    tp = np.cumsum(y_sorted)[last]
    fp = (last + 1) - tp
    positives, negatives = max(int(y_true.sum()), 1), max(int((~y_true).sum()), 1)
    tpr, fpr = np.r_[0.0, tp / positives], np.r_[0.0, fp / negatives]
    return fpr, tpr, float(np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr))


def pr_points(y_true: Any, scores: Any) -> tuple[Any, Any, float]:
    """Recall and precision over every threshold, and the average precision."""
    import numpy as np

    y_true, scores = np.asarray(y_true).astype(bool), np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="mergesort")
    y_sorted, s_sorted = y_true[order], scores[order]
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s_sorted) - 1]
    tp = np.cumsum(y_sorted)[last]
    predicted = last + 1
    precision = tp / predicted
    recall = tp / max(int(y_true.sum()), 1)
    average = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return np.r_[0.0, recall], np.r_[1.0, precision], average


def roc_curve(y_true: Any, scores: Any, path: Path, positive: str = "positive", title: str = "") -> Path:
    """ROC curve of a binary classifier on the test split, with its AUC and the chance diagonal."""
    fpr, tpr, auc = roc_points(y_true, scores)
    fig, axes = _figure(size=(5.2, 4.6))
    ax = axes[0][0]
    ax.plot(fpr, tpr, color="tab:blue", linewidth=2, label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", label="chance (AUC 0.5)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel(f"true positive rate (recall of '{positive}')")
    ax.set_title("ROC curve (test split)" + (f" — {title}" if title else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return save(fig, path)


def reliability_diagram(curves: dict[str, dict[str, Any]], path: Path, title: str = "") -> Path:
    """Accuracy against confidence per bin for each curve ({"label": {"confidence", "accuracy", "counts"}}),
    with the diagonal of perfect calibration and the share of rows per bin below."""
    import numpy as np

    fig, axes = _figure(rows=2, size=(5.4, 6.0))
    top, bottom = axes[0][0], axes[1][0]
    top.plot([0, 1], [0, 1], color="gray", linestyle="--", label="perfectly calibrated")
    colors = ("tab:red", "tab:blue", "tab:green")
    width = 1.0 / max(len(next(iter(curves.values()))["counts"]), 1) if curves else 0.1
    for index, (label, curve) in enumerate(curves.items()):
        confidence = np.asarray(curve["confidence"], dtype=float)
        accuracy = np.asarray(curve["accuracy"], dtype=float)
        counts = np.asarray(curve["counts"], dtype=float)
        shown = counts > 0
        color = colors[index % len(colors)]
        top.plot(confidence[shown], accuracy[shown], marker="o", color=color, linewidth=1.5, label=label)
        centers = (np.arange(len(counts)) + 0.5) * width
        offset = (index - (len(curves) - 1) / 2) * width / max(len(curves), 1)
        bottom.bar(centers + offset, counts / max(counts.sum(), 1), width=width / max(len(curves), 1), color=color)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_xlabel("mean top-class probability in bin")
    top.set_ylabel("accuracy in bin")
    top.set_title("Reliability (test split)" + (f" — {title}" if title else ""), fontsize=10)
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8)
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("top-class probability")
    bottom.set_ylabel("share of rows")
    bottom.grid(alpha=0.3)
    return save(fig, path)


def precision_recall(y_true: Any, scores: Any, path: Path, positive: str = "positive", title: str = "") -> Path:
    """Precision against recall of a binary classifier, with the positive share as the no-skill line."""
    import numpy as np

    recall, precision, average = pr_points(y_true, scores)
    prevalence = float(np.mean(np.asarray(y_true).astype(bool))) if len(y_true) else 0.0
    fig, axes = _figure(size=(5.2, 4.6))
    ax = axes[0][0]
    ax.step(recall, precision, where="pre", color="tab:green", linewidth=2, label=f"model (AP {average:.3f})")
    ax.axhline(prevalence, color="gray", linestyle="--", label=f"no skill ({prevalence:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"recall of '{positive}'")
    ax.set_ylabel("precision")
    ax.set_title("Precision–recall (test split)" + (f" — {title}" if title else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    return save(fig, path)


def predicted_vs_actual(actual: Any, predicted: Any, path: Path, target: str = "target", title: str = "") -> Path:
    """Scatter of predictions against true values with the identity line (perfect predictions)."""
    import numpy as np

    actual, predicted = np.asarray(actual, float).reshape(-1), np.asarray(predicted, float).reshape(-1)
    errors = predicted - actual
    total = float(np.sum((actual - actual.mean()) ** 2)) or 1.0
    r2 = 1 - float(np.sum(errors**2)) / total
    fig, axes = _figure(size=(5.2, 4.8))
    ax = axes[0][0]
    ax.scatter(actual, predicted, s=14, alpha=0.6, color="tab:blue", label=f"test rows (R² {r2:.3f})")
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="gray", linestyle="--", label="perfect prediction")
    ax.set_xlabel(f"actual {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title("Predicted vs actual (test split)" + (f" — {title}" if title else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, path)


def residuals(actual: Any, predicted: Any, path: Path, target: str = "target", title: str = "") -> Path:
    """Residuals (predicted − actual) against the prediction, and their histogram."""
    import numpy as np

    actual, predicted = np.asarray(actual, float).reshape(-1), np.asarray(predicted, float).reshape(-1)
    errors = predicted - actual
    fig, axes = _figure(1, 2, size=(10, 4.2))
    left, right = axes[0]
    left.scatter(predicted, errors, s=14, alpha=0.6, color="tab:purple", label="test rows")
    left.axhline(0, color="gray", linestyle="--", label="zero error")
    left.set_xlabel(f"predicted {target}")
    left.set_ylabel("residual (predicted − actual)")
    left.set_title("Residuals vs prediction" + (f" — {title}" if title else ""), fontsize=10)
    left.grid(alpha=0.3)
    left.legend()
    right.hist(
        errors,
        bins=min(30, max(5, len(errors) // 5)),
        color="tab:purple",
        alpha=0.75,
        label=f"mean {errors.mean():.3g}, sd {errors.std():.3g}",
    )
    right.axvline(0, color="gray", linestyle="--")
    right.set_xlabel("residual (predicted − actual)")
    right.set_ylabel("test rows")
    right.set_title("Residual distribution", fontsize=10)
    right.legend()
    return save(fig, path)


def forecast(
    history: tuple[Any, Any],
    tests: list[tuple[Any, Any]],
    path: Path,
    target: str = "target",
    future: dict[str, Any] | None = None,
    title: str = "",
) -> Path:
    """A series' history (x positions or times, values), its test forecasts (one line per drawn test window) and
    the forecast of the steps after the data, with its conformal interval when `future` has lower and upper."""
    import numpy as np

    fig, axes = _figure(size=(10, 4.4))
    ax = axes[0][0]
    ax.plot(history[0], np.asarray(history[1], float), color="black", linewidth=1.3, label="history")
    for i, (when, values) in enumerate(tests):
        ax.plot(when, values, color="tab:red", linewidth=1.4, label="test forecasts" if i == 0 else None)
    if future is not None:
        ax.plot(future["x"], future["prediction"], color="tab:blue", linewidth=1.6, label="forecast")
        if future.get("lower") is not None:
            ax.fill_between(
                future["x"],
                future["lower"],
                future["upper"],
                color="tab:blue",
                alpha=0.2,
                label=f"{future['coverage']:.0%} conformal interval",
            )
    ax.set_xlabel("time")
    ax.set_ylabel(target)
    ax.set_title(
        "History, test forecasts and the forecast after the data" + (f" — {title}" if title else ""), fontsize=10
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.autofmt_xdate()
    return save(fig, path)


def _as_images(x: Any, shape: tuple[int, ...] | None) -> Any:
    """[n, h, w] or [n, h, w, 3] arrays for imshow, or None when the rows are not images."""
    import math

    import numpy as np

    x = np.asarray(x, float)
    n = len(x)
    flat = x.reshape(n, -1)
    if shape is not None and len(shape) == 3 and shape[-1] in (1, 3):
        images = flat.reshape(n, *shape)
        return images[..., 0] if shape[-1] == 1 else np.clip(images, 0, 1)
    side = int(math.isqrt(flat.shape[1]))
    if side >= 4 and side * side == flat.shape[1]:
        return flat.reshape(n, side, side)
    return None


def reconstruction(
    original: Any,
    rebuilt: Any,
    path: Path,
    shape: tuple[int, ...] | None = None,
    feature_names: list[str] | None = None,
    title: str = "",
) -> Path:
    """Autoencoder inputs beside their reconstructions: image pairs, or a few table rows as lines."""
    import numpy as np

    original, rebuilt = np.asarray(original, float), np.asarray(rebuilt, float)
    images_in, images_out = _as_images(original, shape), _as_images(rebuilt, shape)
    errors = np.mean((original.reshape(len(original), -1) - rebuilt.reshape(len(rebuilt), -1)) ** 2, axis=1)
    if images_in is not None and images_out is not None:
        count = min(8, len(images_in))
        fig, axes = _figure(2, count, size=(1.5 * count + 0.6, 3.6))
        cmap = "gray" if images_in.ndim == 3 else None
        for j in range(count):
            for i, (images, label) in enumerate(((images_in, "input"), (images_out, "reconstruction"))):
                ax = axes[i][j]
                low, high = (
                    float(images_in[j].min()),
                    float(images_in[j].max()),
                )  # the input's own range, shared by the pair
                ax.imshow(images[j], cmap=cmap, vmin=low, vmax=high if high > low else low + 1.0)
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(label, fontsize=9)
            axes[1][j].set_xlabel(f"MSE {errors[j]:.3g}", fontsize=7)
        fig.suptitle(
            "Input (top) vs reconstruction (bottom), test split" + (f" — {title}" if title else ""), fontsize=10
        )
        return save(fig, path)
    flat_in, flat_out = original.reshape(len(original), -1), rebuilt.reshape(len(rebuilt), -1)
    count = min(4, len(flat_in))
    fig, axes = _figure(count, 1, size=(9, 2.2 * count + 0.6))
    positions = np.arange(flat_in.shape[1])
    for i in range(count):
        ax = axes[i][0]
        ax.plot(positions, flat_in[i], color="black", marker="o", markersize=3, label="input")
        ax.plot(
            positions, flat_out[i], color="tab:red", marker="x", markersize=4, linestyle="--", label="reconstruction"
        )
        ax.set_ylabel(f"row {i} (scaled)", fontsize=8)
        ax.set_title(f"test row {i}: MSE {errors[i]:.3g}", fontsize=9)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8)
        if feature_names and len(feature_names) == flat_in.shape[1] and len(feature_names) <= 30:
            ax.set_xticks(
                positions,
                feature_names if i == count - 1 else [""] * len(positions),
                rotation=45,
                ha="right",
                fontsize=7,
            )
    axes[-1][0].set_xlabel("feature")
    fig.suptitle("Input vs reconstruction (test split)" + (f" — {title}" if title else ""), fontsize=10)
    return save(fig, path)


def sample_grid(
    samples: Any,
    path: Path,
    shape: tuple[int, ...] | None = None,
    title: str = "Generated samples",
    real: Any = None,
    feature_names: list[str] | None = None,
    labels: list[str] | None = None,
) -> Path:
    """A grid of generated images (titled with `labels`, the classes they were conditioned on, when given), or
    (for table rows) histograms of generated against real values per feature."""
    import math

    import numpy as np

    images = _as_images(samples, shape)
    if images is not None:
        count = min(len(images), 36)
        cols = min(6, count)
        rows = math.ceil(count / cols)
        fig, axes = _figure(rows, cols, size=(1.4 * cols + 0.4, 1.4 * rows + 0.6))
        low, high = float(np.min(images[:count])), float(np.max(images[:count]))
        for k in range(rows * cols):
            ax = axes[k // cols][k % cols]
            ax.set_xticks([])
            ax.set_yticks([])
            if k < count:
                ax.imshow(images[k], cmap="gray" if images.ndim == 3 else None, vmin=low, vmax=high)
                if labels is not None and k < len(labels):
                    ax.set_title(str(labels[k]), fontsize=7)
            else:
                ax.axis("off")
        fig.suptitle(title, fontsize=10)
        return save(fig, path)
    generated = np.asarray(samples, float).reshape(len(samples), -1)
    count = min(4, generated.shape[1])
    fig, axes = _figure(1, count, size=(3.6 * count, 3.4))
    for j in range(count):
        ax = axes[0][j]
        name = feature_names[j] if feature_names and j < len(feature_names) else f"feature {j}"
        if real is not None:
            ax.hist(
                np.asarray(real, float).reshape(len(real), -1)[:, j], bins=20, alpha=0.5, density=True, label="real"
            )
        ax.hist(generated[:, j], bins=20, alpha=0.5, density=True, label="generated")
        ax.set_xlabel(f"{name} (scaled)")
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


GRID_COLUMNS = 10  # image_rows: samples per row (a conditional GAN's grid has one row per class)


def image_rows(images: Any, path: Path, title: str = "", labels: list[Any] | None = None) -> Path:
    """Up to 100 images in rows of GRID_COLUMNS, pixel values in [0, 1] ([n, h, w, 1] or [n, h, w, 3] arrays)."""
    import math

    import numpy as np

    count = min(len(images), 100)
    rows = max(math.ceil(count / GRID_COLUMNS), 1)
    fig, axes = _figure(rows, GRID_COLUMNS, size=(GRID_COLUMNS * 0.9, rows * 0.9 + 0.5))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= count:
            continue
        image = np.clip(images[i], 0.0, 1.0)
        ax.imshow(
            image[..., 0] if image.shape[-1] == 1 else image,
            cmap="gray_r" if image.shape[-1] == 1 else None,
            vmin=0.0,
            vmax=1.0,
        )
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return save(fig, path)


def table(frame: Any, path: Path, title: str = "") -> Path:
    """A DataFrame drawn as a table (numbers to 3 significant digits); callers keep it to a dozen rows."""
    fig, axes = _figure(size=(min(1.2 * len(frame.columns) + 1, 12), 0.32 * len(frame) + 1))
    ax = axes[0][0]
    ax.axis("off")
    cells = [[v if isinstance(v, str) else f"{v:.3g}" for v in row] for row in frame.itertuples(index=False)]
    ax.table(cellText=cells, colLabels=list(frame.columns), loc="center").scale(1, 1.2)
    if title:
        fig.suptitle(title, fontsize=9)
    return save(fig, path)


def robustness_curve(points: list[dict[str, float]], path: Path, space: str, title: str = "") -> Path:
    """The task score (accuracy or MAE) under attack against the attack's epsilon."""
    metric = next(k for k in points[0] if k != "epsilon")
    fig, axes = _figure()
    ax = axes[0][0]
    ax.plot([p["epsilon"] for p in points], [p[metric] for p in points], marker="o")
    ax.set_xlabel(f"epsilon ({space})")
    ax.set_ylabel(f"{metric} under attack")
    if metric == "accuracy":
        ax.set_ylim(0, 1.02)
    ax.set_title(title or "Robustness")
    ax.grid(alpha=0.3)
    return save(fig, path)
