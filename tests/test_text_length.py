"""kproto.data.text_length: the sequence length a text recipe gets when it does not set data.sequence_length."""

from __future__ import annotations

import pytest

from kproto.data.text_length import LONGEST, SHORTEST, UNSET, length_from_texts, token_counts


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["one two three"] * 50, SHORTEST),  # short texts: at least 16 tokens
        (["w " * 37] * 100, 40),  # 37 words: rounded up to a multiple of 8
        (["w " * 40] * 100, 40),  # already a multiple of 8
        (["w " * 10] * 96 + ["w " * 900] * 4, 16),  # the 4% longest do not decide
        (["w " * 10] * 90 + ["w " * 100] * 10, 104),  # 10% long texts do
        (["w " * 5000] * 10, LONGEST),  # capped
        ([None, float("nan"), "a b c"], SHORTEST),  # missing texts are not counted
        ([], UNSET),
    ],
)
def test_length_from_texts(texts: list, expected: int) -> None:
    length, source = length_from_texts(texts)
    assert length == expected
    if token_counts(texts).size:
        assert source.startswith("from the data: 95th percentile of the training texts' token counts")
    else:
        assert source == f"no texts to measure: the default {UNSET}"


def test_token_counts_split_on_whitespace_under_the_keras_rule() -> None:
    assert list(token_counts(["a  b\tc\nd", "", None, "one"], "strip_punctuation")) == [4, 0, 1]
    length, source = length_from_texts(["a b c"] * 10, "strip_punctuation")
    assert length == SHORTEST and "training texts' word counts is 3" in source


def test_token_counts_count_punctuation_by_default() -> None:
    assert list(token_counts(["Wow!!! @you", "see https://t.co/x1 now.", None])) == [6, 4]
