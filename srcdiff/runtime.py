"""Small routines that generated code calls: tape growth, the derivatives of functions
at their kinks, and putting array adjoints back into shape. Generated modules import
them by name. The Numba-compiled ones also run as plain Python (``PYTHON_VERSIONS``);
the plain ones serve code that runs on NumPy."""

from __future__ import annotations

import ctypes
import math
import os
import sys
import types

import numpy as np

from .numba_cache import njit  # numba.njit; without a place for its cache, compiles uncached


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
def item_row(x):
    """``x`` (a number or an array) as an array of one row: an item of a list made into an
    array."""
    return np.expand_dims(np.asarray(x), 0)


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
    """Share of the gradient of max(x, y) that goes to x: 1, 0, or 1/2 at a tie (what
    centred finite differences give)."""
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


@njit(cache=True)
def where(condition, x, y):
    """np.where for scalars."""
    return x if condition else y


@njit(cache=True)
def max_weight_array(x, y):
    """max_weight element by element."""
    return np.where(x > y, 1.0, np.where(x == y, 0.5, 0.0))


@njit(cache=True)
def div0_array(x, y):
    """div0 element by element."""
    safe = np.where(y == 0, 1.0, y)
    return np.where(y == 0, 0.0, x / safe)


@njit(cache=True)
def extremum_weight(x, extremum):
    """Share of the gradient of max(x) (or min) per element: 1/k to each of k tied elements,
    as in JAX and PyTorch (centred finite differences would give each 1/2, k/2 in all)."""
    hits = (x == extremum) * 1.0
    return hits / np.sum(hits)


@njit(cache=True)
def prod_others(x):
    """d prod(x) / d x[i]: the product of all the other elements (exact with zeros)."""
    flat = x.ravel()
    n = flat.shape[0]
    out = np.empty(n, np.float64)
    left = 1.0
    for i in range(n):
        out[i] = left
        left *= flat[i]
    right = 1.0
    for i in range(n - 1, -1, -1):
        out[i] *= right
        right *= flat[i]
    return out.reshape(x.shape)


@njit(cache=True)
def prod_others_vjp(g, x):
    """The adjoint of ``prod_others(x)`` given its own, ``g``: at j, the sum over i != j
    of g[i] times the product of the elements other than i and j (exact with zeros)."""
    flat = np.ascontiguousarray(x).ravel()
    weights = (g * np.ones_like(x)).ravel()
    n = flat.shape[0]
    out = np.zeros(n)
    rest = np.empty(max(n - 1, 0))
    for j in range(n):
        rest[:j] = flat[:j]
        rest[j:] = flat[j + 1 :]
        others = prod_others(rest)
        for i in range(n - 1):
            out[j] += weights[i if i < j else i + 1] * others[i]
    return out.reshape(x.shape)


# --- Numba forms of reductions along an axis (2-D), and of their adjoints ------------------


@njit(cache=True)
def max_along(x, axis):
    """np.max(x, axis=axis) of a 2-D array."""
    if axis == 0:
        out = x[0].copy()
        for i in range(1, x.shape[0]):
            out = np.maximum(out, x[i])
        return out
    out = np.empty(x.shape[0], x.dtype)
    for i in range(x.shape[0]):
        out[i] = np.max(x[i])
    return out


@njit(cache=True)
def min_along(x, axis):
    """np.min(x, axis=axis) of a 2-D array."""
    return -max_along(-x, axis)


@njit(cache=True)
def prod_along(x, axis):
    """np.prod(x, axis=axis) of a 2-D array."""
    if axis == 0:
        out = np.ones(x.shape[1], x.dtype)
        for i in range(x.shape[0]):
            out = out * x[i]
        return out
    out = np.empty(x.shape[0], x.dtype)
    for i in range(x.shape[0]):
        out[i] = np.prod(x[i])
    return out


