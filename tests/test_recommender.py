"""User–item data (index maps, splits, side features, negatives) and the recommender family."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from kproto.core.errors import DataError
from kproto.data.interactions import (
    IndexMap,
    InteractionEncoder,
    SideFeatures,
    candidate_rows,
    interaction_splits,
    sample_negatives,
    side_of,
    split_interactions,
)


def _ratings(n_users: int = 30, n_items: int = 40, rows: int = 900, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, n_users, rows), rng.integers(0, n_items, rows)
    genres = np.array(["Action|Comedy", "Drama", "Comedy", "Drama|Romance"])[np.arange(n_items) % 4]
    return pd.DataFrame(
        {
            "user": [f"u{u}" for u in users],
            "item": items,
            "rating": np.clip(3 + 0.05 * users - 0.04 * items + rng.normal(0, 0.3, rows), 0.5, 5),
            "time": rng.permutation(rows),
            "genres": genres[items],
        }
    )


def test_index_map_sends_unseen_values_to_zero() -> None:
    index = IndexMap.fit(pd.Series(["b", "a", "b", "c"]))
    assert index.values == ["b", "a", "c"] and len(index) == 4
    assert index.lookup(["a", "b", "zzz"]).tolist() == [2, 1, 0]
    assert index.value(1) == "b" and index.value(0) is None


@pytest.mark.parametrize("by", ["random", "user", "time"])
def test_splits_partition_rows_and_are_seeded(by: str) -> None:
    frame = _ratings()
    parts = split_interactions(frame, "user", by, "time", 0.1, 0.2, seed=3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(frame)))
    again = split_interactions(frame, "user", by, "time", 0.1, 0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


def test_time_split_has_no_future_in_training() -> None:
    frame = _ratings()
    train, val, test = split_interactions(frame, "user", "time", "time", 0.1, 0.2, seed=0)
    times = frame["time"].to_numpy()
    assert times[train].max() <= times[val].min() and times[val].max() <= times[test].min()


def test_user_split_holds_out_each_users_latest_interactions() -> None:
    frame = _ratings()
    train, _, test = split_interactions(frame, "user", "user", "time", 0.1, 0.2, seed=0)
    latest_train = frame.iloc[train].groupby("user")["time"].max()
    earliest_test = frame.iloc[test].groupby("user")["time"].min()
    assert (latest_train.reindex(earliest_test.index) <= earliest_test).all()
    assert set(frame.iloc[test]["user"]) <= set(frame.iloc[train]["user"])  # no cold users in a user split


def test_split_errors_name_the_field() -> None:
    with pytest.raises(DataError) as caught:
        split_interactions(_ratings(), "user", "time", None, 0.1, 0.1, seed=0)
    assert caught.value.field == "data.split.column"
    with pytest.raises(DataError, match="not in the data"):
        split_interactions(_ratings(), "user", "time", "when", 0.1, 0.1, seed=0)


def test_side_features_multi_hot_and_numeric() -> None:
    frame = pd.DataFrame({"genres": ["A|B", "B", None], "year": [1990.0, 2000.0, None]})
    side = SideFeatures.fit(frame, ["genres", "year"])
    assert side.width == 3
    out = side.transform(pd.DataFrame({"genres": ["B|A", "C"], "year": [1995.0, None]}))
    assert out[:, :2].tolist() == [[1, 1], [0, 0]]  # labels ordered by frequency: B, A; unknown C ignored
    assert out[0, 2] == pytest.approx(0.0)


def test_item_attributes_are_told_apart_from_user_columns() -> None:
    frame = _ratings()
    frame["age"] = frame["user"].str[1:].astype(int)
    assert side_of(frame, "item", ["genres", "age"]) == ["genres"]
    encoder = InteractionEncoder.fit(
        frame,
        user_column="user",
        item_column="item",
        target_column="rating",
        features=["genres", "age"],
        implicit=False,
    )
    assert [c["name"] for c in encoder.item_features.columns] == ["genres"]
    assert [c["name"] for c in encoder.user_features.columns] == ["age"]
    x = encoder.inputs(frame.head(3))
    assert x.shape == (3, encoder.width) and x.dtype == np.float32
    assert InteractionEncoder.from_dict(encoder.to_dict()) == encoder


def test_negatives_avoid_known_pairs_and_carry_item_features() -> None:
    item_features = np.arange(20, dtype=np.float32)[:, None] * 10
    positives = np.array([[1, 2, 0.5, 20.0], [2, 3, 0.1, 30.0]], dtype=np.float32)
    known = {(1, i) for i in range(1, 16)} | {(2, 3)}
    negatives = sample_negatives(positives, item_features, 5, seed=0, known_pairs=known)
    assert negatives.shape == (10, 4)
    crowded = sample_negatives(positives[:1], item_features[:3], 4, seed=0, known_pairs={(1, 1), (1, 2)})
    assert len(crowded) == 0  # nothing left to sample: no row rather than a wrong one
    for row in negatives:
        assert (int(row[0]), int(row[1])) not in known and row[1] != 0
        assert row[3] == item_features[int(row[1]), 0]
    assert np.all(negatives[negatives[:, 0] == 1, 2] == 0.5)  # the user part is kept


def test_pairs_keep_a_user_who_has_seen_every_item() -> None:
    from kproto.data.interactions import sample_pairs

    item_features = np.zeros((3, 0), dtype=np.float32)
    positives = np.array([[1, 1], [1, 2], [2, 1]], dtype=np.float32)
    known = {(1, 1), (1, 2), (2, 1)}
    rows, labels = sample_pairs(positives, item_features, 2, seed=0, known_pairs=known)
    tally = rows[:, -1]
    assert tally.sum() == 3  # each interaction counted once
    crowded = rows[rows[:, 0] == 1]
    assert len(crowded) == 2 and set(crowded[:, 1:3].ravel().astype(int)) == {0, 1, 2}  # paired with unknown
    assert np.all(rows[rows[:, 0] == 2][:, 1:3].max(axis=1) == 2)  # user 2 gets the one item left, twice
    assert set(np.unique(labels)) <= {0.0, 1.0}


def _data(target: str | None, by: str = "time", features: list[str] | None = None) -> SimpleNamespace:
    split = SimpleNamespace(validation=0.1, test=0.2, by=by, column="time")
    return SimpleNamespace(user="user", item="item", target=target, features=features, split=split)


def test_explicit_splits_report_rating_baselines_and_cold_start() -> None:
    frame = _ratings()
    frame.loc[frame["time"] > 850, "user"] = "newcomer"
    spec = SimpleNamespace(feedback="auto", negatives=2, top_k=5)
    splits = interaction_splits(frame, _data("rating"), spec, seed=0)
    assert {"global_mean_rmse", "user_item_bias_rmse", "user_item_bias_mae"} <= set(splits.baselines)
    assert splits.baselines["user_item_bias_rmse"] < splits.baselines["global_mean_rmse"]
    assert splits.cold_start["test_unknown_users"] > 0 and splits.cold_start["train_unknown_users"] == 0
    x, y = splits.arrays["train"]
    assert x.shape[1] == 2 and y.dtype == np.float32


def test_implicit_splits_sample_negatives_and_rank_most_popular() -> None:
    spec = SimpleNamespace(feedback="auto", negatives=3, top_k=5)
    splits = interaction_splits(_ratings(), _data(None, "user", ["genres"]), spec, seed=0)
    x, y = splits.arrays["train"]
    assert set(np.unique(y)) == {0.0, 1.0} and (y == 0).sum() == 3 * (y == 1).sum()
    assert x.shape[1] == 2 + splits.encoder.item_features.width
    assert "most_popular_ndcg@5" in splits.baselines
    rows = candidate_rows(1, splits.user_features[1], np.arange(4), splits.item_features)
    assert rows.shape == (4, x.shape[1]) and rows[:, 1].tolist() == [0, 1, 2, 3]


def test_bpr_splits_pair_each_interaction_with_an_unseen_item() -> None:
    from kproto.outputs.recommend import observed

    spec = SimpleNamespace(feedback="implicit", negatives=3, top_k=5, ranking_loss="bpr")
    frame = _ratings()
    splits = interaction_splits(frame, _data(None, "user", ["genres"]), spec, seed=0)
    encoder, (x, y) = splits.encoder, splits.arrays["train"]
    item_width, pair = encoder.item_features.width, encoder.pair_width
    assert encoder.pairwise and x.shape[1] == encoder.width == pair + 2 + item_width  # item₂, its sides, tally
    assert set(np.unique(y)) == {0.0, 1.0} and 0.3 < y.mean() < 0.7  # half the pairs swapped
    chosen = np.where(y == 1, x[:, 1], x[:, pair]).astype(int)
    other = np.where(y == 1, x[:, pair], x[:, 1]).astype(int)
    seen = set(map(tuple, splits.positives["train"].tolist()))
    users = x[:, 0].astype(int)
    assert all((u, i) in seen for u, i in zip(users, chosen))
    assert not any((u, i) in seen for u, i in zip(users, other)) and (other > 0).all()
    assert np.array_equal(x[:, pair + 1 : -1], splits.item_features[x[:, pair].astype(int)])  # second item's side
    positives = observed(x, y, encoder)  # each interaction once, by the tally column
    assert positives.shape == (len(splits.positives["train"]), pair)
    assert sorted(map(tuple, positives[:, :2].astype(int).tolist())) == sorted(
        map(tuple, splits.positives["train"].tolist())
    )
    single = encoder.inputs(frame.head(2))
    assert single.shape == (2, encoder.width) and not single[:, pair:-1].any()  # second item: the unknown slot
    assert (single[:, -1] == 1).all() and len(observed(single, np.ones(2), encoder)) == 2
    again = InteractionEncoder.from_dict({k: v for k, v in encoder.to_dict().items() if k != "pairwise"})
    assert not again.pairwise  # a run saved before pairwise rows reads as pointwise


def test_explicit_feedback_without_ratings_is_refused() -> None:
    spec = SimpleNamespace(feedback="explicit", negatives=1, top_k=5)
    with pytest.raises(DataError) as caught:
        interaction_splits(_ratings(), _data(None), spec, seed=0)
    assert caught.value.field == "data.target"


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["matrix_factorization", "two_tower", "neural_cf"])
@pytest.mark.parametrize("objective", ["ratings", "bce", "bpr"])
def test_each_architecture_trains_scores_cold_start_and_reloads(architecture: str, objective: str, tmp_path) -> None:
    import keras

    from kproto.data.interactions import interaction_layout
    from kproto.models.recommender import Recommender, build, item_embeddings

    loss = "bce" if objective == "ratings" else objective
    spec = Recommender(type="recommender", architecture=architecture, embedding_dim=8, units=[16], ranking_loss=loss)
    implicit = objective != "ratings"
    splits = interaction_splits(_ratings(), _data(None if implicit else "rating", features=["genres"]), spec, seed=0)
    encoder = splits.encoder
    x, y = splits.arrays["train"]
    task = "ranking" if implicit else "regression"
    info = SimpleNamespace(task=task, target_mean=float(y.mean()), layout=interaction_layout(encoder))
    model = build(spec, info)
    assert model.input_shape == (None, encoder.width)
    model.compile("adam", "binary_crossentropy" if implicit else "mse")
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    cold = x[:3].copy()
    cold[:, :2] = 0  # unknown user and item
    predictions = model.predict(np.concatenate([x[:3], cold]), verbose=0)
    assert predictions.shape == (6, 1) and np.isfinite(predictions).all()
    if implicit:
        assert ((predictions >= 0) & (predictions <= 1)).all()
    if objective == "bpr":  # σ(s₁ − s₂): swapping the two items gives the complement
        pair, users = encoder.pair_width, 2 + encoder.user_features.width
        first, second = [x[:, 1:2], x[:, users:pair]], [x[:, pair : pair + 1], x[:, pair + 1 : -1]]
        swapped = np.concatenate([x[:, :1], second[0], x[:, 2:users], second[1], *first, x[:, -1:]], axis=1)
        both = model.predict(x[:20], verbose=0) + model.predict(swapped[:20], verbose=0)
        assert np.allclose(both, 1.0, atol=1e-5)
    assert item_embeddings(model).shape == (len(encoder.items), 8)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert np.allclose(reloaded.predict(x[:5], verbose=0), model.predict(x[:5], verbose=0), atol=1e-5)


def _oracle_setup():
    """Two users, five items; user u1 saw items 1-2 in training and 3 in test; scores favour item 3 then 4."""
    frame = pd.DataFrame({"user": ["u1", "u1", "u2", "u2", "u2"], "item": [1, 2, 3, 4, 5]})
    encoder = InteractionEncoder.fit(
        frame, user_column="user", item_column="item", target_column=None, features=[], implicit=True
    )
    index = {value: i + 1 for i, value in enumerate(encoder.items.values)}
    x_train = encoder.inputs(frame.iloc[:2])
    train = (x_train, np.ones(2, dtype=np.float32))
    test = (encoder.inputs(pd.DataFrame({"user": ["u1"], "item": [3]})), np.ones(1, dtype=np.float32))
    preference = {index["3"]: 0.9, index["4"]: 0.8, index["1"]: 1.0, index["2"]: 1.0}

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.array([preference.get(int(i), 0.1) for i in rows[:, 1]])[:, None]

    return encoder, train, test, predict


def test_recommendations_skip_seen_items_and_ranking_uses_them() -> None:
    from kproto.outputs.recommend import ranking_evaluation, recommend_for_user

    encoder, train, test, predict = _oracle_setup()
    top = recommend_for_user(predict, encoder, train, "u1", 2)
    assert [row["item"] for row in top] == ["3", "4"] and top[0]["known_user"]
    report = ranking_evaluation(predict, encoder, train, test, k=1)
    assert report["recall@1"] == 1.0 and report["ndcg@1"] == 1.0
    stranger = recommend_for_user(predict, encoder, train, "nobody", 1)
    assert stranger[0]["known_user"] is False


def test_similar_items_by_cosine() -> None:
    from kproto.core.errors import KprotoError
    from kproto.outputs.recommend import similar_items

    encoder, *_ = _oracle_setup()
    embeddings = np.zeros((len(encoder.items), 2))
    index = {value: i + 1 for i, value in enumerate(encoder.items.values)}
    embeddings[index["1"]] = [1, 0]
    embeddings[index["2"]] = [0.9, 0.1]
    embeddings[index["3"]] = [0, 1]
    assert similar_items(embeddings, encoder, "1", 1)[0]["item"] == "2"
    with pytest.raises(KprotoError) as caught:
        similar_items(embeddings, encoder, "404", 1)
    assert caught.value.field == "--similar"


def test_rating_evaluation_reports_cold_start_rows_apart() -> None:
    from kproto.outputs.recommend import rating_evaluation

    x = np.array([[1, 1], [0, 2], [3, 0]], dtype=np.float32)
    report = rating_evaluation(lambda rows: np.full(len(rows), 3.0), x, np.array([3.0, 4.0, 5.0]))
    assert report["cold_start_rows"] == 2 and report["warm_rmse"] == 0.0
    assert report["cold_start_rmse"] == pytest.approx(np.sqrt((1 + 4) / 2))


# ----------------------------------------------------------------------------- through the CLI
RATINGS_RECIPE = """
data: {{path: {path}, user: user, item: item, target: rating, split: {{by: time, column: time}}}}
model: {{type: recommender, architecture: {architecture}, embedding_dim: 8, units: [16]}}
train: {{epochs: 2, batch_size: 64}}
"""
CLICKS_RECIPE = """
data: {{path: {path}, user: user, item: item, features: [genres], split: {{by: user, column: time}}}}
model: {{type: recommender, architecture: two_tower, embedding_dim: 8, units: [16], negatives: 2, top_k: 5}}
train: {{epochs: 1, batch_size: 64}}
"""


def _ratings_file(folder) -> str:
    path = folder / "ratings.csv"
    _ratings().to_csv(path, index=False)
    return str(path)


def test_recipes_need_user_and_item(runner, make_recipe, tmp_path) -> None:
    from kproto.cli import cli

    good = make_recipe(RATINGS_RECIPE.format(path=_ratings_file(tmp_path), architecture="matrix_factorization"))
    assert runner.invoke(cli, ["validate", str(good)]).exit_code == 0
    result = runner.invoke(cli, ["validate", str(good), "--set", "data.item=null"])
    assert result.exit_code == 2 and "data.item" in result.output
    result = runner.invoke(cli, ["validate", str(good), "--set", "data.split.column=when"])
    assert result.exit_code == 2 and "data.split.column" in result.output
    clicks = make_recipe(CLICKS_RECIPE.format(path=_ratings_file(tmp_path)), name="clicks.yaml")
    assert runner.invoke(cli, ["validate", str(clicks)]).exit_code == 0  # implicit feedback: no data.target


@pytest.mark.slow
def test_ratings_train_evaluate_and_predict_through_the_cli(runner, make_recipe, tmp_path) -> None:
    import json

    from kproto.cli import cli

    recipe = make_recipe(RATINGS_RECIPE.format(path=_ratings_file(tmp_path), architecture="matrix_factorization"))
    out = tmp_path / "runs"
    result = runner.invoke(cli, ["train", str(recipe), "--out", str(out), "--backend", "tensorflow"])
    assert result.exit_code == 0, result.output
    (metrics_file,) = out.glob("*/*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert {"rmse", "mae", "cold_start_rows"} <= set(metrics["report"])
    assert {"global_mean", "user_item_bias"} <= set(metrics["baselines"])
    assert "rmse" in metrics["baselines"]["user_item_bias"]
    run = str(metrics_file.parent)
    result = runner.invoke(cli, ["predict", run, "--user", "u3", "--top", "4"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(__import__("io").StringIO(result.output))
    assert list(rows.columns) == ["rank", "item", "score", "known_user"] and len(rows) == 4
    seen = set(_ratings().query("user == 'u3'")["item"])
    assert not (set(rows["item"]) & seen) or len(seen) > 30  # training items of u3 are left out
    result = runner.invoke(cli, ["predict", run, "--similar", "5", "--top", "3"])
    assert result.exit_code == 0 and len(result.output.strip().splitlines()) == 4
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"user": ["u1", "stranger"], "item": [1, 999], "rating": [3.0, 4.0]}).to_csv(pairs, index=False)
    result = runner.invoke(cli, ["predict", run, "--data", str(pairs)])
    assert result.exit_code == 0 and "prediction" in result.output.splitlines()[0]
    result = runner.invoke(cli, ["evaluate", run, "--data", str(pairs), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["report"]["cold_start_rows"] == 1
    result = runner.invoke(cli, ["predict", run, "--user", "u1", "--data", str(pairs)])
    assert result.exit_code == 2


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_implicit_feedback_ranks_through_the_cli(runner, make_recipe, tmp_path, loss: str) -> None:
    import json

    from kproto.cli import cli

    recipe = make_recipe(CLICKS_RECIPE.format(path=_ratings_file(tmp_path)))
    out = tmp_path / "runs"
    options = ["--out", str(out), "--backend", "tensorflow", "--set", f"model.ranking_loss={loss}"]
    result = runner.invoke(cli, ["train", str(recipe), *options])
    assert result.exit_code == 0, result.output
    (metrics_file,) = out.glob("*/*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert {"recall@5", "ndcg@5", "hit_rate@5"} <= set(metrics["report"])
    assert "ndcg@5" in metrics["baselines"]["most_popular"]
    result = runner.invoke(cli, ["evaluate", str(metrics_file.parent), "--json"])
    assert result.exit_code == 0 and "ndcg@5" in json.loads(result.output)["report"]
    result = runner.invoke(cli, ["predict", str(metrics_file.parent), "--user", "u3", "--top", "3"])
    assert result.exit_code == 0, result.output
    listed = pd.read_csv(__import__("io").StringIO(result.output))
    assert len(listed) == 3 and listed["score"].is_monotonic_decreasing


def test_new_writes_a_recipe_that_validates(runner, tmp_path) -> None:
    from kproto.cli import cli

    out = tmp_path / "starter.yaml"
    data = Path(__file__).resolve().parent.parent / "data" / "movielens.csv"
    assert runner.invoke(cli, ["new", "recommender", "--data", str(data), "--out", str(out)]).exit_code == 0
    text = out.read_text()
    assert "user: userId" in text and "item: movieId" in text and "target: rating" in text
    assert runner.invoke(cli, ["validate", str(out)]).exit_code == 0


def test_new_starts_clicks_data_on_the_pairwise_loss(runner, tmp_path) -> None:
    from kproto.cli import cli

    clicks = tmp_path / "clicks.csv"
    _ratings().drop(columns=["rating"]).to_csv(clicks, index=False)
    out = tmp_path / "clicks.yaml"
    assert runner.invoke(cli, ["new", "recommender", "--data", str(clicks), "--out", str(out)]).exit_code == 0
    text = out.read_text()
    assert "ranking_loss: bpr" in text and "  target:" not in text  # no rating column: implicit feedback
    assert runner.invoke(cli, ["validate", str(out)]).exit_code == 0


@pytest.mark.parametrize(
    ("fields", "rows", "expected"),
    [
        ({}, 10_000, (3.0 / 10_000, 5.0 / 10_000)),  # unset: shrinkages spread over the training rows
        ({}, 0, (1e-5, 1e-5)),  # rows unknown
        ({"embedding_l2": 0.001}, 10_000, (0.001, 0.001)),  # a set embedding_l2 covers the biases, as before
        ({"embedding_l2": 0.0}, 10_000, (0.0, 0.0)),
        ({"bias_l2": 0.01}, 10_000, (3.0 / 10_000, 0.01)),
        ({"embedding_l2": 0.001, "bias_l2": 0.0}, 10_000, (0.001, 0.0)),
    ],
)
def test_penalties_scale_with_the_training_rows_unless_set(fields: dict, rows: int, expected: tuple) -> None:
    from kproto.models.recommender import Recommender, penalties

    spec = Recommender(type="recommender", **fields)
    assert penalties(spec, rows) == pytest.approx(expected)


def test_built_tables_carry_their_penalties() -> None:
    from kproto.data.types import DataInfo
    from kproto.models import build_model
    from kproto.models.recommender import Recommender

    layout = {"num_users": 5, "num_items": 7, "user_features": 0, "item_features": 0, "pairwise": 0}
    info = DataInfo(task="regression", kind="interactions", input_shape=(2,), layout=layout, target_mean=3.5)
    info.rows = {"train": 2_000}
    model = build_model(Recommender(type="recommender", embedding_dim=4), info)
    assert model.get_layer("user_embedding").l2 == pytest.approx(3.0 / 2_000)
    assert model.get_layer("item_bias").l2 == pytest.approx(5.0 / 2_000)


def test_rating_biases_start_at_the_bias_baseline() -> None:
    from kproto.data.types import DataInfo
    from kproto.metrics.ranking import BiasBaseline
    from kproto.models import build_model
    from kproto.models.recommender import BIAS_SHRINKAGE, BIAS_SHRINKAGES, Recommender

    rng = np.random.default_rng(0)
    users, items = rng.integers(1, 5, 200), rng.integers(1, 7, 200)
    ratings = (3.0 + 0.4 * users - 0.3 * items + rng.normal(0, 0.2, 200)).astype(np.float32)
    layout = {"num_users": 5, "num_items": 7, "user_features": 0, "item_features": 0, "pairwise": 0}
    info = DataInfo(
        task="regression", kind="interactions", input_shape=(2,), layout=layout, target_mean=float(ratings.mean())
    )
    info.rows = {"train": 200}
    spec = Recommender(type="recommender", embedding_dim=4)
    model = build_model(spec, info)
    x = np.stack([users, items], axis=1).astype(np.float32)
    spec.initialize(model, SimpleNamespace(info=info, x_train=x, y_train=ratings, x_val=None, y_val=None))
    expected = BiasBaseline.fit(users, items, ratings, 5, 7, regularization=BIAS_SHRINKAGE)
    assert np.allclose(model.get_layer("user_bias").get_weights()[0][:, 0], expected.user_bias, atol=1e-5)
    assert np.allclose(model.get_layer("item_bias").get_weights()[0][:, 0], expected.item_bias, atol=1e-5)
    assert not model.get_layer("user_bias").trainable  # held: the embeddings learn the rest
    # with validation rows the shrinkage is picked on them
    model = build_model(spec, info)
    split = SimpleNamespace(info=info, x_train=x[:150], y_train=ratings[:150], x_val=x[150:], y_val=ratings[150:])
    spec.initialize(model, split)
    train = (users[:150], items[:150], ratings[:150])
    picked, _ = BiasBaseline.tuned(train, (users[150:], items[150:], ratings[150:]), 5, 7, BIAS_SHRINKAGES)
    assert np.allclose(model.get_layer("user_bias").get_weights()[0][:, 0], picked.user_bias, atol=1e-5)
    assert np.allclose(model.get_layer("item_bias").get_weights()[0][:, 0], picked.item_bias, atol=1e-5)
    # a recipe that sets its penalties trains every table from the start, as before
    pinned = Recommender(type="recommender", embedding_dim=4, embedding_l2=0.001)
    model = build_model(pinned, info)
    pinned.initialize(model, split)
    assert model.get_layer("item_bias").trainable
    assert not np.any(model.get_layer("item_bias").get_weights()[0])
    implicit = DataInfo(task="ranking", kind="interactions", input_shape=(2,), layout=layout)
    clicks = build_model(spec, implicit)
    before = clicks.get_layer("user_bias").get_weights()[0].copy()
    clicked = SimpleNamespace(info=implicit, x_train=x, y_train=np.ones(200, np.float32), x_val=None, y_val=None)
    spec.initialize(clicks, clicked)
    assert np.array_equal(clicks.get_layer("user_bias").get_weights()[0], before)  # implicit feedback: untouched
