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


def centred_jacobian(g, args, position, eps=1e-6):
    """Centred differences of ``g``'s results along each element of ``args[position]``: per
    result, an array of shape ``result.shape + argument.shape``."""
    x = np.asarray(args[position], dtype=float)
    columns = []
    for index in np.ndindex(x.shape):
        moved = [list(args), list(args)]
        for sign, shifted in zip((1, -1), moved, strict=True):
            step = x.copy()
            step[index] += sign * eps
            shifted[position] = step if x.ndim else float(step)
        up, down = g(*moved[0]), g(*moved[1])
        pairs = zip(up, down, strict=True)
        columns.append([(np.asarray(u) - np.asarray(d)) / (2 * eps) for u, d in pairs])
    return [
        np.moveaxis(np.stack([c[k] for c in columns]), 0, -1).reshape(np.shape(up[k]) + x.shape)
        for k in range(len(columns[0]))
    ]


def finite_difference_of_gradient(g, args, position, eps=1e-6):
    """Centred differences of a gradient ``g`` along each element of ``args[position]``."""
    return centred_jacobian(lambda *a: (g(*a),), args, position, eps)[0]


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


def reductions_along_axes(x):
    rows = np.min(x * x, axis=1)
    columns = np.max(x**3, axis=0, keepdims=True)
    return np.sum(rows**2) + np.sum(np.mean(x * x, axis=1) * np.sum(x, axis=0)[0]) + np.sum(
        columns * np.prod(x[0])
    )


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_hessian_through_reductions_along_an_axis_matches_the_gradient(backend):
    # Numba's forms of axis reductions (sum_along, ...) have no derivative rules: the tangent
    # functions are differentiated before they take them (the Hessian came out zero)
    x = np.array([[1.0, -2.0, 0.5], [0.3, 0.2, -1.5]])
    H = srcdiff.hessian(reductions_along_axes, backend=backend)(x)
    reference = finite_difference_of_gradient(srcdiff.grad(reductions_along_axes), (x,), 0)
    np.testing.assert_allclose(H, reference, rtol=1e-6, atol=1e-5)
    v = np.array([[0.3, 1.0, -1.0], [2.0, 0.5, 0.1]])
    hv = srcdiff.hvp(reductions_along_axes, backend=backend)(x, v)
    np.testing.assert_allclose(hv, np.tensordot(H, v, axes=2), rtol=1e-9, atol=1e-9)


def hypotenuse(x, y):
    return math.hypot(x, y) * x


def norm_and_product(x):
    return np.linalg.norm(x) * x[0] + np.prod(x)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_hessians_of_hypot_norm_and_prod_match_sympy(backend):
    # their derivatives are helpers (div0, prod_others) that second derivatives differentiate
    # again: they came out with zero derivatives, and so did the Hessians
    got = srcdiff.hessian(hypotenuse, wrt=(0, 1), backend=backend)(3.0, 4.0)
    x, y = sympy.symbols("x y")
    expected = sympy.hessian(sympy.sqrt(x**2 + y**2) * x, (x, y)).subs({x: 3, y: 4})
    np.testing.assert_allclose(np.array(got), np.array(expected, dtype=float), rtol=1e-12)
    point = np.array([0.5, 0.0, 2.0, -1.5])  # a zero: the products of the others stay exact
    symbols = sympy.symbols("x0:4")
    expression = sympy.sqrt(sum(s**2 for s in symbols)) * symbols[0] + sympy.prod(symbols)
    at = dict(zip(symbols, point, strict=True))
    expected = np.array(sympy.hessian(expression, symbols).subs(at), dtype=float)
    got = srcdiff.hessian(norm_and_product, backend=backend)(point)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


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


# --- Hessians with respect to several arguments: blocks, as jax.hessian(f, argnums=(0, 1)) ---


def two_numbers(a, b):
    return a**2 * b**3


def two_vectors(x, y):
    return x[0] ** 2 * y[1] + math.sin(x[1] * y[0]) - x[0] * y[0] ** 3 + math.exp(x[1] * y[1])


def number_and_vector(s, x):
    return s**2 * x[0] * x[1] + math.cos(s * x[2]) + x[2] ** 3 / s


