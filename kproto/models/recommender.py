"""recommender family: users × items → a rating (explicit feedback) or an interaction probability (implicit).

The model takes ONE float32 input, [user index, item index, user side features…, item side features…] (see
kproto.data.interactions); with `ranking_loss: bpr` a second item follows and the output is σ(s₁ − s₂), the
probability that the user prefers the first item (the second is the unknown slot outside training). Index 0 is
the unknown user or item: its embedding and bias are zero, so cold-start rows fall back to the global mean and
the known side's bias.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from kproto.core import catalog
from kproto.core.fields import Fraction, ModelBase, PositiveInt

if TYPE_CHECKING:
    import keras

    from kproto.data.types import DataInfo

ARCHITECTURES = ("matrix_factorization", "two_tower", "neural_cf")
# Unset penalties are these divided by the training rows: Keras adds a table's L2 to every batch's mean loss, so
# l2 = shrinkage / rows is the regularised least-squares objective (sum of squared errors + shrinkage · Σ w²) per row.
EMBEDDING_SHRINKAGE = 3.0
BIAS_SHRINKAGE = 5.0
BIAS_SHRINKAGES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)  # ratings: the user and the item biases' shrinkages, on validation
UNSIZED = 1e-5  # both penalties when the training rows are not known


class Recommender(ModelBase):
    required_data: ClassVar[dict[str, str]] = {
        "user": "name the column of user ids, e.g. data.user: userId",
        "item": "name the column of item ids, e.g. data.item: movieId",
    }
    type: Literal["recommender"]
    architecture: Literal["matrix_factorization", "two_tower", "neural_cf"] = Field(
        "matrix_factorization",
        description="matrix_factorization (dot product plus user and item biases), two_tower (a user tower and an "
        "item tower over embeddings and side features, scored by dot product) or neural_cf (an MLP over both).",
    )
    embedding_dim: PositiveInt = Field(32, description="Size of the user and item embeddings.")
    units: list[PositiveInt] = Field(
        [64], description="Hidden layers of each tower (two_tower) or of the MLP (neural_cf)."
    )
    embedding_l2: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="L2 penalty on the embedding tables (and on the biases when bias_l2 is unset); unset: "
        f"{EMBEDDING_SHRINKAGE:g} / training rows, the same pull towards zero whatever the data's size.",
    )
    bias_l2: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="L2 penalty on the user and item biases; unset: embedding_l2 when that is set, else "
        f"{BIAS_SHRINKAGE:g} / training rows (each bias shrunk as if it had {BIAS_SHRINKAGE:g} more ratings of 0, "
        "as the user+item-bias baseline does).",
    )
    feedback: Literal["auto", "explicit", "implicit"] = Field(
        "auto",
        description="explicit: predict data.target (ratings, MSE). implicit: every row is a positive interaction "
        "(clicks), negatives are sampled, binary cross-entropy; auto: explicit when data.target is set.",
    )
    negatives: PositiveInt = Field(4, description="Negative items sampled per positive interaction (implicit).")
    ranking_loss: Literal["bce", "bpr"] = Field(
        "bce",
        description="Implicit feedback's loss. bce: each interaction and each sampled negative scored on its own "
        "(binary cross-entropy); bpr: Bayesian personalized ranking, −log σ(s(user, chosen) − s(user, sampled)) "
        "over pairs, which only asks that the chosen item rank above the sampled one.",
    )
    unknown_rate: Fraction = Field(
        0.1,
        description="In training, the share of rows whose user (and, separately, item) is replaced by the unknown "
        "slot, so cold-start users and items get a learned fallback (0: they contribute nothing).",
    )
    top_k: PositiveInt = Field(10, description="k of recall@k, ndcg@k and hit rate in evaluation.")

    def initialize(self, model: Any, dataset: Any) -> None:
        """Ratings: the user and item biases start as the user+item-bias model's (regularised least squares on the
        training rows, the user and the item shrinkage each picked on the validation rows), so training starts
        where that baseline ends, and are held there: the embeddings learn what the biases leave. Not when the
        recipe sets embedding_l2 or bias_l2."""
        if dataset.info.task != catalog.REGRESSION or dataset.y_train is None:
            return
        if self.embedding_l2 is not None or self.bias_l2 is not None:
            return  # a recipe that sets its penalties trains every table from the start, as before
        import numpy as np

        from kproto.metrics.ranking import BiasBaseline

        layout = dataset.info.layout

        def columns(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            x = np.asarray(x)
            return x[:, 0].astype(np.int64), x[:, 1].astype(np.int64), np.asarray(y, np.float64).reshape(-1)

        train = columns(dataset.x_train, dataset.y_train)
        validation = columns(dataset.x_val, dataset.y_val) if dataset.y_val is not None else None
        biases, _ = BiasBaseline.tuned(
            train, validation, layout["num_users"], layout["num_items"], BIAS_SHRINKAGES, BIAS_SHRINKAGE
        )
        for name, values in (("user_bias", biases.user_bias), ("item_bias", biases.item_bias)):  # mean: the model's
            layer = model.get_layer(name)
            layer.embeddings.assign(np.asarray(values, dtype="float32").reshape(-1, 1))
            layer.trainable = False  # held: the embeddings learn what the biases leave

    @property
    def needs_target(self) -> bool:
        """Only explicit feedback needs data.target (the rating); implicit rows are interactions themselves."""
        return self.feedback == "explicit"


def penalties(spec: Recommender, training_rows: int) -> tuple[float, float]:
    """(embedding L2, bias L2): the recipe's values, or the shrinkages above spread over `training_rows`."""
    rows = int(training_rows)
    embedding, bias = (EMBEDDING_SHRINKAGE / rows, BIAS_SHRINKAGE / rows) if rows > 0 else (UNSIZED, UNSIZED)
    if spec.embedding_l2 is not None:
        embedding = bias = spec.embedding_l2  # as before bias_l2 existed: one penalty for tables and biases
    if spec.bias_l2 is not None:
        bias = spec.bias_l2
    return embedding, bias


