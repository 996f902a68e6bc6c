"""Programs from outside test suites (AD corpora, GradBench, a fuzzer, new users' first code)
where srcdiff once gave a wrong gradient, ran past the end of an array, or answered where
Python raises. Each is pinned here against centred differences of the plain function, or
against the exception the plain function raises.
"""

from __future__ import annotations

import numpy as np
import pytest

import srcdiff

BACKENDS = ["numpy", "numba"]


def fd_gradient(f, args, position: int, step: float = 1e-6):
    """Centred differences of ``f`` with respect to ``args[position]`` (a number or an array)."""
    x0 = args[position]

    def at(x):
        shifted = list(args)
        shifted[position] = x
        return float(f(*shifted))

    if not isinstance(x0, np.ndarray):
        h = step * max(1.0, abs(x0))
        return (at(x0 + h) - at(x0 - h)) / (2 * h)
    out = np.zeros(x0.shape)
    for index in np.ndindex(x0.shape):
        h = step * max(1.0, abs(x0[index]))
        up, down = x0.copy(), x0.copy()
        up[index] += h
        down[index] -= h
        out[index] = (at(up) - at(down)) / (2 * h)
    return out


# --- values read through views of arrays written later ------------------------------------------


def row_read_then_overwritten(w, state):
    s = state.copy()
    s[0] = s[0] * w
    return np.sum(s[0] * w)


def recurrence_over_rows(w, state):
    s = state.copy()
    for _ in range(3):
        h = s[0]
        c = s[1]
        s[1] = c * 0.5 + h * w
        s[0] = np.tanh(s[1]) * h
    return np.sum(s[1] * w) + np.sum(s[0])


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_a_row_read_before_it_is_overwritten_keeps_the_value_it_had(backend):
    w, state = np.array([1.0, 2.0, 3.0]), np.ones((2, 3))
    got = srcdiff.grad(row_read_then_overwritten, backend=backend)(w, state)
    np.testing.assert_allclose(got, [2.0, 4.0, 6.0])


def test_rows_of_a_state_array_read_and_rewritten_in_a_loop():
    w = np.array([0.5, -0.3, 0.8])
    state = np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    gradient = srcdiff.grad(recurrence_over_rows)
    got = gradient(w, state)
    expected = fd_gradient(recurrence_over_rows, (w, state), 0)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8, err_msg=gradient.source)
    assert ".copy()" in gradient.source  # the rows the reverse sweep reads are snapshots
