"""A fast JAX training engine: one epoch of minibatch training as a few compiled `lax.scan` calls.

The engine drives the compiled Keras model's own stateless JAX `train_step` / `test_step` (the same
functions `model.fit` jits, built on `stateless_call`, `optimizer.stateless_apply` and the metrics'
stateless updates), but scans them over many batches inside one XLA program instead of dispatching
one jitted call per batch from Python. Data stay on the device between epochs; the caller's
permutation is applied on the device by gathering rows inside the scan.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kproto.core import catalog
from kproto.training.engines.base import Engine

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("the fused engine needs JAX: pip install 'kproto[jax]'") from exc

import keras

__all__ = ["FusedEngine", "chunk_plan", "unroll_threefry_on_cpu"]

State = tuple[list[Any], ...]
Batch = tuple[Any, ...]
ProgressFn = Callable[[int, int], None]

_CACHE_SIZE = 4
# An epoch is split into at most `chunks` compiled scans (progress is reported after each), of at least this many
# steps: each call passes the whole training state, so a small table's few steps go in one or two calls.
MIN_CHUNK_STEPS = 8


def chunk_plan(steps: int, chunks: int) -> tuple[int, int]:
    """(steps per compiled scan, number of scans) for an epoch of `steps` full batches: at most `chunks` scans of
    equal length, each of at least MIN_CHUNK_STEPS steps where there are that many; the last one may be padded."""
    per_chunk = math.ceil(steps / max(min(chunks, math.ceil(steps / MIN_CHUNK_STEPS)), 1))
    return per_chunk, math.ceil(steps / per_chunk)


def unroll_threefry_on_cpu() -> bool:
    """Lower JAX's threefry random-bits hash on the CPU as straight-line code instead of a 5-step loop.

    The bits are the same (the loop and its unrolled form are the same 20 rounds); the straight-line form fuses into
    one kernel, where the loop runs one small kernel per step and copies its carry between steps. It draws every
    dropout mask of a training step and compiles faster (bench/fused_step.py compares the two). JAX registers the
    loop for CPU to keep its own compile times down on huge random arrays; a training step's masks are small.
    Returns True when the lowering was (or already is) registered, False when this JAX version lacks the pieces
    (then nothing changes)."""
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as threefry
    except ImportError:  # pragma: no cover - depends on the installed JAX
        return False
    primitive = getattr(threefry, "threefry2x32_p", None)
    unrolled = getattr(threefry, "_threefry2x32_lowering_rule", None)
    if primitive is None or unrolled is None or not hasattr(mlir, "register_lowering"):  # pragma: no cover
        return False
    mlir.register_lowering(primitive, unrolled, platform="cpu")
    return True


class _DeviceData:
    """Host arrays (kept alive so their identity stays meaningful) and their device copies."""

    def __init__(self, host: Sequence[np.ndarray | None], device: Batch) -> None:
        self.host = tuple(host)
        self.shapes = tuple(None if a is None else np.shape(a) for a in host)
        self.device = device

    def matches(self, host: Sequence[np.ndarray | None]) -> bool:
        """True when `host` are the very objects (with unchanged shapes) this entry was made from."""
        shapes = tuple(None if a is None else np.shape(a) for a in host)
        return shapes == self.shapes and all(a is b for a, b in zip(host, self.host, strict=True))


def _to_device(a: np.ndarray | None) -> Any:
    """Copy one host array to the device, casting floats to Keras's floatx as `model.fit` does."""
    if a is None:
        return None
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating) and a.dtype != np.dtype(keras.config.floatx()):
        a = a.astype(keras.config.floatx())
    return jax.device_put(a)


def _pack(x: Any, y: Any, sample_weight: Any) -> Batch:
    """The `data` tuple Keras's `train_step` expects: (x, y) or (x, y, sample_weight)."""
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def _take(data: Batch, idx: Any) -> Batch:
    """Gather the rows `idx` of every array in `data` (on the device, inside the compiled program)."""
    return tuple(jnp.take(a, idx, axis=0) for a in data)


