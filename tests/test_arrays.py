"""Whole-array NumPy code: broadcasting, elementwise functions, reductions, linear algebra,
shapes, slicing, in-place writes into local arrays, and loops mixed with array code.

Every gradient is checked against centred finite differences (Richardson-extrapolated) of the
original Python function, evaluated in float64: coordinate by coordinate for small arrays,
along a few seeded random directions for arrays of more than ``MAX_COORDINATES`` elements.
Each check also asserts that the gradient of an array has the argument's shape and dtype and
that the caller's arrays are left exactly as they were. Small straight-line functions of short
1-D arrays are also checked against sympy.diff; a few hypothesis properties draw random shapes,
broadcasting pairs and composite expressions.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import types
from dataclasses import dataclass, field

import numpy as np
import pytest
import sympy
from conftest import load_function, marker_line, no_fallback_warning
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import srcdiff
from srcdiff import SrcdiffError

MAX_COORDINATES = 30  # above this many elements, random directional derivatives instead
DIRECTIONS = 3
REL_STEP = 1e-5
TOLERANCES = {np.float64: (1e-6, 1e-7), np.float32: (3e-3, 3e-3)}  # (rtol, atol)


# --- reference gradients and the checks -----------------------------------------------------------


def as_float64(value):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float64)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


def richardson(phi, step: float) -> float:
    """d phi / dt at 0 from centred differences with steps ``step`` and ``step / 2``."""

    def centred(h):
        return (phi(h) - phi(-h)) / (2.0 * h)

    return (4.0 * centred(step / 2.0) - centred(step)) / 3.0


def coordinate_fd(f, args, position):
    """Centred differences of ``f`` (in float64) for every coordinate of ``args[position]``."""
    args = [as_float64(a) for a in args]
    x0 = args[position]

    def at(value):
        shifted = list(args)
        shifted[position] = value
        return float(f(*shifted))

    if not isinstance(x0, np.ndarray):
        return richardson(lambda t: at(x0 + t), REL_STEP * max(1.0, abs(x0)))
    out = np.zeros(x0.shape)
    for index in np.ndindex(x0.shape):

        def moved(t, index=index):
            x = x0.copy()
            x[index] += t
            return at(x)

        out[index] = richardson(moved, REL_STEP * max(1.0, abs(x0[index])))
    return out


def directional_fd(f, args, position, direction):
    """Centred differences of ``f`` (in float64) along ``direction`` in ``args[position]``."""
    args = [as_float64(a) for a in args]
    x0 = args[position]

    def moved(t):
        shifted = list(args)
        shifted[position] = x0 + t * direction
        return float(f(*shifted))

    return richardson(moved, REL_STEP * max(1.0, float(np.max(np.abs(x0)))))


def _positions(f, wrt):
    names = list(f.__code__.co_varnames[: f.__code__.co_argcount])
    items = wrt if isinstance(wrt, tuple) else (wrt,)
    return [names.index(w) if isinstance(w, str) else w for w in items]


def _tolerance(args, positions, rtol, atol):
    low_precision = any(
        isinstance(args[p], np.ndarray) and args[p].dtype == np.float32 for p in positions
    )
    default = TOLERANCES[np.float32 if low_precision else np.float64]
    return (default[0] if rtol is None else rtol), (default[1] if atol is None else atol)


def compare_to_fd(g, f, args, position, grad, rtol, atol, what=""):
    """One gradient against finite differences of ``f``; arrays keep shape and dtype."""
    arg = args[position]
    context = f"{f.__name__} d/d(argument {position}){what}\n----- generated source -----\n"
    context += g.source
    if not isinstance(arg, np.ndarray):
        assert isinstance(grad, float) and not isinstance(grad, np.ndarray), (
            f"gradient of a float should be a float, got {type(grad).__name__}\n{context}"
        )
        expected = coordinate_fd(f, args, position)
        np.testing.assert_allclose(grad, expected, rtol=rtol, atol=atol, err_msg=context)
        return
    assert isinstance(grad, np.ndarray), f"got {type(grad).__name__}, not an array\n{context}"
    assert grad.shape == arg.shape, f"shape {grad.shape} != {arg.shape}\n{context}"
    wanted_dtype = arg.dtype if arg.dtype.kind == "f" else np.dtype(np.float64)
    assert grad.dtype == wanted_dtype, f"dtype {grad.dtype} != {wanted_dtype}\n{context}"
    assert np.all(np.isfinite(grad)), f"non-finite gradient {grad}\n{context}"
    if arg.size <= MAX_COORDINATES:
        expected = coordinate_fd(f, args, position)
        scale = max(1.0, float(np.max(np.abs(expected)))) if arg.dtype == np.float32 else 1.0
        np.testing.assert_allclose(grad, expected, rtol=rtol, atol=atol * scale, err_msg=context)
        return
    rng = np.random.default_rng(arg.size)
    for k in range(DIRECTIONS):
        direction = rng.normal(size=arg.shape)
        direction /= np.linalg.norm(direction)
        expected = directional_fd(f, args, position, direction)
        terms = np.asarray(grad, dtype=np.float64) * direction
        got = float(np.sum(terms))
        bound = atol + rtol * max(abs(expected), float(np.sum(np.abs(terms))))
        assert abs(got - expected) <= bound, (
            f"direction {k}: srcdiff {got!r} vs finite differences {expected!r}\n{context}"
        )


def assert_unchanged(args, before, source=""):
    for position, (arg, old) in enumerate(zip(args, before, strict=True)):
        if isinstance(old, np.ndarray):
            assert arg.dtype == old.dtype and arg.shape == old.shape, source
            np.testing.assert_array_equal(
                arg, old, err_msg=f"argument {position} was modified by the gradient\n{source}"
            )


def generated_sources(g) -> str:
    """Every module generated for ``g`` so far (``.source`` shows only the last called)."""
    variants = getattr(getattr(g, "__srcdiff__", None), "_variants", {})
    sources = [getattr(v, "source", "") for v in variants.values()]
    return "\n".join(sources) or g.source


def call_gradient(g, args):
    """Call ``g``; on a crash, fail with the generated source attached."""
    try:
        return g(*args)
    except SrcdiffError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"calling the gradient raised {exc!r}\n----- generated source -----\n"
            + generated_sources(g)
        ) from exc


def check_gradient(f, args, wrt=0, *, backend="numpy", jit=None, rtol=None, atol=None, value=False):
    """Differentiate ``f``, call it at ``args`` and check every gradient against finite
    differences, the gradients' shapes and dtypes, and that ``args`` were left alone."""
    positions = _positions(f, wrt)
    rtol, atol = _tolerance(args, positions, rtol, atol)
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    make = srcdiff.value_and_grad if value else srcdiff.grad
    g = make(f, wrt=wrt, backend=backend, jit=jit)
    got = call_gradient(g, args)
    assert_unchanged(args, before, g.source)
    if value:
        assert isinstance(got, tuple) and len(got) == 2, g.source
        result, got = got
        expected_value = f(*before)
        assert isinstance(result, float), f"value is a {type(result).__name__}\n{g.source}"
        np.testing.assert_allclose(result, expected_value, rtol=rtol, atol=atol, err_msg=g.source)
    grads = got if isinstance(wrt, tuple) else (got,)
    assert isinstance(grads, tuple) and len(grads) == len(positions), (
        f"wrt={wrt!r} should give {len(positions)} gradient(s), got {got!r}\n{g.source}"
    )
    for position, grad in zip(positions, grads, strict=True):
        compare_to_fd(g, f, args, position, grad, rtol, atol)
    return g, got


def backend_of(g) -> str:
    """ "numba" or "numpy", from the ``# Backend:`` line of the generated module's header."""
    for line in g.source.splitlines():
        if line.startswith("# Backend:"):
            said = re.split(r"[(;]", line[len("# Backend:") :])[0].lower()
            found = [b for b in ("numpy", "numba") if b in said]
            assert len(found) == 1, f"cannot tell the backend from {line!r}"
            return found[0]
    raise AssertionError(f"no '# Backend:' line in the header\n{g.source}")


