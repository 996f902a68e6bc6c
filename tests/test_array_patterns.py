"""Neural-network patterns written in NumPy: stable logsumexp, softmax, log-softmax,
cross-entropies, losses, penalties, activation layers and a two-hidden-layer MLP.

Each is checked with ``test_arrays.check_gradient``: centred finite differences of the original
function (coordinates, or random directions for large arrays), gradients with the arguments'
shapes and dtypes, and the caller's arrays untouched.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_arrays import Case, as_float32, check_case_on_numba_backend, check_gradient

import srcdiff

RNG = np.random.default_rng(31)


def normal(*shape, scale=1.0):
    return scale * RNG.normal(size=shape)


def labels_for(n, classes):
    return RNG.integers(0, classes, size=n).astype(np.int64)


def one_hot(labels, classes):
    return np.eye(classes)[labels]


# --- log-sum-exp and softmax --------------------------------------------------------------------


def logsumexp(z):
    m = np.max(z)
    return m + np.log(np.sum(np.exp(z - m)))


def logsumexp_rows(z):
    m = np.max(z, axis=1, keepdims=True)
    return np.sum(m[:, 0] + np.log(np.sum(np.exp(z - m), axis=1)))


def softmax_weighted(z, w):
    e = np.exp(z - np.max(z))
    p = e / np.sum(e)
    return np.sum(p * w)


def softmax_rows_weighted(z, w):
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    p = e / np.sum(e, axis=1, keepdims=True)
    return np.sum(p * w)


def log_softmax_weighted(z, w):
    m = np.max(z, axis=-1, keepdims=True)
    logp = z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))
    return np.sum(logp * w)


# --- losses -------------------------------------------------------------------------------------


def softmax_cross_entropy_labels(logits, labels):
    n = logits.shape[0]
    m = np.max(logits, axis=1, keepdims=True)
    logp = logits - m - np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(n), labels])


def softmax_cross_entropy_one_hot(logits, targets):
    m = np.max(logits, axis=1, keepdims=True)
    logp = logits - m - np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    return -np.sum(targets * logp) / logits.shape[0]


def binary_cross_entropy_sigmoid(w, b, X, y):
    z = X @ w + b
    p = 1.0 / (1.0 + np.exp(-z))
    return -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def binary_cross_entropy_logits(z, y):
    return np.mean(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z))))


def mean_squared_error(W, b, X, Y):
    r = X @ W + b - Y
    return np.mean(r**2)


def l2_penalty(W1, W2, lam):
    return lam * (np.sum(W1**2) + np.sum(W2 * W2)) + 0.5 * lam * np.linalg.norm(W1) ** 2


def ridge_regression(w, X, y, lam):
    r = X @ w - y
    return r @ r / X.shape[0] + lam * (w @ w)


# --- layers -------------------------------------------------------------------------------------


def sigmoid_layer(W, b, X):
    h = 1.0 / (1.0 + np.exp(-(X @ W + b)))
    return np.sum(h * h)


def tanh_layer(W, b, X):
    return np.sum(np.tanh(X @ W + b) ** 2)


def relu_layer(W, b, X):
    h = np.maximum(X @ W + b, 0)
    return np.sum(h * h) + np.sum(h)


def elu_layer(W, b, X):
    z = X @ W + b
    h = np.where(z > 0, z, np.expm1(z))
    return np.sum(h**2)


def leaky_relu_layer(W, b, X):
    z = X @ W + b
    return np.sum(np.where(z > 0, z, 0.1 * z) ** 3)


def mlp_loss(W1, b1, W2, b2, W3, b3, X, labels):
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.maximum(h1 @ W2 + b2, 0.0)
    logits = h2 @ W3 + b3
    n = X.shape[0]
    m = np.max(logits, axis=1, keepdims=True)
    logp = logits - m - np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    penalty = np.sum(W1**2) + np.sum(W2**2) + np.sum(W3**2)
    return -np.mean(logp[np.arange(n), labels]) + 1e-3 * penalty


def mlp_loss_one_hot(W1, b1, W2, b2, W3, b3, X, Y):
    h1 = 1.0 / (1.0 + np.exp(-(X @ W1 + b1)))
    h2 = np.tanh(h1 @ W2 + b2)
    logits = h2 @ W3 + b3
    m = np.max(logits, axis=1, keepdims=True)
    logp = logits - m - np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    return -np.sum(Y * logp) / X.shape[0]


def mlp_args(n=8, d=5, h1=6, h2=4, classes=3):
    weights = (
        normal(d, h1, scale=0.6), normal(h1, scale=0.1),
        normal(h1, h2, scale=0.6), normal(h2, scale=0.1),
        normal(h2, classes, scale=0.6), normal(classes, scale=0.1),
    )  # fmt: skip
    return weights, normal(n, d), labels_for(n, classes)


MLP_WEIGHTS, MLP_X, MLP_LABELS = mlp_args()
BIG_WEIGHTS, BIG_X, BIG_LABELS = mlp_args(n=32, d=10, h1=16, h2=12, classes=5)

ALL_WRT = (0, 1, 2, 3, 4, 5)
LABELS = labels_for(6, 4)
CASES = [
    Case(logsumexp, (normal(7) * 3.0,)),
    Case(logsumexp, (np.array([800.0, 799.5, -3.0, 801.0]),), id="logsumexp_large_values"),
    Case(logsumexp_rows, (normal(4, 5) * 3.0,)),
    Case(softmax_weighted, (normal(6), normal(6)), (0, 1)),
    Case(softmax_rows_weighted, (normal(3, 4), normal(3, 4)), (0, 1)),
    Case(log_softmax_weighted, (normal(3, 5), normal(3, 5)), (0, 1)),
    Case(softmax_cross_entropy_labels, (normal(6, 4), LABELS), numba=False),
    Case(softmax_cross_entropy_one_hot, (normal(6, 4), one_hot(LABELS, 4)), (0, 1)),
    Case(binary_cross_entropy_sigmoid,
         (normal(4), 0.3, normal(10, 4), RNG.integers(0, 2, 10).astype(float)), (0, 1)),
    Case(binary_cross_entropy_logits,
         (normal(3, 4) * 2.0, RNG.integers(0, 2, (3, 4)).astype(float)), (0, 1)),
    Case(mean_squared_error, (normal(4, 2), normal(2), normal(7, 4), normal(7, 2)), (0, 1, 2)),
    Case(l2_penalty, (normal(3, 4), normal(4, 2), 0.01), (0, 1, 2)),
    Case(ridge_regression, (normal(5), normal(9, 5), normal(9), 0.1), (0, 1, 3)),
    Case(sigmoid_layer, (normal(4, 3), normal(3), normal(5, 4)), (0, 1, 2)),
    Case(tanh_layer, (normal(4, 3), normal(3), normal(5, 4)), (0, 1, 2)),
    Case(relu_layer, (normal(4, 3), normal(3), normal(5, 4)), (0, 1, 2)),
    Case(elu_layer, (normal(4, 3), normal(3), normal(5, 4)), (0, 1, 2)),
    Case(leaky_relu_layer, (normal(4, 3), normal(3), normal(5, 4)), (0, 1, 2)),
    Case(mlp_loss, (*MLP_WEIGHTS, MLP_X, MLP_LABELS), ALL_WRT, numba=False),
    Case(mlp_loss_one_hot, (*MLP_WEIGHTS, MLP_X, one_hot(MLP_LABELS, 3)), ALL_WRT),
    # more than 30 elements per weight: checked along random directions
    Case(mlp_loss, (*BIG_WEIGHTS, BIG_X, BIG_LABELS), ALL_WRT, numba=False, id="mlp_loss_big"),
]  # fmt: skip
IDS = [case.id for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_numpy_backend(case):
    check_gradient(case.f, case.args, case.wrt, backend="numpy")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_numba_backend_code_run_as_python(case):
    check_case_on_numba_backend(case, case.args)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32(case):
    check_gradient(case.f, as_float32(case.args), case.wrt, backend="numpy")


@pytest.mark.parametrize("case", CASES[::5], ids=IDS[::5])
def test_default_backend_value_and_grad(case):
    check_gradient(case.f, case.args, case.wrt, backend="auto", value=True)


def test_mlp_training_steps_reduce_the_loss():
    """Gradient descent with srcdiff's gradients trains the MLP: the loss goes down."""
    weights = [w.copy() for w in MLP_WEIGHTS]
    step = srcdiff.value_and_grad(mlp_loss, wrt=ALL_WRT)
    losses = []
    for _ in range(30):
        loss, grads = step(*weights, MLP_X, MLP_LABELS)
        losses.append(loss)
        weights = [w - 0.5 * g for w, g in zip(weights, grads, strict=True)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(b <= a + 1e-12 for a, b in zip(losses[:5], losses[1:6], strict=True)), losses


def test_softmax_gradient_sums_to_zero_along_rows():
    """Softmax is shift-invariant along each row: its gradient sums to zero there."""
    z, w = normal(3, 4), normal(3, 4)
    grad = srcdiff.grad(softmax_rows_weighted)(z, w)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-12)
    assert not np.allclose(grad, 0.0)
