"""Stage 6, optimize: algebraic simplification and constant folding, known-zero adjoints,
copy propagation and common subexpressions (forward substitution of values already held),
and dead code elimination, each on hand-made IR; then the whole pass to its fixed point."""

from __future__ import annotations

import pytest

from srcdiff import ir

from .build import (
    assign,
    atom,
    check,
    dead_code_eliminated,
    function,
    lines,
    loop,
    op,
    renumbered,
    ret,
    run_optimize,
    set_item,
    show,
    simplified,
    simplify_statements,
    values_propagated,
    when,
    zeros_propagated,
)


def _text(*printed: str) -> str:
    return "\n".join(printed)


# --- simplification and folding ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (op("mul", 1.0, "g"), "g"),
        (op("mul", "g", 1.0), "g"),
        (op("add", "g", 0.0), "g"),
        (op("add", 0.0, "g"), "g"),
        (op("sub", "g", 0.0), "g"),
        (op("sub", 0.0, "g"), op("neg", "g")),
        (op("div", "g", 1.0), "g"),
        (op("pow", "x", 1), "x"),
        (op("neg", op("neg", "x")), "x"),
        (op("mul", 0.0, "g"), 0.0),
        (op("mul", 0, "n"), 0),  # an int zero stays an int (a range bound needs one)
        (op("add", "x", "x"), op("mul", 2, "x")),
        (op("not", op("not", "b")), "b"),
        (op("select", "a", True, "b"), "a"),  # select(value, test, other)
        (op("select", "a", "c", "a"), "a"),
        (op("and", True, "b"), "b"),
        (op("and", False, "b"), False),
        (op("or", True, "b"), True),
        (op("sum", op("mul", 2.0, "g")), op("mul", 2.0, op("sum", "g"))),  # scale after summing
    ],
)
def test_algebraic_identities(expr, expected):
    assert simplified(expr) == atom(expected)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (op("mul", 2.0, 3.0), 6.0),
        (op("add", 1, 2), 3),
        (op("exp", 0.0), 1.0),
        (op("not", True), False),
        (op("add", "x", op("mul", 2.0, 3.0)), op("add", "x", 6.0)),  # inside a larger tree
    ],
)
def test_constants_are_folded(expr, expected):
    assert simplified(expr) == atom(expected)


def test_folding_keeps_the_kind_of_the_constant():
    assert simplified(op("add", 1, 2)) != atom(3.0)  # 1 + 2 is the int 3
    assert simplified(op("mul", 2.0, 3.0)) != atom(6)


@pytest.mark.parametrize("expr", [op("div", 1.0, 0.0), op("exp", 1000.0), op("log", -1.0)])
def test_what_would_raise_or_overflow_is_not_folded(expr):
    assert simplified(expr) == expr


def test_a_decided_if_is_replaced_by_its_branch_and_a_passing_check_dropped():
    block = [
        when(op("lt", 1, 2), [assign("a", 1.0)], [assign("a", 2.0)]),
        check(op("not", False)),
        check(op("lt", "x", 0.0)),
        assign("b", "b"),  # a copy onto itself
        when("c", [], []),
    ]
    assert show(simplify_statements(block)) == _text(
        "a = 1.0",
        "if not x < 0.0:",
        "    raise ValueError('stage.py:1: message')",
    )


# --- known-zero adjoints ----------------------------------------------------------------------


def test_an_update_of_a_known_zero_becomes_an_assignment():
    block = [assign("g", 0.0), assign("g", op("add", "g", "e")), assign("h", 0.0)]
    block.append(assign("h", op("sub", "h", "e")))
    assert show(zeros_propagated(block)) == _text("g = 0.0", "g = e", "h = 0.0", "h = -e")


def test_an_update_inside_a_loop_is_not_an_assignment():
    block = [assign("g", 0.0), loop("i", 0, "n", [assign("g", op("add", "g", "e"))])]
    assert show(zeros_propagated(block)) == _text(
        "g = 0.0",
        "for i in range(n):",
        "    g += e",
    )


def test_a_zero_known_on_one_branch_only_is_not_known_after_the_if():
    block = [
        assign("g", 0.0),
        when("c", [assign("g", "e")]),
        assign("g", op("add", "g", "e")),
    ]
    assert lines(zeros_propagated(block))[-1] == "g += e"


# --- copies and common subexpressions -------------------------------------------------------


def test_a_repeated_expression_reads_the_variable_that_holds_it():
    block = [assign("t0", op("mul", "x", "z")), assign("t2", op("mul", "x", "z")), ret("t2")]
    assert show(values_propagated(block)) == _text("t0 = x * z", "t2 = t0", "return t0")


def test_an_expression_is_not_reused_after_an_operand_changes():
    block = [
        assign("t0", op("mul", "x", "z")),
        assign("x", op("add", "x", 1.0)),
        assign("t2", op("mul", "x", "z")),
    ]
    assert lines(values_propagated(block))[-1] == "t2 = x * z"