def assert_names_a_line_of(f, error: SrcdiffError) -> None:
    """The message names ``f``'s file and one of the lines of its body."""
    lines, first = inspect.getsourcelines(f)
    file_name = os.path.basename(inspect.getsourcefile(f))
    named = re.findall(re.escape(file_name) + r":(\d+)", str(error))
    assert named and first < int(named[0]) < first + len(lines), str(error)


def srcdiff_error_at(f, marker: str, call_args, **options) -> SrcdiffError:
    """The SrcdiffError raised (at decoration or at the first call) for ``f``; it must
    name this file and the line that ends with ``# error: <marker>``."""
    with pytest.raises(SrcdiffError) as info:
        g = srcdiff.grad(f, **options)
        g(*call_args)
    line = marker_line(f, f"error: {marker}")
    assert f"test_arrays.py:{line}" in str(info.value), str(info.value)
    return info.value


RNG = np.random.default_rng(20261122)


def normal(*shape, scale=1.0):
    return scale * RNG.normal(size=shape)


def uniform(low, high, *shape):
    return RNG.uniform(low, high, size=shape)


def away_from_zero(*shape, low=0.2, high=1.5):
    """Values with |v| in [low, high] and random signs: no kink of abs, maximum, sign..."""
    return RNG.choice([-1.0, 1.0], size=shape) * uniform(low, high, *shape)


@dataclass
class Case:
    f: object
    args: tuple
    wrt: object = 0
    # False: backend="numba" may reject it (something with no Numba form) with an error at
    # one of the function's lines; it may also handle it, then the gradient must be right
    numba: bool = True
    id: str = field(default="")

    def __post_init__(self):
        self.id = self.id or self.f.__name__


# --- elementwise arithmetic and broadcasting ------------------------------------------------------


def arith_same_shape(x, y):
    return np.sum(x * y - x + 2.0 * y - y / (1.5 + x * x) + x / 3.0 - 1.0)


def arith_division_and_powers(x, y):
    return np.sum(x / (2.0 + y * y) + x**2 + (1.0 + y * y) ** 1.5 - x**3 + 1.0 / (1.0 + x * x))


def arith_array_exponent(x, y):
    return np.sum(x**y + 2.0**x - y ** (x * x))


def arith_unary_minus(x):
    return np.sum(-x * -x - (-x) + -(x**3))


def arith_scalar_and_array(s, x):
    return np.sum(s * x + x / s - s**2 * x + (x - s) ** 2) + s


def arith_reflected_scalars(x):
    return np.sum(2.0 / x + 3.0 - x + 2.0**x + 1 - 4 * x)


def broadcast_matrix_row(a, r):
    return np.sum(np.sin(a + r) * r - a / (2.0 + r * r))


def broadcast_column_row(c, r):
    return np.sum(np.tanh(c + r) ** 2 + c * r)


def broadcast_column_times_row(c, r):
    return np.sum((c * r) ** 2 - c / (1.5 + r))


def broadcast_matrix_column(a, c):
    return np.sum(np.cos(a * c) + (a - c) ** 2)


def broadcast_to_3d(a, b):
    return np.sum(np.sin(a[:, :, None] * b[None, :, :]))


def broadcast_length_one(a, c):
    return np.sum(np.sin(a * c) + c)


def broadcast_three_ways(x):
    return np.sum(x[:, None, None] * x[None, :, None] * x[None, None, :])


def arith_integer_arguments(x, n):
    return np.sum(x**n) + np.sum(n * x) + np.sum(x / n) + np.sum(n / (1.0 + x * x))


def arith_negative_powers(x):
    return np.sum(x**-2) + np.sum(1.0 / x**0.5)


ARITH_CASES = [
    Case(arith_same_shape, (normal(3, 4), normal(3, 4)), (0, 1)),
    Case(arith_division_and_powers, (normal(5), normal(5)), (0, 1)),
    Case(arith_array_exponent, (uniform(0.5, 2.0, 2, 3), uniform(0.5, 2.0, 2, 3)), (0, 1)),
    Case(arith_unary_minus, (normal(2, 3),)),
    Case(arith_scalar_and_array, (1.3, normal(4, 2)), (0, 1)),
    Case(arith_scalar_and_array, (-0.7, normal(6)), 0, id="scalar_and_array_wrt_scalar"),
    Case(arith_reflected_scalars, (away_from_zero(3, 2),)),
    Case(broadcast_matrix_row, (normal(3, 4), normal(4)), (0, 1)),
    Case(broadcast_column_row, (normal(3, 1), normal(4)), (0, 1)),
    Case(broadcast_column_times_row, (normal(3, 1), uniform(0.0, 1.0, 1, 4)), (0, 1)),
    Case(broadcast_matrix_column, (normal(3, 4), normal(3, 1)), (0, 1)),
    Case(broadcast_to_3d, (normal(2, 3), normal(3, 2)), (0, 1)),
    Case(broadcast_length_one, (normal(3, 4), normal(1)), (0, 1)),
    Case(broadcast_length_one, (normal(3, 4), normal(1, 1)), (0, 1), id="broadcast_one_by_one"),
    Case(broadcast_three_ways, (normal(3),)),
    Case(arith_integer_arguments, (normal(4), 3)),
    Case(arith_negative_powers, (uniform(0.5, 2.0, 3),)),
]


# --- elementwise functions ------------------------------------------------------------------------


def ew_exp_log(x, w):
    return np.sum(w * np.exp(x) + np.log(x * x + 1.0) * w)


def ew_log1p_expm1(x, w):
    return np.sum(np.log1p(x * x) * w - np.expm1(x) * w)


def ew_sqrt_square(x, w):
    return np.sum(np.sqrt(1.0 + x * x) * w + np.square(x) * w + np.square(x * w))


def ew_abs(x, w):
    return np.sum(np.abs(x) * w + np.abs(x * w) ** 1.5)


def ew_trig(x, w):
    return np.sum(np.sin(x) * w + np.cos(x * w) + np.tan(x * 0.5) * w)


def ew_hyperbolic(x, w):
    return np.sum(np.tanh(x) * w + np.sinh(x) * w - np.cosh(x * w))


def ew_arctan(x, w):
    return np.sum(np.arctan(x * w) + np.arctan(x) * w)


def ew_arctan2(y, x):
    return np.sum(np.arctan2(y, x) * (1.0 + y * y))


def ew_power(x, p):
    return np.sum(np.power(x, 3) + np.power(x, p) + np.power(2.0, x * p))


def ew_maximum_minimum(x, y):
    return np.sum(np.maximum(x, y) * x + np.minimum(x, y) ** 2)


def ew_maximum_scalar(x):
    return np.sum(np.maximum(x, 0.0) * x + np.minimum(x, 0.3) + np.maximum(-0.4, x) ** 3)


def ew_where(x):
    return np.sum(np.where(x > 0, x, 0.1 * x) * x + np.where(x < 0.5, np.sin(x), x * x))


def ew_clip(x, w):
    return np.sum(np.clip(x, -0.5, 0.5) * w + np.clip(x * w, 0.0, 10.0) ** 2)


def ew_sign(x):
    return np.sum(np.sign(x) * x * x + np.sign(x))


def ew_hypot(x, y):
    return np.sum(np.hypot(x, y) * x + np.hypot(x, 2.0))


def ew_with_scalar_argument(s, x):
    return np.sum(np.exp(s * x) + np.maximum(x, s) + np.where(x > s, s * x, x)) + np.sin(s)


