"""Text-to-text pairs for sequence-to-sequence models: tokens, vocabularies fitted on training rows, packed arrays.

A model input row is ONE int32 array: the source token ids (padded to `source_length`) followed by the decoder
input ids ([START] t1 … tn, padded to `target_length`). The target row is the decoder input shifted by one
(t1 … tn [END], padded). Id 0 is padding everywhere; the model slices its input at `source_length`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core.errors import DataError
from kproto.data.text_length import UNSET

if TYPE_CHECKING:
    from kproto.data.preprocess import Preprocessor
    from kproto.recipe.schema import Recipe

PAD, UNKNOWN, START, END = "", "[UNK]", "[START]", "[END]"
SPECIAL_TOKENS = (PAD, UNKNOWN, START, END)
PAD_ID, UNKNOWN_ID, START_ID, END_ID = 0, 1, 2, 3
TOKEN_UNITS = ("words", "characters")


def tokenize(text: str, unit: str) -> list[str]:
    """Split a text into word tokens (on whitespace) or character tokens (spaces kept between words)."""
    text = " ".join(str(text).split())
    if unit == "words":
        return text.split()
    if unit == "characters":
        return list(text)
    raise ValueError(f"token unit must be one of {TOKEN_UNITS}, received {unit!r}")


def detokenize(tokens: Sequence[str], unit: str) -> str:
    """The text of a token list (joined by spaces for words, directly for characters)."""
    return (" " if unit == "words" else "").join(tokens)


def choose_source_unit(texts: Sequence[str]) -> str:
    """characters when the typical source is a single word (spelling tasks), words otherwise."""
    counts = sorted(len(str(t).split()) for t in texts)
    return "characters" if not counts or counts[len(counts) // 2] <= 1 else "words"


def fit_vocabulary(token_lists: Sequence[Sequence[str]], max_tokens: int) -> list[str]:
    """The special tokens, then the most frequent tokens (ties in first-seen order), `max_tokens` in all."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    room = max(max_tokens - len(SPECIAL_TOKENS), 0)
    return [*SPECIAL_TOKENS, *[token for token, _ in counts.most_common(room)]]


