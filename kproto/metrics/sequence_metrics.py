"""Scores of generated token sequences against references: exact match, token error rate, BLEU, and baselines.

Plain Python and NumPy: importable without Keras.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

Tokens = Sequence[str]


def edit_distance(reference: Tokens, hypothesis: Tokens) -> int:
    """Levenshtein distance between two token sequences (insertions, deletions and substitutions cost 1)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_token in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_token in enumerate(hypothesis, start=1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (ref_token != hyp_token),
            )
        previous = current
    return previous[-1]


def token_error_rate(references: Sequence[Tokens], hypotheses: Sequence[Tokens]) -> float:
    """Total edit distance over all pairs divided by the total reference length (like a word error rate)."""
    _check_lengths(references, hypotheses)
    total = sum(len(r) for r in references)
    errors = sum(edit_distance(r, h) for r, h in zip(references, hypotheses))
    return float(errors / total) if total else float(bool(errors))


def exact_match(references: Sequence[Tokens], hypotheses: Sequence[Tokens]) -> float:
    """Share of hypotheses identical to their reference."""
    _check_lengths(references, hypotheses)
    if not references:
        return 0.0
    return float(sum(list(r) == list(h) for r, h in zip(references, hypotheses)) / len(references))


def _ngrams(tokens: Tokens, n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu(references: Sequence[Tokens], hypotheses: Sequence[Tokens], max_order: int = 4, smooth: bool = True) -> float:
    """Corpus BLEU (Papineni et al. 2002) with one reference per hypothesis, in [0, 1].

    Clipped n-gram precisions of orders 1..max_order, their geometric mean, times the brevity penalty;
    `smooth` adds one to the counts of orders above 1 (Lin and Och 2004) so short corpora do not score 0.
    """
    _check_lengths(references, hypotheses)
    matches = [0] * max_order
    possible = [0] * max_order
    ref_length = hyp_length = 0
    for reference, hypothesis in zip(references, hypotheses):
        ref_length += len(reference)
        hyp_length += len(hypothesis)
        for n in range(1, max_order + 1):
            hyp_counts = _ngrams(hypothesis, n)
            ref_counts = _ngrams(reference, n)
            matches[n - 1] += sum(min(count, ref_counts[gram]) for gram, count in hyp_counts.items())
            possible[n - 1] += max(len(hypothesis) - n + 1, 0)
    if hyp_length == 0:
        return 0.0
    log_precision = 0.0
    for n in range(max_order):
        numerator, denominator = matches[n], possible[n]
        if smooth and n > 0:
            numerator, denominator = numerator + 1, denominator + 1
        if numerator == 0 or denominator == 0:
            return 0.0
        log_precision += math.log(numerator / denominator) / max_order
    brevity = 1.0 if hyp_length > ref_length else math.exp(1 - ref_length / hyp_length)
    return float(brevity * math.exp(log_precision))


def sequence_report(references: Sequence[Tokens], hypotheses: Sequence[Tokens], word_targets: bool) -> dict[str, float]:
    """exact_match and token_error_rate, plus BLEU when the target tokens are words."""
    report = {
        "exact_match": exact_match(references, hypotheses),
        "token_error_rate": token_error_rate(references, hypotheses),
    }
    if word_targets:
        report["bleu"] = bleu(references, hypotheses)
    return report


def most_frequent_output(train_targets: Sequence[Tokens]) -> list[str]:
    """The training split's most frequent target sequence (ties: the one seen first)."""
    counts = Counter(tuple(t) for t in train_targets)
    if not counts:
        return []
    return list(counts.most_common(1)[0][0])


def baseline_report(
    sources: Sequence[Tokens],
    references: Sequence[Tokens],
    train_targets: Sequence[Tokens],
    word_targets: bool,
) -> dict[str, float]:
    """Scores of two answers that need no model: copying the input, and always the most frequent output."""
    frequent = most_frequent_output(train_targets)
    baselines: dict[str, float] = {}
    for name, hypotheses in (("copy_input", list(sources)), ("most_frequent", [frequent] * len(references))):
        for metric, value in sequence_report(references, hypotheses, word_targets).items():
            baselines[f"{name}_{metric}"] = value
    return baselines


def _check_lengths(references: Sequence[Tokens], hypotheses: Sequence[Tokens]) -> None:
    if len(references) != len(hypotheses):
        raise ValueError(f"expected as many hypotheses as references; received {len(hypotheses)} and {len(references)}")
