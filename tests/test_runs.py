"""Run directories: naming, atomic writes, never reusing a folder, and loading runs and model files back safely."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from kproto.errors import ModelFileError, RunError
from kproto.runs.layout import REQUIRED as RUN_FILES
from kproto.runs.load import check_model_file, load_run
from kproto.runs.store import RunDir, atomic_write_text, read_json, write_json


def test_run_dir_is_out_name_timestamp(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "runs", "my-model")
    assert run.path.parent == tmp_path / "runs" / "my-model"
    assert re.fullmatch(r"\d{8}-\d{6}(-\d+)?", run.path.name)
    assert run.path.is_dir() and not any(run.path.iterdir())


def test_run_dirs_are_never_reused(tmp_path: Path) -> None:
    paths = {RunDir.create(tmp_path, "same").path for _ in range(5)}  # same second, most likely
    assert len(paths) == 5
    assert all(p.is_dir() for p in paths)


def test_unwritable_out_is_a_run_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RunError) as info:
        RunDir.create(blocker, "x")
    assert info.value.field == "--out"


@pytest.mark.parametrize("payload", [{"a": 1}, {"nested": {"list": [1, 2.5, None]}}, [1, "two"]])
def test_atomic_json_round_trip_leaves_no_temporary_files(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "data.json"
    write_json(path, payload)
    write_json(path, payload)  # overwriting is atomic too
    assert read_json(path) == payload
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_write_json_handles_numpy_values(tmp_path: Path) -> None:
    import numpy as np

    write_json(tmp_path / "m.json", {"x": np.float32(0.5), "n": np.int64(3), "a": np.arange(3)})
    assert read_json(tmp_path / "m.json") == {"x": 0.5, "n": 3, "a": [0, 1, 2]}


def test_update_metrics_merges(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, "m")
    run.update_metrics(status="running", seed=1)
    merged = run.update_metrics(status="completed", epochs=2)
    assert merged == {"status": "completed", "seed": 1, "epochs": 2}
    assert json.loads((run.path / "metrics.json").read_text()) == merged


@pytest.mark.parametrize("text", ["{not json", "", "\xff\xfe"])
def test_corrupt_json_is_a_model_file_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ModelFileError):
        read_json(path)


def fake_run(folder: Path, skip: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if name != skip:
            (folder / name).write_text("{}")
    return folder


@pytest.mark.parametrize("missing", list(RUN_FILES))
def test_load_run_names_the_missing_file(tmp_path: Path, missing: str) -> None:
    folder = fake_run(tmp_path / "run", skip=missing)
    with pytest.raises(ModelFileError, match=re.escape(missing)):
        load_run(folder)


@pytest.mark.parametrize("name", ["nothing-here", "model.txt"])
def test_load_run_refuses_what_is_not_a_run(tmp_path: Path, name: str) -> None:
    if name.endswith(".txt"):
        (tmp_path / name).write_text("x")
    with pytest.raises(ModelFileError):
        load_run(tmp_path / name)


def test_load_run_refuses_a_preprocess_file_without_state(tmp_path: Path, tiny_classification: Path) -> None:
    folder = fake_run(tmp_path / "run")
    recipe = f"data: {{path: {tiny_classification}, target: label}}\nmodel: {{type: feedforward}}\n"
    (folder / "recipe.yaml").write_text(recipe)
    with pytest.raises(ModelFileError, match="preprocess"):
        load_run(folder)


@pytest.mark.parametrize(
    ("name", "content", "trust", "words"),
    [
        ("m.h5", b"\x89HDF", False, "HDF5"),
        ("m.keras", b"", False, "empty"),
        ("m.keras", b"this is not a zip", False, "not a valid .keras"),
        ("missing.keras", None, False, "not found"),
    ],
)
def test_check_model_file_refuses_unsafe_or_broken_files(
    tmp_path: Path, name: str, content: bytes | None, trust: bool, words: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=words):
        check_model_file(path, trust)


def test_check_model_file_accepts_h5_only_with_trust(tmp_path: Path) -> None:
    path = tmp_path / "m.h5"
    path.write_bytes(b"\x89HDF")
    check_model_file(path, trust=True)


def test_a_zip_without_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.txt", "x")
    with pytest.raises(ModelFileError, match="config.json"):
        check_model_file(path)


def test_atomic_write_into_a_missing_folder_is_a_run_error(tmp_path: Path) -> None:
    with pytest.raises(RunError):
        atomic_write_text(tmp_path / "no" / "such" / "file.txt", "x")


@pytest.mark.slow
def test_models_with_code_need_trust(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    from kproto.runs.load import load_keras_model
    from kproto.runs.store import save_model_atomic

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    path = tmp_path / "lambda.keras"
    save_model_atomic(model, path)
    with pytest.raises(ModelFileError, match="trust"):
        load_keras_model(path)
    assert load_keras_model(path, trust=True, compile=False) is not None
