"""Text pairs, vocabularies, decoding and the seq2seq family."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from kproto.core.errors import DataError
from kproto.data.pairs import (
    END_ID,
    START_ID,
    UNKNOWN_ID,
    PairEncoder,
    choose_source_unit,
    detokenize,
    pair_splits,
    tokenize,
)
from kproto.outputs.decoding import beam_decode, greedy_decode


@pytest.mark.parametrize(
    ("text", "unit", "tokens"),
    [
        ("K  AE1 T", "words", ["K", "AE1", "T"]),
        (" cat ", "characters", ["c", "a", "t"]),
        ("a b", "characters", ["a", " ", "b"]),
        ("", "words", []),
    ],
)
def test_tokenize_round_trip(text: str, unit: str, tokens: list[str]) -> None:
    assert tokenize(text, unit) == tokens
    assert detokenize(tokens, unit) == " ".join(text.split())


def test_source_unit_is_characters_for_single_words() -> None:
    assert choose_source_unit(["cat", "dog", "bird"]) == "characters"
    assert choose_source_unit(["the cat sat", "a dog", "hi"]) == "words"


def _encoder(max_length: int = 20) -> PairEncoder:
    return PairEncoder.fit(
        ["cat", "dog", "cats"],
        ["K AE1 T", "D AO1 G", "K AE1 T S"],
        source_column="word",
        target_column="phonemes",
        source_unit="auto",
        target_unit="words",
        max_tokens=100,
        max_length=max_length,
    )


def test_encoder_packs_source_then_decoder_input() -> None:
    encoder = _encoder()
    assert (encoder.source_unit, encoder.source_length, encoder.target_length) == ("characters", 4, 5)
    x, y = encoder.arrays(["cat"], ["K AE1 T"])
    assert x.shape == (1, 9) and y.shape == (1, 5)
    source, decoder_in = x[0, :4], x[0, 4:]
    assert [encoder.source_vocabulary[i] for i in source[:3]] == ["c", "a", "t"] and source[3] == 0
    assert decoder_in[0] == START_ID
    assert list(decoder_in[1:4]) == list(y[0, :3])  # the target is the decoder input shifted by one
    assert y[0, 3] == END_ID and y[0, 4] == 0
    assert encoder.target_text(y[0]) == "K AE1 T"


def test_unknown_tokens_truncation_and_generation_inputs() -> None:
    encoder = _encoder(max_length=3)
    assert encoder.source_length == 3 and encoder.target_length == 4
    assert encoder.encode_sources(["zzzzz"]).tolist() == [[UNKNOWN_ID] * 3]
    x = encoder.inputs(["dog"])
    assert x[0, 3] == START_ID and not x[0, 4:].any()


def test_encoder_state_round_trips_through_json() -> None:
    import json

    encoder = _encoder()
    assert PairEncoder.from_dict(json.loads(json.dumps(encoder.to_dict()))) == encoder


def test_target_tokens_stop_at_end() -> None:
    encoder = _encoder()
    ids = [encoder.target_vocabulary.index("K"), END_ID, encoder.target_vocabulary.index("T")]
    assert encoder.target_tokens(ids) == ["K"]


def test_empty_targets_are_refused() -> None:
    with pytest.raises(DataError, match="empty"):
        PairEncoder.fit(
            ["a"],
            [""],
            source_column="s",
            target_column="t",
            source_unit="words",
            target_unit="words",
            max_tokens=10,
            max_length=5,
        )


def test_pair_splits_report_baselines() -> None:
    frame = pd.DataFrame({"src": [f"w{i % 7}" for i in range(60)], "tgt": [f"T{i % 7} X" for i in range(60)]})
    data = SimpleNamespace(
        text="src",
        target="tgt",
        target_tokens="words",
        source_tokens="words",
        vocab_size=100,
        sequence_length=10,
        split=SimpleNamespace(validation=0.2, test=0.2),
    )
    arrays, encoder, baselines = pair_splits(frame, data, seed=0)
    assert sum(len(x) for x, _ in arrays.values()) == 60
    assert {"copy_input_token_error_rate", "most_frequent_token_error_rate", "most_frequent_bleu"} <= set(baselines)
    again, _, _ = pair_splits(frame, data, seed=0, encoder=encoder)
    assert np.array_equal(again["test"][0], arrays["test"][0])


def _stub_model(table: dict[tuple[int, ...], list[float]], vocabulary: int, source_length: int):
    """Probabilities of the next token given the decoded prefix (ids after [START]), from a lookup table."""

    def predict(x: np.ndarray) -> np.ndarray:
        decoder = x[:, source_length:]
        out = np.zeros((len(x), decoder.shape[1], vocabulary))
        for row in range(len(x)):
            for step in range(decoder.shape[1]):
                prefix = tuple(int(i) for i in decoder[row, 1 : step + 1])
                out[row, step] = table.get(prefix, [0, 0, 0, 1] + [0] * (vocabulary - 4))
        return out

    return predict


def test_greedy_and_beam_search() -> None:
    # greedy takes 4 (p 0.6) and then has only 0.3 for its best continuation; beam finds 5 → END (0.4 * 0.9)
    table = {
        (): [0, 0, 0, 0, 0.6, 0.4],
        (4,): [0, 0, 0, 0.3, 0.35, 0.35],
        (4, 4): [0, 0, 0, 1.0, 0, 0],
        (4, 5): [0, 0, 0, 1.0, 0, 0],
        (5,): [0, 0, 0, 0.9, 0.05, 0.05],
    }
    predict = _stub_model(table, 6, source_length=1)
    sources = np.ones((2, 1), dtype=np.int32)
    greedy = greedy_decode(predict, sources, target_length=4)
    assert greedy[0].tolist()[:3] == [4, 4, END_ID]
    beam = beam_decode(predict, sources, target_length=4, beam=3)
    assert beam[0].tolist()[:2] == [5, END_ID] and beam[1].tolist()[:2] == [5, END_ID]
    assert greedy_decode(predict, sources, target_length=4, max_length=1).shape == (2, 1)
    assert np.array_equal(beam_decode(predict, sources, 4, beam=1), greedy)


def _toy_pairs(n: int = 600) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcd"), rng.integers(2, 5))) for _ in range(n)]
    return words, [" ".join(reversed(w)).upper() for w in words]


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["transformer", "gru", "lstm"])
def test_each_architecture_trains_decodes_and_reloads(architecture: str, tmp_path) -> None:
    import keras

    from kproto.models.seq2seq import Seq2Seq, build
    from kproto.outputs.decoding import model_predictor

    words, targets = _toy_pairs()
    encoder = PairEncoder.fit(
        words,
        targets,
        source_column="w",
        target_column="t",
        source_unit="characters",
        target_unit="words",
        max_tokens=50,
        max_length=10,
    )
    x, y = encoder.arrays(words, targets)
    layout = {
        "source_length": encoder.source_length,
        "target_length": encoder.target_length,
        "source_vocab_size": len(encoder.source_vocabulary),
        "target_vocab_size": len(encoder.target_vocabulary),
    }
    spec = Seq2Seq(type="seq2seq", architecture=architecture, layers=1, embed_dim=16, ff_units=32, units=32)
    model = build(spec, SimpleNamespace(layout=layout))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(ignore_class=0))
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first
    probabilities = model.predict(x[:4], verbose=0)
    assert probabilities.shape == (4, encoder.target_length, len(encoder.target_vocabulary))
    generated = beam_decode(model_predictor(model), encoder.split_sources(x[:4]), encoder.target_length, beam=2)
    assert generated.shape == (4, encoder.target_length)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert np.allclose(reloaded.predict(x[:4], verbose=0), probabilities, atol=1e-5)


def test_token_accuracy_and_loss_ignore_padding() -> None:
    import keras

    from kproto.models.seq2seq_layers import TokenAccuracy, masked_loss

    y_true = np.array([[4, 5, 0, 0]])
    probabilities = np.zeros((1, 4, 6), dtype=np.float32)
    probabilities[0, 0, 4] = probabilities[0, 1, 4] = 1.0  # right, wrong, then padding (predicting 5)
    probabilities[0, 2:, 5] = 1.0
    metric = TokenAccuracy()
    metric.update_state(y_true, probabilities)
    assert float(metric.result()) == pytest.approx(0.5)
    loss = masked_loss()
    padded_wrong = probabilities.copy()
    padded_wrong[0, 2:] = 1 / 6
    assert float(loss(y_true, probabilities)) == pytest.approx(float(loss(y_true, padded_wrong)), rel=1e-5)
    assert isinstance(loss, keras.losses.Loss)


# ----------------------------------------------------------------------------- through the CLI
SEQ2SEQ_RECIPE = """
data: {{path: {path}, text: word, target: spelled, target_tokens: words, split: {{validation: 0.1, test: 0.1}}}}
model: {{type: seq2seq, architecture: {architecture}, layers: 1, embed_dim: 16, units: 32, ff_units: 32, heads: 2}}
train: {{epochs: 2, batch_size: 32}}
"""


def _pairs_file(folder) -> str:
    words, targets = _toy_pairs(300)
    path = folder / "pairs.csv"
    pd.DataFrame({"word": words, "spelled": targets}).to_csv(path, index=False)
    return str(path)


def test_recipe_fields_validate(runner, make_recipe, tmp_path) -> None:
    from kproto.cli import cli

    recipe = make_recipe(SEQ2SEQ_RECIPE.format(path=_pairs_file(tmp_path), architecture="gru"))
    result = runner.invoke(cli, ["validate", str(recipe)])
    assert result.exit_code == 0, result.output
    bad = make_recipe(SEQ2SEQ_RECIPE.format(path=_pairs_file(tmp_path), architecture="rnn"), name="bad.yaml")
    result = runner.invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 2 and "architecture" in result.output


@pytest.mark.slow
def test_train_evaluate_predict_through_the_cli(runner, make_recipe, tmp_path) -> None:
    import json

    from kproto.cli import cli

    recipe = make_recipe(SEQ2SEQ_RECIPE.format(path=_pairs_file(tmp_path), architecture="gru"))
    out = tmp_path / "runs"
    result = runner.invoke(cli, ["train", str(recipe), "--out", str(out), "--backend", "tensorflow"])
    assert result.exit_code == 0, result.output
    (metrics_file,) = out.glob("*/*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert {"exact_match", "token_error_rate", "bleu"} <= set(metrics["report"])
    assert "token_error_rate" in metrics["baselines"]["copy_input"]
    assert "token_accuracy" in metrics["validation"]
    run = metrics_file.parent
    state = json.loads((run / "preprocess.json").read_text())["state"]
    assert state["kind"] == "pairs" and state["pairs"]["source_unit"] == "characters"
    result = runner.invoke(cli, ["evaluate", str(run), "--beam", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["report"]["beam"] == 2
    words = tmp_path / "words.csv"
    pd.DataFrame({"word": ["abc", "dd"]}).to_csv(words, index=False)
    result = runner.invoke(cli, ["predict", str(run), "--data", str(words), "--beam", "2", "--max-length", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "word,prediction" and len(lines) == 3
    assert all(len(line.split(",")[1].split()) <= 3 for line in lines[1:])
    from kproto.serve.predictor import load_predictor

    served = load_predictor(run).records(pd.DataFrame({"word": ["abc"]}))
    assert list(served[0]) == ["prediction", "warnings"] and isinstance(served[0]["prediction"], str)
    assert served[0]["warnings"] == []


def test_new_writes_a_recipe_that_validates(runner, tmp_path) -> None:
    from pathlib import Path

    from kproto.cli import cli

    out = tmp_path / "starter.yaml"
    data = Path(__file__).resolve().parent.parent / "data" / "pronunciations.csv"
    assert runner.invoke(cli, ["new", "seq2seq", "--data", str(data), "--out", str(out)]).exit_code == 0
    text = out.read_text()
    assert "text: word" in text and "target: phonemes" in text and "accuracy" not in text
    assert runner.invoke(cli, ["validate", str(out)]).exit_code == 0
