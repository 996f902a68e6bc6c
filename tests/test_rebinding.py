"""A name rebound to a value of another kind: an array to a float (``x = np.sum(x)``), a
float to an array, an int to a float. Each binding with a kind of its own becomes a variable
of its own; where one read may see two kinds (after a branch, around a loop), the error says
to use two names, at the user's line."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import statement_line
from test_arrays import check_gradient

import srcdiff
from srcdiff import SrcdiffError

X = np.array([0.3, -1.2, 0.7, 2.1])


def array_to_float(x):
    x = np.sum(x * x)
    return x * 2.0


def float_to_array(a, y):
    s = a * 2.0
    t = s + 1.0
    s = np.ones(4) * s
    return np.sum(s * y) + t


def int_to_float(x):
    n = len(x)
    s = 0.0
    for i in range(n):
        s = s + x[i] * x[i]
    n = s * 0.5
    return n * n


def rebound_in_each_iteration(x):
    total = 0.0
    for i in range(3):
        v = x * (i + 1.0)  # an array, no longer needed once summed
        v = np.sum(v)
        total = total + np.sin(v)
    return total


def rebound_in_both_branches(x, c):
    if c > 0:
        y = np.tanh(x)
        y = np.sum(y)
    else:
        y = x[0] * 3.0
    return y * y


def rebound_twice(x):
    x = x * x  # still an array
    x = np.sum(x)  # a float
    x = np.ones(3) * x  # an array of another length
    return np.sum(np.exp(x * 0.1))


def accumulated_from_an_int(x):
    s = 0  # an int that becomes a float: one variable, promoted
    for a in x:
        s = s + a * a
    return s


CASES = [
    (array_to_float, 0, (X,)),
    (float_to_array, (0, 1), (1.5, X)),
    (int_to_float, 0, (X,)),
    (rebound_in_each_iteration, 0, (X,)),
    (rebound_in_both_branches, 0, (X, 1.0)),
    (rebound_in_both_branches, 0, (X, -1.0)),
    (rebound_twice, 0, (X,)),
    (accumulated_from_an_int, 0, (X,)),
]


@pytest.mark.parametrize(
    ("f", "wrt", "args"), CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)]
)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_rebinding_matches_finite_differences(f, wrt, args, backend):
    check_gradient(f, args, wrt, backend=backend)


def test_each_binding_gets_a_name_of_its_own():
    g = srcdiff.value_and_grad(array_to_float, backend="numpy")
    g(X)
    assert "x_1 = np.sum(" in g.source


def test_names_that_keep_one_kind_are_not_renamed():
    g = srcdiff.grad(accumulated_from_an_int, backend="numpy")
    g(X)
    assert "s_1" not in g.source


# --- what stays refused: one read that may see two kinds ------------------------------


def array_or_float(x, c):
    y = x
    if c > 0:
        y = np.sum(x)
    return np.sum(y * 2.0)


def float_then_array_around_a_loop(x):
    y = 1.0
    for _ in range(3):
        z = y * 2.0
        y = x * z
    return np.sum(y)


@pytest.mark.parametrize(
    ("f", "args", "snippet"),
    [
        (array_or_float, (X, 1.0), "y = np.sum(x)"),
        (float_then_array_around_a_loop, (X,), "y = x * z"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_a_read_that_may_see_two_kinds_is_an_error_at_the_line(f, args, snippet):
    with pytest.raises(SrcdiffError) as caught:
        srcdiff.grad(f)(*args)
    message = str(caught.value)
    assert f"test_rebinding.py:{statement_line(f, snippet)}:" in message
    assert "use two names" in message
    assert "array[" not in message and "array:" not in message
