"""`kproto explain`: the method that fits the run's input, the files it writes, what the terminal shows.

| input | global | per row |
|---|---|---|
| table | permutation importance on the original columns | integrated gradients summed onto the columns |
| image | mean abs. integrated gradient per pixel | IG and occlusion heat maps (PNG) |
| text | mean abs. token attribution | token occlusion: coloured tokens, HTML, JSON |
| window | mean abs. IG per time step and feature | IG per step and feature (PNG) |
| autoencoder | reconstruction error per column | — |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog
from kproto.core.errors import KprotoError

if TYPE_CHECKING:
    from kproto.data.preprocess import Preprocessor
    from kproto.recipe.schema import Recipe
    from kproto.runs.load import LoadedRun

METHODS = catalog.EXPLAIN_METHODS
DEFAULT_ROWS = 8
PERMUTATION_ROWS = 2000  # permutation importance scores at most this many rows (a seeded sample)
IMPORTANCE_CSV = "importance.csv"
ATTRIBUTIONS_JSON = "attributions.json"

# progress(description, done, total)
Progress = Callable[[str, int, int], None]


@dataclass
class Explanation:
    """What `kproto explain` computed: the global ranking, per-row details and the files written."""

    method: str
    kind: str
    task: str
    source: str
    ranking: list[dict[str, Any]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    metric: str | None = None
    files: list[Path] = field(default_factory=list)
    renderables: list[Any] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """{"method", "global": [{"feature", "importance", "spread"}, ...], ...}, most important first."""
        data: dict[str, Any] = {"method": self.method, "global": self.ranking}
        if self.metric:
            data["metric"] = self.metric
        data["files"] = [str(p) for p in self.files]
        return data


def check_method(method: str, kind: str, task: str) -> str:
    """The method to use for `kind`/`task` (auto resolved); a clear error where a method does not apply."""
    if task == catalog.GENERATION:
        raise KprotoError(
            "GAN runs cannot be explained: a generator has no label or input features to attribute a decision to",
            field="PATH",
            hint="explain a classifier instead, or judge samples with `kproto evaluate GAN_RUN --judge CLASSIFIER_RUN`",
        )
    if method not in METHODS:
        raise KprotoError(f"unknown method {method!r}", field="--method", hint=f"one of: {', '.join(METHODS)}")
    if task == catalog.RECONSTRUCTION:
        if method not in ("auto",):
            raise KprotoError(
                f"autoencoder runs are explained by their per-column reconstruction error, not {method}",
                field="--method",
                hint="leave out --method (auto)",
            )
        return "reconstruction_error"
    allowed = {
        catalog.TABLE: ("permutation", "integrated_gradients"),
        "image": ("integrated_gradients", "occlusion"),
        "image_folder": ("integrated_gradients", "occlusion"),
        "text": ("occlusion",),
        "window": ("integrated_gradients",),
        catalog.MIXED: ("permutation",),  # columns of several kinds: each original column shuffled in turn
    }[kind]
    if method == "auto":
        return allowed[0]
    if method not in allowed:
        reason = (
            " (tokens are discrete: there is no path from a baseline to interpolate)" if kind == catalog.TEXT else ""
        )
        raise KprotoError(
            f"--method {method} does not apply to {kind} input{reason}",
            field="--method",
            hint=f"for {kind} input use: {', '.join(('auto', *allowed))}",
        )
    return method


def explain_run(
    path: Path,
    data: Path | None = None,
    rows: int = DEFAULT_ROWS,
    method: str = "auto",
    steps: int | None = None,
    out: Path | None = None,
    trust: bool = False,
    progress: Progress | None = None,
) -> Explanation:
    """Explain a run on its test split (or the raw rows of `data`) and write `explain/` (or `out`)."""
    from kproto.explain.attributions import DEFAULT_STEPS
    from kproto.runs import layout
    from kproto.runs.load import load_keras_model, load_run

    run = load_run(path)
    info = run.info
    chosen = check_method(method, info.kind, info.task)
    if steps is not None and steps < 1:
        raise KprotoError(f"--steps must be at least 1, received {steps}", field="--steps")
    model = load_keras_model(run.model_path, trust=trust, compile=False)
    x, y, frame, source = _rows(
        run, data, need_frame=info.kind in (catalog.TABLE, catalog.MIXED) and info.task != catalog.RECONSTRUCTION
    )
    if len(x) == 0:
        raise KprotoError(f"there are no rows to explain in {source}", field="--data")
    folder = Path(out) if out is not None else run.path / layout.EXPLAIN
    context = _Context(run, model, x, y, frame, source, rows, steps or DEFAULT_STEPS, folder, progress)
    return explain_context(context, chosen)


def explain_context(context: _Context, chosen: str) -> Explanation:
    """Explain the rows of `context` with the method `chosen` and write the files into `context.folder`."""
    info, folder = context.run.info, context.folder
    folder.mkdir(parents=True, exist_ok=True)
    if info.task == catalog.RECONSTRUCTION:
        explanation = _explain_autoencoder(context)
    elif info.kind == catalog.TABLE:
        explanation = _explain_tabular(context, chosen)
    elif info.kind == catalog.MIXED:
        explanation = _explain_several(context)
    elif info.kind in catalog.IMAGE_KINDS:
        explanation = _explain_images(context, chosen)
    elif info.kind == catalog.TEXT:
        explanation = _explain_text(context)
    else:
        explanation = _explain_window(context)
    _write_common(explanation, folder)
    return explanation


@dataclass
class _Context:
    run: LoadedRun
    model: Any
    x: np.ndarray
    y: np.ndarray | None
    frame: Any
    source: str
    rows: int
    steps: int
    folder: Path
    progress: Progress | None

    def report(self, description: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        progress = self.progress
        return lambda done, total: progress(description, done, total)

    def sample(self) -> np.ndarray:
        """Indices of the rows explained one by one: the first `rows` rows (a fixed, reproducible choice)."""
        return np.arange(min(self.rows, len(self.x)))

    def predictions(self, x: np.ndarray) -> np.ndarray:
        from kproto.robust.gradients import model_outputs

        return model_outputs(self.model, x)

    def decisions(self) -> Any:
        """The run's decisions (calibration and threshold), as `kproto predict` applies them."""
        from kproto.metrics.calibration import Decisions

        return Decisions.from_metrics(self.run.metrics)

    def label(self, index: int | None) -> Any:
        if index is None:
            return None
        names = self.run.info.class_names
        return names[int(index)] if names else int(index)


