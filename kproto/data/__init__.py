"""Data: readers, preprocessing, splits, windows.

Attributes load lazily so that `kproto validate` can read a file's header without importing pandas.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "DataInfo": "kproto.data.types",
    "Dataset": "kproto.data.types",
    "load_dataset": "kproto.data.loading",
    "transform_rows": "kproto.data.loading",
    "Preprocessor": "kproto.data.preprocess",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kproto.data' has no attribute {name!r}")


__all__ = list(_EXPORTS)
