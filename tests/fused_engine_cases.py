"""FusedEngine (JAX) gives the same numbers as Keras's own model.fit / model.evaluate.

Run by tests/test_engines_fused.py in its own pytest process on the JAX backend (the main test process uses TensorFlow).
"""

from __future__ import annotations

import os
from collections.abc import Callable

os.environ["KERAS_BACKEND"] = "jax"

import numpy as np
import pytest

pytest.importorskip("jax", reason="the fused engine needs JAX (pip install 'kproto[jax]')")

import keras  # noqa: E402

if keras.backend.backend() != "jax":
    pytest.skip(
        f"keras was already imported with the {keras.backend.backend()!r} backend in this process; "
        "run tests/test_engines_fused.py in its own pytest process",
        allow_module_level=True,
    )

from kproto.training.engines.fused import FusedEngine  # noqa: E402

pytestmark = pytest.mark.slow  # every case trains (fused engine against model.fit)
BATCH = 32
RTOL = 1e-4
ATOL = 1e-6


def classifier(dropout: float = 0.0, optimizer: keras.optimizers.Optimizer | None = None) -> keras.Model:
    """A small MLP with batch norm and dropout, sparse CE on logits, accuracy."""
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def regressor() -> keras.Model:
    """A small MLP regression model: mse loss, mae metric."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dropout(0.0), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse", metrics=["mae"])
    return model


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    """300 rows (a partial last batch of 12), class labels, a regression target, weights, a permutation."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8))
    w = rng.normal(size=(8,))
    return {
        "x": x,
        "y": rng.integers(0, 3, size=300),
        "t": (x @ w + 0.1 * rng.normal(size=300)).astype("float32")[:, None],
        "sw": rng.uniform(0.2, 3.0, size=300),
        "order": rng.permutation(300),
    }


def record(calls: list[tuple[int, int]]) -> Callable[[int, int], None]:
    """An on_progress callback that appends its (done, total) calls to `calls`."""

    def on_progress(done: int, total: int) -> None:
        calls.append((done, total))

    return on_progress


