"""Rich renderables of a data profile (`kproto inspect`, `kproto validate`): a table per column and the warnings.

They read the plain dict `Audit.to_dict()` gives, so nothing here imports pandas.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

ROLE_STYLES = {
    "identifier": "red",
    "constant": "red",
    "target": "bold cyan",
    "datetime": "magenta",
    "text": "blue",
    "image": "blue",
}


def profile_table(profile: dict[str, Any], title: str | None = None) -> Table:
    """One row per column: type, role, missing share, distinct values, an example, what training does, warnings."""
    rows = profile["rows"]
    sampled = profile.get("sampled_rows")
    heading = title or f"{rows} rows" + (f" (profiled on a uniform sample of {sampled})" if sampled else "")
    table = Table(title=heading, title_justify="left", header_style="bold")
    for name, justify in (
        ("column", "left"),
        ("type", "left"),
        ("role", "left"),
        ("missing", "right"),
        ("distinct", "right"),
        ("example", "left"),
        ("training", "left"),
        ("warnings", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")
    for column in profile["columns"]:
        role = column["role"]
        table.add_row(
            column["name"],
            column["dtype"],
            Text(role, style=ROLE_STYLES.get(role, "")),
            f"{column['missing']:.1%}",
            str(column["unique"]),
            column["example"] if column["example"] is not None else "",
            column["action"],
            ", ".join(w["code"] for w in column["warnings"]),
        )
    return table


def target_line(profile: dict[str, Any]) -> str:
    """What the target looks like: its task and classes (largest first) or its range."""
    target = profile.get("target")
    if not target:
        return "target: none chosen (give --target COLUMN)"
    text = f"target: {target['name']} → {target['task']}"
    if "classes" in target:
        shown = list(target["classes"].items())[:8]
        distinct = target.get("distinct", len(target["classes"]))
        text += f", {distinct} classes (rows per class: " + ", ".join(f"{k} {v}" for k, v in shown)
        text += (", ..." if distinct > len(shown) else "") + ")"
    elif target.get("mean") is not None:
        text += (
            f", mean {target['mean']:.4g}, std {target['std']:.4g}, range {target['min']:.4g} to {target['max']:.4g}"
        )
    return text


def warning_lines(profile: dict[str, Any]) -> list[str]:
    """Each warning as one line: `[code] column: message`."""
    return [
        f"[{w['code']}]" + (f" {w['column']}" if w.get("column") else "") + f": {w['message']}"
        for w in profile["warnings"]
    ]


def profile_view(profile: dict[str, Any]) -> Group:
    """The whole profile: the target, the column table and the warnings."""
    parts: list[Any] = [Text(target_line(profile)), profile_table(profile)]
    lines = warning_lines(profile)
    if lines:
        parts.append(Text(f"{len(lines)} warning(s):", style="bold yellow"))
        parts += [Text(line, style="yellow") for line in lines]
    else:
        parts.append(Text("no warnings", style="green"))
    return Group(*parts)
