"""Streaming from disk (kproto.data.streaming, kproto.training.engines.streaming): seeded proportional splits, blocks that
read every row once, and a streamed run that matches an in-memory one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.cli import cli
from kproto.data.streaming import BlockSource, assign_splits


def test_streaming_split_is_seeded_and_proportional() -> None:
    first = assign_splits(0, 20000, 7, 0.2, 0.1)
    assert np.array_equal(first, assign_splits(0, 20000, 7, 0.2, 0.1))
    assert not np.array_equal(first, assign_splits(0, 20000, 8, 0.2, 0.1))
    shares = np.bincount(first, minlength=3) / len(first)
    assert abs(shares[1] - 0.2) < 0.02 and abs(shares[2] - 0.1) < 0.02
    # rows keep their split whatever chunk they are read in
    assert np.array_equal(first[5000:6000], assign_splits(5000, 1000, 7, 0.2, 0.1))


def test_block_source_reads_every_row_once(tmp_path: Path) -> None:
    data = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    path = tmp_path / "x.f32"
    path.write_bytes(data.tobytes())
    source = BlockSource(path, 10, 3)
    seen = np.concatenate([x for _, x in source.blocks(np.random.default_rng(0), block_rows=4)])
    assert sorted(seen[:, 0].tolist()) == data[:, 0].tolist()
    positions = np.concatenate([p for p, _ in source.blocks(np.random.default_rng(0), block_rows=4)])
    assert np.array_equal(data[positions], seen)
    assert np.array_equal(source[:3], data[:3])


@pytest.mark.slow
def test_streaming_run_matches_an_in_memory_run(runner, tmp_path: Path, monkeypatch) -> None:
    """The same data trained in streaming mode and in memory reach similar metrics, and evaluate agrees."""
    monkeypatch.setenv("KPROTO_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=(n, 4))
    frame = pd.DataFrame(x, columns=list("abcd"))
    frame["kind"] = rng.choice(["u", "v"], size=n)
    frame["label"] = np.where(x[:, 0] + x[:, 1] + (frame["kind"] == "u") > 0.5, "yes", "no")
    data = tmp_path / "rows.csv"
    frame.to_csv(data, index=False)
    recipe = tmp_path / "stream.yaml"
    recipe.write_text(
        f"data: {{path: {data}, target: label}}\nmodel: {{type: feedforward, units: [16]}}\n"
        "train: {epochs: 8, batch_size: 32, early_stopping: false}\n"
    )
    results = {}
    for mode in ("true", "false"):
        out = tmp_path / f"runs-{mode}"
        result = runner.invoke(
            cli, ["train", str(recipe), "--out", str(out), "--backend", "tensorflow", "--set", f"data.streaming={mode}"]
        )
        assert result.exit_code == 0, result.output
        run = next(out.glob("*/*/metrics.json")).parent
        results[mode] = (run, json.loads((run / "metrics.json").read_text()))
    streamed, in_memory = results["true"][1], results["false"][1]
    assert streamed["status"] == "completed" and streamed["epochs"] == 8
    assert streamed["test"]["accuracy"] > 0.85 and in_memory["test"]["accuracy"] > 0.85
    assert abs(streamed["test"]["accuracy"] - in_memory["test"]["accuracy"]) < 0.08
    evaluated = runner.invoke(cli, ["evaluate", str(results["true"][0]), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    reported = json.loads(evaluated.output)
    assert abs(reported["accuracy"] - streamed["test"]["accuracy"]) < 1e-6


def test_a_streamed_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    from kproto.core.errors import DataError
    from kproto.data.streaming import _chunks

    path = tmp_path / "big.csv"
    path.write_bytes(b"x,label\n1,caf\xe9\n")
    with pytest.raises(DataError, match="line 2 of big.csv is not UTF-8"):
        list(_chunks(path))
    assert list(_chunks(path, "latin-1"))[0]["label"].tolist() == ["café"]


def test_text_beside_columns_is_not_streamed_for_a_model_of_several_inputs(tmp_path: Path) -> None:
    from kproto.core.errors import DataError
    from kproto.data import load_dataset
    from kproto.recipe.schema import Recipe

    rows = 60
    pd.DataFrame(
        {
            "note": [f"a long free text note number {i} with a good many words in it" for i in range(rows)],
            "x": np.arange(rows, dtype=float),
            "label": ["a", "b"] * (rows // 2),
        }
    ).to_csv(tmp_path / "notes.csv", index=False)
    recipe = Recipe.model_validate(
        {
            "data": {"path": str(tmp_path / "notes.csv"), "target": "label", "streaming": True},
            "model": {"type": "lstm"},
        }
    )
    with pytest.raises(DataError) as error:
        load_dataset(recipe)
    assert error.value.field == "data.streaming" and "'note'" in error.value.message
