"""kproto.data.audit: each role and warning code on small tables made here, the overrides in both directions, the
profile's JSON keys, bounded sampling of large files and the target guess."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.data.audit import (
    CODES,
    ROLES,
    AuditSettings,
    audit_frame,
    guess_target,
    inspect_file,
    sample_chunks,
)

N = 200


def base(n: int = N, seed: int = 0) -> pd.DataFrame:
    """A clean table: a numeric and a 3-value categorical column that both matter, a balanced noisy label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    noise = rng.normal(scale=1.0, size=n)
    label = np.where(x + (color == "red") + noise > 0.5, "yes", "no")
    return pd.DataFrame({"x": x, "color": color, "label": label})


def audit(frame: pd.DataFrame, **settings: object) -> object:
    return audit_frame(frame, AuditSettings(**{"target": "label", **settings}))


def with_column(name: str, values: object, n: int = N) -> pd.DataFrame:
    frame = base(n)
    frame.insert(0, name, values)
    return frame


ROLE_CASES = {
    "numeric": ("x", lambda f: f),
    "categorical": ("color", lambda f: f),
    "target": ("label", lambda f: f),
    "text": (
        "review",
        lambda f: f.assign(
            review=[f"a long review number {i} of the product, with many words in it" for i in range(N)]
        ),
    ),
    "datetime": ("when", lambda f: f.assign(when=pd.date_range("2021-01-01", periods=N).strftime("%Y-%m-%d"))),
    "identifier": ("name", lambda f: f.assign(name=[f"Person {i}" for i in range(N)])),
    "constant": ("country", lambda f: f.assign(country="NL")),
    "image": ("photo", lambda f: f.assign(photo=[f"photos/{i}.jpg" for i in range(N)])),
}


def test_every_role_has_a_case() -> None:
    assert set(ROLE_CASES) == set(ROLES)


@pytest.mark.parametrize("role", sorted(ROLE_CASES))
def test_roles(role: str) -> None:
    column, make = ROLE_CASES[role]
    found = audit(make(base())).column(column)
    assert found.role == role


@pytest.mark.parametrize(
    ("values", "role"),
    [
        (np.random.default_rng(1).choice(np.arange(1_000_000, 9_999_999), N, replace=False), "identifier"),  # 7 digits
        (np.arange(1, N + 1), "identifier"),  # a row counter
        (np.random.default_rng(1).permutation(N) * 3 + 7, "numeric"),  # unique integers, no ID's name, not a counter
        (np.random.default_rng(1).integers(0, 90, N), "numeric"),  # ages
        (np.random.default_rng(1).normal(size=N), "numeric"),  # unique floats are measurements
        ([True, False] * (N // 2), "categorical"),
        ([None] * N, "constant"),  # empty everywhere
    ],
    ids=["7-digit-codes", "row-counter", "unique-ints", "ages", "floats", "booleans", "empty"],
)
def test_integer_identifiers_and_their_look_alikes(values: object, role: str) -> None:
    assert audit(with_column("v", values)).column("v").role == role


def test_a_column_named_like_an_id_is_an_identifier() -> None:
    frame = with_column("PassengerId", np.random.default_rng(3).permutation(N) * 5)
    assert audit(frame).column("PassengerId").role == "identifier"


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("distcod", "identifier"),  # California school districts: 5-digit codes, one a row
        ("zip_code", "identifier"),
        ("order_no", "identifier"),
        ("policy number", "identifier"),
        ("case_nr", "identifier"),
        ("piano", "numeric"),  # ends in "no" without a separator: a word, not a number's name
        ("income", "numeric"),
    ],
)
def test_unique_integers_named_as_codes_or_numbers_are_identifiers(name: str, role: str) -> None:
    frame = with_column(name, np.random.default_rng(4).choice(np.arange(60_000, 80_000), N, replace=False))
    assert audit(frame).column(name).role == role


