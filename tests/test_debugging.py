"""Debugging statements: ``assert`` and ``raise`` keep their checks in the forward sweep, so
bad input fails as it fails without srcdiff, with the user's own exception and message.

pytest rewrites the asserts of this module (adding its explanation to their messages), so
the tests compare with the message as written, which is what the plain function raises
outside pytest.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_grad_close, no_fallback_warning

import srcdiff
from srcdiff.errors import UnsupportedSyntaxError


@pytest.fixture(
    params=[{"jit": False}, {"jit": None}, {"jit": None, "backend": "numpy"}],
    ids=["python", "numba", "numpy"],
)
def mode(request):
    """The keywords of ``srcdiff.grad`` for each way to run: plain Python, Numba, NumPy."""
    if request.param["jit"] is None:
        with no_fallback_warning():
            yield request.param
    else:
        yield request.param


# --- assert -------------------------------------------------------------------------------------


def asserted(x, y):
    assert x > 0, "x must be positive"
    assert y == y
    return math.log(x) * y


def test_assert_that_holds_changes_nothing(mode):
    g = srcdiff.grad(asserted, wrt=("x", "y"), **mode)
    assert_grad_close(g, asserted, (2.0, 3.0), ("x", "y"))


def test_failing_assert_raises_the_users_message(mode):
    g = srcdiff.grad(asserted, wrt=("x", "y"), **mode)
    with pytest.raises(AssertionError) as failure:
        g(-1.0, 3.0)
    assert failure.value.args == ("x must be positive",)
    with pytest.raises(AssertionError) as failure:
        g(2.0, math.nan)
    assert failure.value.args == ()  # an assert without a message, as Python raises it


def test_assert_is_a_check_of_the_forward_sweep_only():
    source = srcdiff.grad(asserted, wrt=("x", "y")).source
    forward, reverse = source.split("# reverse sweep")
    assert "raise AssertionError('x must be positive')" in forward
    assert "AssertionError" not in reverse


def assert_with_boolean_test(x, y):
    assert 0.0 < x < 10.0 and y != 0.0, "out of range"
    return x / y


def test_assert_of_a_lazy_condition(mode):
    g = srcdiff.grad(assert_with_boolean_test, wrt=("x", "y"), **mode)
    assert_grad_close(g, assert_with_boolean_test, (2.0, 3.0), ("x", "y"))
    for bad in [(20.0, 3.0), (2.0, 0.0)]:
        with pytest.raises(AssertionError, match="^out of range$"):
            g(*bad)


def assert_computed_message(x):
    assert x > 0, "x is " + str(x)
    return x


def test_assert_with_a_computed_message_is_refused():
    with pytest.raises(UnsupportedSyntaxError, match="message is not a constant string") as err:
        srcdiff.grad(assert_computed_message)
    assert 'write an f-string: f"bad {n}"' in str(err.value)


# --- raise ----------------------------------------------------------------------------------------


def raises_under_if(x, y):
    if y > 10.0:
        raise ValueError("y too large")
    z = x * y
    if z < -100.0:
        raise ArithmeticError
    return math.sin(z) * x


def test_raise_under_if_where_the_function_raises(mode):
    g = srcdiff.grad(raises_under_if, wrt=("x", "y"), **mode)
    with pytest.raises(ValueError) as failure:
        g(1.0, 11.0)
    assert failure.value.args == ("y too large",)
    with pytest.raises(ArithmeticError) as failure:
        g(-20.0, 9.0)
    assert failure.value.args == ()


def test_raise_under_if_elsewhere_the_gradient_is_right(mode):
    g = srcdiff.grad(raises_under_if, wrt=("x", "y"), **mode)
    for point in [(1.0, 2.0), (-0.7, 3.5), (2.0, -4.0)]:
        assert_grad_close(g, raises_under_if, point, ("x", "y"))


def returns_or_raises(x):
    if x > 0.0:
        return x * x
    raise ZeroDivisionError("x must be positive")
    return x  # never runs


def test_a_path_may_end_in_a_raise(mode):
    g = srcdiff.grad(returns_or_raises, wrt=("x",), **mode)
    assert_grad_close(g, returns_or_raises, (3.0,), ("x",))
    with pytest.raises(ZeroDivisionError, match="^x must be positive$"):
        g(-1.0)


def raises_in_loop(a):
    s = 0.0
    for i in range(a.shape[0]):
        if a[i] < 0.0:
            raise IndexError("negative entry")
        s += a[i] ** 3
    return s


def test_raise_in_a_loop(mode):
    g = srcdiff.grad(raises_in_loop, **mode)
    a = np.array([1.0, 2.0, 0.5])
    np.testing.assert_allclose(g(a), 3 * a**2, rtol=1e-12)
    with pytest.raises(IndexError, match="^negative entry$"):
        g(np.array([1.0, -2.0]))


def test_raise_is_printed_as_written():
    source = srcdiff.grad(raises_under_if, wrt=("x", "y")).source
    forward, reverse = source.split("# reverse sweep")
    assert "raise ValueError('y too large')" in forward
    assert "raise ArithmeticError()" in forward
    assert "raise" not in reverse


class MyError(Exception):
    pass


def raises_own_class(x):
    if x < 0.0:
        raise MyError("no")
    return x


def raises_computed_message(x):
    if x < 0.0:
        raise ValueError("x is " + str(x))
    return x


def reraises(x):
    if x < 0.0:
        raise
    return x


def always_raises(x):
    raise RuntimeError("not yet")


def test_a_function_that_only_raises_is_refused():
    with pytest.raises(srcdiff.SrcdiffError, match="never returns a value: every path raises"):
        srcdiff.grad(always_raises)


@pytest.mark.parametrize(
    "f, words",
    [
        (raises_own_class, "raising `MyError`"),
        (raises_computed_message, "message is not a constant string"),
        (reraises, "a bare raise"),
    ],
)
def test_unsupported_raise_is_refused_at_its_line(f, words):
    with pytest.raises(UnsupportedSyntaxError, match=words) as failure:
        srcdiff.grad(f)
    assert "test_debugging.py:" in str(failure.value)


# --- print ----------------------------------------------------------------------------------------


def printing(x, y):
    z = x * y
    print("z is", z, 3)
    return math.sin(z) * x


def printing_in_loop(a):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] ** 2
        print(i, s)
    print(a)
    return s


def test_print_runs_once_per_call_of_the_gradient(mode, capfd):
    g = srcdiff.grad(printing, wrt=("x", "y"), **mode)
    capfd.readouterr()
    assert_grad_close(g, printing, (0.5, 2.0), ("x", "y"))
    printed = capfd.readouterr().out
    # the gradient printed once; finite differences called the plain function many times
    assert printed.startswith("z is 1.0 3\n")
    capfd.readouterr()
    g(0.5, 2.0)
    g(1.0, 2.0)
    assert capfd.readouterr().out == "z is 1.0 3\nz is 2.0 3\n"


def test_print_in_a_loop(mode, capfd):
    g = srcdiff.grad(printing_in_loop, **mode)
    capfd.readouterr()
    a = np.array([1.0, 2.0])
    np.testing.assert_allclose(g(a), 2 * a)
    assert capfd.readouterr().out == f"0 1.0\n1 5.0\n{a}\n"


def test_print_is_in_the_forward_sweep_only():
    for f in (printing, printing_in_loop):
        source = srcdiff.grad(f).source
        forward, reverse = source.split("# reverse sweep")
        assert "print(" in forward
        assert "print(" not in reverse
    source = srcdiff.grad(printing).source
    assert "print('z is', z, 3)" in source


def printing_helper(x):
    print("helper", x)
    return x * x


def calls_printing_helper(x):
    return printing_helper(x) + x


def prints_with_keywords(x):
    print(x, end="")
    return x


@pytest.mark.parametrize(
    "f, words",
    [(calls_printing_helper, "print in `printing_helper`"), (prints_with_keywords, "keyword")],
)
def test_unsupported_print_is_refused_at_its_line(f, words):
    with pytest.raises(UnsupportedSyntaxError, match=words) as failure:
        srcdiff.grad(f)
    assert "test_debugging.py:" in str(failure.value)


# --- f-strings in print -------------------------------------------------------------------------


def printing_fstrings(x, n):
    s = 0.0
    for i in range(n):
        s = s + math.sin(x * (i + 1))
        print(f"loss {s:.3f} at step {i}, {{braces}} {i!r:>3}")
    print(f"done", f"{s}", 2)  # noqa: F541
    return s * x


def test_fstrings_print_as_the_plain_function_prints(mode, capfd):
    g = srcdiff.grad(printing_fstrings, wrt=("x",), **mode)
    printing_fstrings(0.5, 3)
    expected = capfd.readouterr().out
    capfd.readouterr()
    g(0.5, 3)
    assert capfd.readouterr().out == expected
    assert expected.startswith("loss 0.479 at step 0, {braces}   0\n")
    assert_grad_close(g, printing_fstrings, (0.5, 3), ("x",))


def test_an_fstring_is_printed_as_its_format_call_on_numpy():
    g = srcdiff.grad(printing_fstrings, wrt="x")
    g(0.5, 2)
    source = g.source
    assert "'loss {:.3f} at step {}, {{braces}} {!r:>3}'.format(s, i, i)" in source
    assert "an f-string, which Numba cannot format" in source.splitlines()[2]


def test_forcing_numba_on_an_fstring_names_the_line():
    with pytest.raises(srcdiff.SrcdiffError, match="f-string, which Numba.*backend='numpy'") as err:
        srcdiff.grad(printing_fstrings, wrt="x", backend="numba")(0.5, 2)
    assert "test_debugging.py:" in str(err.value)


def fstring_outside_print(x):
    label = f"x={x}"
    return x * len(label)


def fstring_computed_spec(x, width):
    print(f"{x:{width}}")
    return x * x


@pytest.mark.parametrize(
    "f, words",
    [(fstring_outside_print, "an f-string"), (fstring_computed_spec, "computed format spec")],
)
def test_fstrings_elsewhere_are_refused_at_their_line(f, words):
    with pytest.raises(UnsupportedSyntaxError, match=words) as failure:
        srcdiff.grad(f)
    assert "test_debugging.py:" in str(failure.value)
    assert str(failure.value).endswith("see docs/reference.md")


def asserts_with_fstrings(x, n):
    assert x > 0, f"x must be positive, got {x:.2f} (n={n!r})"
    if n > 5:
        raise ValueError(f"n={n} is too large")
    return math.log(x) * n


def test_fstring_messages_of_assert_and_raise(mode):
    g = srcdiff.grad(asserts_with_fstrings, wrt=("x",), **mode)
    assert_grad_close(g, asserts_with_fstrings, (2.0, 3), ("x",))
    # (pytest adds its explanation to the plain function's assert: compare with the message)
    expected = {
        (-1.0, 3): (AssertionError, "x must be positive, got -1.00 (n=3)"),
        (2.0, 7): (ValueError, "n=7 is too large"),
    }
    for args, (error, message) in expected.items():
        with pytest.raises(error) as failure:
            g(*args)
        assert failure.value.args == (message,)


def test_an_assert_message_is_formatted_only_where_the_assert_fails():
    source = srcdiff.grad(asserts_with_fstrings, wrt="x").source
    fails = source.index("if t0:")
    assert source.index("'x must be positive, got {:.2f} (n={!r})'.format(x, n)") > fails
