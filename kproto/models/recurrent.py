"""Recurrent families (rnn, gru, lstm): an optional token embedding, a stack of recurrent layers, Dense layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from kproto.core.fields import Fraction, ModelBase, PositiveInt

if TYPE_CHECKING:
    import keras

from kproto.core import catalog
from kproto.models.common import activation, layer_kwargs, output_head

CELLS = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


# ----------------------------------------------------------------------------- recipe section
class Recurrent(ModelBase):
    units: list[PositiveInt] = Field([64], description="Units of each recurrent layer.")
    bidirectional: bool = False
    recurrent_dropout: Fraction = 0.0
    embedding_dim: PositiveInt = Field(64, description="Token embedding size for text.")
    dense: list[PositiveInt] = Field([], description="Dense layers after the recurrent stack.")
    activation: str = "tanh"


class RNN(Recurrent):
    type: Literal["rnn"]


class GRU(Recurrent):
    type: Literal["gru"]


class LSTM(Recurrent):
    type: Literal["lstm"]


# ----------------------------------------------------------------------------- model
def starter(guess: Any) -> list[str]:
    """The `model:` lines `kproto new` writes for this family (after `type:`), commented."""
    body = [
        "  units: [64]    # one recurrent layer per entry",
        "  bidirectional: false",
        "  dropout: 0.1",
        "  dense: []    # Dense layers after the recurrent stack",
    ]
    if guess.text:
        body.insert(0, "  embedding_dim: 64    # token embedding size")
    return body


def sequence_input(info, embedding_dim: int) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The model input and a [batch, steps, features] tensor.

    Text: token ids → Embedding (id 0 is padding and masked). Windows: as they are. Images: one step per row.
    Tabular: one step per feature (a sequence of scalars).
    """
    import keras

    shape = tuple(info.input_shape)
    if info.kind == catalog.TEXT:
        inputs = keras.Input(shape=shape, dtype="int32", name="tokens")
        x = keras.layers.Embedding(info.vocab_size, embedding_dim, mask_zero=True, name="embedding")(inputs)
        return inputs, x
    inputs = keras.Input(shape=shape, name="sequence" if len(shape) == 2 else "features")
    if len(shape) == 1:
        return inputs, keras.layers.Reshape((shape[0], 1), name="as_sequence")(inputs)
    if len(shape) > 2:
        return inputs, keras.layers.Reshape((shape[0], -1), name="rows_as_steps")(inputs)
    return inputs, inputs


def build(spec, info) -> keras.Model:
    """One recurrent layer per entry of `units` (all but the last return sequences), then `dense`, then the head."""
    import keras

    act = activation(spec.activation)
    inputs, x = sequence_input(info, spec.embedding_dim)
    cell = getattr(keras.layers, CELLS[spec.type])
    for i, units in enumerate(spec.units):
        layer = cell(
            units,
            activation=act,
            dropout=spec.dropout,
            recurrent_dropout=spec.recurrent_dropout,
            return_sequences=i < len(spec.units) - 1,
            name=f"{spec.type}_{i}",
            **layer_kwargs(spec),
        )
        if spec.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{i}")
        x = layer(x)
    for i, units in enumerate(spec.dense):
        x = keras.layers.Dense(units, activation=act, name=f"dense_{i}", **layer_kwargs(spec))(x)
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout)(x)
    return keras.Model(inputs, output_head(x, info, spec), name=spec.type)
