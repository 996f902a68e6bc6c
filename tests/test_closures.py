"""Nested functions and lambdas that read the enclosing function's variables (closure
conversion), against finite differences on both backends and SymPy, and what stays refused."""
# ruff: noqa: E731

from __future__ import annotations

import numpy as np
import pytest
from conftest import statement_line
from test_arrays import check_gradient

import srcdiff
from srcdiff import SrcdiffError, UnsupportedSyntaxError
from srcdiff.testing import assert_grad_close

X = np.array([0.3, -0.2, 0.5])
W = np.array([[0.1, 0.2, 0.3], [0.4, -0.5, 0.6], [0.7, 0.8, -0.9]])

# --- nested functions and lambdas ---------------------------------------------------------


def nested_def(x, w, scale):
    def act(v):
        return np.tanh(v) * scale

    h = act(w @ x)
    return np.sum(h * h)


def named_lambda(x, y):
    sq = lambda t: t * t
    return sq(x) + sq(x * y) * y


def lambda_of_enclosing_array(x, w):
    b = np.sum(w) * 0.5
    layer = lambda h: np.tanh(w @ h + b)
    return np.sum(layer(layer(x)))


def calls_a_sibling(x, w):
    b = 0.5

    def act(v):
        return np.tanh(v + b)

    def layer(h):
        return act(w @ h)

    return np.sum(layer(layer(x)))


def reads_at_the_call(x):
    s = 2.0
    g = lambda t: t * s
    s = x * 3.0  # Python's closures read s when g is called, not when it is defined
    return g(x) + g(x * x)


def in_a_loop(x, n):
    def step(v, k):
        return v * 0.5 + np.sin(v) * k

    s = x
    for k in range(n):
        s = step(s, k)
    return s


def with_a_default(x):
    def scaled(v, c=3.0):
        return v * c

    return scaled(x) + scaled(x, 0.5) * x


def returns_a_tuple(x, y):
    def both(a):
        return a * y, a + y

    p, q = both(x)
    return p * q


def helper_with_nested(x, w):
    return nested_def(x, w, 1.5) * 2.0


CASES = [
    (nested_def, (0, 1, 2), (X, W, 1.5)),
    (named_lambda, (0, 1), (0.7, -1.3)),
    (lambda_of_enclosing_array, (0, 1), (X, W)),
    (calls_a_sibling, (0, 1), (X, W)),
    (reads_at_the_call, 0, (0.7,)),
    (in_a_loop, 0, (0.4, 4)),
    (with_a_default, 0, (1.1,)),
    (returns_a_tuple, (0, 1), (0.6, 1.7)),
    (helper_with_nested, (0, 1), (X, W)),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize(("f", "wrt", "args"), CASES, ids=IDS)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_nested_functions_match_finite_differences(f, wrt, args, backend):
    check_gradient(f, args, wrt, backend=backend)


@pytest.mark.parametrize("f", [named_lambda, reads_at_the_call, with_a_default, in_a_loop], ids=str)
def test_nested_functions_match_sympy(f):
    case = CASES[IDS.index(f.__name__)]
    assert_grad_close(f, *case[2], wrt=case[1])


def test_a_nested_function_is_a_helper_with_the_variables_it_reads():
    source = srcdiff.grad(nested_def, wrt=0, backend="numpy").source
    assert "def act(v, scale):" in source
    assert "act(t0, scale)" in source.replace("(t1, scale)", "(t0, scale)")


# --- what stays refused ----------------------------------------------------------------------


def mutates_enclosing(x):
    s = 0.0

    def add(v):
        nonlocal s
        s = s + v
        return s

    return add(x)


def escapes(x):
    def act(v):
        return v * x

    return apply_to(act, x)


def apply_to(g, x):
    return x


def returns_function(x):
    g = lambda t: t * x
    return g


def lambda_as_argument(x):
    return np.sum(np.vectorize(lambda t: t * t)(x))


def defined_in_branch(x):
    if x > 0:

        def g(v):
            return v * 2.0

    else:

        def g(v):
            return v * 3.0

    return g(x)


def nested_twice(x):
    def outer(v):
        def inner(w):
            return w * w

        return inner(v)

    return outer(x)


def recursive_nested(x):
    def pw(v, n):
        return v if n == 0 else v * pw(v, n - 1)

    return pw(x, 3)


def called_before_defined(x):
    y = g(x)  # noqa: F821

    def g(v):
        return v * 2.0

    return y


def rebound(x):
    g = lambda t: t * 2.0
    g = lambda t: t * 3.0
    return g(x)


@pytest.mark.parametrize(
    ("f", "error", "words", "snippet"),
    [
        (mutates_enclosing, UnsupportedSyntaxError, ["nonlocal"], "nonlocal s"),
        (escapes, UnsupportedSyntaxError, ["`act`", "used as a value"], "return apply_to"),
        (returns_function, UnsupportedSyntaxError, ["`g`", "used as a value"], "return g"),
        (lambda_as_argument, UnsupportedSyntaxError, ["lambda", "g = lambda"], "vectorize"),
        (defined_in_branch, UnsupportedSyntaxError, ["inside a block", "top level"], "def g"),
        (nested_twice, UnsupportedSyntaxError, ["inside a nested function"], "def inner"),
        (recursive_nested, UnsupportedSyntaxError, ["recursion", "pw -> pw"], "* pw(v"),
        (called_before_defined, SrcdiffError, ["`g`", "before it is defined"], "y = g(x)"),
        (rebound, UnsupportedSyntaxError, ["defining the nested function `g` twice"], "* 3.0"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_refused_nested_functions_are_reported_at_the_line(f, error, words, snippet):
    with pytest.raises(error) as info:
        srcdiff.grad(f)(0.5)
    message = str(info.value)
    assert f"test_closures.py:{statement_line(f, snippet)}:" in message, message
    for word in words:
        assert word in message, message
