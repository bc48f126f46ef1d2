"""Losses, optimizers, metrics, activations and regularizers resolve from the recipe and train a step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from kproto.core import catalog
from kproto.core.errors import CodeNotAllowedError, RecipeError
from kproto.data.dataset import DataInfo
from kproto.models import build_model
from kproto.recipe.loader import recipe_from_dict
from kproto.training.compile import (
    class_weights,
    compile_model,
    encode_labels,
    label_mode_for,
    model_spec_for,
    resolve_metrics,
)

CLASSES = DataInfo(task="classification", kind="table", input_shape=(4,), num_classes=3, class_names=["a", "b", "c"])
BINARY = DataInfo(task="classification", kind="table", input_shape=(4,), num_classes=2, class_names=["no", "yes"])
REGRESSION = DataInfo(task="regression", kind="table", input_shape=(4,), target_mean=1.0, target_std=2.0)


def make(train: dict[str, Any], info: DataInfo = CLASSES, model: dict[str, Any] | None = None, **kwargs: Any):
    """Build and compile a small feedforward model for `train`; returns (model, setup, recipe)."""
    recipe = recipe_from_dict(
        {
            "data": {"path": "unused.csv", "target": "y"},
            "model": {"type": "feedforward", "units": [8], "dropout": 0.0, **(model or {})},
            "train": {"epochs": 2, **train},
        }
    )
    keras.utils.set_random_seed(0)
    net = build_model(model_spec_for(recipe), info)
    setup = compile_model(net, recipe, info, steps_per_epoch=2, jit_compile=False, **kwargs)
    net.run_eagerly = True  # one step on tiny data: skip tracing
    return net, setup, recipe


def data(info: DataInfo, n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    if info.task == "classification":
        return x, (np.arange(n) % info.num_classes).astype(np.int64)
    return x, (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 1.0).astype("float32")


def step(net: keras.Model, setup: Any, info: DataInfo) -> dict[str, float]:
    x, y = data(info)
    logs = net.train_on_batch(x, encode_labels(y, setup.label_mode, info.num_classes), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()), logs
    return logs


# ----------------------------------------------------------------------------- losses
LOSS_CASES = [
    ("mse", REGRESSION, keras.losses.MeanSquaredError, "value"),
    ("mae", REGRESSION, keras.losses.MeanAbsoluteError, "value"),
    ("huber", REGRESSION, keras.losses.Huber, "value"),
    ("log_cosh", REGRESSION, keras.losses.LogCosh, "value"),
    ("mape", REGRESSION, keras.losses.MeanAbsolutePercentageError, "value"),
    ("poisson", REGRESSION, keras.losses.Poisson, "value"),
    ("binary_crossentropy", BINARY, keras.losses.BinaryCrossentropy, "onehot"),
    ("binary_crossentropy", CLASSES, keras.losses.BinaryCrossentropy, "onehot"),
    ("categorical_crossentropy", CLASSES, keras.losses.CategoricalCrossentropy, "onehot"),
    ("sparse_categorical_crossentropy", CLASSES, keras.losses.SparseCategoricalCrossentropy, "sparse"),
    ("binary_focal_crossentropy", CLASSES, keras.losses.BinaryFocalCrossentropy, "onehot"),
    ("categorical_focal_crossentropy", CLASSES, keras.losses.CategoricalFocalCrossentropy, "onehot"),
    ("hinge", BINARY, keras.losses.Hinge, "onehot"),
    ("squared_hinge", BINARY, keras.losses.SquaredHinge, "onehot"),
    ("categorical_hinge", CLASSES, keras.losses.CategoricalHinge, "onehot"),
    ("kl_divergence", CLASSES, keras.losses.KLDivergence, "onehot"),
    ("cosine_similarity", CLASSES, keras.losses.CosineSimilarity, "onehot"),
    ("poisson", CLASSES, keras.losses.Poisson, "onehot"),
    ("mse", CLASSES, keras.losses.MeanSquaredError, "onehot"),
    ("auto", CLASSES, keras.losses.SparseCategoricalCrossentropy, "sparse"),
    ("auto", REGRESSION, keras.losses.MeanSquaredError, "value"),
]


@pytest.mark.parametrize(
    ("name", "info", "cls", "mode"), LOSS_CASES, ids=[f"{c[0]}-{c[1].task}{c[1].num_classes or ''}" for c in LOSS_CASES]
)
def test_loss_compiles_and_trains(name: str, info: DataInfo, cls: type, mode: str) -> None:
    # Poisson needs positive predictions: a softplus head keeps the rescaled output above target_mean - 0.
    positive = {"output_activation": "softplus"} if (name, info.task) == ("poisson", "regression") else {}
    net, setup, _ = make({"loss": name}, info, model=positive)
    assert isinstance(net.loss, cls)
    assert setup.label_mode == mode
    step(net, setup, info)


def test_every_catalog_loss_resolves_through_keras() -> None:
    for name in catalog.LOSSES:
        if name != "auto":
            assert keras.losses.get(name) is not None, name
            info = REGRESSION if name in ("mape", "msle", "mean_absolute_error", "mean_squared_error") else CLASSES
            make({"loss": name}, info)


@pytest.mark.parametrize(
    "config",
    [
        {"name": "categorical_crossentropy", "label_smoothing": 0.1},
        {"name": "sparse_categorical_crossentropy", "label_smoothing": 0.1},
        "sparse_categorical_crossentropy",
    ],
)
def test_label_smoothing_switches_to_one_hot(config: Any) -> None:
    train = {"loss": config} if isinstance(config, dict) else {"loss": config, "label_smoothing": 0.2}
    net, setup, _ = make(train)
    assert isinstance(net.loss, keras.losses.CategoricalCrossentropy)
    assert net.loss.label_smoothing in (0.1, 0.2)
    assert setup.label_mode == "onehot"
    step(net, setup, CLASSES)


def test_label_smoothing_refused_for_a_loss_without_it() -> None:
    with pytest.raises(RecipeError) as err:
        make({"loss": "hinge", "label_smoothing": 0.1})
    assert err.value.field == "train.label_smoothing"


def test_from_logits_makes_the_output_linear_and_metrics_read_probabilities() -> None:
    from sklearn.metrics import roc_auc_score

    from kproto.metrics.classification import decision_scores

    net, setup, _ = make(
        {
            "loss": {"name": "sparse_categorical_crossentropy", "from_logits": True},
            "metrics": ["accuracy", "precision", "recall", "auc"],
        }
    )
    assert net.get_layer("output").activation is keras.activations.linear
    assert net.loss.from_logits and setup.outputs == "logits"
    assert setup.label_mode == "sparse"  # kproto's class metrics read class indices as they are
    x, y = data(CLASSES)
    labels = encode_labels(y, setup.label_mode, 3)
    net.train_on_batch(x, labels)
    logs = net.evaluate(x, labels, verbose=0, return_dict=True)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(net.predict(x, verbose=0)))
    expected = decision_scores(y, probabilities.argmax(axis=1), 3)
    assert logs["precision"] == pytest.approx(expected["precision"], abs=1e-6)  # macro precision at argmax
    assert logs["recall"] == pytest.approx(expected["recall"], abs=1e-6)
    ovr = roc_auc_score(y, probabilities, multi_class="ovr", average="macro")
    assert logs["auc"] == pytest.approx(ovr, abs=0.03)  # Keras's AUC: 200 thresholds, one-vs-rest per class


def test_from_logits_with_a_squashing_output_is_refused() -> None:
    with pytest.raises(RecipeError) as err:
        make(
            {"loss": {"name": "categorical_crossentropy", "from_logits": True}}, model={"output_activation": "softmax"}
        )
    assert err.value.field == "train.loss.from_logits"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"name": "huber", "deltaa": 1.0}, "train.loss.deltaa"),
        ({"name": "mse", "from_logits": True}, "train.loss.from_logits"),
    ],
)
def test_bad_loss_options(config: dict[str, Any], field: str) -> None:
    with pytest.raises(RecipeError) as err:
        make({"loss": config}, CLASSES if config["name"] != "mse" else REGRESSION)
    assert err.value.field == field


@pytest.mark.slow
def test_hinge_learns_a_binary_task() -> None:
    """Keras maps the one-hot 0/1 entries to -1/+1; a separable binary task is learnt."""
    net, setup, _ = make(
        {"loss": "hinge", "optimizer": {"name": "adam", "learning_rate": 0.05}},
        BINARY,
        model={"output_activation": "tanh"},
    )
    net.run_eagerly = False
    rng = np.random.default_rng(3)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    net.fit(x, encode_labels(y, setup.label_mode, 2), epochs=25, batch_size=32, verbose=0)
    assert (net.predict(x, verbose=0).argmax(axis=1) == y).mean() > 0.9


def test_custom_loss_needs_allow_code(tmp_path: Path) -> None:
    (tmp_path / "losses.py").write_text(
        "import keras\n\n\ndef mine(y_true, y_pred):\n"
        "    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)\n"
    )
    with pytest.raises(CodeNotAllowedError):
        make({"loss": {"python": "losses.py:mine"}}, base=tmp_path)
    net, setup, _ = make({"loss": {"python": "losses.py:mine"}}, allow_code=True, base=tmp_path)
    assert setup.loss_name == "custom" and setup.label_mode == "onehot"
    step(net, setup, CLASSES)
    _, sparse, _ = make({"loss": {"python": "losses.py:mine", "labels": "sparse"}}, allow_code=True, base=tmp_path)
    assert sparse.label_mode == "sparse"


def test_code_not_allowed_in_the_library(tmp_path: Path) -> None:
    from kproto.training.compile import load_python_object

    (tmp_path / "evil.py").write_text("import pathlib\npathlib.Path(__file__).with_name('imported').touch()\nfn = 1\n")
    with pytest.raises(CodeNotAllowedError):
        load_python_object("evil.py:fn", allow_code=False, field="train.loss.python", base=tmp_path)
    assert not (tmp_path / "imported").exists()


def test_label_modes() -> None:
    assert label_mode_for(CLASSES, "sparse_categorical_crossentropy", ["accuracy"]) == "sparse"
    assert label_mode_for(CLASSES, "sparse_categorical_crossentropy", ["f1"]) == "sparse"
    assert label_mode_for(CLASSES, "sparse_categorical_crossentropy", ["top_k_accuracy"]) == "onehot"
    assert label_mode_for(CLASSES, "hinge", ["accuracy"]) == "onehot"
    assert label_mode_for(REGRESSION, "mean_squared_error", ["mae"]) == "value"
    assert encode_labels(np.array([2, 0]), "onehot", 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert encode_labels(np.array([1.5, 2.0]), "value", 0).tolist() == [[1.5], [2.0]]
    assert encode_labels(np.zeros(0), "value", 0).shape == (0, 1)  # an empty test split (data.split.test: 0)


# ----------------------------------------------------------------------------- class weights
def test_class_weights_balanced_and_map() -> None:
    y = np.array([0, 0, 0, 1])
    balanced = class_weights("balanced", y, ["a", "b"])
    assert balanced.tolist() == pytest.approx([4 / 6] * 3 + [2.0])
    assert class_weights({"b": 5}, y, ["a", "b"]).tolist() == [1, 1, 1, 5]
    with pytest.raises(RecipeError) as err:
        class_weights({"z": 1}, y, ["a", "b"])
    assert err.value.field == "train.class_weight" and "a, b" in err.value.hint


# ----------------------------------------------------------------------------- optimizers
OPTIMIZER_NAMES = [
    "sgd",
    "adam",
    "adamw",
    "rmsprop",
    "adagrad",
    "adadelta",
    "adamax",
    "nadam",
    "lion",
    "ftrl",
    "adafactor",
]
CLIPS = ["clipnorm", "clipvalue", "global_clipnorm"]


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_optimizer_with_shared_options(name: str) -> None:
    clip = CLIPS[OPTIMIZER_NAMES.index(name) % 3]
    config = {
        "name": name,
        "learning_rate": 0.01,
        "weight_decay": 0.001,
        clip: 0.5,
        "use_ema": True,
        "ema_momentum": 0.9,
    }
    net, setup, _ = make({"optimizer": config})
    opt = net.optimizer
    assert type(opt).__name__.lower() == name
    assert opt.weight_decay == 0.001 and getattr(opt, clip) == 0.5
    assert opt.use_ema and opt.ema_momentum == 0.9
    assert float(opt.learning_rate) == pytest.approx(0.01)
    step(net, setup, CLASSES)
    assert int(opt.iterations) == 1


def test_sgd_momentum_nesterov() -> None:
    net, _, _ = make({"optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True}})
    assert net.optimizer.momentum == 0.9 and net.optimizer.nesterov is True


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"name": "sgd", "momentun": 0.9}, "train.optimizer.momentun"),
        ({"name": "adam", "nesterov": True}, "train.optimizer.nesterov"),
        ({"name": "adam", "clipnorm": 1.0, "clipvalue": 1.0}, "train.optimizer.clipvalue"),
    ],
)
def test_bad_optimizer_options_name_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(RecipeError) as err:
        make({"optimizer": config})
    assert err.value.field == field
    assert "train.optimizer" in err.value.message or "train.optimizer" in str(err.value)


def test_every_catalog_optimizer_resolves_through_keras() -> None:
    for name in catalog.OPTIMIZERS:
        assert isinstance(keras.optimizers.get(name), keras.optimizers.Optimizer), name


# ----------------------------------------------------------------------------- activations and metrics
@pytest.mark.parametrize("name", sorted(catalog.ACTIVATIONS))
def test_activation_resolves_and_trains(name: str) -> None:
    assert callable(keras.activations.get(name))
    net, setup, _ = make({"optimizer": "sgd"}, model={"activation": name})
    step(net, setup, CLASSES)


@pytest.mark.parametrize("name", sorted(catalog.METRICS))
def test_every_catalog_metric_resolves(name: str) -> None:
    info = CLASSES if name in catalog.CLASSIFICATION_METRICS else REGRESSION
    mode = "onehot" if name in catalog.ONE_HOT_METRICS else ("sparse" if info is CLASSES else "value")
    (metric,) = resolve_metrics([name], info, mode)
    assert metric.name == name


# ----------------------------------------------------------------------------- regularizers
def test_model_wide_and_per_layer_regularizers() -> None:
    net, setup, _ = make(
        {},
        model={
            "units": [8, 8],
            "l1": 0.01,
            "l2": 0.02,
            "regularize": ["kernel", "bias", "activity"],
            "layer_regularizers": {"dense_1": {"l2": 0.5}},
        },
    )
    first, second = net.get_layer("dense_0"), net.get_layer("dense_1")
    for where in ("kernel", "bias", "activity"):
        reg = getattr(first, f"{where}_regularizer")
        assert isinstance(reg, keras.regularizers.L1L2) and (reg.l1, reg.l2) == pytest.approx((0.01, 0.02))
    assert second.kernel_regularizer.l2 == pytest.approx(0.5) and second.kernel_regularizer.l1 == 0
    assert second.bias_regularizer is None and second.activity_regularizer is None
    net(np.zeros((2, 4), "float32"))
    assert len(net.losses) == 4  # three on dense_0 (kernel, bias, activity), one on dense_1
    step(net, setup, CLASSES)


def test_per_layer_regularizer_names_an_existing_layer() -> None:
    with pytest.raises(RecipeError) as err:
        make({}, model={"layer_regularizers": {"dense_9": {"l2": 0.1}}})
    assert err.value.field == "model.layer_regularizers.dense_9" and "dense_0" in err.value.hint


@pytest.mark.parametrize("kind", ["batch", "layer"])
def test_normalization(kind: str) -> None:
    net, setup, _ = make({}, model={"normalization": kind})
    cls = keras.layers.BatchNormalization if kind == "batch" else keras.layers.LayerNormalization
    assert any(isinstance(layer, cls) for layer in net.layers)
    step(net, setup, CLASSES)