def test_a_copy_is_read_through_to_its_original():
    block = [assign("a", "b"), assign("c", op("add", "a", 1.0)), ret("c")]
    assert show(values_propagated(block)) == _text("a = b", "c = b + 1.0", "return c")


def test_a_copy_is_forgotten_once_its_original_is_reassigned():
    block = [assign("a", "b"), assign("b", 2.0), assign("c", op("add", "a", 1.0))]
    assert lines(values_propagated(block))[-1] == "c = a + 1.0"


def test_allocations_are_never_shared():
    block = [assign("u", op("zeros", "n")), assign("v", op("zeros", "n"))]
    assert show(values_propagated(block)) == _text("u = np.zeros(n)", "v = np.zeros(n)")


def test_a_check_that_passed_on_the_same_values_is_dropped():
    block = [check(op("lt", "x", 0.0)), assign("y", "x"), check(op("lt", "x", 0.0))]
    assert show(simplify_statements(values_propagated(block))) == _text(
        "if not x < 0.0:",
        "    raise ValueError('stage.py:1: message')",
        "y = x",
    )


def test_facts_learned_in_a_branch_do_not_leak_out_of_it():
    block = [
        when("c", [assign("t0", op("mul", "x", "z"))]),
        assign("t1", op("mul", "x", "z")),
    ]
    assert lines(values_propagated(block))[-1] == "t1 = x * z"


# --- dead code --------------------------------------------------------------------------------


def test_an_assignment_nobody_reads_is_dropped_and_one_read_is_kept():
    block = [assign("a", op("mul", "x", 2.0)), assign("b", op("sin", "x")), ret("b")]
    assert show(dead_code_eliminated(block)) == _text("b = math.sin(x)", "return b")


def test_a_value_read_by_the_next_iteration_is_kept():
    # u reads the t of the previous iteration: t is live around the loop's back edge
    body = [assign("u", "t"), assign("t", op("mul", "x", 2.0))]
    block = [assign("t", 0.0), loop("i", 0, "n", body), ret("u")]
    assert show(dead_code_eliminated(block)) == _text(
        "t = 0.0",
        "for i in range(n):",
        "    u = t",
        "    t = x * 2.0",
        "return u",
    )


def test_statements_with_effects_are_kept():
    block = [
        assign("v", op("zeros", "n")),
        set_item("v", [0], "x"),  # v is never read again, but writing is an effect
        check(op("lt", "x", 0.0)),
        ir.Call(("r",), "helper", (atom("x"),)),  # a call that may have effects
    ]
    assert len(dead_code_eliminated(block)) == 4


def test_a_pure_call_whose_results_nobody_reads_is_dropped():
    block = [ir.Call(("r",), "helper", (atom("x"),), pure=True), ret("x")]
    assert show(dead_code_eliminated(block)) == "return x"


def test_loops_and_branches_left_with_nothing_to_do_are_dropped():
    block = [
        loop("i", 0, "n", [assign("a", "x")]),
        when("c", [assign("b", "x")], [assign("b", "y")]),
        ret("x"),
    ]
    assert show(dead_code_eliminated(block)) == "return x"


def test_live_out_keeps_what_the_caller_reads():
    block = [assign("a", op("mul", "x", 2.0))]
    assert show(dead_code_eliminated(block, live_out={"a"})) == "a = x * 2.0"


# --- the whole pass ---------------------------------------------------------------------------


def test_optimize_runs_the_passes_to_a_fixed_point():
    body = [
        assign("g", 0.0),
        assign("t0", op("mul", "x", 1.0)),  # t0 = x
        assign("t1", op("mul", "t0", "y")),
        assign("t2", op("mul", "x", "y")),  # the same as t1, once t0 is read through
        assign("g", op("add", "g", op("add", "t1", "t2"))),
        assign("unused", op("sin", "x")),
        ret("g"),
    ]
    assert show(run_optimize(function(["x", "y"], body))) == _text(
        "def f(x, y):",
        "    t1 = x * y",
        "    g = 2 * t1",
        "    return g",
    )


def test_keep_results_leaves_the_returned_names_alone():
    body = [assign("a", op("mul", "x", "y")), assign("b", "a"), ret("b")]
    assert show(run_optimize(function(["x", "y"], body), keep_results=True)).endswith("return b")
    body = [assign("a", op("mul", "x", "y")), assign("b", "a"), ret("b")]
    assert show(run_optimize(function(["x", "y"], body))).endswith("return a")


def test_surviving_temporaries_and_their_adjoints_are_renumbered_without_gaps():
    body = [assign("t3", op("mul", "x", "y")), assign("g_t3", "t3"), ret("g_t3")]
    fn = renumbered(function(["x", "y"], body, t3="float"), ["t0", "t1", "t2", "t3"])
    assert show(fn.body) == _text("t0 = x * y", "g_t0 = t0", "return g_t0")
    assert "t0" in fn.kinds and "t3" not in fn.kinds
