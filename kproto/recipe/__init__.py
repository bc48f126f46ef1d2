"""Recipe schema and loader."""

from kproto.recipe.loader import LoadedRecipe, dump_recipe, load_recipe, recipe_from_dict
from kproto.recipe.schema import Recipe

__all__ = ["LoadedRecipe", "Recipe", "dump_recipe", "load_recipe", "recipe_from_dict"]