def test_a_clean_table_has_no_warnings_and_keeps_every_column() -> None:
    result = audit(base())
    assert result.all_warnings() == []
    assert result.features() == ["x", "color"] and result.dropped() == {}
    assert [c.action for c in result.columns] == ["standardize", "one-hot", "predict"]


def imbalanced() -> pd.DataFrame:
    frame = base(400)
    frame["label"] = np.where(np.arange(400) % 40 == 0, "rare", "common")
    return frame


def duplicated() -> pd.DataFrame:
    frame = base()
    return pd.concat([frame, frame.iloc[:5]], ignore_index=True)


def many_integer_values() -> pd.DataFrame:
    frame = base(500)
    frame["label"] = np.random.default_rng(0).integers(0, 50, 500)
    return frame


def few_integer_values() -> pd.DataFrame:
    frame = base(500)
    frame["label"] = np.random.default_rng(0).integers(0, 15, 500)
    return frame


def missing_target() -> pd.DataFrame:
    frame = base()
    frame.loc[:6, "label"] = None
    return frame


def tiny_classes() -> pd.DataFrame:
    frame = base()
    frame.loc[:2, "label"] = ["one", "two", "three"]
    return frame


def leak() -> pd.DataFrame:
    frame = base()
    frame["outcome_code"] = np.where(frame["label"] == "yes", 1.0, 0.0) + np.random.default_rng(5).normal(0, 0.01, N)
    return frame


def mixed() -> pd.DataFrame:
    values = [str(i) if i % 3 else f"n{i}" for i in range(N)]
    return with_column("code", np.random.default_rng(0).permutation(values)[: N // 4].tolist() * 4)


WARNING_CASES = {
    "identifier": (lambda: ROLE_CASES["identifier"][1](base()), {}, "name"),
    "high_cardinality": (
        lambda: base(600).assign(city=[f"city {i % 120}" for i in range(600)]),
        {},
        "city",
    ),
    "constant": (lambda: ROLE_CASES["constant"][1](base()), {}, "country"),
    "datetime": (lambda: ROLE_CASES["datetime"][1](base()), {}, "when"),
    "leak_suspect": (leak, {}, "outcome_code"),
    "imbalance": (imbalanced, {}, "label"),
    "many_classes": (many_integer_values, {}, "label"),
    "duplicate_rows": (duplicated, {}, None),
    "missing_target": (missing_target, {}, "label"),
    "tiny_classes": (tiny_classes, {}, "label"),
    "encoding": (
        base,
        {"encoding": "line 3 of data.csv is not UTF-8 text; training needs data.encoding: latin-1"},
        None,
    ),
    "mixed_types": (mixed, {}, "code"),
    "unused_column": (lambda: ROLE_CASES["text"][1](base()), {}, "review"),
    "mostly_missing": (
        lambda: base(100).assign(gust=[float(i) if i % 5 == 0 else None for i in range(100)]),
        {},
        "gust",
    ),
}


def test_every_warning_code_has_a_case() -> None:
    assert set(WARNING_CASES) == set(CODES)


@pytest.mark.parametrize("code", sorted(WARNING_CASES))
def test_warning_codes(code: str) -> None:
    make, settings, column = WARNING_CASES[code]
    found = [w for w in audit(make(), **settings).all_warnings() if w.code == code]
    assert found, code
    assert found[0].column == column
    assert len(found[0].message) > 40  # says what it means and what to do


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("imbalance", ["train.threshold: auto", "class_weight: balanced", "data.balance", "f1"]),
        ("many_classes", ["data.task: classification"]),
        ("identifier", ["data.columns: {name: categorical}"]),
        ("leak_suspect", ["data.columns: {outcome_code: drop}"]),
        ("missing_target", ["7 row(s)"]),
    ],
)
def test_warnings_say_which_field_to_set(code: str, words: list[str]) -> None:
    make, settings, _ = WARNING_CASES[code]
    message = next(w.message for w in audit(make(), **settings).all_warnings() if w.code == code)
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("counts", "warned"),
    [({"a": 97, "b": 3}, True), ({"a": 85, "b": 15}, False), ({str(k): 10 for k in range(9)} | {"9": 9}, False),
     ({"a": 48, "b": 48, "c": 4}, True)],
    ids=["binary-3%", "binary-15%", "ten-even-classes", "three-classes-4%"],
)  # fmt: skip
def test_imbalance_is_relative_to_the_number_of_classes(counts: dict[str, int], warned: bool) -> None:
    labels = [k for k, v in counts.items() for _ in range(v)]
    frame = pd.DataFrame({"x": np.arange(len(labels)) % 7, "label": labels})
    assert ("imbalance" in audit(frame).codes()) == warned