EW_CASES = [
    Case(ew_exp_log, (normal(3, 4), normal(3, 4))),
    Case(ew_log1p_expm1, (normal(5), normal(5))),
    Case(ew_sqrt_square, (normal(2, 3), normal(2, 3)), (0, 1)),
    Case(ew_abs, (away_from_zero(3, 3), away_from_zero(3, 3)), (0, 1)),
    Case(ew_trig, (uniform(-1.2, 1.2, 2, 5), normal(2, 5)), (0, 1)),
    Case(ew_hyperbolic, (normal(4), normal(4)), (0, 1)),
    Case(ew_arctan, (normal(3, 2), normal(3, 2)), (0, 1)),
    Case(ew_arctan2, (normal(2, 3), normal(2, 3)), (0, 1)),
    Case(ew_power, (uniform(0.5, 2.0, 5), uniform(0.5, 2.0, 5)), (0, 1)),
    Case(ew_maximum_minimum, (normal(3, 3), normal(3, 3)), (0, 1)),
    Case(ew_maximum_scalar, (np.array([-1.1, -0.2, 0.1, 0.45, 0.9, 1.7]),)),
    Case(ew_where, (np.array([[-1.3, -0.2, 0.25], [0.7, 1.4, -0.6]]),)),
    Case(ew_clip, (np.array([-0.9, -0.3, 0.2, 0.7, 1.1]), uniform(0.5, 1.5, 5)), (0, 1)),
    Case(ew_sign, (away_from_zero(2, 3),)),
    Case(ew_hypot, (normal(4), normal(4)), (0, 1)),
    Case(ew_with_scalar_argument, (0.35, np.array([-0.8, 0.1, 0.6, 1.2])), (0, 1)),
]


# --- reductions -----------------------------------------------------------------------------------


def red_sum(x):
    return np.sin(np.sum(x * x)) + np.sum(x)


def red_sum_axis0(x):
    return np.sum(np.sin(np.sum(x, axis=0)))


def red_sum_axis1(x):
    return np.sum(np.sin(np.sum(x, axis=1)) * np.sum(x, axis=1))


def red_sum_negative_axis(x):
    return np.sum(np.sin(np.sum(x, axis=-1))) + np.sum(np.cos(np.sum(x, axis=-2)) * x[0])


def red_sum_keepdims(x):
    return np.sum(np.sin(np.sum(x, axis=0, keepdims=True)) * x)


def red_sum_keepdims_negative(x):
    return np.sum(x / (1.0 + np.sum(x * x, axis=-1, keepdims=True)))


def red_sum_1d_axis0(x):
    return np.sin(np.sum(x, axis=0)) + np.sum(x, axis=-1) ** 2


def red_sum_methods(x):
    return np.sin(x.sum()) + np.sum(np.cos(x.sum(axis=0))) + np.sum(x.sum(axis=-1, keepdims=True))


def red_mean(x):
    return np.mean(np.sin(x)) * np.mean(x * x)


def red_mean_axis(x):
    return np.sum(np.mean(x, axis=0) ** 2) + np.sum(x * np.mean(x, axis=-1, keepdims=True))


def red_mean_methods(x):
    return x.mean() ** 2 + np.sum(np.tanh(x.mean(axis=1)))


def red_max_min(x):
    return np.max(x) * np.min(x) + np.max(np.sin(x)) - np.amax(x * x) + np.amin(x)


def red_max_min_axis(x):
    return np.sum(np.max(x, axis=1) ** 2) + np.sum(np.min(x, axis=0, keepdims=True) * x)


def red_max_min_methods(x):
    return x.max() - x.min(axis=-1).sum() + np.sum(x.max(axis=0) ** 2)


def red_max_ties(x):
    return np.max(x) * 3.0 + np.min(x)


def red_max_axis_ties(x, w):
    return np.sum(np.max(x, axis=0) * w) + np.sum(np.min(x, axis=1))


def red_prod(x):
    return np.prod(x) + np.prod(np.sin(x))


def red_prod_axis(x):
    return np.sum(np.prod(x, axis=0)) + np.sum(x.prod(axis=1) ** 2) + x.prod()


def red_norm(x):
    return np.linalg.norm(x) ** 3 + np.linalg.norm(np.sin(x))


def red_norm_matrix(x):
    return np.linalg.norm(x @ x.T) + np.linalg.norm(x)


def red_3d(x):
    return (
        np.sum(np.max(x, axis=1) ** 2)
        + np.sum(np.mean(x, axis=0) * 2.0)
        + np.sum(np.prod(x, axis=-1))
    )


def red_keepdims_1d(x):
    return np.sum(np.max(x, axis=0, keepdims=True) * x)


def red_centred_3d(x):
    return np.sum((x - np.mean(x, axis=-1, keepdims=True)) ** 2)


RED_CASES = [
    Case(red_sum, (normal(3, 4),)),
    Case(red_sum_axis0, (normal(3, 4),)),
    Case(red_sum_axis1, (normal(3, 4),)),
    Case(red_sum_negative_axis, (normal(2, 5),)),
    Case(red_sum_keepdims, (normal(3, 2),)),
    Case(red_sum_keepdims_negative, (normal(3, 4),)),
    Case(red_sum_1d_axis0, (normal(5),), numba=False),
    Case(red_sum_methods, (normal(3, 4),)),
    Case(red_mean, (normal(4, 3),)),
    Case(red_mean_axis, (normal(3, 4),)),
    Case(red_mean_methods, (normal(2, 5),)),
    Case(red_max_min, (normal(3, 4),)),
    Case(red_max_min_axis, (normal(3, 4),)),
    Case(red_max_min_methods, (normal(4, 3),)),
    Case(red_max_ties, (np.array([1.0, 3.0, -2.0, 3.0, -2.0, 0.5]),), id="max_ties_1d"),
    Case(red_max_ties, (np.array([[1.0, 3.0], [3.0, 0.5]]),), id="max_ties_2d"),
    Case(red_max_axis_ties, (np.array([[1.0, 2.0, 5.0], [1.0, 0.0, 5.0]]), uniform(1.0, 2.0, 3))),
    Case(red_prod, (uniform(0.5, 1.5, 2, 3),)),
    Case(red_prod, (np.array([0.7, 0.0, -1.3, 2.0]),), id="prod_with_a_zero"),
    Case(red_prod, (np.array([0.0, 1.5, 0.0]),), id="prod_with_two_zeros"),
    Case(red_prod_axis, (uniform(-1.5, 1.5, 3, 4),)),
    Case(
        red_prod_axis, (np.array([[0.0, 2.0], [1.5, 0.0], [0.7, -1.2]]),), id="prod_axis_with_zeros"
    ),  # fmt: skip
    Case(red_norm, (normal(6),)),
    Case(red_norm_matrix, (normal(2, 3),)),
    Case(red_3d, (normal(2, 3, 2),), numba=False),
    Case(red_keepdims_1d, (normal(4),), numba=False),
    Case(red_centred_3d, (normal(2, 2, 3),)),
]


# --- linear algebra -------------------------------------------------------------------------------


def la_matmul_2d_2d(a, b):
    return np.sum(np.sin(a @ b))


def la_matmul_1d_2d(v, a):
    return np.sum(np.tanh(v @ a))


def la_matmul_2d_1d(a, v):
    return np.sum((a @ v) ** 2)


def la_matmul_1d_1d(u, v):
    return np.sin(u @ v) + (u @ u) * 0.5


def la_dot(a, b, v):
    return np.sum(np.dot(a, b) ** 2) + np.sum(np.sin(np.dot(v, a))) + np.dot(v, v)


def la_np_matmul(a, b, v):
    return np.sum(np.cos(np.matmul(a, b))) + np.sum(np.matmul(a, np.matmul(b, v)))


def la_dot_method(a, v):
    return np.sum(a.dot(v) ** 2) + v.dot(v)


def la_matrix_chain(a, b, c):
    return np.sum(np.tanh(a @ b @ c)) + np.sum((a @ (b @ c)) ** 2)


def la_outer(u, v):
    return np.sum(np.sin(np.outer(u, v)) * np.outer(v, u).T)


def la_inner(u, v):
    return np.inner(u, v) ** 2 + np.inner(u, np.sin(u))


def la_transpose(a):
    return np.sum(np.sin(a.T) @ a) + np.sum(np.transpose(a) ** 3 * np.transpose(np.cos(a)))


def la_transpose_method(a, b):
    return np.sum(a.transpose() @ b)


def la_trace(a):
    return np.trace(a @ a.T) + np.trace(np.sin(a)) * np.trace(a.T @ a)


def la_quadratic_form(a, x):
    return x @ a @ x + np.sum((a @ x - x) ** 2)


