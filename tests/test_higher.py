"""Second derivatives: grad(grad(f)), hessian and hvp (reverse mode over forward mode),
against SymPy's derivatives on scalar programs and finite differences of the gradient on
arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy

import srcdiff


def quiz(x, z):
    return math.exp(x * z) + x * z / math.log(x) + math.sin(math.log(x)) / (x * z)


def graph(x):
    a = x * x
    b = math.sin(a)
    c = 3.0 * a
    return math.cos(b + c)


def powers(x, y):
    return x**3 * y - math.sqrt(x * y + 4.0) + math.tanh(x / y)


def looped(x, n):
    s = 0.0
    for i in range(n):
        if x * i > 1.0:
            s = s + math.sin(x * i) * x
        else:
            s = s * x + 1.0
    return s


def square_helper(u, w):
    return u * u * w


def with_helper(x, y):
    return square_helper(math.sin(x), y) + square_helper(y, x)


def symbolic(f):
    """The SymPy expression of a straight-line scalar function (math -> sympy)."""
    names = list(f.__code__.co_varnames[: f.__code__.co_argcount])
    symbols = sympy.symbols(names)
    shim = type("m", (), {k: getattr(sympy, k) for k in ("exp", "log", "sin", "cos", "sqrt")})
    shim.tanh = sympy.tanh
    globals_ = {**f.__globals__, "math": shim}
    clone = type(f)(f.__code__, globals_)
    return clone(*symbols), symbols


@pytest.mark.parametrize(("f", "point"), [(quiz, (2.0, 3.0)), (powers, (0.7, 1.3))])
def test_second_and_mixed_derivatives_match_sympy(f, point):
    expression, symbols = symbolic(f)
    at = dict(zip(symbols, point, strict=True))
    for k, outer in enumerate(symbols):
        for j, inner in enumerate(symbols):
            expected = float(sympy.diff(expression, inner, outer).subs(at))
            got = srcdiff.grad(srcdiff.grad(f, wrt=j), wrt=k)(*point)
            assert got == pytest.approx(expected, rel=1e-10), (inner, outer)


def test_second_derivative_of_the_lecture_graph():
    x = sympy.Symbol("x")
    expected = sympy.diff(sympy.cos(sympy.sin(x**2) + 3 * x**2), x, 2).subs(x, 0.7)
    d2 = srcdiff.grad(srcdiff.grad(graph))
    assert d2(0.7) == pytest.approx(float(expected), rel=1e-12)
    assert "reverse mode over forward" in d2.source


def test_hessian_of_a_scalar_argument_is_the_second_derivative():
    x, z = sympy.symbols("x z")
    expression = sympy.exp(x * z) + x * z / sympy.log(x) + sympy.sin(sympy.log(x)) / (x * z)
    expected = float(sympy.diff(expression, x, 2).subs({x: 2.0, z: 3.0}))
    assert srcdiff.hessian(quiz)(2.0, 3.0) == pytest.approx(expected, rel=1e-12)


def finite_difference_of_gradient(g, args, position, eps=1e-6):
    x = np.asarray(args[position], dtype=float)
    columns = []
    for index in np.ndindex(x.shape):
        shifted = [list(args), list(args)]
        for sign, row in zip((1, -1), shifted, strict=True):
            moved = x.copy()
            moved[index] += sign * eps
            row[position] = moved if x.ndim else float(moved)
        columns.append((np.asarray(g(*shifted[0])) - np.asarray(g(*shifted[1]))) / (2 * eps))
    return np.stack(columns, axis=-1).reshape(*x.shape, *x.shape)


def loops_over_an_array(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def array_code(W, x):
    h = np.tanh(W @ x)
    return np.sum(h**2) + np.sum(W * W) * x[0]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_hessian_of_a_loop_over_an_array_matches_the_gradient(backend):
    x = np.array([0.3, -0.5, 0.8, 1.1])
    H = srcdiff.hessian(loops_over_an_array, backend=backend)(x)
    reference = finite_difference_of_gradient(srcdiff.grad(loops_over_an_array), (x,), 0)
    np.testing.assert_allclose(H, reference, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(H, H.T, rtol=1e-12)


def test_hessian_of_array_code_matches_the_gradient():
    W = np.array([[0.2, -0.1, 0.4], [0.3, 0.5, -0.2]])
    x = np.array([0.3, -0.2, 0.5])
    H = srcdiff.hessian(array_code, wrt=0)(W, x)
    assert H.shape == (2, 3, 2, 3)
    g = srcdiff.grad(array_code, wrt=0)
    np.testing.assert_allclose(H, finite_difference_of_gradient(g, (W, x), 0), rtol=1e-6, atol=1e-7)


def test_hvp_is_the_hessian_times_the_vector():
    x = np.array([0.3, -0.5, 0.8, 1.1])
    v = np.array([1.0, -2.0, 0.5, 0.25])
    H = srcdiff.hessian(loops_over_an_array)(x)
    np.testing.assert_allclose(srcdiff.hvp(loops_over_an_array)(x, v), H @ v, rtol=1e-12)


@pytest.mark.parametrize(("f", "point", "n"), [(looped, (0.4,), 6), (with_helper, (0.7,), None)])
def test_loops_branches_and_helpers_match_the_gradient(f, point, n):
    args = (*point, n) if n is not None else (*point, 1.3)
    d2 = srcdiff.grad(srcdiff.grad(f))(*args)
    g = srcdiff.grad(f)
    eps = 1e-6
    up, down = list(args), list(args)
    up[0] += eps
    down[0] -= eps
    assert d2 == pytest.approx((g(*up) - g(*down)) / (2 * eps), rel=1e-6)


def test_gradient_of_a_gradient_of_several_arguments_is_an_error():
    with pytest.raises(srcdiff.SrcdiffError, match="gradient of one number"):
        srcdiff.grad(srcdiff.grad(quiz, wrt=(0, 1)))
    d2 = srcdiff.grad(srcdiff.grad(loops_over_an_array))
    with pytest.raises(srcdiff.SrcdiffError, match="use srcdiff.hessian"):
        d2(np.array([0.1, 0.2]))


def polynomial_and_sine(x):
    return x[0] ** 2 * x[1] + math.sin(x[2] * x[0]) - x[1] * x[2] ** 3


def test_hessian_matches_sympy_hessian():
    symbols = sympy.symbols("x0:3")
    expression = symbols[0] ** 2 * symbols[1] + sympy.sin(symbols[2] * symbols[0])
    expression -= symbols[1] * symbols[2] ** 3
    point = np.array([0.4, -1.2, 0.9])
    expected = sympy.hessian(expression, symbols).subs(dict(zip(symbols, point, strict=True)))
    got = srcdiff.hessian(polynomial_and_sine)(point)
    np.testing.assert_allclose(got, np.array(expected, dtype=float), rtol=1e-12)


def layer_output(x, W):
    return np.tanh(W @ x) * x[0]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_jacobian_rows_and_columns_agree_with_finite_differences(backend):
    x, W = np.array([0.1, 0.2, 0.3, -0.4]), np.arange(8.0).reshape(2, 4) / 5
    eps = 1e-6
    columns = []
    for k in range(x.size):
        step = np.zeros_like(x)
        step[k] = eps
        columns.append((layer_output(x + step, W) - layer_output(x - step, W)) / (2 * eps))
    reference = np.stack(columns, axis=-1)
    for mode in ("forward", "reverse", None):
        J = srcdiff.jacobian(layer_output, mode=mode, backend=backend)(x, W)
        assert J.shape == (2, 4)
        np.testing.assert_allclose(J, reference, rtol=1e-7, atol=1e-9)
