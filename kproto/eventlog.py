"""TensorBoard event files written directly (no TensorFlow or TensorBoard needed), one append per epoch.

Layout like Keras' TensorBoard callback, so TensorBoard overlays training and validation:
`<run>/tensorboard/train/events.out.tfevents.*` (tags epoch_loss, epoch_accuracy, epoch_learning_rate, epoch_seconds)
and `<run>/tensorboard/validation/events.out.tfevents.*` (epoch_loss, epoch_accuracy, ...).
Each file is a TFRecord stream of `Event` protocol buffers holding `Summary.Value.simple_value` scalars.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

_CRC_TABLE: list[int] = []


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord framing needs."""
    if not _CRC_TABLE:
        for byte in range(256):
            crc = byte
            for _ in range(8):
                crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
            _CRC_TABLE.append(crc)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _event(
    step: int, wall_time: float, scalars: dict[str, float] | None = None, file_version: str | None = None
) -> bytes:
    """An encoded tensorflow.Event with either a file_version or a Summary of simple_value scalars."""
    body = b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step)
    if file_version is not None:
        body += _field_bytes(3, file_version.encode())
    if scalars:
        summary = b"".join(
            _field_bytes(1, _field_bytes(1, tag.encode()) + b"\x15" + struct.pack("<f", value))
            for tag, value in scalars.items()
        )
        body += _field_bytes(5, summary)
    return body


def _record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", _masked_crc(header)) + data + struct.pack("<I", _masked_crc(data))


class EventLog:
    """Per-epoch scalars for TensorBoard under `folder` (train/ and validation/ subfolders)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.files: dict[str, Path] = {}
        self.failed = False

    def _file(self, part: str) -> Path:
        if part not in self.files:
            sub = self.folder / part
            sub.mkdir(parents=True, exist_ok=True)
            name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.{len(self.files)}.v2"
            path = sub / name
            with open(path, "ab") as handle:
                handle.write(_record(_event(0, time.time(), file_version="brain.Event:2")))
            self.files[part] = path
        return self.files[part]

    def epoch(self, row: dict[str, Any]) -> None:
        """Append one epoch row ({epoch, loss, val_loss, ..., learning_rate, seconds}); never raises."""
        if self.failed:
            return
        step = int(row.get("epoch", 0))
        parts: dict[str, dict[str, float]] = {"train": {}, "validation": {}}
        for key, value in row.items():
            if key == "epoch" or not isinstance(value, (int, float)):
                continue
            if key.startswith("val_"):
                parts["validation"][f"epoch_{key[4:]}"] = float(value)
            else:
                parts["train"][f"epoch_{key}"] = float(value)
        try:
            now = time.time()
            for part, scalars in parts.items():
                if scalars:
                    with open(self._file(part), "ab") as handle:
                        handle.write(_record(_event(step, now, scalars)))
        except OSError:
            self.failed = True  # TensorBoard logs are a convenience; never cost a run


def read_scalars(path: Path) -> list[tuple[int, str, float]]:
    """(step, tag, value) of every scalar in one event file (used by tests and `kproto runs`)."""
    data = Path(path).read_bytes()
    out: list[tuple[int, str, float]] = []
    pos = 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        event = data[pos + 12 : pos + 12 + length]
        pos += 12 + length + 4
        step, index = 0, 0
        while index < len(event):
            key, index = _read_varint(event, index)
            number, wire = key >> 3, key & 7
            if wire == 1:
                index += 8
            elif wire == 0:
                value, index = _read_varint(event, index)
                if number == 2:
                    step = value
            elif wire == 2:
                size, index = _read_varint(event, index)
                payload = event[index : index + size]
                index += size
                if number == 5:
                    out += [(step, tag, value) for tag, value in _summary_values(payload)]
            else:
                break
    return out


def _read_varint(data: bytes, index: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[index]
        index += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, index


def _summary_values(payload: bytes) -> list[tuple[str, float]]:
    values, index = [], 0
    while index < len(payload):
        key, index = _read_varint(payload, index)
        size, index = _read_varint(payload, index)
        item, index = payload[index : index + size], index + size
        if key >> 3 != 1:
            continue
        tag, value, j = "", 0.0, 0
        while j < len(item):
            k, j = _read_varint(item, j)
            if k == 0x0A:
                n, j = _read_varint(item, j)
                tag, j = item[j : j + n].decode(), j + n
            elif k == 0x15:
                (value,) = struct.unpack_from("<f", item, j)
                j += 4
            else:
                break
        values.append((tag, value))
    return values