LA_CASES = [
    Case(la_matmul_2d_2d, (normal(3, 4), normal(4, 2)), (0, 1)),
    Case(la_matmul_1d_2d, (normal(3), normal(3, 4)), (0, 1)),
    Case(la_matmul_2d_1d, (normal(3, 4), normal(4)), (0, 1)),
    Case(la_matmul_1d_1d, (normal(5), normal(5)), (0, 1)),
    Case(la_dot, (normal(3, 3), normal(3, 2), normal(3)), (0, 1, 2)),
    Case(la_np_matmul, (normal(2, 3), normal(3, 4), normal(4)), (0, 1, 2)),
    Case(la_dot_method, (normal(3, 4), normal(4)), (0, 1)),
    Case(la_matrix_chain, (normal(2, 3), normal(3, 4), normal(4, 2)), (0, 1, 2)),
    Case(la_outer, (normal(3), normal(4)), (0, 1)),
    Case(la_inner, (normal(4), normal(4)), (0, 1)),
    Case(la_transpose, (normal(3, 2),)),
    Case(la_transpose_method, (normal(3, 2), normal(3, 4)), (0, 1)),
    Case(la_trace, (normal(3, 3),)),
    Case(la_trace, (normal(2, 4),), id="trace_not_square"),
    Case(la_quadratic_form, (normal(4, 4), normal(4)), (0, 1)),
]


# --- shapes ---------------------------------------------------------------------------------------


def sh_reshape(x, w):
    return np.sum(np.sin(np.reshape(x, (3, 4))) * w)


def sh_reshape_method(x, w):
    return np.sum(x.reshape(4, 3) * w) + np.sum(x.reshape((4, 3)) ** 2 * w)


def sh_reshape_to_matrix(x, w):
    return np.sum(np.tanh(x.reshape(2, 3) @ w))


def sh_ravel_flatten(x, w):
    return np.sum(x.ravel() * w) + np.sum(np.sin(x.flatten()) * w) + np.sum(np.ravel(x) ** 3)


def sh_expand_dims(x, w):
    return np.sum(np.expand_dims(x, 0) * w) + np.sum(np.sin(np.expand_dims(x, axis=1)) * w.T)


def sh_none_index(x, y):
    return np.sum(np.tanh(x[None, :] * y[:, None])) + np.sum(x[:, None] ** 2)


def sh_concatenate(a, b, w):
    return np.sum(np.sin(np.concatenate([a, b], axis=0)) * w)


def sh_concatenate_default_axis(a, b, w):
    return np.sum(np.concatenate([a, b]) ** 2 * w)


def sh_concatenate_axis1(a, b):
    c = np.concatenate([a, b], axis=1)
    return np.sum(np.sin(c) * c[:, ::-1]) + np.sum(np.concatenate((a, b), axis=-1) ** 3)


def sh_concatenate_three(a, b, c, w):
    return np.sum(np.cos(np.concatenate([a, b * 2.0, c], axis=0)) * w)


def sh_stack(a, b, w):
    return np.sum(np.sin(np.stack([a, b], axis=0)) * w) + np.sum(np.stack([a, b]) ** 2)


def sh_stack_axis1(a, b, w):
    return np.sum(np.tanh(np.stack([a, b], axis=1)) * w)


def sh_shape_reads(x):
    n, d = x.shape
    return np.sum(x**2) / (n * d) + x.shape[0] * np.sum(x[0]) + x.shape[1] * x[n - 1, d - 1]


def sh_reshape_minus_one(x, w):
    return np.sum(x.reshape(2, -1) ** 2 * w) + np.sum(np.reshape(x, (-1,)) * x)


def sh_sizes(x):
    return np.sum(x) / x.size + len(x) * x[0, 0] + x.ndim * np.sum(x**2)


def sh_double_transpose(a):
    return np.sum(a.T.T * a) + np.sum(np.eye(3) @ a.T) + np.sum(np.ones_like(a) * a)


SH_CASES = [
    Case(sh_reshape, (normal(12), normal(3, 4))),
    Case(sh_reshape_method, (normal(2, 6), normal(4, 3))),
    Case(sh_reshape_to_matrix, (normal(6), normal(3, 2))),
    Case(sh_ravel_flatten, (normal(3, 2), normal(6))),
    Case(sh_expand_dims, (normal(4), normal(3, 4)), (0, 1)),
    Case(sh_none_index, (normal(3), normal(4)), (0, 1)),
    Case(sh_concatenate, (normal(2, 3), normal(3, 3), normal(5, 3)), (0, 1)),
    Case(sh_concatenate_default_axis, (normal(3), normal(2), normal(5)), (0, 1)),
    Case(sh_concatenate_axis1, (normal(2, 3), normal(2, 2)), (0, 1)),
    Case(sh_concatenate_three, (normal(2), normal(3), normal(1), normal(6)), (0, 1, 2)),
    Case(sh_stack, (normal(3), normal(3), normal(2, 3)), (0, 1)),
    Case(sh_stack_axis1, (normal(2, 3), normal(2, 3), normal(2, 2, 3)), (0, 1)),
    Case(sh_shape_reads, (normal(3, 4),)),
    Case(sh_reshape_minus_one, (normal(6), normal(2, 3))),
    Case(sh_sizes, (normal(2, 3),)),
    Case(sh_double_transpose, (normal(2, 3),)),
]


# --- indexing and slicing reads -------------------------------------------------------------------


def ix_element(x, i):
    return x[i] ** 2 + x[-1] * x[0] + np.sum(x) * x[i + 1]


def ix_element_2d(x, i, j):
    return x[i, j] * x[j, i] + np.sum(x[i] ** 2) + x[-1, -1]


def ix_columns(x):
    return np.sum(np.sin(x[:, 0]) * x[:, -1]) + np.sum(x[1] * x[:3, 1])


def ix_slices(x):
    return np.sum(x[1:] * x[:-1]) + np.sum(x[::2] ** 2) + np.sum(x[1:3] * 2.0) + np.sum(x[::-1] * x)


def ix_slices_2d(x):
    return np.sum(x[1:, ::2] ** 2) + np.sum(x[0, 1:] * x[-1, :-1]) + np.sum(np.sin(x[:2, 1:3]))


def ix_window_loop(x, k):
    s = 0.0
    for i in range(x.shape[0] - k + 1):
        s += np.sum(x[i : i + k]) ** 2 + np.max(x[i : i + k])
    return s


def ix_rows_in_loop(x, w):
    s = 0.0
    for i in range(x.shape[0]):
        s += np.tanh(x[i] @ w) ** 2
    return s


def ix_label_pick(logp, labels):
    n = logp.shape[0]
    return -np.mean(np.sin(logp[np.arange(n), labels]) * logp[np.arange(n), labels])


def ix_integer_array_repeats(x, idx):
    return np.sum(np.sin(x[idx]) * x[idx]) + np.sum(x[idx] ** 2)


def ix_boolean_mask(x):
    return np.sum((x > 0) * x) + np.sum(x[x > 0.5] ** 2)


def ix_rows_bound_in_loop(X):
    total = 0.0
    for i in range(X.shape[0]):
        r = X[i]
        total += np.mean(r) * np.max(r)
    return total


IX_CASES = [
    Case(ix_element, (normal(5), 2)),
    Case(ix_element_2d, (normal(3, 3), 0, 2)),
    Case(ix_columns, (normal(4, 3),)),
    Case(ix_slices, (normal(7),)),
    Case(ix_slices_2d, (normal(3, 5),)),
    Case(ix_window_loop, (normal(8), 3)),
    Case(ix_rows_in_loop, (normal(4, 3), normal(3)), (0, 1)),
    Case(ix_label_pick, (normal(5, 3), np.array([2, 0, 1, 1, 2], dtype=np.int64)), numba=False),
    Case(
        ix_integer_array_repeats,
        (normal(4), np.array([0, 2, 0, 0, 3], dtype=np.int64)),
        numba=False,
    ),
    Case(ix_boolean_mask, (np.array([-0.7, 0.2, 0.9, 1.3, -0.1]),), numba=False),
    Case(ix_rows_bound_in_loop, (normal(3, 4),)),
]


