"""kproto.core.text: untrusted text shown on a terminal: control sequences escaped, Rich markup escaped, long
values cut; KprotoError applies it to every message."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kproto.core.errors import DataError
from kproto.core.text import clean, clean_message, no_markup, shorten

HOSTILE = {
    "OSC title + clear": ("\x1b]0;pwned\x07\x1b[2J", "\\x1b]0;pwned\\x07\\x1b[2J"),
    "carriage return": ("ok\rEVIL", "ok\\x0dEVIL"),
    "C1 CSI": ("a\x9b31mb", "a\\x9b31mb"),
    "bidi override": ("abc\u202edef", "abc\\u202edef"),
    "newline in a value": ("a\nb", "a\\nb"),
    "plain text": ("accuracy 0.93 (test split)", "accuracy 0.93 (test split)"),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_clean_escapes_control_characters(case: str) -> None:
    raw, shown = HOSTILE[case]
    assert clean(raw) == shown


def test_long_values_are_cut_saying_how_much() -> None:
    assert shorten("x" * 1_000_000, 10) == "x" * 10 + "… (999,990 more characters)"
    assert len(clean("y" * 1_000_000)) < 400


def test_messages_keep_their_lines_but_not_their_sequences() -> None:
    error = DataError("first \x1b[31mred\nsecond " + "z" * 1_000_000, hint="\x07 ring", field="data.\x1btarget")
    assert error.message.splitlines()[0] == "first \\x1b[31mred"
    assert len(error.message) < 3000 and "more characters" in error.message
    assert "\x07" not in (error.hint or "") and "\x1b" not in (error.field or "")
    assert clean_message("a\nb") == "a\nb"


def test_no_markup_prints_markup_as_text() -> None:
    buffer = io.StringIO()
    Console(file=buffer, width=100, color_system=None).print(no_markup("[bold red]alarm[/] \x1b[2J"))
    assert buffer.getvalue().strip() == "[bold red]alarm[/] \\x1b[2J"


def test_the_training_header_shows_file_names_as_text() -> None:
    from kproto.report.tables import header_panel

    buffer = io.StringIO()
    Console(file=buffer, width=100, color_system=None).print(
        header_panel({"recipe": "r", "data": "[link=file:///etc]x[/link] \x1b]0;t\x07.csv: 5 train"})
    )
    shown = buffer.getvalue()
    assert "[link=file:///etc]x[/link]" in shown and "\x1b" not in shown and "\\x1b]0;t\\x07" in shown
