"""Every scalar derivative rule, checked against finite differences and against sympy.diff.

Each function below is straight-line code, so the same source can be executed on sympy
symbols (see ``conftest.sympy_function``) to get an exact reference gradient.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_grad_close, assert_grad_matches_sympy

import srcdiff

SCALE = 2.5
OFFSET = -0.75


# --- arithmetic, constants, globals -------------------------------------------------------------


def arith_add_sub(x, y):
    return x + y - 2.0 * x + 3.0 - y * 0.5


def arith_mul_div(x, y):
    return x * y / (x + 2.0 * y) - y / x + 1.0 / (x * y)


def arith_unary_minus(x, y):
    return -x * y + -(x - y) * -y - (-x)


def arith_constants(x):
    return 2.0 * x + 1.0 - math.pi * x + 3 * x * x - math.e + 7


def arith_globals(x, y):
    return SCALE * x**2 + OFFSET * x * y - y / SCALE


def arith_int_literals(x, y):
    return 2 * x + y / 4 - 3 * (x - 1) * y


# --- powers -------------------------------------------------------------------------------------


def pow_int_exponents(x):
    return x**3 - 2.0 * x**2 + x**-2 + 4 * x**1


def pow_float_exponents(x):
    return x**2.5 + x**0.5 - 3.0 * x**-1.5 + x**1.0


def pow_negative_base(x):
    # Integer exponents of a negative base are real: no log(x) may leak into the result.
    return x**3 + x**2 - x**2.0 + x**-1


def pow_at_zero(x):
    return x**2 + x**3 + x**1 + 2.0 * x**2.0


def pow_exponent_only(y):
    return 2.0**y + 3.5 ** (2.0 * y) - SCALE ** (-y)


def pow_base_and_exponent(x, y):
    return x**y + (x + y) ** (x * y)


def pow_self(x):
    return x**x + (2.0 * x) ** (x - 1.0)


def pow_int_parameter(x, n):
    return x**n + 2.0 * x ** (n - 1)


# --- math module --------------------------------------------------------------------------------


def math_sin(x):
    return math.sin(2.0 * x) * x


def math_cos(x):
    return math.cos(x * x) + x


def math_tan(x):
    return math.tan(0.5 * x)


def math_asin(x):
    return math.asin(0.5 * x)


def math_acos(x):
    return math.acos(0.8 * x) * x


def math_atan(x):
    return math.atan(3.0 * x)


def math_atan2(y, x):
    return math.atan2(y, x)


def math_sinh(x):
    return math.sinh(1.5 * x)


def math_cosh(x):
    return math.cosh(x) * x


def math_tanh(x):
    return math.tanh(2.0 * x - 0.5)


def math_exp(x):
    return math.exp(-x * x) + math.exp(x)


def math_expm1(x):
    return math.expm1(2.0 * x)


def math_log(x):
    return math.log(3.0 * x) * x


def math_log1p(x):
    return math.log1p(x * x)


def math_log2(x):
    return math.log2(x + 1.0)


def math_log10(x):
    return math.log10(5.0 * x)


def math_sqrt(x):
    return math.sqrt(x * x + 0.5)


def math_hypot(x, y):
    return math.hypot(x, 2.0 * y)


def math_pow(x, y):
    return math.pow(x, y) + math.pow(x, 3.0)


def builtin_pow(x, y):
    return pow(x, y) * pow(y, 2)


def math_composite(x, y):
    return math.exp(math.sin(x) * y) / math.sqrt(1.0 + math.tanh(x * y) ** 2)


# --- numpy scalar functions ---------------------------------------------------------------------


def np_sin(x):
    return np.sin(2.0 * x) * x


def np_cos(x):
    return np.cos(x * x)


def np_tan(x):
    return np.tan(0.5 * x)


def np_arcsin(x):
    return np.arcsin(0.5 * x)


def np_arccos(x):
    return np.arccos(0.8 * x)


def np_arctan(x):
    return np.arctan(3.0 * x)


def np_arctan2(y, x):
    return np.arctan2(y, x)


def np_sinh(x):
    return np.sinh(1.5 * x)


def np_cosh(x):
    return np.cosh(x)


def np_tanh(x):
    return np.tanh(2.0 * x)


def np_exp(x):
    return np.exp(-x * x)


def np_expm1(x):
    return np.expm1(2.0 * x)


def np_log(x):
    return np.log(3.0 * x)


def np_log1p(x):
    return np.log1p(x * x)


def np_log2(x):
    return np.log2(x + 1.0)


def np_log10(x):
    return np.log10(5.0 * x)


def np_sqrt(x):
    return np.sqrt(x * x + 0.5)


def np_hypot(x, y):
    return np.hypot(x, 2.0 * y)


def np_power(x, y):
    return np.power(x, y) + np.power(x, 2.0)


def np_mixed_with_math(x, y):
    return np.sin(x) * math.cos(y) + np.exp(x * y) - math.log1p(y * y)


# --- builtins with kinks ------------------------------------------------------------------------


def kink_abs(x):
    return 3.0 * abs(x)


def kink_abs_shifted(x):
    return abs(x - 1.0) * 2.0


def kink_max(x, y):
    return max(x, y)


def kink_min(x, y):
    return min(2.0 * x, y)


def kink_relu(x):
    return max(x, 0.0)


def kink_min_constant(x):
    return min(1.0, x) * 4.0


# --- assignment ---------------------------------------------------------------------------------


def assign_reassign(x):
    y = x * x
    y = y * x + y
    y = math.sin(y)
    return y * x


def assign_parameter(x, y):
    x = x * y
    x = x + y
    y = x * 2.0
    return x * y


def aug_add(x, y):
    z = x * 1.5
    z += y * x
    z += 2.0
    return z * z


def aug_sub(x, y):
    z = x
    z -= y * y
    z -= 1.0
    return z * x


def aug_mul(x, y):
    z = x + 1.0
    z *= y
    z *= z
    return z


def aug_div(x, y):
    z = x * 3.0
    z /= y
    z /= 1.0 + x * x
    return z


def aug_pow(x, y):
    z = x + 0.5
    z **= 2
    z **= y
    z **= 1.5
    return z


def aug_parameter(x, y):
    x += y
    x *= x
    y -= x
    return x * y


def tuple_swap(x, y):
    a, b = x, y * 2.0
    a, b = b, a
    return a * 3.0 + b * b


def tuple_expressions(x, y):
    a, b = x * 2, y * 3
    return a * b + a - b


def tuple_swap_parameters(x, y):
    x, y = y, x
    return x * x * y + 2.0 * y


def tuple_rotate(x, y, z):
    a, b, c = x, y, z
    a, b, c = b, c, a * b
    return a - 2.0 * b + c * a


def zero_constant(x):
    return 3.0


def zero_other_parameter(x, y):
    return y * y


def zero_cancelling(x, y):
    return (x + y) - x


# Each case: function, wrt, points (argument tuples). Points avoid kinks and domain edges.
SMOOTH_CASES = [
    (arith_add_sub, (0, 1), [(0.7, -1.3)]),
    (arith_mul_div, (0, 1), [(0.7, 1.3), (-1.1, 2.2)]),
    (arith_unary_minus, (0, 1), [(0.7, -1.3)]),
    (arith_constants, 0, [(0.4,), (-2.0,)]),
    (arith_globals, (0, 1), [(1.2, -0.6)]),
    (arith_int_literals, (0, 1), [(1.2, -0.6)]),
    (pow_int_exponents, 0, [(1.3,), (-0.8,)]),
    (pow_float_exponents, 0, [(1.7,), (0.3,)]),
    (pow_negative_base, 0, [(-1.5,), (-0.4,), (0.9,)]),
    (pow_at_zero, 0, [(0.0,), (0.6,)]),
    (pow_exponent_only, 0, [(0.8,), (-1.3,)]),
    (pow_base_and_exponent, (0, 1), [(1.3, 0.7), (0.6, 2.1)]),
    (pow_self, 0, [(0.7,), (1.9,)]),
    (pow_int_parameter, 0, [(-1.3, 3), (0.8, 4), (1.7, 1)]),
    (math_sin, 0, [(0.3,), (-1.2,)]),
    (math_cos, 0, [(0.9,)]),
    (math_tan, 0, [(0.7,), (-1.5,)]),
    (math_asin, 0, [(0.6,), (-1.4,)]),
    (math_acos, 0, [(0.5,), (-1.0,)]),
    (math_atan, 0, [(0.2,), (-2.0,)]),
    (math_atan2, (0, 1), [(0.5, 1.2), (-0.7, -1.1), (1.0, -0.3), (-0.4, 0.6)]),
    (math_sinh, 0, [(0.8,)]),
    (math_cosh, 0, [(-1.1,)]),
    (math_tanh, 0, [(0.4,), (-0.9,)]),
    (math_exp, 0, [(0.7,), (-1.6,)]),
    (math_expm1, 0, [(1e-3,), (-0.8,)]),
    (math_log, 0, [(0.4,), (2.5,)]),
    (math_log1p, 0, [(0.5,), (-1.7,)]),
    (math_log2, 0, [(0.3,), (3.0,)]),
    (math_log10, 0, [(0.2,), (4.0,)]),
    (math_sqrt, 0, [(0.0,), (-1.3,)]),
    (math_hypot, (0, 1), [(0.3, -1.2), (-2.0, 0.25)]),
    (math_pow, (0, 1), [(1.4, 0.6), (0.5, 2.5)]),
    (builtin_pow, (0, 1), [(1.4, 0.6), (0.5, -2.5)]),
    (math_composite, (0, 1), [(0.4, -1.3)]),
    (np_sin, 0, [(0.3,), (-1.2,)]),
    (np_cos, 0, [(0.9,)]),
    (np_tan, 0, [(0.7,)]),
    (np_arcsin, 0, [(0.6,)]),
    (np_arccos, 0, [(-1.0,)]),
    (np_arctan, 0, [(-2.0,)]),
    (np_arctan2, (0, 1), [(0.5, 1.2), (-0.7, -1.1), (1.0, -0.3)]),
    (np_sinh, 0, [(0.8,)]),
    (np_cosh, 0, [(-1.1,)]),
    (np_tanh, 0, [(0.4,)]),
    (np_exp, 0, [(0.7,)]),
    (np_expm1, 0, [(-0.8,)]),
    (np_log, 0, [(2.5,)]),
    (np_log1p, 0, [(-1.7,)]),
    (np_log2, 0, [(3.0,)]),
    (np_log10, 0, [(0.2,)]),
    (np_sqrt, 0, [(-1.3,)]),
    (np_hypot, (0, 1), [(0.3, -1.2)]),
    (np_power, (0, 1), [(1.4, 0.6), (0.5, 2.5)]),
    (np_mixed_with_math, (0, 1), [(0.4, -1.3)]),
    (kink_abs, 0, [(-1.3,), (0.7,)]),
    (kink_abs_shifted, 0, [(0.2,), (1.9,)]),
    (kink_max, (0, 1), [(1.0, 2.0), (2.0, 1.0)]),
    (kink_min, (0, 1), [(1.0, 2.5), (1.5, 2.0)]),
    (kink_relu, 0, [(-0.5,), (0.5,)]),
    (kink_min_constant, 0, [(0.5,), (1.5,)]),
    (assign_reassign, 0, [(0.8,)]),
    (assign_parameter, (0, 1), [(0.8, -1.1)]),
    (aug_add, (0, 1), [(0.8, -1.1)]),
    (aug_sub, (0, 1), [(0.8, -1.1)]),
    (aug_mul, (0, 1), [(0.8, -1.1)]),
    (aug_div, (0, 1), [(0.8, -1.1)]),
    (aug_pow, (0, 1), [(0.8, 1.3)]),
    (aug_parameter, (0, 1), [(0.8, -1.1)]),
    (tuple_swap, (0, 1), [(0.8, -1.1)]),
    (tuple_expressions, (0, 1), [(0.8, -1.1)]),
    (tuple_swap_parameters, (0, 1), [(0.8, -1.1)]),
    (tuple_rotate, (0, 1, 2), [(0.8, -1.1, 0.4)]),
    (zero_constant, 0, [(0.8,)]),
    (zero_other_parameter, (0, 1), [(0.8, -1.1)]),
    (zero_cancelling, (0, 1), [(0.8, -1.1)]),
]


@pytest.mark.parametrize(
    ("f", "wrt", "points"), SMOOTH_CASES, ids=[c[0].__name__ for c in SMOOTH_CASES]
)
def test_rule_matches_references(f, wrt, points, jit):
    g = srcdiff.grad(f, wrt=wrt, jit=jit)
    for args in points:
        assert_grad_close(g, f, args, wrt)
        assert_grad_matches_sympy(g, f, args, wrt)


# At a kink srcdiff returns what centred finite differences return there (documented).
KINK_CASES = [
    (kink_abs, 0, (0.0,), 0.0),
    (kink_abs_shifted, 0, (1.0,), 0.0),
    (kink_max, (0, 1), (1.5, 1.5), (0.5, 0.5)),
    (kink_max, (0, 1), (-2.0, -2.0), (0.5, 0.5)),
    (kink_min, (0, 1), (1.0, 2.0), (1.0, 0.5)),
    (kink_relu, 0, (0.0,), 0.5),
    (kink_min_constant, 0, (1.0,), 2.0),
]


@pytest.mark.parametrize(
    ("f", "wrt", "args", "convention"),
    KINK_CASES,
    ids=[f"{c[0].__name__}-{c[2]}" for c in KINK_CASES],
)
def test_kink_convention(f, wrt, args, convention, jit):
    g = srcdiff.grad(f, wrt=wrt, jit=jit)
    got = assert_grad_close(g, f, args, wrt, atol=1e-9)
    # The convention itself, written out (centred differences give the same numbers).
    expected = convention if isinstance(convention, tuple) else (convention,)
    got_items = got if isinstance(got, tuple) else (got,)
    assert got_items == pytest.approx(expected, abs=1e-12), g.source


def test_max_tie_splits_gradient_in_half(jit):
    g = srcdiff.grad(kink_max, wrt=0, jit=jit)
    assert g(0.75, 0.75) == pytest.approx(0.5, abs=1e-12), g.source
    assert g(0.75, 0.5) == pytest.approx(1.0, abs=1e-12), g.source
    assert g(0.5, 0.75) == pytest.approx(0.0, abs=1e-12), g.source


def tie_largest(x):
    return np.max(x)


def tie_smallest(x):
    return np.min(x)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_ties_of_a_reduction_get_one_kth_each(backend):
    """Two tied arguments of max get half each (what centred differences give); three
    tied elements of np.max or np.min get a third each (JAX's and PyTorch's even split;
    centred differences would give each a half)."""
    x = np.full(3, 0.75)
    for f in (tie_largest, tie_smallest):
        g = srcdiff.grad(f, backend=backend)
        assert g(x) == pytest.approx([1 / 3] * 3, abs=1e-12), g.source
    pair = srcdiff.grad(kink_max, wrt=(0, 1), backend=backend)
    assert pair(0.75, 0.75) == pytest.approx((0.5, 0.5), abs=1e-12), pair.source
