"""Generating target sequences from a trained encoder–decoder: greedy search and beam search.

The model maps packed inputs [source ids | decoder ids] to next-token probabilities at every decoder position;
it is causal over the decoder part, so a prefix padded with zeros gives the same probabilities as the prefix
alone. `next_token_probabilities` is any function with that contract (a Keras model's predict, or a test stub).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kproto.core.options import DecodingOptions
from kproto.data.pairs import END_ID, PAD_ID, START_ID, PairEncoder

Predict = Callable[[np.ndarray], np.ndarray]  # [N, S + T] int32 → [N, T, V] probabilities
LENGTH_PENALTY = 0.6  # beam candidates are ranked by log-probability / length ** LENGTH_PENALTY (Wu et al. 2016)


def greedy_decode(
    predict: Predict, sources: np.ndarray, target_length: int, max_length: int | None = None
) -> np.ndarray:
    """[N, steps] ids: at each step the most probable next token, until [END] or `max_length` tokens."""
    steps = min(max_length or target_length, target_length)
    count = len(sources)
    decoder = np.zeros((count, target_length), dtype=np.int32)
    decoder[:, 0] = START_ID
    output = np.zeros((count, steps), dtype=np.int32)
    active = np.arange(count)
    for step in range(steps):
        if len(active) == 0:
            break
        probabilities = predict(np.concatenate([sources[active], decoder[active]], axis=1))
        chosen = np.asarray(probabilities)[:, step, :].argmax(axis=-1).astype(np.int32)
        output[active, step] = chosen
        if step + 1 < target_length:
            decoder[active, step + 1] = chosen
        active = active[chosen != END_ID]
    return output


def beam_decode(
    predict: Predict, sources: np.ndarray, target_length: int, beam: int, max_length: int | None = None
) -> np.ndarray:
    """[N, steps] ids of the best of `beam` hypotheses kept per row (length-normalized log-probability)."""
    if beam <= 1:
        return greedy_decode(predict, sources, target_length, max_length)
    steps = min(max_length or target_length, target_length)
    count = len(sources)
    flat_sources = np.repeat(sources, beam, axis=0)
    decoder = np.zeros((count * beam, target_length), dtype=np.int32)
    decoder[:, 0] = START_ID
    tokens = np.zeros((count * beam, steps), dtype=np.int32)
    scores = np.full((count, beam), -np.inf)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    finished = np.zeros(count * beam, dtype=bool)
    lengths = np.zeros(count * beam, dtype=np.int64)
    for step in range(steps):
        if finished.all():
            break
        probabilities = np.asarray(predict(np.concatenate([flat_sources, decoder], axis=1)))[:, step, :]
        vocabulary = probabilities.shape[-1]
        log_p = np.log(np.maximum(probabilities, 1e-12))
        log_p[:, PAD_ID] = log_p[:, START_ID] = -np.inf
        # a finished hypothesis continues with padding only, at no cost
        log_p[finished] = -np.inf
        log_p[finished, PAD_ID] = 0.0
        candidates = (scores.reshape(-1, 1) + log_p).reshape(count, beam * vocabulary)
        best = np.argsort(-candidates, axis=1, kind="stable")[:, :beam]
        parent = best // vocabulary
        chosen = (best % vocabulary).astype(np.int32)
        rows = (np.arange(count)[:, None] * beam + parent).reshape(-1)
        scores = np.take_along_axis(candidates, best, axis=1)
        tokens, decoder = tokens[rows], decoder[rows]
        finished, lengths = finished[rows], lengths[rows]
        flat_chosen = chosen.reshape(-1)
        tokens[:, step] = np.where(finished, PAD_ID, flat_chosen)
        lengths = lengths + ~finished
        if step + 1 < target_length:
            decoder[:, step + 1] = np.where(finished, PAD_ID, flat_chosen)
        finished = finished | (flat_chosen == END_ID)
    normalized = scores / np.maximum(lengths.reshape(count, beam), 1) ** LENGTH_PENALTY
    pick = np.arange(count) * beam + normalized.argmax(axis=1)
    return tokens[pick]


def model_predictor(model: object, batch_size: int = 1024) -> Predict:
    """A Predict function from a Keras model (compiled predict, batched)."""

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))  # type: ignore[attr-defined]

    return predict


def decode(
    predict: Predict, sources: np.ndarray, target_length: int, options: DecodingOptions = DecodingOptions()
) -> np.ndarray:
    """Greedy search (beam 1, or no beam given) or beam search, at most `options.max_length` tokens."""
    beam = options.beam or 1
    if beam > 1:
        return beam_decode(predict, sources, target_length, beam, options.max_length)
    return greedy_decode(predict, sources, target_length, options.max_length)


def sequence_evaluation(
    predict: Predict,
    encoder: PairEncoder,
    x: np.ndarray,
    y: np.ndarray,
    options: DecodingOptions = DecodingOptions(),
) -> dict[str, float]:
    """exact_match, token_error_rate (and BLEU for word targets) of generated sequences against `y`."""
    from kproto.metrics.sequence_metrics import sequence_report

    if len(x) == 0:
        return {}
    ids = decode(predict, encoder.split_sources(x), encoder.target_length, options)
    references = [encoder.target_tokens(row) for row in y]
    hypotheses = [encoder.target_tokens(row) for row in ids]
    report = sequence_report(references, hypotheses, encoder.target_unit == "words")
    report["beam"] = float(options.beam or 1)
    return report
