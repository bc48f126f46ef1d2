"""Transformer family: embedding + learned positions, pre-norm encoder blocks, pooling, Dense head.

On text with few training rows (and no block size in the recipe) the family builds a bag of embeddings instead:
the tokens' embeddings averaged over each text, then the head. Attention has too little to learn from there; the
bag reaches TF-IDF with logistic regression (BENCHMARKS.md, "Text and ratings defaults"). `model.wide` adds a
linear model on word presence to the bag's output (wide and deep); measured, validation did not choose it as default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from kproto.core.fields import Fraction, ModelBase, PositiveInt

if TYPE_CHECKING:
    import keras

from kproto.core import catalog
from kproto.models.common import activation, layer_kwargs, output_head

SMALL_TEXT_ROWS = 3000  # fewer training texts than this: a bag of embeddings when the recipe leaves it open
BAG_DROPOUT = 0.3  # the bag's dropout when model.dropout is unset
MAX_PAIR_BUCKETS = 40_000  # at most this many hashed pair rows (twice the vocabulary below it)
BLOCK_FIELDS = frozenset({"layers", "heads", "key_dim", "ff_units", "pooling"})


# ----------------------------------------------------------------------------- recipe section
class Transformer(ModelBase):
    type: Literal["transformer"]
    layers: PositiveInt = Field(2, description="Encoder blocks.")
    heads: PositiveInt = Field(4, description="Attention heads per block.")
    key_dim: PositiveInt = Field(32, description="Size of each attention head.")
    embed_dim: PositiveInt = Field(64, description="Token or projection embedding size.")
    ff_units: PositiveInt = Field(128, description="Units of each block's feed-forward layer.")
    dropout: Fraction = 0.1
    pooling: Literal["mean", "max", "cls"] = "mean"
    activation: str = "gelu"
    encoder: Literal["auto", "attention", "bag"] = Field(
        "auto",
        description="attention: the encoder blocks. bag: a bag of embeddings (each token's embedding averaged over "
        "the text, then the head), which learns more from few texts. auto: bag for text with fewer than "
        f"{SMALL_TEXT_ROWS:,} training rows when no block field (layers, heads, key_dim, ff_units, pooling) is set, "
        "else attention.",
    )
    wide: bool = Field(
        False,
        description="The bag only: add a linear model on which words each text holds (a binary bag of words, "
        "L2-normalized, L2-penalized weights) to the bag's output, as logistic regression on word presence does "
        "(wide and deep). One target only.",
    )
    wide_pairs: bool = Field(
        False,
        description="With model.wide: each pair of neighbouring words is a feature of the linear model too (hashed "
        "into twice the vocabulary's size, at most 40,000 rows).",
    )
    wide_l2: Annotated[float, Field(ge=0)] = Field(
        1e-4,
        description="With model.wide: the L2 penalty on the linear part's stored weights (used ten times their "
        "stored size, so 0.01 on 600 training texts is about logistic regression's C = 8; larger: a simpler "
        "linear part). 0: none.",
    )

    def encoder_for(self, info: Any) -> tuple[str, str]:
        """The encoder this spec builds on `info`'s data, and why (printed in the run header)."""
        if self.encoder != "auto":
            return self.encoder, "set by model.encoder"
        if info.kind != catalog.TEXT:
            return "attention", "not text"
        rows = int((info.rows or {}).get("train", 0))
        pinned = sorted(BLOCK_FIELDS & self.model_fields_set)
        if pinned:
            return "attention", f"the recipe sets {', '.join(pinned)}"
        if rows and rows < SMALL_TEXT_ROWS:
            return "bag", f"{rows:,} training texts, fewer than {SMALL_TEXT_ROWS:,}; model.encoder: attention overrides"
        return "attention", f"{rows:,} training texts"

    def chosen(self, info: Any) -> dict[str, str]:
        """The encoder picked from the data (the run header's `encoder` line)."""
        if info.kind != catalog.TEXT:
            return {}
        encoder, why = self.encoder_for(info)
        name = "bag of embeddings" if encoder == "bag" else "attention blocks"
        if encoder == "bag" and self.wide:
            name += " + a linear model on word" + (" and word-pair" if self.wide_pairs else "") + " presence"
        return {"encoder": f"{name} ({why})"}


