"""Test-split reports of the families whose one input array packs several parts: seq2seq and recommender.

seq2seq: generated sequences scored by exact match, token error rate and BLEU. Recommender: RMSE/MAE with the
cold-start rows apart (ratings), or recall@k, ndcg@k and hit rate over every unseen item (implicit feedback).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog
from kproto.core.options import DecodingOptions

if TYPE_CHECKING:
    from kproto.data.preprocess import Preprocessor
    from kproto.data.types import DataInfo

PACKED_KINDS = ("pairs", "interactions")


def predictor(model: Any, batch_size: int = 2048) -> Any:
    """x → model outputs as a NumPy array, in large batches."""

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))

    return predict


def packed_report(
    model: Any,
    pre: Preprocessor,
    info: DataInfo,
    train: tuple[np.ndarray, np.ndarray | None],
    test: tuple[np.ndarray, np.ndarray | None],
    decoding: DecodingOptions = DecodingOptions(),
) -> dict[str, Any]:
    """The family's report on `test` ({} for other kinds of data or without targets)."""
    x_test, y_test = test
    if pre.kind not in PACKED_KINDS or y_test is None or len(x_test) == 0:
        return {}
    predict = predictor(model)
    if pre.kind == catalog.PAIRS:
        from kproto.data.pairs import PairEncoder
        from kproto.outputs.decoding import sequence_evaluation

        encoder = PairEncoder.from_dict(pre.state["pairs"])
        return sequence_evaluation(predict, encoder, x_test, y_test, decoding.resolved(pre.state.get("decoding", {})))
    from kproto.data.interactions import InteractionEncoder
    from kproto.outputs.recommend import ranking_evaluation, rating_evaluation

    encoder = InteractionEncoder.from_dict(pre.state["interactions"])
    if info.task == catalog.REGRESSION:
        return rating_evaluation(predict, x_test, y_test)
    k = int(pre.state.get("ranking", {}).get("top_k", 10))
    return ranking_evaluation(predict, encoder, train, test, k)
