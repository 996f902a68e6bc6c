"""Programs from outside test suites (AD corpora, GradBench, a fuzzer, new users' first code)
where srcdiff once gave a wrong gradient, ran past the end of an array, or answered where
Python raises. Each is pinned here against centred differences of the plain function, or
against the exception the plain function raises.
"""

from __future__ import annotations

import math
import random
import re
import sys
import threading

import numpy as np
import pytest
import scipy.special
from conftest import marker_line
from test_arrays import coordinate_fd

import srcdiff

BACKENDS = ["numpy", "numba"]


# --- values read through views of arrays written later ------------------------------------------


def row_read_then_overwritten(w, state):
    s = state.copy()
    s[0] = s[0] * w
    return np.sum(s[0] * w)


def recurrence_over_rows(w, state):
    s = state.copy()
    for _ in range(3):
        h = s[0]
        c = s[1]
        s[1] = c * 0.5 + h * w
        s[0] = np.tanh(s[1]) * h
    return np.sum(s[1] * w) + np.sum(s[0])


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_a_row_read_before_it_is_overwritten_keeps_the_value_it_had(backend):
    w, state = np.array([1.0, 2.0, 3.0]), np.ones((2, 3))
    got = srcdiff.grad(row_read_then_overwritten, backend=backend)(w, state)
    np.testing.assert_allclose(got, [2.0, 4.0, 6.0])


def test_rows_of_a_state_array_read_and_rewritten_in_a_loop():
    w = np.array([0.5, -0.3, 0.8])
    state = np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    gradient = srcdiff.grad(recurrence_over_rows)
    got = gradient(w, state)
    expected = coordinate_fd(recurrence_over_rows, (w, state), 0)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8, err_msg=gradient.source)
    assert ".copy()" in gradient.source  # the rows the reverse sweep reads are snapshots


# --- indices out of range: Python's IndexError at the user's line, on every backend ---------------


def reads_past_the_end(x):
    s = 0.0
    for i in range(len(x)):
        s = s + x[i + 1] * x[i]  # reads_past_the_end
    return s


def writes_past_the_end(x, n):
    y = np.zeros(3)
    for i in range(n):
        y[i] = x[i] * x[i]  # writes_past_the_end
    return np.sum(y)


def index_from_an_argument(x, k):
    return x[k] * x[0]  # index_from_an_argument


def index_in_a_while_loop(x):
    s = 0.0
    i = 0
    while i <= len(x):
        s = s + x[i]  # index_in_a_while_loop
        i = i + 1
    return s


def a_row_too_many(a, n):
    s = 0.0
    for i in range(n):
        for j in range(a.shape[1]):
            s = s + a[i, j] ** 2  # a_row_too_many
    return s


def in_a_branch_not_taken(x, n):
    s = 0.0
    for i in range(n):
        if i < len(x):
            s = s + x[i]
    return s


