"""kproto.report.tables: the baselines beside the model, the verdict in words and the decisions, as printed."""

from __future__ import annotations

import io

from rich.console import Console

from kproto.metrics.verdict import verdict
from kproto.report.tables import (
    baselines_table,
    decisions_summary,
    legend_text,
    per_class_table,
    splits_legend,
    verdict_text,
)


def render(renderable: object) -> str:
    screen = Console(file=io.StringIO(), width=120, color_system=None)
    screen.print(renderable)
    return screen.file.getvalue()


def flat(text: str) -> str:
    """The text with its line breaks and padding folded into single spaces (titles wrap to the table's width)."""
    return " ".join(text.split())


def test_baselines_table_puts_the_model_first_and_says_what_was_left_out() -> None:
    info = {
        "split": "test",
        "rows": 668,
        "sampled": {"linear": 5000},
        "stopped": {"gradient_boosting": "30 of 100 boosting iterations within its 1.0 s budget"},
        "failed": {"tfidf_linear": "MemoryError: no room"},
    }
    baselines = {"majority": {"accuracy": 0.72}, "gradient_boosting": {"accuracy": 0.80, "auc": 0.83}}
    text = render(baselines_table(baselines, info, {"accuracy": 0.79, "auc": 0.84, "loss": 0.4}))
    assert "Baselines on the 668 test rows (fitted on the training split)" in flat(text)
    lines = [line for line in text.splitlines() if "0." in line]
    assert "this model" in lines[0] and "0.7900" in lines[0] and "0.8400" in lines[0]
    assert "loss" not in text  # only the metrics baselines have
    assert "linear: fitted on a sample of 5000 training rows" in flat(text)
    assert "30 of 100 boosting iterations" in flat(text) and "tfidf linear failed: MemoryError" in flat(text)


def test_old_flat_baselines_still_print() -> None:
    assert "majority class accuracy" in render(baselines_table({"majority_class_accuracy": 0.7}))


def test_verdict_text_warns_when_a_baseline_wins() -> None:
    lost = verdict("accuracy", 0.937, {"gradient_boosting": {"accuracy": 0.978}})
    won = verdict("accuracy", 0.99, {"gradient_boosting": {"accuracy": 0.978}})
    assert verdict_text(lost).startswith("[bold yellow]Verdict: a baseline wins.[/]")
    assert "gradient boosting reaches 0.978 accuracy on the same test rows; this model 0.937" in verdict_text(lost)
    assert verdict_text(won).startswith("[green]Verdict:[/]") and "beats every baseline" in verdict_text(won)
    assert verdict_text(None) == ""


def test_decisions_summary_labels_validation_choices_with_their_test_effect() -> None:
    metrics = {
        "positive_class": "yes",
        "threshold": {
            "value": 0.32,
            "metric": "f1",
            "chosen_on": "validation",
            "test_at_0.5": 0.6,
            "test_at_threshold": 0.7,
        },
        "calibration": {
            "method": "temperature",
            "temperature": 1.4,
            "ece_before": 0.03,
            "ece_after": 0.05,
            "chosen_on": "validation",
        },
    }
    text = render(decisions_summary(metrics))
    assert "0.32 on p(yes) (chosen on validation)" in text
    assert "f1 0.6000 at 0.5 → 0.7000" in text
    assert "temperature 1.400 (chosen on validation)" in text and "ECE 0.0300 → 0.0500 (worse)" in text
    assert decisions_summary({"calibration": {"method": "none"}}) is None


def test_per_class_table_says_where_it_decides_and_legend_lines() -> None:
    report = {
        "classes": ["no", "yes"],
        "threshold": 0.3,
        "macro_f1": 0.5,
        "per_class": {
            "no": {"precision": 1, "recall": 1, "f1": 1, "support": 3},
            "yes": {"precision": 0, "recall": 0, "f1": 0, "support": 1},
        },
    }
    assert "(fresh.csv, decided at threshold 0.3 on p(yes))" in flat(render(per_class_table(report, "fresh.csv")))
    assert legend_text(["auc", "loss"], {"auc": "ROC AUC of the positive class 'yes'"}) == (
        "[dim]auc: ROC AUC of the positive class 'yes'[/]"
    )


def test_names_from_a_run_folder_reach_the_terminal_escaped() -> None:
    hostile = {"evil\x1b]0;title\x07[bold red]": {"accuracy": 0.5}}
    shown = render(baselines_table(hostile, {"note": "see \x1b[2J[red]here[/]"}, {"accuracy": 0.6}))
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b" in shown and "[bold red]" in shown and "[red]here[/]" in flat(shown)
    words = render(verdict_text({"model_wins": False, "message": "gradient\x1b[2J [blink]boosting[/] wins"}))
    assert "\x1b" not in words and "[blink]boosting[/]" in words


def test_reporters_say_whether_they_show_progress() -> None:
    """Training waits for each chunk of steps only where a progress bar is drawn: live, on a terminal."""
    from kproto.commands.tracking import TrackingReporter
    from kproto.report.tables import Reporter, RichReporter

    assert Reporter().shows_progress is False
    piped = RichReporter(Console(file=io.StringIO()))
    terminal = RichReporter(Console(file=io.StringIO(), force_terminal=True))
    assert (piped.shows_progress, terminal.shows_progress) == (False, True)
    assert TrackingReporter(terminal, []).shows_progress is True
    assert TrackingReporter(piped, []).shows_progress is False


def test_the_validation_column_is_qualified_when_its_rows_chose_something() -> None:
    scores = {"train": {"accuracy": 0.9}, "validation": {"accuracy": 0.85}, "test": {"accuracy": 0.8}}
    line = splits_legend({**scores, "validation_used_for": ["the epoch kept", "the calibration", "the threshold"]})
    assert line.startswith("[dim]validation: these rows also chose the epoch kept, the calibration and the threshold")
    assert "held out from every choice" in line
    assert splits_legend({**scores, "validation_used_for": ["the epoch kept"]}).count("the epoch kept") == 1
    assert splits_legend(scores) == ""  # a run from before the key, or whose validation rows chose nothing
    assert splits_legend({**scores, "test": {}, "validation_used_for": ["the epoch kept"]}) == ""
    assert "chose \\[bold]x," in splits_legend({**scores, "validation_used_for": ["[bold]x"]})  # read back: escaped
