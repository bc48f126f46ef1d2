"""Feedforward (MLP) family: Dense layers with optional normalization and dropout; on tables, numeric and
categorical embeddings in front and an efficient ensemble of members sharing the Dense layers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from kproto.core import catalog
from kproto.core.errors import RecipeError
from kproto.core.fields import Fraction, ModelBase, PositiveInt

if TYPE_CHECKING:
    import keras

    from kproto.data.types import DataInfo

from kproto.models.common import activation_layer, layer_kwargs, normalization, output_head

# Tables: the training length when the recipe leaves train.epochs and early_stopping.patience open. A small table
# gets few optimizer steps per epoch, so its epochs come from a step budget (at least the recipe default, at most
# MAX_EPOCHS), and early stopping waits an eighth of them: a small validation split is noisy, and the first dip of
# its loss is rarely the best epoch (BENCHMARKS.md, "The tabular defaults").
STEP_BUDGET = 6_000
MIN_EPOCHS, MAX_EPOCHS = 30, 200
PATIENCE_SHARE, MIN_PATIENCE = 8, 5
# Tables: `model.ensemble: auto` trains ENSEMBLE_MEMBERS members on fewer than LARGE_TABLE_ROWS training rows and one
# from there: on seven tables of 6,800 to 34,000 training rows the members were level with one network on validation
# rows at 1.2 to 1.8 times the training time (BENCHMARKS.md, "The tabular defaults").
ENSEMBLE_MEMBERS, LARGE_TABLE_ROWS = 4, 6_000


def auto_members(train_rows: int) -> int:
    """The ensemble members `model.ensemble: auto` trains on a table of `train_rows` training rows."""
    return ENSEMBLE_MEMBERS if train_rows < LARGE_TABLE_ROWS else 1


def table_training_length(train_rows: int, batch_size: int, epochs: int | None = None) -> dict[str, int]:
    """{"epochs", "patience"} for a table of `train_rows` training rows read `batch_size` rows a step: epochs enough
    for STEP_BUDGET steps within [MIN_EPOCHS, MAX_EPOCHS] (or the recipe's `epochs` where it sets them), patience
    one PATIENCE_SHARE-th of the epochs (at least MIN_PATIENCE). A table of about 6,000 training rows or more keeps
    30 epochs and a patience of 5."""
    if epochs is None:
        steps = max(math.ceil(max(int(train_rows), 1) / max(int(batch_size), 1)), 1)
        epochs = min(max(math.ceil(STEP_BUDGET / steps), MIN_EPOCHS), MAX_EPOCHS)
    return {"epochs": int(epochs), "patience": max(math.ceil(epochs / PATIENCE_SHARE), MIN_PATIENCE)}


# ----------------------------------------------------------------------------- recipe section
class Feedforward(ModelBase):
    type: Literal["feedforward"]
    units: list[PositiveInt] = Field([256, 128], description="Units of each hidden Dense layer.")
    dropout: Fraction = 0.1
    normalization: Literal["none", "batch", "layer"] = Field("none", description="Normalization after each layer.")
    numeric_embedding: Literal["piecewise_linear", "periodic", "none"] = Field(
        "periodic",
        description="Tables: how each numeric column enters the network: piecewise_linear (spread over bins whose "
        "edges are training quantiles), periodic (sines and cosines of learned frequencies, then a linear map and "
        "ReLU) or none (the scaled value itself).",
    )
    bins: Annotated[int, Field(ge=2, le=64)] = Field(
        16, description="Tables, numeric_embedding: piecewise_linear: the most bins per numeric column."
    )
    embedding_dim: PositiveInt = Field(
        16,
        description="Tables: the size of each numeric column's periodic embedding and of each index-coded "
        "categorical column's embedding (data.categorical: index).",
    )
    ensemble: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = Field(
        "auto",
        description="Tables: k members sharing the Dense layers, each with its own input and output scaling, "
        f"averaged before the head (TabM-style); 1 turns it off. auto: {ENSEMBLE_MEMBERS} on fewer than "
        f"{LARGE_TABLE_ROWS:,} training rows, else 1.",
    )
    ensemble_loss: Literal["auto", "members", "mean"] = Field(
        "auto",
        description="Tables: what the ensemble's loss sees. members: each member's own prediction (for regression "
        "with a squared error, the loss of the averaged prediction plus the members' spread, as TabM trains); mean: "
        "only the averaged prediction. auto: mean. members needs a regression target.",
    )

    def training_length(self, info: DataInfo, batch_size: int, epochs: int | None = None) -> dict[str, int]:
        """Tables: epochs and early-stopping patience from the number of training rows (table_training_length);
        other inputs keep the recipe's defaults."""
        rows = (info.rows or {}).get("train", 0)
        if info.kind != catalog.TABLE or not rows:
            return {}
        return table_training_length(rows, batch_size, epochs)

    def members_for(self, info: DataInfo) -> tuple[int, str]:
        """The number of ensemble members this spec builds on `info`'s data, and why (the run header's line)."""
        if info.kind != catalog.TABLE:
            return 1, "not a table"
        if self.ensemble != "auto":
            return int(self.ensemble), "set by model.ensemble"
        rows = int((info.rows or {}).get("train", 0))
        if auto_members(rows) == 1:
            return 1, f"{rows:,} training rows, {LARGE_TABLE_ROWS:,} or more; model.ensemble: k overrides"
        return ENSEMBLE_MEMBERS, f"{rows:,} training rows, fewer than {LARGE_TABLE_ROWS:,}"

    def chosen(self, info: Any) -> dict[str, str]:
        """Tables: the ensemble picked from the data (the run header's `ensemble` line)."""
        if info.kind != catalog.TABLE:
            return {}
        members, why = self.members_for(info)
        return {"ensemble": f"{members} member{'s' if members > 1 else ''} ({why})"}


# ----------------------------------------------------------------------------- model
def starter_length(guess: Any, batch_size: int) -> list[str]:
    """The `train:` lines on training length that `kproto new` writes (feedforward reads a table): epochs and
    early-stopping patience left open for `table_training_length`, with what it picks for about this file's training
    rows (70% of them) in a comment."""
    rows = starter_rows(guess)
    picked = table_training_length(rows, batch_size)
    about = "~" if guess.counted else "at least ~"  # a file too large to count
    return [
        "  # epochs, early_stopping.patience: left open, so kproto picks them from the training rows",
        f"  # ({about}{rows:,} rows here: up to {picked['epochs']} epochs, stopping after {picked['patience']} "
        "without improvement)",
    ]


def starter(guess: Any) -> list[str]:
    """The `model:` lines `kproto new` writes for this family (after `type:`), commented: the defaults."""
    units = ", ".join(str(u) for u in Feedforward.model_fields["units"].default)
    here = f" (here: {starter_members(guess)})" if guess.counted else ""  # too large to count: rows unknown
    return [
        f"  units: [{units}]    # Dense layers",
        "  activation: relu    # kproto list activations",
        "  dropout: 0.1",
        "  normalization: none    # none, batch or layer",
        "  numeric_embedding: periodic    # tables: periodic, piecewise_linear or none",
        f"  ensemble: auto    # tables: {ENSEMBLE_MEMBERS} members sharing the Dense layers below "
        f"{LARGE_TABLE_ROWS:,} training rows, else 1{here}",
    ]


def starter_rows(guess: Any) -> int:
    """About the training rows of the file `kproto new` read: 70% of its rows (its split holds out 15% and 15%)."""
    return max(int((guess.total_rows or guess.rows) * 0.7), 1)


def starter_members(guess: Any) -> int:
    """The members `ensemble: auto` picks for about this file's training rows."""
    return auto_members(starter_rows(guess))


def build(spec, info) -> keras.Model:
    """[table embeddings] → [ensemble fork] → Dense → [norm] → activation → [dropout], once per entry of
    `spec.units`, → [ensemble mean] → the task head."""
    import keras

    from kproto.models.tabular_layers import EnsembleFork, EnsembleMean, EnsembleScale

    inputs = keras.Input(shape=info.input_shape, name="features")
    x = keras.layers.Flatten()(inputs) if len(info.input_shape) > 1 else inputs
    table = info.kind == catalog.TABLE
    if table:
        x = embedded_inputs(x, spec, info)
    members, _ = spec.members_for(info)
    own_losses = members > 1 and member_losses(spec, info)
    if members > 1:
        x = EnsembleFork(members, seed=0, name="ensemble_fork")(x)
    for i, units in enumerate(spec.units):
        x = keras.layers.Dense(units, name=f"dense_{i}", **layer_kwargs(spec, f"dense_{i}"))(x)
        norm = normalization(spec.normalization)
        if norm is not None:
            x = norm(x)
        x = activation_layer(spec.activation)(x)
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout)(x)
    if own_losses:
        each = EnsembleScale(name="ensemble_scale")(x)
        mean = EnsembleMean(scaled=False, name="ensemble_mean")(each)
        return keras.Model(inputs, output_head(mean, info, spec, members=each), name="feedforward")
    if members > 1:
        x = EnsembleMean(name="ensemble_mean")(x)
    return keras.Model(inputs, output_head(x, info, spec), name="feedforward")