def snapshot(model: keras.Model) -> list[np.ndarray]:
    """Every model and optimizer variable (weights, BN statistics, seed state, iterations, moments)."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return [np.array(v.value) for v in (*model.variables, *model.optimizer.variables)]


def restore(model: keras.Model, values: list[np.ndarray]) -> None:
    """Put back a `snapshot`."""
    for v, value in zip((*model.variables, *model.optimizer.variables), values, strict=True):
        v.assign(value)


def assert_close(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    """All arrays equal within RTOL (relative) / ATOL."""
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(u, v, rtol=RTOL, atol=ATOL)


def fit_then_fused(
    model: keras.Model, x: np.ndarray, y: np.ndarray, order: np.ndarray, sw: np.ndarray | None = None
) -> tuple[dict[str, float], dict[str, float], list[np.ndarray], list[np.ndarray]]:
    """One epoch of fit(shuffle=False) on x[order] and one fused epoch from the same start state."""
    start = snapshot(model)
    history = model.fit(
        x[order],
        y[order],
        sample_weight=None if sw is None else sw[order],
        batch_size=BATCH,
        epochs=1,
        shuffle=False,
        verbose=0,
    ).history
    fit_logs = {k: float(v[0]) for k, v in history.items()}
    after_fit = snapshot(model)
    restore(model, start)
    logs = FusedEngine(model, BATCH, chunks=3).train_epoch(x, y, order, sample_weight=sw)
    return fit_logs, logs, after_fit, snapshot(model)


@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_one_epoch_matches_fit_classification(data: dict[str, np.ndarray], dropout: float) -> None:
    # With dropout on, the masks match too: the seed-generator state is threaded exactly like fit's.
    model = classifier(dropout)
    fit_logs, logs, after_fit, after_fused = fit_then_fused(model, data["x"], data["y"], data["order"])
    assert set(logs) == set(fit_logs) == {"loss", "accuracy"}
    for key in fit_logs:
        assert logs[key] == pytest.approx(fit_logs[key], rel=RTOL)
    assert_close(after_fused, after_fit)
    assert int(model.optimizer.iterations.numpy()) == 10  # 9 full batches + the partial one


def test_one_epoch_matches_fit_regression(data: dict[str, np.ndarray]) -> None:
    model = regressor()
    fit_logs, logs, after_fit, after_fused = fit_then_fused(model, data["x"], data["t"], data["order"])
    assert set(logs) == set(fit_logs) == {"loss", "mae"}
    for key in fit_logs:
        assert logs[key] == pytest.approx(fit_logs[key], rel=RTOL)
    assert_close(after_fused, after_fit)


def test_sample_weight_matches_fit(data: dict[str, np.ndarray]) -> None:
    model = classifier(0.0)
    fit_logs, logs, after_fit, after_fused = fit_then_fused(model, data["x"], data["y"], data["order"], data["sw"])
    for key in fit_logs:
        assert logs[key] == pytest.approx(fit_logs[key], rel=RTOL)
    assert_close(after_fused, after_fit)
    # ... and the weights really change the result.
    unweighted = classifier(0.0)
    plain = FusedEngine(unweighted, BATCH).train_epoch(data["x"], data["y"], data["order"])
    assert plain["loss"] != pytest.approx(logs["loss"], rel=1e-3)


def test_schedule_and_categorical_crossentropy_match_fit(data: dict[str, np.ndarray]) -> None:
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5)
    keras.utils.set_random_seed(11)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(12, activation="relu"), keras.layers.Dense(3)])
    model.compile(
        optimizer=keras.optimizers.RMSprop(schedule),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics=["categorical_accuracy"],
    )
    onehot = np.eye(3, dtype="float32")[data["y"]]
    fit_logs, logs, after_fit, after_fused = fit_then_fused(model, data["x"], onehot, data["order"])
    for key in fit_logs:
        assert logs[key] == pytest.approx(fit_logs[key], rel=RTOL)
    assert_close(after_fused, after_fit)


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_evaluate_matches_keras(data: dict[str, np.ndarray], kind: str) -> None:
    model, y = (classifier(0.3), data["y"]) if kind == "classification" else (regressor(), data["t"])
    engine = FusedEngine(model, BATCH)
    engine.train_epoch(data["x"], y, data["order"])
    for sw in (None, data["sw"]):
        for rows in (300, 64, 7):  # partial last batch, exact batches, a single partial batch
            got = engine.evaluate(data["x"][:rows], y[:rows], sample_weight=None if sw is None else sw[:rows])
            want = model.evaluate(
                data["x"][:rows],
                y[:rows],
                sample_weight=None if sw is None else sw[:rows],
                batch_size=BATCH,
                verbose=0,
                return_dict=True,
            )
            assert set(got) == set(want)
            for key in want:
                assert got[key] == pytest.approx(want[key], rel=RTOL)


def test_several_epochs_reduce_loss_without_recompiling(data: dict[str, np.ndarray]) -> None:
    model = classifier(0.2)
    engine = FusedEngine(model, BATCH, chunks=4)
    rng = np.random.default_rng(1)
    calls: list[tuple[int, int]] = []
    losses = []
    for epoch in range(6):
        logs = engine.train_epoch(data["x"], data["y"], rng.permutation(300), on_progress=record(calls))
        losses.append(logs["loss"])
        if epoch == 0:
            traces = engine.trace_count
            assert calls[-1] == (10, 10)
            done = [d for d, _ in calls]
            assert done == sorted(done) and all(t == 10 for _, t in calls) and len(calls) > 2
    assert engine.trace_count == traces == 2  # one scan chunk, one partial step; nothing retraced later
    assert losses[-1] < 0.8 * losses[0]
    assert int(model.optimizer.iterations.numpy()) == 60
    # The Keras model holds the trained state: evaluate/predict work and agree.
    preds = model.predict(data["x"], batch_size=BATCH, verbose=0)
    acc = float(np.mean(preds.argmax(-1) == data["y"]))
    assert model.evaluate(data["x"], data["y"], batch_size=BATCH, verbose=0, return_dict=True)["accuracy"] == (
        pytest.approx(acc, abs=1e-6)
    )


def test_compiling_ahead_compiles_each_program_once_and_keeps_the_numbers(data: dict[str, np.ndarray]) -> None:
    """With expect_evaluation the first epoch compiles the partial step and the validation pass in a thread beside
    the scan: three traces in all, none later, and every weight, log and validation number bit for bit those of an
    engine that compiles each program at its first call."""
    x_val, y_val = data["x"][:50] + 0.5, data["y"][:50]
    runs = []
    for hinted in (False, True):
        model = classifier(0.3)
        engine = FusedEngine(model, BATCH, chunks=3)
        if hinted:
            engine.expect_evaluation(x_val, y_val)
        logs = []
        for epoch in range(3):
            order = np.random.default_rng(epoch).permutation(300)
            logs.append((engine.train_epoch(data["x"], data["y"], order), engine.evaluate(x_val, y_val)))
            if epoch == 0:
                traces = engine.trace_count
        assert engine.trace_count == traces == 3  # scan chunk, partial step, validation pass; nothing retraced
        assert engine._compiled == (
            {("partial", 12, *FusedEngine._shapes(engine._device_data(data["x"], data["y"], None)))}
            | ({("evaluate", *FusedEngine._shapes(engine._device_data(x_val, y_val, None)))} if hinted else set())
        )
        runs.append((logs, snapshot(model)))
    (plain_logs, plain_state), (hinted_logs, hinted_state) = runs
    assert hinted_logs == plain_logs
    for a, b in zip(hinted_state, plain_state, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("chunks", [1, 2, 10])
def test_chunking_leaves_the_numbers_alone(data: dict[str, np.ndarray], chunks: int) -> None:
    """However an epoch is split into compiled scans, the steps, dropout masks and so the state are the same."""
    model = classifier(0.4)
    start = snapshot(model)
    reference = FusedEngine(model, 16, chunks=3).train_epoch(data["x"], data["y"], data["order"])
    want = snapshot(model)
    restore(model, start)
    logs = FusedEngine(model, 16, chunks=chunks).train_epoch(data["x"], data["y"], data["order"])
    assert logs == pytest.approx(reference, rel=RTOL)
    assert_close(snapshot(model), want)


def test_later_fit_continues_from_fused_state(data: dict[str, np.ndarray]) -> None:
    model = classifier(0.0)
    FusedEngine(model, BATCH).train_epoch(data["x"], data["y"], data["order"])
    assert int(model.optimizer.iterations.numpy()) == 10
    model.fit(data["x"], data["y"], batch_size=BATCH, epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 20


def test_rejects_bad_input(data: dict[str, np.ndarray]) -> None:
    engine = FusedEngine(classifier(), BATCH)
    with pytest.raises(ValueError, match="same number of rows"):
        engine.train_epoch(data["x"], data["y"][:10], data["order"])
    with pytest.raises(ValueError, match="1-D integer"):
        engine.train_epoch(data["x"], data["y"], data["order"].astype(float))
    with pytest.raises(ValueError, match="outside"):
        engine.train_epoch(data["x"], data["y"], data["order"] + 1)
    uncompiled = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compiled"):
        FusedEngine(uncompiled, BATCH)


def test_training_draws_initial_weights_with_the_unrolled_threefry(tmp_path, monkeypatch) -> None:
    """A JAX training run registers the straight-line threefry lowering before it builds the model, so the weight
    initializers' random draws compile as one kernel (the same bits: test_engines_fused checks them)."""
    import jax

    from kproto.recipe import load_recipe
    from kproto.training import loop

    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{u:.3f},{v:.3f},{'yn'[int(u + v > 0)]}" for u, v in rng.normal(size=(60, 2))]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "r.yaml").write_text(
        "name: t\ndata: {path: d.csv, target: label}\nmodel: {type: feedforward, units: [8]}\n"
        "train: {epochs: 1, batch_size: 16}\n"
    )
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32 as threefry

    def looped() -> bool:
        bits = jax.jit(lambda key: jax.random.bits(key, (9,)))
        return "while" in bits.lower(jax.random.key(3)).as_text()

    # JAX's own CPU lowering back in place (an earlier case's engine registered the unrolled one for the process)
    mlir.register_lowering(threefry.threefry2x32_p, threefry._threefry2x32_cpu_lowering_rule, platform="cpu")
    assert looped()
    looped_at_build = []
    build = loop.build_model

    def watched_build(*args, **kwargs):
        looped_at_build.append(looped())
        return build(*args, **kwargs)

    monkeypatch.setattr(loop, "build_model", watched_build)
    result = loop.train(load_recipe(tmp_path / "r.yaml").recipe, tmp_path / "runs")
    assert looped_at_build == [False]
    assert result.metrics["engine"] == "fused"
