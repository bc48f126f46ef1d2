"""kproto.data.sample: the pandas-free reader behind `kproto validate`'s audit finds exactly what the pandas audit
finds (roles, actions, warnings, target facts, the leak check's scores) on a table of small files, reads nothing it
cannot type as pandas does, and `kproto validate` on a classification table imports neither pandas nor NumPy."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from kproto.data.audit import PandasTable, audit_frame
from kproto.data.audit_rules import AuditSettings, audit_table
from kproto.data.readers import read_table
from kproto.data.sample import NA_VALUES, SeededPermutation, Unsupported, parse_column, read_sample, sample_audit

ROOT = Path(__file__).resolve().parent.parent
N = 60  # rows: enough for the identifier rules (20) and the leak check (40)


def rows(n: int = N, seed: int = 0) -> list[dict[str, str]]:
    """A base table: a number, a category and a label that depends on both."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x = round(rng.gauss(0, 1), 3)
        color = rng.choice(["red", "green", "blue"])
        out.append({"x": str(x), "color": color, "label": "yes" if x + (color == "red") > 0.3 else "no"})
    return out


def table(**columns: list[str]) -> list[dict[str, str]]:
    """The base table with `columns` added (each a list of N cells)."""
    base = rows()
    for name, cells in columns.items():
        for row, cell in zip(base, cells, strict=True):
            row[name] = cell
    return base


def quoted(cell: str, delimiter: str) -> str:
    if any(c in cell for c in (delimiter, '"', "\n")):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def write(path: Path, data: list[dict[str, str]], delimiter: str = ",", prefix: str = "", blank: bool = False) -> Path:
    names = list(data[0])
    lines = [delimiter.join(quoted(n, delimiter) for n in names)]
    for i, row in enumerate(data):
        lines.append(delimiter.join(quoted(row[n], delimiter) for n in names))
        if blank and i == 3:
            lines.append("")
    path.write_text(prefix + "\n".join(lines) + "\n", encoding="utf-8")
    return path


R = random.Random(1)
DAYS = [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(N)]
CASES = {
    "clean": table(),
    "row counter": table(row=[str(i + 1) for i in range(N)]),
    "named id": table(customer_id=[str(R.randrange(10**6)) for _ in range(N)]),
    "7-digit codes": table(code=[str(1_000_000 + R.randrange(9 * 10**6)) for _ in range(N)]),
    "string ids": table(ref=[f"u{i:05d}" for i in range(N)]),
    "dates": table(day=DAYS),
    "date times": table(when=[f"{d}T{i % 24:02d}:{i % 60:02d}:05Z" for i, d in enumerate(DAYS)]),
    "dates, one impossible": table(day=[*DAYS[:-1], "2024-02-30"]),
    "short dates": table(day=[f"2023-{1 + i % 9}-{1 + i % 9}" for i in range(N)]),
    "names": table(name=[f"{R.choice(['Ann', 'Bo', 'Cy'])} {R.choice(['Li', 'Ng', 'Oz'])}{i}" for i in range(N)]),
    "free text": table(note=[f"this is a rather long remark number {i} about the row, kept as text" for i in range(N)]),
    "image paths": table(img=[f"images/{i}.png" for i in range(N)]),
    "constant": table(site=["A"] * N),
    "constant number": table(version=["2"] * N),
    "empty column": table(blank=[""] * N),
    "missing numbers": table(income=[("" if i % 7 == 0 else str(100 + i)) for i in range(N)]),
    "missing markers": table(v=[["NA", "null", "N/A", "nan", "1.5", "2.25"][i % 6] for i in range(N)]),
    "missing strings": table(home=[("NA" if i % 5 == 0 else R.choice(["rent", "own"])) for i in range(N)]),
    "missing target": [{**row, "label": "" if i % 9 == 0 else row["label"]} for i, row in enumerate(rows())],
    "numbers with a typo": table(amount=[("12a" if i == 5 else str(i * 3)) for i in range(N)]),
    "half numbers": table(mix=[(str(i) if i % 2 else f"k{i % 4}") for i in range(N)]),
    "whole floats": table(count=[f"{i % 5}.0" for i in range(N)]),
    "floats": table(ratio=[f"{R.random():.4f}" for _ in range(N)], sci=[f"{R.random():.2e}" for _ in range(N)]),
    "leading zeros": table(zip=[f"{i % 30:05d}" for i in range(N)]),
    "booleans": table(
        flag=[R.choice(["True", "False"]) for _ in range(N)], up=[R.choice(["TRUE", "false"]) for _ in range(N)]
    ),
    "quoted fields": table(city=[R.choice(["Paris, TX", 'He said "hi"', "two\nlines", "plain"]) for _ in range(N)]),
    "high cardinality": table(town=[f"t{i % 53}" for i in range(N)]),
    "duplicates": rows()[:50] + rows()[:10],
    "leak": [{**row, "copy": "1" if row["label"] == "yes" else "0"} for row in rows()],
    "categorical leak": [{**row, "word": "on" if row["label"] == "yes" else "off"} for row in rows()],
    "leak with gaps": [{**row, "z": "" if i % 6 == 0 else str(float(row["x"]) * 3)} for i, row in enumerate(rows())],
    "imbalance and tiny classes": [{**row, "label": "rare" if i == 7 else "common"} for i, row in enumerate(rows())],
    "integer target": [{**row, "label": str(i % 15)} for i, row in enumerate(rows())],
    "regression target": [{**row, "label": f"{float(row['x']) * 2 + 1:.3f}"} for row in rows()],
    "whole-number regression": [{**row, "label": str(i % 40)} for i, row in enumerate(rows())],
    "float classes": [{**row, "label": ["1.0", "2.0", ""][i % 3]} for i, row in enumerate(rows())],
}


