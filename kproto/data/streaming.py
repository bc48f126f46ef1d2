"""Streaming mode for tables too large for memory.

Two passes over the file in chunks: the first assigns each row to a split (a seeded hash of its position, so the same
seed gives the same split), fits the preprocessing on a bounded sample of training rows and collects the class labels;
the second writes preprocessed float32 features to disk, one file per split. Training then reads shuffled blocks back,
so memory stays bounded by the block size, whatever the file size. The preprocessed files are cached by the file's
identity and the recipe's data section, so the next run of the same data starts training at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kproto.core import catalog
from kproto.core.errors import DataError, RecipeError
from kproto.data.preprocess import Preprocessor, infer_task, positive_last
from kproto.data.readers import check_target
from kproto.data.splits import check_held_out
from kproto.data.types import DataInfo, Dataset

if TYPE_CHECKING:
    from kproto.recipe.schema import Recipe

THRESHOLD_BYTES = 1 << 30  # data.streaming: auto streams files above 1 GiB
CHUNK_ROWS = 200_000
SAMPLE_ROWS = 200_000
BLOCK_ROWS = 65_536
STREAMABLE = (".csv", ".tsv", ".txt", ".parquet", ".pq")


def wants_streaming(recipe: Recipe) -> bool:
    """Whether the recipe's data is read in streaming mode (data.streaming: true, or auto and a large file)."""
    data = recipe.data
    setting = data.streaming
    path = Path(data.path)
    simple = (
        data.window is None and data.text is None and data.shape is None and catalog.family(recipe.model.type).streaming
    )
    if setting is True:
        if not simple or path.suffix.lower() not in STREAMABLE:
            raise RecipeError(
                "streaming works for tabular csv/tsv/parquet files (not windows, text, images or GANs)",
                field="data.streaming",
                hint="set data.streaming: false",
            )
        return True
    if setting == "auto":
        return simple and path.is_file() and path.suffix.lower() in STREAMABLE and path.stat().st_size > THRESHOLD_BYTES
    return False


def cache_root() -> Path:
    return Path(os.environ.get("KPROTO_CACHE", Path.home() / ".cache" / "kproto")) / "streams"


