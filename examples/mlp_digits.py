"""A two-hidden-layer MLP on scikit-learn's 8x8 digits, trained with srcdiff gradients.

The loss is the course's: hidden layers with a chosen activation (sigmoid, tanh, ReLU or ELU),
a softmax output and the mean cross-entropy, written in NumPy. The parameters are a dict of
weight and bias arrays; srcdiff hands the gradient back as a dict with the same keys, and the
optimizer updates the dict's arrays in place. Mini-batch SGD with momentum, or Adam.

Run: python examples/mlp_digits.py [--activation tanh] [--optimizer adam] [--epochs 40]
     (needs scikit-learn, matplotlib and tqdm: pip install ".[examples]")
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import srcdiff
from srcdiff.optim import SGD, Adam, he, xavier


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def tanh(z):
    return np.tanh(z)


def relu(z):
    return np.maximum(z, 0.0)


def elu(z):
    return np.where(z > 0.0, z, np.exp(np.minimum(z, 0.0)) - 1.0)


ACTIVATIONS = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu, "elu": elu}


def make_loss(activation):
    """The loss for one activation (srcdiff reads `activation` from the closure)."""

    def loss(params, X, Y):
        h1 = activation(X @ params["W1"] + params["b1"])
        h2 = activation(h1 @ params["W2"] + params["b2"])
        z = h2 @ params["W3"] + params["b3"]
        top = np.max(z, axis=1, keepdims=True)  # a stable softmax
        logp = z - top - np.log(np.sum(np.exp(z - top), axis=1, keepdims=True))
        return -np.mean(np.sum(Y * logp, axis=1))  # cross-entropy with one-hot targets

    return loss


def predict(params, X, activation):
    h = X
    for layer in (1, 2):
        h = activation(h @ params[f"W{layer}"] + params[f"b{layer}"])
    return np.argmax(h @ params["W3"] + params["b3"], axis=1)


def initial_params(sizes, activation_name, rng) -> dict[str, np.ndarray]:
    """{"W1": ..., "b1": ..., "W2": ...}: a weight matrix and a bias vector per layer."""
    initialise = he if activation_name in ("relu", "elu") else xavier
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), 1):
        params[f"W{layer}"] = initialise(fan_in, fan_out, rng)
        params[f"b{layer}"] = np.zeros(fan_out)
    return params


def main(
    activation_name: str = "tanh",
    optimizer: str = "adam",
    epochs: int = 40,
    batch: int = 32,
    hidden: int = 128,
    seed: int = 0,
    plot: str | None = "mlp_digits.png",
    progress: bool = True,
) -> float:
    """Train; print the start of the generated adjoint and the test accuracy; save the
    training curves (unless ``plot`` is None). Returns the test accuracy."""
    digits = load_digits()
    X = digits.data / 16.0
    Y = np.eye(10)[digits.target]
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.25, random_state=seed)
    rng = np.random.default_rng(seed)
    activation = ACTIVATIONS[activation_name]
    params = initial_params((64, hidden, hidden, 10), activation_name, rng)
    loss_and_grad = srcdiff.value_and_grad(make_loss(activation))  # with respect to params
    if optimizer == "adam":
        opt = Adam(params, lr=2e-3)
    else:
        opt = SGD(params, lr=0.05, momentum=0.9, nesterov=True)

    losses, accuracies = [], []
    bar = tqdm(range(epochs), desc=f"{activation_name}, {optimizer}", disable=not progress)
    for _ in bar:
        order = rng.permutation(len(X_train))
        total = 0.0
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            loss, grads = loss_and_grad(params, X_train[rows], Y_train[rows])
            opt.step(grads)
            total += loss * len(rows)
        losses.append(total / len(order))
        accuracies.append(np.mean(predict(params, X_test, activation) == Y_test.argmax(axis=1)))
        bar.set_postfix(loss=f"{losses[-1]:.4f}", accuracy=f"{accuracies[-1]:.3f}")

    print("The start of the adjoint srcdiff generated for the loss:")
    print("\n".join(loss_and_grad.source.splitlines()[:14]))
    print("...")
    print(f"test accuracy: {accuracies[-1]:.3f} on {len(X_test)} held-out digits")
    if plot:
        save_curves(plot, losses, accuracies, f"{activation_name}, {optimizer}")
    return float(accuracies[-1])


def save_curves(path: str, losses, accuracies, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(range(1, len(losses) + 1), losses)
    left.set_xlabel("epoch")
    left.set_ylabel("training loss (cross-entropy)")
    left.set_yscale("log")
    right.plot(range(1, len(accuracies) + 1), accuracies, color="C1")
    right.set_xlabel("epoch")
    right.set_ylabel("test accuracy")
    fig.suptitle(f"MLP on the 8x8 digits ({title})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"training curves saved to {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", choices=ACTIVATIONS, default="tanh")
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--plot", default="mlp_digits.png")
    args = parser.parse_args()
    main(args.activation, args.optimizer, args.epochs, plot=args.plot)
