"""How long `kproto inspect` takes to profile a table of 100,000 rows x 20 columns (the target: under 2 s).

    python bench/inspect_speed.py            # 3 repeats, prints each time and the best

The table mixes what the audit looks for: numbers, small and large categories, an ID, a date, free text, a constant,
gaps, a leak. The time covers reading the CSV and profiling it (kproto.data.audit.inspect_file), not the imports.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 100_000


def make_table(path: Path, rows: int = ROWS, seed: int = 0) -> None:
    """A 20-column CSV of `rows` rows."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"id": np.arange(rows) + 1_000_000}
    for i in range(9):
        values = rng.normal(size=rows)
        values[rng.random(rows) < 0.05] = np.nan
        columns[f"x{i}"] = values
    for i in range(4):
        columns[f"c{i}"] = rng.choice([f"v{j}" for j in range(3 + 5 * i)], rows)
    columns["city"] = rng.choice([f"city {j}" for j in range(2000)], rows)
    columns["date"] = pd.Timestamp("2010-01-01") + pd.to_timedelta(rng.integers(0, 4000, rows), unit="D")
    columns["note"] = [f"free text about row {i} with a few more words in it to be long" for i in range(rows)]
    columns["const"] = "same"
    label = np.where(columns["x0"] > 0, "yes", "no")
    columns["leak"] = (label == "yes").astype(float)
    columns["label"] = label
    pd.DataFrame(columns).to_csv(path, index=False)


def main() -> int:
    from kproto.data.audit import inspect_file

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wide.csv"
        make_table(path)
        times = []
        for repeat in range(3):
            began = time.perf_counter()
            audit = inspect_file(path, "label")
            times.append(time.perf_counter() - began)
            print(f"repeat {repeat + 1}: {times[-1]:.2f} s ({audit.rows} rows x {len(audit.columns)} columns)")
    codes = sorted(audit.codes())
    print(f"best of 3: {min(times):.2f} s to profile {ROWS} rows x 20 columns (target: under 2 s); warnings: {codes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