# --- creating arrays and writing into them --------------------------------------------------------


def wr_element_loop(x):
    n = x.shape[0]
    y = np.zeros(n)
    for i in range(n):
        y[i] = x[i] * x[n - 1 - i] + x[i]
    return np.sum(np.sin(y))


def wr_accumulate(x):
    y = np.zeros(3)
    for i in range(x.shape[0]):
        y[i % 3] += x[i] ** 2
    return np.sum(y * y)


def wr_2d(x):
    y = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            y[i, j] = x[i] * x[j] + i
    return np.sum(np.tanh(y)) + np.trace(y @ y)


def wr_overwrite_in_loop(x):
    y = np.zeros(2)
    for k in range(x.shape[0]):
        y[0] = np.sin(y[0]) + x[k]
        y[1] = y[1] * x[k] + 1.0
    return y[0] * y[1]


def wr_overwrite_straight_line(x):
    y = np.ones(3)
    y[1] = x[0] * 2.0
    s = y[1] * x[1]
    y[1] = s * s
    y[1] = y[1] + x[2]
    y[1] += y[1] * x[0]
    return np.sum(y * x)


def wr_slices(x):
    y = np.zeros(5)
    y[1:3] = x[:2] * 2.0
    y[3:] = x[2:] ** 2
    y[0] = 3.0
    y[1:3] = y[1:3] * y[3:5]
    return np.sum(y * y)


def wr_slice_scalar(x):
    y = np.ones(4)
    y[1:3] = x[0] * x[3]
    y[:2] += x[1:3]
    return np.sum(y * x)


def wr_copy(x):
    y = x.copy()
    y[0] = y[0] * 3.0
    y[1] += y[2]
    return np.sum(y**2) + np.sum(x * y)


def wr_zeros_like_rows(x):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = x[i] * (i + 1.0)
    return np.sum(y**3)


def wr_empty(x):
    y = np.empty(3)
    for i in range(3):
        y[i] = math.exp(x[i]) - x[i + 1]
    return np.sum(y * y)


def wr_ones_shape_tuple(x):
    y = np.ones((2, 2))
    y[0, 1] = x[0]
    y[1, :] = x[1:3]
    return np.sum(y @ y)


def wr_windows(x):
    n = x.shape[0]
    y = np.zeros(n - 1)
    for i in range(n - 1):
        y[i] = np.sum(x[i : i + 2] ** 2)
    return np.sum(np.sqrt(y))


def wr_prefix_sums(x):
    n = x.shape[0]
    c = np.zeros(n)
    c[0] = x[0]
    for i in range(1, n):
        c[i] = c[i - 1] * 0.5 + x[i]
    return np.sum(c**2)


def wr_read_whole_array_in_loop(x):
    y = np.zeros(3)
    s = 0.0
    for i in range(3):
        y[i] = x[i] ** 2
        s += np.sum(y * x)
    return s


def wr_overwrite_copy_of_argument(x):
    y = x.copy()
    y[0] = 0.0
    y[2] = y[1] * 3.0
    return np.sum(y**2)


def wr_shape_from_argument(x):
    n, d = x.shape
    y = np.zeros((n, d))
    for i in range(n):
        for j in range(d):
            y[i, j] = x[i, j] * (j + 1.0) + x[i, 0]
    return np.sum(np.tanh(y))


def wr_two_arrays(x):
    a = np.zeros(3)
    b = np.zeros(3)
    for i in range(3):
        a[i] = x[i] * 2.0
        b[i] = a[i] * a[i] + b[i - 1]
    return np.sum(b)


def wr_view_after_the_writes(x):
    y = np.zeros(4)
    for i in range(4):
        y[i] = np.sin(x[i])
    v = y[1:]
    return np.sum(v * v) + np.sum(y)


def wr_rows_times_vector(W, x):
    out = np.zeros(W.shape[0])
    for i in range(W.shape[0]):
        out[i] = np.tanh(W[i] @ x)
    return np.sum(out**2)


def wr_in_branches(x):
    y = np.zeros(4)
    for i in range(4):
        if x[i] > 0:
            y[i] = x[i] * x[i]
        else:
            y[i] = -x[i]
    return np.sum(y * x)


def wr_scalar_into_rows(x, w):
    y = np.zeros((2, 3))
    y[0] = x[0]
    y[1, :] = x[1]
    return np.sum(y * w)


WR_CASES = [
    Case(wr_element_loop, (normal(5),)),
    Case(wr_accumulate, (normal(7),)),
    Case(wr_2d, (normal(3) * 0.5,)),
    Case(wr_overwrite_in_loop, (normal(5),)),
    Case(wr_overwrite_straight_line, (normal(3),)),
    Case(wr_slices, (normal(4),), numba=False),
    Case(wr_slice_scalar, (normal(4),), numba=False),
    Case(wr_copy, (normal(4),)),
    Case(wr_zeros_like_rows, (normal(3, 2),), numba=False),
    Case(wr_empty, (normal(4),)),
    Case(wr_ones_shape_tuple, (normal(3),), numba=False),
    Case(wr_windows, (normal(5),)),
    Case(wr_prefix_sums, (normal(6),)),
    Case(wr_read_whole_array_in_loop, (normal(3),), numba=False),
    Case(wr_overwrite_copy_of_argument, (normal(3),)),
    Case(wr_shape_from_argument, (normal(2, 3),)),
    Case(wr_two_arrays, (normal(3),)),
    Case(wr_view_after_the_writes, (normal(4),)),
    Case(wr_rows_times_vector, (normal(3, 2), normal(2)), (0, 1)),
    Case(wr_in_branches, (np.array([0.5, -0.3, 1.2, -0.8]),)),
    Case(wr_scalar_into_rows, (normal(2), normal(2, 3)), numba=False),
]


# --- loops mixed with array code ------------------------------------------------------------------


