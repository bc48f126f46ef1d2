"""User–item interactions for recommenders: index maps with a cold-start slot, splits, side features, negatives.

A model input row is ONE float32 array: [user index, item index, user side features…, item side features…].
With the pairwise (BPR) ranking loss the row goes on with a second item, [item index, item side features…], and
a tally column: training compares the two items for the user; everywhere else that second item is the unknown
slot (zeros), so a row still scores one user–item pair. Index 0 of users and items is the unknown (cold-start)
slot: values not seen in training map there, so a new user or item gets a prediction from what is known (the
other side's bias, the global mean) instead of an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kproto.core.errors import DataError
from kproto.data.preprocess import fit_numeric, standardize

if TYPE_CHECKING:
    from kproto.data.preprocess import Preprocessor
    from kproto.recipe.schema import Recipe

SPLIT_MODES = ("random", "user", "time")
MAX_LABELS = 50  # most frequent labels kept per multi-label side-feature column


def row_widths(user_features: int, item_features: int, pairwise: bool) -> tuple[int, int]:
    """(pair width, row width): a user–item pair [user, item, user sides, item sides], and the whole model input
    row, which with pairwise rows goes on with the second item, its item sides and the tally column."""
    pair = 2 + user_features + item_features
    return pair, pair + (2 + item_features if pairwise else 0)


def item_columns(pair_width: int, item_width: int) -> list[int]:
    """The columns of a pair row that describe its item: the item index, then the item side features."""
    return [1, *range(pair_width - item_width, pair_width)]


@dataclass
class IndexMap:
    """Values seen in training → indices 1…n; anything else → 0 (unknown)."""

    values: list[str]

    @classmethod
    def fit(cls, column: pd.Series) -> IndexMap:
        """Every distinct training value, most frequent first (ties by value)."""
        counts = column.astype(str).value_counts()
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls([value for value, _ in ordered])

    def __len__(self) -> int:
        return len(self.values) + 1

    def lookup(self, column: pd.Series | Sequence[Any]) -> np.ndarray:
        """Indices of raw values (0 for values not seen in training)."""
        table = {value: i + 1 for i, value in enumerate(self.values)}
        return np.array([table.get(str(v), 0) for v in pd.Series(column).astype(str)], dtype=np.int64)

    def value(self, index: int) -> str | None:
        """The raw value of an index (None for the unknown slot)."""
        return self.values[index - 1] if 0 < index <= len(self.values) else None


def split_interactions(
    frame: pd.DataFrame,
    user_column: str,
    by: str,
    time_column: str | None,
    validation: float,
    test: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions (train, validation, test).

    random: rows shuffled (seeded). time: ordered by `time_column`; the earliest rows train, the latest test, so
    no training interaction is later than any test interaction. user: each user's interactions in time order (or
    seeded order without a time column); each user's latest share is held out, so warm users are evaluated on
    their future.
    """
    from kproto.data.splits import split_indices

    if by not in SPLIT_MODES:
        raise DataError(f"unknown split mode {by!r}", field="data.split.by", hint=f"expected one of {SPLIT_MODES}")
    if by == "random":
        return split_indices(len(frame), validation, test, seed)
    rng = np.random.default_rng(seed)
    if time_column is not None:
        if time_column not in frame.columns:
            raise DataError(
                f"the split column '{time_column}' is not in the data",
                field="data.split.column",
                hint=f"columns: {', '.join(list(frame.columns)[:15])}",
            )
        times = pd.to_numeric(frame[time_column], errors="coerce")
        if times.isna().all():
            times = pd.to_datetime(frame[time_column], errors="coerce").astype("int64")
        if times.isna().any():
            raise DataError(
                f"the split column '{time_column}' has missing or unreadable times", field="data.split.column"
            )
        order = np.lexsort((rng.permutation(len(frame)), times.to_numpy()))
    elif by == "time":
        raise DataError(
            "a split by time needs the column holding the time",
            field="data.split.column",
            hint="e.g. split: {by: time, column: timestamp}",
        )
    else:
        order = rng.permutation(len(frame))
    if by == "time":
        n_test, n_val = int(round(len(frame) * test)), int(round(len(frame) * validation))
        train_end = len(frame) - n_test - n_val
        if train_end <= 0:
            raise DataError(f"the split leaves no training rows out of {len(frame)}", field="data.split")
        return order[:train_end], order[train_end : train_end + n_val], order[train_end + n_val :]
    users = frame[user_column].astype(str).to_numpy()[order]
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    grouped = pd.Series(np.arange(len(order))).groupby(users, sort=True)
    for _, positions in grouped:
        rows = order[positions.to_numpy()]
        n_test, n_val = int(round(len(rows) * test)), int(round(len(rows) * validation))
        if len(rows) - n_test - n_val < 1:  # keep at least one training interaction per user
            n_val = max(0, len(rows) - n_test - 1)
            n_test = min(n_test, len(rows) - 1)
        train_end = len(rows) - n_test - n_val
        parts[0].append(rows[:train_end])
        parts[1].append(rows[train_end : train_end + n_val])
        parts[2].append(rows[train_end + n_val :])
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