@dataclass
class BlockSource:
    """One split's preprocessed float32 features on disk, read back in blocks (never all at once)."""

    path: Path
    rows: int
    width: int

    def __len__(self) -> int:
        return self.rows

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.width)

    def read(self, start: int, stop: int) -> np.ndarray:
        count = max(0, min(stop, self.rows) - start)
        with self.path.open("rb") as handle:
            handle.seek(start * self.width * 4)
            return np.fromfile(handle, dtype=np.float32, count=count * self.width).reshape(count, self.width)

    def blocks(
        self, rng: np.random.Generator | None = None, block_rows: int = BLOCK_ROWS
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows' positions, features) per block; with `rng`, blocks in random order and rows shuffled within each."""
        starts = np.arange(0, self.rows, block_rows)
        if rng is not None:
            starts = rng.permutation(starts)
        for start in starts:
            x = self.read(int(start), int(start) + block_rows)
            positions = np.arange(start, start + len(x))
            if rng is not None:
                order = rng.permutation(len(x))
                x, positions = x[order], positions[order]
            yield positions, x

    def __getitem__(self, key: Any) -> np.ndarray:
        """Slices from the start (e.g. x[:16] for export samples) without loading the rest."""
        if isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(self.rows)
            return self.read(start, stop)
        raise TypeError("a streamed split supports only contiguous slices; iterate .blocks() instead")


def _chunks(path: Path, encoding: str | None = None) -> Iterator[pd.DataFrame]:
    """The file in chunks of CHUNK_ROWS rows; text that is not UTF-8 (or not `encoding`) is refused, never guessed."""
    from kproto.data.readers import table_chunks

    try:
        yield from table_chunks(path, CHUNK_ROWS, encoding)
    except pd.errors.ParserError as exc:
        raise DataError(f"cannot parse {path}: {str(exc).strip()}", field="data.path") from None


def assign_splits(start: int, count: int, seed: int, validation: float, test: float) -> np.ndarray:
    """0 train, 1 validation, 2 test for rows start..start+count, from a seeded hash of each row's position."""
    positions = np.arange(start, start + count, dtype=np.uint64)
    offset = np.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    mixed = (positions + offset) * np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(31)
    mixed *= np.uint64(0x94D049BB133111EB)
    mixed ^= mixed >> np.uint64(29)
    uniform = (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return np.where(uniform < test, 2, np.where(uniform < test + validation, 1, 0)).astype(np.int8)


def _cache_key(recipe: Recipe) -> str:
    path = Path(recipe.data.path)
    stat = path.stat()
    identity = {
        "file": str(path.resolve()),
        "size": stat.st_size,
        "mtime": stat.st_mtime_ns,
        "seed": recipe.seed,
        "data": recipe.data.model_dump(mode="json", exclude={"streaming", "augment"}),
        "version": 1,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def load_streaming(recipe: Recipe, preprocessor: Preprocessor | None = None) -> Any:
    """A Dataset whose x arrays are BlockSources on disk (labels stay in memory: 4 bytes a row)."""

    data = recipe.data
    path = Path(data.path)
    folder = cache_root() / _cache_key(recipe)
    meta_path = folder / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        pre = preprocessor or Preprocessor.from_dict(meta["state"])
    else:
        pre, meta = _build(recipe, path, folder, preprocessor)
    info = DataInfo.from_dict(meta["info"])
    parts = {}
    for name in catalog.SPLITS:
        rows = meta["rows"][name]
        x = BlockSource(folder / f"{name}.x.f32", rows, meta["width"])
        y_file = folder / f"{name}.y.npy"
        y = np.load(y_file) if y_file.exists() else None
        parts[name] = (x, y)
    dataset = Dataset(*parts["train"], *parts["validation"], *parts["test"], info=info, preprocessor=pre)
    dataset.baselines = meta.get("baselines", {})
    dataset.dropped_rows = int(meta.get("dropped_rows", 0))
    return dataset


@dataclass
class _Sample:
    """The first pass over the file: its columns, a bounded sample of training rows and the class labels seen."""

    columns: list[str]
    frame: pd.DataFrame
    labels: set[Any]


@dataclass
class _Written:
    """The second pass: rows written per split, the feature width and each split's targets (in memory)."""

    rows: dict[str, int]
    width: int
    targets: dict[str, list[np.ndarray]]
    dropped: int = 0  # rows left out for an empty target


def _build(recipe: Recipe, path: Path, folder: Path, preprocessor: Preprocessor | None) -> tuple[Preprocessor, dict]:
    """Both passes over the file into `folder`: the fitted preprocessing and the cache's meta.json."""
    sample = _sample(recipe, path)
    pre, task = _fit(recipe, sample, preprocessor)
    written = _write_splits(recipe, path, folder, pre, task, sample.columns)
    if written.rows[catalog.TRAIN] == 0:
        raise DataError("the split leaves no training rows", field="data.split")
    rows = written.rows
    check_held_out(
        sum(rows.values()),
        recipe.data.split.validation,
        recipe.data.split.test,
        rows[catalog.VALIDATION],
        rows[catalog.TEST],
    )
    info = _info(pre, task, written)
    meta = {
        "info": info.to_dict(),
        "state": pre.to_dict(),
        "rows": written.rows,
        "width": written.width,
        "baselines": _baselines(info, written),
        "source": str(path),
        "dropped_rows": written.dropped,
    }
    from kproto.core.files import write_json

    write_json(folder / "meta.json", meta)
    return pre, meta


def _sample(recipe: Recipe, path: Path) -> _Sample:
    """Pass one: assign rows to splits and keep a bounded random sample of training rows (SAMPLE_ROWS)."""
    data, split = recipe.data, recipe.data.split
    rng = np.random.default_rng(recipe.seed)
    sample: list[pd.DataFrame] = []
    labels: set[Any] = set()
    position = 0
    columns: list[str] | None = None
    keep_share = 1.0
    for chunk in _chunks(path, recipe.data.encoding):
        if columns is None:
            columns = [str(c) for c in chunk.columns]
            check_target(recipe, columns)
            estimated_rows = len(chunk) * max(path.stat().st_size / max(_chunk_bytes(chunk), 1), 1.0)
            keep_share = min(1.0, SAMPLE_ROWS / max(estimated_rows * (1 - split.validation - split.test), 1.0))
        chunk.columns = columns
        which = assign_splits(position, len(chunk), recipe.seed, split.validation, split.test)
        position += len(chunk)
        train = chunk[which == 0]
        if data.target:
            train = train[train[data.target].notna()]
            if len(labels) <= 10_000:
                labels.update(train[data.target].unique().tolist())
        sample.append(train[rng.random(len(train)) < keep_share])
    if columns is None or not sample:
        raise DataError(f"the data file has no training rows: {path}", field="data.path")
    frame = pd.concat(sample, ignore_index=True)
    if len(frame) == 0:
        raise DataError(f"the data file has a header but no rows: {path}", field="data.path")
    return _Sample(columns, frame, labels)


def _refuse_several_inputs(data: Any, frame: pd.DataFrame, features: list[str]) -> None:
    """Text and image-path columns (several inputs, kproto.data.inputs) are read from a table in memory only."""
    from kproto.data import inputs, preprocess

    roles = inputs.input_roles(preprocess, data, frame, [c for c in features if c in frame])
    several = [name for name, role in roles.items() if role in ("text", "image")]
    if several:
        raise DataError(
            f"the {roles[several[0]]} column '{several[0]}' makes a model of several inputs, which reads its table "
            "in memory; this file is streamed from disk",
            field="data.streaming",
            hint="set data.streaming: false (or data.limit to read fewer rows), or leave that column out of "
            "data.features",
        )


def _fit(recipe: Recipe, sample: _Sample, preprocessor: Preprocessor | None) -> tuple[Preprocessor, catalog.Task]:
    """The task and the preprocessing fitted on the sample (a given preprocessor is kept); the classes come from
    every training row's label, not only the sample's."""
    data, frame = recipe.data, sample.frame
    task = data.task or infer_task(frame[data.target], data.max_classes) if data.target else catalog.RECONSTRUCTION
    task = catalog.family(recipe.model.type).task or task
    features = list(data.features) if data.features is not None else [c for c in sample.columns if c != data.target]
    if preprocessor is None and catalog.family(recipe.model.type).extra_inputs:
        _refuse_several_inputs(data, frame, features)
    pre = preprocessor or Preprocessor.fit(frame, np.arange(len(frame)), data, task, catalog.TABLE, features)
    pre.state.setdefault("categorical", data.categorical)
    pre.state["streaming"] = {"sample_rows": int(len(frame))}
    if task == catalog.CLASSIFICATION and preprocessor is None:
        classes = sorted({_plain(v) for v in sample.labels}, key=lambda v: (str(type(v)), v))
        if len(classes) < 2:
            raise DataError(f"the target '{data.target}' has only one class in the training rows", field="data.target")
        pre.state["target"]["classes"] = classes
        positive_last(pre, recipe)
    return pre, task


def _write_splits(
    recipe: Recipe, path: Path, folder: Path, pre: Preprocessor, task: str, columns: list[str]
) -> _Written:
    """Pass two: preprocessed float32 features of each split into `folder` (written beside it, then moved in)."""
    data, split = recipe.data, recipe.data.split
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    handles = {name: (partial / f"{name}.x.f32").open("wb") for name in catalog.SPLITS}
    written = _Written(dict.fromkeys(handles, 0), 0, {name: [] for name in handles})
    supervised = "target" in pre.state and task != catalog.RECONSTRUCTION
    position = 0
    try:
        for chunk in _chunks(path, recipe.data.encoding):
            chunk.columns = columns
            which = assign_splits(position, len(chunk), recipe.seed, split.validation, split.test)
            position += len(chunk)
            if data.target and task != catalog.RECONSTRUCTION:
                keep = chunk[data.target].notna().to_numpy()
                written.dropped += int(np.sum(~keep))  # rows with an empty target: counted, shown in the run header
                chunk, which = chunk[keep], which[keep]
            x = pre.features(chunk, data.missing).astype(np.float32)
            y = pre.targets(chunk) if supervised else None
            written.width = x.shape[1]
            for code, name in enumerate(catalog.SPLITS):
                mask = which == code
                handles[name].write(np.ascontiguousarray(x[mask]).tobytes())
                written.rows[name] += int(mask.sum())
                if y is not None:
                    written.targets[name].append(y[mask])
    finally:
        for handle in handles.values():
            handle.close()
    for name in handles:
        if written.targets[name]:
            np.save(partial / f"{name}.y.npy", np.concatenate(written.targets[name]))
        os.replace(partial / f"{name}.x.f32", folder / f"{name}.x.f32")
        if (partial / f"{name}.y.npy").exists():
            os.replace(partial / f"{name}.y.npy", folder / f"{name}.y.npy")
    partial.rmdir()
    return written


def _info(pre: Preprocessor, task: catalog.Task, written: _Written) -> DataInfo:
    """What the model needs to know about the streamed table."""
    target = pre.state.get("target", {})
    info = DataInfo(task=task, kind=catalog.TABLE, input_shape=(written.width,), rows=written.rows)
    if "classes" in target:
        info.class_names, info.num_classes = list(target["classes"]), len(target["classes"])
    if task == catalog.REGRESSION:
        info.target_mean, info.target_std = target["mean"], target["std"]
    if task == catalog.RECONSTRUCTION:
        info.output_dim = written.width
    return info


def _baselines(info: DataInfo, written: _Written) -> dict[str, float]:
    """The majority-class accuracy on the test split (classification)."""
    targets = written.targets
    if info.task != catalog.CLASSIFICATION or not targets[catalog.TEST]:
        return {}
    y_train, y_test = np.concatenate(targets[catalog.TRAIN]), np.concatenate(targets[catalog.TEST])
    majority = np.bincount(y_train, minlength=info.num_classes).argmax()
    return {"majority_class_accuracy": float(np.mean(y_test == majority)) if len(y_test) else 0.0}


def _chunk_bytes(chunk: pd.DataFrame) -> int:
    """Approximate bytes the chunk took in the file (its CSV text length)."""
    return len(chunk.head(1000).to_csv(index=False).encode()) * len(chunk) // max(min(len(chunk), 1000), 1)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def is_streamed(x: Any) -> bool:
    """Whether a split is read from disk block by block (a BlockSource) rather than held in memory."""
    return isinstance(x, BlockSource)


def evaluate_blocks(
    evaluate: Callable[..., dict[str, float]],
    x: BlockSource,
    y: np.ndarray | None,
    encode: Callable[[np.ndarray], np.ndarray],
) -> dict[str, float]:
    """Row-weighted means of `evaluate(x_block, y_block)` over the blocks of a streamed split."""
    sums: dict[str, float] = {}
    seen = 0
    for positions, x_block in x.blocks(None):
        logs = evaluate(x_block, x_block if y is None else encode(y[positions]))
        for key, value in logs.items():
            sums[key] = sums.get(key, 0.0) + value * len(x_block)
        seen += len(x_block)
    return {key: value / max(seen, 1) for key, value in sums.items()}
