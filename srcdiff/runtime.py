"""Small Numba-compiled routines that generated code calls: tape growth and the
derivatives of functions at their kinks. Generated modules import them by name."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def reserve(tape, top, extra):
    """``tape``, or a copy of it with room for ``extra`` more values after ``top``."""
    needed = top + extra
    if needed <= tape.shape[0]:
        return tape
    grown = np.empty(max(needed, 2 * tape.shape[0]), tape.dtype)
    grown[:top] = tape[:top]
    return grown


@njit(cache=True)
def sign(x):
    """Derivative of abs: sign(0) is 0, the value centred differences give there."""
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return 0.0


@njit(cache=True)
def max_weight(x, y):
    """Share of the gradient of max(x, y) that goes to x: ties split it evenly."""
    if x > y:
        return 1.0
    if x == y:
        return 0.5
    return 0.0


@njit(cache=True)
def div0(x, y):
    """x / y, with 0 where y is 0 (the gradient of hypot at the origin)."""
    if y == 0:
        return 0.0
    return x / y


PYTHON_VERSIONS = {
    name: fn.py_func for name, fn in globals().copy().items() if hasattr(fn, "py_func")
}
