"""Stage 4, reverse: the adjoint of one normalized function.

Properties are read off the stage's own output; whole listings are shown after the optimizer
(``optimized=True``), as the pipeline runs it, because the raw output spells every spent
adjoint's reset and reads best cleaned up.
"""

# The functions under test keep loop counters they never use:
# ruff: noqa: B007

from __future__ import annotations

import math

import numpy as np

from srcdiff import ir

from .build import (
    line_of,
    lines,
    recorded_arrays,
    reverse_sweep,
    run_reverse,
    show,
    statements,
    variables,
)


def _text(*printed: str) -> str:
    return "\n".join(printed)


def pushes(fn: ir.Function) -> list[str]:
    """What the forward sweep saves, printed."""
    return [show([s]) for s in statements(fn) if isinstance(s, ir.Push)]


def pops(fn: ir.Function) -> list[str]:
    return [s.target for s in statements(fn) if isinstance(s, ir.Pop)]


# --- straight-line code -----------------------------------------------------------------------


def straight(x, y):
    z = x * y + math.sin(x)
    return z


def test_straight_line_code_accumulates_each_vjp_in_reverse_order():
    fn = run_reverse(straight, "x", x="float", y="float")
    assert [show([s]) for s in reverse_sweep(fn)] == [
        "g_t0 = 0.0",
        "g_t1 = 0.0",
        "g_x = 0.0",
        "g_t0 += g_z",  # z = t0 + t1
        "g_t1 += g_z",
        "g_z = 0.0",
        "g_x += g_t1 * math.cos(x)",  # t1 = sin(x)
        "g_t1 = 0.0",
        "g_x += g_t0 * y",  # t0 = x * y: y is not differentiated
        "g_t0 = 0.0",
        "return g_x",
    ]


def test_the_seed_is_the_last_parameter_and_defaults_to_one():
    fn = run_reverse(straight, "x", x="float", y="float")
    assert fn.params == ["x", "y", "g_z"]
    assert fn.defaults == {"g_z": ir.Const(1.0)}


def test_straight_line_code_needs_no_tape():
    fn = run_reverse(straight, ("x", "y"), x="float", y="float")
    assert pushes(fn) == [] and pops(fn) == []
    assert not any(name.startswith("_tape") for name in variables(fn))


def test_an_inactive_argument_gets_a_zero_gradient():
    fn = run_reverse(constant_in_y, ("x", "y"), x="float", y="float")
    assert fn.body[-1] == ir.Return((ir.Name("g_x"), ir.Const(0.0)))


def constant_in_y(x, y):
    return x * 2.0


def test_value_and_grad_returns_the_value_then_the_gradient():
    fn = run_reverse(straight, "x", returns="value_and_grad", optimized=True, x="float", y="float")
    assert lines(fn)[-1] == "return z, g_x"


def test_checks_stay_in_the_forward_sweep_only():
    fn = run_reverse(straight, "x", x="float", y="float")
    assert [s for s in reverse_sweep(fn) if isinstance(s, ir.Check)] == []
    assert any(isinstance(s, ir.Check) for s in fn.body)


# --- control flow -----------------------------------------------------------------------------


def branches(x, y):
    if x > y:
        z = x * x
    else:
        z = y * x
    return z


def test_an_if_re_evaluates_its_test_in_the_reverse_sweep():
    assert show(run_reverse(branches, "x", optimized=True, x="float", y="float")) == _text(
        "def branches_adjoint(x, y, g_z=1.0):",
        "    # reverse sweep",
        "    if x > y:",
        "        g_x = 2 * g_z * x",
        "    else:",
        "        g_x = g_z * y",
        "    return g_x",
    )


def recurrence(x, n):
    s = 0.0
    for i in range(n):
        s = s * x + 1.0
    return s


def test_a_for_loop_runs_backwards_over_the_same_range():
    fn = run_reverse(recurrence, "x", x="float", n="int")
    loop = next(s for s in reverse_sweep(fn) if isinstance(s, ir.For))
    assert (loop.var, loop.start, loop.stop, loop.step) == (
        "i",
        ir.Op("sub", (ir.Name("n"), ir.Const(1))),
        ir.Op("sub", (ir.Const(0), ir.Const(1))),
        ir.Const(-1),
    )
    assert "for i in range(n - 1, -1, -1):" in lines(
        run_reverse(recurrence, "x", optimized=True, x="float", n="int")
    )


def test_a_loop_records_only_the_overwritten_values_its_reverse_reads():
    # t0 = s * x reads s (overwritten each iteration) and x (never); s = t0 + 1.0 reads nothing
    fn = run_reverse(recurrence, "x", x="float", n="int")
    assert pushes(fn) == ["_tape_f[_top_f] = s; _top_f += 1"] * 2  # before s = 0.0, in the loop
    assert pops(fn) == ["s", "s"]


def test_a_recorded_loop_reserves_its_tape_and_pops_in_reverse():
    assert show(run_reverse(recurrence, "x", optimized=True, x="float", n="int")) == _text(
        "def recurrence_adjoint(x, n, g_s=1.0):",
        "    _tape_f = np.empty(16, np.float64)",
        "    _top_f = 0",
        "    # forward sweep",
        "    _tape_f[_top_f] = 0.0; _top_f += 1",
        "    s = 0.0",
        "    _tape_f = reserve(_tape_f, _top_f, n)",
        "    for i in range(n):",
        "        t0 = s * x",
        "        _tape_f[_top_f] = s; _top_f += 1",
        "        s = t0 + 1.0",
        "    # reverse sweep",
        "    g_x = 0.0",
        "    for i in range(n - 1, -1, -1):",
        "        g_t0 = g_s",
        "        _top_f -= 1; s = _tape_f[_top_f]",
        "        g_s *= x",
        "        g_x += g_t0 * s",
        "    _top_f -= 1; s = _tape_f[_top_f]",
        "    return g_x",
    )


