"""A run made ready to answer requests: its preprocessing, its model (Keras or ONNX) and its decisions.

`Predictor.records(frame)` gives, row for row, what `kproto predict` writes for the same rows (see
kproto.outputs.answers). The ONNX path imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kproto.core import catalog
from kproto.core.errors import KprotoError, ModelFileError
from kproto.core.options import DecodingOptions
from kproto.metrics.calibration import Decisions
from kproto.metrics.conformal import Conformal
from kproto.outputs.answers import answer_frame, answer_records, read_conformal
from kproto.outputs.targets import (
    TargetAnswering,
    answer_targets,
    split_outputs,
    stack_outputs,
    target_answering,
    target_metadata,
    target_records,
)
from kproto.serve.rows import RequestProblem, RowChecker

if TYPE_CHECKING:
    from kproto.data.preprocess import Preprocessor
    from kproto.data.types import DataInfo
    from kproto.runs.load import LoadedRun

RUNTIMES = ("keras", "onnx")
CHUNK_ROWS = 1024  # the largest single model call; bigger batches are split
SERVABLE_TASKS = ("classification", "regression", "reconstruction", "generation", "seq2seq", "ranking", "multi_target")


@dataclass
class Predictor:
    """Everything a server needs to answer rows for one run."""

    name: str
    info: DataInfo
    preprocessor: Preprocessor
    model_call: Callable[[np.ndarray], np.ndarray]
    decisions: Decisions
    checker: RowChecker
    conformal: Conformal | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    runtime: str = "keras"
    transform: Callable[[pd.DataFrame], np.ndarray] | None = None
    generate_rows: Callable[[int, int | None], pd.DataFrame] | None = None
    targets: TargetAnswering | None = None  # several targets: each one's decisions and conformal scores

    @property
    def kind(self) -> str:
        return self.preprocessor.kind

    def inputs(self, frame: pd.DataFrame) -> np.ndarray:
        """Model inputs for checked rows (imputed, encoded and scaled as in training)."""
        if self.transform is not None:
            return self.transform(frame)
        from kproto.data import transform_rows

        return transform_rows(self.preprocessor, frame, need_target=False)[0]

    def outputs(self, frames: list[pd.DataFrame]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(inputs, outputs) per frame, with one model call for all rows (time-series runs: one per frame)."""
        if self.kind == catalog.WINDOW or len(frames) == 1:
            results = []
            for frame in frames:
                x = self.inputs(frame)
                results.append((x, self.call(x)))
            return results
        sizes = [len(f) for f in frames]
        x = self.inputs(pd.concat(frames, ignore_index=True))
        y = self.call(x)
        cuts = np.cumsum(sizes)[:-1]
        return list(zip(np.split(x, cuts), np.split(y, cuts)))

    def warm_up(self, max_batch: int) -> None:
        """Compile the model call for the batch sizes a server will see, on rows of imputed nulls."""
        if self.kind == catalog.WINDOW or self.info.task == catalog.GENERATION:
            return
        frame = self.checker.frame([{c.name: None for c in self.checker.columns}])
        x = self.inputs(frame)
        size = 1
        while True:
            self.call(np.repeat(x, size, axis=0))
            if size >= min(max_batch, CHUNK_ROWS):
                break
            size *= 2

    def call(self, x: np.ndarray) -> np.ndarray:
        """The model on `x`, in chunks of at most CHUNK_ROWS rows."""
        if len(x) <= CHUNK_ROWS:
            return np.asarray(self.model_call(x))
        return np.concatenate(
            [np.asarray(self.model_call(x[i : i + CHUNK_ROWS])) for i in range(0, len(x), CHUNK_ROWS)]
        )

    def answers(self, x: np.ndarray, outputs: np.ndarray, coverage: float | None = None) -> list[dict[str, Any]]:
        """The JSON answers for model outputs (with prediction sets or intervals at `coverage`)."""
        if self.targets is not None:  # several targets: {target: its answer} per row
            return self._target_answers(outputs, coverage)
        if coverage is not None and self.conformal is None and self.info.task in catalog.SUPERVISED_TASKS:
            raise RequestProblem(
                422,
                "this run has no conformal scores, so it cannot give prediction sets or intervals",
                column="coverage",
                expected="a run trained with conformal scores (retrain it with this version of kproto)",
            )
        frame = answer_frame(outputs, x, self.info, self.preprocessor.decode, self.decisions, self.conformal, coverage)
        return answer_records(frame)

    def _target_answers(self, outputs: np.ndarray, coverage: float | None) -> list[dict[str, Any]]:
        assert self.targets is not None
        if coverage is not None and not self.targets.conformal:
            raise RequestProblem(
                422,
                "this run has no conformal scores, so it cannot give prediction sets or intervals",
                column="coverage",
                expected="a run trained with conformal scores (retrain it with this version of kproto)",
            )
        answering = replace(self.targets, coverage=coverage)
        frames = answer_targets(split_outputs(outputs, self.info), self.info, self.preprocessor, answering)
        return target_records(frames)

    def forecast(self, frame: pd.DataFrame, horizon: int | None, coverage: float | None = None) -> list[dict[str, Any]]:
        """A window run's answers: the `horizon` steps after the rows (per series), or without a horizon the
        in-sample forecasts of every window whose future the rows hold; `coverage` adds conformal intervals."""
        from kproto.commands.forecasting import forecast_frame, in_sample_forecasts

        if coverage is not None and self.conformal is None:
            raise RequestProblem(
                422,
                "this run has no conformal scores, so it cannot give intervals",
                column="coverage",
                expected="a run trained with conformal scores (retrain it with this version of kproto)",
            )
        missing = self.checker.missing
        if horizon is None:
            answers = in_sample_forecasts(
                self.call, self.preprocessor, frame, self.conformal, coverage, missing, "rows"
            )
        else:
            answers = forecast_frame(
                self.call, self.preprocessor, frame, horizon, self.conformal, coverage, missing, "rows"
            )
        time = (self.preprocessor.state.get("time") or {}).get("column")
        if time and time in answers:
            answers[time] = pd.to_datetime(answers[time]).dt.strftime("%Y-%m-%dT%H:%M:%S").str.replace("T00:00:00", "")
        return answer_records(answers)

    def records(self, frame: pd.DataFrame, coverage: float | None = None) -> list[dict[str, Any]]:
        """Answers for checked rows in one call (no batching), each with its `warnings`."""
        ((x, y),) = self.outputs([frame])
        return self.with_warnings(self.answers(x, y, coverage), frame)

    def with_warnings(self, answers: list[dict[str, Any]], frame: pd.DataFrame) -> list[dict[str, Any]]:
        """Each answer with a `warnings` list: the imputed cells and unseen categories of its row ({code, column,
        message}; empty when the row needed no guess, and for runs whose answers are not one per row)."""
        from kproto.data.preprocess import input_problems

        problems = input_problems(self.preprocessor.state, frame)
        if len(problems) != len(answers):
            problems = [[] for _ in answers]
        for answer, found in zip(answers, problems):
            answer["warnings"] = found
        return answers

    def samples(self, count: int, seed: int | None = None) -> list[dict[str, Any]]:
        """Generated rows of a GAN run."""
        if self.generate_rows is None:
            raise RequestProblem(
                422,
                f'"samples" asks a GAN for generated rows; this is a {self.info.task} run',
                column="samples",
                expected='{"rows": [...]}',
            )
        frame = self.generate_rows(count, seed)
        return [
            {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
            for row in frame.to_dict("records")
        ]

    def metadata(self) -> dict[str, Any]:
        """What GET /metadata answers: input columns, output labels, recipe name, metrics, versions."""
        target = self.preprocessor.state.get("target", {})
        outputs: dict[str, Any] = {"task": self.info.task}
        if self.info.task == catalog.CLASSIFICATION:
            outputs["labels"] = list(self.info.class_names or [])
            outputs["threshold"] = self.decisions.threshold
            outputs["calibration"] = self.decisions.calibration.to_dict()
        elif self.info.task == catalog.REGRESSION:
            outputs["target"] = target.get("name")
        if self.kind == catalog.WINDOW:
            window, time = self.preprocessor.state["window"], self.preprocessor.state.get("time") or {}
            outputs["forecast"] = {
                "horizon": window["horizon"],
                "window_length": window["length"],
                "time": time.get("column"),
                "frequency": time.get("frequency"),
                "series": (self.preprocessor.state.get("series") or {}).get("column"),
                "how": 'POST /forecast {"rows": [the last rows, oldest first], "horizon": H}',
            }
        elif self.info.task == catalog.RANKING:
            outputs["score"] = "how likely the user is to interact with the item (compare scores within a user)"
        if self.kind == catalog.INTERACTIONS:
            outputs["cold_start"] = "known_user and known_item say whether training saw them"
        if self.targets is not None:
            outputs = target_metadata(self.info, self.targets)
            target = {"name": [e["name"] for e in self.info.targets]}
        if self.conformal is not None or (self.targets is not None and self.targets.conformal):
            outputs["coverage"] = "any value in (0, 1) as ?coverage=0.9"
        return {
            "name": self.name,
            "runtime": self.runtime,
            "kind": self.kind,
            "columns": [c.to_dict() for c in self.checker.columns],
            "target": target.get("name"),
            "outputs": outputs,
            "metrics": {k: self.metrics.get(k) for k in (catalog.VALIDATION, catalog.TEST) if k in self.metrics},
            "versions": self.metrics.get("versions", {}),
            "max_rows": self.checker.max_rows,
        }


# -------------------------------------------------------------------------------------------------- loading
def _bucket(rows: int) -> int:
    """Pad model calls to a power of two (at least 8) so compiled functions see few shapes."""
    size = 8
    while size < rows:
        size *= 2
    return size


def generation_call(model: Any, pre: Preprocessor) -> Callable[[np.ndarray], np.ndarray]:
    """seq2seq: packed inputs → the generated texts, an object array (the run's decoding: greedy or model.beam)."""
    from kproto.data.pairs import PairEncoder
    from kproto.outputs.decoding import decode

    encoder = PairEncoder.from_dict(pre.state["pairs"])
    decoding = pre.state.get("decoding", {})
    step = keras_model_call(model)

    def call(x: np.ndarray) -> np.ndarray:
        sources = encoder.split_sources(x)
        ids = decode(step, sources, encoder.target_length, DecodingOptions().resolved(decoding))
        return np.array([encoder.target_text(row) for row in ids], dtype=object)

    return call


def keras_model_call(model: Any, info: DataInfo | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """One compiled forward pass per call, inputs padded to a power-of-two batch (several targets: their outputs
    side by side, kproto.outputs.targets.stack_outputs)."""

    def call(x: np.ndarray) -> np.ndarray:
        rows = len(x)
        padded = _bucket(rows)
        if padded != rows:
            x = np.concatenate([x, np.repeat(x[-1:], padded - rows, axis=0)])
        outputs = model.predict_on_batch(x)
        if info is not None and info.targets:
            return stack_outputs(outputs, info)[:rows]
        return np.asarray(outputs)[:rows]

    return call


def onnx_model_call(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """An onnxruntime session on the CPU; inputs cast to the graph's input type."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise KprotoError(
            "--runtime onnx needs onnxruntime", field="--runtime", hint="pip install 'kproto[serve]' onnxruntime"
        ) from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    dtype = np.int32 if "int32" in feed.type else (np.int64 if "int64" in feed.type else np.float32)

    def call(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {feed.name: np.asarray(x).astype(dtype)})[0])

    return call


def text_tokens(state: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """Token ids as training made them (kproto.data.tokenizer; a run without a rule in its preprocess.json has
    Keras TextVectorization's, mirrored there), without importing Keras."""
    from kproto.data import tokenizer

    text = state["text"]
    rule = tokenizer.check_rule(text.get("standardize", tokenizer.BEFORE), field="preprocess.json")
    values = frame[text["column"]].fillna("").astype(str).tolist()
    return tokenizer.token_ids(values, text["vocabulary"], int(text["sequence_length"]), rule)


def load_predictor(path: Path, runtime: str = "keras", trust: bool = False, max_rows: int = 10_000) -> Predictor:
    """A Predictor for a run folder; `onnx` serves RUN/export/model.onnx without TensorFlow or Keras."""
    from kproto.data import Preprocessor
    from kproto.runs.load import load_run

    if runtime not in RUNTIMES:
        from kproto.core.errors import not_one_of

        raise KprotoError(f"unknown runtime: {not_one_of(runtime, RUNTIMES)}", field="--runtime")
    run = load_run(path)
    if run.info.task not in SERVABLE_TASKS:
        raise KprotoError(f"{run.path} is a {run.info.task} run, which kproto serve does not answer", field="PATH")
    pre = Preprocessor.from_dict(run.preprocess)
    if pre.kind == catalog.IMAGE_FOLDER:
        raise KprotoError(
            f"{run.path} was trained on an image folder; kproto serve answers runs trained on tables",
            field="PATH",
            hint="train on pixel columns with data.shape, or export the model and serve the export",
        )
    transform = None
    generate_rows = None
    if runtime == "onnx":
        if run.info.task in (catalog.GENERATION, catalog.SEQ2SEQ, catalog.MULTI_TARGET):
            raise KprotoError(f"{run.info.task} runs are served with --runtime keras", field="--runtime")
        if pre.kind == catalog.MIXED:
            raise KprotoError(
                "a model of several inputs is served with --runtime keras (its ONNX export takes named inputs)",
                field="--runtime",
            )
        from kproto.runs import layout

        onnx_path = run.path / layout.EXPORT / "model.onnx"
        if not onnx_path.exists():
            raise ModelFileError(
                f"{onnx_path} does not exist", hint=f"export it first: kproto export {run.path} --format onnx"
            )
        model_call = onnx_model_call(onnx_path)
        if pre.kind == catalog.TEXT:

            def transform(frame: pd.DataFrame) -> np.ndarray:
                return text_tokens(pre.state, frame)

    else:
        from kproto.runs.load import load_keras_model

        model = load_keras_model(run.model_path, trust=trust, compile=False)
        model_call = keras_model_call(model, run.info) if pre.kind != catalog.PAIRS else generation_call(model, pre)
        if run.info.task == catalog.GENERATION:
            generate_rows = _sampler(model, run, pre)
    return Predictor(
        name=run.recipe.name or run.path.parent.name,
        info=run.info,
        preprocessor=pre,
        model_call=model_call,
        decisions=Decisions.from_metrics(run.metrics),
        checker=RowChecker.from_state(run.preprocess, run.recipe.data.missing, max_rows),
        conformal=None if run.info.targets else read_conformal(run.path),
        metrics=run.metrics,
        runtime=runtime,
        transform=transform,
        generate_rows=generate_rows,
        targets=target_answering(run) if run.info.targets else None,
    )


def _sampler(generator: Any, run: LoadedRun, pre: Preprocessor) -> Callable[[int, int | None], pd.DataFrame]:
    """Generated rows in the original columns (plus the label for conditional GANs)."""

    def sample(count: int, seed: int | None) -> pd.DataFrame:
        from kproto.commands.generate import generate, inverse_features

        seed = int(np.random.default_rng().integers(2**31)) if seed is None else seed
        x, labels = generate(generator, run.info, count, seed)
        frame = inverse_features(pre, x)
        if labels is not None:
            frame[pre.state.get("target", {}).get("name", "label")] = [run.info.class_names[i] for i in labels]
        return frame

    return sample
