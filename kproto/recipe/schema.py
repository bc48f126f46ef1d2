"""The recipe schema: typed pydantic models that forbid unknown keys.

Importing this module never imports Keras or TensorFlow.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PositiveInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


class Strict(BaseModel):
    """Base for every recipe section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


# ----------------------------------------------------------------------------- data
class Split(Strict):
    validation: Fraction = Field(0.15, description="Share of rows held out for validation.")
    test: Fraction = Field(0.15, description="Share of rows held out for the final test.")

    @model_validator(mode="after")
    def _leaves_training_rows(self) -> Split:
        if self.validation + self.test >= 0.95:
            raise ValueError(
                f"validation + test = {self.validation + self.test:g} leaves no training data; "
                "expected a sum below 0.95 (e.g. validation: 0.15, test: 0.15)"
            )
        return self


class Window(Strict):
    length: PositiveInt = Field(description="Time steps in each input window.")
    horizon: PositiveInt = Field(1, description="Predict the target this many steps after the window's last step.")
    stride: PositiveInt = Field(1, description="Steps between the starts of consecutive windows.")


class Augment(Strict):
    flip: Literal["horizontal", "vertical", "horizontal_and_vertical"] | None = None
    rotation: Annotated[float, Field(ge=0, le=1)] | None = None
    zoom: Annotated[float, Field(ge=0, lt=1)] | None = None
    translation: Annotated[float, Field(ge=0, lt=1)] | None = None
    contrast: Annotated[float, Field(ge=0, le=1)] | None = None
    noise: Annotated[float, Field(ge=0)] | None = None
    mask: Annotated[float, Field(ge=0, lt=1)] | None = None


class Data(Strict):
    path: str = Field(description="csv, tsv, parquet or npz file, or a folder of images with a subfolder per class.")
    target: str | None = Field(None, description="The column to predict (not used by autoencoders).")
    features: list[str] | None = Field(None, description="Input columns; default: every column but the target.")
    task: Literal["classification", "regression"] | None = Field(None, description="Inferred from the target.")
    split: Split = Field(default_factory=Split)
    shape: list[PositiveInt] | None = Field(None, description="Reshape pixel columns into an image, e.g. [8, 8, 1].")
    text: str | None = Field(None, description="A free-text column, tokenized with TextVectorization.")
    vocab_size: PositiveInt = Field(20000, description="Largest vocabulary kept by the tokenizer.")
    sequence_length: PositiveInt = Field(200, description="Tokens per text after padding/truncation.")
    window: Window | None = Field(None, description="Turn a time series into supervised windows.")
    missing: Literal["impute", "error"] = Field("impute", description="Impute missing values or refuse them.")
    categorical: Literal["onehot", "index"] = Field("onehot", description="How string feature columns are encoded.")
    max_classes: PositiveInt = Field(
        20, description="An integer target with at most this many distinct values is a classification target."
    )
    streaming: Literal["auto"] | bool = Field("auto", description="Stream files too large for memory.")
    augment: Augment | None = Field(None, description="Random augmentation of the training split.")
    limit: PositiveInt | None = Field(None, description="Use only the first N rows (quick experiments).")


# ----------------------------------------------------------------------------- model
Regularizer = dict[str, float]


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


class Feedforward(ModelBase):
    type: Literal["feedforward"]
    units: list[PositiveInt] = Field([256, 128], description="Units of each hidden Dense layer.")
    dropout: Fraction = 0.1
    normalization: Literal["none", "batch", "layer"] = Field("none", description="Normalization after each layer.")


class CNN(ModelBase):
    type: Literal["cnn"]
    filters: list[PositiveInt] = Field([32, 64], description="Filters of each convolution block.")
    kernel_size: PositiveInt = 3
    convs_per_block: PositiveInt = Field(2, description="Convolutions in each block before pooling.")
    pooling: Literal["max", "average", "none"] = "max"
    batch_norm: bool = True
    spatial_dropout: Fraction = Field(0.0, description="SpatialDropout2D rate after each block.")
    head: Literal["global_average", "global_max", "flatten"] = "global_average"
    dense: list[PositiveInt] = Field([128], description="Dense layers after the convolutions.")
    dropout: Fraction = 0.3


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