def interaction_layout(info: DataInfo) -> dict[str, int]:
    """The packing of the one input array: num_users, num_items and the widths of the side features."""
    from kproto.models.common import packed_layout

    return packed_layout(
        info,
        ("num_users", "num_items", "user_features", "item_features"),
        "recommender",
        "user–item data",
        "set data.user and data.item (and data.target for ratings)",
    )


def build(spec: Recommender, info: DataInfo) -> Any:
    """The scoring network; ratings come out on the rating scale, implicit scores as probabilities."""
    import keras

    from kproto.data.interactions import row_widths
    from kproto.models.recommender_layers import AddConstant, SecondItemRows
    from kproto.models.seq2seq_layers import ColumnSlice

    layout = interaction_layout(info)
    pairwise = bool((getattr(info, "layout", None) or {}).get("pairwise", 0))  # absent in runs saved before it
    pair, width = row_widths(layout["user_features"], layout["item_features"], pairwise)
    inputs = keras.Input(shape=(width,), name="interaction")
    rows = (getattr(info, "rows", None) or {}).get("train", 0)  # unknown (0): UNSIZED
    score = _scorer(spec, layout, pair, penalties(spec, rows))
    if pairwise:
        first = score(ColumnSlice(0, pair, name="first_item_rows")(inputs))
        second = score(SecondItemRows(pair, layout["user_features"], name="second_item_rows")(inputs))
        preference = keras.layers.Subtract(name="preference")([first, second])
        output = keras.layers.Activation("sigmoid", dtype="float32", name="output")(preference)
    elif info.task == catalog.RANKING:
        output = keras.layers.Activation("sigmoid", dtype="float32", name="output")(score(inputs))
    else:
        mean = float(getattr(info, "target_mean", 0.0))
        output = AddConstant(mean, dtype="float32", name="output")(score(inputs))
    return keras.Model(inputs, output, name=f"recommender_{spec.architecture}")


