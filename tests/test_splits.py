"""kproto.data.splits: seeded, stratified splits that partition the rows in the asked sizes."""

from __future__ import annotations

import numpy as np
import pytest

from kproto.data.splits import split_indices


def labels_for(n: int, shares: tuple[float, ...], seed: int = 0) -> np.ndarray:
    counts = np.floor(np.asarray(shares) * n).astype(int)
    counts[0] += n - counts.sum()
    labels = np.repeat([f"c{i}" for i in range(len(shares))], counts)
    return np.random.default_rng(seed).permutation(labels)


@pytest.mark.parametrize("stratified", [True, False])
def test_split_is_seeded(stratified: bool) -> None:
    labels = labels_for(500, (0.6, 0.3, 0.1)) if stratified else None
    first = split_indices(500, 0.15, 0.15, 7, labels)
    again = split_indices(500, 0.15, 0.15, 7, labels)
    other = split_indices(500, 0.15, 0.15, 8, labels)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(set(a.tolist()) != set(c.tolist()) for a, c in zip(first, other, strict=True))


@pytest.mark.parametrize(("n", "validation", "test"), [(500, 0.15, 0.15), (1000, 0.1, 0.2), (300, 0.2, 0.0)])
def test_split_is_a_partition_with_the_asked_sizes(n: int, validation: float, test: float) -> None:
    train, val, tst = split_indices(n, validation, test, 3, labels_for(n, (0.5, 0.5)))
    together = np.concatenate([train, val, tst])
    assert sorted(together.tolist()) == list(range(n))
    assert abs(len(val) - n * validation) <= 2
    assert abs(len(tst) - n * test) <= 2


@pytest.mark.parametrize("shares", [(0.6, 0.3, 0.1), (0.9, 0.1), (0.25, 0.25, 0.25, 0.25)])
def test_split_keeps_class_shares(shares: tuple[float, ...]) -> None:
    n = 1000
    labels = labels_for(n, shares, seed=1)
    for part in split_indices(n, 0.15, 0.15, 11, labels):
        for i, share in enumerate(shares):
            got = np.mean(labels[part] == f"c{i}")
            assert abs(got - share) <= 1.0 / len(part) + 1e-9, (i, got, share)


@pytest.mark.parametrize(("validation", "test", "need"), [(0.15, 0.15, 4), (0.2, 0.2, 3), (0.0, 0.2, 3), (0.0, 0.0, 1)])
def test_min_rows_per_split(validation: float, test: float, need: int) -> None:
    from kproto.data.splits import min_rows_per_split

    assert min_rows_per_split(validation, test) == need
