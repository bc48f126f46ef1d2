"""Small local backbones for the pretrained tests, with random weights: nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

WORDS = "the a good bad great food coffee tea not love it is this taste awful fine".split()
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]


def bert_preset(folder: Path, max_sequence_length: int = 32) -> Path:
    """A one-layer BERT preset folder written by `save_to_preset` (config, weights, tokenizer, vocabulary)."""
    import keras_hub

    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCABULARY),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=max_sequence_length,
    )
    backbone.save_to_preset(str(folder))
    tokenizer.save_to_preset(str(folder))
    return folder


def review_texts(rows: int = 60, seed: int = 0) -> tuple[list[str], list[str]]:
    """Short reviews whose label depends on the words good/great versus bad/awful."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(rows):
        positive = i % 2 == 0
        key = rng.choice(["good", "great"] if positive else ["bad", "awful"])
        filler = rng.choice(["the", "coffee", "tea", "food", "this", "is", "it"], size=4)
        texts.append(" ".join([*filler[:2], str(key), *filler[2:]]))
        labels.append("great" if positive else "other")
    return texts, labels


def digits_run(folder: Path, pixels: int = 8) -> Path:
    """A kproto run folder holding a small CNN (random weights) for 8×8×1 images and its preprocessing."""
    from kproto.data.dataset import DataInfo
    from kproto.models import cnn
    from kproto.models.cnn import CNN

    info = DataInfo(task="classification", kind="image", input_shape=(pixels, pixels, 1), num_classes=5)
    spec = CNN(type="cnn", filters=[4, 8], dense=[16], convs_per_block=1)
    model = cnn.build(spec, info)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    features = [f"p{i}" for i in range(pixels * pixels)]
    state: dict[str, Any] = {
        "kind": "image",
        "task": "classification",
        "features": features,
        "imputed": {},
        "image": {"shape": [pixels, pixels, 1], "min": 0.0, "max": 16.0},
        "target": {"name": "label", "classes": [0, 1, 2, 3, 4]},
    }
    (folder / "preprocess.json").write_text(json.dumps({"info": info.to_dict(), "state": state}))
    (folder / "recipe.yaml").write_text("data: {path: digits.csv, target: label}\nmodel: {type: cnn}\n")
    (folder / "metrics.json").write_text(json.dumps({"status": "completed"}))
    return folder


def weight_values(layer: Any) -> list[np.ndarray]:
    return [np.array(w) for w in layer.get_weights()]


def changed(before: list[np.ndarray], after: list[np.ndarray]) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(before, after))
