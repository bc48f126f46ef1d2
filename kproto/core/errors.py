"""The kproto error family, and the exit codes of the CLI.

Like Click's ClickException, every error knows its exit code and how to show itself: the CLI calls `show()` and exits
with `exit_code`, and nothing else renders an error.
"""

from __future__ import annotations

from typing import IO

from kproto.core.text import LINE_LIMIT, clean, clean_message

# One exit code per meaning.
EXIT_OK = 0
EXIT_FAILURE = 1  # an unexpected error (a bug or an unhandled case), a diverged training, a failed export
EXIT_USAGE = 2  # the recipe, the data, a run folder or the command line is wrong: a KprotoError the user can fix
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C (the shell's 128 + SIGINT)
EXIT_TERMINATED = 143  # stopped by SIGTERM (128 + SIGTERM)


class KprotoError(Exception):
    """A problem with the user's input: shown without a traceback, exit code EXIT_USAGE."""

    exit_code = EXIT_USAGE
    title = "Error"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        message = clean_message(message)  # values from files and recipes: no terminal sequences, no 1 MB lines
        super().__init__(message)
        self.message = message
        self.file = None if file is None else clean(file, LINE_LIMIT)
        self.line = line
        self.field = None if field is None else clean(field)
        self.hint = None if hint is None else clean_message(hint)

    def where(self) -> str:
        """'recipe.yaml, line 4, field model.units' (the parts that are known)."""
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.line:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def heading(self) -> str:
        """'Recipe error in recipe.yaml, line 4, field 'model.units':' (the title and where it is)."""
        where = self.where()
        return f"{self.title}" + (f" in {where}" if where else "") + ":"

    def format_message(self) -> str:
        """The message, then the hint, each line indented under the heading."""
        lines = [f"  {line}" for line in self.message.splitlines()]
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        return "\n".join(lines)

    def show(self, file: IO[str] | None = None) -> None:
        """Print the heading (in red where the terminal has colour) and the message on stderr or `file`."""
        import click

        click.secho(self.heading(), fg="red", bold=True, err=True, file=file)
        click.echo(self.format_message(), err=True, file=file)

    def __str__(self) -> str:
        text = self.message
        where = self.where()
        if where:
            text = f"{where}: {text}"
        if self.hint:
            text += f"\n  Hint: {self.hint}"
        return text


class RecipeError(KprotoError):
    """The recipe is malformed, has an unknown key, a wrong type or an unknown name."""

    title = "Recipe error"


class DataError(KprotoError):
    """The data file is missing, unreadable or does not fit the recipe."""

    title = "Data error"


class ModelFileError(KprotoError):
    """A model file or run directory is missing, corrupt or refused as unsafe."""

    title = "Model error"


class RunError(KprotoError):
    """The run directory cannot be created, written or resumed."""

    title = "Run error"


class CodeNotAllowedError(KprotoError):
    """The recipe asks to run user Python code without --allow-code."""

    title = "Code not allowed"


class ExportError(KprotoError):
    """An export failed or its outputs disagree with the Keras model."""

    title = "Export error"
    exit_code = EXIT_FAILURE


class TrainingDiverged(KprotoError):
    """The loss became NaN or infinite."""

    title = "Training diverged"
    exit_code = EXIT_FAILURE


class TrainingInterrupted(KprotoError):
    """Training was stopped by SIGINT or SIGTERM after saving a checkpoint."""

    title = "Interrupted"

    def __init__(self, message: str, *, signal_name: str = "SIGINT", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = EXIT_TERMINATED if signal_name == "SIGTERM" else EXIT_INTERRUPTED


def suggest(received: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest choice to a misspelt name, or None."""
    import difflib

    matches = difflib.get_close_matches(str(received), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def not_one_of(received: object, choices: list[str] | tuple[str, ...]) -> str:
    """Click's wording for a bad choice, plus a 'did you mean'."""
    listed = ", ".join(f"'{c}'" for c in choices)
    text = f"'{received}' is not one of {listed}."
    guess = suggest(str(received), choices)
    if guess:
        text += f" Did you mean '{guess}'?"
    return text
