"""kproto.core.errors: every error shows itself and knows its exit code."""

from __future__ import annotations

import io

import pytest

from kproto.core import errors
from kproto.core.errors import (
    DataError,
    ExportError,
    KprotoError,
    RecipeError,
    TrainingDiverged,
    TrainingInterrupted,
    not_one_of,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RecipeError("bad"), errors.EXIT_USAGE),
        (DataError("bad"), errors.EXIT_USAGE),
        (ExportError("bad"), errors.EXIT_FAILURE),
        (TrainingDiverged("nan"), errors.EXIT_FAILURE),
        (TrainingInterrupted("stopped"), errors.EXIT_INTERRUPTED),
        (TrainingInterrupted("stopped", signal_name="SIGTERM"), errors.EXIT_TERMINATED),
    ],
)
def test_each_error_knows_its_exit_code(error: KprotoError, code: int) -> None:
    assert error.exit_code == code


def test_an_error_shows_its_title_place_message_and_hint() -> None:
    error = RecipeError(
        "expected a number\ngot 'ten'", file="recipe.yaml", line=4, field="model.units", hint="write 10"
    )
    out = io.StringIO()
    error.show(file=out)
    assert out.getvalue().splitlines() == [
        "Recipe error in recipe.yaml, line 4, field 'model.units':",
        "  expected a number",
        "  got 'ten'",
        "  Hint: write 10",
    ]
    assert str(error).startswith("recipe.yaml, line 4, field 'model.units': expected a number")


def test_not_one_of_suggests_the_closest_choice() -> None:
    assert not_one_of("adma", ["adam", "sgd"]) == "'adma' is not one of 'adam', 'sgd'. Did you mean 'adam'?"
