"""Binary logistic regression on scikit-learn's breast-cancer data, trained with srcdiff.

The model is the course's single sigmoid unit, p = sigmoid(X w + b), with the mean binary
cross-entropy as its loss (plus a small L2 penalty). srcdiff differentiates the loss as
written; check_grad compares that gradient with finite differences and SymPy once before
training; mini-batch SGD with momentum then fits it.

Run: python examples/logistic_regression.py   (needs scikit-learn: pip install ".[examples]")
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import srcdiff
from srcdiff.optim import SGD


def loss(w, b, X, y):
    z = X @ w + b
    p = 1.0 / (1.0 + np.exp(-z))  # sigmoid
    cross_entropy = -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
    return cross_entropy + 1e-3 * np.sum(w * w)


def standardised_data(seed: int = 0):
    data = load_breast_cancer()
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target.astype(float), test_size=0.25, random_state=seed
    )
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return (X_train - mean) / std, (X_test - mean) / std, y_train, y_test


def main(epochs: int = 30, batch: int = 32, seed: int = 0) -> float:
    """Train, print the progress and the test accuracy; returns the accuracy."""
    X_train, X_test, y_train, y_test = standardised_data(seed)
    rng = np.random.default_rng(seed)
    w, b = 0.01 * rng.standard_normal(X_train.shape[1]), np.zeros(1)

    print("Gradient check before training (on 8 rows: SymPy's expression grows with them):")
    print(srcdiff.check_grad(loss, w, b, X_train[:8], y_train[:8], wrt=(0, 1)))
    print()

    loss_and_grad = srcdiff.value_and_grad(loss, wrt=(0, 1))
    opt = SGD((w, b), lr=0.1, momentum=0.9)
    for epoch in range(epochs):
        order = rng.permutation(len(X_train))
        total = 0.0
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            value, grads = loss_and_grad(w, b, X_train[rows], y_train[rows])
            opt.step(grads)
            total += value * len(rows)
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:3d}  training loss {total / len(order):.4f}")
    accuracy = float(np.mean(((X_test @ w + b) > 0) == (y_test > 0.5)))
    print(f"test accuracy: {accuracy:.3f} on {len(y_test)} held-out tumours")
    return accuracy


if __name__ == "__main__":
    main()
