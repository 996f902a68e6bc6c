"""srcdiff.optim: the updates against their formulas (and PyTorch's optimizers, when
installed), in place, and training a model with srcdiff gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

import srcdiff
from srcdiff.optim import SGD, Adam, he, xavier


def reference_sgd(p, grads, lr, momentum, nesterov, weight_decay):
    """The documented formulas, step by step, in NumPy."""
    p, v = p.copy(), None
    for g in grads:
        d = g + weight_decay * p
        if momentum:
            v = d.copy() if v is None else momentum * v + d
            d = d + momentum * v if nesterov else v
        p = p - lr * d
    return p


def reference_adam(p, grads, lr, b1, b2, eps, weight_decay):
    p, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        d = g + weight_decay * p
        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d * d
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


def gradients(shape, steps=5, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(steps)]


@pytest.mark.parametrize(
    ("momentum", "nesterov", "weight_decay"),
    [(0.0, False, 0.0), (0.9, False, 0.0), (0.9, True, 0.0), (0.5, True, 0.01)],
)
def test_sgd_follows_its_formulas_in_place(momentum, nesterov, weight_decay):
    p = np.arange(6.0).reshape(2, 3)
    start, memory = p.copy(), p
    opt = SGD([p], lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    grads = gradients(p.shape)
    for g in grads:
        opt.step([g])
    assert p is memory  # updated in place
    expected = reference_sgd(start, grads, 0.1, momentum, nesterov, weight_decay)
    np.testing.assert_allclose(p, expected, rtol=1e-13)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_follows_its_formulas(weight_decay):
    p = np.linspace(-1.0, 1.0, 7)
    start = p.copy()
    opt = Adam([p], lr=0.01, weight_decay=weight_decay)
    grads = gradients(p.shape, steps=8)
    for g in grads:
        opt.step((g,))
    expected = reference_adam(start, grads, 0.01, 0.9, 0.999, 1e-8, weight_decay)
    np.testing.assert_allclose(p, expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["sgd", "nesterov", "adam"])
def test_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    p = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    tp = torch.tensor(p.copy(), requires_grad=True)
    if name == "adam":
        ours, theirs = Adam([p], lr=0.05), torch.optim.Adam([tp], lr=0.05)
    else:
        nesterov = name == "nesterov"
        ours = SGD([p], lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=0.001)
        theirs = torch.optim.SGD([tp], lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=0.001)
    for g in gradients(p.shape, steps=6):
        ours.step([g])
        tp.grad = torch.tensor(g)
        theirs.step()
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12)


def test_float32_parameters_stay_float32():
    p = np.ones(4, dtype=np.float32)
    Adam([p]).step([np.ones(4)])
    assert p.dtype == np.float32 and np.all(p < 1.0)


def test_errors():
    with pytest.raises(srcdiff.SrcdiffError, match="writable float array"):
        SGD([np.arange(3)])
    with pytest.raises(srcdiff.SrcdiffError, match="learning rate"):
        Adam([np.ones(3)], lr=0.0)
    with pytest.raises(srcdiff.SrcdiffError, match="2 gradients for 1 parameters"):
        SGD([np.ones(3)]).step([np.ones(3), np.ones(3)])
    with pytest.raises(srcdiff.SrcdiffError, match="shape"):
        SGD([np.ones(3)]).step([np.ones(4)])
    with pytest.raises(srcdiff.SrcdiffError, match="contiguous"):
        SGD([np.ones((4, 4))[:, :2]])  # no flat view of it
    with pytest.raises(srcdiff.SrcdiffError, match="Nesterov"):
        SGD([np.ones(3)], nesterov=True)


def test_initialisers_have_their_variances():
    rng = np.random.default_rng(0)
    W = xavier(400, 600, rng)
    assert W.shape == (400, 600)
    assert W.var() == pytest.approx(2.0 / 1000, rel=0.05)
    assert he(500, 300, rng).var() == pytest.approx(2.0 / 500, rel=0.05)


def softplus_loss(w, b, X, y):
    z = X @ w + b
    p = 1.0 / (1.0 + np.exp(-z))
    return -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)) + 1e-3 * np.sum(w * w)


@pytest.mark.parametrize("make", [lambda ps: Adam(ps, lr=0.05), lambda ps: SGD(ps, 0.5, 0.9)])
def test_training_logistic_regression_with_srcdiff_gradients(make):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 3))
    y = (X @ np.array([1.5, -2.0, 0.5]) + 0.3 > 0).astype(float)
    w, b = np.zeros(3), np.zeros(1)
    loss_and_grad = srcdiff.value_and_grad(softplus_loss, wrt=(0, 1))
    opt = make((w, b))
    first = loss_and_grad(w, b, X, y)[0]
    for _ in range(150):
        loss, grads = loss_and_grad(w, b, X, y)
        opt.step(grads)
    assert loss < 0.5 * first
    accuracy = np.mean(((X @ w + b) > 0) == (y > 0.5))
    assert accuracy > 0.95
    assert math.isfinite(loss)


def test_keys_of_any_kind_find_their_gradients():
    import enum

    class Key(enum.Enum):
        A = 1

    params = {"W[0]": np.ones(2), Key.A: np.ones(2), ("a", 1): {"x]": np.ones(1)}}
    grads = {"W[0]": np.ones(2), Key.A: 2.0 * np.ones(2), ("a", 1): {"x]": np.ones(1)}}
    optimizer = srcdiff.optim.SGD(params, lr=0.5)
    optimizer.step(grads)
    np.testing.assert_allclose(params["W[0]"], [0.5, 0.5])
    np.testing.assert_allclose(params[Key.A], [0.0, 0.0])
    np.testing.assert_allclose(params[("a", 1)]["x]"], [0.5])
    with pytest.raises(srcdiff.SrcdiffError, match="no entry"):
        optimizer.step({"W[0]": np.ones(2)})
