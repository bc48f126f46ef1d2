"""`kproto evaluate` on a run with several targets: the total loss, then one evaluation per target, each scored as
a single-target run is (its decisions, report, decision summary and stored baselines)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from kproto.commands.evaluate import EvaluateOptions, Evaluation, Rows, _compare, _scores
from kproto.core import catalog
from kproto.core.errors import KprotoError


def evaluate_any(path: Path, options: EvaluateOptions | None = None) -> Evaluation:
    """kproto.commands.evaluate.evaluate_run, or `evaluate_targets` for a run with several targets."""
    from kproto.commands.evaluate import evaluate_run
    from kproto.runs.load import load_run

    run = load_run(path)
    if not run.info.targets:
        return evaluate_run(path, options)
    return evaluate_targets(run, options or EvaluateOptions())


def evaluate_targets(run: Any, options: EvaluateOptions) -> Evaluation:
    """The run's test split (or `options.data`'s rows): the total loss, and each target's own evaluation."""
    from kproto.data import Preprocessor, load_dataset, transform_rows
    from kproto.data.readers import read_table
    from kproto.data.targets import names_of, target_dataset, target_info, target_preprocessor
    from kproto.outputs.targets import target_answering
    from kproto.recipe.targets import for_target
    from kproto.runs.load import load_keras_model
    from kproto.training.compile import compile_model
    from kproto.training.scoring import evaluate_arrays
    from kproto.training.targets import compile_targets, encode_targets, target_model

    if options.attack.method is not None or options.judge is not None:
        flag = "--attack" if options.attack.method is not None else "--judge"
        raise KprotoError(f"{flag} is not available for a run with several targets", field=flag)
    answering = target_answering(run, options.coverage)
    model = load_keras_model(run.model_path, trust=options.trust, compile=False)
    pre = Preprocessor.from_dict(run.preprocess)
    if options.data is None:
        dataset = load_dataset(run.recipe, pre)
        x, y, source = dataset.x_test, dataset.y_test, "test split"
    else:
        dataset = None
        frame = read_table(options.data, encoding=run.recipe.data.encoding)
        x, y = transform_rows(pre, frame, need_target=True)
        source = str(options.data)
    evaluation = Evaluation(source=source, metrics={}, task=catalog.MULTI_TARGET)
    blocks = run.metrics.get("targets") or {}
    for name in names_of(run.info):
        one_recipe, info = for_target(run.recipe, name), target_info(run.info, name)
        block = blocks.get(name, {})
        one_run = replace(
            run,
            recipe=one_recipe,
            info=info,
            metrics=block,
            preprocess=target_preprocessor(pre, name).state,
        )
        sub = target_model(model, name)
        compile_model(sub, one_recipe, info, 1, allow_code=options.allow_code, base=run.path, jit_compile=False)
        view = target_dataset(dataset, name) if dataset is not None else None
        rows = Rows(x, y[name], source, view)
        decisions, conformal = answering.decisions[name], answering.conformal.get(name)
        metrics, report, summary, rows = _scores(one_run, sub, rows, decisions, conformal, options.coverage)
        one = Evaluation(source=source, metrics=metrics, report=report, task=info.task, decisions=summary)
        if view is not None:
            _compare(one_run, sub, rows, one)
        evaluation.targets[name] = one
    if len(x):  # the weighted total, compiled as training compiled it
        setup = compile_targets(model, run.recipe, run.info, 1, allow_code=options.allow_code, base=run.path)
        total = evaluate_arrays(model, x, encode_targets(y, setup, run.info), run.recipe.train.batch_size)
        evaluation.metrics = {"loss": total["loss"]}
    return evaluation
