"""Transformer family: embedding + learned positions, pre-norm encoder blocks, pooling, Dense head."""

from __future__ import annotations

import keras

from kproto.models.common import activation, layer_kwargs, output_head
from kproto.models.layers import ClsToken, PositionEmbedding, SequencePooling, TransformerEncoder


def build(spec, info) -> keras.Model:
    """Text: token embedding (id 0 masked). Windows: a Dense projection of each step. Tabular: each feature is one
    step (a scalar projected to `embed_dim`). Images: each row is one step."""
    act = activation(spec.activation)
    shape = tuple(info.input_shape)
    if info.kind == "text":
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