OUT_OF_RANGE = [
    (reads_past_the_end, (np.ones(3),)),
    (writes_past_the_end, (np.ones(5), 4)),
    (index_from_an_argument, (np.ones(3), 3)),
    (index_from_an_argument, (np.ones(3), -4)),
    (index_in_a_while_loop, (np.ones(3),)),
    (a_row_too_many, (np.ones((2, 3)), 3)),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("f", "args"), OUT_OF_RANGE, ids=["read", "write", "argument", "negative", "while", "2-d"]
)
def test_an_index_out_of_range_raises_index_error_at_the_users_line(f, args, backend):
    with pytest.raises(IndexError):
        f(*args)  # what Python does
    where = rf"test_soundness.py:{marker_line(f, f.__name__)}: index out of range"
    with pytest.raises(IndexError, match=where):
        srcdiff.grad(f, backend=backend)(*args)
    with pytest.raises(IndexError, match=where):
        srcdiff.jvp(f, backend=backend)(*args, np.ones_like(args[0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_indices_in_range_differentiate_as_before(backend):
    x = np.array([0.5, -1.0, 2.0, 0.3])
    for k in (2, -1):  # negative indices count from the end, as in Python
        got = srcdiff.grad(index_from_an_argument, backend=backend)(x, k)
        np.testing.assert_allclose(got, coordinate_fd(index_from_an_argument, (x, k), 0), rtol=1e-6)
    # the branch that would read past the end is never taken: no error, as in Python
    got = srcdiff.grad(in_a_branch_not_taken, backend=backend)(x, 6)
    np.testing.assert_allclose(got, np.ones(4))


def test_indices_provably_in_range_are_not_checked():
    def rosenbrock(x):
        s = 0.0
        for i in range(len(x) - 1):
            s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
        return s

    gradient = srcdiff.grad(rosenbrock)
    gradient(np.ones(4))
    assert "IndexError" not in gradient.source


def test_a_loop_checks_its_indices_once_before_it_runs():
    gradient = srcdiff.grad(writes_past_the_end)
    gradient(np.ones(5), 3)
    source = gradient.source
    loops, entry = source.split("def writes_past_the_end_adjoint(")
    assert "raise IndexError" not in loops, source  # not once per iteration
    assert entry.count("raise IndexError") == 2, source  # x[i] and y[i], once each
    assert entry.rindex("raise IndexError") < entry.index("_loop0("), source


# --- where the plain function raises, the gradient raises the same exception --------------------


def square_root(x):
    return math.sqrt(x) * x  # square_root


def logarithm(x):
    return math.log(x, 2.0) + x  # logarithm


def reciprocal(x):
    return 1.0 / x  # reciprocal


def floor_quotient(x, y):
    return x // y + x * y  # floor_quotient


def remainder(x, y):
    return x % y + x * y  # remainder


def negative_power(x, y):
    return x**y  # negative_power


def exponential(x):
    return math.exp(x) * x  # exponential


def huge_power(x):
    return x ** (2**63)  # huge_power


def arc_sine(x):
    return math.asin(x)  # arc_sine


def truncated(x):
    n = int(x)  # truncated
    return x * n


def divides_in_a_loop(x, n):
    s = 0.0
    for i in range(n):
        s = s + x / (i - 2)  # divides_in_a_loop
    return s


RAISING = [
    (square_root, (-1.0,)),
    (logarithm, (0.0,)),
    (reciprocal, (0.0,)),
    (floor_quotient, (1.0, 0.0)),
    (remainder, (1.0, 0.0)),
    (negative_power, (0.0, -1.0)),
    (exponential, (1000.0,)),
    (huge_power, (1.5,)),
    (arc_sine, (2.0,)),
    (truncated, (math.inf,)),
    (truncated, (math.nan,)),
    (divides_in_a_loop, (1.0, 4)),
]


def python_error(f, args) -> BaseException:
    try:
        f(*args)
    except Exception as err:  # noqa: BLE001  (whatever Python raises is the reference)
        return err
    raise AssertionError(f"{f.__name__}{args} does not raise")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("f", "args"), RAISING, ids=lambda v: getattr(v, "__name__", ""))
def test_where_python_raises_the_gradient_raises_the_same_exception(f, args, backend):
    expected = python_error(f, args)
    line = marker_line(f, f.__name__)
    words = str(expected.args[-1])  # OverflowError(34, 'Numerical result out of range')
    pattern = rf"^test_soundness.py:{line}: {re.escape(words)}$"
    with pytest.raises(type(expected), match=pattern):
        srcdiff.grad(f, backend=backend)(*args)
    with pytest.raises(type(expected), match=pattern):
        srcdiff.jvp(f, backend=backend)(*args, 1.0)


def numpy_functions(x, y, a):
    # NumPy's functions of numbers give nan and inf, and a NumPy scalar divides as NumPy does
    return np.sqrt(x) + np.log(y) + x / np.sum(a * y) + min(x, np.exp(800.0))


@pytest.mark.parametrize("jit", [None, False], ids=["compiled", "python"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_keeps_its_own_rules_nan_and_inf_without_an_exception(backend, jit):
    args = (-1.0, 0.0, np.ones(2))
    with np.errstate(all="ignore"):
        value = numpy_functions(*args)
        gradient = srcdiff.value_and_grad(numpy_functions, wrt=(0, 1), backend=backend, jit=jit)
        got, _ = gradient(*args)
    assert math.isnan(value) and math.isnan(got)


@pytest.mark.parametrize("backend", BACKENDS)
def test_python_numbers_inside_their_domain_differentiate_as_before(backend):
    for f, args in [(square_root, (2.0,)), (logarithm, (3.0,)), (floor_quotient, (7.0, 2.0)),
                    (remainder, (7.5, 2.0)), (negative_power, (2.0, -1.5)), (arc_sine, (0.5,)),
                    (exponential, (3.0,)), (truncated, (2.5,))]:  # fmt: skip
        got = srcdiff.grad(f, backend=backend)(*args)
        assert got == pytest.approx(coordinate_fd(f, args, 0), rel=1e-6, abs=1e-8), f.__name__


# --- errors raised inside generated code name the user's line -----------------------------------


def mismatched_product(a, x):
    return np.sum(a @ x)  # mismatched_product


def negative_size(x, n):
    return np.sum(x * np.zeros(n))  # negative_size


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("f", "args"),
    [(mismatched_product, (np.ones((2, 3)), np.ones(4))), (negative_size, (np.ones(3), -1))],
    ids=["matmul", "zeros"],
)
def test_an_error_inside_generated_code_names_the_users_line(f, args, backend):
    expected = python_error(f, args)
    line = marker_line(f, f.__name__)
    with pytest.raises(type(expected), match=rf"^test_soundness.py:{line}: "):
        srcdiff.grad(f, backend=backend)(*args)


# --- threads ------------------------------------------------------------------------------------


def test_concurrent_calls_with_changing_argument_types_reach_their_own_variant():
    def f(x, n):
        return x**3 * n

    gradient = srcdiff.grad(f)
    arguments = [(2.0, 3), (np.float32(2.0), 3), (2.0, True), (np.float64(2.0), 3)]
    expected = [12.0 * n for _, n in arguments]
    for args in arguments:  # compile every variant first: the race is in switching
        gradient(*args)
    errors: list[str] = []

    def hammer(k: int) -> None:
        for step in range(4000):
            args = arguments[(k + step) % len(arguments)]
            got = gradient(*args)
            if got != pytest.approx(expected[(k + step) % len(arguments)]):
                errors.append(f"{args}: {got}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[:5]


# --- functions srcdiff does not read: called where nothing varies, else a clear error ----------


def library_without_rule(x):
    return scipy.special.logsumexp(x)  # library_without_rule


def library_with_a_tuple(x):
    return np.sum(np.vstack((x, x)) * 2.0)  # library_with_a_tuple


def varying_lgamma(x):
    return math.lgamma(x) * x  # varying_lgamma


def constant_lgamma(x, n):
    return math.lgamma(0.5 * n) * x + scipy.special.gammaln(2.5) * x * x


@pytest.mark.parametrize(
    ("f", "args", "spelled"),
    [
        (library_without_rule, (np.ones(3),), "scipy.special.logsumexp"),
        (library_with_a_tuple, (np.ones(3),), "np.vstack"),
        (varying_lgamma, (2.5,), "math.lgamma"),
    ],
    ids=["logsumexp", "tuple", "lgamma"],
)
def test_a_library_function_without_a_rule_is_named_at_the_users_call(f, args, spelled):
    line = marker_line(f, f.__name__)
    pattern = rf"test_soundness.py:{line}:\d+: srcdiff has no derivative rule for `{spelled}`"
    with pytest.raises(srcdiff.SrcdiffError, match=pattern) as raised:
        srcdiff.grad(f)(*args)
    assert "register_rule" in str(raised.value)


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_a_library_function_of_numbers_that_do_not_vary_is_called(backend):
    gradient = srcdiff.grad(constant_lgamma, backend=backend)
    got = gradient(1.5, 3)
    assert got == pytest.approx(coordinate_fd(constant_lgamma, (1.5, 3), 0), rel=1e-7)
    assert got == pytest.approx(math.lgamma(1.5) + 3.0 * scipy.special.gammaln(2.5), rel=1e-12)
    with pytest.raises(srcdiff.SrcdiffError, match="gammaln.*has no Numba version"):
        srcdiff.grad(constant_lgamma, backend="numba")(1.5, 3)


def test_functions_with_effects_are_not_called():
    def noisy(x):
        return x * random.random()

    with pytest.raises(srcdiff.SrcdiffError, match=r"`random.random` has effects"):
        srcdiff.grad(noisy)(1.0)


# --- adjoints that are zero because nothing contributed stay out of the arithmetic ----------------


def overflow_in_a_branch_not_taken(x):
    big = 1e300
    huge = big * big  # inf, and nothing varies with it
    t = x * huge
    if x < 0.0:
        y = t
    else:
        y = x
    return y


def overflow_on_the_side_min_did_not_pick(x):
    big = 1e300
    t = x * (big * big)
    return min(x, t) + abs(0.0 * t)


def overflow_in_a_loop_that_does_not_run(x, n):
    big = 1e300
    t = x * (big * big)
    s = x
    for _ in range(n):
        s = s + t
    return s


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("f", "args"),
    [
        (overflow_in_a_branch_not_taken, (1.0,)),
        (overflow_on_the_side_min_did_not_pick, (1.0,)),
        (overflow_in_a_loop_that_does_not_run, (1.0, 0)),
    ],
    ids=["branch", "min", "loop"],
)
def test_an_infinite_partial_times_a_zero_adjoint_is_no_nan(f, args, backend):
    # d/dx is 1: the overflowing intermediate does not reach the result on this run
    with np.errstate(all="ignore"):
        assert srcdiff.grad(f, backend=backend)(*args) == 1.0
