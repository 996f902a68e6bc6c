"""Loops over arrays, zip, enumerate, reversed ranges and ``while True``, against finite
differences on both backends, with Python's meaning of the loop variable after the loop.

The functions are written the way users write them: zip without strict=, loop variables
kept for after the loop."""
# ruff: noqa: B007, B905

from __future__ import annotations

import numpy as np
import pytest
from conftest import statement_line
from test_arrays import check_gradient

import srcdiff
from srcdiff import SrcdiffError, UnsupportedSyntaxError

X = np.array([0.3, -1.2, 0.7, 2.1, -0.4])
Y = np.array([1.5, 0.2, -0.8])
M = np.array([[0.3, -1.2, 0.7], [2.1, -0.4, 0.9]])
EMPTY = np.zeros(0)

# --- the forms ------------------------------------------------------------------------


def over_elements(x):
    s = 0.0
    for a in x:
        s = s + a * np.sin(a)
    return s


def over_rows(m):
    s = 0.0
    for row in m:
        s = s + np.sum(row * row) * row[0]
    return s


def over_expression(x):
    s = 0.0
    for a in x[1:] * 2.0:
        s = s * 0.5 + a
    return s


def zipped(x, y):
    s = 0.0
    for a, b in zip(x, y):
        s = s + a * b * b
    return s


def zipped_three(x, y, z):
    s = 0.0
    for a, b, c in zip(x, y, z):
        s = s + a * b - c * a
    return s


def enumerated(x):
    s = 0.0
    for i, a in enumerate(x):
        s = s + (i + 1) * a * a
    return s


def enumerated_from(x, first):
    s = 0.0
    for i, a in enumerate(x, first):
        s = s + i * a
    return s


def enumerated_zip(x, y):
    s = 0.0
    for i, (a, b) in enumerate(zip(x, y)):
        s = s + i * a * b
    return s


def reversed_stop(x, n):
    s = 1.0
    for i in reversed(range(n)):
        s = s * x[i] + 1.0
    return s


def reversed_start_stop(x, a, b):
    s = 1.0
    for i in reversed(range(a, b)):
        s = s * x[i] + 0.5
    return s


def reversed_step(x, a, b, step):
    s = 1.0
    for i in reversed(range(a, b, step)):
        s = s * x[i] + 0.5
    return s


def reversed_constant_step(x):
    s = 1.0
    for i in reversed(range(len(x) - 1, -1, -2)):
        s = s * x[i] + 0.5
    return s


def element_after_loop(x):
    s = 0.0
    for a in x:
        s = s + a
    return s * a


def index_after_loop(x):
    s = 0.0
    for i, a in enumerate(x):
        s = s + a
    return s * i


def element_unbound_after_empty_loop(x, y):
    a = y
    for a in x:
        pass
    return a * 2.0


def rebinds_iterable(x):
    s = 0.0
    for a in x:
        s = s + a
        x = x * 2.0
    return s + np.sum(x)


def reassigns_loop_variables(x):
    s = 0.0
    for i, a in enumerate(x):
        a = a * a
        i = i * 2
        s = s + i * a
    return s


def while_true_break(x):
    s = x
    while True:
        s = s * 0.5 + 0.1
        if s < 0.3:
            break
    return s


def while_true_return(x):
    s = x
    k = 0
    while True:
        s = np.sin(s) + 0.5 * s
        k += 1
        if k >= 4:
            return s * x


def while_true_raise(x):
    s = x
    while True:
        s = s * 0.5
        if s < 0.0:
            raise ValueError("x must be positive")
        if s < 0.1:
            return s * x


