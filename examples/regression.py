"""The course's regression network: one input, a hidden layer of two sigmoid units, one
linear output, trained on the mean squared error to fit a noisy curve, with a plot of the fit.

Two sigmoids make a bump (one rising, one falling), so the curve here is a bump:
y = sigmoid(3 (x + 1)) - sigmoid(3 (x - 1)) plus noise.

Run: python examples/regression.py   (needs matplotlib: pip install ".[examples]")
"""

from __future__ import annotations

import numpy as np

import srcdiff
from srcdiff.optim import Adam


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def predict(w1, b1, w2, b2, x):
    h = sigmoid(np.outer(x, w1) + b1)  # (n, 2): the two hidden units
    return h @ w2 + b2


def mse(w1, b1, w2, b2, x, y):
    h = sigmoid(np.outer(x, w1) + b1)
    residual = h @ w2 + b2 - y
    return np.mean(residual**2)


def noisy_bump(n: int, rng: np.random.Generator):
    x = np.sort(rng.uniform(-4.0, 4.0, n))
    clean = sigmoid(3.0 * (x + 1.0)) - sigmoid(3.0 * (x - 1.0))
    return x, clean + 0.05 * rng.standard_normal(n), clean


def main(steps: int = 3000, n: int = 200, seed: int = 0, plot: str | None = "regression.png"):
    """Fit, print the progress, save the plot (unless ``plot`` is None); returns the MSE."""
    rng = np.random.default_rng(seed)
    x, y, clean = noisy_bump(n, rng)
    params = (rng.standard_normal(2), np.zeros(2), rng.standard_normal(2), np.zeros(1))
    loss_and_grad = srcdiff.value_and_grad(mse, wrt=(0, 1, 2, 3))
    opt = Adam(params, lr=0.05)
    for step in range(steps):
        loss, grads = loss_and_grad(*params, x, y)
        opt.step(grads)
        if step % (steps // 5) == 0:
            print(f"step {step:5d}  mse {loss:.5f}")
    loss = mse(*params, x, y)
    print(f"final mse {loss:.5f} (noise variance 0.0025)")
    if plot:
        save_plot(plot, x, y, clean, predict(*params, x))
    return loss


def save_plot(path: str, x, y, clean, fitted) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(x, y, s=8, color="0.6", label="noisy data")
    ax.plot(x, clean, "k--", label="the curve")
    ax.plot(x, fitted, "C0", linewidth=2, label="network (2 hidden units)")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot saved to {path}")


if __name__ == "__main__":
    main()
