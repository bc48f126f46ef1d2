"""The baseline: the Keras script a user would write by hand, on kproto's exact data, split and model.

It trains with plain `model.fit` on NumPy arrays (TensorFlow backend unless KERAS_BACKEND says otherwise), the recipe's
batch size and epochs, validation each epoch, then evaluates on the test split. Only the training path differs from
kproto: the data, split, preprocessing and architecture come from the same recipe.

    python bench/plain_keras.py RECIPE [--set FIELD=VALUE ...] --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

STARTED = time.perf_counter()
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("recipe")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--json", required=True)
    args = parser.parse_args()

    import keras

    from kproto.data import load_dataset
    from kproto.models import build_model
    from kproto.recipe import load_recipe
    from kproto.training.compile import compile_model, encode_labels

    recipe = load_recipe(args.recipe, args.overrides).recipe
    keras.utils.set_random_seed(recipe.seed)
    data = load_dataset(recipe)
    info = data.info
    model = build_model(recipe.model, info)
    steps = -(-len(data.x_train) // recipe.train.batch_size)
    # What a user writes: compile with the recipe's loss/optimizer/metrics, default jit and steps_per_execution.
    setup = compile_model(model, recipe, info, steps, jit_compile="auto", steps_per_execution=1)
    reconstruct = info.task == "reconstruction"
    y_train = encode_labels(data.x_train if reconstruct else data.y_train, setup.label_mode, info.num_classes)
    y_val = encode_labels(data.x_val if reconstruct else data.y_val, setup.label_mode, info.num_classes)
    y_test = encode_labels(data.x_test if reconstruct else data.y_test, setup.label_mode, info.num_classes)

    epoch_times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_times.append(time.perf_counter() - self.t)
            if len(epoch_times) == 1:
                first_epoch.append(time.perf_counter() - STARTED)

    first_epoch: list[float] = []
    callbacks = [Timer()]
    if recipe.train.early_stopping is not None:
        es = recipe.train.early_stopping
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=es.monitor, patience=es.patience, restore_best_weights=es.restore_best
            )
        )
    began = time.perf_counter()
    history = model.fit(
        x=data.x_train,
        y=y_train,
        batch_size=recipe.train.batch_size,
        epochs=recipe.train.epochs,
        validation_data=(data.x_val, y_val),
        callbacks=callbacks,
        verbose=0,
    )
    fit_seconds = time.perf_counter() - began
    test = model.evaluate(data.x_test, y_test, verbose=0, return_dict=True)
    result = {
        "rows": int(len(data.x_train)),
        "epochs": len(history.history["loss"]),
        "epoch_seconds": epoch_times,
        "fit_seconds": fit_seconds,
        "seconds_to_first_epoch": first_epoch[0] if first_epoch else None,
        "validation": {k: float(v) for k, v in model.evaluate(data.x_val, y_val, verbose=0, return_dict=True).items()},
        "test": {k: float(v) for k, v in test.items()},
        "backend": keras.backend.backend(),
        "total_seconds": time.perf_counter() - STARTED,
    }
    with open(args.json, "w") as handle:
        json.dump(result, handle, indent=2)


if __name__ == "__main__":
    sys.exit(main())