@dataclass
class PairEncoder:
    """Source and target vocabularies and lengths, fitted on the training split; saved in preprocess.json."""

    source_column: str
    target_column: str
    source_unit: str
    target_unit: str
    source_vocabulary: list[str]
    target_vocabulary: list[str]
    source_length: int
    target_length: int  # decoder steps: the longest training target plus [END]

    @classmethod
    def fit(
        cls,
        sources: Sequence[str],
        targets: Sequence[str],
        *,
        source_column: str,
        target_column: str,
        source_unit: str,
        target_unit: str,
        max_tokens: int,
        max_length: int,
    ) -> PairEncoder:
        """Vocabularies of at most `max_tokens` and lengths of at most `max_length` from training pairs."""
        if source_unit == "auto":
            source_unit = choose_source_unit(sources)
        source_tokens = [tokenize(s, source_unit) for s in sources]
        target_tokens = [tokenize(t, target_unit) for t in targets]
        if not any(target_tokens):
            raise DataError(f"the target column '{target_column}' is empty in every training row", field="data.target")
        longest_source = max((len(t) for t in source_tokens), default=1)
        longest_target = max((len(t) for t in target_tokens), default=1)
        return cls(
            source_column=source_column,
            target_column=target_column,
            source_unit=source_unit,
            target_unit=target_unit,
            source_vocabulary=fit_vocabulary(source_tokens, max_tokens),
            target_vocabulary=fit_vocabulary(target_tokens, max_tokens),
            source_length=max(min(longest_source, max_length), 1),
            target_length=min(longest_target, max_length) + 1,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairEncoder:
        return cls(**data)

    @property
    def input_length(self) -> int:
        return self.source_length + self.target_length

    # ------------------------------------------------------------------ encoding
    def encode_sources(self, texts: Sequence[str]) -> np.ndarray:
        """[N, source_length] int32 source ids (unknown tokens → [UNK], long texts truncated)."""
        return _encode([tokenize(t, self.source_unit) for t in texts], self.source_vocabulary, self.source_length)

    def encode_targets(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Decoder inputs ([START] t1 … tn) and next-token targets (t1 … tn [END]), both [N, target_length]."""
        steps = self.target_length - 1
        tokens = [tokenize(t, self.target_unit)[:steps] for t in texts]
        ids = _encode(tokens, self.target_vocabulary, steps)
        lengths = np.array([len(t) for t in tokens], dtype=np.int64)
        decoder_in = np.zeros((len(tokens), self.target_length), dtype=np.int32)
        decoder_in[:, 0] = START_ID
        decoder_in[:, 1:] = ids
        shifted = np.zeros_like(decoder_in)
        shifted[:, :steps] = ids
        shifted[np.arange(len(tokens)), lengths] = END_ID
        return decoder_in, shifted

    def inputs(self, sources: Sequence[str], targets: Sequence[str] | None = None) -> np.ndarray:
        """Packed model inputs; without targets the decoder part holds only [START] (for generation)."""
        source_ids = self.encode_sources(sources)
        if targets is None:
            decoder_in = np.zeros((len(source_ids), self.target_length), dtype=np.int32)
            decoder_in[:, 0] = START_ID
        else:
            decoder_in, _ = self.encode_targets(targets)
        return np.concatenate([source_ids, decoder_in], axis=1)

    def arrays(self, sources: Sequence[str], targets: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) for training: packed inputs and next-token targets."""
        decoder_in, shifted = self.encode_targets(targets)
        return np.concatenate([self.encode_sources(sources), decoder_in], axis=1), shifted

    # ------------------------------------------------------------------ decoding
    def target_tokens(self, ids: Sequence[int]) -> list[str]:
        """Target ids → tokens, stopping at [END] and skipping padding and [START]."""
        tokens = []
        for i in ids:
            i = int(i)
            if i == END_ID:
                break
            if i in (PAD_ID, START_ID):
                continue
            tokens.append(self.target_vocabulary[i] if i < len(self.target_vocabulary) else UNKNOWN)
        return tokens

    def target_text(self, ids: Sequence[int]) -> str:
        return detokenize(self.target_tokens(ids), self.target_unit)

    def split_sources(self, x: np.ndarray) -> np.ndarray:
        """The source ids of packed inputs."""
        return np.asarray(x)[:, : self.source_length]


def _encode(token_lists: Sequence[Sequence[str]], vocabulary: list[str], length: int) -> np.ndarray:
    lookup = {token: i for i, token in enumerate(vocabulary) if i >= len(SPECIAL_TOKENS)}
    ids = np.zeros((len(token_lists), length), dtype=np.int32)
    for row, tokens in enumerate(token_lists):
        codes = [lookup.get(token, UNKNOWN_ID) for token in tokens[:length]]
        ids[row, : len(codes)] = codes
    return ids


def pair_texts(frame: Any, source_column: str, target_column: str | None) -> tuple[list[str], list[str] | None]:
    """The source and (if named and present) target texts of a table, missing cells as empty strings."""
    if source_column not in frame.columns:
        raise DataError(
            f"the source column '{source_column}' is not in the data",
            field="data.text",
            hint=f"expected a column of input texts; the file has: {', '.join(list(frame.columns)[:15])}",
        )
    sources = frame[source_column].fillna("").astype(str).tolist()
    targets = None
    if target_column is not None and target_column in frame.columns:
        targets = frame[target_column].fillna("").astype(str).tolist()
    return sources, targets


def pair_splits(
    frame: Any, data: Any, seed: int, encoder: PairEncoder | None = None
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], PairEncoder, dict[str, float]]:
    """Seeded (x, y) arrays per split, the encoder (fitted on training pairs unless given) and test baselines.

    `data` is the recipe's data section: text (source column), target, target_tokens, source_tokens,
    vocab_size, sequence_length and split.
    """
    from kproto.data.splits import split_indices
    from kproto.metrics.sequence_metrics import baseline_report

    if data.target is None:
        raise DataError("a seq2seq model needs an output text column", field="data.target")
    frame = frame[frame[data.target].notna()]
    sources, targets = pair_texts(frame, data.text, data.target)
    assert targets is not None
    rows = dict(
        zip(("train", "validation", "test"), split_indices(len(frame), data.split.validation, data.split.test, seed))
    )
    if encoder is None:
        encoder = PairEncoder.fit(
            [sources[i] for i in rows["train"]],
            [targets[i] for i in rows["train"]],
            source_column=data.text,
            target_column=data.target,
            source_unit=getattr(data, "source_tokens", "auto"),
            target_unit=data.target_tokens or "words",
            max_tokens=data.vocab_size,
            max_length=data.sequence_length or UNSET,  # unset: the longest training text, up to 200 tokens
        )
    arrays = {
        name: encoder.arrays([sources[i] for i in index], [targets[i] for i in index]) for name, index in rows.items()
    }
    test_sources = [tokenize(sources[i], encoder.source_unit) for i in rows["test"]]
    test_targets = [tokenize(targets[i], encoder.target_unit) for i in rows["test"]]
    train_targets = [tokenize(targets[i], encoder.target_unit) for i in rows["train"]]
    baselines = baseline_report(test_sources, test_targets, train_targets, encoder.target_unit == "words")
    return arrays, encoder, baselines


def pairs_dataset(recipe: Recipe, frame: Any, preprocessor: Preprocessor | None = None) -> Any:
    """The Dataset of a seq2seq recipe; with a saved `preprocessor` the vocabularies are reused, not refitted."""
    from kproto.data.preprocess import Preprocessor
    from kproto.data.types import DataInfo, Dataset

    data = recipe.data
    saved = PairEncoder.from_dict(preprocessor.state["pairs"]) if preprocessor is not None else None
    arrays, encoder, baselines = pair_splits(frame, data, recipe.seed, saved)
    pre = preprocessor or Preprocessor(
        {
            "kind": "pairs",
            "task": "seq2seq",
            "features": [data.text],
            "pairs": encoder.to_dict(),
            "decoding": {"beam": recipe.model.beam, "max_length": recipe.model.max_length},
        }
    )
    info = DataInfo(
        task="seq2seq",
        kind="pairs",
        input_shape=(encoder.input_length,),
        vocab_size=len(encoder.target_vocabulary),
        layout=pair_layout(encoder),
    )
    info.rows = {name: int(len(x)) for name, (x, _) in arrays.items()}
    dataset = Dataset(*arrays["train"], *arrays["validation"], *arrays["test"], info=info, preprocessor=pre)
    dataset.baselines = baselines
    return dataset


def pair_layout(encoder: PairEncoder) -> dict[str, int]:
    """What the model builder needs to unpack the one input array (DataInfo.layout)."""
    return {
        "source_length": encoder.source_length,
        "target_length": encoder.target_length,
        "source_vocab_size": len(encoder.source_vocabulary),
        "target_vocab_size": len(encoder.target_vocabulary),
    }


def pair_rows(pre: Preprocessor, frame: Any, need_target: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Model inputs (and next-token targets) for the raw rows of a new file."""
    encoder = PairEncoder.from_dict(pre.state["pairs"])
    sources, targets = pair_texts(frame, encoder.source_column, encoder.target_column if need_target else None)
    if need_target and targets is None:
        raise DataError(
            f"the data has no column '{encoder.target_column}' to compare the generated text with",
            field="data.target",
            hint=f"add the reference texts as a '{encoder.target_column}' column",
        )
    if targets is None:
        return encoder.inputs(sources), None
    return encoder.arrays(sources, targets)