def sympy_hessian_blocks(f, args, wrt):
    """The blocks of the Hessian by ``sympy.hessian`` of ``f`` run on symbols (one per
    element of each argument in ``wrt``): a tuple of tuples of floats and arrays."""
    names = list(f.__code__.co_varnames[: f.__code__.co_argcount])
    positions = [names.index(w) if isinstance(w, str) else w for w in wrt]
    symbolic_args, flat, values = list(args), [], []
    for p in positions:
        shape = np.shape(args[p])
        symbols = list(sympy.symbols(f"{names[p]}_0:{max(1, np.size(args[p]))}"))
        symbolic_args[p] = symbols if shape else symbols[0]
        flat += symbols
        values += list(np.ravel(args[p]))
    shim = type("m", (), {k: getattr(sympy, k) for k in ("exp", "log", "sin", "cos", "sqrt")})
    shim.tanh = sympy.tanh
    expression = type(f)(f.__code__, {**f.__globals__, "math": shim})(*symbolic_args)
    at = dict(zip(flat, values, strict=True))
    full = np.array(sympy.hessian(expression, flat).subs(at).evalf(30), dtype=float)
    shapes = [np.shape(args[p]) for p in positions]
    starts = np.cumsum([0] + [max(1, int(np.prod(s))) for s in shapes])
    blocks = []
    for i, si in enumerate(shapes):
        row = []
        for j, sj in enumerate(shapes):
            block = full[starts[i] : starts[i + 1], starts[j] : starts[j + 1]].reshape(si + sj)
            row.append(float(block) if block.ndim == 0 else block)
        blocks.append(tuple(row))
    return tuple(blocks)


def assert_blocks_close(got, expected, rtol, atol=0.0):
    assert isinstance(got, tuple) and len(got) == len(expected), got
    for i, (row, expected_row) in enumerate(zip(got, expected, strict=True)):
        assert isinstance(row, tuple) and len(row) == len(expected_row), got
        for j, (block, reference) in enumerate(zip(row, expected_row, strict=True)):
            if np.ndim(reference) == 0:
                assert isinstance(block, float), (i, j, block)
            else:
                assert block.shape == reference.shape, (i, j, block.shape, reference.shape)
            message = f"block [{i}][{j}]"
            np.testing.assert_allclose(block, reference, rtol=rtol, atol=atol, err_msg=message)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_hessian_of_two_numbers_is_the_whole_matrix(backend):
    """The issue's case: the first row only, (16.0, 24.0), came back."""
    got = srcdiff.hessian(two_numbers, wrt=(0, 1), backend=backend)(1.0, 2.0)
    assert got == ((16.0, 24.0), (24.0, 12.0))
    assert srcdiff.hessian(two_numbers, wrt=(1, 0), backend=backend)(1.0, 2.0) == (
        (12.0, 24.0),
        (24.0, 16.0),
    )
    assert srcdiff.hessian(two_numbers, wrt=("b",), backend=backend)(1.0, 2.0) == ((12.0,),)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize(
    ("f", "args", "wrt"),
    [
        (quiz, (2.0, 3.0), (0, 1)),
        (quiz, (2.0, 3.0), ("z", "x")),
        (powers, (0.7, 1.3), (1, 0)),
        (two_vectors, (np.array([0.4, -0.3]), np.array([0.9, 0.6])), (0, 1)),
        (two_vectors, (np.array([0.4, -0.3]), np.array([0.9, 0.6])), (1,)),
        (number_and_vector, (0.8, np.array([0.3, -1.1, 0.7])), (0, 1)),
        (number_and_vector, (0.8, np.array([0.3, -1.1, 0.7])), (1, 0)),
    ],
    ids=lambda v: getattr(v, "__name__", None) if callable(v) else None,
)
def test_hessian_blocks_match_sympy_hessian(f, args, wrt, backend):
    got = srcdiff.hessian(f, wrt=wrt, backend=backend)(*args)
    assert_blocks_close(got, sympy_hessian_blocks(f, args, wrt), rtol=1e-11, atol=1e-12)


def array_code_gradient(W, x):
    """``array_code``'s gradient with respect to (W, x), written out by hand."""
    h = np.tanh(W @ x)
    back = 2.0 * h * (1.0 - h**2)
    g_x = W.T @ back
    g_x[0] += np.sum(W * W)
    return np.outer(back, x) + 2.0 * W * x[0], g_x


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_hessian_blocks_of_array_code_match_the_gradient_written_by_hand(backend):
    W = np.array([[0.2, -0.1, 0.4], [0.3, 0.5, -0.2]])
    x = np.array([0.3, -0.2, 0.5])
    got = srcdiff.hessian(array_code, wrt=(0, 1), backend=backend)(W, x)
    # block [i][j]: the derivative of gradient i along argument j
    by_argument = [centred_jacobian(array_code_gradient, (W, x), j) for j in (0, 1)]
    expected = tuple(tuple(by_argument[j][i] for j in (0, 1)) for i in (0, 1))
    assert_blocks_close(got, expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got[0][1], np.moveaxis(got[1][0], 0, -1), rtol=1e-12)
    for i in (0, 1):  # the diagonal blocks are the Hessians with respect to one argument
        alone = srcdiff.hessian(array_code, wrt=i, backend=backend)(W, x)
        np.testing.assert_allclose(got[i][i], alone, rtol=1e-12, atol=1e-15)


