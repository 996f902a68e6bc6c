"""Stage 4b, forward: the tangent function of one normalized function (forward mode)."""

# The functions under test keep loop counters they never use:
# ruff: noqa: B007

from __future__ import annotations

import math

from srcdiff import ir

from .build import lines, run_forward, show, statements, variables


def _text(*printed: str) -> str:
    return "\n".join(printed)


def straight(x, y):
    z = x * y + math.sin(x)
    return z


def test_each_active_statement_is_followed_by_its_tangent():
    line = straight.__code__.co_firstlineno + 1
    assert show(run_forward(straight, "x", x="float", y="float")) == _text(
        "def straight_jvp(x, y, d_x):",
        "    t0 = x * y",
        "    d_t0 = d_x * y",
        "    if math.isinf(x):",
        f"        raise ValueError('test_forward.py:{line}: math domain error')",
        "    t1 = math.sin(x)",
        "    d_t1 = d_x * math.cos(x)",
        "    z = t0 + t1",
        "    d_z = d_t0 + d_t1",
        "    return z, d_z",
    )


def test_a_variable_that_does_not_vary_gets_no_tangent():
    fn = run_forward(straight, "y", x="float", y="float")
    assert "d_t1" not in variables(fn)  # sin(x) does not vary with y
    assert "d_t0 = d_y * x" in lines(fn)


def constant(x, y):
    return y * 2.0


def test_a_result_that_does_not_vary_has_a_zero_tangent():
    assert lines(run_forward(constant, "x", x="float", y="float"))[-1] == "return y0, 0.0"


def recurrence(x, n):
    s = 0.0
    for i in range(n):
        s = s * x + 1.0
    return s


def test_a_loop_carries_its_tangents_forward_with_no_tape():
    fn = run_forward(recurrence, "x", optimized=True, x="float", n="int")
    assert not any(isinstance(s, (ir.Push, ir.Pop)) for s in statements(fn))
    assert show(fn) == _text(
        "def recurrence_jvp(x, n, d_x):",
        "    s = 0.0",
        "    d_s = 0.0",
        "    for i in range(n):",
        "        t0 = s * x",
        "        d_t0 = d_s * x + d_x * s",
        "        s = t0 + 1.0",
        "        d_s = d_t0",
        "    return s, d_s",
    )


def square(u):
    return u * u


def calls_square(x):
    return square(x) * 2.0


def test_a_helper_call_calls_its_tangent_function():
    calls = [
        s for s in statements(run_forward(calls_square, "x", x="float")) if isinstance(s, ir.Call)
    ]
    assert [(c.func, c.targets, c.args) for c in calls] == [
        ("square_jvp", ("t0", "d_t0"), (ir.Name("x"), ir.Name("d_x")))
    ]