@njit(cache=True)
def prod_others_along2(x, axis):
    """prod_others along one axis of a 2-D array."""
    out = np.empty(x.shape, np.float64)
    if axis == 0:
        for j in range(x.shape[1]):
            out[:, j] = prod_others(np.ascontiguousarray(x[:, j]))
    else:
        for i in range(x.shape[0]):
            out[i] = prod_others(np.ascontiguousarray(x[i]))
    return out


@njit(cache=True)
def sum_if_stretched(g, x, axis):
    """Sum ``g`` along ``axis`` (keeping it) where broadcasting stretched ``x`` there."""
    if x.shape[axis] == 1 and g.shape[axis] != 1:
        return np.expand_dims(np.sum(g, axis=axis), axis)
    return g


@njit(cache=True)
def sum_if_stretched1(g, x):
    """sum_if_stretched for 1-D arrays (Numba types np.sum of a 1-D array as a number)."""
    if x.shape[0] == 1 and g.shape[0] != 1:
        out = np.empty(1, g.dtype)
        out[0] = np.sum(g)
        return out
    return g


@njit(cache=True)
def extremum_share(x, extremum, axis):
    """extremum_weight along ``axis``, ``extremum`` with that axis kept."""
    hits = (x == extremum) * 1.0
    return hits / np.expand_dims(np.sum(hits, axis=axis), axis)


def extremum_weight_along(x, extremum, axis, keepdims):
    """extremum_weight along ``axis`` (NumPy: any rank, any dtype)."""
    kept = extremum if keepdims else np.expand_dims(extremum, axis)
    return extremum_share.py_func(x, kept, axis).astype(x.dtype, copy=False)


def extremum_adjoint(g, x, extremum, axis, keepdims):
    """The adjoint of ``np.max(x, axis)`` (or min) given its own, ``g``: each slice's share
    at its extremum, split evenly between ties; zero elsewhere. Plain NumPy (a Numba
    kernel is faster per call, but would cost loop-free NumPy code Numba's start-up)."""
    if not keepdims:
        extremum = np.expand_dims(extremum, axis)
        g = np.expand_dims(g, axis) if np.ndim(g) else g
    hits = x == extremum
    return np.multiply(hits, g / np.sum(hits, axis=axis, keepdims=True), dtype=x.dtype)


