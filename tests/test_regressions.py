"""Programs that once gave a wrong gradient or a bare traceback, each pinned by a test.

(Unpacking a helper's tuple in a loop and a loop index read after an empty loop are pinned
in test_calls.py and test_control_flow.py.)
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_grad_close, fd_grad

import srcdiff

OFFSET = 0


def loop_variable_in_its_own_bound(x, i):
    s = 0.0
    for i in range(i, 4):  # noqa: B020  (the point of the test)
        s = s + x * i
    return s


def bound_copied_from_the_loop_variable(x, i):
    j = i
    s = 0.0
    for i in range(j, 6):
        s = s + x * i
    return s


def reserved_name_as_bound(x, n):
    s = 1.0
    max = n  # renamed in generated code, since max is a builtin it prints
    for _ in range(max):
        s = s * x
        max = max - 1
    return s


def loop_variable_doubled_in_body(x, n):
    s = 0.0
    for i in range(n):
        i = i * 2
        s = s + x * i
    return s


def loop_variable_made_float_in_body(x, n):
    s = 0.0
    for i in range(n):
        i = i + x
        s = s + x * i
    return s


def and_reads_its_own_target(x):
    y = x * 1.0
    y = y > 0 and y
    return y * x


def or_reads_its_own_target(x, w):
    w = 0.0 * x or w
    return w * x


def chain_reads_its_own_target(c):
    c = 0.5 < c < 1.2
    return c * 1.0 + c


def t0(x):  # a helper named like a generated temporary
    return x * 2.0


def calls_helper_named_t0(x):
    return t0(x) + 1.0


def int_zero_times_bound(x, n):
    s = 0.0
    for i in range(OFFSET * n, n):
        s += x * i
    return s


def while_inside_for(x, n):
    s = x
    for i in range(n):
        s = s * 1.1 + x
        k = 0
        while k < i:
            s = math.sin(s) + x
            k += 1
        s = s * x
    return s


def integer_power(n, k):
    return n**k


def scaled_by_integer_power(x, n, k):
    return x * n**k + x * integer_power(n, k)


CASES = [
    (loop_variable_in_its_own_bound, (1.5, 1), 0),
    (bound_copied_from_the_loop_variable, (1.5, 1), 0),
    (reserved_name_as_bound, (1.3, 4), 0),
    (loop_variable_doubled_in_body, (1.5, 4), 0),
    (loop_variable_made_float_in_body, (1.5, 4), 0),
    (and_reads_its_own_target, (1.5,), 0),
    (or_reads_its_own_target, (1.5, 2.0), (0, 1)),
    (chain_reads_its_own_target, (0.9,), 0),
    (calls_helper_named_t0, (1.0,), 0),
    (int_zero_times_bound, (1.5, 4), 0),
    (while_inside_for, (0.3, 5), 0),
    (scaled_by_integer_power, (1.5, 2, -1), 0),  # Numba's int ** negative int is an int
    (scaled_by_integer_power, (1.5, 2, 3), 0),
]


@pytest.mark.parametrize(
    ("f", "args", "wrt"), CASES, ids=[f"{c[0].__name__}-{c[1]}" for c in CASES]
)
def test_gradient_matches_finite_differences(jit, f, args, wrt):
    g = srcdiff.grad(f, wrt=wrt, jit=jit)
    assert_grad_close(g, f, args, wrt)


def test_value_and_grad_with_helper_named_like_a_temporary(jit):
    value, slope = srcdiff.value_and_grad(calls_helper_named_t0, jit=jit)(1.0)
    assert (value, slope) == (3.0, 2.0)


def indexing_a_float(w, x):
    v = w * x[0]
    return v[0] + w


def float_range_bound(x, n):
    s = 0.0
    for i in range(x):
        s += i
    return s * x


def len_of_a_float(x):
    return len(x) * x


def method_call(x):
    return x.conjugate()


@pytest.mark.parametrize(
    ("f", "args", "message"),
    [
        (indexing_a_float, (1.0, np.ones(3)), "needs an array"),
        (float_range_bound, (1.5, 3), "range() needs integers"),
        (len_of_a_float, (1.0,), "needs a"),
        (method_call, (1.0,), "method call"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_wrong_kinds_are_reported_at_the_users_line(f, args, message):
    with pytest.raises(srcdiff.SrcdiffError) as caught:
        srcdiff.grad(f, jit=False)(*args)
    assert message in str(caught.value)
    assert "test_regressions.py:" in str(caught.value)


def test_infinite_derivative_at_a_domain_boundary_is_inf_under_numba():
    def sqrt_at_zero(x):
        return math.sqrt(x)

    assert srcdiff.grad(sqrt_at_zero)(0.0) == math.inf


def assigned_in_one_branch(x):
    if x > 0:
        y = x * 3.0
    return y * 2.0


def assigned_in_a_loop(x, n):
    for i in range(n):
        last = x * i
    return last


@pytest.mark.parametrize(
    ("f", "args", "fine"),
    [
        (assigned_in_one_branch, (-1.0,), (2.0,)),
        (assigned_in_a_loop, (2.0, 0), (2.0, 3)),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_a_variable_read_before_assignment_raises_as_in_python(f, args, fine, jit):
    with pytest.raises(UnboundLocalError):
        f(*args)
    g = srcdiff.grad(f, jit=jit)
    with pytest.raises(UnboundLocalError, match="test_regressions.py:"):
        g(*args)
    assert g(*fine) == pytest.approx(fd_grad(f, fine, 0))


def rosenbrock_term(x, i):
    return 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2


def rosenbrock_by_terms(x, n):
    s = 0.0
    for i in range(n - 1):
        s += rosenbrock_term(x, i)
    return s


def pair_term(a, b, i):
    return a[i] * b[i + 1]


def same_array_twice(x, n):
    s = 0.0
    for i in range(n - 1):
        s += pair_term(x, x, i)
    return s


@pytest.mark.parametrize("f", [rosenbrock_by_terms, same_array_twice], ids=lambda f: f.__name__)
def test_helper_adjoints_add_into_the_callers_array_adjoint(f, jit):
    # A helper's adjoint adds into the caller's adjoint of an array argument (handed
    # over) instead of returning a new array per call: linear, not quadratic, in a loop.
    x = np.linspace(-1.0, 1.5, 7)
    g = srcdiff.grad(f, jit=jit)
    step = np.eye(7) * 1e-6
    expected = [(f(x + e, 7) - f(x - e, 7)) / 2e-6 for e in step]
    assert np.allclose(g(x, 7), expected, rtol=1e-6, atol=1e-6)
    helper = "rosenbrock_term" if f is rosenbrock_by_terms else "pair_term"
    signature = next(line for line in g.source.splitlines() if f"def {helper}_adjoint" in line)
    handed_over = "g_x" in signature if f is rosenbrock_by_terms else "g_a" not in signature
    assert handed_over, signature


@pytest.mark.parametrize("setting", ["1", "0"])
def test_keeping_freed_memory_can_be_turned_off(setting):
    code = "from srcdiff import runtime; print(runtime.keep_freed_memory())"
    env = {**os.environ, "SRCDIFF_KEEP_FREED_MEMORY": setting}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    expected = "True" if setting == "1" and sys.platform == "linux" else "False"
    assert out.stdout.strip() == expected, out.stderr


def scatter_write(x, rows, cols):
    q = np.zeros((3, 3))
    q[rows, cols] = x
    return np.sum(q * q)


def test_a_write_through_repeated_index_pairs_is_refused():
    g = srcdiff.grad(scatter_write)
    x = np.array([1.0, 2.0, 3.0])
    assert np.allclose(g(x, np.array([1, 2, 2]), np.array([0, 0, 1])), 2.0 * x)
    with pytest.raises(ValueError, match="test_regressions.py:.*repeat a position"):
        g(x, np.array([1, 2, 2]), np.array([0, 1, 1]))
