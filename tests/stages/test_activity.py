"""Stage 3, activity and to-be-recorded: which variables get adjoints, and which values the
reverse sweep needs saved before they are overwritten (or can recompute instead)."""

# The functions under test keep names they never read and loop counters they never use:
# ruff: noqa: F841, B007

from __future__ import annotations

import math

import numpy as np

from .build import (
    active,
    assign,
    definition_counts,
    function,
    infer,
    kinds,
    loop,
    normalized,
    op,
    recomputable,
    ret,
    set_item,
    to_be_recorded,
    when,
)


def mixed(x, y, n):
    a = x * y
    b = y * y
    unused = x * 3.0
    k = math.floor(x)
    c = k * a
    d = n * 2
    z = a + b + c
    for i in range(n):
        z = z + x
    return z


def active_in(func, wrt, **param_kinds):
    return active(normalized(func), infer(func, **param_kinds), wrt)


def test_active_means_depends_on_wrt_and_influences_the_result():
    assert active_in(mixed, ["x"], x="float", y="float", n="int") == {"x", "a", "c", "t0", "z"}


def test_a_variable_that_does_not_depend_on_wrt_is_not_active():
    found = active_in(mixed, ["x"], x="float", y="float", n="int")
    assert "b" not in found and "y" not in found  # y * y: independent of x


def test_a_variable_that_does_not_influence_the_result_is_not_active():
    assert "unused" not in active_in(mixed, ["x"], x="float", y="float", n="int")


def test_integers_and_non_differentiable_results_are_not_active():
    found = active_in(mixed, ["x"], x="float", y="float", n="int")
    assert "k" not in found  # math.floor has no derivative
    assert not found & {"n", "d", "i"}  # integers


def test_with_respect_to_the_other_argument():
    assert active_in(mixed, ["y"], x="float", y="float", n="int") == {"y", "a", "b", "c", "t0", "z"}


def square(u):
    return u * u


def two_calls(x, y):
    t = square(x)
    s = square(y)
    return t + s


def test_activity_flows_through_calls_of_helpers():
    assert active_in(two_calls, ["x"], x="float", y="float") == {"x", "t", "y0"}


def fills(x, n):
    v = np.zeros(n)
    for i in range(n):
        v[i] = x * i
    return np.sum(v)


def test_activity_flows_through_writes_into_an_array():
    assert active_in(fills, ["x"], x="float", n="int") == {"x", "t0", "v", "y"}


def test_an_integer_argument_is_never_active():
    fn = function(["n"], [assign("z", op("mul", "n", 2.0)), ret("z")])
    assert active(fn, kinds(n="int", z="float"), ["n"]) == set()


def test_comparisons_stop_activity():
    body = [assign("b", op("lt", "x", 1.0)), when("b", [assign("z", "x")]), ret("z")]
    fn = function(["x"], body)
    assert active(fn, kinds(x="float", b="bool", z="float"), ["x"]) == {"x", "z"}


# --- how often a variable is assigned ---------------------------------------------------------


def test_definition_counts_double_inside_loops_and_take_the_larger_branch():
    body = [
        assign("a", 0.0),
        when("c", [assign("a", 1.0), assign("a", 2.0)], [assign("a", 3.0)]),
        loop("i", 0, "n", [assign("b", "a")]),
        ret("b"),
    ]
    fn = function(["c", "n"], body)
    assert definition_counts(fn) == {"c": 1, "n": 1, "a": 3, "b": 2, "i": 1}


def test_definition_counts_may_leave_out_element_writes():
    body = [assign("v", op("zeros", "n")), loop("i", 0, "n", [set_item("v", ["i"], 1.0)]), ret("v")]
    fn = function(["n"], body)
    assert definition_counts(fn)["v"] == 3
    assert definition_counts(fn, partial_writes=False)["v"] == 1


# --- to be recorded ---------------------------------------------------------------------------


def test_to_be_recorded_is_exactly_the_overwritten_values_the_reverse_sweep_reads():
    body = [
        assign("a", op("mul", "x", "x")),  # assigned once
        loop("i", 0, "n", [assign("s", op("mul", "s", "x")), assign("t", op("sin", "s"))]),
        ret("s"),
    ]
    fn = function(["x", "n", "s"], body)
    assert to_be_recorded(fn, {"a", "s", "t", "x"}) == {"s", "t"}
    assert to_be_recorded(fn, {"a", "x"}) == set()  # what the reverse sweep never reads: never


def sum_of_squares(x, n):
    s = 0.0
    for i in range(n):
        t = x[i]
        u = t * t
        s = s + u
    return s


def test_cheap_reads_at_the_top_of_a_loop_are_recomputed_not_taped():
    assert recomputable(normalized(sum_of_squares)) == [["t", "u"]]


def read_after_loop(x, n):
    t = 0.0
    for i in range(n):
        t = x[i]
    return t


def test_a_value_read_after_its_loop_is_not_recomputable():
    assert recomputable(normalized(read_after_loop)) == []


def carried(x, n):
    s = 1.0
    for i in range(n):
        t = s * x
        s = t + 1.0
    return s


def test_a_value_computed_from_one_the_loop_changes_is_not_recomputable():
    assert recomputable(normalized(carried)) == []
