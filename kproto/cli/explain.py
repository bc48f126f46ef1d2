"""`kproto explain`: why a run predicts what it does (permutation importance, integrated gradients, occlusion)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kproto.cli.common import BACKEND, TRUST, console, loaded_backend, setup_backend
from kproto.core.catalog import EXPLAIN_METHODS


@click.command("explain")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Explain the raw rows of this file instead of the run's test split.",
)
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    metavar="N",
    help="Rows (images, texts, windows) explained one by one.",
)
@click.option(
    "--method",
    type=click.Choice(EXPLAIN_METHODS),
    default="auto",
    show_default=True,
    help="auto: permutation for tables, integrated gradients for images and windows, occlusion for text.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=None,
    metavar="K",
    help="Integration steps of integrated gradients (default 48), batched so memory stays bounded.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"method", "global": [{feature, importance, spread}]}.')
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for importance.csv, attributions.json and the PNG/HTML files (default: the run's explain/).",
)
@BACKEND
@TRUST
def explain_command(
    path: Path,
    data: Path | None,
    rows: int,
    method: str,
    steps: int | None,
    as_json: bool,
    out: Path | None,
    backend: str | None,
    trust: bool,
) -> None:
    """Explain a run's predictions: global feature importance and per-row attributions, written to explain/."""
    setup_backend(backend or loaded_backend() or "tensorflow", "auto")
    from kproto.explain.targets import explain_any

    with _ProgressBar(enabled=not as_json) as report:
        result = explain_any(path, data, rows=rows, method=method, steps=steps, out=out, trust=trust, progress=report)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    screen = console(wide=True)
    for renderable in result.renderables:
        screen.print(renderable)
    screen.print(f"[dim]method: {result.method}; rows: {result.source}[/]")
    for file in result.files:
        screen.print(f"wrote {file}")


class _ProgressBar:
    """A transient rich progress bar for long explanations; a no-op when disabled (--json)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.bar.start()
        return self.report

    def report(self, description: str, done: int, total: int) -> None:
        if description not in self.tasks:
            self.tasks[description] = self.bar.add_task(description, total=total)
        self.bar.update(self.tasks[description], completed=done, total=total)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
