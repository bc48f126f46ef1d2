"""Write a small BERT-style KerasHub preset with random weights, for offline fine-tuning recipes and tests.

The WordPiece vocabulary is computed from the text column of a CSV file (default: the shipped reviews), the
backbone is a `keras_hub.models.BertBackbone` with random weights, and both are saved with `save_to_preset`,
so the folder loads through the same `from_preset` path a downloaded preset takes. Nothing is downloaded.

Run from the repository root::

    python scripts/make_text_preset.py                      # writes presets/bert-tiny-reviews/
    python scripts/make_text_preset.py --out DIR --layers 2 --hidden 64
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_bert_preset(
    out: Path,
    texts: list[str],
    vocabulary_size: int = 4000,
    layers: int = 2,
    heads: int = 2,
    hidden: int = 64,
    max_sequence_length: int = 128,
    seed: int = 0,
) -> Path:
    """A BERT preset folder in `out`: a WordPiece vocabulary from `texts` and a backbone with random weights."""
    import keras
    import keras_hub
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    corpus = tf.data.Dataset.from_tensor_slices(list(texts)).batch(1000)  # a list of strings would be file names
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(corpus, vocabulary_size, lowercase=True)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=layers,
        num_heads=heads,
        hidden_dim=hidden,
        intermediate_dim=hidden * 2,
        max_sequence_length=max_sequence_length,
    )
    out.mkdir(parents=True, exist_ok=True)
    backbone.save_to_preset(str(out))
    tokenizer.save_to_preset(str(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "reviews.csv")
    parser.add_argument("--column", default="review")
    parser.add_argument("--out", type=Path, default=ROOT / "presets" / "bert-tiny-reviews")
    parser.add_argument("--vocabulary-size", type=int, default=4000)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import pandas as pd

    texts = pd.read_csv(args.data)[args.column].fillna("").astype(str).tolist()
    folder = make_bert_preset(args.out, texts, args.vocabulary_size, args.layers, hidden=args.hidden)
    print(f"wrote a random-weight BERT preset to {folder}")


if __name__ == "__main__":
    main()
