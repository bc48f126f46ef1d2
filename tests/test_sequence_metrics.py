"""Exact match, token error rate, BLEU and the sequence baselines, on hand-checked cases."""

from __future__ import annotations

import math

import pytest

from kproto.metrics.sequence_metrics import (
    baseline_report,
    bleu,
    edit_distance,
    exact_match,
    most_frequent_output,
    sequence_report,
    token_error_rate,
)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "distance"),
    [
        ("", "", 0),
        ("abc", "abc", 0),
        ("abc", "", 3),
        ("", "ab", 2),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("abcd", "acbd", 2),
    ],
)
def test_edit_distance(reference: str, hypothesis: str, distance: int) -> None:
    assert edit_distance(list(reference), list(hypothesis)) == distance
    assert edit_distance(list(hypothesis), list(reference)) == distance


def test_token_error_rate_is_total_edits_over_reference_length() -> None:
    references = [["K", "AE1", "T"], ["D", "AO1", "G"]]
    hypotheses = [["K", "AE1", "T"], ["D", "AO1"]]
    assert token_error_rate(references, hypotheses) == pytest.approx(1 / 6)
    assert token_error_rate(references, references) == 0.0
    assert token_error_rate([["a"]], [["b", "c", "d"]]) == pytest.approx(3.0)  # insertions can exceed 1


def test_exact_match() -> None:
    assert exact_match([["a", "b"], ["c"]], [["a", "b"], ["d"]]) == 0.5
    assert exact_match([], []) == 0.0


def test_bleu_perfect_and_disjoint() -> None:
    sentences = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "ran", "in", "the", "park"]]
    assert bleu(sentences, sentences) == pytest.approx(1.0)
    assert bleu(sentences, [["x", "y", "z", "w", "v", "u"]] * 2) == 0.0
    assert bleu(sentences, [[], []]) == 0.0


def test_bleu_unsmoothed_matches_hand_computation() -> None:
    reference = [["the", "cat", "is", "on", "the", "mat"]]
    hypothesis = [["the", "cat", "the", "mat"]]
    # clipped precisions: 1-grams 4/4, 2-grams 2/3 (the cat, the mat), no 3- or 4-grams in common
    assert bleu(reference, hypothesis, max_order=2, smooth=False) == pytest.approx(
        math.exp(1 - 6 / 4) * math.sqrt(1.0 * 2 / 3)
    )
    assert bleu(reference, hypothesis, smooth=False) == 0.0
    assert 0.0 < bleu(reference, hypothesis, smooth=True) < 1.0


def test_bleu_clips_repeated_words() -> None:
    reference = [["the", "cat", "sat"]]
    assert bleu(reference, [["the", "the", "the"]], max_order=1, smooth=False) == pytest.approx(1 / 3)


def test_report_has_bleu_only_for_word_targets() -> None:
    refs, hyps = [["a", "b"]], [["a", "b"]]
    assert set(sequence_report(refs, hyps, word_targets=True)) == {"exact_match", "token_error_rate", "bleu"}
    assert set(sequence_report(refs, hyps, word_targets=False)) == {"exact_match", "token_error_rate"}


def test_baselines_copy_input_and_most_frequent() -> None:
    train = [["x"], ["y", "z"], ["y", "z"]]
    assert most_frequent_output(train) == ["y", "z"]
    assert most_frequent_output([]) == []
    sources = [["a", "b"], ["c"]]
    references = [["a", "b"], ["y", "z"]]
    report = baseline_report(sources, references, train, word_targets=False)
    assert report["copy_input_exact_match"] == 0.5
    assert report["copy_input_token_error_rate"] == pytest.approx(2 / 4)
    assert report["most_frequent_exact_match"] == 0.5
    assert report["most_frequent_token_error_rate"] == pytest.approx(2 / 4)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="as many hypotheses"):
        token_error_rate([["a"]], [])
