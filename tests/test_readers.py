"""kproto.data.readers and kproto.data.header: every format reads the same table, and the header reader agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.data.dataset import load_dataset
from kproto.data.readers import count_rows, read_table
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


# ----------------------------------------------------------------------------- text encodings: never lossy
LATIN1 = b"x,label\n1,caf\xe9\n2,caf\xe8\n3,tea\n4,caf\xe9\n5,caf\xe8\n6,tea\n"


def test_a_file_that_is_not_utf8_is_refused_with_the_line(tmp_path: Path) -> None:
    from kproto.core.errors import DataError

    path = tmp_path / "t.csv"
    path.write_bytes(LATIN1)
    with pytest.raises(DataError) as info:
        read_table(path)
    assert "line 2 of t.csv is not UTF-8" in info.value.message
    assert info.value.field == "data.encoding" and "data.encoding: latin-1" in info.value.hint


def test_the_declared_encoding_keeps_distinct_bytes_distinct(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(LATIN1)
    frame = read_table(path, encoding="latin-1")
    assert sorted(frame["label"].unique()) == ["cafè", "café", "tea"]


def test_a_wrong_declared_encoding_is_named(tmp_path: Path) -> None:
    from kproto.core.errors import DataError

    path = tmp_path / "t.csv"
    path.write_bytes("x,label\n1,caf\u00e9\n".encode("utf-16-le"))
    with pytest.raises(DataError, match="not valid utf-8|not UTF-8|no columns|cannot"):
        read_table(path, encoding="utf-8")


def test_utf8_with_a_byte_order_mark_reads(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbfx,label\n1,caf\xc3\xa9\n")
    assert list(read_table(path).columns) == ["x", "label"]


def test_training_reads_with_data_encoding(tmp_path: Path, make_recipe) -> None:
    (tmp_path / "t.csv").write_bytes(b"x,label\n" + b"".join(b"%d,caf%c\n" % (i % 7, 0xE8 + i % 2) for i in range(40)))
    text = "data:\n  path: t.csv\n  target: label\n{extra}model:\n  type: feedforward\n"
    from kproto.core.errors import DataError

    with pytest.raises(DataError, match="line 2"):
        load_dataset(load_recipe(make_recipe(text.format(extra=""))).recipe)
    dataset = load_dataset(load_recipe(make_recipe(text.format(extra="  encoding: latin-1\n"))).recipe)
    assert dataset.info.class_names == ["cafè", "café"]


def test_count_rows_agrees_with_the_reader(table: pd.DataFrame, tmp_path: Path) -> None:
    paths = write_formats(table, tmp_path)
    for fmt in ("csv", "tsv", "parquet"):
        assert count_rows(paths[fmt]) == len(read_table(paths[fmt])) == len(table), fmt
    assert count_rows(paths["npz"]) is None
    unterminated = tmp_path / "last.csv"
    unterminated.write_bytes(b"a,b\n1,2\n3,4")  # no newline after the last row
    assert count_rows(unterminated) == 2
    assert count_rows(tmp_path / "absent.csv") is None
