"""kproto.commands.scaffold and `kproto new`: starter recipes filled in from the data, family choices read off the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kproto.cli import cli
from kproto.commands import scaffold
from kproto.core import catalog

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
TF = ["--backend", "tensorflow"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _invoke(args: list[object]) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _check_png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    image = plt.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50


# ----------------------------------------------------------------------------- traits from the catalog
@pytest.mark.parametrize("family", list(catalog.FAMILIES))
def test_default_data_is_the_catalogs_example(family: str) -> None:
    found = scaffold.find_default_data(family)
    assert found is not None and found.name == catalog.FAMILIES[family].example_data


@pytest.mark.parametrize(
    ("family", "sequence", "inputs_only"),
    [
        ("feedforward", False, False),
        ("sequential", False, False),
        ("cnn", False, False),
        ("rnn", True, False),
        ("gru", True, False),
        ("lstm", True, False),
        ("transformer", True, False),
        ("autoencoder", False, True),
        ("gan", False, True),
    ],
)
def test_family_traits(family: str, sequence: bool, inputs_only: bool) -> None:
    assert scaffold.is_sequence_family(family) is sequence
    assert scaffold.learns_inputs_only(family) is inputs_only
    assert inputs_only is (not catalog.FAMILIES[family].needs_target)


@pytest.mark.parametrize("family", ["autoencoder", "gan"])
def test_models_of_their_inputs_keep_the_target_out(family: str) -> None:
    text = scaffold.starter_recipe(family, DATA / "digits.csv")
    assert "target: label    # not an input" in text and "epochs: 50" in text
    assert "metrics:" not in text


def test_image_shape() -> None:
    assert scaffold.image_shape(64) == [8, 8, 1]
    assert scaffold.image_shape(784) == [28, 28, 1]
    assert scaffold.image_shape(3072) == [32, 32, 3]
    assert scaffold.image_shape(10) is None


# ----------------------------------------------------------------------------- `kproto new`
def test_new_fills_in_the_data(tmp_path: Path) -> None:
    digits = _invoke(["new", "cnn", "--data", DATA / "digits.csv"])
    assert "target: label" in digits and "shape: [8, 8, 1]" in digits
    text = _invoke(["new", "lstm", "--data", DATA / "reviews.csv"])
    assert "text: review" in text and "target: score" in text
    series = _invoke(["new", "gru", "--data", DATA / "sunspots.csv"])
    assert "window:" in series and "target: sunspots" in series
    credit = _invoke(["new", "feedforward", "--data", DATA / "credit.csv", "--target", "status"])
    assert "target: status" in credit and "categorical" in credit
    assert "# missing_indicators: true" in credit and "(income, assets, debt)" in credit  # its gappy numbers
    rows = pd.DataFrame({"a": np.arange(40), "target": np.arange(40) % 2})
    rows.to_csv(tmp_path / "t.csv", index=False)
    complete = _invoke(["new", "feedforward", "--data", tmp_path / "t.csv"])
    assert "target: target" in complete and "missing_indicators" not in complete  # no gap, no proposal


def test_new_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["new", "feedforwrd"])
    assert result.exit_code == 2
    assert "Did you mean 'feedforward'?" in result.output
    out = tmp_path / "r.yaml"
    out.write_text("keep me\n")
    result = CliRunner().invoke(cli, ["new", "feedforward", "--data", str(DATA / "iris.csv"), "--out", str(out)])
    assert result.exit_code == 2 and "never overwrites" in result.output
    assert out.read_text() == "keep me\n"
    result = CliRunner().invoke(cli, ["new", "cnn", "--data", str(DATA / "iris.csv")])
    assert result.exit_code == 2 and "cnn needs images" in result.output


def test_new_writes_a_recipe_that_validates(tmp_path: Path) -> None:
    out = tmp_path / "recipes" / "iris-ff.yaml"
    assert "kproto validate" in _invoke(["new", "feedforward", "--data", DATA / "iris.csv", "--out", out])
    assert "OK" in _invoke(["validate", out])


# ----------------------------------------------------------------------------- new, validate, train, plot
FAMILY_DATA = {
    "feedforward": ("iris.csv", ["confusion.png"]),
    "sequential": ("iris.csv", ["confusion.png"]),
    "cnn": ("digits.csv", ["confusion.png"]),
    "rnn": ("sunspots.csv", ["forecast.png", "predicted_vs_actual.png", "residuals.png"]),
    "gru": ("co2.csv", ["forecast.png"]),
    "lstm": ("sunspots.csv", ["forecast.png"]),
    "transformer": ("reviews.csv", ["confusion.png", "roc.png", "precision_recall.png"]),
    "autoencoder": ("digits.csv", ["reconstruction.png"]),
    "gan": ("digits.csv", ["samples.png"]),
}
QUICK = {  # keep the slow families tiny
    "transformer": ["--set", "data.sequence_length=32", "--set", "model.layers=1", "--set", "data.vocab_size=2000"],
    "cnn": ["--set", "model.filters=[8]", "--set", "model.dense=[16]"],
}


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILY_DATA))
def test_new_recipe_validates_trains_and_plots(family: str, tmp_path: Path) -> None:
    from kproto.core.catalog import FAMILIES

    assert (ROOT / (FAMILIES[family].module.replace(".", "/") + ".py")).is_file()
    data, plots = FAMILY_DATA[family]
    recipe = tmp_path / "recipes" / f"{family}.yaml"
    _invoke(["new", family, "--data", DATA / data, "--out", recipe])
    text = recipe.read_text()
    assert f"type: {family}" in text and "#" in text
    overrides = ["--set", "train.epochs=1", "--set", "data.limit=200", *QUICK.get(family, [])]
    assert "OK" in _invoke(["validate", recipe, *overrides])
    _invoke(["train", recipe, "--out", tmp_path / "runs", *TF, *overrides])
    (run,) = (tmp_path / "runs" / family).iterdir()
    output = _invoke(["plot", run])
    for name in ["curves.png", *plots]:
        assert name in output, output
        _check_png(run / name)


def test_new_uses_the_audit_for_the_target_and_the_features(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 200
    pd.DataFrame(
        {
            "passenger": [f"Passenger {i}" for i in range(n)],
            "fare": rng.gamma(2.0, 10.0, n).round(2),
            "deck": rng.choice(["A", "B", "C"], n),
            "survived": rng.choice(["yes", "no"], n),
            "ticket_id": rng.choice(np.arange(1_000_000, 9_999_999), n, replace=False),
        }
    ).to_csv(tmp_path / "ship.csv", index=False)
    out = tmp_path / "ship.yaml"
    _invoke(["new", "feedforward", "--data", tmp_path / "ship.csv", "--out", out])
    text = out.read_text()
    assert "target: survived" in text  # not the last column, an identifier
    assert "1 numeric, 1 categorical (deck)" in text
    assert "left out by the data audit: passenger (identifier), ticket_id (identifier)" in text
    assert "#   [identifier] 'passenger' has 200 distinct values" in text
    validated = _invoke(["validate", out])
    assert "OK" in validated and "dropped by the data audit: passenger (identifier)" in validated


def test_new_proposes_the_sequence_length_training_would_choose(tmp_path: Path) -> None:
    from kproto.data.text_length import length_from_texts

    texts = [" ".join(["word"] * n) for n in range(1, 101)]
    pd.DataFrame({"review": texts, "label": ["a", "b"] * 50}).to_csv(tmp_path / "reviews.csv", index=False)
    output = _invoke(["new", "lstm", "--data", tmp_path / "reviews.csv"])
    assert length_from_texts(texts)[0] == 96  # the 95th percentile, 95.05 words, rounded up to a multiple of 8
    assert "sequence_length: 96 " in output


def test_a_text_transformer_recipe_leaves_the_encoder_to_the_data() -> None:
    import yaml

    from kproto.recipe import recipe_from_dict

    text = scaffold.starter_recipe("transformer", DATA / "reviews.csv")
    assert "encoder: auto" in text and "# layers: 2" in text
    model = yaml.safe_load(text)["model"]
    recipe = recipe_from_dict({"data": {"path": str(DATA / "reviews.csv"), "target": "score"}, "model": model})
    assert not {"layers", "heads", "key_dim", "ff_units", "pooling", "dropout"} & recipe.model.model_fields_set


def test_a_table_starter_keeps_the_family_defaults_and_leaves_the_training_length_open() -> None:
    """The starter for a table writes the model defaults a two-line recipe would get, and leaves epochs and patience
    to the rule that picks them from the training rows (writing them would switch it off)."""
    import yaml

    from kproto.models.feedforward import Feedforward, table_training_length
    from kproto.recipe import recipe_from_dict

    text = scaffold.starter_recipe("feedforward", DATA / "credit.csv", "status")
    assert "else 1 (here: 4)" in text  # ~3,100 training rows: four members
    loaded = yaml.safe_load(text)
    assert loaded["model"]["units"] == Feedforward.model_fields["units"].default
    assert "epochs" not in loaded["train"] and "early_stopping" not in loaded["train"]
    picked = table_training_length(int(4454 * 0.7), loaded["train"]["batch_size"])
    assert f"up to {picked['epochs']} epochs, stopping after {picked['patience']} without improvement" in text
    loaded["data"]["path"] = str(DATA / "credit.csv")
    recipe = recipe_from_dict(loaded)
    assert "epochs" not in recipe.train.model_fields_set
    assert recipe.train.early_stopping is not None and "patience" not in recipe.train.early_stopping.model_fields_set


def test_a_large_table_starter_counts_every_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`kproto new` reads the first SAMPLE_ROWS rows to guess the recipe but states the file's row count, and the
    training length it proposes comes from all of them."""
    import numpy as np
    import pandas as pd

    from kproto.models.feedforward import table_training_length

    rows = scaffold.SAMPLE_ROWS * 3 + 7
    rng = np.random.default_rng(0)
    path = tmp_path / "big.csv"
    pd.DataFrame({"x": rng.normal(size=rows), "y": rng.normal(size=rows)}).to_csv(path, index=False)
    text = scaffold.starter_recipe("feedforward", path, "y")
    assert f"({rows:,} rows, 2 columns)" in text
    assert "else 1 (here: 1)" in text  # ~10,500 training rows: one network
    picked = table_training_length(int(rows * 0.7), 32)
    assert f"(~{int(rows * 0.7):,} rows here: up to {picked['epochs']} epochs" in text
    monkeypatch.setattr("kproto.data.readers.COUNT_BYTES", 100)  # too large to count: the rows read are a floor
    text = scaffold.starter_recipe("feedforward", path, "y")
    assert f"({scaffold.SAMPLE_ROWS:,}+ rows, 2 columns)" in text
    assert f"(at least ~{int(scaffold.SAMPLE_ROWS * 0.7):,} rows here: up to" in text
    assert "else 1\n" in text  # what `auto` picks is not guessed from the rows read


