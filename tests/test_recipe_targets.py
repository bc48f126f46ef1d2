"""Several targets in a recipe: `data.target` lists, per-target train settings and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from kproto.core.errors import RecipeError
from kproto.recipe import load_recipe
from kproto.recipe.targets import for_target, several, target_names

HEAD = "data: {path: t.csv, target: [default, student], features: [balance, income]}\nmodel: {type: feedforward}\n"


def _load(tmp_path: Path, text: str):
    (tmp_path / "t.csv").write_text("default,student,balance,income\nNo,Yes,1,2\nYes,No,3,4\n")
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return load_recipe(path).recipe


def test_two_targets_and_per_target_settings(tmp_path: Path) -> None:
    recipe = _load(
        tmp_path,
        HEAD + "train: {loss: {default: auto, student: mse}, loss_weights: {default: 1.0, student: 0.5}, "
        "metrics: {default: [auc], student: [accuracy]}, threshold: {default: auto}, class_weight: {student: balanced}}\n",
    )
    assert several(recipe) and target_names(recipe.data) == ["default", "student"]
    one = for_target(recipe, "student")
    assert one.data.target == "student"
    assert one.train.loss == "mse" and one.train.metrics == ["accuracy"] and one.train.class_weight == "balanced"
    assert one.train.threshold == 0.5 and one.train.loss_weights is None
    other = for_target(recipe, "default")
    assert other.train.threshold == "auto" and other.train.class_weight is None and other.train.metrics == ["auc"]


def test_one_name_in_a_list_is_a_single_target(tmp_path: Path) -> None:
    recipe = _load(tmp_path, "data: {path: t.csv, target: [default]}\nmodel: {type: feedforward}\n")
    assert recipe.data.target == "default" and not several(recipe)


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (HEAD + "train: {loss_weights: {defualt: 1.0}}\n", "train.loss_weights.defualt", "did you mean 'default'"),
        (HEAD + "train: {metrics: {studnt: [accuracy]}}\n", "train.metrics.studnt", "did you mean 'student'"),
        (HEAD + "train: {class_weight: {'Yes': 2.0}}\n", "train.class_weight", "per-target mapping"),
        (HEAD.replace("feedforward", "autoencoder"), "data.target", "autoencoder model predicts one"),
        (HEAD.replace("feedforward", "gan"), "data.target", "gan model predicts one"),
        (HEAD.replace("feedforward", "recommender"), "data.target", "recommender model predicts one"),
        (HEAD.replace("feedforward", "seq2seq"), "data.target", "seq2seq model predicts one"),
        (HEAD.replace("features: [balance, income]", "window: {length: 4}"), "data.window", "one series"),
        (HEAD.replace("features: [balance, income]", "balance: oversample"), "data.balance", "one target's"),
        (HEAD + "train: {engine: fused}\n", "train.engine", "several targets train with engine: fit"),
        (HEAD + "train: {adversarial: {epsilon: 0.1}}\n", "train.adversarial", "works with one target"),
        (HEAD.replace("[balance, income]", "[balance, student]"), "data.features", "also listed as a feature"),
        (
            "data: {path: t.csv, target: default}\nmodel: {type: feedforward}\ntrain: {loss_weights: {default: 1}}\n",
            "train.loss_weights",
            "names one target",
        ),
        (
            "data: {path: t.csv, target: default}\nmodel: {type: feedforward}\ntrain: {metrics: {default: [auc]}}\n",
            "train.metrics",
            "per-target mapping",
        ),
        ("data: {path: t.csv, target: [a, a]}\nmodel: {type: feedforward}\n", "data.target", "twice"),
        ("data: {path: t.csv, target: [a, loss]}\nmodel: {type: feedforward}\n", "data.target", "total loss"),
        ("data: {path: t.csv, target: []}\nmodel: {type: feedforward}\n", "data.target", "no target"),
    ],
)
def test_refusals_name_the_field(tmp_path: Path, text: str, field: str, words: str) -> None:
    with pytest.raises(RecipeError) as caught:
        _load(tmp_path, text)
    assert caught.value.field == field
    assert words in str(caught.value)
