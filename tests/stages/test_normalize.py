"""Stage 2, normalize: Python source in, structured three-address IR out.

Each test normalizes a small function of this file and reads the IR, printed as generated
code prints it (without the comments that name the user's lines).
"""

# The functions under test keep names they never read and loop counters they never use:
# ruff: noqa: B007

from __future__ import annotations

import math

import pytest

from srcdiff import ir
from srcdiff.errors import SrcdiffError

from .build import lines, normalize, normalized, show, statements


def _text(*printed: str) -> str:
    return "\n".join(printed)


# --- expressions ------------------------------------------------------------------------------


def three_address(x, y):
    z = x * y + math.sin(x)
    return z


def test_each_operation_gets_a_temporary_and_user_names_stay():
    line = three_address.__code__.co_firstlineno + 1
    assert show(normalized(three_address)) == _text(
        "def three_address(x, y):",
        "    t0 = x * y",
        "    if math.isinf(x):",
        f"        raise ValueError('test_normalize.py:{line}: math domain error')",
        "    t1 = math.sin(x)",
        "    z = t0 + t1",
        "    return z",
    )


def test_every_operation_applies_to_atoms():
    for func in (three_address, chained, lazy_and, nested_calls):
        for stmt in statements(normalized(func)):
            if isinstance(stmt, ir.Assign) and isinstance(stmt.value, ir.Op):
                assert all(isinstance(a, (ir.Name, ir.Const)) for a in stmt.value.args), stmt


def nested_calls(x):
    return math.exp(math.sin(x * x))


def test_nested_calls_are_flattened_innermost_first():
    assigns = [s for s in statements(normalized(nested_calls)) if isinstance(s, ir.Assign)]
    assert [s.value.prim for s in assigns] == ["mul", "sin", "exp"]
    assert assigns[1].value.args == (ir.Name(assigns[0].target),)
    assert assigns[2].value.args == (ir.Name(assigns[1].target),)


def augmented(x):
    s = x
    s += 1.0
    s *= x
    return s


def test_augmented_assignment_reads_and_writes_its_target():
    assigns = [s for s in statements(normalized(augmented)) if isinstance(s, ir.Assign)]
    assert [(s.target, s.value) for s in assigns[1:]] == [
        ("s", ir.Op("add", (ir.Name("s"), ir.Const(1.0)))),
        ("s", ir.Op("mul", (ir.Name("s"), ir.Name("x")))),
    ]


def swap(a, b):
    a, b = b, a
    return a - b


def test_tuple_swap_evaluates_the_right_side_first():
    assert lines(normalized(swap))[1:5] == ["t0 = b", "t1 = a", "a = t0", "b = t1"]


def chained(x, y):
    return 0.0 < x < y


def test_chained_comparison_evaluates_the_second_only_if_the_first_holds():
    assert show(normalized(chained)) == _text(
        "def chained(x, y):",
        "    y0 = 0.0 < x",
        "    t0 = y0",
        "    if t0:",
        "        y0 = x < y",
        "    return y0",
    )


def lazy_and(x, y):
    if x > 0 and math.log(x) > y:
        return x
    return y


def test_and_computes_its_right_operand_only_when_the_left_holds():
    fn = normalized(lazy_and)
    guarded = next(s for s in fn.body if isinstance(s, ir.If) and s.body)
    inner = [s.value.prim for s in statements(guarded.body) if isinstance(s, ir.Assign)]
    assert inner == ["log", "gt"]  # log(x) only runs when x > 0
    outer = [s for s in fn.body if isinstance(s, ir.Assign)]
    assert all(s.value.prim != "log" for s in outer if isinstance(s.value, ir.Op))


def ternary(x, y):
    return x if y > 0 else -x


def test_conditional_expression_becomes_an_if():
    assert lines(normalized(ternary))[1:] == [
        "t0 = y > 0",
        "if t0:",
        "y0 = x",
        "else:",
        "y0 = -x",
        "return y0",
    ]


# --- jumps become flags -----------------------------------------------------------------------


def with_break(x, n):
    s = 0.0
    for i in range(n):
        if s > 5.0:
            break
        s = s + x
    return s


def test_break_becomes_a_stop_flag_and_an_exit_test():
    fn = normalized(with_break)
    loop = next(s for s in fn.body if isinstance(s, ir.For))
    assert loop.exit_test == ir.Name("_break0")
    assert show(fn) == _text(
        "def with_break(x, n):",
        "    s = 0.0",
        "    _break0 = False",
        "    for i in range(n):",
        "        if s > 5.0:",
        "            _break0 = True",
        "        if not _break0:",
        "            s += x",
        "        if _break0:",
        "            break",
        "    return s",
    )


def with_continue(x, n):
    s = 0.0
    for i in range(n):
        if i == 2:
            continue
        s = s + x
    return s


