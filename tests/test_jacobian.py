"""Jacobians of functions returning tuples, and with respect to several arguments.

As ``jax.jacfwd`` and ``jax.jacrev``: a function returning a tuple has a tuple of Jacobians,
one per result (``result_i.shape + x.shape``); a tuple ``wrt`` gives a tuple per argument, so
``jacobian(f, (0, 1))(*args)[i][j]`` is the Jacobian of result i with respect to argument j.
Forward mode (a column per input element) and reverse mode (a row per output element, every
result seeded) must give the same structure and agree to rounding, and both must match
SymPy's ``Matrix.jacobian`` on scalar code and centred finite differences on arrays.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from conftest import no_fallback_warning, sympy_function
from test_arrays import richardson

import srcdiff
from srcdiff import SrcdiffError

MODES = ["forward", "reverse", None]


def doubled(a):
    return 2 * a, a


def sum_and_squares(x):
    return np.sum(x), np.sum(x * x)


def polar(r, t):
    return r * math.cos(t), r * math.sin(t), r * r * t


def pair(x, w):
    return np.sin(x) * w[0], np.sum(x * x) * w[1], np.outer(x, w)


def itself_and_first(x):
    return x, x[0] * 2.0


def with_count(x, n):
    return x * n, n


def leaves(result):
    if isinstance(result, tuple):
        return [leaf for part in result for leaf in leaves(part)]
    return [result]


def assert_same_structure(got, expected):
    """Tuples where ``expected`` has tuples, floats where it has numbers, arrays of its
    shapes where it has arrays."""
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected), (got, expected)
        for g, e in zip(got, expected, strict=True):
            assert_same_structure(g, e)
    elif np.ndim(expected) == 0:
        assert isinstance(got, float), got
    else:
        assert isinstance(got, np.ndarray) and got.shape == np.shape(expected), (got, expected)


def assert_jacobians_close(got, expected, rtol, atol):
    assert_same_structure(got, expected)
    for k, (g, e) in enumerate(zip(leaves(got), leaves(expected), strict=True)):
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"leaf {k}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_the_issues_cases(mode, backend):
    """`return 2*a, a` failed in reverse mode (a bare ValueError, after Numba's fallback
    warning); `(np.sum(x), np.sum(x*x))` gave [[2, -2], [1, -1]]: the seed missed a result."""
    with no_fallback_warning():
        assert srcdiff.jacobian(doubled, mode=mode, backend=backend)(1.5) == (2.0, 1.0)
        got = srcdiff.jacobian(sum_and_squares, mode=mode, backend=backend)(np.array([0.5, -1.0]))
    assert_jacobians_close(got, (np.array([1.0, 1.0]), np.array([1.0, -2.0])), 0, 0)


def sympy_jacobians(f, args, wrt):
    """``Matrix.jacobian`` of ``f`` run on symbols, as floats: ``[result][argument]``."""
    symbols = [sympy.Symbol(f"a{p}", real=True) for p in range(len(args))]
    results = sympy.Matrix(list(sympy_function(f)(*symbols)))
    items = wrt if isinstance(wrt, tuple) else (wrt,)
    matrix = results.jacobian([symbols[p] for p in items])
    values = matrix.subs(dict(zip(symbols, args, strict=True))).evalf(30)
    rows = [tuple(float(values[i, j]) for j in range(len(items))) for i in range(len(results))]
    return tuple(row if isinstance(wrt, tuple) else row[0] for row in rows)


@pytest.mark.parametrize("wrt", [0, 1, (0, 1), (1, 0), ("t",)], ids=repr)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_jacobians_of_numbers_match_sympy(wrt, mode, backend):
    args = (1.2, 0.4)
    positions = tuple({"t": 1}.get(w, w) for w in wrt) if isinstance(wrt, tuple) else wrt
    expected = sympy_jacobians(polar, args, positions)
    with no_fallback_warning():
        got = srcdiff.jacobian(polar, wrt, mode=mode, backend=backend)(*args)
    assert_jacobians_close(got, expected, rtol=1e-13, atol=1e-15)


def fd_jacobians(f, args, position):
    """Centred differences (Richardson) of every result along every element of
    ``args[position]``: one array of shape ``result.shape + argument.shape`` per result."""
    x0 = np.asarray(args[position], dtype=np.float64)
    results = f(*args)
    jacobians = [np.zeros(np.shape(r) + x0.shape) for r in results]
    for index in np.ndindex(x0.shape):
        for k, result in enumerate(results):
            for out in np.ndindex(np.shape(result)):

                def moved(t, index=index, k=k, out=out):
                    shifted = list(args)
                    x = x0.copy()
                    x[index] += t
                    shifted[position] = x if x0.shape else float(x)
                    return float(np.asarray(f(*shifted)[k], dtype=float)[out])

                step = 1e-5 * max(1.0, abs(float(x0[index])))
                jacobians[k][out + index] = richardson(moved, step)
    return jacobians


X, W = np.array([0.3, -0.5, 0.8]), np.array([1.5, -0.7])
ARRAY_CASES = [
    (pair, (X, W), 0),
    (pair, (X, W), 1),
    (pair, (X, W), (0, 1)),
    (pair, (X, W), ("w", "x")),
    (itself_and_first, (X,), 0),
    (with_count, (X, 3), 0),
]


@pytest.mark.parametrize(
    ("f", "args", "wrt"), ARRAY_CASES, ids=[f"{c[0].__name__}-{c[2]}" for c in ARRAY_CASES]
)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_jacobians_of_arrays_match_finite_differences(f, args, wrt, backend):
    names = list(f.__code__.co_varnames[: f.__code__.co_argcount])
    items = wrt if isinstance(wrt, tuple) else (wrt,)
    positions = [names.index(w) if isinstance(w, str) else w for w in items]
    by_argument = [fd_jacobians(f, args, p) for p in positions]
    expected = tuple(
        tuple(by_argument[j][i] for j in range(len(positions)))
        if isinstance(wrt, tuple)
        else by_argument[0][i]
        for i in range(len(by_argument[0]))
    )
    found = {}
    with no_fallback_warning():
        for mode in MODES:
            found[mode] = srcdiff.jacobian(f, wrt, mode=mode, backend=backend)(*args)
    assert_jacobians_close(found["forward"], expected, rtol=1e-8, atol=1e-9)
    for mode in ("reverse", None):  # the same structure, equal to rounding
        assert_jacobians_close(found[mode], found["forward"], rtol=1e-12, atol=1e-14)


def vector_field(x, a):
    return np.tanh(a @ x) * x[0] + x**2


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_tuple_wrt_with_one_result(backend):
    """One result: a tuple of Jacobians, one per argument, each as jacobian(f, wrt=j)."""
    x, a = np.array([0.3, -0.5, 0.8]), np.eye(3) * 0.5 + 0.1
    one_result = lambda *p: (vector_field(*p),)  # noqa: E731
    expected = [fd_jacobians(one_result, (x, a), j)[0] for j in (0, 1)]
    for mode in MODES:
        got = srcdiff.jacobian(vector_field, (0, 1), mode=mode, backend=backend)(x, a)
        assert isinstance(got, tuple) and len(got) == 2
        for j in (0, 1):
            np.testing.assert_allclose(got[j], expected[j], rtol=1e-7, atol=1e-9)
            alone = srcdiff.jacobian(vector_field, j, mode=mode, backend=backend)(x, a)
            np.testing.assert_allclose(got[j], alone, rtol=1e-13, atol=1e-15)


def test_errors():
    with pytest.raises(SrcdiffError, match="takes its 1 arguments"):
        srcdiff.jacobian(doubled)(1.0, 2.0)
    with pytest.raises(SrcdiffError, match="twice"):
        srcdiff.jacobian(polar, wrt=(0, "r"))
    with pytest.raises(SrcdiffError, match="twice"):  # was a SyntaxError in generated code
        srcdiff.jvp(polar, wrt=(1, 1))


def test_an_adjoint_of_several_results_has_no_default_seeds():
    # a default of 1.0 for every seed made a forgotten seed add its result's row silently
    from srcdiff.kind import FLOAT
    from srcdiff.normalize.statements import normalize_program
    from srcdiff.transform import generate

    module = generate(normalize_program(polar), ("r",), {"r": FLOAT, "t": FLOAT}, "grad",
                      False, array_result=True)  # fmt: skip
    signature = next(line for line in module.source.splitlines() if line.startswith("def polar"))
    assert "=" not in signature, signature
