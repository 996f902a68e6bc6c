"""Stage 3, kinds: the kind of every variable from the parameters' kinds; the parameters'
kinds guessed from their use; and the printed form of primitives once kinds are known."""

# The functions under test keep names they never read and loop counters they never use:
# ruff: noqa: F841, B007

from __future__ import annotations

import math

import numpy as np
import pytest

from srcdiff.errors import SrcdiffError

from .build import (
    assign,
    expr_kind,
    function,
    guess,
    infer,
    infer_fn,
    kind,
    kinds,
    lines,
    lower_for,
    normalized,
    op,
    ret,
    specialize,
)


def numbers(x, n):
    h = n / 2
    m = n // 2
    b = x > 0.0
    c = b + 1
    s = 0
    for i in range(n):
        s = s + 0.5
    return s


def test_python_arithmetic_decides_number_kinds():
    assert infer(numbers, x="float", n="int") == kinds(
        x="float", n="int", h="float", m="int", b="bool", c="int", s="float", i="int"
    )


def test_a_variable_assigned_an_int_and_a_float_is_a_float():
    assert infer(numbers, x="float", n="int")["s"] == kind("float")


def arrays(A, v):
    w = A @ v
    s = np.sum(w)
    e = w[0]
    r = A[0]
    t = A.T
    return s


def test_array_operations_give_ranks_and_elements():
    assert infer(arrays, A="array:float:2", v="array:float:1") == kinds(
        A="array:float:2",
        v="array:float:1",
        w="array:float:1",
        s="float",
        e="float",
        r="array:float:1",
        t="array:float:2",
    )


def pair(x):
    return 2 * x, x > 1.0


def calls_pair(x, n):
    a, b = pair(x)
    c, d = pair(n)
    return a


def test_a_calls_results_take_the_callees_kinds_for_those_arguments():
    inferred = infer(calls_pair, x="float", n="int")
    assert (inferred["a"], inferred["b"]) == (kind("float"), kind("bool"))
    assert (inferred["c"], inferred["d"]) == (kind("int"), kind("bool"))


def array_and_number(x, v):
    y = x
    y = v
    return np.sum(y)


def test_a_name_holding_an_array_and_a_number_is_an_error():
    message = "`y` holds both a float and a 1-D array of floats; use separate names"
    with pytest.raises(SrcdiffError, match=message):
        infer(array_and_number, x="float", v="array:float:1")


def float_range(x):
    s = 0.0
    for i in range(x):
        s = s + 1.0
    return s


def test_a_float_range_bound_is_an_error():
    with pytest.raises(SrcdiffError, match=r"range\(\) needs integers, but a bound is a float"):
        infer(float_range, x="float")


def sum_of_number(x):
    return np.sum(x)


def test_an_array_function_of_a_number_is_an_error_at_its_line():
    line = sum_of_number.__code__.co_firstlineno + 1
    with pytest.raises(
        SrcdiffError, match=f":{line}:.*`np.sum\\(x\\)` needs an array, but `x` is a float"
    ):
        infer(sum_of_number, x="float")


def test_hand_made_ir_defaults_unknown_targets_to_float():
    fn = function(["x"], [assign("y", op("mul", "x", 2)), assign("z", "z"), ret("y")])
    assert infer_fn(fn, x="int") == kinds(x="int", y="int", z="float")


def test_constant_kinds():
    assert expr_kind(op("add", 1, True), {}) == kind("int")
    assert expr_kind(op("add", 1, 2.0), {}) == kind("float")
    assert expr_kind(op("lt", "x", 1), kinds(x="float")) == kind("bool")
    assert expr_kind(op("mul", "y", 1), kinds(x="float")) is None  # y unknown


# --- guessing parameter kinds from their use ------------------------------------------------


def used(x, A, n, y):
    s = 0.0
    for i in range(n):
        s = s + x[i] + np.sum(A @ y)
    return s


def test_guess_indexed_means_array_range_bound_means_int():
    guessed = guess(used)
    assert guessed["x"] == kind("array:float:1")
    assert guessed["n"] == kind("int")
    assert guessed["A"] == kind("array:float:2")  # an operand of @: most likely a matrix
    assert guessed["y"] == kind("array:float:2")


def copies_then_indexes(v):
    w = v
    return w[0, 1]


def test_guess_follows_copies_back_to_the_parameter():
    assert guess(copies_then_indexes)["v"] == kind("array:float:2")


# --- printed forms once kinds are known ------------------------------------------------------


def int_power(n):
    p = n**-1
    q = n**2
    return p + q


def test_int_to_a_negative_power_is_lowered_to_a_float_power():
    fn = normalized(int_power)
    lower_for(fn, infer(int_power, n="int"))
    assert lines(fn)[1:4] == ["t0 = -1", "p = float(n) ** t0", "q = n ** 2"]


def exps(x):
    y = math.exp(x)
    return np.sum(y)


def test_specialize_prints_a_math_function_of_an_array_as_numpy():
    fn = normalized(exps)
    specialize(fn, infer(exps, x="array:float:1"))
    assert "y = np.exp(x)" in lines(fn)


def axis_sum(A):
    return np.sum(np.sum(A, axis=0))


@pytest.mark.parametrize(
    ("backend", "prim", "printed"),
    [
        ("numpy", "sum_axis", "t0 = np.sum(A, axis=0, keepdims=False)"),
        ("numba", "sum_along", "t0 = np.sum(A, axis=0)"),
    ],
)
def test_specialize_prints_what_numba_lacks_in_its_numba_form(backend, prim, printed):
    fn = normalized(axis_sum)
    specialize(fn, infer(axis_sum, A="array:float:2"), backend)
    assert fn.body[0].value.prim == prim
    assert lines(fn)[1] == printed