def member_losses(spec: Feedforward, info: DataInfo) -> bool:
    """Whether the ensemble trains each member on its own prediction (`model.ensemble_loss`); `members` on a task
    other than single-target regression is a RecipeError."""
    if spec.ensemble_loss == "members" and info.task != catalog.REGRESSION:
        raise RecipeError(
            f"ensemble_loss: members trains each member on its own squared error, which needs a regression "
            f"target; this is a {info.task} task",
            field="model.ensemble_loss",
            hint="use ensemble_loss: mean (or auto)",
        )
    return spec.ensemble_loss == "members"


def embedded_inputs(x: Any, spec: Feedforward, info: DataInfo) -> Any:
    """A table's inputs with the numeric columns embedded (`spec.numeric_embedding`, bins from the training
    quantiles in `info.table`) and the index-coded categorical columns embedded; the rest (one-hot categories, date
    features) as they are. Without `info.table` (streamed tables) the inputs stay as they are."""
    import keras

    from kproto.models.tabular_layers import (
        CategoryEmbedding,
        PeriodicEmbedding,
        PiecewiseLinearEncoding,
        SelectColumns,
        bin_edges,
    )

    layout = info.table or {}
    numeric = list(layout.get("numeric", [])) if spec.numeric_embedding != "none" else []
    categorical = [int(position) for position, _ in layout.get("categorical", [])]
    if not numeric and not categorical:
        return x
    parts = []
    if numeric:
        values = SelectColumns(numeric, name="numeric_columns")(x)
        if spec.numeric_embedding == "piecewise_linear":
            edges = [bin_edges(grid, spec.bins) for grid in layout["quantiles"]]
            parts.append(PiecewiseLinearEncoding(edges, name="numeric_embedding")(values))
        else:
            parts.append(PeriodicEmbedding(dim=spec.embedding_dim, name="numeric_embedding")(values))
    if categorical:
        sizes = [int(size) for _, size in layout["categorical"]]
        codes = SelectColumns(categorical, name="categorical_columns")(x)
        parts.append(CategoryEmbedding(sizes, dim=spec.embedding_dim, name="categorical_embedding")(codes))
    embedded = set(numeric) | set(categorical)
    rest = [i for i in range(int(info.input_shape[-1])) if i not in embedded]
    if rest:
        parts.append(SelectColumns(rest, name="other_columns")(x))
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="table_inputs")(parts)
