"""Transformer family: embedding + learned positions, pre-norm encoder blocks, pooling, Dense head."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from kproto.core.fields import Fraction, ModelBase, PositiveInt

if TYPE_CHECKING:
    import keras

from kproto.core import catalog
from kproto.models.common import activation, layer_kwargs, output_head


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


# ----------------------------------------------------------------------------- model
def starter(guess: Any) -> list[str]:
    """The `model:` lines `kproto new` writes for this family (after `type:`), commented."""
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