def _scorer(spec: Recommender, layout: dict[str, int], width: int, l2: tuple[float, float]) -> Any:
    """score(rows) → [batch, 1] for pair rows `width` wide; every call shares the same layers (and weights)."""
    import keras

    from kproto.models.common import activation, layer_kwargs
    from kproto.models.recommender_layers import IndexEmbedding, RowDot
    from kproto.models.seq2seq_layers import ColumnSlice

    dim, rate, act = spec.embedding_dim, spec.unknown_rate, activation(spec.activation)
    (l2, bias_l2) = l2
    user = IndexEmbedding(layout["num_users"], dim, 0, l2, rate, 1, name="user_embedding")
    item = IndexEmbedding(layout["num_items"], dim, 1, l2, rate, 2, name="item_embedding")
    user_bias = IndexEmbedding(layout["num_users"], 1, 0, bias_l2, rate, 1, name="user_bias")
    item_bias = IndexEmbedding(layout["num_items"], 1, 1, bias_l2, rate, 2, name="item_bias")
    user_side = ColumnSlice(2, 2 + layout["user_features"], name="user_features")
    item_side = ColumnSlice(2 + layout["user_features"], width, name="item_features")
    add_biases = keras.layers.Add(name="with_biases")
    dot = RowDot(name="dot")

    def stack(name: str) -> list[Any]:
        layers: list[Any] = []
        for i, units in enumerate(spec.units):
            layers.append(keras.layers.Dense(units, activation=act, name=f"{name}_{i}", **layer_kwargs(spec)))
            if spec.dropout:
                layers.append(keras.layers.Dropout(spec.dropout, name=f"{name}_{i}_dropout"))
        return layers

    def through(layers: list[Any], x: Any) -> Any:
        for layer in layers:
            x = layer(x)
        return x

    if spec.architecture == "two_tower":
        towers = {
            name: (
                keras.layers.Concatenate(name=f"{name}_input") if has_side else None,
                stack(f"{name}_tower"),
                keras.layers.Dense(dim, name=f"{name}_vector", **layer_kwargs(spec)),
            )
            for name, has_side in (("user", layout["user_features"]), ("item", layout["item_features"]))
        }
    elif spec.architecture == "neural_cf":
        mlp_input = keras.layers.Concatenate(name="mlp_input")
        mlp, product = stack("mlp"), keras.layers.Multiply(name="gmf")
        joined = keras.layers.Concatenate(name="gmf_and_mlp")
        head = keras.layers.Dense(1, name="score", **layer_kwargs(spec))

    def score(rows: Any) -> Any:
        u, v = user(rows), item(rows)
        sides = {"user": user_side(rows), "item": item_side(rows)}
        if spec.architecture == "matrix_factorization":
            raw = dot([u, v])
        elif spec.architecture == "two_tower":
            vectors = []
            for name, embedding in (("user", u), ("item", v)):
                concat, layers, project = towers[name]
                x = concat([embedding, sides[name]]) if concat is not None else embedding
                vectors.append(project(through(layers, x)))
            raw = dot(vectors)
        else:
            parts = [u, v] + [sides[n] for n in ("user", "item") if layout[f"{n}_features"]]
            x = through(mlp, mlp_input(parts))
            raw = head(joined([product([u, v]), x]))
        return add_biases([raw, user_bias(rows), item_bias(rows)])

    return score


def item_embeddings(model: keras.Model) -> Any:
    """The item embedding table ([num_items, embedding_dim]); row 0 is the unknown item."""
    return model.get_layer("item_embedding").get_weights()[0]


def data_starter(guess: Any, path_text: str) -> list[str]:
    """`kproto new recommender`: user, item, rating and time columns guessed from their names."""
    columns = list(guess.columns)

    def named(*words: str) -> str | None:
        return next((c for c in columns if any(w in c.lower() for w in words)), None)

    user = named("user", "customer", "client") or columns[0]
    item = named("item", "movie", "product", "book", "song") or next((c for c in columns if c != user), user)
    time = named("time", "date")
    rating = named("rating", "score", "stars")
    if rating is None and guess.target in guess.numeric and guess.target not in (user, item, time):
        rating = guess.target
    guess.task = "regression" if rating else "ranking"
    split = f"{{by: time, column: {time}}}" if time else "{by: random}"
    lines = [
        "data:",
        f"  path: {path_text}    # one row per interaction; relative to this recipe",
        f"  user: {user}",
        f"  item: {item}",
        f"  target: {rating}    # the rating; leave it out for implicit feedback (clicks)"
        if rating
        else "  # no rating column found: every row is an interaction (implicit feedback)",
        f"  split: {split}    # by time: every training row is older than every test row",
    ]
    return lines


def starter(guess: Any) -> list[str]:
    """`kproto new recommender`: the model's main fields."""
    lines = [
        "  architecture: matrix_factorization    # or two_tower / neural_cf (side features from data.features)",
        "  embedding_dim: 32",
        "  top_k: 10    # k of recall@k and ndcg@k",
    ]
    if getattr(guess, "task", None) == catalog.RANKING:
        lines.append("  ranking_loss: bpr    # pairs: each interaction above a sampled unseen item (or: bce)")
    return lines