@pytest.mark.parametrize("target", ["label", None])
@pytest.mark.parametrize("case", list(CASES))
def test_the_light_audit_finds_what_the_pandas_audit_finds(case: str, target: str | None, tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", CASES[case])
    settings = {"target": target}
    light = audit_table(read_sample(path, 50_000), AuditSettings(**settings)).to_dict()
    assert light == audit_frame(read_table(path, limit=50_000), AuditSettings(**settings)).to_dict()


MIXED = ["", "NA", "null", "nan", "0", "1", "-1", "007", "2.5", "-0.5", ".5", "5.", "1e3", "1E-2", "-0", "0.0", "abc",
         "x y", "2024-01-05", "2024-02-30", "img/a.png", "a,b", 'q"uote', "line\nbreak", "é", "99999999999"]  # fmt: skip


def random_cells(rng: random.Random, kind: str, i: int) -> str:
    if rng.random() < 0.05 and kind != "bool":
        return rng.choice(["", "NA", "nan", "null"])
    return {
        "int": lambda: str(rng.randint(-50, 50)),
        "float": lambda: repr(rng.gauss(0, 10)),
        "category": lambda: rng.choice(["a", "b", "c", "dd"]),
        "mixed": lambda: rng.choice(MIXED),
        "date": lambda: f"20{rng.randint(10, 30)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "bool": lambda: rng.choice(["True", "False"]),
        "text": lambda: " ".join(rng.choice(["alpha", "beta", "gamma"]) for _ in range(14)) + str(i),
    }[kind]()


@pytest.mark.parametrize("seed", range(12))
def test_random_tables_audit_alike(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    kinds = [
        rng.choice(["int", "float", "category", "mixed", "date", "bool", "text"]) for _ in range(rng.randint(2, 6))
    ]
    n = rng.choice([5, 30, 80, 200])
    data = [{f"c{j}": random_cells(rng, kind, i) for j, kind in enumerate(kinds)} for i in range(n)]
    path = write(tmp_path / "data.csv", data)
    for target in (None, "c0", f"c{len(kinds) - 1}"):
        light = audit_table(read_sample(path, 50_000), AuditSettings(target=target)).to_dict()
        assert light == audit_frame(read_table(path), AuditSettings(target=target)).to_dict(), (kinds, target)


@pytest.mark.parametrize(
    ("name", "delimiter", "prefix", "blank"),
    [
        ("data.csv", ",", "\ufeff", False),  # a byte-order mark
        ("data.txt", ";", "", False),  # a sniffed delimiter
        ("data.tsv", "\t", "", False),
        ("data.csv", ",", "", True),  # a blank line, skipped
    ],
)
def test_file_forms(name: str, delimiter: str, prefix: str, blank: bool, tmp_path: Path) -> None:
    path = write(tmp_path / name, CASES["missing strings"], delimiter, prefix, blank)
    sample = read_sample(path, 50_000)
    assert sample.names == ["x", "color", "label", "home"]
    light = audit_table(sample, AuditSettings(target="label")).to_dict()
    assert light == audit_frame(read_table(path), AuditSettings(target="label")).to_dict()


def test_quoted_numbers_and_empty_quotes(tmp_path: Path) -> None:
    lines = ["a,b,label"] + [f'"{i}","{"" if i % 4 == 0 else i * 2}",{"yes" if i % 3 else "no"}' for i in range(N)]
    path = tmp_path / "data.csv"
    path.write_text("\r\n".join(lines) + "\r\n")
    sample = read_sample(path, 50_000)
    assert (sample.column("a").kind, sample.column("b").kind) == ("integer", "float")
    light = audit_table(sample, AuditSettings(target="label")).to_dict()
    assert light == audit_frame(read_table(path), AuditSettings(target="label")).to_dict()


def test_overrides_and_listed_features(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", table(row=[str(i + 1) for i in range(N)], site=["A"] * N))
    settings = {"target": "label", "overrides": {"row": "numeric", "color": "drop"}, "features": ["x", "site"]}
    light = audit_table(read_sample(path, 50_000), AuditSettings(**settings)).to_dict()
    assert light == audit_frame(read_table(path), AuditSettings(**settings)).to_dict()


def test_the_first_rows_only(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", CASES["duplicates"])
    light = audit_table(read_sample(path, 45), AuditSettings(target="label")).to_dict()
    assert light["rows"] == 45
    assert light == audit_frame(read_table(path, limit=45), AuditSettings(target="label")).to_dict()


@pytest.mark.parametrize(
    "cells",
    [
        [" 5", "6"],  # spaces around a number
        ["inf", "1"],
        ["+3", "4"],
        ["1_000", "2"],
        [str(1 << 64), "1"],  # beyond 64 bits
        ["True", ""],  # booleans with a gap
        ["True", "maybe"],
        ["1" * 301, "abc"],  # a number pandas' reader refuses
    ],
)
def test_cells_pandas_may_read_otherwise_are_left_to_pandas(cells: list[str]) -> None:
    with pytest.raises(Unsupported):
        parse_column(cells)


@pytest.mark.parametrize(
    "text",
    [
        "a,b,a\n1,2,3\n",  # a repeated name
        "a,,c\n1,2,3\n",  # an unnamed column
        "a,b\n1,2\n3,4,5\n",  # a ragged row
        "a\n1\n",  # one column
        "a,b\n",  # no rows
    ],
)
def test_files_pandas_reads_otherwise_are_left_to_pandas(text: str, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(Unsupported):
        read_sample(path, 100)


def test_slash_dates_are_left_to_pandas(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", table(day=[f"{1 + i % 12}/{1 + i % 28}/2024" for i in range(N)]))
    with pytest.raises(Unsupported):
        audit_table(read_sample(path, 100), AuditSettings(target="label"))


@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 - 1])
def test_the_seeded_permutation_is_numpys(seed: int) -> None:
    import numpy as np

    for n in (1, 2, 40, 41, 1000, 20_000):
        assert SeededPermutation(seed).permutation(n) == np.random.default_rng(seed).permutation(n).tolist()


def leak_columns(path: Path) -> dict[str, bool]:
    audit = audit_frame(read_table(path), AuditSettings(target="label"))
    return {c.name: c.role == "numeric" for c in audit.columns if c.role in ("numeric", "categorical")}


def random_table(n: int, seed: int) -> list[dict[str, str]]:
    """Numbers with ties, gaps and signs, categories, a label that some columns predict well and some not."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.choice(["a", "b", "c"] if seed % 2 else ["a", "b"])
        out.append(
            {
                "label": label,
                "near": str(rng.randint(-3, 3) + (10 if label == "a" else 0)),
                "noise": "" if rng.random() < 0.1 else f"{rng.gauss(0, 1):.2f}",
                "ties": str(rng.choice([0, 0, 0, 1, 2])),
                "tag": rng.choice(["p", "q", "r", ""]),
                "echo": label if rng.random() < 0.99 else "x",
            }
        )
    return out


@pytest.mark.parametrize(("n", "seed"), [(40, 0), (41, 1), (333, 2), (1500, 3), (5000, 5)])
def test_the_leak_scores_without_numpy_are_numpys(n: int, seed: int, tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", random_table(n, seed))
    columns = leak_columns(path)
    light = read_sample(path, 50_000).leak_scores("label", "classification", columns, 0)
    assert light == PandasTable(read_table(path)).leak_scores("label", "classification", columns, 0)
    assert light.scores["echo"] > 0.98 > light.scores["noise"]


@pytest.mark.parametrize("case", [c for c in CASES if "target" not in c and "regression" not in c])
def test_the_leak_scores_of_each_case_are_numpys(case: str, tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", CASES[case])
    columns = leak_columns(path)
    light = read_sample(path, 50_000).leak_scores("label", "classification", columns, 0)
    assert light == PandasTable(read_table(path)).leak_scores("label", "classification", columns, 0)


def test_more_rows_than_the_leak_check_reads_go_to_numpy(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", random_table(20_050, 7))
    light = audit_table(read_sample(path, 50_000), AuditSettings(target="label")).to_dict()
    assert light == audit_frame(read_table(path), AuditSettings(target="label")).to_dict()
    assert any(w["code"] == "leak_suspect" for w in light["warnings"])


def test_the_missing_markers_are_pandas_own() -> None:
    from pandas._libs.parsers import STR_NA_VALUES

    assert set(STR_NA_VALUES) == NA_VALUES


RECIPE = """
data:
  path: {path}
  target: label
model:
  type: feedforward
"""


@pytest.mark.parametrize("cells", [[str(i) for i in range(N)], [(" 5" if i == 3 else str(i)) for i in range(N)]])
def test_sample_audit_falls_back_to_pandas_with_the_same_answer(cells: list[str], tmp_path: Path, make_recipe) -> None:
    from kproto.data.audit import recipe_audit
    from kproto.recipe import load_recipe

    data = write(tmp_path / "data.csv", table(n=cells))
    spec = load_recipe(make_recipe(RECIPE.format(path=data)), ()).recipe
    assert sample_audit(spec).to_dict() == recipe_audit(spec).to_dict()


def test_a_large_file_goes_to_pandas(tmp_path: Path, make_recipe, monkeypatch: pytest.MonkeyPatch) -> None:
    from kproto.data import sample
    from kproto.data.audit import recipe_audit
    from kproto.recipe import load_recipe

    data = write(tmp_path / "data.csv", CASES["leak"])
    spec = load_recipe(make_recipe(RECIPE.format(path=data)), ()).recipe
    monkeypatch.setattr(sample, "LIGHT_BYTES", data.stat().st_size - 1)
    monkeypatch.setattr(sample, "read_sample", None)  # not called
    assert sample_audit(spec).to_dict() == recipe_audit(spec).to_dict()


def test_shipped_table_recipes_audit_alike() -> None:
    from kproto.data.audit import recipe_audit
    from kproto.recipe import load_recipe

    for name in ("credit_minimal", "diabetes_regression", "iris_extends", "default_two_targets"):
        spec = load_recipe(ROOT / "recipes" / f"{name}.yaml", ()).recipe
        assert sample_audit(spec).to_dict() == recipe_audit(spec).to_dict(), name


NO_PANDAS = """
import sys
from click.testing import CliRunner
from kproto.cli import cli
result = CliRunner().invoke(cli, ["validate", {recipe!r}])
print(result.exit_code, [m for m in ("pandas", "numpy") if m in sys.modules])
print(result.output, file=sys.stderr)
"""


def test_validate_on_a_table_recipe_imports_no_pandas_and_no_numpy() -> None:
    recipe = str(ROOT / "recipes" / "credit_minimal.yaml")
    proc = subprocess.run(
        [sys.executable, "-c", NO_PANDAS.format(recipe=recipe)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.stdout.split() == ["0", "[]"], proc.stderr
    assert "warning [duplicate_rows]" in proc.stderr


def test_class_counts_order_ties_as_pandas_does() -> None:
    import pandas as pd

    from kproto.data.audit import PandasColumn
    from kproto.data.sample import SampleColumn

    for seed in range(300):
        rng = random.Random(seed)
        labels = [rng.choice("abcdefgh"[: rng.randint(1, 8)]) for _ in range(rng.randint(1, 60))]
        assert SampleColumn("string", labels).class_counts() == PandasColumn(pd.Series(labels)).class_counts()
