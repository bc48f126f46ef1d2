"""Text tokenized the way a KerasHub backbone expects: the preset's own tokenizer and sequence packing.

The preprocessor's config and its tokenizer's files (vocabulary, merges, ...) are kept in the preprocessing
state, so a run's `preprocess.json` turns raw text into token ids with no preset folder or network at hand.
"""

from __future__ import annotations

import base64
import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kproto.core.errors import DataError

BATCH = 512  # texts tokenized per call


def preprocessor_state(preprocessor: Any, column: str, sequence_length: int) -> dict[str, Any]:
    """JSON state of a KerasHub text preprocessor (its config and its tokenizer's asset files)."""
    import keras

    with tempfile.TemporaryDirectory() as folder:
        preprocessor.tokenizer.save_assets(folder)
        assets = {
            path.name: base64.b64encode(path.read_bytes()).decode("ascii")
            for path in sorted(Path(folder).iterdir())
            if path.is_file()
        }
    config = keras.saving.serialize_keras_object(preprocessor)
    config["config"]["tokenizer"] = keras.saving.serialize_keras_object(preprocessor.tokenizer)  # may be left as is
    json.dumps(config)  # plain JSON, or fail here rather than in preprocess.json
    return {
        "column": column,
        "sequence_length": int(sequence_length),
        "hub": {
            "preprocessor": config,
            "assets": assets,
            "pad_token_id": int(getattr(preprocessor.tokenizer, "pad_token_id", 0) or 0),
        },
    }


def restore_preprocessor(state: dict[str, Any]) -> Any:
    """The KerasHub preprocessor that `preprocessor_state` described (safe deserialization, no network)."""
    import keras
    import keras_hub  # noqa: F401 - registers KerasHub's classes

    hub = state["hub"]
    config = copy.deepcopy(hub["preprocessor"])  # from_config replaces parts of the config it is given
    preprocessor = keras.saving.deserialize_keras_object(config, safe_mode=True)
    with tempfile.TemporaryDirectory() as folder:
        for name, data in hub["assets"].items():
            (Path(folder) / Path(name).name).write_bytes(base64.b64decode(data))
        preprocessor.tokenizer.load_assets(folder)
    return preprocessor


def encode_texts(state: dict[str, Any], texts: np.ndarray, preprocessor: Any = None) -> np.ndarray:
    """Token ids, int32 of shape (rows, sequence_length), for raw texts."""
    import keras

    preprocessor = preprocessor or restore_preprocessor(state)
    length = state["sequence_length"]
    blocks = []
    for start in range(0, len(texts), BATCH):
        part = [str(t) for t in texts[start : start + BATCH]]
        packed = preprocessor(part)
        ids = packed["token_ids"] if isinstance(packed, dict) else packed
        blocks.append(np.asarray(keras.ops.convert_to_numpy(ids), dtype=np.int32))
    if not blocks:
        return np.zeros((0, length), dtype=np.int32)
    ids = np.concatenate(blocks)
    if ids.shape[1] != length:
        raise DataError(
            f"the tokenizer returned sequences of {ids.shape[1]} tokens, expected {length}",
            field="data.sequence_length",
        )
    return ids