def rosenbrock_loop_and_sum(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s + np.sum(x**2)


def rosenbrock_vectorized(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rnn(W, h0, x):
    h = h0
    for t in range(x.shape[0]):
        h = np.tanh(W @ h + x[t])
    return np.sum(h * h)


def rnn_steps(W, h0, x, T):
    h = h0
    for t in range(T):
        h = np.tanh(W @ h + x[t])
    return np.sum(np.sin(h))


def rnn_with_loss_per_step(W, U, h0, x):
    h = h0
    loss = 0.0
    for t in range(x.shape[0]):
        h = np.tanh(W @ h + U @ x[t])
        loss += np.sum((h - 0.5) ** 2)
    return loss


def power_iteration(a, v, n):
    for _ in range(n):
        v = a @ v
        v = v / np.linalg.norm(v)
    return v @ a @ v


def array_branch(x):
    if np.sum(x) > 0.0:
        y = np.sin(x) * 2.0
    else:
        y = x**2
    return np.sum(y * x)


def array_reassigned_in_loop(x, n):
    y = x
    for _ in range(n):
        y = np.sin(y) + 0.5 * x
    return np.sum(y)


def layer(W, x):
    return np.tanh(W @ x)


def two_layers_through_a_helper(W1, W2, x):
    return np.sum(layer(W2, layer(W1, x)))


def squared_norm(x):
    return np.sum(x * x)


def helper_returning_a_float(x, y):
    return squared_norm(x) * squared_norm(y) + squared_norm(x - y)


def halve_while_large(x):
    y = x.copy()
    k = 0
    while np.sum(y * y) > 0.1 and k < 10:
        y = y * 0.5
        k += 1
    return np.sum(y)


def prefix_until_negative(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] < 0.0:
            break
        s += np.sum(x[: i + 1] ** 2)
    return s


def augmented_whole_arrays(x):
    y = x * 1.0
    y += x**2
    y *= x
    y -= np.sin(x)
    y /= 2.0 + x * x
    return np.sum(y)


LOOP_CASES = [
    Case(rosenbrock_loop_and_sum, (uniform(-1.0, 1.0, 6),)),
    Case(rosenbrock_vectorized, (uniform(-1.0, 1.0, 6),)),
    Case(rosenbrock_vectorized, (uniform(-1.0, 1.0, 50),), id="rosenbrock_vectorized_50"),
    # an array reassigned in a loop needs an array tape, which the Numba backend lacks
    Case(rnn, (normal(3, 3, scale=0.5), normal(3), normal(5, 3)), (0, 1), numba=False),
    Case(
        rnn_steps, (normal(4, 4, scale=0.5), normal(4), normal(6, 4), 6), (0, 1, 2), numba=False
    ),  # fmt: skip
    Case(
        rnn_with_loss_per_step,
        (normal(3, 3, scale=0.5), normal(3, 2), normal(3), normal(4, 2)),
        (0, 1, 2, 3),
        numba=False,
    ),  # fmt: skip
    Case(power_iteration, (normal(3, 3), normal(3), 4), (0, 1), numba=False),
    Case(array_branch, (normal(4) + 0.5,), id="array_branch_positive"),
    Case(array_branch, (normal(4) - 2.0,), id="array_branch_negative"),
    Case(array_reassigned_in_loop, (normal(2, 3), 3), numba=False),
    Case(two_layers_through_a_helper, (normal(3, 3), normal(2, 3), normal(3)), (0, 1, 2)),
    Case(helper_returning_a_float, (normal(3), normal(3)), (0, 1)),
    Case(halve_while_large, (normal(4),), numba=False),
    Case(prefix_until_negative, (np.array([0.3, 0.5, -0.2, 0.4]),), numba=False),
    Case(augmented_whole_arrays, (normal(3),), numba=False),
]

ALL_CASES = ARITH_CASES + EW_CASES + RED_CASES + LA_CASES + SH_CASES + IX_CASES
ALL_CASES += WR_CASES + LOOP_CASES
CASE_IDS = [case.id for case in ALL_CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS)


# --- the gradient of every case, on NumPy and as Numba-flavoured Python ---------------------------


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_numpy_backend_matches_finite_differences(case):
    g, _ = check_gradient(case.f, case.args, case.wrt, backend="numpy")
    assert backend_of(g) == "numpy"


def check_case_on_numba_backend(case, args):
    """backend="numba" with jit=False: the code generated for Numba, run as Python."""
    try:
        g, _ = check_gradient(case.f, args, case.wrt, backend="numba", jit=False)
    except SrcdiffError as error:
        if case.numba:
            raise
        assert_names_a_line_of(case.f, error)
        return
    assert backend_of(g) == "numba"


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_numba_backend_code_run_as_python_matches_finite_differences(case):
    check_case_on_numba_backend(case, case.args)


def as_float32(args):
    return tuple(
        a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
        for a in args
    )


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_float32_gradient_is_float32(case, backend):
    if backend == "numba":
        check_case_on_numba_backend(case, as_float32(case.args))
    else:
        check_gradient(case.f, as_float32(case.args), case.wrt, backend="numpy")


CASES_BY_ID = dict(zip(CASE_IDS, ALL_CASES, strict=True))
AUTO_CASES = ["rosenbrock_loop_and_sum", "rnn", "wr_prefix_sums", "ix_rows_in_loop"]


@pytest.mark.parametrize("name", AUTO_CASES)
def test_default_backend_on_loop_code(jit, name):
    """The default backend (Numba for loop code, unless it chooses NumPy) and jit modes."""
    case = CASES_BY_ID[name]
    check_gradient(case.f, case.args, case.wrt, backend="auto", jit=jit)


def test_whole_array_code_runs_on_numpy_by_default():
    case = CASES_BY_ID["la_matmul_2d_2d"]
    g, _ = check_gradient(case.f, case.args, case.wrt, backend="auto")
    assert backend_of(g) == "numpy"


def test_scalar_loop_code_still_runs_on_numba_by_default():
    g = srcdiff.grad(rosenbrock_elements, jit=False)
    g(np.array([0.1, 0.2, 0.3]))
    assert backend_of(g) == "numba"


def rosenbrock_elements(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


@pytest.mark.parametrize("case", ALL_CASES[::4], ids=CASE_IDS[::4])
def test_value_and_grad(case):
    backend = "numpy" if not case.numba else "numba"
    check_gradient(case.f, case.args, case.wrt, backend=backend, jit=False, value=True)


# --- compiled by Numba ----------------------------------------------------------------------------
# Numba takes seconds to compile each generated module, so these few functions each cover much.


def numba_elementwise(x, y):
    return np.sum(np.tanh(x) * y + np.where(x > 0, x, 0.1 * x) * np.maximum(x, y)) + np.max(x)


def numba_broadcasting_and_axes(a, r):
    return np.sum(np.max(np.sin(a + r), axis=1) ** 2)


def numba_linear_algebra_and_shapes(a, v):
    return np.sum(np.concatenate([v, np.tanh(v @ a)]) ** 2)


def numba_writes(x):
    n = x.shape[0]
    y = np.zeros(n)
    for i in range(n):
        y[i] = x[i] * x[n - 1 - i]
        y[0] += x[i]
    return np.sum(np.sin(y)) + y[0] * y[0]


NUMBA_CASES = [
    Case(numba_elementwise, (normal(2, 3), normal(2, 3))),
    Case(numba_broadcasting_and_axes, (normal(3, 4), normal(4)), (0, 1)),
    Case(numba_linear_algebra_and_shapes, (normal(3, 4), normal(3))),
    Case(numba_writes, (normal(5),)),
]


@pytest.mark.parametrize("case", NUMBA_CASES, ids=[c.id for c in NUMBA_CASES])
def test_numba_compiles_array_code(case):
    with no_fallback_warning():
        g, _ = check_gradient(case.f, case.args, case.wrt, backend="numba", jit=True)
    assert backend_of(g) == "numba"


def numba_float32(x):
    return np.max(x) * np.sum(x * x)


def test_numba_float32():
    x = normal(2, 3).astype(np.float32)
    with no_fallback_warning():
        g, grad = check_gradient(numba_float32, (x,), backend="numba", jit=True)
    assert grad.dtype == np.float32, g.source


def numba_less_label_pick(logp, labels):
    return np.sum(logp[np.arange(logp.shape[0]), labels] ** 2)  # error: numba-label-pick


def numba_less_gather(x, idx):
    return np.sum(np.sin(x[idx]))  # error: numba-gather


def numba_less_reassigned(W, h):
    for _ in range(3):
        h = np.tanh(W @ h)  # error: numba-reassigned
    return np.sum(h)


NUMBA_LESS = [
    (numba_less_label_pick, (normal(3, 2), np.array([1, 0, 1])), "numba-label-pick"),
    (numba_less_gather, (normal(4), np.array([3, 0, 3])), "numba-gather"),
    (numba_less_reassigned, (normal(3, 3), normal(3)), "numba-reassigned"),
]


@pytest.mark.parametrize(("f", "args", "marker"), NUMBA_LESS, ids=[c[2] for c in NUMBA_LESS])
@pytest.mark.parametrize("jit", [True, None, False], ids=["jit", "default", "nojit"])
def test_forced_numba_rejects_what_it_has_no_form_for(f, args, marker, jit):
    srcdiff_error_at(f, marker, args, backend="numba", jit=jit)
    # the same function works on NumPy, and by default
    check_gradient(f, args, 0, backend="numpy")
    check_gradient(f, args, 0, backend="auto")


# --- the caller's arrays and the returned gradients -----------------------------------------------


def uses_argument_directly(x, y):
    z = x
    return np.sum(z + y)


def plus_of_arguments(x, y):
    return np.sum(x + y) + np.sum(x)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("f", [uses_argument_directly, plus_of_arguments])
def test_gradients_are_fresh_writable_arrays(f, backend):
    x, y = normal(3, 2), normal(3, 2)
    before = (x.copy(), y.copy())
    gx, gy = srcdiff.grad(f, wrt=(0, 1), backend=backend, jit=False)(x, y)
    for grad in (gx, gy):
        assert isinstance(grad, np.ndarray) and grad.shape == x.shape
        assert not np.shares_memory(grad, x) and not np.shares_memory(grad, y)
        assert grad.flags.writeable
    assert not np.shares_memory(gx, gy)
    gx[...] = 7.0  # changing one gradient changes nothing else
    assert np.all(gy != 7.0)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])


def test_repeated_calls_agree_and_leave_arguments_alone():
    g = srcdiff.grad(wr_copy)
    x = normal(4)
    before = x.copy()
    first = g(x)
    second = g(x)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(x, before)
    assert first is not second


@pytest.mark.parametrize("name", ["wr_overwrite_in_loop", "rnn", "sh_concatenate_axis1"])
def test_warm_calls_with_new_values_are_right(name):
    """After the first call the gradient goes straight to the compiled variant; tapes and
    adjoints must start afresh at every call."""
    case = CASES_BY_ID[name]
    g = srcdiff.grad(case.f, wrt=case.wrt)
    rng = np.random.default_rng(5)
    for _ in range(3):
        args = tuple(
            rng.normal(size=a.shape) * 0.7 if isinstance(a, np.ndarray) else a for a in case.args
        )
        got = call_gradient(g, args)
        grads = got if isinstance(case.wrt, tuple) else (got,)
        positions = case.wrt if isinstance(case.wrt, tuple) else (case.wrt,)
        for position, grad in zip(positions, grads, strict=True):
            compare_to_fd(g, case.f, args, position, grad, *TOLERANCES[np.float64])


def test_non_contiguous_and_read_only_arguments():
    base = normal(4, 6)
    x = base[:, ::2]  # a strided view
    x.flags.writeable = False
    check_gradient(la_transpose, (x,), backend="numpy")
    check_gradient(red_max_min_axis, (x,), backend="numpy")
    check_gradient(ix_rows_in_loop, (x, base[0, 1::2].copy()), (0, 1), backend="numpy")


def test_new_ranks_and_dtypes_get_new_variants():
    g = srcdiff.grad(red_sum)
    for x in (normal(5), normal(2, 3), normal(4).astype(np.float32), normal(2, 2)):
        got = g(x)
        assert got.shape == x.shape and got.dtype == x.dtype
        np.testing.assert_allclose(
            got, coordinate_fd(red_sum, (x,), 0), **_rtol_atol(x.dtype), err_msg=g.source
        )


def _rtol_atol(dtype):
    rtol, atol = TOLERANCES[np.float32 if dtype == np.float32 else np.float64]
    return {"rtol": rtol, "atol": atol}


def test_integer_array_argument_is_differentiated_as_float():
    x = np.arange(6, dtype=np.int64).reshape(2, 3)
    grad = srcdiff.grad(la_transpose)(x)
    assert grad.dtype == np.float64 and grad.shape == (2, 3)
    np.testing.assert_allclose(grad, coordinate_fd(la_transpose, (x.astype(float),), 0), rtol=1e-6)
    assert x.dtype == np.int64


def test_wrt_by_name():
    a, r = normal(3, 4), normal(4)
    g = srcdiff.grad(broadcast_matrix_row, wrt=("r", "a"))
    gr, ga = g(a, r)
    assert gr.shape == (4,) and ga.shape == (3, 4)
    np.testing.assert_allclose(gr, coordinate_fd(broadcast_matrix_row, (a, r), 1), rtol=1e-6)
    np.testing.assert_allclose(ga, coordinate_fd(broadcast_matrix_row, (a, r), 0), rtol=1e-6)


# --- sympy: exact gradients of small straight-line array functions --------------------------------


class SympyNumpy:
    """``np`` for object arrays of sympy expressions: elementwise functions are applied
    element by element with their sympy twins; structure (sum, @, slicing, reshape...) is
    NumPy's own, which works on object arrays."""

    def __init__(self):
        def each(fn):
            ufunc = np.frompyfunc(fn, 1, 1)
            return lambda x: ufunc(x)

        self.exp, self.log, self.sin, self.cos = map(
            each, (sympy.exp, sympy.log, sympy.sin, sympy.cos)
        )
        self.tan, self.tanh, self.sinh, self.cosh = map(
            each, (sympy.tan, sympy.tanh, sympy.sinh, sympy.cosh)
        )
        self.sqrt, self.arctan = each(sympy.sqrt), each(sympy.atan)
        self.log1p = each(lambda v: sympy.log(1 + v))
        self.expm1 = each(lambda v: sympy.exp(v) - 1)
        self.square = lambda x: x * x
        self.power = lambda x, p: x**p
        self.linalg = types.SimpleNamespace(norm=lambda x: sympy.sqrt(np.sum(x * x)))

    def __getattr__(self, name):
        return getattr(np, name)


def sympy_array_gradient(f, args, position):
    """d f / d args[position] from sympy.diff, ``args[position]`` a short 1-D array."""
    x0 = np.asarray(args[position], dtype=np.float64)
    symbols = [sympy.Symbol(f"x{i}", real=True) for i in range(x0.size)]
    symbolic = list(args)
    symbolic[position] = np.array(symbols, dtype=object)
    twin = types.FunctionType(f.__code__, {**f.__globals__, "np": SympyNumpy()}, f.__name__)
    expression = twin(*symbolic)
    if isinstance(expression, np.ndarray):
        expression = expression.item()
    expression = sympy.sympify(expression)
    point = {s: sympy.Float(float(v), 40) for s, v in zip(symbols, x0, strict=True)}
    return np.array([float(sympy.diff(expression, s).subs(point).evalf(40)) for s in symbols])


def sp_elementwise(x, w):
    return np.sum(np.exp(x) * w + np.log(1.0 + x * x) - np.sqrt(2.0 + x) * np.tanh(x * w))


def sp_trig(x, w):
    return np.sum(np.sin(x) * np.cos(w * x) + np.tan(0.5 * x) + np.arctan(x) * np.sinh(x))


def sp_log1p_expm1(x, w):
    return np.sum(np.log1p(x * x) * w + np.expm1(x) * np.cosh(w) + np.square(x) + np.power(x, 3))


def sp_reductions(x, w):
    return np.prod(x + 2.0) + np.mean(x * w) ** 2 + np.linalg.norm(x) * np.sum(w)


def sp_linear_algebra(x, w):
    return (x @ w) ** 2 + np.sum(np.outer(x, w) ** 2) + np.inner(x, x) + np.dot(x, w)


def sp_slices(x, w):
    return np.sum(x[1:] * x[:-1]) + x[0] * x[-1] + np.sum(x[::2] * w[::2]) + np.sum(x[::-1] * w)


def sp_broadcast_outer(x, w):
    return np.sum(np.tanh(x[:, None] * w[None, :]) + x[:, None] - w)


def sp_reshape(x, w):
    return np.sum(x.reshape(2, 2).T @ w.reshape(2, 2)) + np.sum(np.ravel(x) * w)


SYMPY_CASES = [sp_elementwise, sp_trig, sp_log1p_expm1, sp_reductions, sp_linear_algebra,
               sp_slices, sp_broadcast_outer, sp_reshape]  # fmt: skip


@pytest.mark.parametrize("f", SYMPY_CASES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_matches_sympy(f, backend):
    x = np.array([0.3, -0.7, 1.1, 0.45])
    w = np.array([0.8, 0.25, -0.6, 1.3])
    gx, gw = call_gradient(srcdiff.grad(f, wrt=(0, 1), backend=backend, jit=False), (x, w))
    np.testing.assert_allclose(gx, sympy_array_gradient(f, (x, w), 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw, sympy_array_gradient(f, (x, w), 1), rtol=1e-10, atol=1e-12)


def test_sympy_twin_is_a_real_reference():
    """The sympy reference is not vacuous: it disagrees with a wrong gradient."""
    x, w = np.array([0.3, -0.7, 1.1, 0.45]), np.array([0.8, 0.25, -0.6, 1.3])
    exact = sympy_array_gradient(sp_linear_algebra, (x, w), 0)
    np.testing.assert_allclose(exact, coordinate_fd(sp_linear_algebra, (x, w), 0), rtol=1e-7)
    assert not np.allclose(exact, 0.0)


# --- errors ---------------------------------------------------------------------------------------


def err_cumprod(x):
    return np.sum(np.cumprod(x))  # error: cumprod


def err_sort(x):
    y = np.sort(x)  # error: sort
    return y[0]


def err_write_argument(x):
    x[0] = 1.0  # error: write-argument
    return np.sum(x)


def err_write_argument_slice(x):
    y = x * 2.0
    x[1:] += y[1:]  # error: write-argument-slice
    return np.sum(x)


def err_view_then_write(x):
    y = x.copy()
    v = y[1:]
    y[2] = 5.0
    return np.sum(v)  # error: view-then-write


def err_transposed_view_then_write(x):
    y = np.zeros((2, 2))
    t = y.T
    y[0, 1] = x[0]
    return np.sum(t * x[1])  # error: transposed-view


def err_sum_dtype(x):
    return np.sum(x, dtype=float)  # error: sum-dtype


def err_sum_out(x):
    return np.sum(x, out=None)  # error: sum-out


def err_norm_ord(x):
    return np.linalg.norm(x, ord=1)  # error: norm-ord


def err_method(x):
    return np.sum(x.cumprod())  # error: method


def err_matmul_3d(x):
    y = x[:, :, None]
    return np.sum(y @ y)  # error: matmul-3d


ERROR_CASES = [
    (err_cumprod, "cumprod", "np.cumprod"),
    (err_sort, "sort", "np.sort"),
    (err_write_argument, "write-argument", "argument `x`"),
    (err_write_argument_slice, "write-argument-slice", "argument `x`"),
    (err_view_then_write, "view-then-write", "view"),
    (err_transposed_view_then_write, "transposed-view", "view"),
    (err_sum_dtype, "sum-dtype", "dtype"),
    (err_sum_out, "sum-out", "out"),
    (err_norm_ord, "norm-ord", "ord"),
    (err_method, "method", "cumprod"),
    (err_matmul_3d, "matmul-3d", "@"),
]


@pytest.mark.parametrize(
    ("f", "marker", "named"), ERROR_CASES, ids=[marker for _, marker, _ in ERROR_CASES]
)
@pytest.mark.parametrize("backend", ["auto", "numpy", "numba"])
def test_unsupported_array_code_is_reported_at_its_line(f, marker, named, backend):
    x = normal(2, 2) if f is err_matmul_3d else normal(4)
    error = srcdiff_error_at(f, marker, (x,), backend=backend, jit=False)
    assert named in str(error), str(error)


# --- properties (hypothesis) ----------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=2).map(tuple)


@st.composite
def broadcast_pairs(draw):
    """Two shapes NumPy broadcasts together: each dimension of each is the full size or 1,
    and either may have fewer dimensions."""
    full = draw(shapes)

    def partner():
        dims = tuple(draw(st.sampled_from([n, 1])) for n in full)
        return dims[draw(st.integers(0, len(dims) - 1)) :] if len(dims) > 1 else dims

    return partner(), partner()


def prop_composite(x, y):
    z = np.tanh(x * y) + np.sin(x - y) / (1.0 + y * y) + np.exp(np.cos(x)) * y
    return np.sum(z * z) + np.mean(np.sqrt(1.0 + x * x) * y) + np.linalg.norm(z + 1.0)


def prop_single(x):
    return np.sum(np.log(1.0 + x * x) * np.cos(x)) + np.prod(np.tanh(x) + 2.0) + np.mean(x) ** 2


def prop_axis(x):
    return np.sum(np.sin(np.sum(x, axis=0))) + np.sum(np.mean(x * x, axis=-1, keepdims=True) * x)


GRADIENTS: dict[tuple, object] = {}


def cached_grad(f, wrt, backend="numpy"):
    """One srcdiff gradient per function: hypothesis examples reuse its compiled variants."""
    key = (f, wrt, backend)
    if key not in GRADIENTS:
        GRADIENTS[key] = srcdiff.grad(f, wrt=wrt, backend=backend, jit=False)
    return GRADIENTS[key]


def check_cached(f, args, wrt, backend="numpy"):
    g = cached_grad(f, wrt, backend)
    before = [a.copy() for a in args]
    got = call_gradient(g, args)
    assert_unchanged(args, before, g.source)
    positions = wrt if isinstance(wrt, tuple) else (wrt,)
    grads = got if isinstance(wrt, tuple) else (got,)
    for position, grad in zip(positions, grads, strict=True):
        compare_to_fd(g, f, args, position, grad, *TOLERANCES[np.float64])


@PROPERTY_SETTINGS
@given(pair=broadcast_pairs(), seed=st.integers(0, 2**32 - 1), numba=st.booleans())
def test_property_broadcasting_pairs(pair, seed, numba):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=pair[0]), rng.normal(size=pair[1])
    note(f"shapes {x.shape} and {y.shape}")
    check_cached(prop_composite, (x, y), (0, 1), "numba" if numba else "numpy")


@PROPERTY_SETTINGS
@given(shape=shapes, seed=st.integers(0, 2**32 - 1), float32=st.booleans())
def test_property_random_shapes(shape, seed, float32):
    x = np.random.default_rng(seed).normal(size=shape)
    if float32:
        x = x.astype(np.float32)
        g = cached_grad(prop_single, 0)
        got = call_gradient(g, (x,))
        assert got.dtype == np.float32 and got.shape == x.shape
        expected = coordinate_fd(prop_single, (x,), 0)
        np.testing.assert_allclose(got, expected, rtol=3e-3, atol=3e-3, err_msg=g.source)
        return
    check_cached(prop_single, (x,), 0)


@PROPERTY_SETTINGS
@given(rows=st.integers(1, 4), cols=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_property_axis_reductions(rows, cols, seed):
    x = np.random.default_rng(seed).normal(size=(rows, cols))
    check_cached(prop_axis, (x,), 0)


@PROPERTY_SETTINGS
@given(
    n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), seed=st.integers(0, 2**32 - 1)
)
def test_property_matmul_shapes(n, k, m, seed):
    rng = np.random.default_rng(seed)
    a, b, v = rng.normal(size=(n, k)), rng.normal(size=(k, m)), rng.normal(size=m)
    check_cached(la_np_matmul, (a, b, v), (0, 1, 2))


# Random composite expressions, written to a file and imported as a user's module would be.
UNARY = ["np.sin({})", "np.tanh({})", "np.exp(np.tanh({}))", "np.log(1.0 + {0} * {0})",
         "np.sqrt(1.0 + {0} * {0})", "({}) ** 2", "-({})", "np.arctan({})"]  # fmt: skip
BINARY = [
    "{0} + {1}",
    "{0} - {1}",
    "{0} * {1}",
    "{0} / (1.0 + {1} * {1})",
    "np.hypot({0}, 1.0 + {1})",
]
REDUCE = ["np.sum({})", "np.mean({})", "np.linalg.norm(1.0 + {})", "np.sum(np.sin({}) * {})"]


@st.composite
def expressions(draw, depth=0):
    if depth >= 3 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["x", "y", "x", "y", "0.5", "s"]))
    if draw(st.booleans()):
        return draw(st.sampled_from(UNARY)).format(draw(expressions(depth + 1)))
    left, right = draw(expressions(depth + 1)), draw(expressions(depth + 1))
    return "(" + draw(st.sampled_from(BINARY)).format(left, right) + ")"


@pytest.fixture(scope="module")
def program_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("array_programs")


@PROPERTY_SETTINGS
@given(
    body=expressions(),
    reduce=st.sampled_from(REDUCE),
    pair=broadcast_pairs(),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_random_expressions(program_dir, body, reduce, pair, seed):
    assume(re.search(r"\b[xy]\b", body))
    reduced = reduce.replace("{}", "z")
    source = (
        f"import numpy as np\n\n\ndef program(x, y, s):\n    z = {body}\n    return {reduced}\n"
    )
    note(source)
    f = load_function(program_dir, source, "program")
    rng = np.random.default_rng(seed)
    args = (rng.normal(size=pair[0]), rng.normal(size=pair[1]), float(rng.normal()))
    note(f"shapes {args[0].shape} and {args[1].shape}")
    check_gradient(f, args, (0, 1, 2), backend="numpy")
