"""kproto.training.eventlog: TensorBoard scalars written with tensorboardX, readable by TensorFlow, and no TensorFlow import."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.training.eventlog import EventLog, read_scalars

ROWS = [
    {
        "epoch": 1,
        "loss": 0.7,
        "accuracy": 0.5,
        "val_loss": 0.8,
        "val_accuracy": 0.4,
        "learning_rate": 1e-3,
        "seconds": 0.2,
    },
    {
        "epoch": 2,
        "loss": 0.5,
        "accuracy": 0.75,
        "val_loss": 0.6,
        "val_accuracy": 0.6,
        "learning_rate": 5e-4,
        "seconds": 0.1,
    },
]


def _events(folder: Path) -> list[Path]:
    return sorted(folder.rglob("events.out.tfevents.*"))


def _check_readable_by_tensorflow(path: Path) -> None:
    """TensorFlow's own TFRecord reader checks the CRCs; the first event is the file version."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    events = [event_pb2.Event.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    assert events[0].file_version == "brain.Event:2"
    assert {v.tag for e in events for v in e.summary.value} >= {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}


def test_epochs_go_to_train_and_validation_files(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "tensorboard")
    for row in ROWS:
        log.epoch(row)
    files = _events(tmp_path)
    assert {f.parent.name for f in files} == {"train", "validation"} and len(files) == 2
    assert all(f.name.endswith(".v2") for f in files)
    train = next(f for f in files if f.parent.name == "train")
    scalars = read_scalars(train)  # readable while the log is still open: every epoch is flushed
    assert [(step, tag) for step, tag, _ in scalars if tag == "epoch_loss"] == [(1, "epoch_loss"), (2, "epoch_loss")]
    assert {tag for _, tag, _ in scalars} == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_seconds"}
    assert [value for _, tag, value in scalars if tag == "epoch_accuracy"] == pytest.approx([0.5, 0.75])
    validation = next(f for f in files if f.parent.name == "validation")
    assert read_scalars(validation) == [
        (1, "epoch_loss", pytest.approx(0.8)),
        (1, "epoch_accuracy", pytest.approx(0.4)),
        (2, "epoch_loss", pytest.approx(0.6)),
        (2, "epoch_accuracy", pytest.approx(0.6)),
    ]
    log.close()
    _check_readable_by_tensorflow(train)


def test_non_numbers_are_skipped_and_a_train_only_row_makes_no_validation_file(tmp_path: Path) -> None:
    with EventLog(tmp_path) as log:
        log.epoch({"epoch": 1, "loss": 1.5, "note": "text", "flag": True})
    (train,) = _events(tmp_path)
    assert train.parent.name == "train"
    assert read_scalars(train) == [(1, "epoch_loss", 1.5)]


def test_a_resumed_log_adds_a_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    EventLog(tmp_path).epoch(ROWS[0])
    EventLog(tmp_path).epoch(ROWS[1])  # same process, same second: a new file, not a truncated one
    train = [f for f in _events(tmp_path) if f.parent.name == "train"]
    assert len(train) == 2
    steps = sorted(step for f in train for step, tag, _ in read_scalars(f) if tag == "epoch_loss")
    assert steps == [1, 2]


def test_a_folder_that_cannot_be_written_is_reported_once(tmp_path: Path) -> None:
    blocker = tmp_path / "tensorboard"
    blocker.write_text("a file where the folder should be")
    messages: list[str] = []
    log = EventLog(blocker, report=messages.append)
    log.epoch(ROWS[0])
    log.epoch(ROWS[1])
    assert len(messages) == 1 and "TensorBoard logging stopped" in messages[0] and str(blocker) in messages[0]
    with pytest.warns(RuntimeWarning, match="TensorBoard logging stopped"):
        EventLog(blocker).epoch(ROWS[0])


def test_a_corrupted_file_is_a_clear_error_and_a_cut_one_is_read_up_to_the_cut(tmp_path: Path) -> None:
    from kproto.core.errors import RunError

    EventLog(tmp_path).epoch(ROWS[0])
    train = next(f for f in _events(tmp_path) if f.parent.name == "train")
    data = train.read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(data[:-3])
    assert read_scalars(cut) == []  # the only scalar record is incomplete
    broken = tmp_path / "broken"
    broken.write_bytes(data[:-6] + bytes([data[-6] ^ 0xFF]) + data[-5:])
    with pytest.raises(RunError, match="corrupted"):
        read_scalars(broken)


def test_writing_events_imports_no_tensorflow(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        from kproto.training.eventlog import EventLog, read_scalars
        log = EventLog({str(tmp_path)!r})
        log.epoch({{"epoch": 1, "loss": 0.5, "val_loss": 0.6}})
        heavy = [m for m in ("tensorflow", "keras", "torch") if m in sys.modules]
        sys.exit(f"imported {{heavy}}" if heavy else 0)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(_events(tmp_path)) == 2


@pytest.mark.slow
def test_a_jax_run_writes_tensorboard_events_without_importing_tensorflow(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=120), rng.normal(size=120)
    label = np.where(x1 + 0.5 * x2 > 0, "yes", "no")
    pd.DataFrame({"x1": x1, "x2": x2, "label": label}).to_csv(tmp_path / "tiny.csv", index=False)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        "name: tiny\nseed: 7\ndata: {path: tiny.csv, target: label}\nmodel: {type: feedforward, units: [8]}\n"
        "train: {epochs: 2, batch_size: 16}\n"
    )
    code = textwrap.dedent(f"""
        import sys
        from click.testing import CliRunner
        from kproto.cli import cli
        result = CliRunner().invoke(cli, ["train", {str(recipe)!r}, "--out", {str(tmp_path / "runs")!r}, "--backend", "jax"])
        if result.exit_code != 0:
            sys.exit(result.output)
        sys.exit("tensorflow was imported" if "tensorflow" in sys.modules else 0)
    """)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}  # --backend alone decides
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = (tmp_path / "runs" / "tiny").iterdir()
    files = _events(run / "tensorboard")
    assert {f.parent.name for f in files} == {"train", "validation"}
    train = next(f for f in files if f.parent.name == "train")
    scalars = read_scalars(train)
    assert [(step, tag) for step, tag, _ in scalars if tag == "epoch_loss"] == [(1, "epoch_loss"), (2, "epoch_loss")]
    _check_readable_by_tensorflow(train)