def _rows(run: LoadedRun, data: Path | None, need_frame: bool) -> tuple[np.ndarray, np.ndarray | None, Any, str]:
    """(model inputs, targets, raw rows for permutation or None, a name for the source)."""
    from kproto.data import Preprocessor, load_dataset, transform_rows

    pre = Preprocessor.from_dict(run.preprocess)
    supervised = run.info.task in catalog.SUPERVISED_TASKS
    if data is not None:
        from kproto.data.readers import read_table

        frame = read_table(data, encoding=run.recipe.data.encoding)
        has_target = supervised and pre.state.get("target", {}).get("name") in frame.columns
        x, y = transform_rows(pre, frame, need_target=has_target)
        return x, y, (frame if need_frame else None), str(data)
    if need_frame:
        frame = raw_test_rows(run.recipe, pre)
        x, y = transform_rows(pre, frame, need_target=True)
        return x, y, frame, "test split"
    dataset = load_dataset(run.recipe, pre)
    from kproto.data.streaming import is_streamed

    if is_streamed(dataset.x_test):
        return np.asarray(dataset.x_test[:PERMUTATION_ROWS]), _head(dataset.y_test), None, "test split (first rows)"
    return dataset.x_test, dataset.y_test, None, "test split"


def _head(y: Any) -> np.ndarray | None:
    return None if y is None else np.asarray(y[:PERMUTATION_ROWS])


def raw_test_rows(recipe: Recipe, pre: Preprocessor) -> Any:
    """The raw rows (original columns) of a tabular run's test split: the same seeded split as training."""
    from kproto.data.dataset import load_frame
    from kproto.data.splits import split_indices
    from kproto.data.streaming import wants_streaming

    if wants_streaming(recipe):
        raise KprotoError(
            "permutation importance needs the raw rows, and this run streams its data from disk",
            field="--data",
            hint="pass --data with a sample of rows (a CSV with the same columns and the target)",
        )
    frame = load_frame(recipe)
    target = recipe.data.target
    frame = frame[frame[target].notna()]
    labels = frame[target].astype(str).to_numpy() if pre.task == catalog.CLASSIFICATION else None
    split = recipe.data.split
    _, _, test = split_indices(len(frame), split.validation, split.test, recipe.seed, labels)
    return frame.iloc[test]


def _targets_for_rows(context: _Context, x: np.ndarray) -> np.ndarray:
    """The output unit explained per row: the predicted class, or the single regression output."""
    if context.run.info.task == catalog.CLASSIFICATION:  # the class the run answers: its calibration and threshold
        decisions = context.decisions()
        return decisions.classes(decisions.probabilities(context.predictions(x))).astype(np.int32)
    return np.zeros(len(x), np.int32)


