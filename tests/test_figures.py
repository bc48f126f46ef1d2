"""`kproto plot` (kproto.commands.figures.plot_run) on real tiny runs: which figures each task gets, and why others are not."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from kproto.cli import cli

ROOT = Path(__file__).resolve().parent.parent
TF = ["--backend", "tensorflow"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow  # every test here plots a trained run

BINARY = """\
name: tiny
seed: 7
data: {path: tiny.csv, target: label}
model: {type: feedforward, units: [8], dropout: 0.0}
train: {optimizer: {name: adam, learning_rate: 0.001}, epochs: 2, batch_size: 16}
"""
CONDITIONAL_GAN = """\
name: cgan
seed: 5
data: {path: digits.csv, target: label, shape: [8, 8, 1]}
model: {type: gan, latent_dim: 8, conditional: true, generator: {units: [16]}, discriminator: {units: [16]}}
train: {epochs: 1, batch_size: 32}
"""


def check_png(path: Path) -> None:
    """A real PNG image of a sensible size."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    image = plt.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50


def _invoke(args: list[object]) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished tiny binary-classification run and a one-epoch conditional GAN on digits."""
    folder = tmp_path_factory.mktemp("figures")
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=120), rng.normal(size=120)
    label = np.where(x1 + 0.5 * x2 > 0, "yes", "no")
    pd.DataFrame({"x1": x1, "x2": x2, "label": label}).to_csv(folder / "tiny.csv", index=False)
    pd.read_csv(ROOT / "data" / "digits.csv").head(240).to_csv(folder / "digits.csv", index=False)
    (folder / "tiny.yaml").write_text(BINARY)
    (folder / "cgan.yaml").write_text(CONDITIONAL_GAN)
    out = folder / "runs"
    _invoke(["train", folder / "tiny.yaml", "--out", out, *TF])
    _invoke(["train", folder / "cgan.yaml", "--out", out, *TF])
    return {"folder": folder, "binary": next((out / "tiny").iterdir()), "gan": next((out / "cgan").iterdir())}


def test_evaluate_draws_nothing_and_plot_draws_the_binary_figures(runs: dict[str, Path]) -> None:
    run = runs["binary"]
    _invoke(["evaluate", run])
    assert not (run / "confusion.png").exists()  # drawing is `kproto plot`'s job
    output = _invoke(["plot", run]).output
    for name in ("curves.png", "confusion.png", "reliability.png", "roc.png", "precision_recall.png", "robustness.png"):
        assert name in output
        check_png(run / name)


def test_plot_on_a_conditional_gan_writes_samples(runs: dict[str, Path]) -> None:
    run = runs["gan"]
    result = _invoke(["plot", run])
    assert f"wrote {run / 'samples.png'}" in result.stdout
    assert "samples.png" not in result.stderr  # not skipped
    check_png(run / "samples.png")
    check_png(run / "curves.png")


def test_plot_run_samples_through_the_family_sampling_path(runs: dict[str, Path]) -> None:
    from kproto.commands.figures import SAMPLE_COUNT, plot_run

    written, skipped = plot_run(runs["gan"])
    assert [p.name for p in written] == ["curves.png", "samples.png"] and skipped == []
    assert SAMPLE_COUNT == 36


def test_plot_says_why_figures_are_skipped(runs: dict[str, Path], tmp_path: Path) -> None:
    from kproto.commands.figures import plot_run

    copy = tmp_path / "tiny" / "20200101-000000"
    shutil.copytree(runs["binary"], copy)
    (copy / "history.csv").unlink()
    written, skipped = plot_run(copy)
    assert any("curves.png: the run has no history.csv" in reason for reason in skipped)
    assert {p.name for p in written} == {
        "confusion.png",
        "reliability.png",
        "roc.png",
        "precision_recall.png",
        "robustness.png",
    }
    (runs["folder"] / "tiny.csv").rename(runs["folder"] / "moved.csv")
    try:
        written, skipped = plot_run(copy)
    finally:
        (runs["folder"] / "moved.csv").rename(runs["folder"] / "tiny.csv")
    assert written == [] and any("cannot read the run's data" in reason for reason in skipped)
    result = CliRunner().invoke(cli, ["plot", str(copy)])
    assert result.exit_code == 0 and "skipped curves.png" in result.stderr
