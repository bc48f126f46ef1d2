"""TensorBoard scalars per epoch, written with tensorboardX (no TensorFlow import, so JAX and torch runs stay light).

Layout like Keras' TensorBoard callback, so TensorBoard overlays training and validation:
`<run>/tensorboard/train/events.out.tfevents.*` (tags epoch_loss, epoch_accuracy, epoch_learning_rate, epoch_seconds)
and `<run>/tensorboard/validation/events.out.tfevents.*` (epoch_loss, epoch_accuracy, ...).
Each epoch is written and fsynced before `epoch` returns, so a killed run keeps every finished epoch.
"""

from __future__ import annotations

import os
import struct
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from kproto.core.errors import RunError

PARTS = ("train", "validation")  # subfolders, as Keras' TensorBoard callback names them


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


class EventLog:
    """Per-epoch scalars for TensorBoard under `folder` (train/ and validation/ subfolders).

    TensorBoard files are a convenience: when one cannot be written, `report` is told once (by default a
    RuntimeWarning) and logging stops, rather than the run failing.
    """

    def __init__(self, folder: Path, report: Callable[[str], None] = _warn) -> None:
        self.folder = Path(folder)
        self.report = report
        self.writers: dict[str, Any] = {}
        self.failed = False

    def _writer(self, part: str) -> Any:
        if part not in self.writers:
            from tensorboardX.event_file_writer import EventsWriter

            sub = self.folder / part
            sub.mkdir(parents=True, exist_ok=True)
            self.writers[part] = EventsWriter(str(sub / "events"), _free_suffix(sub))
        return self.writers[part]

    def epoch(self, row: dict[str, Any]) -> None:
        """Append one epoch row ({epoch, loss, val_loss, ..., learning_rate, seconds}); never raises for I/O."""
        if self.failed:
            return
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary

        step = int(row.get("epoch", 0))
        parts: dict[str, list[Any]] = {part: [] for part in PARTS}
        for key, value in row.items():
            if key == "epoch" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            part, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            parts[part].append(Summary.Value(tag=f"epoch_{name}", simple_value=float(value)))
        now = time.time()
        try:
            for part, values in parts.items():
                if values:
                    writer = self._writer(part)
                    writer.write_event(Event(wall_time=now, step=step, summary=Summary(value=values)))
                    writer.flush()
        except OSError as exc:
            self.failed = True
            self.report(f"TensorBoard logging stopped: cannot write under {self.folder}: {exc.strerror or exc}")

    def close(self) -> None:
        """Flush and close the event files (they stay readable without this; it frees the file handles)."""
        writers, self.writers = self.writers, {}
        for writer in writers.values():
            try:
                writer.close()
            except OSError as exc:
                self.report(f"could not close a TensorBoard file under {self.folder}: {exc.strerror or exc}")

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _free_suffix(folder: Path) -> str:
    """`.<pid>.<n>.v2` with the first n no file of this process has, so a resumed run never truncates a file."""
    pid = os.getpid()
    n = 0
    while any(folder.glob(f"events.out.tfevents.*.{pid}.{n}.v2")):
        n += 1
    return f".{pid}.{n}.v2"


def read_scalars(path: Path) -> list[tuple[int, str, float]]:
    """(step, tag, value) of every scalar in one event file, checking each record's CRCs.

    A record cut short at the end (a file still being written) ends the list; a corrupted one is a RunError.
    """
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import masked_crc32c

    data = Path(path).read_bytes()
    out: list[tuple[int, str, float]] = []
    pos = 0
    while pos + 12 <= len(data):
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack_from("<I", data, pos + 8)
        if header_crc != masked_crc32c(header):
            raise RunError(f"{path} is corrupted at byte {pos} (record header checksum)")
        end = pos + 12 + length
        if end + 4 > len(data):
            break
        payload = data[pos + 12 : end]
        (payload_crc,) = struct.unpack_from("<I", data, end)
        if payload_crc != masked_crc32c(payload):
            raise RunError(f"{path} is corrupted at byte {pos} (record checksum)")
        event = Event.FromString(payload)
        out += [(int(event.step), value.tag, float(value.simple_value)) for value in event.summary.value]
        pos = end + 4
    return out
