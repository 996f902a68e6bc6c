"""Branches, loops, early exits and pass-through arguments, against finite differences.

Test points sit on both sides of every data-dependent condition and away from the
boundaries, so finite differences never straddle a branch switch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_grad_close

import srcdiff

# --- branches -----------------------------------------------------------------------------------


def if_elif_else(x, y):
    if x > 1.0:
        z = x * y
    elif x > -1.0:
        z = math.sin(x) + y * y
    else:
        z = x**3 - y
    return z * 2.0


def if_without_else(x, y):
    z = x * y
    if z < 0.0:
        z = -z * y
    return z + x


def nested_if(x, y):
    if x > 0.0:
        if y > 0.0:
            r = x * y
        else:
            r = x - y * y
    else:
        r = math.exp(x) * y
    return r


def ternary(x, y):
    return x * x if x > y else y * math.exp(x)


def ternary_assigned(x, y):
    s = x * y
    t = s if s > 0.5 else -s * x
    return t * y


def boolean_operators(x, y):
    if 0.0 < x < 1.0 and not y > 2.0:
        r = x * y
    elif x > 2.0 or y < -1.0:
        r = x + y * y
    else:
        r = x * x * y
    return r


def chained_comparison(x, y):
    r = x * y if -1.0 < x <= y < 3.0 else x - y * y
    return r


def integer_flag(x, flag):
    if flag:
        return x * x
    return -x * 3.0


def early_return(x, y):
    if x < 0.0:
        return -x * y
    z = x * y * y
    return z + x


# --- for loops ----------------------------------------------------------------------------------


def range_one_arg(x, n):
    s = 0.0
    for i in range(n):
        s = s * x + i
    return s


def range_two_args(x, n):
    p = 1.0
    for i in range(2, n):
        p = p * (x + i)
    return p


def range_three_args(x, n):
    s = x
    for i in range(1, n, 2):
        s = s + math.sin(x * i) * s
    return s


def range_negative_step(x, n):
    s = 1.0
    for i in range(n, 0, -1):
        s = s * x / i + 1.0
    return s


def range_negative_step_to_minus_one(x, y, n):
    acc = y
    for k in range(n - 1, -1, -2):
        acc = math.sin(acc * x + k)
    return acc


def range_constant_bound(x):
    s = x
    for i in range(4):
        s = s * s * 0.5 + x * i
    return s


def loop_several_states(x, y, n):
    a = x
    b = y
    for _ in range(n):
        a, b = b, a + 0.5 * b * x
    return a * b


def loop_overwrites(x, n):
    y = x
    for _ in range(n):
        y = math.sin(y) * x
        y = y * y + 0.1
    return y


def nested_loops(x, y, n):
    s = 0.0
    for i in range(n):
        for j in range(i):
            s = s + math.sin(x * i + j) * y
        s = s * 0.9
    return s


def nested_loops_overwrite(x, n):
    y = x
    for _ in range(n):
        for j in range(2):
            y = math.sin(y) * x + j
    return y


def loop_with_branch(x, n):
    s = x
    for _ in range(n):
        if s > 1.0:
            s = s * 0.5
        else:
            s = s * x + 0.3
    return s


def loop_with_ternary(x, n):
    s = x
    for i in range(n):
        s = s * x if s < 2.0 else s - i * 0.25
    return s


# --- while loops --------------------------------------------------------------------------------


def while_newton_sqrt(a):
    x = a
    while abs(x * x - a) > 1e-12 * a:
        x = 0.5 * (x + a / x)
    return x


def while_halving(x):
    y = x
    while y > 1.0:
        y = y * 0.5 + 0.1 * math.sin(y)
    return y * y


def while_counter(x, n):
    i = 0
    s = x
    while i < n:
        s = s * x + math.cos(s)
        i += 1
    return s


def while_compound_condition(x, y):
    k = 0
    s = x
    while s < y and k < 20:
        s = s * 1.5 + 0.1
        k += 1
    return s * y


def while_true_break(a):
    x = a
    while True:
        x_new = 0.5 * (x + a / x)
        if abs(x_new - x) < 1e-10:
            break
        x = x_new
    return x_new


def while_continue_break(x):
    s = x
    k = 0
    while k < 10:
        k += 1
        if k == 3 or k == 6:
            continue
        s = s * 0.8 + math.sin(s)
        if s > 3.0:
            break
    return s


# --- break, continue, return inside loops -------------------------------------------------------


def loop_break(x, n):
    s = 1.0
    for _ in range(n):
        s = s * x + 1.0
        if s > 10.0:
            break
    return s * x


def loop_continue(x, n):
    s = 0.0
    for i in range(n):
        if i == 1 or math.sin(x * i) < 0.0:
            continue
        s = s + x**i
    return s


def loop_return(x, y, n):
    s = x
    for _ in range(n):
        s = s * y + x
        if s > 5.0:
            return s * x
    return s - y


def nested_loop_break(x, n):
    s = 0.0
    for i in range(n):
        for j in range(n):
            if j > i:
                break
            s = s + x**j * 0.5
        s = math.sin(s)
    return s


def nested_loop_return(x, y, n):
    s = y
    for _ in range(n):
        for _ in range(3):
            s = s * x + y
            if s > 50.0:
                return s
    return -s


# --- harder shapes ------------------------------------------------------------------------------

N_STEPS = 4


def nested_ternary(x, y):
    return x * y if x > 1.0 else (y * y if y > 0.0 else x - y)


def range_int_initial_state(x, n):
    s = 0
    for i in range(n):
        s = s * x + i
    return s


def range_variable_step(x, n, k):
    s = x
    for i in range(0, n, k):
        s = math.sin(s * x) + 0.1 * i
    return s


def loop_index_after_loop(x, n):
    s = x
    i = 0
    for i in range(1, n):
        s = s * x + 0.5 * i
    return s + x * i


def loop_updates_parameter(x, y, n):
    for _ in range(n):
        x = x * 0.5 + math.sin(y)
        y = y * x
    return x + y


def loop_if_loop(x, n):
    s = x
    for i in range(n):
        if s > 0.5:
            for j in range(i):
                s = s * 0.9 + 0.01 * j * x
        else:
            s = s + x * x
    return s


def for_with_inner_while(x, n):
    s = x
    for _ in range(n):
        while s > 1.0:
            s = s * 0.6
        s = s * 1.7 + x
    return s


def for_with_inner_while_tape(x, n):
    # Pushes in the for body and in the inner while: the tape must grow for both.
    s = x
    t = x
    for _ in range(n):
        s = math.sin(math.sqrt(1.0 + s * s)) + x
        t = math.cos(math.sin(t * s))
        k = 0
        while k < 3 and t > 0.3:
            t = math.tanh(t / (1.0 + s * s) + 0.5)
            k += 1
    return s + t


def while_return(x):
    s = x
    k = 0
    while k < 10:
        s = s * 1.3 + 0.2
        k += 1
        if s > 10.0:
            return s * x
    return -s


def long_loop(x, n):
    s = x
    for _ in range(n):
        s = math.sin(s) * 0.999 + x * 0.001
    return s


def long_while(x):
    # About 1400 trips; the trip count depends on s / x only, so it is the same near any x.
    s = x
    t = 0.0
    while s > 1e-3 * x:
        s = s * 0.995
        t = t * 0.999 + math.sin(s * t + x) * 0.01
    return s + t


def loop_defines_variable(x, n):
    for i in range(n):
        t = math.sin(x * i) + x
    return t * x


def loop_conditionally_reassigns(x, n):
    best = x
    for i in range(n):
        candidate = math.cos(x * i)
        if candidate > best:
            best = candidate * x
    return best


def int_global_bound(x):
    s = x
    for i in range(N_STEPS):
        s = s * x + i
    return s


# --- arguments that are not differentiated ------------------------------------------------------


def rnn_over_len(w, u, b, x):
    h = 0.0
    for t in range(len(x)):
        h = math.tanh(w * h + u * x[t] + b)
    return h


def rnn_loss(w, u, b, x, n):
    h = 0.0
    loss = 0.0
    for t in range(n - 1):
        h = np.tanh(w * h + u * x[t] + b)
        loss += (h - x[t + 1]) ** 2
    return loss


def scaled_by_count(x, n):
    return x * x * n + x / n


SEQUENCE = np.array([0.5, -1.2, 0.3, 2.0, -0.7, 1.1])

# Each case: function, wrt, points. Comments say which side of each condition a point takes.
CASES = [
    (if_elif_else, (0, 1), [(2.0, 0.5), (0.3, -0.7), (-2.0, 1.1)]),
    (if_without_else, (0, 1), [(1.0, 2.0), (1.0, -2.0)]),
    (nested_if, (0, 1), [(1.0, 1.0), (1.0, -1.0), (-1.0, 0.5)]),
    (ternary, (0, 1), [(2.0, 1.0), (1.0, 2.0)]),
    (ternary_assigned, (0, 1), [(1.0, 1.5), (1.0, -0.5), (0.2, 0.3)]),
    # first branch; x > 2; y < -1; else; first fails on "not y > 2"
    (boolean_operators, (0, 1), [(0.5, 1.0), (3.0, 1.0), (1.5, -2.0), (1.5, 1.0), (0.5, 3.0)]),
    (chained_comparison, (0, 1), [(0.5, 1.5), (1.5, 0.5), (-2.0, 1.0), (0.5, 4.0)]),
    (integer_flag, 0, [(1.5, 1), (1.5, 0)]),
    (early_return, (0, 1), [(-1.0, 2.0), (1.5, -0.5)]),
    (range_one_arg, 0, [(0.7, 5), (1.3, 0), (-0.6, 1)]),
    (range_two_args, 0, [(0.5, 6), (0.5, 2), (-0.3, 3)]),
    (range_three_args, 0, [(0.4, 8), (0.4, 2), (0.9, 1)]),
    (range_negative_step, 0, [(0.9, 6), (1.4, 1), (1.4, 0)]),
    (range_negative_step_to_minus_one, (0, 1), [(0.3, 0.8, 7), (0.3, 0.8, 6), (0.3, 0.8, 0)]),
    (range_constant_bound, 0, [(0.6,), (-0.4,)]),
    (loop_several_states, (0, 1), [(0.7, 0.4, 5), (0.7, 0.4, 0)]),
    (loop_overwrites, 0, [(1.1, 3), (-0.7, 5)]),
    (nested_loops, (0, 1), [(0.3, 1.2, 4), (0.3, 1.2, 1)]),
    (nested_loops_overwrite, 0, [(1.1, 3), (0.6, 2)]),
    (loop_with_branch, 0, [(0.9, 6), (1.6, 5), (0.5, 3)]),
    (loop_with_ternary, 0, [(1.3, 6), (0.8, 4)]),
    (while_newton_sqrt, 0, [(2.0,), (7.5,), (0.3,)]),
    (while_halving, 0, [(7.3,), (0.5,), (100.0,)]),
    (while_counter, 0, [(0.7, 4), (0.7, 0)]),
    # k reaches s >= y; zero trips; stops at k == 20
    (while_compound_condition, (0, 1), [(0.3, 5.0), (2.0, 1.0), (0.01, 1e6)]),
    (while_true_break, 0, [(2.0,), (7.5,)]),
    (while_continue_break, 0, [(0.2,), (2.5,)]),
    # breaks; never breaks
    (loop_break, 0, [(2.0, 10), (0.5, 10)]),
    (loop_continue, 0, [(0.7, 6), (2.3, 6)]),
    # returns inside the loop; returns after it
    (loop_return, (0, 1), [(1.0, 1.5, 10), (0.2, 0.5, 4)]),
    (nested_loop_break, 0, [(0.8, 4), (1.3, 3)]),
    (nested_loop_return, (0, 1), [(2.0, 1.0, 5), (0.5, 0.3, 3)]),
    (rnn_over_len, (0, 1, 2), [(0.5, -0.8, 0.1, SEQUENCE)]),
    (rnn_over_len, ("w", "u", "b"), [(-1.2, 0.4, 0.3, SEQUENCE[:2])]),
    (rnn_loss, ("w", "u", "b"), [(0.5, -0.8, 0.1, SEQUENCE, 6), (0.5, -0.8, 0.1, SEQUENCE, 3)]),
    (scaled_by_count, 0, [(1.3, 3), (-0.4, 7)]),
    (nested_ternary, (0, 1), [(1.5, 0.5), (0.5, 0.7), (0.5, -0.7)]),
    (range_int_initial_state, 0, [(0.7, 5), (0.7, 0)]),
    # positive and negative steps that are only known at run time
    (range_variable_step, 0, [(0.8, 7, 2), (0.8, 7, 3), (0.8, -5, -2), (0.8, 3, -1)]),
    (loop_index_after_loop, 0, [(0.7, 5), (0.7, 1)]),
    (loop_updates_parameter, (0, 1), [(0.7, 0.4, 4), (0.7, 0.4, 0)]),
    (loop_if_loop, 0, [(0.7, 5), (0.2, 4)]),
    (for_with_inner_while, 0, [(0.35, 5), (0.9, 3)]),
    (for_with_inner_while_tape, 0, [(0.4, 2), (0.4, 5), (0.4, 10), (-0.3, 7)]),
    # returns inside the while loop; never gets above the threshold
    (while_return, 0, [(1.1,), (-3.0,)]),
    (long_loop, 0, [(0.7, 5000)]),
    (long_while, 0, [(0.9,), (2.3,)]),
    (int_global_bound, 0, [(0.7,)]),
    (loop_defines_variable, 0, [(0.7, 3), (0.7, 1)]),
    (loop_conditionally_reassigns, 0, [(0.4, 4), (0.9, 5), (0.7, 0)]),
]


@pytest.mark.parametrize(
    ("f", "wrt", "points"),
    CASES,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)],
)
def test_control_flow_matches_finite_differences(f, wrt, points, jit):
    g = srcdiff.grad(f, wrt=wrt, jit=jit)
    for args in points:
        assert_grad_close(g, f, args, wrt)


def test_rnn_array_is_not_modified(jit):
    x = SEQUENCE.copy()
    g = srcdiff.grad(rnn_loss, wrt=("w", "u", "b"), jit=jit)
    g(0.5, -0.8, 0.1, x, 6)
    np.testing.assert_array_equal(x, SEQUENCE)
