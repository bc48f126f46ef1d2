"""kproto.data.dataset.load_dataset: seeded splits, and random CSV bytes never crash validate or loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import (
    TINY_RECIPE,
    tiny_frame,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kproto.cli import cli
from kproto.errors import KprotoError

RECIPE = """\
data:
  path: data.csv
  target: label
{data_extra}model:
  type: feedforward
  units: [4]
train:
  epochs: {epochs}
  batch_size: 16
"""


def recipe_text(data_extra: str = "", epochs: int = 1) -> str:
    return RECIPE.format(data_extra=data_extra, epochs=epochs)


def test_a_different_seed_gives_a_different_split(make_recipe, tmp_path: Path) -> None:
    from kproto.data import load_dataset
    from kproto.recipe import load_recipe

    tiny_frame(150, 0).to_csv(tmp_path / "tiny.csv", index=False)
    tests = [load_dataset(load_recipe(make_recipe(TINY_RECIPE.format(seed=s))).recipe).x_test for s in (42, 42, 43)]
    np.testing.assert_array_equal(tests[0], tests[1])
    assert not np.array_equal(tests[0], tests[2])


CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "nan",
            "inf",
            "-inf",
            "NA",
            "1",
            "0",
            "2.5",
            "-3",
            "1e308",
            "yes",
            "no",
            '"',
            '"a,b"',
            "é",
            "\t",
            ";",
            "label",
        ]
    ),
    st.text(max_size=4),
)


ROWS = st.lists(st.lists(CELLS, min_size=1, max_size=5).map(",".join), max_size=8)


CSV_BYTES = st.one_of(
    st.binary(max_size=200),
    ROWS.map(lambda rows: "\n".join(["x1,x2,label", *rows]).encode("utf-8")),
    ROWS.map(lambda rows: "\n".join(rows).encode("utf-8")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=CSV_BYTES)
def test_random_csv_never_crashes(runner, tmp_path: Path, content: bytes) -> None:
    from kproto.data import load_dataset
    from kproto.recipe import load_recipe

    (tmp_path / "data.csv").write_bytes(content)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe_text().replace("data.csv", "data.csv\n  split: {validation: 0.2, test: 0.2}"))
    result = runner.invoke(cli, ["validate", str(recipe)])
    assert result.exit_code in (0, 2), f"{content!r}\n{result.output}"
    assert "Unexpected error" not in result.output, f"{content!r}\n{result.output}"
    try:
        dataset = load_dataset(load_recipe(recipe).recipe)
    except KprotoError:
        return
    assert len(dataset.x_train) > 0
    assert np.isfinite(dataset.x_train).all()
