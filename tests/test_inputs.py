"""kproto.data.inputs: columns of several kinds read as named inputs, fitted on training rows, packed and unpacked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.core import catalog
from kproto.core.errors import DataError
from kproto.data import inputs, preprocess
from kproto.data.preprocess import Preprocessor, input_problems
from kproto.recipe.schema import Data

WORDS = ["good", "bad", "fine", "great", "poor", "nice"]


def frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "message": [" ".join(rng.choice(WORDS, 10)) + " and then some more words here" for _ in range(n)],
            "length": rng.normal(size=n).round(3),
            "city": rng.choice(["paris", "rome", "oslo"], n),
            "listed": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "label": rng.choice(["yes", "no"], n),
        }
    )


def fitted(table: pd.DataFrame) -> Preprocessor:
    spec = Data(path="x.csv", target="label", features=["message", "length", "city", "listed"])
    features = ["message", "length", "city", "listed"]
    roles = inputs.input_roles(preprocess, spec, table, features)
    return Preprocessor.fit(table, np.arange(len(table)), spec, "classification", catalog.MIXED, features, None, roles)


def test_roles_without_the_audit_tell_text_numbers_categories_and_image_paths():
    table = frame()
    table["photo"] = [f"img/{i}.png" for i in range(len(table))]
    spec = Data(path="x.csv", target="label", columns={"listed": "datetime"})
    roles = inputs.input_roles(preprocess, spec, table, ["message", "length", "city", "listed", "photo"])
    assert roles == {
        "message": "text",
        "length": "numeric",
        "city": "categorical",
        "listed": "datetime",
        "photo": "image",
    }


@pytest.mark.parametrize(
    ("roles", "several"),
    [
        ({"a": "text", "b": "numeric"}, True),
        ({"a": "text"}, False),  # one text column: a text model, as before
        ({"a": "numeric", "b": "categorical"}, False),  # a table
        ({"a": "image"}, True),  # image paths alone are read as files
    ],
)
def test_is_several(roles, several):
    assert inputs.is_several(roles) is several


def test_fit_keeps_one_record_per_named_input_and_packs_in_order():
    table = frame()
    pre = fitted(table)
    state = pre.state
    assert list(state["inputs"]) == ["text", "tabular", "categorical"]
    assert [p["name"] for p in state["parts"]] == ["text", "tabular", "categorical"]
    assert state["inputs"]["text"]["columns"] == ["message"]
    tabular = state["parts"][1]
    assert tabular["shape"] == [1 + len(preprocess.DATE_FEATURES)]  # length + the date's features
    categorical = state["parts"][2]
    assert categorical["vocab"] == 1 + 3  # 0: unseen, then paris/rome/oslo
    x = pre.features(table)
    length = state["parts"][0]["shape"][0]
    assert x.shape == (len(table), length + tabular["shape"][0] + 1) and x.dtype == np.float32
    arrays = inputs.unpack(state["parts"], x)
    assert arrays["text"].dtype == np.int32 and arrays["text"].max() > 1
    assert set(arrays["categorical"].reshape(-1)) <= {1, 2, 3}


def test_unseen_categories_and_gaps_are_coded_zero_and_imputed_and_said():
    table = frame()
    pre = fitted(table)
    new = table.head(2).copy()
    new.loc[new.index[0], "city"] = "tokyo"
    new.loc[new.index[1], "length"] = np.nan
    arrays = inputs.input_arrays(preprocess, pre.state, new)
    assert arrays["categorical"][0, 0] == 0
    assert np.isfinite(arrays["tabular"]).all()
    problems = input_problems(pre.state, new)
    assert [p["code"] for p in problems[0]] == ["unseen_category"]
    assert [p["code"] for p in problems[1]] == ["imputed"]


def test_several_text_columns_are_read_as_one_text():
    table = frame()
    table["title"] = "headline"
    joined = inputs.join_texts(table.head(1), ["message", "title"])
    assert joined[0].endswith(" headline")


def test_images_are_read_relative_to_the_rows_file_and_resized(tmp_path: Path):
    from PIL import Image

    Image.fromarray(np.full((5, 7, 3), 255, np.uint8)).save(tmp_path / "a.png")
    rows = pd.DataFrame({"photo": ["a.png", None]})
    rows.attrs["folder"] = str(tmp_path)
    pixels = inputs.read_images({"column": "photo", "shape": [4, 4, 3], "folder": "/nowhere"}, rows)
    assert pixels.shape == (2, 4, 4, 3)
    assert pixels[0].min() == pytest.approx(1.0) and pixels[1].max() == 0.0  # a missing image: zeros


def test_an_unreadable_image_names_the_column_and_row(tmp_path: Path):
    rows = pd.DataFrame({"photo": ["missing.png"]})
    with pytest.raises(DataError, match="column 'photo' row 0 names the image 'missing.png'"):
        inputs.read_images({"column": "photo", "shape": [4, 4, 3], "folder": str(tmp_path)}, rows)


def test_two_image_columns_are_refused():
    table = pd.DataFrame({"a": ["x.png"] * 4, "b": ["y.png"] * 4, "label": ["p", "q"] * 2})
    spec = Data(path="x.csv", target="label")
    with pytest.raises(DataError) as error:
        inputs.fit_inputs(preprocess, table, ["a", "b"], spec, {"a": "image", "b": "image"}, "")
    assert error.value.field == "data.features"