def test_continue_becomes_a_flag_reset_at_each_iteration():
    fn = normalized(with_continue)
    loop = next(s for s in fn.body if isinstance(s, ir.For))
    assert loop.exit_test is None  # continue does not end the loop
    assert show(loop.body) == _text(
        "_continue0 = False",
        "if i == 2:",
        "    _continue0 = True",
        "if not _continue0:",
        "    s += x",
    )


def early_return(x, n):
    s = 0.0
    for i in range(n):
        if s > 10.0:
            return s
        s = s + x
    return s


def test_early_return_becomes_a_flag_and_one_final_return():
    fn = normalized(early_return)
    returns = [s for s in statements(fn) if isinstance(s, ir.Return)]
    assert returns == [fn.body[-1]]
    loop = next(s for s in fn.body if isinstance(s, ir.For))
    assert loop.exit_test == ir.Name("_returned")
    assert show(loop.body) == _text(
        "if s > 10.0:",
        "    y = s",
        "    _returned = True",
        "if not _returned:",
        "    s += x",
    )
    assert lines(fn)[-5:] == [
        "t0 = not _returned",
        "if t0:",
        "y = s",
        "_returned = True",
        "return y",
    ]


def test_no_statement_after_normalize_is_a_jump():
    allowed = (ir.Assign, ir.Call, ir.If, ir.For, ir.While, ir.Return, ir.Check)
    for func in (with_break, with_continue, early_return, lazy_and):
        assert all(isinstance(s, allowed) for s in statements(normalized(func)))


# --- values the reverse sweep re-reads are protected ------------------------------------------


def bound_reassigned(x, n):
    for i in range(n):
        n = n - 1
        x = x * 2.0
    return x


def test_a_loop_bound_the_body_reassigns_is_copied_first():
    assert lines(normalized(bound_reassigned))[1:3] == ["t0 = n", "for i in range(t0):"]


def branch_reassigns_test(x, y):
    if x > y:
        x = y
    return x


def test_an_if_test_the_branch_reassigns_is_computed_into_a_temporary():
    fn = normalized(branch_reassigns_test)
    branch = next(s for s in fn.body if isinstance(s, ir.If))
    assert branch.test == ir.Name("t0")
    assert lines(fn)[1:4] == ["t0 = x > y", "if t0:", "x = y"]


def while_loop(x):
    while x * x < 10.0:
        x = x * 2.0
    return x


def test_while_recomputes_its_test_operands_in_the_test_block():
    loop = next(s for s in normalized(while_loop).body if isinstance(s, ir.While))
    assert show(loop.test_block) == "t0 = x * x"
    assert loop.test == ir.Op("lt", (ir.Name("t0"), ir.Const(10.0)))
    assert show(loop.body) == "x *= 2.0"


# --- calls, checks, unbound reads --------------------------------------------------------------


def square(x):
    return x * x


def calls_helper(x):
    return square(x) + square(2.0 * x)


def test_helpers_are_normalized_before_their_caller_and_called_by_name():
    program = normalize(calls_helper)
    assert list(program.functions) == ["square", "calls_helper"]
    calls = [s for s in statements(program.main.ir) if isinstance(s, ir.Call)]
    assert [(c.func, c.args, c.pure) for c in calls] == [
        ("square", (ir.Name("x"),), True),
        ("square", (ir.Name("t2"),), True),
    ]


def recursive(x):
    if x > 1.0:
        return recursive(x / 2.0)
    return x


def test_recursion_is_rejected():
    with pytest.raises(SrcdiffError, match=r"recursion \(recursive -> recursive\)"):
        normalize(recursive)


def log_of(x):
    return math.log(x)


def test_a_math_call_is_preceded_by_its_domain_check():
    fn = normalized(log_of)
    line = log_of.__code__.co_firstlineno + 1
    check = fn.body[0]
    assert isinstance(check, ir.Check) and check.error == "ValueError"
    assert check.message == f"test_normalize.py:{line}: math domain error"
    assert lines(fn)[1:4] == [
        "if x <= 0:",
        f"raise ValueError('test_normalize.py:{line}: math domain error')",
        "y = math.log(x)",
    ]


def set_in_one_branch(x, c):
    if c > 0:
        z = x
    return z


def test_a_read_that_may_be_unbound_is_checked():
    fn = normalized(set_in_one_branch)
    check = next(s for s in fn.body if isinstance(s, ir.Check))
    assert check.error == "UnboundLocalError"
    assert "local variable 'z' is read before it is assigned" in check.message
    assert lines(fn)[1:6] == ["_z_assigned = False", "if c > 0:", "z = x", "_z_assigned = True",
                              "if not _z_assigned:"]  # fmt: skip


def test_statements_keep_the_users_line():
    fn = normalized(three_address)
    first_line = three_address.__code__.co_firstlineno
    assert {s.loc.line for s in statements(fn)} == {first_line + 1, first_line + 2}
    assert fn.body[-1].loc.text == "return z"
