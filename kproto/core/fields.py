"""Pydantic bases and field types shared by the recipe schema and the model families' specs.

Importing this module never imports Keras or TensorFlow.
"""

from __future__ import annotations

from typing import Annotated, Literal

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


class ModelBase(Strict):
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
