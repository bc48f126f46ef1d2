"""Training and evaluation over data on disk, one shuffled block at a time, with any in-memory engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kproto.data.streaming import BlockSource, evaluate_blocks, is_streamed  # noqa: F401 - is_streamed: used here and by the loop
from kproto.training.engines.base import Engine


def epoch_order(x: Any, seed: int, epoch: int) -> Any:
    """A permutation of the rows for in-memory data; for streamed data, the generator that shuffles its blocks."""
    rng = np.random.default_rng([seed, epoch])
    return rng if is_streamed(x) else rng.permutation(len(x))


class StreamingEngine(Engine):
    """Runs `inner` (fit or fused engine) block by block; the epoch's logs are row-weighted means over blocks."""

    def __init__(self, inner: Engine, encode: Callable[[np.ndarray], np.ndarray]) -> None:
        super().__init__(inner.should_stop)
        self.inner = inner
        self.encode = encode
        self.name = f"streaming+{inner.name}"

    def _targets(self, x_block: np.ndarray, y: np.ndarray | None, positions: np.ndarray) -> np.ndarray:
        return x_block if y is None else self.encode(y[positions])

    def train_epoch(
        self,
        x: BlockSource,
        y: np.ndarray | None,
        rng: np.random.Generator,
        sample_weight: np.ndarray | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, float]:
        batch = getattr(self.inner, "batch_size", 32)
        total_steps = -(-len(x) // batch)
        sums: dict[str, float] = {}
        seen = 0
        for positions, x_block in x.blocks(rng):
            weights = None if sample_weight is None else sample_weight[positions]
            logs = self.inner.train_epoch(
                x_block, self._targets(x_block, y, positions), np.arange(len(x_block)), weights, None
            )
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + value * len(x_block)
            seen += len(x_block)
            if on_progress is not None:
                on_progress(min(-(-seen // batch), total_steps), total_steps)
            if self.inner.should_stop():
                break
        return {key: value / max(seen, 1) for key, value in sums.items()}

    def evaluate(
        self, x: BlockSource, y: np.ndarray | None, sample_weight: np.ndarray | None = None
    ) -> dict[str, float]:
        return evaluate_blocks(self.inner.evaluate, x, y, self.encode)

    def end_epoch(self, epoch: int, epochs: int) -> None:
        self.inner.end_epoch(epoch, epochs)

    def finish(self) -> None:
        self.inner.finish()
