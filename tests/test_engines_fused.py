"""kproto.training.engines.fused: the fused JAX engine gives the results of Keras's fit (the cases in fused_engine_cases.py run
in their own JAX process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_fused_engine_matches_keras_fit_in_a_jax_process() -> None:
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "fused_engine_cases.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout.splitlines()[-1]


def test_unrolled_threefry_draws_the_same_bits_without_a_loop() -> None:
    """unroll_threefry_on_cpu changes how the CPU computes threefry, not the bits: jax.random (and so every dropout
    mask) gives what JAX's own looped CPU lowering gives."""
    jax = pytest.importorskip("jax")
    from functools import partial

    import numpy as np
    from jax._src.random import threefry2x32 as threefry

    from kproto.training.engines.fused import unroll_threefry_on_cpu

    keys = np.array([7, 123456789], np.uint32)
    counts = np.arange(2 * 3001, dtype=np.uint32).reshape(2, 3001)
    looped = jax.jit(partial(threefry._threefry2x32_lowering, use_rolled_loops=True))(*keys, *counts)

    assert unroll_threefry_on_cpu()
    hashed = jax.jit(lambda k1, k2, x1, x2: threefry.threefry2x32_p.bind(k1, k2, x1, x2))
    assert "while" not in hashed.lower(*keys, *counts).as_text()
    for got, want in zip(hashed(*keys, *counts), looped, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    uniform = jax.jit(lambda key: jax.random.uniform(key, (5,)))(jax.random.key(3))
    assert "while" not in jax.jit(lambda key: jax.random.bits(key, (9,))).lower(jax.random.key(3)).as_text()
    np.testing.assert_allclose(
        np.asarray(uniform),
        [0.07405257225036621, 0.938144326210022, 0.6489570140838623, 0.9756209850311279, 0.2783777713775635],
        rtol=0,
        atol=0,
    )  # JAX's own numbers before the change (jax.random.uniform(jax.random.key(3), (5,)))


@pytest.mark.parametrize(
    ("steps", "chunks", "plan"), [(97, 10, (10, 10)), (1093, 10, (110, 10)), (9, 10, (5, 2)), (3, 10, (3, 1))]
)
def test_chunk_plan(steps: int, chunks: int, plan: tuple[int, int]) -> None:
    """A small epoch goes in few scans (each call passes the whole training state); a large one in `chunks`."""
    pytest.importorskip("jax")
    from kproto.training.engines.fused import MIN_CHUNK_STEPS, chunk_plan

    assert chunk_plan(steps, chunks) == plan
    for n in range(1, 300):
        for most in (1, 3, 10):
            per_chunk, count = chunk_plan(n, most)
            assert count <= most and per_chunk * count >= n > per_chunk * (count - 1)
            assert count <= -(-n // MIN_CHUNK_STEPS)  # no more scans than MIN_CHUNK_STEPS-step runs
