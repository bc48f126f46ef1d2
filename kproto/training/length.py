"""How long a run trains where its recipe leaves it open: the family's choice for the data (the feedforward family
on tables: kproto.models.feedforward.table_training_length), applied only to `train.epochs` and
`train.early_stopping.patience` when the recipe (its parents and --set included) does not set them, and only when
early stopping watches a validation split (a long budget without it would simply train longer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kproto.recipe.schema import Recipe


def open_length(recipe: Recipe, info: Any) -> tuple[Recipe, dict[str, str]]:
    """The recipe with the family's training length for this data in the fields it leaves open, and a header line
    {"training length": what and why} when anything was filled (else the recipe itself and {})."""
    train, stopping = recipe.train, recipe.train.early_stopping
    rows = getattr(info, "rows", None) or {}
    if stopping is None or not rows.get("validation"):
        return recipe, {}
    given = train.epochs if "epochs" in train.model_fields_set else None
    chosen = recipe.model.training_length(info, train.batch_size, given)
    update: dict[str, Any] = {}
    if "epochs" in chosen and given is None and chosen["epochs"] != train.epochs:
        update["epochs"] = int(chosen["epochs"])
    if "patience" in chosen and "patience" not in stopping.model_fields_set and chosen["patience"] != stopping.patience:
        update["early_stopping"] = stopping.model_copy(update={"patience": int(chosen["patience"])})
    if not update:
        return recipe, {}
    parts = [f"up to {update['epochs']} epochs"] if "epochs" in update else []
    if "early_stopping" in update:
        parts.append(f"early stopping after {update['early_stopping'].patience} epochs without improvement")
    why = f"{', '.join(parts)} (chosen for {rows.get('train', 0):,} training rows)"
    return recipe.model_copy(update={"train": train.model_copy(update=update)}), {"training length": why}
