"""kproto.data.readers and kproto.data.header: every format reads the same table, and the header reader agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.data.dataset import load_dataset
from kproto.data.readers import read_table
from kproto.recipe import load_recipe


def write_formats(frame: pd.DataFrame, folder: Path) -> dict[str, Path]:
    paths = {fmt: folder / f"table.{fmt}" for fmt in ("csv", "tsv", "parquet", "npz")}
    frame.to_csv(paths["csv"], index=False)
    frame.to_csv(paths["tsv"], index=False, sep="\t")
    frame.to_parquet(paths["parquet"], index=False)
    np.savez(paths["npz"], **{c: np.asarray(frame[c].tolist()) for c in frame})  # str columns become '<U' arrays
    return paths


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 40
    return pd.DataFrame(
        {
            "a": rng.normal(size=n).round(6),
            "b": rng.integers(0, 100, size=n),
            "color": np.asarray(rng.choice(["red", "green", "blue"], size=n), dtype=object),
            "label": np.asarray(rng.choice(["yes", "no"], size=n), dtype=object),
        }
    )


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "npz"])
def test_readers_load_the_same_table(fmt: str, table: pd.DataFrame, tmp_path: Path) -> None:
    path = write_formats(table, tmp_path)[fmt]
    loaded = read_table(path)
    assert list(loaded.columns) == list(table.columns)
    pd.testing.assert_frame_equal(loaded.astype(object), table.astype(object), check_dtype=False)


def test_every_format_gives_the_same_arrays(table: pd.DataFrame, tmp_path: Path, make_recipe) -> None:
    results = []
    for fmt, path in write_formats(table, tmp_path).items():
        recipe = load_recipe(
            make_recipe(
                f"data: {{path: {path.name}, target: label}}\nmodel: {{type: feedforward}}\n", name=f"{fmt}.yaml"
            )
        ).recipe
        results.append(load_dataset(recipe))
    for other in results[1:]:
        np.testing.assert_allclose(other.x_train, results[0].x_train, rtol=1e-6)
        np.testing.assert_array_equal(other.y_test, results[0].y_test)
        assert other.info.class_names == results[0].info.class_names


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "npz"])
def test_header_reader_agrees_with_the_table_reader(fmt: str, table: pd.DataFrame, tmp_path: Path) -> None:
    from kproto.data.header import read_header

    path = write_formats(table, tmp_path)[fmt]
    assert read_header(path) == list(read_table(path).columns)
