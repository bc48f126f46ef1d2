"""What every command shares: errors shown with their exit code, the options used by several commands, backend setup.

Imports only click (and kproto.core's errors and catalog) at module level, so that `kproto --help` stays fast.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from kproto.core import catalog
from kproto.core.errors import EXIT_FAILURE, EXIT_INTERRUPTED, KprotoError
from kproto.core.text import clean

if TYPE_CHECKING:
    from kproto.recipe.schema import Recipe

DEVICES = ("auto", "cpu", "gpu")
BACKEND_HELP = "Keras backend (default: the recipe's train.backend, else chosen per family)."
TRUST_HELP = "Load models that contain code (Lambda layers, legacy .h5). Only for files you trust."
SET_HELP = "Override a recipe field (YAML value); repeatable."


class KprotoGroup(click.Group):
    """Turns KprotoError into a message and its exit code, anything else into exit 1 with a --debug hint."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KprotoError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            exc.show()
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            if (ctx.obj or {}).get("debug"):
                raise
            first = clean(str(exc).strip().splitlines()[0]) if str(exc).strip() else ""
            click.echo(f"Unexpected error: {type(exc).__name__}: {first}", err=True)
            click.echo("This is a bug or an unhandled case; rerun with --debug for the traceback.", err=True)
            ctx.exit(EXIT_FAILURE)


def locate(exc: KprotoError, loaded: Any) -> KprotoError:
    """Point a data or build error at the recipe line of the field it names."""
    if exc.field and exc.line is None and loaded is not None and not exc.field.startswith("--"):
        file, line = loaded.source.locate(
            tuple(int(p) if p.isdigit() else p for p in exc.field.replace("[", ".").replace("]", "").split("."))
        )
        if file and not exc.file:
            exc.file, exc.line = file, line
        elif file and line:
            exc.message = f"{exc.message} (recipe {file}, line {line})"
    return exc


def console(wide: bool = False) -> Any:
    """A rich console; `wide` tables get 240 columns when the output is not a terminal (files, pipes, tests)."""
    from rich.console import Console

    made = Console(highlight=False)
    if wide and not made.is_terminal:
        made = Console(highlight=False, width=240)
    return made


def loaded_backend() -> str | None:
    """The backend Keras already runs on in this process (library or test use), if any."""
    keras = sys.modules.get("keras")
    return keras.backend.backend() if keras is not None else None


def setup_backend(backend: str | None, device: str, recipe: Recipe | None = None) -> str:
    """Choose and configure the Keras backend (before Keras is imported); returns its name."""
    from kproto.core.backend import choose_backend, configure

    chosen = choose_backend(backend, recipe)
    configure(chosen, device)
    return chosen


def backend_option(help_text: str = BACKEND_HELP) -> Any:
    """--backend tensorflow|jax|torch (default None: the recipe's or the family's choice)."""
    return click.option("--backend", type=click.Choice(list(catalog.KERAS_BACKENDS)), default=None, help=help_text)


def trust_option(help_text: str = TRUST_HELP) -> Any:
    """--trust: allow models that contain code."""
    return click.option("--trust", is_flag=True, help=help_text)


def set_option(help_text: str = SET_HELP) -> Any:
    """--set FIELD=VALUE, repeatable, into the `overrides` parameter."""
    return click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE", help=help_text)


BACKEND = backend_option()
DEVICE = click.option(
    "--device", type=click.Choice(list(DEVICES)), default="auto", show_default=True, help="Where to run."
)
TRUST = trust_option()
SET = set_option()