def test_many_classes_the_other_way_round() -> None:
    message = next(w.message for w in audit(few_integer_values()).all_warnings() if w.code == "many_classes")
    assert "data.task: regression" in message


def test_a_leak_is_warned_about_but_kept() -> None:
    result = audit(leak())
    assert "outcome_code" in result.features()


def test_an_identifier_is_not_a_leak_suspect() -> None:
    frame = ROLE_CASES["identifier"][1](base())
    result = audit(frame, overrides={"name": "categorical"})
    assert "leak_suspect" not in result.codes()


def test_columns_beside_data_text_are_unused() -> None:
    frame = ROLE_CASES["text"][1](base())
    result = audit(frame, text="review")
    assert result.column("x").action == "unused" and result.column("color").action == "unused"
    assert result.column("review").action == "tokenize"


def test_a_model_of_several_inputs_reads_text_and_image_paths_beside_table_columns() -> None:
    frame = ROLE_CASES["image"][1](ROLE_CASES["text"][1](base()))
    result = audit(frame, several_inputs=True)
    assert "unused_column" not in result.codes()
    assert result.column("review").action == "tokenize" and result.column("photo").action == "read_image"
    one_input = audit(frame)
    assert one_input.column("photo").action == "unused" and one_input.column("review").action == "unused"
    beside_text = audit(frame, several_inputs=True, text="review")  # data.text without data.features: text alone
    assert beside_text.column("x").action == "unused"
    assert any("list them in data.features" in w.message for w in beside_text.column("x").warnings)
    listed = audit(frame, several_inputs=True, text="review", features=["review", "x"])
    assert listed.column("x").action == "standardize"


def test_a_lone_text_column_is_read_by_a_text_model() -> None:
    frame = ROLE_CASES["text"][1](base())[["review", "label"]]
    assert "unused_column" not in audit(frame).codes()


