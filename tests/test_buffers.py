"""The NumPy backend's buffers stage (``srcdiff/buffers.py``): array layouts known from the
compiling call, ``unbroadcast`` resolved into explicit sums, and elementwise results written
into the memory of dead operands (``out=``, ``*=``).

Every gradient is checked against centred finite differences of the original function,
evaluated in float64 whatever the arguments' dtype; every check also asserts that the
caller's arrays are left exactly as they were and that gradients have the arguments' shapes
and dtypes. The end of the file tests the stage's pieces on hand-made IR.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import srcdiff
from srcdiff import ir
from srcdiff.buffers import (
    Layout,
    Layouts,
    _fits,
    _Scalar,
    _sums_for,
    argument_layout,
    resolve_broadcasts,
    reuse_buffers,
)
from srcdiff.errors import SourceLocation
from srcdiff.ir import Assign, Const, Name, Op
from srcdiff.kind import FLOAT, INT, Kind

RNG = np.random.default_rng(20261122)
STEP = 1e-6
F64 = (1e-6, 1e-7)  # (rtol, atol) against finite differences for float64 arguments
F32 = (3e-3, 3e-3)  # and for float32 ones


# --- finite differences and the checks --------------------------------------------------------


def as_float64(value):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float64)
    if isinstance(value, np.floating):
        return float(value)
    return value


def finite_differences(f, args, position):
    """Centred differences of ``f`` (arguments in float64) for each coordinate of one argument."""
    args = [as_float64(a) for a in args]
    x0 = args[position]

    def at(value):
        moved = list(args)
        moved[position] = value
        return float(f(*moved))

    if not isinstance(x0, np.ndarray):
        h = STEP * max(1.0, abs(x0))
        return (at(x0 + h) - at(x0 - h)) / (2 * h)
    out = np.zeros(x0.shape)
    for index in np.ndindex(x0.shape):
        h = STEP * max(1.0, abs(x0[index]))
        plus, minus = x0.copy(), x0.copy()
        plus[index] += h
        minus[index] -= h
        out[index] = (at(plus) - at(minus)) / (2 * h)
    return out


def source_of(g) -> str:
    """Every module generated for ``g`` so far (``.source`` shows only the latest call's)."""
    variants = getattr(getattr(g, "__srcdiff__", None), "_variants", {})
    return "\n".join(v.source for v in variants.values()) or g.source


def positions_of(f, wrt):
    names = f.__code__.co_varnames[: f.__code__.co_argcount]
    return [names.index(w) if isinstance(w, str) else w for w in wrt]


def check(f, args, wrt=(0,), *, g=None, value=False, tol=None):
    """Differentiate ``f`` on the NumPy backend (or use ``g``), call it once at ``args`` and
    check the gradients against finite differences, their shapes and dtypes, and that the
    arguments are unchanged. Returns the differentiated function."""
    if g is None:
        make = srcdiff.value_and_grad if value else srcdiff.grad
        g = make(f, wrt=tuple(wrt), backend="numpy")
    positions = positions_of(f, wrt)
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        got = g(*args)
    except Exception as exc:  # show the generated code with the crash
        raise AssertionError(f"gradient raised {exc!r}\n{source_of(g)}") from exc
    source = g.source
    for k, (arg, old) in enumerate(zip(args, before, strict=True)):
        if isinstance(old, np.ndarray):
            assert arg.dtype == old.dtype and arg.shape == old.shape
            np.testing.assert_array_equal(arg, old, err_msg=f"argument {k} modified\n{source}")
    if value:
        result, got = got
        assert isinstance(result, float), f"value is a {type(result).__name__}\n{source}"
        expected = float(f(*[a.copy() if isinstance(a, np.ndarray) else a for a in before]))
        narrow = any(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in before)
        np.testing.assert_allclose(result, expected, rtol=1e-5 if narrow else 1e-10, err_msg=source)
    assert isinstance(got, tuple) and len(got) == len(positions), source
    for position, grad in zip(positions, got, strict=True):
        arg = before[position]
        narrow = isinstance(arg, np.ndarray) and arg.dtype == np.float32
        rtol, atol = tol or (F32 if narrow else F64)
        if isinstance(arg, np.ndarray):
            assert isinstance(grad, np.ndarray), f"gradient {position}: {grad!r}\n{source}"
            assert grad.shape == arg.shape, f"gradient {position}: shape {grad.shape}\n{source}"
            assert grad.dtype == arg.dtype, f"gradient {position}: dtype {grad.dtype}\n{source}"
        else:
            assert np.ndim(grad) == 0, f"gradient {position} of a scalar: {grad!r}\n{source}"
        expected = finite_differences(f, before, position)
        np.testing.assert_allclose(
            np.asarray(grad, dtype=np.float64),
            expected,
            rtol=rtol,
            atol=atol,
            err_msg=f"{f.__name__}: d/d(argument {position})\n{source}",
        )
    return g


# ``np.tanh(t1, out=t1)``, or ``g_t3 *= g_h`` (an array times an array: a scalar adjoint's
# accumulation, ``g_s += np.sum(...)``, has a call on the right)
REUSE = re.compile(r"out=|^\s+\w+ [-+*/]= \w+$", re.MULTILINE)


def reuses_memory(source: str) -> bool:
    """Whether generated code writes an elementwise result into an existing array."""
    return REUSE.search(source) is not None


def normal(*shape, scale=1.0, dtype=np.float64):
    return (scale * RNG.normal(size=shape)).astype(dtype)


# --- 1. an MLP-like loss ----------------------------------------------------------------------


def mlp_loss(W1, b1, W2, b2, X, Y):
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    m = np.max(z, axis=1, keepdims=True)
    e = np.exp(z - m)
    p = e / np.sum(e, axis=1, keepdims=True)
    return -np.sum(Y * np.log(p)) / X.shape[0]


def mlp_args(batch, dtype=np.float64):
    n_in, n_hidden, n_out = 4, 5, 3
    labels = RNG.integers(0, n_out, size=batch)
    return (
        normal(n_in, n_hidden, scale=0.7, dtype=dtype),
        normal(n_hidden, scale=0.3, dtype=dtype),
        normal(n_hidden, n_out, scale=0.7, dtype=dtype),
        normal(n_out, scale=0.3, dtype=dtype),
        normal(batch, n_in, dtype=dtype),
        np.eye(n_out, dtype=dtype)[labels],
    )


def test_mlp_reuses_memory_and_resolves_broadcasts():
    args = mlp_args(12)
    g = check(mlp_loss, args, wrt=(0, 1, 2, 3), value=True)
    source = g.source
    assert reuses_memory(source), source
    # every layout is known: the bias gradients are explicit sums, nothing left to unbroadcast
    assert "unbroadcast(" not in source, source
    assert "np.sum(g_" in source and "axis=0, keepdims=False" in source, source
    # a second call at the same arguments gives the same numbers (no state kept between calls)
    first = g(*args)
    second = g(*args)
    np.testing.assert_array_equal(first[0], second[0])
    for a, b in zip(first[1], second[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_mlp_batch_of_one_then_big_batch_again():
    g = srcdiff.value_and_grad(mlp_loss, wrt=(0, 1, 2, 3), backend="numpy")
    variants = g.__srcdiff__._variants
    big = mlp_args(10)
    check(mlp_loss, big, wrt=(0, 1, 2, 3), g=g, value=True)
    assert reuses_memory(g.source), g.source
    laid_out, count = g.source, len(variants)
    one = mlp_args(1)  # X and Y have a dimension of length 1: a variant without their layouts
    check(mlp_loss, one, wrt=(0, 1, 2, 3), g=g, value=True)
    assert len(variants) == count + 1, source_of(g)
    assert g.source != laid_out
    check(mlp_loss, big, wrt=(0, 1, 2, 3), g=g, value=True)
    assert g.source == laid_out  # back on the variant that reuses memory
    check(mlp_loss, mlp_args(7), wrt=(0, 1, 2, 3), g=g, value=True)  # no length 1 either
    check(mlp_loss, mlp_args(1), wrt=(0, 1, 2, 3), g=g, value=True)
    check(mlp_loss, mlp_args(10), wrt=(0, 1, 2, 3), g=g, value=True)
    assert len(variants) == count + 1, source_of(g)
    assert g.source == laid_out


def mlp_two_layers(W1, b1, W2, b2, W3, X, Y, lam):
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.maximum(h1 @ W2 + b2, 0.0)
    z = h2 @ W3
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    p = e / np.sum(e, axis=1, keepdims=True)
    penalty = 0.5 * lam * (np.sum(W1 * W1) + np.sum(W2 * W2))
    return -np.mean(np.sum(Y * np.log(p), axis=1)) + penalty


def test_deeper_mlp_with_penalty():
    W1, b1 = normal(3, 6, scale=0.6), normal(6, scale=0.3)
    W2, b2 = normal(6, 4, scale=0.6), normal(4, scale=0.3) + 0.5
    W3 = normal(4, 3, scale=0.6)
    X = normal(9, 3)
    Y = np.eye(3)[RNG.integers(0, 3, size=9)]
    g = check(mlp_two_layers, (W1, b1, W2, b2, W3, X, Y, 0.1), wrt=(0, 1, 2, 3, 4, 7))
    assert reuses_memory(g.source), g.source


def test_mlp_float32():
    args = mlp_args(8, dtype=np.float32)
    g = check(mlp_loss, args, wrt=(0, 1, 2, 3))
    assert reuses_memory(g.source), g.source


# --- 2. aliasing hazards ----------------------------------------------------------------------


def transposed_view_used_later(a):
    b = a * 2.0
    v = b.T
    c = np.exp(b)
    d = c + 1.0
    return np.sum(d * d) + np.sum(v @ b)


def transposed_view_read_after_last_direct_use(a, w):
    b = np.sin(a) * w
    v = b.T
    c = np.exp(b * 0.5)
    d = np.tanh(c + 1.0)
    return np.sum(d) + np.sum(v * v)


def sliced_view_read_after_last_direct_use(a, w):
    b = np.sin(a) * w
    v = b[1:]
    c = np.exp(b * 0.5)
    d = np.tanh(c + 1.0)
    return np.sum(d) + np.sum(v * v)


def column_view_read_after_last_direct_use(a, w):
    b = np.sin(a) * w
    v = b[:, 1]
    c = np.exp(b * 0.5)
    d = np.tanh(c + 1.0)
    return np.sum(d) + np.sum(v * v * v)


def reshaped_view_read_after_last_direct_use(a, w):
    b = np.sin(a) * w
    v = np.reshape(b, (a.shape[1], a.shape[0]))
    c = np.exp(b * 0.5)
    d = np.tanh(c + 1.0)
    return np.sum(d) + np.sum(v[0] * v[0])


def sliced_view_used_later(a):
    b = np.tanh(a)
    v = b[1:]
    c = b * 3.0
    d = np.exp(c)
    return np.sum(d) + np.sum(v * v)


def column_slice_view(a):
    b = np.tanh(a * 1.5)
    v = b[:, 1:]
    c = np.sin(b)
    d = c * c
    return np.sum(d) + np.sum(v * v * v)


def reshaped_view_used_later(a):
    b = np.sin(a)
    v = b.reshape((4, 3))
    c = b * b
    e = np.exp(c)
    return np.sum(e) + np.sum(v[0] * 2.0) + np.sum(v * v)


def einsum_view_used_later(a):
    b = np.sin(a)
    v = np.einsum("ij->ji", b)
    c = b * 2.0
    d = np.exp(c)
    return np.sum(d) + np.sum(v * v)


def alias_by_name(a):
    b = np.cos(a)
    c = b
    d = b * 2.0
    e = np.exp(d)
    return np.sum(e * c) + np.sum(c)


def rebound_while_aliased(a):
    b = np.exp(a)
    c = b  # keeps b's first value
    b = b + np.sin(a)  # b's old memory is c's: b = b + e may not write into it
    return np.sum(b * c)


def used_twice(a):
    b = np.exp(a)
    c = np.tanh(b)
    d = np.max(c, axis=1, keepdims=True)
    return np.sum(c * b) + np.sum(d * d)  # g_c = g_c + (the max's adjoint), in place


def same_array_twice(a):
    b = a * 1.5
    c = b * b + b
    d = np.sin(c) * c
    return np.sum(d * d)


def same_array_in_nested_expression(a, w):
    b = np.tanh(a * w)
    c = (b + 1.0) * (b - 1.0) + b * w
    return np.sum(np.exp(c) * b)


def intermediate_used_in_a_later_loop(a, w):
    b = np.tanh(a * w)
    c = b * 2.0
    total = 0.0
    for i in range(3):
        total = total + np.sum(c * b) * (i + 1.0)
    d = np.exp(c)
    return total + np.sum(d)


def intermediate_on_the_tape(a, w):
    b = np.sin(a)
    h = b * 1.0
    for _ in range(3):
        h = np.tanh(h * w + b)
    c = b * 3.0
    e = np.exp(c)
    return np.sum(h * e)


def loop_rebinding_with_matmul(x, W, b):
    h = np.tanh(x @ W + b)
    for _ in range(2):
        h = np.tanh(h @ W + b)
    out = h * 2.0
    return np.sum(out * out)


def written_with_setitem(a):
    y = np.zeros((3, 4))
    y[0] = a[1] * 2.0
    y[1:] = np.cos(a[:2])
    u = y * a
    v = np.exp(u)
    return np.sum(v * y)


def written_with_setitem_zeros_like(a, w):
    y = np.zeros_like(a)
    t = np.sin(a)
    for i in range(a.shape[0]):
        y[i] = t[i] * w[i]
    u = y * t
    v = np.exp(u * 0.5)
    return np.sum(v * y) + np.sum(t)


def written_with_setitem_in_loop_after_use(a):
    y = np.zeros_like(a)
    b = np.sin(a) * 2.0
    c = b * b
    for i in range(a.shape[0]):
        y[i] = c[i] + a[i]
    return np.sum(y * b) + np.sum(np.exp(c))


def argument_views(a, b):
    c = a.T
    d = np.exp(c * 0.5)
    e = d + b
    return np.sum(e * e) + np.sum(a * 0.25)


A34 = (3, 4)

ALIASING = [
    (transposed_view_used_later, lambda: (normal(3, 4),), (0,)),
    (transposed_view_read_after_last_direct_use, lambda: (normal(3, 4), normal(3, 4)), (0, 1)),
    (sliced_view_read_after_last_direct_use, lambda: (normal(3, 4), normal(3, 4)), (0, 1)),
    (column_view_read_after_last_direct_use, lambda: (normal(3, 4), normal(3, 4)), (0, 1)),
    (reshaped_view_read_after_last_direct_use, lambda: (normal(3, 4), normal(3, 4)), (0, 1)),
    (sliced_view_used_later, lambda: (normal(3, 4),), (0,)),
    (column_slice_view, lambda: (normal(3, 4),), (0,)),
    (reshaped_view_used_later, lambda: (normal(3, 4),), (0,)),
    (einsum_view_used_later, lambda: (normal(3, 4),), (0,)),
    (alias_by_name, lambda: (normal(3, 4),), (0,)),
    (rebound_while_aliased, lambda: (normal(3, 4),), (0,)),
    (same_array_twice, lambda: (normal(3, 4, scale=0.5),), (0,)),
    (same_array_in_nested_expression, lambda: (normal(3, 4), normal(4)), (0, 1)),
    (intermediate_used_in_a_later_loop, lambda: (normal(3, 4), normal(3, 4)), (0, 1)),
    (intermediate_on_the_tape, lambda: (normal(3, 4), normal(3, 4)), (0, 1)),
    (loop_rebinding_with_matmul, lambda: (normal(3, 4), normal(4, 4) / 2, normal(4)), (0, 1, 2)),
    (written_with_setitem, lambda: (normal(3, 4),), (0,)),
    (written_with_setitem_zeros_like, lambda: (normal(3, 4), normal(3, 4)), (0, 1)),
    (written_with_setitem_in_loop_after_use, lambda: (normal(3, 4),), (0,)),
    (argument_views, lambda: (normal(3, 4), normal(4, 3)), (0, 1)),
]  # fmt: skip


@pytest.mark.parametrize(("f", "make_args", "wrt"), ALIASING, ids=[c[0].__name__ for c in ALIASING])
def test_aliasing_hazards(f, make_args, wrt):
    check(f, make_args(), wrt=wrt, value=True)


def test_aliasing_hazards_do_reuse_memory():
    """The hazards above are real ones: in-place writes happen around them."""
    for f, make_args, wrt in ALIASING[:7]:
        g = check(f, make_args(), wrt=wrt)
        assert reuses_memory(g.source), g.source


def test_rebinding_accumulates_in_place():
    g = check(used_twice, (normal(3, 4),), value=True)
    assert "g_c += " in g.source, g.source
    g = check(rebound_while_aliased, (normal(3, 4),), value=True)
    assert "b += " not in g.source and "out=b" not in g.source, g.source


def test_same_array_passed_for_two_parameters():
    def f(a, b):
        c = a * b
        d = np.exp(c)
        return np.sum(d * a) + np.sum(np.tanh(b))

    a = normal(3, 4)
    before = a.copy()
    g = srcdiff.grad(f, wrt=(0, 1), backend="numpy")
    ga, gb = g(a, a)
    np.testing.assert_array_equal(a, before)

    def same(x):
        return f(x, x)

    expected = finite_differences(same, (before,), 0)
    np.testing.assert_allclose(ga + gb, expected, rtol=1e-6, atol=1e-7, err_msg=g.source)


def test_non_contiguous_arguments():
    def f(a, b):
        c = np.sin(a) * b
        d = np.exp(c * 0.5)
        return np.sum(d * d)

    base = normal(6, 8)
    a = base[::2, ::2]  # a strided view of the caller's array
    b = normal(4, 3).T  # Fortran order
    before = base.copy()
    check(f, (a, b), wrt=(0, 1))
    np.testing.assert_array_equal(base, before)


# --- 3. dtypes ---------------------------------------------------------------------------------


def float32_with_literal(x, w):
    h = np.tanh(x * 1.5 + 0.25)
    z = h * w - 0.5
    return np.sum(np.exp(z * 0.5) * h)


def float32_with_scalar(x, s):
    h = np.tanh(x * s)
    z = h * h + s
    return np.sum(np.sin(z) * h)


def float32_with_float64_array(x, w):
    h = np.tanh(x)
    z = h * w
    return np.sum(np.exp(z * 0.5) * h)


def test_float32_with_python_float_literals():
    x, w = normal(3, 4, dtype=np.float32), normal(4, dtype=np.float32)
    g = check(float32_with_literal, (x, w), wrt=(0, 1))
    assert reuses_memory(g.source), g.source


@pytest.mark.parametrize(
    "s", [np.float64(0.7), 0.7, np.float32(0.7)], ids=["np.float64", "float", "np.float32"]
)
def test_float32_array_with_scalar_argument(s):
    x = normal(3, 4, dtype=np.float32)
    g = srcdiff.value_and_grad(float32_with_scalar, wrt=(0, 1), backend="numpy")
    check(float32_with_scalar, (x, s), wrt=(0, 1), g=g, value=True, tol=F32)
    value, _ = g(x, s)
    expected = float32_with_scalar(x, s)  # NumPy's own promotion: float64 for np.float64
    np.testing.assert_allclose(value, float(expected), rtol=1e-6)
    # a float32 array plus a float64 scalar is float64: never written into float32 memory
    value, _ = srcdiff.value_and_grad(float32_local_times_scalar, wrt=(0, 1), backend="numpy")(x, s)
    expected = float(float32_local_times_scalar(x, s))
    rtol = 1e-11 if isinstance(s, np.float64) else 1e-6
    np.testing.assert_allclose(value, expected, rtol=rtol)


def float32_local_times_scalar(x, s):
    a = x * 1.5
    h = a + s  # a is not needed again, even by the adjoint
    return np.sum(h * h)


def float32_local_times_float64_local(x, w):
    a = np.sin(x)
    b = np.cos(w)
    c = a + b  # neither is needed again, even by the adjoint
    return np.sum(c * c)


def test_float32_and_float64_locals():
    """A float32 array and a float64 one, both dead: their float64 sum goes into the
    float64 one's memory, never into the float32's."""
    x, w = normal(4, 5, dtype=np.float32), normal(4, 5)
    f = float32_local_times_float64_local
    g = check(f, (x, w), wrt=(0, 1), value=True)
    value, _ = g(x, w)
    assert value == pytest.approx(float(f(x, w)), rel=1e-11), g.source


def test_float32_array_with_float64_array():
    x, w = normal(3, 4, dtype=np.float32), normal(3, 4)
    f = float32_with_float64_array
    g = check(f, (x, w), wrt=(0, 1), value=True, tol=F32)
    value, _ = g(x, w)
    assert value == pytest.approx(float(f(x, w)), rel=1e-11), g.source


def integer_weights(x, k):
    h = np.tanh(x * k)
    z = h * 0.5 + k
    return np.sum(np.exp(z * 0.1) * h)


def integer_one_hot(W, X, Y):
    z = X @ W
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    p = e / np.sum(e, axis=1, keepdims=True)
    return -np.sum(Y * np.log(p))


def integer_index(x, idx):
    h = np.sin(x)
    v = h[idx]
    return np.sum(v * v) + np.sum(h * 0.5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_integer_arrays_not_differentiated(dtype):
    x = normal(3, 4, dtype=dtype)
    k = RNG.integers(-3, 4, size=(3, 4))
    check(integer_weights, (x, k), wrt=(0,))
    W = normal(4, 3, dtype=dtype)
    X = normal(6, 4, dtype=dtype)
    Y = np.eye(3, dtype=np.int64)[RNG.integers(0, 3, size=6)]
    check(integer_one_hot, (W, X, Y), wrt=(0,))
    idx = np.array([2, 0, 2])
    check(integer_index, (x, idx), wrt=(0,))


def mean_of_small_integers(w, k):
    h = np.sin(w)
    m = np.mean(k, axis=0)
    u = h * m
    return np.sum(u * u)


def test_mean_of_small_integers_keeps_float64():
    w = normal(3, 4, dtype=np.float32)
    k = RNG.integers(1, 9, size=(5, 4)).astype(np.int8)
    g = srcdiff.value_and_grad(mean_of_small_integers, backend="numpy")
    value, grad = g(w, k)
    assert grad.dtype == np.float32
    expected = float(mean_of_small_integers(w, k))
    assert value == pytest.approx(expected, rel=1e-12), g.source


def float_array_from_small_integers(x, k, flag):
    if flag:  # h is float32 (np.sin of int16), its layout not known after the branch
        h = np.sin(k)
    else:
        h = np.cos(k)
    t = h * 2.0
    r = np.reshape(t, (x.shape[0], x.shape[1]))
    w = np.cos(x)
    u = r + w  # float32 + float64: float64
    return np.sum(u * u)


def test_float_array_from_small_integers_keeps_float64():
    x = normal(3, 4)
    k = np.arange(12, dtype=np.int16).reshape(3, 4)
    f = float_array_from_small_integers
    g = srcdiff.value_and_grad(f, backend="numpy")
    value, grad = g(x, k, True)
    np.testing.assert_allclose(grad, finite_differences(f, (x, k, True), 0), rtol=1e-5, atol=1e-6)
    assert value == pytest.approx(float(f(x, k, True)), rel=1e-11), g.source


# --- 4. broadcasting shapes --------------------------------------------------------------------


def column_plus_row(c, r):
    z = np.tanh(c + r)
    return np.sum(z * z * r)


def matrix_times_row(a, r):
    z = np.sin(a * r)
    return np.sum(z * a + r)


def three_d_plus_vector(x, c):
    z = np.tanh(x + c)
    return np.sum(z * z * x)


def three_d_plus_matrix(x, m):
    z = np.exp((x * m) * 0.3)
    return np.sum(z * m)


def computed_column_and_row(x, r):
    c = np.sum(x, axis=1, keepdims=True)
    z = c * r + c
    m = np.mean(x, axis=0, keepdims=True)
    return np.sum(np.sin(z) * np.exp(x - m))


def keepdims_3d(x, b):
    c = np.max(x, axis=1, keepdims=True)
    z = np.exp(x - c) * b
    s = np.sum(z, axis=2, keepdims=True)
    return np.sum(np.log(s) * s) + np.sum(np.mean(x, axis=0, keepdims=True) * c)


def normalised_rows(x, w):
    mu = np.mean(x, axis=1, keepdims=True)
    d = x - mu
    var = np.mean(d * d, axis=1, keepdims=True)
    y = d / np.sqrt(var + 0.1)
    return np.sum(y * w)


def negative_axis_keepdims(x):
    s = np.sum(x, axis=-1, keepdims=True)
    t = np.max(x, axis=-2, keepdims=True)
    return np.sum(np.tanh(x * s - t))


def row_of_computed_column(x, v):
    s = np.sum(x, axis=1)  # (n,)
    c = np.sum(x, axis=1, keepdims=True)  # (n, 1)
    z = c * v + s  # (n, 1) * (m,) + (n,): needs m == n
    return np.sum(z * z)


def keepdims_through_transpose_and_matmul(x, W, b, M):
    r = np.mean(x, axis=0, keepdims=True)  # (1, k)
    z = np.tanh(r @ W + b)  # (1, m)
    c = np.sum(x, axis=1, keepdims=True).T  # (1, n)
    q = np.sin(c + M)  # (p, n)
    return np.sum(z * z) + np.sum(q * M)


def index_views_with_new_axes(a):
    b = np.sin(a)
    c = b[:, None] * a[None, :]
    d = np.exp(c * 0.2)
    e = b[:, 0] * 2.0
    return np.sum(d) + np.sum(e * e)


def einsum_without_sums(a, b):
    c = np.einsum("nk,nki->nki", a, b)
    d = np.tanh(c)
    e = np.einsum("ij,j->ij", a, a[0])
    return np.sum(d * d) + np.sum(np.exp(e * 0.3))


def reassigned_in_a_loop(x, n):
    h = x * 2.0  # (3, 4)
    for _ in range(n):
        h = np.sum(h, axis=0, keepdims=True) * 0.5  # (1, 4)
    z = h * x
    return np.sum(z * z)


def reassigned_in_a_branch(x, flag):
    h = np.sin(x)
    if flag:
        h = np.max(h, axis=1, keepdims=True)  # (3, 1)
    z = h * x
    return np.sum(z * z)


BROADCASTING = [
    (column_plus_row, lambda: (normal(3, 1), normal(4)), (0, 1), False),
    (matrix_times_row, lambda: (normal(3, 4), normal(4)), (0, 1), True),
    (three_d_plus_vector, lambda: (normal(2, 3, 4), normal(4)), (0, 1), True),
    (three_d_plus_matrix, lambda: (normal(2, 3, 4), normal(3, 4)), (0, 1), True),
    (computed_column_and_row, lambda: (normal(3, 4), normal(4)), (0, 1), True),
    (keepdims_3d, lambda: (normal(2, 3, 4), np.abs(normal(3, 4)) + 0.5), (0, 1), True),
    (normalised_rows, lambda: (normal(3, 5), normal(5)), (0, 1), True),
    (negative_axis_keepdims, lambda: (normal(3, 4, scale=0.5),), (0,), True),
    (row_of_computed_column, lambda: (normal(3, 3), normal(3)), (0, 1), True),
    (
        keepdims_through_transpose_and_matmul,
        lambda: (normal(3, 4), normal(4, 5), normal(5), normal(2, 3)),
        (0, 1, 2, 3),
        True,
    ),
    (index_views_with_new_axes, lambda: (normal(3, 4),), (0,), True),
    (einsum_without_sums, lambda: (normal(2, 3), normal(2, 3, 4)), (0, 1), True),
    (reassigned_in_a_loop, lambda: (normal(3, 4), 2), (0,), False),
    (reassigned_in_a_branch, lambda: (normal(3, 4), True), (0,), False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("f", "make_args", "wrt", "resolved"), BROADCASTING, ids=[c[0].__name__ for c in BROADCASTING]
)
def test_broadcasting_gradients(f, make_args, wrt, resolved):
    g = check(f, make_args(), wrt=wrt)
    if resolved:  # every layout known: no unbroadcast left for run time
        assert "unbroadcast(" not in g.source, g.source


def test_broadcasting_float32():
    x, c = normal(2, 3, 4, dtype=np.float32), normal(4, dtype=np.float32)
    check(three_d_plus_vector, (x, c), wrt=(0, 1))
    x, r = normal(3, 4, dtype=np.float32), normal(4, dtype=np.float32)
    check(computed_column_and_row, (x, r), wrt=(0, 1))


def test_length_one_dimension_variant_and_back():
    g = srcdiff.grad(matrix_times_row, wrt=(0, 1), backend="numpy")
    check(matrix_times_row, (normal(3, 4), normal(4)), wrt=(0, 1), g=g)
    check(matrix_times_row, (normal(1, 4), normal(4)), wrt=(0, 1), g=g)
    check(matrix_times_row, (normal(3, 1), normal(1)), wrt=(0, 1), g=g)
    check(matrix_times_row, (normal(3, 1), normal(5)), wrt=(0, 1), g=g)
    check(matrix_times_row, (normal(5, 4), normal(4)), wrt=(0, 1), g=g)


# --- stretched views, 0-d arrays ------------------------------------------------------------------


def reduction_then_exp(x):
    h = np.exp(x)
    s = np.sum(h, axis=0)
    return np.sum(s * s)


def reductions_then_scale(x, w):
    h = x * 3.0
    s = np.sum(h, axis=1, keepdims=True)
    m = np.max(np.sin(w), axis=0)
    z = np.exp(w * 0.5)
    t = np.mean(z, axis=1)
    return np.sum(s * s) + np.sum(m * m) + np.sum(t * t)


def test_adjoint_of_a_reduction_is_not_a_buffer():
    """expand_like is a read-only broadcast view: never written into (out=)."""
    g = check(reduction_then_exp, (normal(3, 4),), wrt=(0,))
    assert not re.search(r"out=g_h\b|\bg_h [-+*/]= ", g.source), g.source
    check(reductions_then_scale, (normal(3, 4), normal(3, 4)), wrt=(0, 1))


def zero_dimensional(s, x):
    t = np.sin(s)
    u = t * 2.0
    return np.sum(u * x)


def test_zero_dimensional_array_argument():
    check(zero_dimensional, (np.array(0.7), normal(3, 4)), wrt=(0, 1))


# --- 5. the stage's pieces on hand-made IR -----------------------------------------------------

LOC = SourceLocation("test_buffers.py", 1)
M = Kind.array("float", 2)
V = Kind.array("float", 1)
F64_2 = Layout("float64", (False, False))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.ones((3, 4)), Layout("float64", (False, False))),
        (np.ones((3, 4), dtype=np.float32), Layout("float32", (False, False))),
        (np.ones((2, 3, 4)), Layout("float64", (False, False, False))),
        (np.ones(5, dtype=np.int64), Layout("int64", (False,))),
        (np.ones((3, 4)).T, Layout("float64", (False, False))),
        (np.ones((3, 1)), None),
        (np.ones((1, 4)), None),
        (np.ones(1), None),
        (np.ones((2, 1, 3)), None),
        (1.5, None),
        (3, None),
        (np.float64(1.5), None),
        ([1.0, 2.0], None),
    ],
)
def test_argument_layout(value, expected):
    assert argument_layout(value) == expected


def test_layout_known():
    assert Layout("float64", (False, True)).known
    assert Layout("float32", ()).known
    assert not Layout(None, (False,)).known
    assert not Layout("float64", (False, None)).known


def layouts(kinds, params):
    """The layouts of a function with these variable kinds and these (laid-out) parameters."""
    fn = ir.Function("f", list(params), [], LOC)
    fn.kinds = dict(kinds)
    return Layouts(fn, dict(params))


def known(found):
    """A layout with every dimension and the dtype known, else None."""
    return found if isinstance(found, Layout) and found.known else None


def test_layouts_of_elementwise_and_broadcasting():
    kinds = {"x": M, "r": V, "c": M, "s": FLOAT, "n": INT, "u": M}
    L = layouts(kinds, {"x": F64_2, "r": Layout("float64", (False,))})
    L.known["c"] = Layout("float64", (False, True))
    assert L.of(Op("add", (Name("x"), Const(1.0)))) == F64_2
    assert L.of(Op("mul", (Name("x"), Name("r")))) == F64_2
    assert L.of(Op("mul", (Name("c"), Name("r")))) == F64_2
    assert L.of(Op("tanh[]", (Name("c"),))) == Layout("float64", (False, True))
    assert L.of(Op("sub", (Name("c"), Const(1)))) == Layout("float64", (False, True))
    assert L.of(Op("mul", (Name("x"), Name("s")))) == F64_2  # float64 absorbs any scalar
    assert known(L.of(Op("tanh[]", (Name("u"),)))) is None  # u not known
    assert known(L.of(Op("add", (Name("c"), Name("u"))))) is None  # (n, 1) + unknown


def test_layouts_of_float32():
    kinds = {"f": M, "x": M, "s": FLOAT, "n": INT}
    f32 = Layout("float32", (False, False))
    L = layouts(kinds, {"f": f32, "x": F64_2})
    # float32 stays float32 with literals only; a variable may be a float64 scalar
    assert L.of(Op("mul", (Name("f"), Const(2.0)))) == f32
    assert L.of(Op("mul", (Name("f"), Const(2)))) == f32
    assert known(L.of(Op("mul", (Name("f"), Name("s"))))) is None
    assert known(L.of(Op("mul", (Name("f"), Name("n"))))) is None
    assert L.of(Op("add", (Name("f"), Name("x")))) == F64_2
    assert L.of(Op("matmul", (Name("f"), Name("f")))) == f32
    assert L.of(Op("matmul", (Name("f"), Name("x")))) == F64_2


def test_layouts_of_integer_arithmetic_claims_no_dtype():
    kinds = {"k": Kind.array("int", 2), "x": M}
    L = layouts(kinds, {"k": Layout("int64", (False, False)), "x": F64_2})
    # integer arithmetic may give floats (true division): no dtype claimed
    for prim in ("div", "mul", "add"):
        found = L.of(Op(prim, (Name("k"), Const(2))))
        assert not isinstance(found, Layout) or found.dtype is None, (prim, found)
    # but an integer array with a float64 array is float64
    assert L.of(Op("mul", (Name("k"), Name("x")))) == F64_2


def test_layouts_of_matmul_transpose_reductions():
    kinds = {"a": M, "v": V, "t": Kind.array("float", 3), "c": M, "k": INT}
    params = {
        "a": F64_2,
        "v": Layout("float64", (False,)),
        "t": Layout("float64", (False, False, False)),
    }
    L = layouts(kinds, params)
    L.known["c"] = Layout("float64", (True, False))
    assert L.of(Op("matmul", (Name("a"), Name("a")))) == F64_2
    assert L.of(Op("matmul", (Name("a"), Name("v")))) == Layout("float64", (False,))
    assert L.of(Op("matmul", (Name("v"), Name("a")))) == Layout("float64", (False,))
    assert L.of(Op("matmul", (Name("c"), Name("a")))) == Layout("float64", (True, False))
    assert L.of(Op("matmul", (Name("a"), Name("c")))) == F64_2
    assert known(L.of(Op("matmul", (Name("v"), Name("v"))))) is None  # a scalar
    assert L.of(Op("transpose", (Name("c"),))) == Layout("float64", (False, True))
    along = [
        (1, True, Layout("float64", (False, True))),
        (0, True, Layout("float64", (True, False))),
        (-1, True, Layout("float64", (False, True))),
        (1, False, Layout("float64", (False,))),
        (-2, False, Layout("float64", (False,))),
    ]
    for axis, keepdims, expected in along:
        for prim in ("sum_axis", "mean_axis", "amax_axis", "amin_axis", "prod_axis"):
            op = Op(prim, (Name("a"), Const(axis), Const(keepdims)))
            assert L.of(op) == expected, (prim, axis, keepdims)
    assert known(L.of(Op("sum_axis", (Name("v"), Const(0), Const(False))))) is None
    assert L.of(Op("sum_axis", (Name("t"), Const(1), Const(False)))) == F64_2
    three = Op("sum_axis", (Name("t"), Const(2), Const(True)))
    assert L.of(three) == Layout("float64", (False, False, True))
    assert L.of(Op("transpose", (three,))) == Layout("float64", (True, False, False))


def test_layouts_follow_statements():
    kinds = {"x": M, "y": M, "z": M, "i": INT}
    L = layouts(kinds, {"x": F64_2})
    L.after(Assign("y", Op("exp[]", (Name("x"),)), LOC))
    assert L.known["y"] == F64_2
    L.after(Assign("y", Op("einsum1", (Const("ij->ij"), Name("u"))), LOC))
    assert known(L.known.get("y")) is None  # not known any more
    L.after(Assign("z", Op("mul", (Name("x"), Const(2.0))), LOC))
    assert L.known["z"] == F64_2
    loop = ir.For("i", Const(0), Const(3), Const(1), [Assign("z", Name("y"), LOC)], loc=LOC)
    L.after(loop)
    assert known(L.known.get("z")) is None  # assigned in a nested block
    L.after(Assign("z", Op("mul", (Name("x"), Const(2.0))), LOC))
    L.after(ir.SetItem("z", (Const(0),), Const(1.0), LOC))
    assert L.known["z"] == F64_2  # a partial write keeps the array


def test_sums_for():
    g = Name("g")
    full = Layout("float64", (False, False))
    assert _sums_for(g, full, full) == g
    assert _sums_for(g, full, Layout("float64", (False,))) == Op(
        "sum_axis", (g, Const(0), Const(False))
    )
    assert _sums_for(g, full, Layout("float64", (False, True))) == Op(
        "sum_axis", (g, Const(1), Const(True))
    )
    assert _sums_for(g, full, Layout("float64", (True, False))) == Op(
        "sum_axis", (g, Const(0), Const(True))
    )
    three = Layout("float64", (False, False, False))
    assert _sums_for(g, three, Layout("float64", (False, True))) == Op(
        "sum_axis", (Op("sum_axis", (g, Const(0), Const(False))), Const(1), Const(True))
    )
    # the sums NumPy itself would do
    for shape, target in [((2, 3, 4), (3, 1)), ((2, 3, 4), (4,)), ((2, 3, 4), (1, 3, 1))]:
        value = RNG.normal(size=shape)
        ones = tuple(n == 1 for n in target)
        expr = _sums_for(Name("g"), Layout("float64", (False,) * 3), Layout("float64", ones))
        got = eval_sums(expr, value)
        expected = value
        while expected.ndim > len(target):
            expected = expected.sum(axis=0)
        for k, n in enumerate(target):
            if n == 1:
                expected = expected.sum(axis=k, keepdims=True)
        assert got.shape == target and np.allclose(got, expected)
    # unknown or impossible: left for run time
    assert _sums_for(g, Layout("float64", (None, False)), full) is None
    assert _sums_for(g, Layout("float64", (False,)), full) is None
    assert _sums_for(g, _Scalar(weak=True), full) is None


def eval_sums(expr, g):
    if isinstance(expr, Name):
        return g
    assert expr.prim == "sum_axis"
    return np.sum(eval_sums(expr.args[0], g), axis=expr.args[1].value, keepdims=expr.args[2].value)


def test_fits():
    whole = Layout("float64", (False, True))
    assert _fits(Layout("float64", (False, True)), whole)
    assert not _fits(Layout("float32", (False, True)), whole)  # another dtype
    assert not _fits(Layout("float64", (True, True)), whole)  # stretched along axis 0
    assert not _fits(Layout("float64", (True,)), whole)  # another rank
    assert not _fits(Layout("float64", (False, None)), whole)
    assert not _fits(None, whole)
    assert not _fits(_Scalar(weak=True), whole)
    assert not _fits(Layout("float64", (False, False)), Layout("float64", (False, None)))


def function(params, body, kinds):
    fn = ir.Function("f", list(params), body, LOC)
    fn.kinds = kinds
    return fn


def outs(fn):
    return {s.target: s.out for s in fn.body if isinstance(s, Assign) and s.out is not None}


def test_resolve_broadcasts_on_ir():
    kinds = {"x": M, "r": V, "g": M, "gx": M, "gr": V}

    def body():
        return [
            Assign("g", Op("mul", (Name("x"), Name("r"))), LOC),
            Assign("gx", Op("unbroadcast", (Name("g"), Name("x"))), LOC),
            Assign("gr", Op("unbroadcast", (Name("g"), Name("r"))), LOC),
            ir.Return((Name("gx"), Name("gr")), LOC),
        ]

    fn = function(["x", "r"], body(), kinds)
    resolve_broadcasts(fn, {"x": F64_2, "r": Layout("float64", (False,))})
    assert fn.body[1].value == Name("g")
    assert fn.body[2].value == Op("sum_axis", (Name("g"), Const(0), Const(False)))
    # without the layouts nothing changes
    fn = function(["x", "r"], body(), kinds)
    resolve_broadcasts(fn, {})
    assert fn.body[1].value == Op("unbroadcast", (Name("g"), Name("x")))
    assert fn.body[2].value == Op("unbroadcast", (Name("g"), Name("r")))


def test_reuse_buffers_only_dead_local_arrays():
    kinds = {n: M for n in ("x", "a", "b", "c", "d", "v")}
    body = [
        Assign("a", Op("mul", (Name("x"), Const(2.0))), LOC),  # x: the caller's
        Assign("b", Op("exp[]", (Name("a"),)), LOC),  # a dead: reuse
        Assign("c", Op("sin[]", (Name("b"),)), LOC),  # b read again below: no
        Assign("d", Op("add", (Name("c"), Name("b"))), LOC),  # c or b dead now
        ir.Return((Op("sum", (Name("d"),)),), LOC),
    ]
    fn = function(["x"], body, kinds)
    reuse_buffers(fn, {"x": F64_2})
    found = outs(fn)
    assert "a" not in found  # never into an argument
    assert found["b"] == "a"
    assert "c" not in found
    assert found["d"] in ("c", "b")


def test_reuse_buffers_respects_views():
    kinds = {n: M for n in ("x", "a", "v", "b", "c")}
    body = [
        Assign("a", Op("mul", (Name("x"), Const(2.0))), LOC),
        Assign("v", Op("transpose", (Name("a"),)), LOC),  # v shares a's memory
        Assign("b", Op("exp[]", (Name("a"),)), LOC),  # a's last direct read, v alive
        Assign("c", Op("mul", (Op("transpose", (Name("b"),)), Name("v"))), LOC),
        ir.Return((Op("sum", (Name("c"),)),), LOC),
    ]
    fn = function(["x"], body, kinds)
    reuse_buffers(fn, {"x": F64_2})
    assert "b" not in outs(fn), fn.body


def test_reuse_buffers_nothing_kept_or_returned():
    kinds = {n: M for n in ("x", "a", "b", "c")}
    body = [
        Assign("a", Op("mul", (Name("x"), Const(2.0))), LOC),
        ir.Push("a", Name("a"), LOC),  # kept on a tape
        Assign("b", Op("exp[]", (Name("a"),)), LOC),
        Assign("c", Op("sin[]", (Name("b"),)), LOC),
        ir.Return((Name("b"),), LOC),  # handed back
    ]
    fn = function(["x"], body, kinds)
    reuse_buffers(fn, {"x": F64_2})
    assert outs(fn) == {}, fn.body


def test_reuse_buffers_same_name_twice():
    kinds = {n: M for n in ("x", "a", "b")}
    body = [
        Assign("a", Op("mul", (Name("x"), Const(2.0))), LOC),
        Assign("b", Op("add", (Op("mul", (Name("a"), Name("a"))), Name("a"))), LOC),
        ir.Return((Op("sum", (Name("b"),)),), LOC),
    ]
    fn = function(["x"], body, kinds)
    reuse_buffers(fn, {"x": F64_2})
    # a is read three times in the statement: its memory must not be written first
    assert all(s.out != "a" for s in fn.body if isinstance(s, Assign)), fn.body
