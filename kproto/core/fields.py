"""Pydantic bases and field types shared by the recipe schema and the model families' specs.

Importing this module never imports Keras or TensorFlow.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

PositiveInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


class Strict(BaseModel):
    """Base for every recipe section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class LayerRegularizer(Strict):
    l1: Annotated[float, Field(ge=0)] = Field(0.0, description="L1 penalty.")
    l2: Annotated[float, Field(ge=0)] = Field(0.0, description="L2 penalty.")
    regularize: list[Literal["kernel", "bias", "activity"]] = Field(
        ["kernel"], description="Where l1/l2 apply in this layer: kernel, bias and/or activity."
    )


class TabularTower(Strict):
    """`model.inputs.tabular`: the dense tower over the numeric, categorical (embedded) and date columns."""

    units: list[PositiveInt] = Field([64], description="Units of each Dense layer of the tower.")
    embedding_dim: PositiveInt = Field(8, description="Size of each categorical column's embedding.")


class InputEncoders(Strict):
    """`model.inputs`: per-kind overrides of the encoders a model of several inputs gets (defaults chosen for you)."""

    text: dict[str, Any] | None = Field(
        None, description="The text encoder as a family section, e.g. {type: lstm, units: [64]}; default: the model's."
    )
    image: dict[str, Any] | None = Field(
        None, description="The image encoder as a family section (cnn or pretrained); default: the model's or a cnn."
    )
    tabular: TabularTower | None = Field(None, description="The tower over numeric, categorical and date columns.")


class ModelBase(Strict):
    """The `model:` section of every family, and the family protocol: the traits the rest of kproto reads from a
    spec, with the value most families have. A family's spec overrides a trait where its answer depends on the
    recipe (a convolutional autoencoder is not fused-capable; implicit feedback needs no target); what holds for the
    whole family (its inputs, task, backend) is in its kproto.core.catalog entry."""

    # Data fields the family cannot do without, each with how to set it (the recipe loader checks them).
    required_data: ClassVar[dict[str, str]] = {}
    # The field to fix, and how, when the data's input kind is not among the family's catalog `inputs`.
    input_field: ClassVar[str] = "model.type"
    input_hint: ClassVar[str] = ""

    activation: str = Field("relu", description="Any Keras activation by name.")
    dropout: Fraction = Field(0.0, description="Dropout rate between layers.")
    l1: Annotated[float, Field(ge=0)] = Field(0.0, description="L1 penalty on kernels.")
    l2: Annotated[float, Field(ge=0)] = Field(0.0, description="L2 penalty on kernels.")
    regularize: list[Literal["kernel", "bias", "activity"]] = Field(
        ["kernel"], description="Where l1/l2 apply: kernel, bias and/or activity."
    )
    output_activation: str | None = Field(None, description="Override the output activation chosen from the task.")
    layer_regularizers: dict[str, LayerRegularizer] = Field(
        {}, description="Per-layer penalties by layer name, replacing l1/l2 there, e.g. {dense_0: {l2: 0.01}}."
    )
    inputs: InputEncoders | None = Field(
        None, description="Encoders per kind of input when the data mixes kinds (text, image, tabular)."
    )
    combine: Literal["concat", "attention", "gated"] = Field(
        "concat", description="How the encoded inputs meet before the head: concat, attention or gated."
    )

    @property
    def fused_capable(self) -> bool:
        """This spec can train as one compiled JAX loop per epoch, where its family can (catalog `fused`)."""
        return True

    @property
    def needs_target(self) -> bool:
        """This spec learns a target column, where its family does (catalog `needs_target`)."""
        return True

    @property
    def code_size(self) -> int | None:
        """The width of the learned code (an autoencoder's bottleneck): the PCA baseline uses as many components."""
        return None

    def chosen(self, info: Any) -> dict[str, str]:
        """What the family picked from the data where the recipe left it open, {header line: what and why}
        (printed in the run header, recorded in metrics.json)."""
        return {}

    def training_length(self, info: Any, batch_size: int, epochs: int | None = None) -> dict[str, int]:
        """The training length the family picks for this data where the recipe leaves it open: {"epochs": N,
        "patience": P} (early stopping's patience; `epochs`: the recipe's, where it sets them), or {} to keep the
        recipe's defaults (kproto.training.length)."""
        return {}

    def initialize(self, model: Any, dataset: Any) -> None:
        """Set starting weights from the training rows of `dataset` (a freshly built model; none by default)."""

    def path_fields(self) -> list[str]:
        """The fields that hold local paths (the recipe loader makes them absolute like data.path)."""
        return []
