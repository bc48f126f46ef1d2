"""Micro-batching: concurrent requests share one model call.

Requests wait at most `max_delay_ms` after the first one of a batch arrives, and a batch holds at most `max_batch`
rows (a single request larger than that runs alone). Model calls run one at a time on a worker thread, so the
event loop keeps accepting requests while the model works, and those requests form the next batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass
class _Pending:
    item: Any
    rows: int
    future: asyncio.Future


class MicroBatcher:
    """Collects submitted items into batches for `run_batch(items) -> results` (one result per item, in order)."""

    def __init__(self, run_batch: Callable[[list[Any]], Sequence[Any]], max_batch: int = 64, max_delay_ms: float = 5.0):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, received {max_batch}")
        if max_delay_ms < 0:
            raise ValueError(f"max_delay_ms must be at least 0, received {max_delay_ms}")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_delay = max_delay_ms / 1000.0
        self.batches = 0  # model calls made (for tests and logs)
        self.largest = 0  # rows in the largest batch
        self._queue: asyncio.Queue[_Pending | None] | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kproto-model")
        self._carry: _Pending | None = None

    async def start(self) -> None:
        """Start the batching task on the running event loop."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Finish every submitted item, then stop the worker."""
        if self._queue is not None and self._worker is not None:
            await self._queue.put(None)
            await self._worker
        self._executor.shutdown(wait=True)

    async def run_alone(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run `function(*args)` on the model thread (calls that are not batched, such as GAN sampling)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def submit(self, item: Any, rows: int) -> Any:
        """Queue `item` (of `rows` rows) and wait for its result; exceptions of its batch are raised here."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(item, rows, future))
        return await future

    async def _next(self, timeout: float | None) -> _Pending | None | bool:
        """The next queued entry; False when `timeout` passes first."""
        assert self._queue is not None
        if self._carry is not None:
            carried, self._carry = self._carry, None
            return carried
        if timeout is None:
            return await self._queue.get()
        if timeout <= 0:
            try:
                return self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return False
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return False

    async def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = await self._next(None)
            if first is None:
                break
            batch, rows = [first], first.rows
            deadline = time.monotonic() + self.max_delay
            while rows < self.max_batch:
                entry = await self._next(deadline - time.monotonic())
                if entry is False:
                    break
                if entry is None:
                    stopping = True
                    break
                if rows + entry.rows > self.max_batch:
                    self._carry = entry
                    break
                batch.append(entry)
                rows += entry.rows
            await self._run(batch, rows)
        if self._carry is not None:  # a stop arrived while an entry waited for the next batch
            carried, self._carry = self._carry, None
            await self._run([carried], carried.rows)

    async def _run(self, batch: list[_Pending], rows: int) -> None:
        live = [p for p in batch if not p.future.cancelled()]
        if not live:
            return
        self.batches += 1
        self.largest = max(self.largest, rows)
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self.run_batch, [p.item for p in live])
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            for pending in live:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        for pending, result in zip(live, results):
            if not pending.future.done():
                pending.future.set_result(result)