def test_other_families_keep_a_written_training_length() -> None:
    text = scaffold.starter_recipe("lstm", DATA / "reviews.csv", "score")
    assert "\n  epochs: 30\n" in text and "early_stopping: {monitor: val_loss, patience: 5}" in text


@pytest.mark.parametrize(
    ("dates", "rows", "window"),
    [
        (lambda n: pd.date_range("1949-01-01", periods=n, freq="MS"), 144, 24),  # months: two seasons of 12
        (lambda n: pd.date_range("2020-01-01", periods=n, freq="QS"), 60, 8),  # quarters: two seasons of 4
        (lambda n: pd.date_range("2020-01-01", periods=n, freq="MS"), 60, 4),  # too short for two seasons
        (lambda n: pd.date_range("1700-01-01", periods=n, freq="YS"), 300, 15),  # years: no season, rows / 20
    ],
    ids=["monthly", "quarterly", "short-monthly", "yearly"],
)
def test_a_series_window_covers_two_seasons_where_the_rows_allow(
    tmp_path: Path, dates: Any, rows: int, window: int
) -> None:
    path = tmp_path / "series.csv"
    values = np.sin(np.arange(rows) / 2.0) + np.arange(rows) * 0.01
    pd.DataFrame({"date": dates(rows).strftime("%Y-%m-%d"), "value": values}).to_csv(path, index=False)
    text = scaffold.starter_recipe("gru", path)
    assert f"window: {{length: {window}, horizon: 1}}" in text
    assert ("two seasons of" in text) is (window in (24, 8))
