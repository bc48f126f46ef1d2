"""How explanations look: rich tables and coloured tokens for the terminal, PNG heat maps and plots, an HTML page."""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import numpy as np


def importance_table(rows: list[dict[str, Any]], title: str, value_name: str = "importance", limit: int = 25) -> Any:
    """A rich Table of features, most important first, with a bar for the size of each value."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("feature")
    table.add_column(value_name, justify="right")
    table.add_column("spread", justify="right", style="dim")
    table.add_column("", no_wrap=True)
    largest = max((abs(r["importance"]) for r in rows), default=0.0) or 1.0
    for n, row in enumerate(rows[:limit], start=1):
        bar = "█" * max(0, round(12 * abs(row["importance"]) / largest))
        style = "red" if row["importance"] < 0 else "green"
        table.add_row(
            str(n), str(row["feature"]), f"{row['importance']:.4g}", f"{row['spread']:.2g}", f"[{style}]{bar}[/]"
        )
    if len(rows) > limit:
        table.caption = f"{len(rows) - limit} more in the files written"
    return table


def row_attributions_table(names: list[str], attributions: np.ndarray, labels: list[str], limit: int = 8) -> Any:
    """Attributions of a few rows on the original columns: one column per row, features by mean |attribution|."""
    from rich.table import Table

    order = np.argsort(-np.abs(attributions).mean(axis=0))
    table = Table(title="Integrated gradients per row (original columns)", title_justify="left")
    table.add_column("feature")
    for label in labels[:limit]:
        table.add_column(label, justify="right")
    for i in order[:20]:
        cells = []
        for value in attributions[: len(labels[:limit]), i]:
            style = "green" if value > 0 else "red" if value < 0 else "dim"
            cells.append(f"[{style}]{value:+.3g}[/]")
        table.add_row(names[i], *cells)
    return table


def coloured_tokens(tokens: list[str], scores: np.ndarray) -> Any:
    """A rich Text: tokens that raised the explained output in green, lowered it in red, by strength."""
    from rich.text import Text

    text = Text()
    largest = float(np.max(np.abs(scores))) if len(scores) else 0.0
    for token, value in zip(tokens, scores):
        strength = abs(float(value)) / largest if largest else 0.0
        level = int(80 + 175 * strength)
        colour = f"rgb(0,{level},0)" if value > 0 else f"rgb({level},0,0)"
        style = f"bold {colour}" if strength > 0.25 else ("dim" if strength < 0.05 else colour)
        text.append(token, style=style)
        text.append(" ")
    return text


def tokens_html(rows: list[dict[str, Any]], title: str) -> str:
    """An HTML page with each explained text, tokens shaded by attribution (green up, red down)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.9}"
        "span.t{padding:2px 3px;border-radius:3px}p.m{color:#555}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p class='m'>Green tokens raised the probability of the explained class, red tokens lowered it.</p>",
    ]
    for row in rows:
        scores = np.asarray(row["scores"], np.float64)
        largest = float(np.max(np.abs(scores))) if len(scores) else 0.0
        parts.append(
            f"<h3>predicted {html.escape(str(row['predicted']))}"
            + (f", true {html.escape(str(row['true']))}" if row.get("true") is not None else "")
            + "</h3><p>"
        )
        for token, value in zip(row["tokens"], scores):
            alpha = abs(value) / largest if largest else 0.0
            rgb = "0,160,0" if value > 0 else "210,0,0"
            parts.append(
                f"<span class='t' style='background:rgba({rgb},{alpha:.2f})' title='{value:+.4f}'>"
                f"{html.escape(token)}</span> "
            )
        parts.append("</p>")
    parts.append("</body></html>")
    return "".join(parts)


def _figure(rows: int, cols: int, size: tuple[float, float]) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=size, squeeze=False)


def png_bytes(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def heat_maps(images: np.ndarray, heat: np.ndarray, captions: list[str], title: str, per_line: int = 8) -> bytes:
    """PNG: each image above its attribution heat map (red positive, blue negative), captioned, `per_line` a line."""
    count = len(images)
    columns = min(count, per_line)
    lines = -(-count // columns)
    fig, axes = _figure(2 * lines, columns, size=(1.9 * columns + 0.6, 4.4 * lines))
    for ax in axes.flat:
        ax.set_axis_off()
    for i in range(count):
        top, bottom = axes[2 * (i // columns)][i % columns], axes[2 * (i // columns) + 1][i % columns]
        image = images[i][..., 0] if images[i].shape[-1] == 1 else images[i]
        top.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        top.set_title(captions[i], fontsize=8)
        limit = float(np.max(np.abs(heat[i]))) or 1.0
        bottom.imshow(heat[i], cmap="bwr", vmin=-limit, vmax=limit)
    fig.suptitle(title, fontsize=10)
    return png_bytes(fig)


def window_plot(attributions: np.ndarray, feature_names: list[str], title: str) -> bytes:
    """PNG: mean |attribution| per time step and feature of the window (a heat map) and per step (a line)."""
    magnitude = np.abs(attributions).mean(axis=0)  # (steps, features)
    fig, axes = _figure(2, 1, size=(7.5, 5.2))
    limit = float(magnitude.max()) or 1.0
    axes[0][0].imshow(magnitude.T, aspect="auto", cmap="viridis", vmin=0, vmax=limit, interpolation="nearest")
    axes[0][0].set_yticks(range(len(feature_names)), feature_names)
    axes[0][0].set_title(title, fontsize=10)
    axes[1][0].plot(np.arange(1, magnitude.shape[0] + 1), magnitude.sum(axis=1), marker="o", markersize=3)
    axes[1][0].set_xlabel("time step in the window (the last one is the most recent)")
    axes[1][0].set_ylabel("mean |attribution|")
    axes[1][0].grid(alpha=0.3)
    return png_bytes(fig)


def write_file(path: Path, data: bytes | str) -> Path:
    """Write bytes or text atomically."""
    from kproto.runs.store import atomic_write_bytes

    atomic_write_bytes(Path(path), data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)
