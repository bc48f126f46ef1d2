"""`kproto inspect DATA`: the profile of a data file, before any recipe (no TensorFlow, no Keras)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kproto.cli.common import console


@click.command("inspect")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--target", metavar="COLUMN", help="The column to predict (default: one named label/target/class/y, "
              "else the last usable column).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON (stable keys and warning codes).")
@click.option("--encoding", metavar="NAME", help="The file's text encoding, as data.encoding (default UTF-8).")
def inspect_command(data: Path, target: str | None, as_json: bool, encoding: str | None) -> None:
    """Profile DATA (csv, tsv, parquet, npz): per column its type, role, missing share, distinct values, what
    training will do with it, and warnings. A large file is profiled on a uniform sample."""
    from kproto.data.audit import inspect_file

    profile = inspect_file(data, target, encoding).to_dict()
    if as_json:
        click.echo(json.dumps(profile, indent=1, ensure_ascii=False))
        return
    from kproto.report.profile import profile_view

    console(wide=True).print(profile_view(profile))
