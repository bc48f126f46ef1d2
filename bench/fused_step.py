"""CPU cost of the fused JAX engine on a recipe's model, with JAX's threefry random bits drawn by its own looped CPU
code ("loop") and by the straight-line code the engine registers ("unrolled"), alternating fresh processes.

    python bench/fused_step.py                                   # credit_minimal and diabetes_regression, 3 runs each
    python bench/fused_step.py --recipes credit_minimal --runs 5 --epochs 10

Each process builds the recipe's model on its data as `kproto train` does (same split, preprocessing and compile
settings), trains one epoch (tracing and compiling included: "first epoch CPU s"), then `--epochs` more in shuffled
orders with validation after each, and reports the median CPU seconds of those epochs (every thread of the process;
less sensitive to other load than wall time). Both variants train on the same bits, so their losses must match.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(recipe: str, epochs: int, unrolled: bool) -> dict:
    """One process's numbers (run with --child)."""
    os.environ["KERAS_BACKEND"] = "jax"
    import keras
    import numpy as np

    from kproto.data import load_dataset
    from kproto.models import build_model
    from kproto.recipe import load_recipe
    from kproto.training.compile import compile_model, encode_labels
    from kproto.training.engines import fused

    if not unrolled:
        fused.unroll_threefry_on_cpu = lambda: False  # JAX's own looped lowering stays
    loaded = load_recipe(ROOT / "recipes" / f"{recipe}.yaml").recipe
    keras.utils.set_random_seed(loaded.seed)
    data = load_dataset(loaded)
    model = build_model(loaded.model, data.info)
    batch = loaded.train.batch_size
    setup = compile_model(model, loaded, data.info, -(-len(data.x_train) // batch))
    y_train = encode_labels(data.y_train, setup.label_mode, data.info.num_classes)
    y_val = encode_labels(data.y_val, setup.label_mode, data.info.num_classes)
    engine = fused.FusedEngine(model, batch)
    began = time.process_time()
    engine.train_epoch(data.x_train, y_train, np.arange(len(y_train)))
    engine.evaluate(data.x_val, y_val)
    first = time.process_time() - began
    cpu, wall, losses = [], [], []
    for epoch in range(epochs):
        order = np.random.default_rng(epoch).permutation(len(y_train))
        began, started = time.process_time(), time.perf_counter()
        logs = engine.train_epoch(data.x_train, y_train, order)
        engine.evaluate(data.x_val, y_val)
        cpu.append(time.process_time() - began)
        wall.append(time.perf_counter() - started)
        losses.append(logs["loss"])
    return {
        "rows": len(y_train),
        "first_epoch_cpu": first,
        "epoch_cpu": statistics.median(cpu),
        "epoch_wall": statistics.median(wall),
        "last_loss": losses[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default="credit_minimal,diabetes_regression")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--child", nargs=2, metavar=("RECIPE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.epochs, args.child[1] == "unrolled")))
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.update(KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    for recipe in args.recipes.split(","):
        found: dict[str, list[dict]] = {"loop": [], "unrolled": []}
        for run in range(args.runs):
            for variant in ("loop", "unrolled") if run % 2 == 0 else ("unrolled", "loop"):
                cmd = [sys.executable, __file__, "--epochs", str(args.epochs), "--child", recipe, variant]
                out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
                found[variant].append(json.loads(out.strip().splitlines()[-1]))
        for variant, results in found.items():
            first = statistics.median(r["first_epoch_cpu"] for r in results)
            epoch = statistics.median(r["epoch_cpu"] for r in results)
            rows = results[0]["rows"]
            print(
                f"{recipe} {variant}: first epoch {first:.2f} CPU s, later epochs {epoch:.3f} CPU s "
                f"({rows / epoch:,.0f} samples per CPU s), last loss {results[-1]['last_loss']:.6f}"
            )
        ratio = statistics.median(r["epoch_cpu"] for r in found["loop"]) / statistics.median(
            r["epoch_cpu"] for r in found["unrolled"]
        )
        first_ratio = statistics.median(r["first_epoch_cpu"] for r in found["loop"]) / statistics.median(
            r["first_epoch_cpu"] for r in found["unrolled"]
        )
        print(f"{recipe}: loop / unrolled CPU s: later epochs {ratio:.2f}x, first epoch {first_ratio:.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
