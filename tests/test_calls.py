"""Calls to other module-level user functions: their code is differentiated too."""

from __future__ import annotations

import math

import pytest
from conftest import assert_grad_close, assert_grad_matches_sympy, generated_source

import srcdiff

# --- helpers ------------------------------------------------------------------------------------


def helper_scale(a, b):
    return a * math.sin(b) + 0.3125 * b


def helper_square_plus(a):
    return a * a + 1.0


def helper_middle(a, b):
    return helper_square_plus(a) * b + helper_square_plus(b)


def helper_polar(r, t):
    return r * math.cos(t), r * math.sin(t)


def helper_step(s, x):
    return math.tanh(s * x + 0.5)


def helper_power_sum(x, n):
    total = 0.0
    for k in range(1, n + 1):
        total += x**k / k
    return total


def helper_branchy(a):
    if a > 0.0:
        return a * a
    return -a * 0.5


def helper_named_like_caller(y, x):
    # Parameter names deliberately swapped with respect to the callers' variables.
    return x * y * y + x


def helper_reassigns_parameter(a):
    a = a * 2.0
    a += 1.0
    return a * a


# --- callers ------------------------------------------------------------------------------------


def call_positional(x, y):
    return helper_scale(x, y) + x


def call_keywords(x, y):
    return helper_scale(b=y, a=x) * helper_scale(x, b=2.0 * y)


def call_nested_helpers(x, y):
    return helper_middle(x, y) + helper_square_plus(x * y)


def call_same_helper_twice(x, y):
    return helper_scale(x, y) * helper_scale(y, x)


def call_tuple_return(x, y):
    u, v = helper_polar(x, y)
    return u * v + u


def call_tuple_return_twice(x, y):
    u, v = helper_polar(x, y)
    p, q = helper_polar(v, u)
    return u * q - v * p


def call_constant_arguments(x):
    return helper_scale(2.0, 3.0) * x + helper_square_plus(1.5) + helper_square_plus(x)


def call_expression_arguments(x, y):
    return helper_square_plus(math.sin(x) * y + 1.0) * helper_scale(x * x, y - x)


def call_result_assigned_then_reused(x, y):
    a = helper_square_plus(x)
    a = helper_scale(a, y) * a
    return a


def call_in_loop(x, n):
    s = x
    for i in range(n):
        s = helper_step(s, x) + 0.1 * i
    return s


def call_with_int_argument(x, n):
    return helper_power_sum(x, n) * x


def call_branchy(x, y):
    return helper_branchy(x - y) + helper_branchy(x * y)


def call_in_condition(x, y):
    if helper_square_plus(x) > 2.0:
        return x * y
    return y * y * x


def call_swapped_names(x, y):
    return helper_named_like_caller(x, y) + helper_named_like_caller(y=y, x=x) * x


def call_helper_reassigns(x):
    return helper_reassigns_parameter(x) + x * 3.0


def call_tuple_partly_used(x, y):
    u, v = helper_polar(x, y)
    return u * 2.0


def call_tuple_in_loop(x, y, n):
    a, b = x, y
    for _ in range(n):
        a, b = helper_polar(a, b)
        b = b + 0.3
    return a - b


def call_same_argument_twice(x):
    return helper_scale(x, x) * helper_named_like_caller(x, x)


def call_branchy_in_loop(x, n):
    s = x
    for _ in range(n):
        s = helper_branchy(s - 0.5) + x
    return s


def call_loop_helper_in_loop(x, n):
    s = 0.0
    for i in range(n):
        s = s * 0.5 + helper_power_sum(x * s + 0.1, i)
    return s


# Each case: caller, wrt, points, helpers whose code must appear in the generated source.
CASES = [
    (call_positional, (0, 1), [(0.7, -1.3)], [helper_scale]),
    (call_keywords, (0, 1), [(0.7, -1.3)], [helper_scale]),
    (call_nested_helpers, (0, 1), [(0.7, -1.3)], [helper_middle, helper_square_plus]),
    (call_same_helper_twice, (0, 1), [(0.7, -1.3)], [helper_scale]),
    (call_tuple_return, (0, 1), [(0.7, -1.3)], [helper_polar]),
    (call_tuple_return_twice, (0, 1), [(1.4, 0.6)], [helper_polar]),
    (call_constant_arguments, 0, [(0.7,)], [helper_square_plus]),
    (call_expression_arguments, (0, 1), [(0.7, -1.3)], [helper_square_plus, helper_scale]),
    (call_result_assigned_then_reused, (0, 1), [(0.7, -1.3)], [helper_square_plus, helper_scale]),
    (call_in_loop, 0, [(0.7, 4), (-0.3, 0)], [helper_step]),
    (call_with_int_argument, 0, [(0.7, 4), (-1.2, 3)], [helper_power_sum]),
    (call_branchy, (0, 1), [(1.5, 0.5), (0.5, 1.5), (-1.0, 0.5)], [helper_branchy]),
    (call_in_condition, (0, 1), [(1.5, 0.4), (0.5, 0.4)], [helper_square_plus]),
    (call_swapped_names, (0, 1), [(0.7, -1.3)], [helper_named_like_caller]),
    (call_helper_reassigns, 0, [(0.7,), (-1.3,)], [helper_reassigns_parameter]),
    (call_tuple_partly_used, (0, 1), [(0.7, -1.3)], [helper_polar]),
    (call_tuple_in_loop, (0, 1), [(0.7, -1.3, 3), (0.7, -1.3, 0)], [helper_polar]),
    (call_same_argument_twice, 0, [(0.7,)], [helper_scale, helper_named_like_caller]),
    (call_branchy_in_loop, 0, [(0.9, 4), (0.3, 3)], [helper_branchy]),
    (call_loop_helper_in_loop, 0, [(0.6, 5), (0.6, 1)], [helper_power_sum]),
]

# Callers without branches in themselves or their helpers can also be checked with sympy.
STRAIGHT_LINE = {
    call_positional,
    call_keywords,
    call_nested_helpers,
    call_constant_arguments,
    call_same_helper_twice,
    call_tuple_return,
    call_tuple_return_twice,
    call_expression_arguments,
    call_result_assigned_then_reused,
    call_swapped_names,
    call_helper_reassigns,
    call_tuple_partly_used,
    call_same_argument_twice,
}


@pytest.mark.parametrize(
    ("f", "wrt", "points", "helpers"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_call_matches_finite_differences(f, wrt, points, helpers, jit):
    g = srcdiff.grad(f, wrt=wrt, jit=jit)
    for args in points:
        assert_grad_close(g, f, args, wrt)


@pytest.mark.parametrize(
    ("f", "wrt", "points", "helpers"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_helper_code_is_in_source(f, wrt, points, helpers):
    g = srcdiff.grad(f, wrt=wrt, jit=False)
    source = generated_source(g)
    for helper in helpers:
        assert helper.__name__ in source, f"{helper.__name__} missing from:\n{source}"
    if helper_scale in helpers:
        # A constant that only the helper's body contains: its code, not just its name.
        assert "0.3125" in source, source


@pytest.mark.parametrize(
    "f", sorted(STRAIGHT_LINE, key=lambda f: f.__name__), ids=lambda f: f.__name__
)
def test_straight_line_call_matches_sympy(f):
    # sympy only sees the caller's body, so helpers are inlined by running them on symbols.
    case = next(c for c in CASES if c[0] is f)
    _, wrt, points, _ = case
    g = srcdiff.grad(f, wrt=wrt, jit=False)
    for args in points:
        assert_grad_matches_sympy(g, f, args, wrt)
