"""A loop over a container is unrolled, each assignment in it under a name of its own
(``h_0``, ``h_1``); after the loop the variable itself must hold the last value, for a
branch, a loop or a nested function that reads it, and a loop target the body assigns
must be a variable. Each case against centred differences on both backends, for both
ways the later block goes."""

from __future__ import annotations

import pytest

import srcdiff

BACKENDS = ["numba", "numpy"]
LAYERS = [2.0, 3.0]


def branch_after(ws, x, c):
    h = x
    for w in ws:
        h = h * w
    if c > 0.0:
        h = h + 1.0
    return h * h


def range_loop_after(ws, x, c):
    h = x
    for w in ws:
        h = h * w
    for _ in range(2):
        h = h + c
    return h * h


def while_after(ws, x, c):
    h = x
    for w in ws:
        h = h * w
    while h < c:
        h = h * 2.0
    return h * h


def closure_reads_it(ws, x, c):
    h = x

    def scaled(y):
        return h * y + c

    for w in ws:
        h = h * w
    return scaled(2.0)


def target_assigned_in_a_branch(ws, x, c):
    t = 0.0
    for w in ws:
        if c > 0.0:
            w = w * 2.0
        t = t + w * x
    return t * t


PROGRAMS = [branch_after, range_loop_after, while_after, closure_reads_it,
            target_assigned_in_a_branch]  # fmt: skip


def centred(f, x, eps=1e-6):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("c", [-1.0, 30.0])
@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_the_variable_holds_the_last_iteration_after_the_loop(f, c, backend):
    value, gradient = srcdiff.value_and_grad(f, wrt=1, backend=backend)(LAYERS, 1.5, c)
    assert value == pytest.approx(f(LAYERS, 1.5, c), rel=1e-12)
    assert gradient == pytest.approx(centred(lambda x: f(LAYERS, x, c), 1.5), rel=1e-6)
