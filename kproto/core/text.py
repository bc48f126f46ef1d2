"""Untrusted text (from data files, run folders, recipe values) made safe to print on a terminal.

Two rules, applied wherever kproto shows such text: control characters (ESC, BEL, carriage returns, the C1 range,
...) are shown as escapes such as `\\x1b` so that no terminal sequence reaches the screen, and a value longer than
`limit` characters is cut, saying how much was left out. `no_markup` also escapes Rich markup (`[bold red]`) for
text printed through a Rich console. `listed` names at most a few items of a long list and counts the rest.
"""

from __future__ import annotations

import re

LIMIT = 300  # characters of one untrusted value in a message
LINE_LIMIT = 2000  # characters of one line of an error message

# C0 controls except tab and newline, DEL, the C1 range, and the Unicode bidirectional overrides (which reorder
# what a terminal shows).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shorten(text: str, limit: int = LIMIT) -> str:
    """`text` cut to `limit` characters, with the number of characters left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def listed(items: list[str], limit: int) -> str:
    """`items` joined by commas, at most `limit` of them named, then how many more: "a, b, … and 3 more"."""
    more = f", … and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def clean(value: object, limit: int | None = LIMIT, newlines: bool = False) -> str:
    """`value` as text with control characters escaped (newlines too unless `newlines`), cut to `limit`."""
    text = str(value)
    if limit is not None:
        text = shorten(text, limit)
    text = _CONTROL.sub(_escape, text)
    if not newlines:
        text = text.replace("\n", "\\n").replace("\t", "\\t")
    return text


def clean_message(text: str) -> str:
    """An error message: control characters escaped, line breaks kept, each line cut to LINE_LIMIT."""
    return "\n".join(clean(line, LINE_LIMIT, newlines=True) for line in str(text).split("\n"))


def no_markup(value: object, limit: int | None = LIMIT) -> str:
    """`clean(value)` with Rich markup escaped, for a string that a Rich console prints."""
    from rich.markup import escape

    return escape(clean(value, limit))