@dataclass
class SideFeatures:
    """Side-feature columns of users or items: numeric ones standardized, text ones multi-hot over labels
    split on '|' (a plain category is a one-label case)."""

    columns: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def fit(cls, train: pd.DataFrame, names: Sequence[str]) -> SideFeatures:
        columns = []
        for name in names:
            values = train[name]
            if pd.api.types.is_numeric_dtype(values.dtype) or values.dtype == bool:
                columns.append(fit_numeric(name, pd.to_numeric(values, errors="coerce").astype(float)))
            else:
                labels = values.dropna().astype(str).str.split("|").explode().str.strip()
                counts = labels[labels != ""].value_counts()
                ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_LABELS]
                columns.append({"name": name, "type": "labels", "labels": [label for label, _ in ordered]})
        return cls(columns)

    @property
    def width(self) -> int:
        return sum(1 if c["type"] == "numeric" else len(c["labels"]) for c in self.columns)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """[N, width] float32 features of raw rows."""
        blocks = []
        for column in self.columns:
            raw = frame[column["name"]]
            if column["type"] == "numeric":
                numbers = pd.to_numeric(raw, errors="coerce").astype(float).fillna(column["fill"]).to_numpy()
                blocks.append(standardize(numbers, column))
                continue
            position = {label: i for i, label in enumerate(column["labels"])}
            block = np.zeros((len(frame), len(column["labels"])), dtype=np.float32)
            for row, value in enumerate(raw.fillna("").astype(str)):
                for label in value.split("|"):
                    index = position.get(label.strip())
                    if index is not None:
                        block[row, index] = 1.0
            blocks.append(block)
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.concatenate(blocks, axis=1).astype(np.float32)


def side_of(train: pd.DataFrame, key: str, names: Sequence[str]) -> list[str]:
    """The columns of `names` that take one value per `key` in the training rows (attributes of that key)."""
    if not names:
        return []
    distinct = train.groupby(key, sort=False)[list(names)].nunique(dropna=False).max()
    return [name for name in names if int(distinct[name]) <= 1]


