"""How free text becomes tokens and token ids (`data.text_standardize`), in plain Python.

One rule serves training, `kproto evaluate`/`predict` and `kproto serve` (which imports no Keras), so the ids a
model sees never depend on where the text came from:

- `keep_punctuation` (the default): Unicode NFKC, lower case, then words (letters, digits and `_`, with inner
  apostrophes: "don't") and every other visible character as a token of its own, so `!`, `"`, `@`, `#`, `&` and
  emoji count. A web address (`http://`, `https://` or `www.`) becomes one token, its host (`t.co`), since its path
  is mostly unique.
- `strip_punctuation`: Keras `TextVectorization`'s own rule (ASCII lower case, ASCII punctuation removed, split on
  whitespace). Runs whose preprocess.json names no rule were trained with it and keep it; `STRIPPED` is its
  pure-Python mirror for serving.
- `lower`: lower case, split on whitespace. `none`: split on whitespace only.

A vocabulary is a list whose index is the token id: 0 is padding (`""`), 1 the unknown token (`[UNK]`), then the
training tokens from most to least frequent (ties in order of first appearance), as `TextVectorization` lays it out.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from kproto.core import catalog
from kproto.core.errors import DataError, not_one_of

KEEP_PUNCTUATION = "keep_punctuation"
STRIP_PUNCTUATION = "strip_punctuation"
BEFORE = STRIP_PUNCTUATION  # the rule of runs whose preprocess.json has no "standardize" key
PADDING, UNKNOWN = "", "[UNK]"
RESERVED = (PADDING, UNKNOWN)

_TOKEN = re.compile(
    r"(?:https?://|www\.)(?P<host>[^\s/?#]+)\S*"  # a web address: its host stands for it
    r"|(?P<word>\w+(?:['’]\w+)*)"  # a word, inner apostrophes kept
    r"|\S"  # any other visible character, alone
)
# Keras's lower_and_strip_punctuation: tf.strings.lower (ASCII letters only), this set removed, ASCII whitespace split.
_ASCII_PUNCTUATION = re.compile(r"[!\"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~']")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_SPACE = re.compile(r"[ \t\n\v\f\r]+")


def check_rule(rule: str, field: str = "data.text_standardize") -> str:
    """`rule` when it is one of catalog.TEXT_STANDARDIZE; a DataError naming `field` otherwise."""
    if rule not in catalog.TEXT_STANDARDIZE:
        raise DataError(f"unknown text standardization: {not_one_of(rule, catalog.TEXT_STANDARDIZE)}", field=field)
    return rule


def _host(address: str) -> str:
    """The host of a web address's authority part: no user, port or `www.`, no trailing dots."""
    host = address.rsplit("@", 1)[-1].split(":", 1)[0].rstrip(".")
    return host.removeprefix("www.") or "www"


def _is_mark(character: str) -> bool:
    """A combining mark (Unicode category M: accents, vowel signs), which belongs to the word it touches."""
    return unicodedata.category(character)[0] == "M"


def _kept(text: str) -> list[str]:
    """keep_punctuation's tokens of lower-cased text. `\\w` leaves out combining marks (accents, vowel signs,
    emoji variation selectors), so a mark joins the token it touches, and a word part after it joins that word:
    Devanagari, Thai or decomposed accents stay one word."""
    found: list[str] = []
    in_word = False  # the last token is a word, which a mark and the word part after it extend
    end = -1
    for match in _TOKEN.finditer(text):
        host, word, piece = match.group("host"), match.group("word"), match.group()
        touching = bool(found) and match.start() == end
        end = match.end()
        if host is not None:
            found.append(_host(host))
            in_word = False
        elif touching and ((word is None and _is_mark(piece)) or (in_word and word and _is_mark(found[-1][-1]))):
            found[-1] += piece
        else:
            found.append(piece)
            in_word = word is not None
    return found


def tokens(text: str, rule: str = KEEP_PUNCTUATION) -> list[str]:
    """The tokens of one text under `rule` (one of catalog.TEXT_STANDARDIZE)."""
    if rule == KEEP_PUNCTUATION:
        return _kept(unicodedata.normalize("NFKC", text).lower())
    if rule == STRIP_PUNCTUATION:
        stripped = _ASCII_PUNCTUATION.sub("", text.translate(_ASCII_LOWER))
        return [part for part in _ASCII_SPACE.split(stripped) if part]
    if rule == "lower":
        return text.lower().split()
    if rule == "none":
        return text.split()
    raise DataError(f"unknown text standardization: {not_one_of(rule, catalog.TEXT_STANDARDIZE)}")


def token_count(text: str, rule: str = KEEP_PUNCTUATION) -> int:
    """How many tokens `text` has under `rule` (whitespace-separated words for the Keras rule, as before)."""
    return len(text.split()) if rule == STRIP_PUNCTUATION else len(tokens(text, rule))


def fit_vocabulary(texts: Iterable[str], rule: str, max_tokens: int) -> list[str]:
    """Padding, the unknown token, then the most frequent training tokens: at most `max_tokens` entries in all."""
    counts = Counter(token for text in texts for token in tokens(text, rule))
    for reserved in RESERVED:
        counts.pop(reserved, None)
    return [*RESERVED, *(token for token, _ in counts.most_common(max(0, max_tokens - len(RESERVED))))]


def token_ids(texts: Sequence[str], vocabulary: Sequence[str], length: int, rule: str) -> np.ndarray:
    """[len(texts), length] int32 ids: each text's first `length` tokens, unknown ones 1, padded with 0."""
    lookup = {token: index for index, token in enumerate(vocabulary) if index >= len(RESERVED)}
    ids = np.zeros((len(texts), length), dtype=np.int32)
    for row, text in enumerate(texts):
        found = tokens(text, rule)[:length]
        ids[row, : len(found)] = [lookup.get(token, 1) for token in found]
    return ids