def _row_record(context: _Context, index: int, predicted: int, output: float, baseline: float) -> dict[str, Any]:
    record: dict[str, Any] = {"row": int(index)}
    task = context.run.info.task
    if task == catalog.CLASSIFICATION:
        record["predicted"] = context.label(predicted)
        if context.y is not None:
            record["true"] = context.label(int(context.y[index]))
    else:
        record["predicted"] = float(output)
        if context.y is not None:
            record["true"] = float(np.asarray(context.y[index]).reshape(-1)[0])
    record["output"] = float(output)
    record["baseline_output"] = float(baseline)
    return record


def _integrated(context: _Context, x: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(attributions, f(x), f(baseline)) for the explained unit of each row; the baseline is all zeros."""
    from kproto.explain.attributions import integrated_gradients

    attributions = integrated_gradients(
        context.model, x, targets, steps=context.steps, on_progress=context.report("integrated gradients")
    )
    rows = np.arange(len(x))
    outputs = context.predictions(x)[rows, targets]
    baseline = context.predictions(np.zeros_like(x[:1]))[0, targets]
    return attributions, outputs, baseline


def _explain_tabular(context: _Context, method: str) -> Explanation:
    from kproto.data import Preprocessor
    from kproto.explain import render
    from kproto.explain.attributions import feature_groups, sum_onto_columns
    from kproto.explain.importance import attribution_ranking, loss_words

    run = context.run
    pre = Preprocessor.from_dict(run.preprocess)
    groups = feature_groups(pre.state)
    names = [g.name for g in groups]
    sample = context.sample()
    targets = _targets_for_rows(context, context.x[sample])
    attributions, outputs, baseline = _integrated(context, context.x[sample], targets)
    per_column = sum_onto_columns(attributions.reshape(len(sample), -1), groups)
    records = []
    for n, index in enumerate(sample):
        record = _row_record(context, int(index), int(targets[n]), outputs[n], baseline[n])
        record["attributions"] = {name: float(v) for name, v in zip(names, per_column[n])}
        records.append(record)
    metric = None
    if method == "permutation":
        metric, ranking, title = _permutation_ranking(context, pre, names, " or use --method integrated_gradients")
    else:
        ranking = attribution_ranking(names, per_column)
        title = f"Integrated gradients: mean |attribution| per column ({len(sample)} rows)"
    labels = [f"row {r['row']}: {_shown(r['predicted'])}" for r in records]
    return Explanation(
        method=method,
        kind=catalog.TABLE,
        task=run.info.task,
        source=context.source,
        ranking=ranking,
        rows=records,
        metric=metric,
        renderables=[
            render.importance_table(ranking, title, loss_words(metric) if metric else "importance"),
            render.row_attributions_table(names, per_column, labels),
        ],
    )


def _explain_several(context: _Context) -> Explanation:
    """Columns of several kinds (text, image paths, table columns): permutation importance per original column,
    whatever its kind (a text column is shuffled as whole texts); rows carry their prediction."""
    from kproto.data import Preprocessor
    from kproto.explain import render
    from kproto.explain.importance import loss_words

    run = context.run
    pre = Preprocessor.from_dict(run.preprocess)
    metric, ranking, title = _permutation_ranking(context, pre, list(pre.state["features"]))
    sample = context.sample()
    targets = _targets_for_rows(context, context.x[sample])
    outputs = context.predictions(context.x[sample])[np.arange(len(sample)), targets]
    records = [
        _row_record(context, int(index), int(targets[n]), outputs[n], float("nan")) for n, index in enumerate(sample)
    ]
    for record in records:
        del record["baseline_output"]  # no baseline row: permutation compares shuffled columns
    return Explanation(
        method="permutation",
        kind=catalog.MIXED,
        task=run.info.task,
        source=context.source,
        ranking=ranking,
        rows=records,
        metric=metric,
        renderables=[render.importance_table(ranking, title, loss_words(metric))],
    )


def _permutation_ranking(context: _Context, pre: Any, names: list[str], other: str = "") -> tuple[str, list, str]:
    """The run's first metric, how much it drops when each original column is shuffled (the raw rows given), and
    the title of that ranking's table."""
    from kproto.explain.importance import DEFAULT_REPEATS, loss_words, permutation_importance

    run = context.run
    if context.y is None:
        raise KprotoError(
            "permutation importance needs the target column in --data",
            field="--data",
            hint=f"add the column '{pre.state['target']['name']}'{other}",
        )
    metric = _first_metric(run)
    frame, y = _permutation_rows(context)

    def predict(rows: Any) -> np.ndarray:
        return context.predictions(pre.features(rows, run.recipe.data.missing))

    ranking = permutation_importance(
        predict,
        frame,
        names,
        y,
        metric,
        seed=run.recipe.seed,
        on_progress=context.report("permutation"),
        decisions=context.decisions(),
    )
    title = (
        f"Permutation importance: {loss_words(metric)} when a column is shuffled ({context.source}, "
        f"{DEFAULT_REPEATS} repeats)"
    )
    return metric, ranking, title


def _permutation_rows(context: _Context) -> tuple[Any, np.ndarray]:
    frame, y = context.frame, np.asarray(context.y)
    if len(frame) > PERMUTATION_ROWS:
        chosen = np.sort(np.random.default_rng(context.run.recipe.seed).choice(len(frame), PERMUTATION_ROWS, False))
        frame, y = frame.iloc[chosen], y[chosen]
    return frame, y


def _first_metric(run: LoadedRun) -> str:
    metrics = run.recipe.train.metrics
    if metrics:
        return str(metrics[0])
    return "accuracy" if run.info.task == catalog.CLASSIFICATION else "mae"


def _explain_images(context: _Context, method: str) -> Explanation:
    from kproto.explain import render
    from kproto.explain.attributions import integrated_gradients, occlusion
    from kproto.explain.importance import attribution_ranking

    run = context.run
    sample = context.sample()
    images = context.x[sample]
    targets = _targets_for_rows(context, images)
    captions = []
    for n, index in enumerate(sample):
        true = f" / true {context.label(int(context.y[index]))}" if context.y is not None else ""
        captions.append(f"pred {context.label(int(targets[n]))}{true}")
    heat_ig = integrated_gradients(
        context.model, images, targets, steps=context.steps, on_progress=context.report("integrated gradients")
    ).sum(axis=-1)
    patch = max(1, min(images.shape[1], images.shape[2]) // 8)
    heat_occ = occlusion(context.model, images, targets, patch=patch, on_progress=context.report("occlusion"))
    files = [
        render.write_file(
            context.folder / "integrated_gradients.png",
            render.heat_maps(images, heat_ig, captions, "Integrated gradients (red: towards the predicted class)"),
        ),
        render.write_file(
            context.folder / "occlusion.png",
            render.heat_maps(images, heat_occ, captions, f"Occlusion, {patch}x{patch} patches (red: the class drops)"),
        ),
    ]
    heat = heat_ig if method == "integrated_gradients" else heat_occ
    height, width = heat.shape[1:3]
    features = run.preprocess.get("features") or []
    names = (
        list(features)
        if len(features) == height * width
        else [f"pixel ({r}, {c})" for r in range(height) for c in range(width)]
    )
    ranking = attribution_ranking(names, heat.reshape(len(heat), -1))
    records = []
    outputs = context.predictions(images)
    for n, index in enumerate(sample):
        record = _row_record(context, int(index), int(targets[n]), outputs[n, targets[n]], 0.0)
        record.pop("baseline_output")
        record["attributions"] = heat[n].round(6).tolist()
        records.append(record)
    from kproto.explain.render import importance_table

    return Explanation(
        method=method,
        kind=run.info.kind,
        task=run.info.task,
        source=context.source,
        ranking=ranking,
        rows=records,
        files=files,
        renderables=[
            importance_table(ranking, f"{method}: mean |attribution| per pixel ({len(sample)} images)", limit=12)
        ],
    )


def _explain_text(context: _Context) -> Explanation:
    from kproto.explain import render
    from kproto.explain.attributions import token_occlusion

    run = context.run
    vocabulary = run.preprocess["text"]["vocabulary"]
    sample = context.sample()
    tokens = np.asarray(context.x[sample])
    targets = _targets_for_rows(context, tokens)
    scores = token_occlusion(context.model, tokens, targets)
    outputs = context.predictions(tokens)
    records, renderables, totals = [], [], {}
    for n, index in enumerate(sample):
        present = np.flatnonzero(tokens[n] != 0)
        words = [vocabulary[int(t)] if int(t) < len(vocabulary) else "[UNK]" for t in tokens[n][present]]
        values = scores[n][present]
        record = _row_record(context, int(index), int(targets[n]), outputs[n, targets[n]], 0.0)
        record.pop("baseline_output")
        record.update(tokens=words, scores=[float(v) for v in values])
        records.append(record)
        for word, value in zip(words, values):
            totals.setdefault(word, []).append(abs(float(value)))
        true = f", true {record['true']}" if "true" in record else ""
        renderables.append(f"[bold]row {index}[/] predicted {_shown(record['predicted'])}{true}:")
        renderables.append(render.coloured_tokens(words, values))
    ranking = sorted(
        ({"feature": w, "importance": float(np.mean(v)), "spread": float(np.std(v))} for w, v in totals.items()),
        key=lambda row: -row["importance"],
    )
    page = render.tokens_html(records, f"Token attributions (occlusion) — {run.recipe.name}")
    files = [render.write_file(context.folder / "tokens.html", page)]
    title = "Tokens by mean |drop of the predicted class's probability| when removed"
    return Explanation(
        method="occlusion",
        kind="text",
        task=run.info.task,
        source=context.source,
        ranking=ranking,
        rows=records,
        files=files,
        renderables=[*renderables, render.importance_table(ranking, title, limit=15)],
    )


def _explain_window(context: _Context) -> Explanation:
    from kproto.explain import render
    from kproto.explain.importance import attribution_ranking

    run = context.run
    sample = context.sample()
    windows = context.x[sample]
    targets = _targets_for_rows(context, windows)
    attributions, outputs, baseline = _integrated(context, windows, targets)
    length, width = attributions.shape[1:3]
    calendar = (run.preprocess.get("time") or {}).get("calendar", [])  # forecasting windows' calendar features
    features = [c["name"] for c in run.preprocess.get("columns", [])] + list(calendar)
    if len(features) != width:
        features = [f"feature {i}" for i in range(width)]
    names = [f"{features[f]} t-{length - 1 - s}" for s in range(length) for f in range(width)]
    ranking = attribution_ranking(names, attributions.reshape(len(sample), -1))
    records = []
    for n, index in enumerate(sample):
        record = _row_record(context, int(index), int(targets[n]), outputs[n], baseline[n])
        record["attributions"] = attributions[n].round(6).tolist()
        records.append(record)
    png = render.window_plot(attributions, features, "Integrated gradients per time step and feature")
    files = [render.write_file(context.folder / "window_attributions.png", png)]
    title = f"Integrated gradients: mean |attribution| per step (t-0 is the latest, {len(sample)} windows)"
    return Explanation(
        method="integrated_gradients",
        kind="window",
        task=run.info.task,
        source=context.source,
        ranking=ranking,
        rows=records,
        files=files,
        renderables=[render.importance_table(ranking, title, limit=15)],
    )


def _explain_autoencoder(context: _Context) -> Explanation:
    from kproto.explain import render
    from kproto.explain.attributions import feature_groups

    run = context.run
    x = context.x[:PERMUTATION_ROWS]
    flat = np.asarray(x, np.float64).reshape(len(x), -1)
    squared = (context.predictions(x) - flat) ** 2
    groups = feature_groups(run.preprocess) if run.info.kind == catalog.TABLE else []
    if groups:
        names = [g.name for g in groups]
        per_row = np.stack([squared[:, g.start : g.stop].mean(axis=1) for g in groups], axis=1)
    else:
        features = run.preprocess.get("features") or []
        names = list(features) if len(features) == flat.shape[1] else [f"input {i}" for i in range(flat.shape[1])]
        per_row = squared
    ranking = sorted(
        (
            {"feature": n, "importance": float(per_row[:, i].mean()), "spread": float(per_row[:, i].std())}
            for i, n in enumerate(names)
        ),
        key=lambda row: -row["importance"],
    )
    title = f"Reconstruction error per column, worst first (mean squared error, {len(x)} rows of {context.source})"
    return Explanation(
        method="reconstruction_error",
        kind=run.info.kind,
        task=run.info.task,
        source=context.source,
        ranking=ranking,
        renderables=[render.importance_table(ranking, title, "mse", limit=20)],
    )


def _write_common(explanation: Explanation, folder: Path) -> None:
    """importance.csv (the global ranking) and attributions.json (method, global ranking, per-row details)."""
    import csv
    import io

    from kproto.explain.render import write_file
    from kproto.runs.store import write_json

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["feature", "importance", "spread"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(explanation.ranking)
    csv_path = write_file(folder / IMPORTANCE_CSV, buffer.getvalue())
    json_path = folder / ATTRIBUTIONS_JSON
    write_json(json_path, {"method": explanation.method, "global": explanation.ranking, "rows": explanation.rows})
    explanation.files = [csv_path, json_path, *explanation.files]


def _shown(predicted: Any) -> str:
    """A prediction for a table's row label: a number with 4 significant digits, a class label as it is."""
    return f"{predicted:.4g}" if isinstance(predicted, float) else str(predicted)