CASES = [
    (over_elements, 0, [(X,), (EMPTY,)]),
    (over_rows, 0, [(M,)]),
    (over_expression, 0, [(X,)]),
    (zipped, (0, 1), [(X, Y), (Y, X)]),
    (zipped_three, (0, 1, 2), [(X, Y, X[::-1].copy())]),
    (enumerated, 0, [(X,)]),
    (enumerated_from, 0, [(X, 3), (X, -2)]),
    (enumerated_zip, (0, 1), [(X, Y)]),
    (reversed_stop, 0, [(X, 5), (X, 0)]),
    (reversed_start_stop, 0, [(X, 1, 4), (X, 3, 3), (X, 4, 1)]),
    # every sign of step, empty ranges and ranges whose length is not a multiple of the step
    (
        reversed_step,
        0,
        [(X, 0, 5, 2), (X, 1, 5, 2), (X, 4, -1, -2), (X, 4, 0, -3), (X, 3, 1, 1), (X, 1, 3, -1)],
    ),
    (reversed_constant_step, 0, [(X,), (Y,)]),
    (element_after_loop, 0, [(X,)]),
    (index_after_loop, 0, [(X,)]),
    (reassigns_loop_variables, 0, [(X,)]),
    (while_true_break, 0, [(2.0,), (0.2,)]),
    (while_true_return, 0, [(0.7,), (-1.3,)]),
    (while_true_raise, 0, [(0.7,), (3.0,)]),
]
IDS = [f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize(("f", "wrt", "points"), CASES, ids=IDS)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_iteration_matches_finite_differences(f, wrt, points, backend):
    for args in points:
        check_gradient(f, args, wrt, backend=backend)


@pytest.mark.parametrize("f", [over_elements, zipped, enumerated_zip, reversed_step], ids=str)
def test_iteration_in_plain_python(f, jit):
    case = CASES[[c[0] for c in CASES].index(f)]
    for args in case[2]:
        check_gradient(f, args, case[1], jit=jit)


def test_rows_are_rows_of_the_array():
    def first_column(m):
        s = 0.0
        for row in m:
            s = s + row[0] * row[2]
        return s

    got = srcdiff.grad(first_column)(M)
    expected = np.zeros_like(M)
    expected[:, 0], expected[:, 2] = M[:, 2], M[:, 0]
    np.testing.assert_allclose(got, expected)


def test_loop_variable_keeps_its_last_value():
    g = srcdiff.grad(index_after_loop)  # s * i with i the last index
    np.testing.assert_allclose(g(X), np.full_like(X, len(X) - 1))
    g = srcdiff.grad(element_after_loop)  # s * a with a the last element
    expected = np.full_like(X, X[-1])
    expected[-1] += np.sum(X)
    np.testing.assert_allclose(g(X), expected)


def test_zero_trip_loop_leaves_the_loop_variable_unassigned():
    def element_after_empty_loop(x):
        s = 1.0
        for a in x:
            s = s * a
        return s + a

    g = srcdiff.grad(element_after_empty_loop)
    with pytest.raises(UnboundLocalError):
        element_after_empty_loop(EMPTY)
    with pytest.raises(UnboundLocalError):
        g(EMPTY)
    g_prior = srcdiff.grad(element_unbound_after_empty_loop, wrt=(0, 1))
    gx, gy = g_prior(EMPTY, 1.5)
    assert gy == 2.0 and gx.shape == (0,)


def test_generated_loop_reads_one_element_per_iteration():
    source = srcdiff.grad(zipped, wrt=(0, 1), backend="numpy").source
    assert "min(len(x), len(y))" in source or ("len(x)" in source and "min(" in source)


def test_rebinding_the_iterable_does_not_change_the_iteration():
    # the Numba backend cannot record an array reassigned in a loop (as with range loops)
    check_gradient(rebinds_iterable, (X,), 0, backend="numpy")
    assert rebinds_iterable(X) == pytest.approx(np.sum(X) + 32.0 * np.sum(X))


# --- what stays unsupported --------------------------------------------------------------


def iterate_float(x):
    s = 0.0
    for a in x:
        s = s + a
    return s


def nested_target_over_array(m):
    s = 0.0
    for a, b in m:
        s = s + a * b
    return s


def zip_target_mismatch(x, y):
    s = 0.0
    for a in zip(x, y):
        s = s + a
    return s


def zip_strict(x, y):
    s = 0.0
    for a, b in zip(x, y, strict=True):
        s = s + a * b
    return s


def reversed_array(x):
    s = 0.0
    for a in reversed(x):
        s = s * 0.5 + a
    return s


def enumerate_range(n, x):
    s = x
    for i, k in enumerate(range(n)):
        s = s * x
    return s


def while_true_forever(x):
    s = x
    while True:
        s = s * 0.5
    return s


@pytest.mark.parametrize(
    ("f", "args", "error", "words", "snippet"),
    [
        (iterate_float, (0.5,), SrcdiffError, ["`for a in x` needs", "is a float"], "for a in x"),
        (nested_target_over_array, (M,), UnsupportedSyntaxError, ["(a, b)", "zip"], "for a, b"),
        (zip_target_mismatch, (X, Y), UnsupportedSyntaxError, ["zip()", "for a0, a1 in"], "for a"),
        (zip_strict, (X, Y), UnsupportedSyntaxError, ["keyword", "zip()"], "for a, b"),
        (reversed_array, (X,), UnsupportedSyntaxError, ["reversed(x)", "reversed(range"], "for a"),
        (enumerate_range, (3, 0.5), UnsupportedSyntaxError, ["range(n)", "enumerate(x)"], "for i"),
        (while_true_forever, (0.5,), SrcdiffError, ["while True", "never ends"], "while True"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_unsupported_iteration_is_reported_at_the_loop(f, args, error, words, snippet):
    with pytest.raises(error) as info:
        srcdiff.grad(f)(*args)
    message = str(info.value)
    assert f":{statement_line(f, snippet)}:" in message
    for word in words:
        assert word in message, message
