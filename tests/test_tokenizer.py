"""kproto.data.tokenizer: how free text becomes tokens and ids (data.text_standardize), the same in training and
serving; the Keras rule of older runs mirrored exactly."""

from __future__ import annotations

import numpy as np
import pytest

from kproto.core import catalog
from kproto.core.errors import DataError
from kproto.data import tokenizer

# Strings that tell tokenizers apart: case beyond ASCII, Unicode spaces and separators, emoji, quotes, web addresses.
TRICKY = [
    "Hello, World! https://t.co/AbC123 @realDonaldTrump #MAGA",
    "ÉCOLE Straße İstanbul ǅ",
    "a\xa0b c\u2009d e\u3000f g\x85h",
    "tab\tsep\nnew\x0bline\x0cff\rcr \x1c\x1d\x1e\x1f",
    "emoji 😀🇺🇸 ❤️ done 👍🏽",
    "don't “quoted” ‘single’ can’t",
    "3.5 $100 50% a_b --- ...",
    "ﬁne ＦＵＬＬ width",
    "",
    "   ",
    "[UNK] token [unk]",
    "हिन्दी भाषा ภาษาไทย مَرْحَبًا",
    "RT @Foo: wow!!! &amp; www.Example.com/path.",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", ["hello", ",", "world", "!"]),
        ("@realDonaldTrump #MAGA!!", ["@", "realdonaldtrump", "#", "maga", "!", "!"]),
        ('"Quoted" text', ['"', "quoted", '"', "text"]),
        ("see https://t.co/AbC123.", ["see", "t.co"]),  # a web address is its host
        ("www.Example.com/path?q=1 and http://user@host.org:8080/x", ["example.com", "and", "host.org"]),
        ("don't can’t", ["don't", "can’t"]),  # inner apostrophes stay in the word
        ("3.5 $100 50%", ["3", ".", "5", "$", "100", "50", "%"]),
        ("emoji 😀 ❤️", ["emoji", "😀", "❤️"]),  # the variation selector stays with its emoji
        ("ÉCOLE ﬁne ＦＵＬＬ", ["école", "fine", "full"]),  # NFKC, then lower case beyond ASCII
        ("e\u0301cole İstanbul", ["école", "i̇stanbul"]),  # combining marks stay in their word
        ("हिन्दी भाषा ภาษาไทย", ["हिन्दी", "भाषा", "ภาษาไทย"]),
        ("a\xa0b\u3000c", ["a", "b", "c"]),
        ("", []),
    ],
)
def test_keep_punctuation_tokens(text: str, expected: list[str]) -> None:
    assert tokenizer.tokens(text) == expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("keep_punctuation", ["wow", "!", "@", "you", ":", "ok"]),
        ("strip_punctuation", ["wow", "you", "ok"]),
        ("lower", ["wow!", "@you:", "ok"]),
        ("none", ["Wow!", "@You:", "OK"]),
    ],
)
def test_every_rule(rule: str, expected: list[str]) -> None:
    assert tokenizer.tokens("Wow! @You: OK", rule) == expected


def test_the_rules_are_the_catalogs() -> None:
    assert catalog.TEXT_STANDARDIZE[0] == tokenizer.KEEP_PUNCTUATION
    for rule in catalog.TEXT_STANDARDIZE:
        assert tokenizer.check_rule(rule) == rule
        assert isinstance(tokenizer.tokens(TRICKY[0], rule), list)


def test_an_unknown_rule_is_a_data_error_naming_the_choices() -> None:
    with pytest.raises(DataError, match="'keep_punctuaton' is not one of .*Did you mean 'keep_punctuation'") as info:
        tokenizer.check_rule("keep_punctuaton", field="preprocess.json")
    assert info.value.field == "preprocess.json"


def test_the_keras_rule_is_mirrored_exactly() -> None:
    """strip_punctuation (runs trained before data.text_standardize) gives the ids Keras TextVectorization gives."""
    import keras

    vocabulary = tokenizer.fit_vocabulary(TRICKY, tokenizer.STRIP_PUNCTUATION, 1000)
    layer = keras.layers.TextVectorization(vocabulary=vocabulary[2:], output_mode="int", output_sequence_length=9)
    expected = np.asarray(keras.ops.convert_to_numpy(layer(np.array(TRICKY))))
    assert np.array_equal(tokenizer.token_ids(TRICKY, vocabulary, 9, tokenizer.STRIP_PUNCTUATION), expected)


def test_the_vocabulary_is_laid_out_as_keras_lays_it_out() -> None:
    vocabulary = tokenizer.fit_vocabulary(["b a !", "a [UNK] c", "a b"], tokenizer.KEEP_PUNCTUATION, 5)
    # padding, unknown, then by frequency (ties in order of first appearance); "[UNK]" in a text is three tokens
    assert vocabulary == ["", "[UNK]", "a", "b", "!"]
    assert len(tokenizer.fit_vocabulary(TRICKY, tokenizer.KEEP_PUNCTUATION, 3)) == 3


def test_token_ids_pad_cut_and_mark_unknown_tokens() -> None:
    vocabulary = ["", "[UNK]", "good", "!", "tea"]
    ids = tokenizer.token_ids(["Good tea!!", "bad tea", "", "good " * 9], vocabulary, 4, tokenizer.KEEP_PUNCTUATION)
    assert ids.dtype == np.int32
    assert ids.tolist() == [[2, 4, 3, 3], [1, 4, 0, 0], [0, 0, 0, 0], [2, 2, 2, 2]]


def test_token_counts_follow_the_rule() -> None:
    assert tokenizer.token_count("Wow!!! a b", tokenizer.KEEP_PUNCTUATION) == 6
    assert tokenizer.token_count("Wow!!! a b", tokenizer.STRIP_PUNCTUATION) == 3  # whitespace words, as before
