"""The `kproto` command line: parse, call one library function, render.

Commands live in their own modules (`run`, `workflow`, ...) and are imported on first use, so `kproto --help` and
`kproto validate` import neither TensorFlow nor Keras. A new command is a function in a module here plus one entry
in `COMMANDS`.
"""

from __future__ import annotations

import gc
import importlib
from typing import Any

import click

from kproto.cli.common import KprotoGroup

# command name -> "module:attribute" of its click.Command
COMMANDS = {
    "train": "kproto.cli.run:train_command",
    "validate": "kproto.cli.run:validate_command",
    "schema": "kproto.cli.run:schema_command",
    "evaluate": "kproto.cli.run:evaluate_command",
    "explain": "kproto.cli.explain:explain_command",
    "predict": "kproto.cli.run:predict_command",
    "export": "kproto.cli.run:export_command",
    "serve": "kproto.cli.serve:serve_command",
    "runs": "kproto.cli.workflow:runs_command",
    "sweep": "kproto.cli.workflow:sweep_command",
    "plot": "kproto.cli.workflow:plot_command",
    "new": "kproto.cli.workflow:new_command",
    "list": "kproto.cli.workflow:list_command",
    "summary": "kproto.cli.workflow:summary_command",
    "fetch": "kproto.cli.fetch:fetch_command",
    "inspect": "kproto.cli.inspect:inspect_command",
}


class LazyGroup(KprotoGroup):
    """A group whose subcommands are imported from "module:attribute" the first time they are asked for."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            self.add_command(self._load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def _load(self, cmd_name: str) -> click.Command:
        module_name, _, attribute = self.lazy_commands[cmd_name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
        return command


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kproto")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Turn a short YAML recipe into a trained, evaluated, exportable Keras 3 model.

    \b
    kproto train recipes/digits_mlp.yaml
    kproto evaluate runs/digits-mlp/<stamp>
    kproto export runs/digits-mlp/<stamp> --format onnx
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main() -> None:
    """Console-script entry point. When the command is done, every object left is frozen out of the garbage
    collector: the interpreter's last collections at exit would otherwise walk the object graphs of Keras, JAX and
    pandas (about 0.7 s after a training run) only to free memory the process is about to give back. Objects still go
    when their last reference does, and every file kproto writes is closed (and renamed into place) before this."""
    try:
        cli(prog_name="kproto")
    finally:
        gc.freeze()