class FusedEngine(Engine):
    """Trains a compiled Keras model one epoch at a time as a single jitted `jax.lax.scan`.

    Each epoch runs as at most `chunks` calls of one compiled scan over equal runs of full batches
    (`chunk_plan`: at least MIN_CHUNK_STEPS steps each where the epoch has that many; steps past the end of the last run are padding, skipped with `lax.cond`) plus, when the data
    size is not a multiple of `batch_size`, one jitted step for the last partial batch: exactly
    the batches `model.fit(..., shuffle=False)` would see on `x[order]`. Each step is the model's
    own stateless JAX `train_step`, so losses, metrics, regularization, loss scaling, schedules
    and dropout RNG threading are Keras's. `trace_count` counts traces (each one is a compile);
    it must not grow after the first epoch / first evaluation of a given data size.
    """

    name = "fused"

    def __init__(
        self,
        model: keras.Model,
        batch_size: int,
        should_stop: Callable[[], bool] = lambda: False,
        chunks: int = 10,
    ) -> None:
        super().__init__(should_stop)
        if keras.backend.backend() != catalog.JAX:
            backend = keras.backend.backend()
            raise RuntimeError(f"FusedEngine needs the JAX backend (KERAS_BACKEND=jax), not {backend!r}")
        if not getattr(model, "compiled", False) or model.optimizer is None:
            raise ValueError("FusedEngine needs a model compiled with an optimizer and a loss")
        if batch_size < 1 or chunks < 1:
            raise ValueError("batch_size and chunks must be positive")
        unroll_threefry_on_cpu()  # the same dropout masks, drawn faster
        self.model = model
        self.batch_size = int(batch_size)
        self.chunks = int(chunks)
        self.trace_count = 0
        self._cache: OrderedDict[tuple[int, int, int], _DeviceData] = OrderedDict()
        self._built = False
        self._signature: tuple[int, ...] = ()
        self._expected: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self._make_functions()

    # ----------------------------------------------------------------------------------- public API

    def train_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        order: np.ndarray,
        sample_weight: np.ndarray | None = None,
        on_progress: ProgressFn | None = None,
    ) -> dict[str, float]:
        """Train one epoch over `x[order], y[order]` in order; return the epoch's logs like `fit`'s history.

        The model's trainable, non-trainable (batch-norm statistics, dropout seed state), optimizer
        and metric variables hold the updated state afterwards. `on_progress(done, total)` is
        called after each chunk of steps.
        """
        data = self._device_data(x, y, sample_weight)
        order = np.asarray(order)
        if order.ndim != 1 or not np.issubdtype(order.dtype, np.integer):
            raise ValueError("order must be a 1-D integer array of row indices")
        n = int(order.shape[0])
        if n == 0:
            raise ValueError("cannot train an epoch on zero rows")
        if int(order.min()) < 0 or int(order.max()) >= int(np.shape(x)[0]):
            raise ValueError(f"order holds row indices outside [0, {np.shape(x)[0]})")
        self._prepare(x, y, sample_weight)
        bs = self.batch_size
        n_full, rem = divmod(n, bs)
        total = n_full + (1 if rem else 0)
        order = order.astype(np.int32, copy=False)

        self.model.reset_metrics()
        state = self._read_state(optimizer=True)
        partial_idx = jax.device_put(order[n_full * bs :]) if rem else None
        ahead = self._compile_ahead(state, data, partial_idx) if n_full else None
        done = 0
        if n_full:
            per_chunk, n_chunks = chunk_plan(n_full, self.chunks)
            pad = n_chunks * per_chunk - n_full
            idx = order[: n_full * bs].reshape(n_full, bs)
            if pad:
                idx = np.concatenate([idx, np.zeros((pad, bs), np.int32)])
            idx = idx.reshape(n_chunks, per_chunk, bs)
            valid = (np.arange(n_chunks * per_chunk) < n_full).reshape(n_chunks, per_chunk)
            # every chunk's rows in one transfer (indexing a device array would dispatch one op per chunk)
            chunk_idx = jax.device_put(list(idx))
            chunk_valid = jax.device_put(list(valid))
            for i in range(n_chunks):
                state = self._train_chunk(state, data, chunk_idx[i], chunk_valid[i])
                done = min(done + per_chunk, n_full)
                if on_progress is not None and done < total:
                    jax.block_until_ready(state[0])
                    on_progress(done, total)
        if ahead is not None:
            ahead.join()  # the partial step's (and the validation pass's) program is ready: the calls below reuse it
        if rem:
            state = self._train_partial(state, data, partial_idx)
        self._write_state(state, optimizer=True)
        if on_progress is not None:
            on_progress(total, total)
        return self._metrics_logs()

    def evaluate(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> dict[str, float]:
        """Same numbers as `model.evaluate(x, y, batch_size=batch_size, return_dict=True)`, in one jitted call."""
        data = self._device_data(x, y, sample_weight)
        if int(np.shape(x)[0]) == 0:
            raise ValueError("cannot evaluate on zero rows")
        self._prepare(x, y, sample_weight)
        self.model.reset_metrics()
        trainable, non_trainable, metrics = self._read_state(optimizer=False)
        metrics = self._evaluate_all((trainable, non_trainable, metrics), data)
        for ref, value in zip(self.model.metrics_variables, metrics, strict=True):
            ref.assign(value)
        return self._metrics_logs()

    def expect_evaluation(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> None:
        """`evaluate(x, y, sample_weight)` will follow each epoch: its program is compiled during the first epoch."""
        self._expected = (x, y, sample_weight)

    def finish(self) -> None:
        """Call once after the last epoch: what `fit` does at the end (e.g. swap in EMA weights)."""
        if isinstance(self.model.optimizer, keras.optimizers.Optimizer):
            self.model.optimizer.finalize_variable_values(self.model.trainable_weights)

    def clear_cache(self) -> None:
        """Drop the device copies of the data (e.g. after changing an array in place)."""
        self._cache.clear()

    # ------------------------------------------------------------------------------- compiled parts

    def _make_functions(self) -> None:
        """(Re)create the jitted functions; they close over the model's current compile state."""
        model = self.model
        bs = self.batch_size

        def train_chunk(state: State, data: Batch, idx: Any, valid: Any) -> State:
            self.trace_count += 1

            def step(carry: State, inputs: tuple[Any, Any]) -> tuple[State, None]:
                rows, ok = inputs
                batch = _take(data, rows)
                carry = jax.lax.cond(ok, lambda s: model.train_step(s, batch)[1], lambda s: s, carry)
                return carry, None

            state, _ = jax.lax.scan(step, state, (idx, valid))
            return state

        def train_partial(state: State, data: Batch, idx: Any) -> State:
            self.trace_count += 1
            return model.train_step(state, _take(data, idx))[1]

        def evaluate_all(state: State, data: Batch) -> list[Any]:
            self.trace_count += 1
            n = data[0].shape[0]
            n_full = n // bs

            def step(carry: State, batch: Batch) -> tuple[State, None]:
                return model.test_step(carry, batch)[1], None

            if n_full:
                batches = tuple(a[: n_full * bs].reshape((n_full, bs) + a.shape[1:]) for a in data)
                state, _ = jax.lax.scan(step, state, batches)
            if n % bs:
                state = model.test_step(state, tuple(a[n_full * bs :] for a in data))[1]
            return state[2]

        self._train_chunk = jax.jit(train_chunk)
        self._train_partial = jax.jit(train_partial)
        self._evaluate_all = jax.jit(evaluate_all)
        self._compiled: set[tuple[Any, ...]] = set()  # programs _compile_ahead compiled for these functions

    def _current_signature(self) -> tuple[int, ...]:
        """Identity of what the traced functions baked in; a change (re-compile, trainability) forces a retrace."""
        m = self.model
        return (
            id(m.optimizer),
            id(getattr(m, "_compile_loss", None)),
            id(getattr(m, "_compile_metrics", None)),
            len(m.trainable_variables),
            len(m.non_trainable_variables),
            len(m.optimizer.variables),
            len(m.metrics_variables),
        )

    def _compile_ahead(self, state: State, data: Batch, partial_idx: Any) -> threading.Thread | None:
        """Compile the programs this epoch (and the validation after it) will need besides the scan, in a thread.

        The scan's own compile runs in the calling thread meanwhile: XLA compiles without holding Python's lock, so
        on two or more cores the first epoch waits for the longest compile instead of their sum. Tracing stays in
        the calling thread (Keras's tracing is not meant to run in two threads at once); the later calls of the
        jitted functions find the compiled programs in JAX's cache, so the numbers are those of a plain call.
        Returns the thread (join it before those calls), or None when every program is compiled already."""
        lowered = []
        if partial_idx is not None:
            key = ("partial", int(partial_idx.shape[0]), *self._shapes(data))
            if key not in self._compiled:
                lowered.append(self._train_partial.lower(state, data, partial_idx))
                self._compiled.add(key)
        if self._expected is not None:
            x, y, sample_weight = self._expected
            if int(np.shape(x)[0]) and y is not None:
                val = self._device_data(x, y, sample_weight)
                key = ("evaluate", *self._shapes(val))
                if key not in self._compiled:
                    metrics = [v.value for v in self.model.metrics_variables]
                    lowered.append(self._evaluate_all.lower((state[0], state[1], metrics), val))
                    self._compiled.add(key)
        if not lowered:
            return None

        def compile_all() -> None:
            for program in lowered:
                try:
                    program.compile()
                except Exception:  # noqa: BLE001 - the call itself compiles again and raises where it belongs
                    pass

        thread = threading.Thread(target=compile_all, name="kproto-compile-ahead", daemon=True)
        thread.start()
        return thread

    @staticmethod
    def _shapes(data: Batch) -> tuple[Any, ...]:
        """Shapes and dtypes of a data tuple: what a compiled program is specialised to."""
        return tuple(None if a is None else (tuple(a.shape), str(a.dtype)) for a in data)

    # -------------------------------------------------------------------------------------- helpers

    def _prepare(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        """Build the model, compiled loss/metrics and optimizer as `fit` would; retrace if they changed."""
        if not self._built:
            n = min(self.batch_size, int(np.shape(x)[0]))
            sw = None if sample_weight is None else np.asarray(sample_weight[:n])
            batch = tuple(None if a is None else np.asarray(_to_device(a)) for a in (x[:n], y[:n], sw))
            self.model._symbolic_build(data_batch=_pack(*batch))
            self._built = True
        signature = self._current_signature()
        if signature != self._signature:
            if self._signature:
                self._make_functions()
            self._signature = signature

    def _device_data(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> Batch:
        """Device copies of (x, y[, sample_weight]), cached by the identity of the host arrays."""
        if y is None:
            raise ValueError("FusedEngine needs targets y")
        host = (x, y, sample_weight)
        n = int(np.shape(x)[0])
        if int(np.shape(y)[0]) != n or (sample_weight is not None and int(np.shape(sample_weight)[0]) != n):
            raise ValueError("x, y and sample_weight must have the same number of rows")
        key = (id(x), id(y), id(sample_weight))
        entry = self._cache.get(key)
        if entry is None or not entry.matches(host):
            entry = _DeviceData(host, _pack(*(_to_device(a) for a in host)))
            self._cache[key] = entry
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return entry.device

    def _read_state(self, optimizer: bool) -> State:
        """The model's variables as the state tuple Keras's JAX train/test steps take."""
        m = self.model
        groups = [m.trainable_variables, m.non_trainable_variables]
        if optimizer:
            groups.append(m.optimizer.variables)
        groups.append(m.metrics_variables)
        return tuple([v.value for v in group] for group in groups)

    def _write_state(self, state: State, optimizer: bool) -> None:
        """Assign a train/test step state back to the model's variables (what `jax_state_sync` does)."""
        m = self.model
        groups = [m.trainable_variables, m.non_trainable_variables]
        if optimizer:
            groups.append(m.optimizer.variables)
        groups.append(m.metrics_variables)
        for group, values in zip(groups, state, strict=True):
            for ref, value in zip(group, values, strict=True):
                ref.assign(value)

    def _metrics_logs(self) -> dict[str, float]:
        """The model's metric results as plain floats (the epoch logs `fit` / `evaluate` report)."""
        logs: dict[str, float] = {}
        for name, value in self.model.get_metrics_result().items():
            arr = np.asarray(value)
            logs[name] = float(arr) if arr.ndim == 0 else arr.tolist()
        return logs