def prod_others_along(x, axis):
    """d prod(x, axis) / d x: along ``axis``, the product of the other elements."""
    x = np.moveaxis(x, axis, -1)
    ones = np.ones_like(x[..., :1])
    left = np.cumprod(np.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, x[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis(left * right, -1, axis)


def prod_others_along_vjp(g, x, axis):
    """``prod_others_vjp`` along one axis of ``x``."""
    moved = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    weights = np.moveaxis(np.broadcast_to(g, np.shape(x)), axis, -1)
    out = np.empty(moved.shape)
    for index in np.ndindex(moved.shape[:-1]):
        out[index] = prod_others_vjp(weights[index], moved[index])
    return np.moveaxis(out, -1, axis)


def expand_like(g, x, axis, keepdims):
    """The adjoint of a reduction along ``axis``, spread back over ``x``'s shape."""
    if not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, np.shape(x))


def unbroadcast(g, x):
    """Sum ``g`` down to the shape of ``x``, undoing NumPy's broadcasting of ``x``."""
    shape = np.shape(x)
    if np.shape(g) == shape:
        return g
    if np.ndim(g) < len(shape):
        return np.broadcast_to(g, shape)
    extra = np.ndim(g) - len(shape)
    g = np.sum(g, axis=tuple(range(extra))) if extra else g
    stretched = tuple(k for k, n in enumerate(shape) if n == 1 and g.shape[k] != 1)
    if stretched:
        g = np.sum(g, axis=stretched, keepdims=True)
    return g


def as_grad(g, x):
    """The gradient of array ``x`` as the caller gets it: its own writable array of
    ``x``'s shape and dtype."""
    if (
        type(g) is np.ndarray
        and g.shape == x.shape
        and g.dtype == x.dtype
        and g.flags.writeable
        and g.flags.owndata
    ):
        return g
    return np.array(np.broadcast_to(g, x.shape), dtype=x.dtype)


def head_along(g, n, axis):
    """The first ``n`` entries of ``g`` along ``axis`` (the adjoint of concatenate)."""
    return np.split(g, [n], axis=axis)[0]


def tail_along(g, n, axis):
    return np.split(g, [n], axis=axis)[1]


def distinct_positions(*indices):
    """Whether integer index arrays (broadcast together) name every position once."""
    positions = np.stack([np.ravel(i) for i in np.broadcast_arrays(*indices)])
    return np.unique(positions, axis=1).shape[1] == positions.shape[1]


def einsum_grad(subscripts, g, x, y, position):
    """The adjoint of operand ``position`` of ``np.einsum(subscripts, x[, y])``, also for
    an index only that operand has (summed over: g spreads along it)."""
    inputs, output = subscripts.replace(" ", "").split("->")
    operands = inputs.split(",")
    values = [x, y][: len(operands)]
    wanted = operands[position]
    others = [p for k, p in enumerate(operands) if k != position]
    other_values = [v for k, v in enumerate(values) if k != position]
    present = "".join(c for c in wanted if c in output + "".join(others))
    partial = np.einsum(f"{','.join([output, *others])}->{present}", g, *other_values)
    shape = [values[position].shape[k] if c in present else 1 for k, c in enumerate(wanted)]
    return np.broadcast_to(np.reshape(partial, shape), values[position].shape)


def _quiet_math() -> types.SimpleNamespace:
    """``math`` for generated code run as Python: its functions of floats return what
    NumPy's return (nan, inf) where ``math``'s raise, as compiled code's do, and ``math``'s
    own results everywhere else. (NumPy's ``np.log`` of a number also prints as ``math.log``;
    where the user's own ``math.log`` raises, a check of the generated code raises first.)
    Conversions to ints keep raising, as in Python."""
    renamed = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2",
               "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh"}  # fmt: skip
    quiet = {}
    for name in dir(math):
        function, ufunc = getattr(math, name), getattr(np, renamed.get(name, name), None)
        is_float_function = isinstance(ufunc, np.ufunc) and name not in ("floor", "ceil", "trunc")
        quiet[name] = _quietly(function, ufunc) if is_float_function else function
    return types.SimpleNamespace(**quiet)


def _quietly(function, ufunc):
    def call(*args):
        try:
            return function(*args)
        except (ValueError, OverflowError):
            with np.errstate(all="ignore"):
                return ufunc(*args)

    return call


QUIET_MATH = _quiet_math()


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse instead of returning it to the system.

    Gradients that run on NumPy allocate and free the same large temporaries at every call;
    by default glibc hands big blocks back (munmap, heap trimming) and the next call pays
    a page fault per 4 KiB page to get them again, which doubled the time of an MLP's
    gradient here. Process-wide and glibc-only; ``SRCDIFF_KEEP_FREED_MEMORY=0`` skips it.
    Returns whether the setting was applied."""
    global _memory_kept
    if _memory_kept is not None:
        return _memory_kept
    _memory_kept = False
    if os.environ.get("SRCDIFF_KEEP_FREED_MEMORY", "1") == "0" or sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mmap_threshold, trim_threshold = -3, -1  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
        _memory_kept = bool(
            libc.mallopt(mmap_threshold, 32 * 2**20) and libc.mallopt(trim_threshold, 256 * 2**20)
        )
    except (OSError, AttributeError):
        pass
    return _memory_kept


_memory_kept: bool | None = None


PYTHON_VERSIONS = {
    name: getattr(fn, "py_func", fn)
    for name, fn in globals().copy().items()
    if callable(fn)
    and getattr(fn, "__module__", None) == __name__
    and name not in ("keep_freed_memory", "_quiet_math")
}
