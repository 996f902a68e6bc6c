"""Gradients with respect to arrays whose elements are read in loops (x[i], w[i, j]).

Each is checked element by element against centred finite differences, for float64 and
float32 arrays; the gradient has the argument's shape and dtype, and the caller's arrays
are left untouched.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import srcdiff


def rosenbrock(x, n):
    s = 0.0
    for i in range(n - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def weighted_dot(a, b, n):
    s = 0.0
    for i in range(n):
        s += a[i] * b[i] * (i + 1)
    return s


def matrix_sum(w, m, n):
    s = 0.0
    for i in range(m):
        for j in range(n):
            s += math.tanh(w[i, j]) * (i - j)
    return s


def last_element_squared(x):
    return x[-1] * x[-1] + x[0]


def rnn_with_weights(w, x, n):
    h = 0.0
    for t in range(n):
        h = math.tanh(w[0] * h + w[1] * x[t] + w[2])
    return h


def threshold_sum(x, n):
    s = 0.0
    for i in range(n):
        if x[i] > 0.0:
            s += x[i] * x[i]
        else:
            s -= x[i]
    return s


def element_fd(f, args, position, step=1e-6):
    """Centred differences for every element of the array argument ``position``."""
    array = np.asarray(args[position], dtype=np.float64)
    out = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        plus, minus = array.copy(), array.copy()
        plus[index] += step
        minus[index] -= step
        hi, lo = list(args), list(args)
        hi[position], lo[position] = plus, minus
        out[index] = (f(*hi) - f(*lo)) / (2 * step)
    return out


RNG = np.random.default_rng(7)
CASES = [
    (rosenbrock, (RNG.uniform(-1, 1, 6), 6), 0),
    (weighted_dot, (RNG.normal(size=5), RNG.normal(size=5), 5), (0, 1)),
    (matrix_sum, (RNG.normal(size=(3, 4)), 3, 4), 0),
    (last_element_squared, (RNG.normal(size=4),), 0),
    (rnn_with_weights, (np.array([0.5, -0.3, 0.1]), RNG.normal(size=8), 8), 0),
    (threshold_sum, (np.array([0.5, -0.3, 1.5, -2.0]), 4), 0),
]


@pytest.mark.parametrize(("f", "args", "wrt"), CASES, ids=[c[0].__name__ for c in CASES])
def test_array_gradient_matches_finite_differences(jit, f, args, wrt):
    g = srcdiff.grad(f, wrt=wrt, jit=jit)
    got = g(*args)
    positions = wrt if isinstance(wrt, tuple) else (wrt,)
    grads = got if isinstance(wrt, tuple) else (got,)
    for position, grad in zip(positions, grads, strict=True):
        assert grad.shape == args[position].shape, g.source
        expected = element_fd(f, args, position)
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-7, err_msg=g.source)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_has_the_arguments_dtype_and_leaves_it_alone(jit, dtype):
    x = np.linspace(-0.5, 0.7, 5).astype(dtype)
    before = x.copy()
    grad = srcdiff.grad(rosenbrock, jit=jit)(x, 5)
    assert grad.dtype == dtype
    np.testing.assert_array_equal(x, before)
    expected = element_fd(rosenbrock, (x.astype(np.float64), 5), 0)
    tolerance = 1e-3 if dtype == np.float32 else 1e-6
    np.testing.assert_allclose(grad, expected, rtol=tolerance, atol=tolerance)


def test_integer_array_is_differentiated_as_float(jit):
    grad = srcdiff.grad(weighted_dot, jit=jit)(np.arange(3), np.ones(3), 3)
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, [1.0, 2.0, 3.0])


def test_value_and_grad_returns_the_value_and_an_array(jit):
    x = np.array([0.2, 0.4, 0.6])
    value, grad = srcdiff.value_and_grad(rosenbrock, jit=jit)(x, 3)
    assert value == pytest.approx(rosenbrock(x, 3))
    np.testing.assert_allclose(grad, element_fd(rosenbrock, (x, 3), 0), rtol=1e-6)
