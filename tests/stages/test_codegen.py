"""Stage 7a, codegen: IR printed as a self-contained Python module, with the imports it needs
and a map from generated lines to the user's."""

from __future__ import annotations

import pytest

from srcdiff import ir
from srcdiff.errors import SourceLocation

from .build import (
    assign,
    atom,
    check,
    function,
    loop,
    module_locations,
    module_text,
    op,
    ret,
    set_item,
    show,
    when,
)


def _text(*printed: str) -> str:
    return "\n".join(printed)


def test_a_scalar_update_prints_in_place_and_an_array_update_as_a_new_array():
    body = [assign("g", op("add", "g", "e")), assign("h", op("mul", "h", "e")), ret("g")]
    fn = function(["g", "h", "e"], body, g="float", h="array:float:1")
    assert show(fn.body, fn.kinds).splitlines()[:2] == ["g += e", "h = h * e"]


def test_tapes_print_as_stores_and_loads_with_their_tops():
    block = [ir.Push("f", atom("s")), ir.Pop("f", "s"), ir.Push("a", atom("y")), ir.Pop("a", "y")]
    assert show(block) == _text(
        "_tape_f[_top_f] = s; _top_f += 1",
        "_top_f -= 1; s = _tape_f[_top_f]",
        "_tape_a.append(y)",
        "y = _tape_a.pop()",
    )


def test_ranges_print_as_briefly_as_python_allows():
    block = [
        loop("i", 0, "n", [assign("a", "i")]),
        loop("i", 1, "n", [assign("a", "i")]),
        loop("i", op("sub", "n", 1), -1, [assign("a", "i")], step=-1),
    ]
    assert [line for line in show(block).splitlines() if line.startswith("for")] == [
        "for i in range(n):",
        "for i in range(1, n):",
        "for i in range(n - 1, -1, -1):",
    ]


def test_a_loop_exit_test_prints_as_a_break_at_the_end_of_the_body():
    assert show([loop("i", 0, "n", [assign("a", "i")], exit_test="stop")]) == _text(
        "for i in range(n):",
        "    a = i",
        "    if stop:",
        "        break",
    )


def test_a_while_loop_with_a_test_block_recomputes_the_test_each_time():
    stmt = ir.While([assign("t0", op("mul", "x", "x"))], op("lt", "t0", 10.0), [assign("x", 1.0)])
    assert show([stmt]) == _text(
        "while True:",
        "    t0 = x * x",
        "    if not (t0 < 10.0):",
        "        break",
        "    x = 1.0",
    )


def test_a_check_prints_as_the_failure_it_looks_for():
    assert show([check(op("not", op("lt", "x", 0.0)), "f.py:3: no")]) == _text(
        "if x < 0.0:",
        "    raise ValueError('f.py:3: no')",
    )


def test_an_else_holding_one_if_prints_as_elif():
    stmt = when("a", [assign("x", 1.0)], [when("b", [assign("x", 2.0)], [assign("x", 3.0)])])
    assert show([stmt]) == _text(
        "if a:",
        "    x = 1.0",
        "elif b:",
        "    x = 2.0",
        "else:",
        "    x = 3.0",
    )


def test_element_writes_and_grouped_returns():
    block = [
        set_item("v", ["i", 0], "x"),
        ir.IndexAdd("g", (atom("i"),), atom("e")),
        ir.Return((atom("y"), atom("g_x"), atom("g_z")), group_from=1),
    ]
    assert show(block) == _text("v[i, 0] = x", "g[i] += e", "return y, (g_x, g_z)")


def test_an_empty_block_prints_pass():
    assert show([when("c", [], [assign("a", 1.0)])]).splitlines()[:2] == ["if c:", "    pass"]


def test_a_statement_codegen_does_not_know_is_an_error():
    class Unknown:
        loc = None

    with pytest.raises(ir.UnknownStatement, match="no rule for Unknown"):
        show([Unknown()])


def test_the_module_imports_only_what_its_code_uses():
    plain = function(["x"], [assign("y", op("mul", "x", 2.0)), ret("y")])
    assert module_text([plain], "header") == _text(
        "# header",
        "",
        "",
        "def f(x):",
        "    y = x * 2.0",
        "    return y",
        "",
    )
    body = [assign("y", op("sin", "x")), assign("z", op("zeros", "n")), ret("y")]
    text = module_text([function(["x", "n"], body)])
    assert text.splitlines()[1:3] == ["import math", "import numpy as np"]


def test_the_runtime_routines_used_are_imported_from_srcdiff():
    body = [assign("_tape_f", op("tape_f", 16)), ret("x")]
    body.insert(1, assign("_tape_f", op("reserve", "_tape_f", 0, "n")))
    text = module_text([function(["x", "n"], body)])
    assert "from srcdiff.runtime import reserve" in text.splitlines()


def test_each_users_line_is_named_once_and_mapped_to_its_generated_lines():
    at = SourceLocation("/home/u/model.py", 7, 4, "y = 2.0 * x")
    body = [ir.Assign("t", atom(2.0), at), ir.Assign("y", op("mul", "t", "x"), at), ret("y")]
    fn = function(["x"], body)
    text = module_text([fn], "header")
    assert text.splitlines()[3:7] == [
        "def f(x):",
        "    # model.py:7  y = 2.0 * x",
        "    t = 2.0",
        "    y = t * x",
    ]
    assert module_locations([fn], "header") == {6: "model.py:7", 7: "model.py:7"}