# ----------------------------------------------------------------------------- model
def starter(guess: Any) -> list[str]:
    """The `model:` lines `kproto new` writes for this family (after `type:`), commented. For text the block
    sizes stay comments, so the encoder is still chosen from the training rows."""
    if getattr(guess, "text", None):
        return [
            f"  encoder: auto    # a bag of embeddings below {SMALL_TEXT_ROWS:,} training texts, else attention blocks",
            "  embed_dim: 64",
            "  # layers: 2    # setting any block field (layers, heads, key_dim, ff_units, pooling) keeps the blocks",
            "  # heads: 4",
            "  # key_dim: 32",
            "  # ff_units: 128",
        ]
    return [
        "  layers: 2    # encoder blocks",
        "  heads: 4",
        "  key_dim: 32",
        "  embed_dim: 64",
        "  ff_units: 128",
        "  dropout: 0.1",
        "  pooling: mean    # mean, max or cls",
    ]


def build(spec, info) -> keras.Model:
    """Text: token embedding (id 0 masked). Windows: a Dense projection of each step. Tabular: each feature is one
    step (a scalar projected to `embed_dim`). Images: each row is one step."""
    import keras

    from kproto.models.layers import ClsToken, PositionEmbedding, SequencePooling, TransformerEncoder

    if spec.encoder_for(info)[0] == "bag":
        return bag_of_embeddings(spec, info)
    act = activation(spec.activation)
    shape = tuple(info.input_shape)
    if info.kind == catalog.TEXT:
        inputs = keras.Input(shape=shape, dtype="int32", name="tokens")
        x = keras.layers.Embedding(info.vocab_size, spec.embed_dim, mask_zero=True, name="token_embedding")(inputs)
    else:
        inputs = keras.Input(shape=shape, name="sequence" if len(shape) == 2 else "features")
        x = inputs
        if len(shape) != 2:
            x = keras.layers.Reshape((shape[0], -1) if len(shape) > 2 else (shape[0], 1), name="as_sequence")(x)
        x = keras.layers.Dense(spec.embed_dim, name="projection", **layer_kwargs(spec))(x)
    if spec.pooling == "cls":
        x = ClsToken(name="cls_token")(x)
    x = PositionEmbedding(int(x.shape[1]), name="position_embedding")(x)
    if spec.dropout:
        x = keras.layers.Dropout(spec.dropout)(x)
    for i in range(spec.layers):
        x = TransformerEncoder(spec.heads, spec.key_dim, spec.ff_units, spec.dropout, act, name=f"encoder_{i}")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = SequencePooling(spec.pooling, name="pooling")(x)
    if spec.dropout:
        x = keras.layers.Dropout(spec.dropout)(x)
    return keras.Model(inputs, output_head(x, info, spec), name="transformer")


def bag_of_embeddings(spec, info) -> keras.Model:
    """Token embedding (id 0 masked) → dropout → mean over the text's tokens → dropout → head; with `model.wide`,
    a linear model on word presence added to the head before its activation."""
    import keras

    from kproto.models.layers import SequencePooling

    rate = spec.dropout if "dropout" in spec.model_fields_set else BAG_DROPOUT
    inputs = keras.Input(shape=tuple(info.input_shape), dtype="int32", name="tokens")
    x = keras.layers.Embedding(info.vocab_size, spec.embed_dim, mask_zero=True, name="token_embedding")(inputs)
    if rate:
        x = keras.layers.Dropout(rate, name="token_dropout")(x)
    x = SequencePooling("mean", name="pooling")(x)
    if rate:
        x = keras.layers.Dropout(rate, name="pooled_dropout")(x)
    if spec.wide and info.task in (catalog.CLASSIFICATION, catalog.REGRESSION):
        return keras.Model(inputs, wide_and_deep_head(x, inputs, info, spec), name="transformer_bag")
    return keras.Model(inputs, output_head(x, info, spec), name="transformer_bag")


def wide_and_deep_head(x, tokens, info, spec):
    """The head's Dense units on `x` plus a WordPresence linear model on `tokens`, then the task's output layer
    (softmax over classes, or the rescaled unit): the "output" layer other commands look for."""
    import keras

    from kproto.models.layers import WordPresence

    classes = info.task == catalog.CLASSIFICATION
    units = info.num_classes if classes else 1
    deep = keras.layers.Dense(units, dtype="float32", name="deep_logits")(x)
    buckets = min(2 * int(info.vocab_size), MAX_PAIR_BUCKETS) if spec.wide_pairs else 0
    wide = WordPresence(
        info.vocab_size, units, l2=spec.wide_l2, pair_buckets=buckets, dtype="float32", name="word_presence"
    )(tokens)
    z = keras.layers.Add(dtype="float32", name="wide_and_deep")([deep, wide])
    if classes:
        return keras.layers.Activation(spec.output_activation or "softmax", dtype="float32", name="output")(z)
    z = keras.layers.Activation(spec.output_activation, dtype="float32", name="output_raw")(z)
    return keras.layers.Rescaling(scale=info.target_std, offset=info.target_mean, dtype="float32", name="output")(z)
