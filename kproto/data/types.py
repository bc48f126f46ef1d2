"""The data types every stage shares: what a model needs to know about its data, and the model-ready splits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog

if TYPE_CHECKING:
    from kproto.data.preprocess import Preprocessor


@dataclass
class DataInfo:
    """What a model builder needs to know about its inputs and outputs."""

    task: catalog.Task  # inferred from the target column, or fixed by the family
    kind: catalog.InputKind  # how the rows reach the model (catalog.INPUT_KINDS)
    input_shape: tuple[int, ...]
    num_classes: int = 0
    class_names: list[Any] | None = None
    output_dim: int = 1
    vocab_size: int = 0
    target_mean: float = 0.0
    target_std: float = 1.0
    rows: dict[str, int] = field(default_factory=dict)
    layout: dict[str, int] = field(default_factory=dict)  # how one packed input array is read (seq2seq, recommender)
    forecast: dict[str, Any] = field(default_factory=dict)  # windows: horizon, normalize, linear, target channel
    targets: list[dict[str, Any]] = field(default_factory=list)  # several targets: kproto.data.targets.target_entry
    inputs: list[dict[str, Any]] = field(default_factory=list)  # several inputs: each named part's shape (data.inputs)
    # tables: the numeric inputs and their training quantiles, the index-coded categorical inputs (for embeddings;
    # read when the model is built, not saved: a saved model keeps what it needs in its layers' configs)
    table: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("table")
        data["input_shape"] = list(self.input_shape)
        if not self.targets:  # a single-target run's file stays as it was
            del data["targets"]
        if not self.inputs:
            del data["inputs"]  # one input: the record stays as it was
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataInfo:
        kind = catalog.input_kind(data["kind"])  # older runs recorded `tabular`
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "kind": kind, "input_shape": tuple(data["input_shape"])})


@dataclass
class Dataset:
    """Model-ready splits with the fitted preprocessing and reference baselines."""

    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    info: DataInfo
    preprocessor: Preprocessor
    baselines: dict[str, Any] = field(default_factory=dict)
    forecast: Any = None  # windows: kproto.data.forecasting.ForecastData
    audit: Any = None  # kproto.data.audit.Audit: the columns' roles, what was dropped and why, warnings
    dropped_rows: int = 0  # rows left out for an empty target

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        return {
            "train": (self.x_train, self.y_train),
            "validation": (self.x_val, self.y_val),
            "test": (self.x_test, self.y_test),
        }[name]
