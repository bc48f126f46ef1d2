"""Training: the epoch loop (loop.py), checkpoints and resume (checkpoint.py), stopping controls (controls.py).

`from kproto.training import train` imports Keras: configure the backend first (kproto.core.backend.configure).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {"train": "kproto.training.loop", "Trainer": "kproto.training.loop", "TrainResult": "kproto.training.loop"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kproto.training' has no attribute {name!r}")


__all__ = list(_EXPORTS)
