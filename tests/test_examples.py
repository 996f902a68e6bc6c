"""The training examples run end to end, with reduced sizes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_logistic_regression_learns_and_checks_its_gradient(capsys):
    pytest.importorskip("sklearn")
    accuracy = load("logistic_regression").main(epochs=3)
    out = capsys.readouterr().out
    assert "gradient check of loss: ok" in out
    assert accuracy > 0.93


def test_regression_fits_the_curve_and_saves_the_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "fit.png"
    loss = load("regression").main(steps=600, plot=str(plot))
    assert loss < 0.004  # the noise variance is 0.0025
    assert plot.stat().st_size > 10_000
    assert "plot saved" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("activation", "optimizer"),
    [("tanh", "adam"), ("sigmoid", "adam"), ("relu", "sgd"), ("elu", "adam")],
)
def test_mlp_digits_trains_with_every_activation(activation, optimizer, tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    plot = tmp_path / "curves.png"
    accuracy = load("mlp_digits").main(
        activation, optimizer, epochs=4, plot=str(plot), progress=False
    )
    assert accuracy > 0.7  # after 4 epochs (chance: 0.1)
    assert plot.exists()
    out = capsys.readouterr().out
    assert "loss_adjoint(...) returns (value, (dloss/dparams_W1," in out


def test_mlp_digits_reaches_97_percent_with_its_defaults():
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    assert load("mlp_digits").main(plot=None, progress=False) >= 0.97