def coupled_loop(x, y, n):
    s = 0.0
    for i in range(n):
        s += (x[i] * y[i] - 1.0) ** 2 + math.sin(x[i]) * y[n - 1 - i] ** 2
    return s


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_hessian_blocks_of_a_loop_match_finite_differences_of_the_gradient(backend):
    x, y = np.array([0.3, -0.5, 0.8]), np.array([1.2, 0.4, -0.7])
    got = srcdiff.hessian(coupled_loop, wrt=(1, 0), backend=backend)(x, y, 3)
    g = srcdiff.grad(coupled_loop, wrt=(1, 0), backend=backend)
    by_argument = [centred_jacobian(g, (x, y, 3), p) for p in (1, 0)]
    expected = tuple(tuple(by_argument[j][i] for j in (0, 1)) for i in (0, 1))
    assert_blocks_close(got, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize(
    ("f", "args", "vectors"),
    [
        (two_numbers, (1.0, 2.0), (0.5, -2.0)),
        (
            number_and_vector,
            (0.8, np.array([0.3, -1.1, 0.7])),
            (-1.5, np.array([0.2, 1.0, -0.4])),
        ),
        (
            two_vectors,
            (np.array([0.4, -0.3]), np.array([0.9, 0.6])),
            (np.array([1.0, -2.0]), np.array([0.5, 0.25])),
        ),
    ],
    ids=lambda v: getattr(v, "__name__", None) if callable(v) else None,
)
def test_hvp_of_several_arguments_is_the_block_hessian_times_the_vectors(f, args, vectors, backend):
    got = srcdiff.hvp(f, wrt=(0, 1), backend=backend)(*args, vectors)
    H = sympy_hessian_blocks(f, args, (0, 1))
    assert isinstance(got, tuple) and len(got) == 2
    for i in (0, 1):
        expected = sum(np.tensordot(H[i][j], v, axes=np.ndim(v)) for j, v in enumerate(vectors))
        assert np.shape(got[i]) == np.shape(args[i])
        np.testing.assert_allclose(got[i], expected, rtol=1e-11, atol=1e-12, err_msg=f"part {i}")


def test_hessian_and_hvp_errors():
    with pytest.raises(srcdiff.SrcdiffError, match="tuple of 2 vectors"):
        srcdiff.hvp(two_numbers, wrt=(0, 1))(1.0, 2.0, 1.0)
    with pytest.raises(srcdiff.SrcdiffError, match="tuple of 2 vectors"):
        srcdiff.hvp(two_numbers, wrt=(0, 1))(1.0, 2.0, (1.0,))
    with pytest.raises(srcdiff.SrcdiffError, match="shape"):
        srcdiff.hvp(number_and_vector, wrt=(0, 1))(0.8, np.ones(3), (1.0, np.ones(2)))
    with pytest.raises(srcdiff.SrcdiffError, match="then the vector"):
        srcdiff.hvp(two_numbers, wrt=(0, 1))(1.0, 2.0)
    with pytest.raises(srcdiff.SrcdiffError, match="then the vector"):
        srcdiff.hvp(two_numbers)(1.0, 2.0)
    with pytest.raises(srcdiff.SrcdiffError, match="takes its 2 arguments"):
        srcdiff.hessian(two_numbers, wrt=(0, 1))(1.0)
    with pytest.raises(srcdiff.SrcdiffError, match="twice"):
        srcdiff.hessian(two_numbers, wrt=(0, "a"))


def polar(r, t):
    return r * math.cos(t), r * math.sin(t)  # error: two results


def test_second_derivatives_of_a_function_returning_a_tuple_are_an_error():
    """They were the second derivatives of the sum of the results."""
    line = polar.__code__.co_firstlineno + 1
    for make in (srcdiff.hessian, srcdiff.hvp):
        with pytest.raises(srcdiff.SrcdiffError, match="returns 2 values") as info:
            make(polar)
        assert f"test_higher.py:{line}" in str(info.value)