def sum_of_squares(x, n):
    s = 0.0
    for i in range(n):
        t = x[i]
        s = s + t * t
    return s


def test_a_cheap_read_is_recomputed_at_the_top_of_the_reversed_iteration_not_taped():
    fn = run_reverse(sum_of_squares, "x", optimized=True, x="array:float:1", n="int")
    assert pushes(fn) == []
    loop = next(s for s in reverse_sweep(fn) if isinstance(s, ir.For))
    assert show([loop.body[0]]) == "t = x[i]"


def stepped(x, n):
    s = 0.0
    for i in range(0, n, 2):
        s = s * i + x
    return s


def test_a_loop_with_a_step_replays_its_iterations_by_count():
    fn = run_reverse(stepped, "x", optimized=True, x="float", n="int")
    loop = next(s for s in reverse_sweep(fn) if isinstance(s, ir.For))
    assert lines([loop])[:2] == [
        "for k0 in range(len(range(0, n, 2)) - 1, -1, -1):",
        "i = k0 * 2",  # 0 + k0 * 2, folded
    ]


def breaks(x, n):
    s = 1.0
    for i in range(n):
        if s > 100.0:
            break
        s = s * x
    return s


def test_a_loop_that_may_break_counts_its_trips_and_replays_them():
    fn = run_reverse(breaks, "x", optimized=True, x="float", n="int")
    assert "_trips0 += 1" in lines(fn)
    assert "for k0 in range(_trips0 - 1, -1, -1):" in lines(fn)
    assert pops(fn).count("_break0") == 2  # the flag is restored where it was set


def doubling(x):
    while x < 10.0:
        x = x * 2.0
    return x


def test_a_while_loop_counts_its_trips_and_runs_that_many_times_in_reverse():
    assert show(run_reverse(doubling, "x", optimized=True, x="float")) == _text(
        "def doubling_adjoint(x, g_x=1.0):",
        "    # forward sweep",
        "    _trips0 = 0",
        "    while x < 10.0:",
        "        _trips0 += 1",
        "        x *= 2.0",
        "    # reverse sweep",
        "    for k0 in range(_trips0):",
        "        g_x *= 2.0",
        "    return g_x",
    )


# --- calls and arrays -------------------------------------------------------------------------


def square(u):
    return u * u


def calls_square(x, y):
    return square(x) * y


def test_a_helper_call_becomes_a_call_of_its_adjoint_with_the_seed():
    fn = run_reverse(calls_square, ("x", "y"), optimized=True, x="float", y="float")
    calls = [s for s in statements(fn) if isinstance(s, ir.Call)]
    assert [(c.func, c.targets) for c in calls] == [
        ("square", ("t0",)),
        ("square_adjoint", ("g_x_square0",)),
    ]
    assert show([calls[1]]) == "g_x_square0 = square_adjoint(x, g_t0)"


def fills(x, n):
    v = np.zeros(n)
    for i in range(n):
        v[i] = x * i
    v[0] = x * x
    return np.sum(v)


def test_an_element_write_saves_the_element_it_overwrites_and_restores_it():
    fn = run_reverse(fills, "x", optimized=True, x="float", n="int")
    assert pushes(fn) == [
        "_tape_f[_top_f] = v[i]; _top_f += 1",
        "_tape_f[_top_f] = v[0]; _top_f += 1",
    ]
    assert lines(fn)[lines(fn).index("g_t1 = g_v[0]") :][:5] == [
        "g_t1 = g_v[0]",
        "g_v[0] = 0.0",  # the overwritten element's adjoint is spent
        "_top_f -= 1; old0 = _tape_f[_top_f]",
        "v[0] = old0",
        "g_x = 2 * g_t1 * x",
    ]


def scaled(x, b):
    return np.sum(x * b)


def test_a_broadcast_scalar_gets_the_sum_of_its_elementwise_adjoint():
    fn = run_reverse(scaled, ("x", "b"), "numpy", optimized=True, x="array:float:1", b="float")
    assert lines(reverse_sweep(fn)) == [
        "g_t0 = np.full_like(t0, g_y)",
        "g_x = g_t0 * b",
        "g_b = np.sum(g_t0 * x)",
        "return g_x, g_b",
    ]


def reassigned_array(x):
    y = x * 2.0
    y = np.exp(y)
    return np.sum(y)


def test_a_reassigned_array_the_gradient_needs_goes_on_the_list_tape_under_numpy():
    fn = run_reverse(reassigned_array, "x", "numpy", x="array:float:1")
    assert {s.tape for s in statements(fn) if isinstance(s, (ir.Push, ir.Pop))} == {"a"}


def test_a_reassigned_array_the_gradient_needs_is_found_before_numba_would_record_it():
    # predicted before the backend is chosen, at the assignment that overwrites the value
    found = recorded_arrays(reassigned_array, "x", "numba", x="array:float:1")
    assert found and found[0].line == line_of(reassigned_array, "y = np.exp(y)")
    assert recorded_arrays(reassigned_array, "x", "numpy", x="array:float:1") == []
