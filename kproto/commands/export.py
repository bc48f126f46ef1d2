"""Export a trained model with Keras 3's `model.export`, then check it in its own runtime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog
from kproto.core.errors import ExportError, KprotoError
from kproto.runs import layout

if TYPE_CHECKING:
    from kproto.runs.load import LoadedRun

FORMATS = {"savedmodel": "tf_saved_model", "onnx": "onnx", "tflite": "litert"}
SUFFIX = {"savedmodel": "", "onnx": ".onnx", "tflite": ".tflite"}
TOLERANCE = 1e-4


@dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_diff: float
    tolerance: float
    samples: int
    inputs: str = "test rows"  # what the check ran on: test rows, generator noise, or random inputs (and why)
    note: str = ""  # what the export does not carry (a text model's tokenizer)


def sample_inputs(run: LoadedRun, model: Any, count: int = 16) -> tuple[np.ndarray, str]:
    """Inputs to check an export on, and what they are: real rows from the run's test split when the data is at
    hand, else random inputs of the right shape (the description then says why)."""
    from kproto.data import Preprocessor, load_dataset

    if (
        run.info.task == catalog.GENERATION
    ):  # a GAN's generator: noise (+ one-hot labels), as `predict --samples` feeds it
        from kproto.models.gan import latent_batch

        return latent_batch(model, run.info, count, run.recipe.seed)[0], "generator inputs"
    try:
        dataset = load_dataset(run.recipe, Preprocessor.from_dict(run.preprocess))
    except KprotoError as exc:
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        rng = np.random.default_rng(0)
        why = f"random inputs (the run's data cannot be read: {exc.message})"
        if "int" in str(model.inputs[0].dtype):
            return rng.integers(0, 10, size=(count, *shape)).astype(np.int32), why
        return rng.normal(size=(count, *shape)).astype(np.float32), why
    x = dataset.x_test if len(dataset.x_test) else dataset.x_train
    return np.asarray(x[:count]), "test rows" if len(dataset.x_test) else "training rows"


def _run_savedmodel(path: Path, x: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise ExportError(f"{path} has no serving_default signature")
    fn = loaded.signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    if isinstance(x, dict):  # named inputs (a model of several inputs)
        outputs = fn(**{name: tf.constant(x[name], dtype=spec.dtype) for name, spec in specs.items()})
    else:
        ((name, spec),) = specs.items()
        outputs = fn(**{name: tf.constant(x, dtype=spec.dtype)})
    return [np.asarray(value) for value in outputs.values()]


def _run_onnx(path: Path, x: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {}
    for n, node in enumerate(session.get_inputs()):
        dtype = np.int32 if "int32" in node.type else (np.int64 if "int64" in node.type else np.float32)
        value = x[node.name] if isinstance(x, dict) else x
        feed[node.name] = np.asarray(value).astype(dtype)
        if not isinstance(x, dict) and n == 0:
            break
    return [np.asarray(value) for value in session.run(None, feed)]


def _tflite_interpreters() -> list[Any]:
    """LiteRT's interpreter, then TensorFlow's (which also runs TensorFlow 'select' ops such as LSTM loops)."""
    found = []
    try:
        from ai_edge_litert.interpreter import Interpreter

        found.append(Interpreter)
    except ImportError:
        pass
    try:
        import tensorflow as tf

        found.append(tf.lite.Interpreter)
    except (ImportError, AttributeError):
        pass
    if not found:
        raise ImportError("no TFLite/LiteRT interpreter is installed")
    return found


def _run_tflite(path: Path, x: np.ndarray) -> np.ndarray:
    errors = []
    for interpreter_class in _tflite_interpreters():
        try:
            return _invoke_tflite(interpreter_class, path, x)
        except (RuntimeError, ValueError) as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            errors.append(text.split(". ")[0])
    raise RuntimeError("; ".join(dict.fromkeys(errors)))


def _invoke_tflite(interpreter_class: Any, path: Path, x: np.ndarray) -> np.ndarray:
    interpreter = interpreter_class(model_path=str(path))
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))
    interpreter.invoke()
    return [np.asarray(interpreter.get_tensor(detail["index"])) for detail in interpreter.get_output_details()]


RUNTIMES = {"savedmodel": _run_savedmodel, "onnx": _run_onnx, "tflite": _run_tflite}
RUNTIME_PACKAGES = {"savedmodel": "tensorflow", "onnx": "onnxruntime (and tf2onnx)", "tflite": "ai-edge-litert"}


def export_run(
    path: Path, fmt: str, out: Path | None = None, trust: bool = False, tolerance: float = TOLERANCE
) -> ExportResult:
    """Export a run's model (a GAN's generator) and check the export against Keras on sample inputs."""
    from kproto.runs.load import load_keras_model, load_run

    run = load_run(path)
    model = load_keras_model(run.model_path, trust=trust, compile=False)
    target = Path(out) if out else run.path / layout.EXPORT / f"model{SUFFIX[fmt]}"
    if target.exists():
        raise KprotoError(
            f"{target} already exists; exports never overwrite", field="--out", hint="choose another --out"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    x, inputs = sample_inputs(run, model)
    predicted = model.predict(x, verbose=0)
    if isinstance(predicted, dict):  # several targets: one output per target, in the run's order
        expected = [np.asarray(predicted[e["name"]]) for e in run.info.targets]
    else:
        expected = [np.asarray(predicted)]
    if run.info.kind == catalog.MIXED:  # the inner model of named inputs is exported, checked on the same rows
        from kproto.data.inputs import unpack

        if fmt == "tflite":
            raise ExportError(
                "a model of several inputs exports as savedmodel or onnx (with named inputs: "
                f"{', '.join(p['name'] for p in run.info.inputs)}), not tflite",
                hint="use --format savedmodel or --format onnx",
            )
        model = model.get_layer(f"{run.recipe.model.type}_inputs")
        x = unpack(run.info.inputs, x)
    tmp = target.with_name(f".partial-{target.name}")
    try:
        model.export(str(tmp), format=FORMATS[fmt], verbose=False)
    except ImportError as exc:
        raise ExportError(
            f"exporting to {fmt} needs {RUNTIME_PACKAGES[fmt]}: {exc}", hint="pip install 'kproto[export]'"
        ) from None
    except Exception as exc:  # noqa: BLE001 - converters raise many types
        _remove(tmp)
        raise ExportError(
            f"the {fmt} export failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    try:
        actual = RUNTIMES[fmt](tmp, x)
    except ImportError as exc:
        _remove(tmp)
        raise ExportError(
            f"checking the {fmt} export needs {RUNTIME_PACKAGES[fmt]}: {exc}", hint="pip install 'kproto[export]'"
        ) from None
    except Exception as exc:  # noqa: BLE001 - each runtime raises its own types
        _remove(tmp)
        raise ExportError(
            f"the {fmt} export was written but does not run in its runtime: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            hint="recurrent layers (LSTM, GRU) need TensorFlow ops that LiteRT lacks; export them as savedmodel or onnx",
        ) from None
    diff = largest_difference(expected, actual)
    if not diff <= tolerance:
        _remove(tmp)
        raise ExportError(
            f"the {fmt} export differs from the Keras model by up to {diff:.3g} (tolerance {tolerance:g})"
        )
    tmp.rename(target)
    note = ""
    if run.preprocess.get("kind") == catalog.TEXT:
        length = run.preprocess.get("text", {}).get("sequence_length")
        note = (
            f"the export takes token ids (int32, [batch, {length}]), not raw text: it does not carry the tokenizer; "
            f"tokenize with the run's {layout.PREPROCESS} (kproto predict does)"
        )
    elif run.preprocess.get("kind") == catalog.PAIRS:
        pairs = run.preprocess["pairs"]
        note = (
            f"the export is one decoding step of the encoder-decoder: it takes [source ids | decoder ids] (int32, "
            f"[batch, {pairs['source_length']} + {pairs['target_length']}]) and returns next-token probabilities at "
            f"every decoder position; the vocabularies are in the run's {layout.PREPROCESS}, and the greedy or beam "
            "search loop around the step runs outside it (kproto predict runs it)"
        )
    elif run.preprocess.get("kind") == catalog.MIXED:
        shapes = ", ".join(f"{p['name']} ({p['dtype']}, {p['shape']})" for p in run.info.inputs)
        note = (
            f"the export takes named inputs: {shapes}; text as token ids and categories as codes, made by the "
            f"run's {layout.PREPROCESS} (kproto predict and serve take raw rows)"
        )
    elif run.preprocess.get("kind") == catalog.INTERACTIONS:
        note = (
            "the export scores packed rows [user index, item index, side features] (float32); the user and item "
            f"index maps (0: unknown) are in the run's {layout.PREPROCESS} (kproto predict applies them)"
        )
    return ExportResult(
        path=target,
        format=fmt,
        max_abs_diff=diff,
        tolerance=tolerance,
        samples=len(expected[0]),
        inputs=inputs,
        note=note,
    )


def largest_difference(expected: list[np.ndarray], actual: list[np.ndarray]) -> float:
    """The largest absolute difference between the Keras outputs and the export's: one output is compared with the
    export's first; several (one per target) each with the export's output of its size that is closest to it."""
    if len(expected) == 1:
        return float(np.max(np.abs(actual[0].reshape(expected[0].shape) - expected[0]))) if expected[0].size else 0.0
    worst = 0.0
    for wanted in expected:
        candidates = [a for a in actual if a.size == wanted.size]
        if not candidates:
            return float("inf")
        worst = max(worst, min(float(np.max(np.abs(a.reshape(wanted.shape) - wanted))) for a in candidates))
    return worst


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