@dataclass
class InteractionEncoder:
    """Index maps and side features fitted on the training split; saved in preprocess.json."""

    user_column: str
    item_column: str
    target_column: str | None
    users: IndexMap
    items: IndexMap
    user_features: SideFeatures
    item_features: SideFeatures
    implicit: bool
    pairwise: bool = False  # rows carry a second item (model.ranking_loss: bpr)

    @classmethod
    def fit(
        cls,
        train: pd.DataFrame,
        *,
        user_column: str,
        item_column: str,
        target_column: str | None,
        features: Sequence[str],
        implicit: bool,
        pairwise: bool = False,
    ) -> InteractionEncoder:
        """Item attributes go with items; every other side feature describes the user (or the context)."""
        item_side = side_of(train, item_column, features)
        user_side = [name for name in features if name not in item_side]
        return cls(
            user_column=user_column,
            item_column=item_column,
            target_column=target_column,
            users=IndexMap.fit(train[user_column]),
            items=IndexMap.fit(train[item_column]),
            user_features=SideFeatures.fit(train, user_side),
            item_features=SideFeatures.fit(train, item_side),
            implicit=implicit,
            pairwise=pairwise,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InteractionEncoder:
        return cls(
            **{
                **data,
                "users": IndexMap(**data["users"]),
                "items": IndexMap(**data["items"]),
                "user_features": SideFeatures(**data["user_features"]),
                "item_features": SideFeatures(**data["item_features"]),
            }
        )

    @property
    def pair_width(self) -> int:
        """Width of one user–item pair: [user, item, user side features, item side features]."""
        return row_widths(self.user_features.width, self.item_features.width, self.pairwise)[0]

    @property
    def width(self) -> int:
        """Width of a model input row: the pair, then (pairwise) the second item, its side features and the tally
        column (1 on one row per observed interaction; the model does not read it)."""
        return row_widths(self.user_features.width, self.item_features.width, self.pairwise)[1]

    def check_columns(self, frame: pd.DataFrame) -> None:
        needed = [self.user_column, self.item_column]
        needed += [c["name"] for c in self.user_features.columns + self.item_features.columns]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataError(
                f"the data has no column(s) {', '.join(map(repr, missing))}",
                field="data.path",
                hint=f"expected the columns the model was trained on: {', '.join(needed)}",
            )

    def inputs(self, frame: pd.DataFrame) -> np.ndarray:
        """[N, width] float32: user index, item index, user side features, item side features (pairwise: then
        the unknown item as the second one, zeros, and a tally of 1: each row is one interaction)."""
        self.check_columns(frame)
        users = self.users.lookup(frame[self.user_column]).astype(np.float32)[:, None]
        items = self.items.lookup(frame[self.item_column]).astype(np.float32)[:, None]
        blocks = [users, items, self.user_features.transform(frame), self.item_features.transform(frame)]
        if self.pairwise:
            blocks += [np.zeros((len(frame), 1 + self.item_features.width)), np.ones((len(frame), 1))]
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def targets(self, frame: pd.DataFrame) -> np.ndarray:
        """Ratings (float32), or 1.0 per observed interaction for implicit feedback."""
        if self.implicit or self.target_column is None:
            return np.ones(len(frame), dtype=np.float32)
        values = pd.to_numeric(frame[self.target_column], errors="coerce")
        if values.isna().any():
            row = values.index[int(np.flatnonzero(values.isna().to_numpy())[0])]
            raise DataError(
                f"the rating column '{self.target_column}' has {frame[self.target_column].loc[row]!r} at row {row}",
                field="data.target",
                hint="ratings must be numbers; leave out data.target for implicit feedback (clicks)",
            )
        return values.to_numpy(np.float32)


def negative_items(
    x_positive: np.ndarray,
    num_items: int,
    per_positive: int,
    seed: int,
    known_pairs: set[tuple[int, int]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(source, item): for each positive row, `per_positive` random items its user did not interact with.

    `source` is the positive row each sampled item belongs to; index 0 (unknown) is never sampled, and a user
    who has seen nearly every item gets fewer (a collision that 20 redraws cannot avoid is dropped).
    """
    if per_positive == 0 or len(x_positive) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    users = x_positive[:, 0].astype(np.int64)
    pairs = (
        known_pairs if known_pairs is not None else set(zip(users.tolist(), x_positive[:, 1].astype(np.int64).tolist()))
    )
    source = np.repeat(np.arange(len(x_positive)), per_positive)
    repeated = users[source]
    chosen = rng.integers(1, num_items, size=len(repeated))

    def clashes() -> np.ndarray:
        return np.fromiter(((u, i) in pairs for u, i in zip(repeated.tolist(), chosen.tolist())), bool, len(chosen))

    clash = clashes()
    for _ in range(20):  # resample the collisions with known interactions
        if not clash.any():
            break
        chosen[clash] = rng.integers(1, num_items, size=int(clash.sum()))
        clash = clashes()
    return source[~clash], chosen[~clash]


def sample_negatives(
    x_positive: np.ndarray,
    item_features: np.ndarray,
    per_positive: int,
    seed: int,
    known_pairs: set[tuple[int, int]] | None = None,
) -> np.ndarray:
    """`per_positive` rows per positive with the item replaced by a random item the user did not interact with.

    `item_features` holds, for each item index, that item's side features (the last columns of a row); the user
    part of each positive row is kept. Index 0 (unknown) is never sampled.
    """
    source, chosen = negative_items(x_positive, len(item_features), per_positive, seed, known_pairs)
    negatives = x_positive[source].copy()
    negatives[:, 1] = chosen.astype(np.float32)
    item_part = item_features[chosen]
    if item_part.shape[1]:
        negatives[:, negatives.shape[1] - item_part.shape[1] :] = item_part
    return negatives.astype(np.float32)


def sample_pairs(
    x_positive: np.ndarray,
    item_features: np.ndarray,
    per_positive: int,
    seed: int,
    known_pairs: set[tuple[int, int]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise (BPR) rows: each positive [user, item, …] followed by a sampled unseen item [item, features…]
    and a tally column, 1 on exactly one row per positive (so the interactions can be counted back).

    Half the rows, at random, have their two items swapped and the label 0 (1: the first item is the one the
    user chose): the loss −log σ(s_chosen − s_other) is the same either way, and the labels are not all one, so
    accuracy and AUC of the pair order can be logged. A positive whose user has seen nearly every item is paired
    with the unknown item rather than dropped. `x_positive` holds pair-width rows.
    """
    source, chosen = negative_items(x_positive, len(item_features), per_positive, seed, known_pairs)
    alone = np.setdiff1d(np.arange(len(x_positive)), source)
    source, chosen = np.concatenate([source, alone]), np.concatenate([chosen, np.zeros(len(alone), np.int64)])
    first = x_positive[source].astype(np.float32)
    second = np.concatenate([chosen[:, None].astype(np.float32), item_features[chosen]], axis=1)
    swap = np.random.default_rng(seed + 1).random(len(source)) < 0.5
    columns = item_columns(first.shape[1], item_features.shape[1])
    own = first[:, columns]
    first[np.ix_(swap, columns)] = second[swap]
    second[swap] = own[swap]
    tally = np.zeros((len(source), 1), dtype=np.float32)
    tally[np.unique(source, return_index=True)[1]] = 1.0
    return np.concatenate([first, second, tally], axis=1), (~swap).astype(np.float32)


def item_table(encoder: InteractionEncoder, frame: pd.DataFrame) -> np.ndarray:
    """For each item index, its item side features (from its first row in `frame`; zeros for unseen items)."""
    width = encoder.item_features.width
    table = np.zeros((len(encoder.items), width), dtype=np.float32)
    if width == 0:
        return table
    indices = encoder.items.lookup(frame[encoder.item_column])
    first = pd.Series(np.arange(len(frame))).groupby(indices).first()
    rows = frame.iloc[first.to_numpy()]
    table[first.index.to_numpy()] = encoder.item_features.transform(rows)
    return table


def user_table(encoder: InteractionEncoder, frame: pd.DataFrame) -> np.ndarray:
    """For each user index, its user side features (from its latest row in `frame`)."""
    width = encoder.user_features.width
    table = np.zeros((len(encoder.users), width), dtype=np.float32)
    if width == 0:
        return table
    indices = encoder.users.lookup(frame[encoder.user_column])
    last = pd.Series(np.arange(len(frame))).groupby(indices).last()
    table[last.index.to_numpy()] = encoder.user_features.transform(frame.iloc[last.to_numpy()])
    return table


def candidate_rows(
    user: int, user_features: np.ndarray, items: np.ndarray, item_features: np.ndarray, width: int | None = None
) -> np.ndarray:
    """Model inputs pairing one user index (with its side features) with each of `items`; columns past the pair
    (up to `width`, the pairwise rows' second item) stay zero: the unknown item."""
    pair = 2 + user_features.shape[-1] + item_features.shape[-1]
    rows = np.zeros((len(items), max(width or pair, pair)), dtype=np.float32)
    rows[:, 0] = user
    rows[:, 1] = items
    rows[:, 2 : 2 + user_features.shape[-1]] = user_features
    rows[:, 2 + user_features.shape[-1] : pair] = item_features[items]
    return rows


@dataclass
class InteractionSplits:
    """Model-ready arrays per split plus what ranking evaluation and recommendation need."""

    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    encoder: InteractionEncoder
    baselines: dict[str, float]
    cold_start: dict[str, int]
    positives: dict[str, np.ndarray]  # per split: [n, 2] (user index, item index) of observed interactions
    user_features: np.ndarray  # [num_users, width] side features per user index (training rows)
    item_features: np.ndarray  # [num_items, width] side features per item index (training rows)


def interaction_splits(
    frame: pd.DataFrame, data: Any, model: Any, seed: int, encoder: InteractionEncoder | None = None
) -> InteractionSplits:
    """Split, fit index maps and side features on training rows, add sampled negatives (implicit), baselines.

    `data` is the recipe's data section (user, item, target, features, split with by/column); `model` the
    recommender spec (feedback, negatives, top_k, ranking_loss).
    """
    from kproto.metrics.ranking import most_popular_report, rating_baselines

    for name, field_name in ((data.user, "data.user"), (data.item, "data.item")):
        if name is None or name not in frame.columns:
            raise DataError(
                f"the {field_name.split('.')[1]} column {name!r} is not in the data",
                field=field_name,
                hint=f"columns: {', '.join(list(frame.columns)[:15])}",
            )
    implicit = is_implicit(data, model)
    pairwise = implicit and getattr(model, "ranking_loss", "bce") == "bpr"
    if not implicit:
        frame = frame[frame[data.target].notna()]
    frame = frame.reset_index(drop=True)
    features = [c for c in (data.features or []) if c not in (data.user, data.item, data.target)]
    split = data.split
    rows = split_interactions(
        frame,
        data.user,
        getattr(split, "by", "random"),
        getattr(split, "column", None),
        split.validation,
        split.test,
        seed,
    )
    parts = dict(zip(("train", "validation", "test"), rows))
    if encoder is None:
        encoder = InteractionEncoder.fit(
            frame.iloc[parts["train"]],
            user_column=data.user,
            item_column=data.item,
            target_column=None if implicit else data.target,
            features=features,
            implicit=implicit,
            pairwise=pairwise,
        )
    items = item_table(encoder, frame.iloc[parts["train"]])
    users = user_table(encoder, frame.iloc[parts["train"]])
    arrays, positives, cold = {}, {}, {}
    known: set[tuple[int, int]] = set()
    for offset, name in enumerate(("train", "validation", "test")):
        part = frame.iloc[parts[name]]
        x, y = encoder.inputs(part), encoder.targets(part)
        positives[name] = x[:, :2].astype(np.int64)
        cold[f"{name}_unknown_users"] = int((x[:, 0] == 0).sum())
        cold[f"{name}_unknown_items"] = int((x[:, 1] == 0).sum())
        if implicit:
            known |= set(map(tuple, positives[name].tolist()))
        if encoder.pairwise:
            x, y = sample_pairs(x[:, : encoder.pair_width], items, model.negatives, seed + offset, known)
        elif implicit:
            negatives = sample_negatives(x, items, model.negatives, seed + offset, known)
            x = np.concatenate([x, negatives])
            y = np.concatenate([y, np.zeros(len(negatives), dtype=np.float32)])
        if implicit:
            order = np.random.default_rng(seed + 10 + offset).permutation(len(x))
            x, y = x[order], y[order]
        arrays[name] = (x, y)
    train_pos, test_pos = positives["train"], positives["test"]
    num_users, num_items = len(encoder.users), len(encoder.items)
    if implicit:
        baselines = most_popular_report(
            train_pos[:, 0], train_pos[:, 1], test_pos[:, 0], test_pos[:, 1], num_items, model.top_k
        )
    else:
        baselines = rating_baselines(
            train_pos[:, 0],
            train_pos[:, 1],
            arrays["train"][1],
            test_pos[:, 0],
            test_pos[:, 1],
            arrays["test"][1],
            num_users,
            num_items,
        )
    return InteractionSplits(arrays, encoder, baselines, cold, positives, users, items)


def is_implicit(data: Any, model: Any) -> bool:
    """Implicit feedback when the recipe says so, or (feedback: auto) when it names no rating column."""
    feedback = getattr(model, "feedback", "auto")
    if feedback == "auto":
        return data.target is None
    if feedback == "explicit" and data.target is None:
        raise DataError(
            "explicit feedback needs the rating column",
            field="data.target",
            hint="name it, or set model.feedback: implicit",
        )
    return feedback == "implicit"


def interactions_dataset(recipe: Recipe, frame: pd.DataFrame, preprocessor: Preprocessor | None = None) -> Any:
    """The Dataset of a recommender recipe; with a saved `preprocessor` the index maps are reused."""
    from kproto.data.preprocess import Preprocessor
    from kproto.data.types import DataInfo, Dataset

    saved = InteractionEncoder.from_dict(preprocessor.state["interactions"]) if preprocessor is not None else None
    splits = interaction_splits(frame, recipe.data, recipe.model, recipe.seed, saved)
    encoder = splits.encoder
    task = "ranking" if encoder.implicit else "regression"
    pre = preprocessor or Preprocessor(
        {
            "kind": "interactions",
            "task": task,
            "features": [c["name"] for c in encoder.user_features.columns + encoder.item_features.columns],
            "interactions": encoder.to_dict(),
            "ranking": {"top_k": recipe.model.top_k},
        }
    )
    y_train = splits.arrays["train"][1]
    info = DataInfo(task=task, kind="interactions", input_shape=(encoder.width,), layout=interaction_layout(encoder))
    if not encoder.implicit:
        info.target_mean, info.target_std = float(y_train.mean()), float(y_train.std() or 1.0)
    info.rows = {name: int(len(x)) for name, (x, _) in splits.arrays.items()}
    arrays = splits.arrays
    dataset = Dataset(*arrays["train"], *arrays["validation"], *arrays["test"], info=info, preprocessor=pre)
    dataset.baselines = splits.baselines
    return dataset


def interaction_layout(encoder: InteractionEncoder) -> dict[str, int]:
    """What the model builder needs to unpack the one input array (DataInfo.layout)."""
    return {
        "num_users": len(encoder.users),
        "num_items": len(encoder.items),
        "user_features": encoder.user_features.width,
        "item_features": encoder.item_features.width,
        "pairwise": int(encoder.pairwise),
    }


def interaction_rows(pre: Preprocessor, frame: pd.DataFrame, need_target: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Model inputs (and ratings, when wanted and present) for the raw user–item rows of a new file."""
    encoder = InteractionEncoder.from_dict(pre.state["interactions"])
    x = encoder.inputs(frame)
    if not need_target:
        return x, None
    if not encoder.implicit and encoder.target_column not in frame.columns:
        raise DataError(
            f"the data has no rating column '{encoder.target_column}'",
            field="data.target",
            hint="evaluate needs the true ratings; use kproto predict to score pairs without them",
        )
    return x, encoder.targets(frame)
