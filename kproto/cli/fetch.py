"""`kproto fetch`: download a named backbone on a connected machine into a folder `model.source` accepts offline."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("fetch")
@click.argument("source")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write: a local KerasHub preset, or NAME.weights.h5 for a Keras Applications name.",
)
def fetch_command(source: str, out: Path) -> None:
    """Download SOURCE (a KerasHub preset name or handle, or a Keras Applications name) into --out.

    \b
    kproto fetch bert_tiny_en_uncased --out presets/bert-tiny     # then model.source: presets/bert-tiny
    kproto fetch mobilenet_v3_small --out weights/                # then model.weights: weights/mobilenet_v3_small.weights.h5
    """
    from kproto.models.backbones import fetch

    written = fetch(source, out)
    click.echo(f"wrote {written['written']}")
    click.echo(f"use it with: {written['use']}")
