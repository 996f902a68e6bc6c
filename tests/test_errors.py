"""Bad input: each construct raises a named srcdiff error pointing at the user's file and line.

The offending line of every function carries a comment ``# error: <tag>``; the test looks the
line number up from that marker, so editing this file cannot silently desynchronise them.
Errors may be raised at decoration or at the first call: both happen inside ``pytest.raises``.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import random
import re

import numpy as np
import pytest
from conftest import marker_line

import srcdiff
from srcdiff import SrcdiffError, UnsupportedSyntaxError

COUNTER = 0.0


def bad_try(x):
    try:  # error: try
        y = x * 2.0
    except ZeroDivisionError:
        y = 0.0
    return y


def bad_with(x):
    with contextlib.suppress(ValueError):  # error: with
        y = x * 2.0
    return y


def bad_yield(x):
    yield x * 2.0  # error: yield


def bad_generator_expression(x):
    values = (x * i for i in range(3))  # error: generator-expression
    return sum(values)


def bad_lambda(x):
    return np.vectorize(lambda v: v * v)(x)  # error: lambda


def bad_list_comprehension(x):
    values = [x * i * j for i in range(3) for j in range(2)]  # error: list-comprehension
    return values[1] + values[2]


def bad_class(x):
    class Box:  # error: class
        scale = 2.0

    return x * Box.scale


def bad_nonlocal(x):
    total = 0.0

    def add(v):  # error: nested-def
        nonlocal total  # error: nonlocal
        total += v

    add(x)
    return total


def bad_global(x):
    global COUNTER  # error: global
    COUNTER = x * 2.0  # error: global-write
    return x * x


def bad_fstring(x):
    label = f"value {x}"  # error: f-string
    return x * float(len(label))


def bad_dict(x):
    table = {"a": x}  # error: dict
    return table["a"] * 2.0


def bad_set(x):
    items = {x}  # error: set
    return items.pop() * 2.0


def bad_assert(x):
    assert x > 0.0, "x is " + str(x)  # error: assert
    return x * x


def bad_raise(x):
    if x < 0.0:
        raise KeyError("negative")  # error: raise
    return x * x


def bad_recursion(x, n):
    if n == 0:
        return x
    return bad_recursion(x * 1.5, n - 1) + x  # error: recursion


def bad_ping(x, n):
    if n <= 0:
        return x
    return bad_pong(x * 2.0, n - 1)  # error: ping


def bad_pong(x, n):
    if n <= 0:
        return x
    return bad_ping(x + 1.0, n - 1)  # error: pong


def bad_unknown_library(x):
    return x * random.random()  # error: random


class Scaler:
    def scale(self, v):
        return 2.0 * v


SCALER = Scaler()


def bad_method_call(x):
    return SCALER.scale(x) + x  # error: method


def bad_print(x):
    print(x, sep=", ")  # error: print
    return x * x


def bad_tuple_return(x):
    return x * 2.0, x * 3.0  # error: tuple-return


def _array_of(x):
    return np.zeros(3) + x


def bad_write_into_call_result(x):
    y = _array_of(x)
    y[0] = x  # error: write-into-result
    return np.sum(y)


# Each case: function, arguments for the first call, the error class, the markers of the lines
# the message may name (either is right where two lines are equally to blame), and words the
# message must contain (the name of the missing rule for calls).
CASES = [
    (bad_try, (0.5,), UnsupportedSyntaxError, ["try"], []),
    (bad_with, (0.5,), UnsupportedSyntaxError, ["with"], []),
    (bad_yield, (0.5,), UnsupportedSyntaxError, ["yield"], []),
    (bad_generator_expression, (0.5,), UnsupportedSyntaxError, ["generator-expression"], []),
    (bad_lambda, (0.5,), UnsupportedSyntaxError, ["lambda"], []),
    (bad_list_comprehension, (0.5,), UnsupportedSyntaxError, ["list-comprehension"], []),
    (bad_class, (0.5,), UnsupportedSyntaxError, ["class"], []),
    (bad_nonlocal, (0.5,), UnsupportedSyntaxError, ["nested-def", "nonlocal"], []),
    (bad_global, (0.5,), UnsupportedSyntaxError, ["global", "global-write"], []),
    (bad_fstring, (0.5,), UnsupportedSyntaxError, ["f-string"], []),
    (bad_dict, (0.5,), UnsupportedSyntaxError, ["dict"], []),
    (bad_set, (0.5,), UnsupportedSyntaxError, ["set"], []),
    (bad_assert, (0.5,), UnsupportedSyntaxError, ["assert"], ["constant string"]),
    (bad_raise, (0.5,), UnsupportedSyntaxError, ["raise"], ["KeyError"]),
    (bad_recursion, (0.5, 3), SrcdiffError, ["recursion"], []),
    (bad_ping, (0.5, 3), SrcdiffError, ["ping", "pong"], []),
    (bad_unknown_library, (0.5,), SrcdiffError, ["random"], ["random"]),
    (bad_method_call, (0.5,), SrcdiffError, ["method"], ["scale"]),
    (bad_print, (0.5,), SrcdiffError, ["print"], ["print"]),
    (bad_tuple_return, (0.5,), SrcdiffError, ["tuple-return"], []),
    (bad_write_into_call_result, (0.5,), SrcdiffError, ["write-into-result"], ["`y`"]),
]


def assert_names_location(error: Exception, func, markers):
    message = str(error)
    basename = re.escape(os.path.basename(__file__))
    lines = [marker_line(func, f"error: {marker}") for marker in markers]
    assert any(re.search(rf"{basename}:{line}\b", message) for line in lines), (
        f"{type(error).__name__} message should name {os.path.basename(__file__)} and one of "
        f"lines {lines}: {message!r}"
    )


@pytest.mark.parametrize(
    ("f", "args", "error", "markers", "words"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_bad_input_is_rejected_with_location(f, args, error, markers, words, jit):
    with pytest.raises(error) as info:
        g = srcdiff.grad(f, jit=jit)
        g(*args)
    assert_names_location(info.value, f, markers)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"


@pytest.mark.parametrize(
    ("f", "args", "error", "markers", "words"),
    [c for c in CASES if c[2] is UnsupportedSyntaxError],
    ids=[c[0].__name__ for c in CASES if c[2] is UnsupportedSyntaxError],
)
def test_value_and_grad_rejects_the_same_syntax(f, args, error, markers, words):
    with pytest.raises(error) as info:
        g = srcdiff.value_and_grad(f, jit=False)
        g(*args)
    assert_names_location(info.value, f, markers)


def test_error_hierarchy():
    assert issubclass(SrcdiffError, Exception)
    assert issubclass(UnsupportedSyntaxError, SrcdiffError)
    assert srcdiff.SrcdiffError is SrcdiffError
    assert srcdiff.UnsupportedSyntaxError is UnsupportedSyntaxError


def good(x, y):
    return math.sin(x) * y


@pytest.mark.parametrize("wrt", ["z", ("x", "nope"), 2, (0, 5)], ids=repr)
@pytest.mark.parametrize("transform", [srcdiff.grad, srcdiff.value_and_grad])
def test_wrt_naming_a_missing_parameter_fails_at_decoration(transform, wrt):
    with pytest.raises((SrcdiffError, TypeError)):
        transform(good, wrt=wrt, jit=False)


def test_errors_are_not_swallowed_by_the_numba_fallback():
    """Default mode: a syntax error is raised, not turned into a warning and a Python run."""
    with pytest.raises(UnsupportedSyntaxError):
        g = srcdiff.grad(bad_try)
        g(0.5)


def test_errors_survive_pickling():
    """Errors cross process boundaries (multiprocessing, pytest-xdist) as they are."""
    with pytest.raises(UnsupportedSyntaxError) as info:
        srcdiff.grad(bad_try)
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is UnsupportedSyntaxError and str(again) == str(info.value)
    assert (again.filename, again.line) == (info.value.filename, info.value.line)
