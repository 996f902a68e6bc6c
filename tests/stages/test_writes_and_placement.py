"""Stage 3, writes (in-place writes and the views that see them) and placement (the backend
the code runs on)."""

# The functions under test keep names they never read and loop counters they never use:
# ruff: noqa: B007

from __future__ import annotations

import numpy as np
import pytest

from srcdiff.errors import SrcdiffError

from .build import (
    assign,
    check_writes,
    choose_backend,
    function,
    infer,
    kinds,
    normalized,
    op,
    ret,
    set_item,
    views_of_written,
)


def analysed(func, **param_kinds):
    return normalized(func), infer(func, **param_kinds)


# --- writes -----------------------------------------------------------------------------------


def fills(x, n):
    v = np.zeros(n)
    for i in range(n):
        v[i] = x * i
    return np.sum(v)


def test_writing_into_an_array_the_function_made_is_accepted():
    check_writes(*analysed(fills, x="float", n="int"))


def writes_argument(v, x):
    v[0] = x
    return np.sum(v)


def test_writing_into_an_argument_is_rejected():
    with pytest.raises(SrcdiffError, match=r"writing into the argument `v`; write into v.copy\(\)"):
        check_writes(*analysed(writes_argument, v="array:float:1", x="float"))


def writes_reassigned(x, n):
    v = np.zeros(n)
    v = v * x
    v[0] = x
    return np.sum(v)


def test_writing_into_an_array_assigned_from_anything_but_a_creation_is_rejected():
    with pytest.raises(SrcdiffError, match="`v` is written in place, so it must be an array"):
        check_writes(*analysed(writes_reassigned, x="float", n="int"))


def stale_view(x, n):
    s = np.zeros((2, n))
    r = s[0]
    s[0] = x
    return np.sum(r)


def test_a_view_read_after_a_write_into_its_array_is_rejected():
    line = stale_view.__code__.co_firstlineno + 4
    with pytest.raises(SrcdiffError, match=f":{line}:.*`r` is a view of `s`, which is written"):
        check_writes(*analysed(stale_view, x="float", n="int"))


def other_row(x, n):
    s = np.zeros((2, n))
    r = s[0]
    s[1] = x
    return np.sum(s) + np.sum(r)


def test_a_view_of_a_row_no_later_write_touches_is_accepted_and_copied():
    fn, known = analysed(other_row, x="float", n="int")
    check_writes(fn, known)
    assert views_of_written(fn, known) == {"r"}  # the reverse sweep must see a copy


def element_read(x, n):
    s = np.zeros(n)
    r = s[0]
    s[0] = x
    return np.sum(s) + r


def test_an_element_read_is_a_number_not_a_view():
    assert views_of_written(*analysed(element_read, x="float", n="int")) == set()


def test_views_of_views_share_the_written_memory():
    body = [
        assign("s", op("zeros", "n")),
        assign("r", op("transpose", "s")),
        assign("q", op("reshape", "r", "n")),
        assign("c", op("mul", "s", 2.0)),
        ret("c"),
    ]
    body.insert(3, set_item("s", [0], "x"))
    fn = function(["x", "n"], body)
    known = kinds(
        x="float", n="int", s="array:float:1", r="array:float:1", q="array:float:1",
        c="array:float:1",
    )  # fmt: skip
    assert views_of_written(fn, known) == {"r", "q"}


# --- placement --------------------------------------------------------------------------------


def scalar(x, y):
    return x * y


def array_statements(x):
    return np.sum(np.exp(x))


def array_loop(x, n):
    s = 0.0
    for i in range(n):
        s = s + np.sum(x * x)
    return s


@pytest.mark.parametrize(
    ("func", "param_kinds", "chosen", "reason"),
    [
        (scalar, {"x": "float", "y": "float"}, "numba", "loop and scalar code"),
        (
            array_statements,
            {"x": "array:float:1"},
            "numpy",
            "array statements outside loops, which NumPy runs faster than Numba",
        ),
        (
            array_loop,
            {"x": "array:float:1", "n": "int"},
            "numba",
            "loops over arrays, where NumPy's cost per call would dominate",
        ),
    ],
)
def test_auto_chooses_from_the_code(func, param_kinds, chosen, reason):
    assert choose_backend(*analysed(func, **param_kinds)) == (chosen, reason)


@pytest.mark.parametrize("requested", ["numba", "numpy"])
def test_a_requested_backend_is_taken(requested):
    fn, known = analysed(array_statements, x="array:float:1")
    assert choose_backend(fn, known, requested) == (requested, "as requested")


def _python_only():
    """A function calling a primitive Numba cannot compile."""
    body = [assign("b", op("distinct_positions1", "v")), ret("b")]
    return function(["v"], body), kinds(v="array:int:1", b="bool")


def test_a_primitive_without_numba_sends_auto_to_numpy():
    chosen, reason = choose_backend(*_python_only())
    assert chosen == "numpy"
    assert reason == "`distinct_positions(x)` is not a Numba function"


def test_requesting_numba_for_a_primitive_without_it_is_an_error():
    with pytest.raises(SrcdiffError, match="has no Numba version in srcdiff; use backend='numpy'"):
        choose_backend(*_python_only(), "numba")
