"""seq2seq family: an encoder–decoder over text pairs (Transformer, or GRU/LSTM with attention).

The model takes ONE int32 input, [source ids | decoder input ids] (see kproto.data.pairs), and returns the
next-token probabilities at every decoder position, [batch, target_length, target_vocabulary]. It is trained
with teacher forcing; generation (kproto.outputs.decoding) feeds its own outputs back in, greedily or by beam search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from kproto.core.fields import Fraction, ModelBase, PositiveInt

if TYPE_CHECKING:
    from kproto.data.types import DataInfo

ARCHITECTURES = ("transformer", "gru", "lstm")


class Seq2Seq(ModelBase):
    required_data: ClassVar[dict[str, str]] = {
        "text": "name the column of input texts, e.g. data.text: word",
        "target": "name the column of output texts, e.g. data.target: phonemes",
    }
    type: Literal["seq2seq"]
    architecture: Literal["transformer", "gru", "lstm"] = Field(
        "transformer", description="Transformer encoder–decoder, or GRU/LSTM encoder–decoder with attention."
    )
    layers: PositiveInt = Field(2, description="Encoder layers and decoder layers (each).")
    embed_dim: PositiveInt = Field(128, description="Token embedding size (the Transformer's model width).")
    heads: PositiveInt = Field(4, description="Attention heads (Transformer).")
    key_dim: PositiveInt | None = Field(None, description="Size of each attention head; default embed_dim / heads.")
    ff_units: PositiveInt = Field(256, description="Units of each Transformer block's feed-forward layer.")
    units: PositiveInt = Field(256, description="State size of each GRU/LSTM layer.")
    dropout: Fraction = 0.1
    activation: str = "gelu"
    beam: PositiveInt = Field(1, description="Default beam width for evaluate and predict (1: greedy search).")
    max_length: PositiveInt | None = Field(
        None, description="Most tokens generated per text; default: the longest training target plus [END]."
    )


def pair_layout(info: DataInfo) -> dict[str, int]:
    """The packing of the one input array: source_length, target_length and the two vocabulary sizes."""
    from kproto.models.common import packed_layout

    return packed_layout(
        info,
        ("source_length", "target_length", "source_vocab_size", "target_vocab_size"),
        "seq2seq",
        "text pairs",
        "set data.text (the input text column) and data.target (the output text column)",
    )


def build(spec: Seq2Seq, info: DataInfo) -> Any:
    """Embeddings for source and target tokens, encoder and decoder stacks, a softmax over target tokens."""
    import keras

    from kproto.models.common import activation
    from kproto.models.layers import PositionEmbedding
    from kproto.models.seq2seq_layers import ColumnSlice, NonPadding

    layout = pair_layout(info)
    source_length, target_length = layout["source_length"], layout["target_length"]
    inputs = keras.Input(shape=(source_length + target_length,), dtype="int32", name="tokens")
    source = ColumnSlice(0, source_length, name="source_ids")(inputs)
    target = ColumnSlice(source_length, source_length + target_length, name="decoder_ids")(inputs)
    source_keep = NonPadding(name="source_keep")(source)
    target_keep = NonPadding(name="target_keep")(target)
    source_x = keras.layers.Embedding(layout["source_vocab_size"], spec.embed_dim, name="source_embedding")(source)
    target_x = keras.layers.Embedding(layout["target_vocab_size"], spec.embed_dim, name="target_embedding")(target)
    if spec.architecture == "transformer":
        act = activation(spec.activation)
        source_x = PositionEmbedding(source_length, name="source_positions")(source_x)
        target_x = PositionEmbedding(target_length, name="target_positions")(target_x)
        x = _transformer(spec, act, source_x, source_keep, target_x, target_keep)
    else:
        x = _recurrent(spec, source_x, source_keep, target_x)
    if spec.dropout:
        x = keras.layers.Dropout(spec.dropout, name="output_dropout")(x)
    outputs = keras.layers.Dense(layout["target_vocab_size"], activation="softmax", dtype="float32", name="output")(x)
    return keras.Model(inputs, outputs, name=f"seq2seq_{spec.architecture}")


def _transformer(spec: Seq2Seq, act: str, source_x: Any, source_keep: Any, target_x: Any, target_keep: Any) -> Any:
    import keras

    from kproto.models.seq2seq_layers import TransformerDecoderBlock, TransformerEncoderBlock

    key_dim = spec.key_dim or max(spec.embed_dim // spec.heads, 1)
    if spec.dropout:
        source_x = keras.layers.Dropout(spec.dropout, name="source_dropout")(source_x)
        target_x = keras.layers.Dropout(spec.dropout, name="target_dropout")(target_x)
    for i in range(spec.layers):
        block = TransformerEncoderBlock(spec.heads, key_dim, spec.ff_units, spec.dropout, act, name=f"encoder_{i}")
        source_x = block([source_x, source_keep])
    context = keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(source_x)
    for i in range(spec.layers):
        block = TransformerDecoderBlock(spec.heads, key_dim, spec.ff_units, spec.dropout, act, name=f"decoder_{i}")
        target_x = block([target_x, target_keep, context, source_keep])
    return keras.layers.LayerNormalization(epsilon=1e-6, name="decoder_norm")(target_x)


def _recurrent(spec: Seq2Seq, source_x: Any, source_keep: Any, target_x: Any) -> Any:
    """A bidirectional encoder stack, a decoder stack started from the encoder's final states, then Luong
    attention over the encoder outputs."""
    import keras

    cell = keras.layers.GRU if spec.architecture == "gru" else keras.layers.LSTM
    half = max(spec.units // 2, 1)
    states: list[Any] = []
    for i in range(spec.layers):
        layer = keras.layers.Bidirectional(
            cell(half, return_sequences=True, return_state=True, dropout=spec.dropout, name=f"encoder_{i}"),
            name=f"bidirectional_{i}",
        )
        outputs = layer(source_x, mask=source_keep)
        source_x = outputs[0]
        forward, backward = outputs[1 : 1 + len(outputs[1:]) // 2], outputs[1 + len(outputs[1:]) // 2 :]
        states = [
            keras.layers.Concatenate(name=f"state_{i}_{j}")([f, b]) for j, (f, b) in enumerate(zip(forward, backward))
        ]
    for i in range(spec.layers):
        layer = cell(2 * half, return_sequences=True, dropout=spec.dropout, name=f"decoder_{i}")
        target_x = layer(target_x, initial_state=states)
    attended = keras.layers.Attention(name="attention")([target_x, source_x], mask=[None, source_keep])
    x = keras.layers.Concatenate(name="with_context")([target_x, attended])
    return keras.layers.Dense(spec.embed_dim, activation="tanh", name="attention_projection")(x)


def data_starter(guess: Any, path_text: str) -> list[str]:
    """`kproto new seq2seq`: the data section, the input text from the first column and the output from the next."""
    columns = list(guess.columns)
    target = guess.target if guess.target in columns else (columns[1] if len(columns) > 1 else columns[0])
    text = next((c for c in columns if c != target), columns[0])
    guess.task = "seq2seq"
    return [
        "data:",
        f"  path: {path_text}    # a table of text pairs; relative to this recipe",
        f"  text: {text}    # the input text",
        f"  target: {target}    # the output text",
        "  target_tokens: words    # output tokens: words (split on spaces) or characters",
        "  split: {validation: 0.1, test: 0.1}",
    ]


def starter(guess: Any) -> list[str]:
    """`kproto new seq2seq`: the model's main fields."""
    return [
        "  architecture: gru    # transformer, gru or lstm (GRU/LSTM with attention)",
        "  layers: 1",
        "  embed_dim: 64",
        "  units: 256    # GRU/LSTM state size",
        "  beam: 1    # decoding: 1 is greedy search; kproto predict --beam 4 searches wider",
    ]