@pytest.mark.parametrize(
    ("make", "column", "override", "role", "action"),
    [
        (ROLE_CASES["identifier"][1], "name", "categorical", "categorical", "cap"),  # identifier → kept
        (lambda f: f, "x", "identifier", "identifier", "drop"),  # numeric → dropped as an identifier
        (lambda f: f, "color", "drop", "categorical", "drop"),
        (ROLE_CASES["datetime"][1], "when", "categorical", "categorical", "cap"),  # dates → categories
        (lambda f: f.assign(year=np.arange(N) % 9 + 2000), "year", "categorical", "categorical", "one-hot"),
        (lambda f: f.assign(stamp=[f"2020-{m:02d}" for m in np.arange(N) % 12 + 1]), "stamp", "datetime",
         "datetime", "date_features"),  # categories → dates
        (ROLE_CASES["constant"][1], "country", "categorical", "categorical", "one-hot"),  # constant → kept
        (ROLE_CASES["text"][1], "review", "categorical", "categorical", "cap"),  # text → categories
        (lambda f: f.assign(n=f["x"].round(2).astype(str)), "n", "categorical", "categorical", "cap"),
        (lambda f: f.assign(code=["7", "8"] * (N // 2)), "code", "numeric", "numeric", "standardize"),
    ],
)  # fmt: skip
def test_overrides_both_ways(make, column: str, override: str, role: str, action: str) -> None:
    result = audit(make(base()), overrides={column: override})
    assert (result.column(column).role, result.column(column).action) == (role, action)
    assert (column in result.features()) == (action not in ("drop", "unused"))


def test_a_listed_feature_is_kept_and_still_warned_about() -> None:
    frame = ROLE_CASES["identifier"][1](base())
    result = audit(frame, features=["name", "x"])
    assert "name" in result.features() and "identifier" in result.codes()
    assert "listed in data.features" in result.column("name").warnings[0].message


def test_the_profile_keys_are_the_documented_ones() -> None:
    data = audit(ROLE_CASES["identifier"][1](missing_target())).to_dict()
    assert list(data) == ["rows", "target", "columns", "warnings"]
    assert data["target"] == {"name": "label", "task": "classification", "classes": data["target"]["classes"]}
    assert sum(data["target"]["classes"].values()) == N - 7
    column = next(c for c in data["columns"] if c["name"] == "name")
    assert list(column)[:8] == ["name", "dtype", "role", "missing", "unique", "example", "action", "warnings"]
    assert column["warnings"][0]["code"] == "identifier" and set(column["warnings"][0]) == {"code", "message"}
    assert {"code", "column", "message"} <= set(data["warnings"][0])


def test_regression_target_facts() -> None:
    frame = base().assign(price=np.linspace(1.5, 100.5, N))
    data = audit_frame(frame, AuditSettings(target="price")).to_dict()
    assert data["target"]["task"] == "regression" and data["target"]["min"] == 1.5 and data["target"]["max"] == 100.5


def test_large_files_are_sampled_uniformly_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    pd.DataFrame({"i": np.arange(5000), "label": ["a", "b"] * 2500}).to_csv(path, index=False)
    frame, total = sample_chunks(path, max_rows=300, chunk_rows=500)
    assert total == 5000 and len(frame) == 300
    assert frame["i"].min() < 500 and frame["i"].max() > 4500  # drawn from the whole file, not its head
    assert frame["i"].is_monotonic_increasing


def test_inspect_file_reports_the_row_count_and_the_sample(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    base(1000).to_csv(path, index=False)
    result = inspect_file(path, "label", max_rows=250)
    assert result.rows == 1000 and result.sampled == 250
    assert result.to_dict()["sampled_rows"] == 250


def test_inspect_file_profiles_a_latin1_file_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"x,label\n" + b"1,caf\xe9\n2,caf\xe8\n3,tea\n" * 10)
    result = inspect_file(path, "label")
    assert set(result.target["classes"]) == {"café", "cafè", "tea"}  # two byte strings, two classes
    message = next(w.message for w in result.all_warnings() if w.code == "encoding")
    assert "line 2" in message and "data.encoding: latin-1" in message


@pytest.mark.parametrize(
    ("frame", "target"),
    [
        (pd.DataFrame({"a": [1, 2] * 20, "label": ["x", "y"] * 20, "z": range(40)}), "label"),  # by name
        (pd.DataFrame({"a": [1.5, 2.5] * 20, "b": ["x", "y"] * 20, "id": range(40)}), "b"),  # skips an identifier
        (pd.DataFrame({"a": [1.5, 2.5] * 20, "b": ["x", "y"] * 20, "c": ["k"] * 40}), "b"),  # skips a constant
    ],
)
def test_guess_target(frame: pd.DataFrame, target: str) -> None:
    assert guess_target(frame) == target


def test_many_warnings_of_one_code_are_counted_not_listed() -> None:
    frame = pd.DataFrame({f"c{i}": [7] * 30 for i in range(40)})
    frame["x"] = np.arange(30) % 5
    frame["label"] = ["a", "b"] * 15
    audit = audit_frame(frame, AuditSettings(target="label"))
    assert len([w for w in audit.all_warnings() if w.code == "constant"]) == 40
    lines = audit.warning_lines(per_code=5)
    constant = [line for line in lines if line.startswith("warning [constant]")]
    assert len(constant) == 6
    assert constant[-1] == "warning [constant]: 35 more columns like these (kproto inspect --json lists every one)"
    line = audit.dropped_line(limit=3)
    assert line.startswith("c0 (") and line.endswith("… and 37 more")