class Autoencoder(ModelBase):
    type: Literal["autoencoder"]
    units: list[PositiveInt] = Field([128, 64], description="Encoder layers (mirrored in the decoder).")
    bottleneck: PositiveInt = Field(16, description="Size of the code.")
    convolutional: bool = Field(False, description="Conv2D encoder/decoder for image data.")
    filters: list[PositiveInt] = Field([32, 64], description="Filters of the convolutional encoder.")


class GanPart(Strict):
    units: list[PositiveInt] = Field([128, 256], description="Dense layers.")
    activation: str = "leaky_relu"
    dropout: Fraction = 0.0
    batch_norm: bool = False


class GAN(ModelBase):
    type: Literal["gan"]
    latent_dim: PositiveInt = Field(32, description="Size of the generator's noise input.")
    generator: GanPart = Field(default_factory=lambda: GanPart(units=[128, 256], batch_norm=True))
    discriminator: GanPart = Field(default_factory=lambda: GanPart(units=[256, 128], dropout=0.3))
    conditional: bool = Field(False, description="Condition both networks on the class label (data.target).")
    samples_every: PositiveInt = Field(5, description="Write a sample grid every N epochs.")


class Sequential(ModelBase):
    type: Literal["sequential"]
    layers: list[dict[str, dict[str, Any] | None]] = Field(
        description="Keras layers in order, e.g. [{Dense: {units: 64}}, {Dropout: {rate: 0.2}}]."
    )

    @field_validator("layers")
    @classmethod
    def _one_class_per_item(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, item in enumerate(value):
            if len(item) != 1:
                raise ValueError(f"item {i} must have exactly one key (the layer class), got {sorted(item)}")
        if not value:
            raise ValueError("the layer list is empty; add at least one layer")
        return value


ModelSpec = Annotated[
    Union[Feedforward, CNN, RNN, GRU, LSTM, Transformer, Autoencoder, GAN, Sequential],
    Field(discriminator="type"),
]


# ----------------------------------------------------------------------------- train
NamedConfig = Union[str, dict[str, Any]]


class EarlyStopping(Strict):
    patience: PositiveInt = Field(5, description="Epochs without improvement before stopping.")
    monitor: str = Field("val_loss", description="A logged value, e.g. val_loss or val_accuracy.")
    min_delta: Annotated[float, Field(ge=0)] = 0.0
    restore_best: bool = Field(True, description="Keep the best epoch's weights.")


class Schedule(Strict):
    model_config = ConfigDict(extra="allow")
    name: str = Field(
        description="constant, step, exponential, cosine, cosine_restarts, polynomial, one_cycle, plateau"
    )
    warmup_epochs: Annotated[float, Field(ge=0)] = Field(0, description="Linear warmup from zero.")


class Train(Strict):
    loss: NamedConfig = Field("auto", description="A Keras loss name, {name: ..., args}, or {python: file.py:fn}.")
    optimizer: NamedConfig = Field("adam", description="An optimizer name or {name: adam, learning_rate: 0.001, ...}.")
    epochs: PositiveInt = 30
    batch_size: PositiveInt = 32
    metrics: list[str] | None = Field(None, description="Default: accuracy (classification) or mae (regression).")
    early_stopping: EarlyStopping | None = Field(default_factory=EarlyStopping)
    schedule: Schedule | None = None
    class_weight: Literal["balanced"] | dict[str, float] | None = None
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16", "auto"] = "auto"
    jit_compile: bool | Literal["auto"] = "auto"
    engine: Literal["auto", "fit", "fused"] = "auto"
    backend: Literal["auto", "tensorflow", "jax", "torch"] = "auto"
    steps_per_execution: PositiveInt | Literal["auto"] = "auto"
    distribute: Literal["none", "mirrored", "multi_worker", "data_parallel"] = "none"
    lr_scaling: Literal["none", "linear", "sqrt"] = Field(
        "none", description="Scale the learning rate with the number of replicas."
    )

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _false_means_off(cls, value: Any) -> Any:
        return None if value is False else value


class Recipe(Strict):
    name: str | None = Field(None, description="Run name; default: the recipe file's stem.")
    seed: Annotated[int, Field(ge=0)] = 42
    extends: str | None = Field(None, description="A parent recipe, deep-merged beneath this one.")
    data: Data
    model: ModelSpec
    train: Train = Field(default_factory=Train)


MODEL_CLASSES = {cls.model_fields["type"].annotation.__args__[0]: cls for cls in ModelSpec.__args__[0].__args__}
