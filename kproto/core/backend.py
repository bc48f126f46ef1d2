"""Choose and configure the Keras backend, device and precision before Keras is imported."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any

from kproto.core import catalog
from kproto.core.errors import KprotoError

# Keras before 3.11 runs code hidden in a .keras file even in safe mode (CVE-2025-1550, CVE-2025-8747, CVE-2025-9906).
MIN_KERAS = (3, 11)


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a dotted name whose parent package is absent
        return False


def choose_backend(requested: str | None, recipe: Any | None = None) -> str:
    """The backend to use: an explicit request wins, then the recipe, then a choice per family."""
    choice = requested or (recipe.train.backend if recipe is not None else "auto")
    if choice == "auto":
        if "keras" in sys.modules:
            return sys.modules["keras"].backend.backend()
        if recipe is not None and _prefers_jax(recipe) and installed("jax"):
            return "jax"
        return "tensorflow" if recipe is not None else os.environ.get("KERAS_BACKEND", "tensorflow")
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[choice]
    if not installed(module):
        extra = "" if choice == catalog.TENSORFLOW else f" (pip install 'kproto[{choice}]')"
        raise KprotoError(f"the {choice} backend is not installed{extra}", field="--backend")
    return choice


def _prefers_jax(recipe: Any) -> bool:
    train = recipe.train
    if train.engine == "fused":
        return True
    needed = catalog.DISTRIBUTE.get(train.distribute)
    if needed is not None:  # a distribution strategy runs on one backend only
        return needed == catalog.JAX
    if train.engine == "fit":
        return False
    # Each family's preferred backend is measured on CPU (BENCHMARKS.md) and recorded in the catalog.
    return catalog.family(recipe.model.type).backend == catalog.JAX


def check_keras_version() -> str:
    """The installed Keras version, or a KprotoError if it predates the safe_mode fixes (read without importing it)."""
    import re
    from importlib.metadata import PackageNotFoundError, version

    wanted = ".".join(map(str, MIN_KERAS))
    try:
        found = version("keras")
    except PackageNotFoundError:
        raise KprotoError("Keras is not installed", hint=f"pip install 'keras>={wanted}'") from None
    numbers = tuple(int(part) for part in re.findall(r"\d+", found)[: len(MIN_KERAS)])
    if numbers < MIN_KERAS:
        raise KprotoError(
            f"Keras {found} is too old: before {wanted}, loading a model file can run code hidden in it even in "
            "safe mode (CVE-2025-1550, CVE-2025-8747, CVE-2025-9906)",
            hint=f"upgrade Keras: pip install -U 'keras>={wanted}'",
        )
    return found


def configure(backend: str, device: str = "auto") -> None:
    """Set environment variables Keras and the backends read at import time."""
    check_keras_version()
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise KprotoError(
                f"Keras is already loaded with the {current} backend in this process; cannot switch to {backend}"
            )
        return
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # TensorFlow's default (faster on CPU, still deterministic)
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        os.environ["JAX_PLATFORMS"] = "cpu"
    elif backend == catalog.JAX and "JAX_PLATFORMS" not in os.environ and not _has_cuda_jax():
        os.environ["JAX_PLATFORMS"] = "cpu"
    if backend == catalog.TENSORFLOW:
        import_tensorflow_quietly()
    if backend == catalog.JAX:  # reuse compiled XLA programs across runs: the next run of a recipe starts faster
        cache = Path(os.environ.get("KPROTO_CACHE", Path.home() / ".cache" / "kproto")) / "jax"
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")


# TensorFlow's C++ start-up lines that TF_CPP_MIN_LOG_LEVEL does not reach (absl writes them before its logging is
# initialised): the notice about that, INFO lines ("I0000 00:00:1796651528.809342   23337 port.cc:153] ..."), and the
# second line of the CPU-instructions notice
_NATIVE_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.-]+:\d+\] .*"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.)$"
)


def native_noise(line: str) -> bool:
    """Whether `line`, written to the process's stderr while TensorFlow loads, is one of its start-up notices."""
    return bool(_NATIVE_NOISE.match(line.rstrip("\n")))


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (when installed and not yet imported) with the process's stderr caught, then pass on what
    it wrote except its start-up notices (`native_noise`): errors and Python warnings still show."""
    if "tensorflow" in sys.modules or not installed("tensorflow"):
        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow  # noqa: F401 - loaded here so that its notices are caught
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode("utf-8", "replace").splitlines() if not native_noise(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def skip_tensorflow_probe() -> None:
    """On JAX or torch, stop Keras from importing TensorFlow (~4 s) just to ask whether it is installed.

    Keras's saving code checks `tf.available` (which imports TensorFlow) for every object it serializes. Call this
    only after the code that really uses TensorFlow (the text tokenizer) has run: it is a no-op once TF is loaded.
    """
    import keras

    if keras.backend.backend() == catalog.TENSORFLOW or "tensorflow" in sys.modules:
        return
    from keras.src.utils import module_utils

    module_utils.tensorflow._available = False


def _has_cuda_jax() -> bool:
    return any(installed(name) for name in ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_plugins.xla_cuda12"))


def device_name(backend: str, device: str) -> str:
    """'gpu' or 'cpu': what training will actually run on; an error if a GPU was asked for and is absent."""
    gpu = False
    if device != "cpu":
        if backend == catalog.TENSORFLOW:
            import tensorflow as tf

            gpu = bool(tf.config.list_physical_devices("GPU"))
        elif backend == catalog.JAX:
            import jax

            gpu = any(d.platform == "gpu" for d in jax.devices())
        elif backend == catalog.TORCH:
            import torch

            gpu = torch.cuda.is_available()
    if device == "gpu" and not gpu:
        raise KprotoError(
            "--device gpu was given, but no GPU is visible to the backend",
            field="--device",
            hint="use --device auto or cpu, or install the backend's GPU build",
        )
    return "gpu" if gpu else "cpu"


def choose_precision(requested: str, device: str) -> str:
    """auto → mixed_bfloat16 on a GPU, float32 on a CPU (where mixed precision is slower)."""
    if requested != "auto":
        return requested
    return "mixed_bfloat16" if device == "gpu" else "float32"


def versions() -> dict[str, str]:
    """Versions of the packages that decide a run's numbers."""
    from importlib.metadata import PackageNotFoundError, version

    import kproto

    found = {"kproto": kproto.__version__, "python": sys.version.split()[0]}
    for name in ("keras", "tensorflow", "tensorflow-cpu", "jax", "torch", "numpy", "pandas"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
