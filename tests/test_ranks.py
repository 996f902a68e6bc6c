"""Arrays of four and five dimensions: convolutions over NCHW batches written with loops, with
slices and with np.einsum, elementwise code, reductions along any axis, broadcasting,
transposes, reshapes, indexing and writes, against finite differences on both backends; and
the limit on dimensions, as an error at the user's line."""
# ruff: noqa: B007

from __future__ import annotations

import numpy as np
import pytest
from conftest import statement_line
from test_arrays import backend_of, check_gradient

import srcdiff
from srcdiff import SrcdiffError
from srcdiff.kind import MAX_RANK

RNG = np.random.default_rng(4)
IMAGES = RNG.normal(size=(2, 3, 5, 4))  # a batch of 2 images, 3 channels, 5 x 4 pixels
FILTERS = RNG.normal(size=(2, 3, 2, 2)) * 0.5  # 2 filters of 3 channels, 2 x 2
BIAS = RNG.normal(size=(1, 2, 1, 1))
VOLUME = RNG.normal(size=(2, 3, 2, 3, 2))  # 5-D: a batch of 3-D volumes with channels


# --- convolutions ---------------------------------------------------------------------------


def conv_loops(x, w):
    """A 2-D convolution (valid, stride 1) over an NCHW batch, element by element."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    total = 0.0
    for b in range(n):
        for f in range(o):
            for i in range(h - kh + 1):
                for j in range(wd - kw + 1):
                    s = 0.0
                    for ch in range(c):
                        for di in range(kh):
                            for dj in range(kw):
                                s += x[b, ch, i + di, j + dj] * w[f, ch, di, dj]
                    total += np.tanh(s)
    return total


def conv_into_array(x, w, bias):
    """The same convolution written into an output batch, then a bias and a ReLU."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    for b in range(n):
        for f in range(o):
            for i in range(h - kh + 1):
                for j in range(wd - kw + 1):
                    out[b, f, i, j] = np.sum(x[b, :, i : i + kh, j : j + kw] * w[f])
    return np.sum(np.maximum(out + bias, 0.0) ** 2)


def conv_written_element_by_element(x, w):
    """The convolution written into an output batch element by element (Numba's loops)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    total = 0.0
    for b in range(n):
        for f in range(o):
            for i in range(h - kh + 1):
                for j in range(wd - kw + 1):
                    for ch in range(c):
                        for di in range(kh):
                            for dj in range(kw):
                                out[b, f, i, j] += x[b, ch, i + di, j + dj] * w[f, ch, di, dj]
                    total += out[b, f, i, j] ** 2
    return total + out[1, 0, 2, 1] * out[0, 1, 0, 0]


def conv_einsum(x, w, bias):
    """The convolution as a sum over filter offsets of einsums of shifted slices."""
    o, c, kh, kw = w.shape
    oh = x.shape[2] - kh + 1
    ow = x.shape[3] - kw + 1
    out = bias * 1.0
    for di in range(kh):
        for dj in range(kw):
            patch = x[:, :, di : di + oh, dj : dj + ow]
            out = out + np.einsum("nchw,oc->nohw", patch, w[:, :, di, dj])
    return np.mean(np.tanh(out) ** 2)


def channel_mixing(x, w):
    """A 1x1 convolution: one einsum over the channels of the whole batch."""
    y = np.einsum("nchw,c->nhw", x, w[0, :, 0, 0])
    return np.sum(np.einsum("nhw,nhw->n", y, y))


# --- elementwise code, reductions, broadcasting, shapes -----------------------------------


def elementwise(x):
    y = np.sin(x) * x + np.exp(-x * x) / (1.0 + x * x)
    return np.sum(y * y)


def reductions(x):
    s = np.sum(x, axis=1)  # over channels: (n, h, w)
    m = np.mean(x, axis=(-1))  # over columns: (n, c, h)
    top = np.max(x, axis=2, keepdims=True)  # (n, c, 1, w)
    low = np.min(x, axis=0)
    p = np.prod(1.0 + 0.1 * x, axis=3)
    return np.sum(s * s) + np.sum(m) + np.sum(top * x) - np.sum(low) + np.sum(p)


def normalized(x):
    """Batch normalisation over N, H and W, per channel."""
    mean = np.mean(np.mean(np.mean(x, axis=0, keepdims=True), axis=2, keepdims=True), axis=3,
                   keepdims=True)  # fmt: skip
    centred = x - mean
    var = np.mean(np.mean(np.mean(centred**2, axis=0, keepdims=True), axis=2, keepdims=True),
                  axis=3, keepdims=True)  # fmt: skip
    return np.sum(np.tanh(centred / np.sqrt(var + 1e-3)) * x)


def biased(x, bias):
    """A bias of shape (1, C, 1, 1) broadcast over the batch: its adjoint is summed back."""
    return np.sum(np.tanh(x * bias + bias))


def row_bias(x, b):
    """A bias along the last axis only (1-D against 4-D)."""
    return np.sum((x + b) ** 2)


def transposed(x):
    y = np.transpose(x)  # (w, h, c, n)
    return np.sum(y[0] * y[1]) + np.sum(x.T[:, :, 0, 0])


def permuted(x):
    """NCHW to NHWC and back: transposes with axes."""
    nhwc = x.transpose(0, 2, 3, 1)
    swapped = np.transpose(x, (1, 0, 3, 2))
    return np.sum(nhwc[:, :, :, 0] * np.sin(nhwc[:, :, :, 2])) + np.sum(swapped**3)


def reshaped(x):
    n = x.shape[0]
    flat = x.reshape(n, x.shape[1] * x.shape[2] * x.shape[3])
    back = flat.reshape(x.shape)
    images = np.reshape(flat, (n, 3, 5, 4))
    return np.sum(flat @ flat.T) + np.sum(back * images) + np.sum(np.ravel(x) ** 3)


def sliced(x):
    a = x[:, 0, 1:, ::2]
    b = x[1, :, :, 0]
    c = x[0, 1, 2, 3]
    d = x[:, :, None, 0, 0]  # None adds an axis
    return np.sum(a * a) + np.sum(b) * c + np.sum(d)


def element_reads(x):
    n, c, h, w = x.shape
    s = 0.0
    for b in range(n):
        for i in range(h):
            s = s + x[b, c - 1, i, w - 1] * x[b, 0, i, 0]
    return s


def expanded_and_joined(x):
    y = np.expand_dims(x, 0)  # 5-D
    z = np.concatenate([x, x * x], axis=1)
    stacked = np.stack([x, 2.0 * x], axis=4)
    return np.sum(y * y) + np.sum(np.sin(z)) + np.sum(stacked[:, :, :, :, 1] * x)


def over_images(x):
    """``for image in x`` over a batch: each image is a 3-D array."""
    s = 0.0
    for image in x:
        s = s + np.sum(image[0] * image[2])
    return s


def volume(v):
    """5-D: elementwise, reductions along axes and indexing."""
    y = np.tanh(v) * v
    s = np.sum(y, axis=4)
    m = np.max(v, axis=1)
    return np.sum(s * s) + np.sum(m) + v[1, 2, 0, 1, 1] * np.sum(v[0, :, 1])


def volume_loops(v):
    s = 0.0
    for a in range(v.shape[0]):
        for b in range(v.shape[1]):
            for c in range(v.shape[4]):
                s = s + v[a, b, 0, 1, c] * v[a, b, 1, 2, c] * v[a, b, 1, 0, c]
    return s


CASES = [
    (conv_loops, (0, 1), (IMAGES, FILTERS)),
    (conv_into_array, (0, 1, 2), (IMAGES, FILTERS, BIAS)),
    (conv_written_element_by_element, (0, 1), (IMAGES, FILTERS)),
    (conv_einsum, (0, 1, 2), (IMAGES, FILTERS, BIAS)),
    (channel_mixing, (0, 1), (IMAGES, FILTERS)),
    (elementwise, 0, (IMAGES,)),
    (reductions, 0, (IMAGES,)),
    (normalized, 0, (IMAGES,)),
    (biased, (0, 1), (IMAGES, RNG.normal(size=(1, 3, 1, 1)))),
    (row_bias, (0, 1), (IMAGES, RNG.normal(size=4))),
    (transposed, 0, (IMAGES,)),
    (permuted, 0, (IMAGES,)),
    (reshaped, 0, (IMAGES,)),
    (sliced, 0, (IMAGES,)),
    (element_reads, 0, (IMAGES,)),
    (expanded_and_joined, 0, (IMAGES,)),
    (over_images, 0, (IMAGES,)),
    (volume, 0, (VOLUME,)),
    (volume_loops, 0, (VOLUME,)),
]


@pytest.mark.parametrize(("f", "wrt", "args"), CASES, ids=[c[0].__name__ for c in CASES])
def test_higher_ranks_match_finite_differences_on_numpy(f, wrt, args):
    check_gradient(f, args, wrt, backend="numpy")


# Under Numba: loops over elements, which is what "auto" gives Numba. Whole-array code of
# 4-D arrays compiles too, but LLVM takes minutes over its nested loops (conv_into_array's
# included), and "auto" runs such code on NumPy. np.einsum (and transposes with axes,
# written as einsums), and np.max, np.min and np.prod along an axis of arrays of 3 or more
# dimensions have no Numba form at all.
NUMBA_CASES = [c for c in CASES if c[0] in (conv_loops, conv_written_element_by_element,
                                             element_reads, over_images, volume_loops)]  # fmt: skip


@pytest.mark.parametrize(
    ("f", "wrt", "args"), NUMBA_CASES, ids=[c[0].__name__ for c in NUMBA_CASES]
)
def test_higher_ranks_match_finite_differences_on_numba(f, wrt, args):
    check_gradient(f, args, wrt, backend="numba")


def test_auto_runs_an_einsum_of_images_on_numpy():
    g, _ = check_gradient(channel_mixing, (IMAGES, FILTERS), (0, 1), backend="auto")
    assert backend_of(g) == "numpy"


def test_forcing_numba_on_an_einsum_names_the_line():
    with pytest.raises(SrcdiffError) as caught:
        srcdiff.grad(channel_mixing, wrt=(0, 1), backend="numba")(IMAGES, FILTERS)
    message = str(caught.value)
    assert f"test_ranks.py:{statement_line(channel_mixing, 'y = np.einsum')}:" in message
    assert "backend='numpy'" in message


def test_transpose_with_axes_is_a_permuting_einsum():
    g = srcdiff.grad(permuted, backend="numpy")
    g(IMAGES)
    text = g.source
    assert "np.einsum('abcd->acdb', x)" in text and "np.einsum('acdb->abcd'" in text


def test_batched_matmul_says_to_write_einsum():
    def batched(x):
        return np.sum(x @ x)

    with pytest.raises(SrcdiffError, match=r"ranks 4 and 4.*np\.einsum"):
        srcdiff.grad(batched)(IMAGES)


GLOBAL_FILTERS = RNG.normal(size=(2, 3, 2, 2))


def with_global_filters(x):
    """A module-level 4-D array, read at each call as a constant."""
    return np.sum(np.tanh(x[:, :, :2, :2] * GLOBAL_FILTERS[1]))


def test_a_global_four_dimensional_array_is_read_as_a_constant():
    check_gradient(with_global_filters, (IMAGES,), 0, backend="numpy")


def test_float32_batch():
    images = IMAGES.astype(np.float32)
    check_gradient(elementwise, (images,), 0, backend="numpy")
    check_gradient(element_reads, (images,), 0, backend="numba")


def test_source_before_any_call_guesses_four_indices():
    """``.source`` before a call guesses a 4-D array from ``x[b, c, i, j]``."""
    source = srcdiff.grad(element_reads).source
    assert "x[b, c - 1, i, w - 1]" in source or "x[b, " in source


# --- the limit --------------------------------------------------------------------------------


def too_many_indices(x):
    return x[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]


def too_long_a_shape(n):
    y = np.zeros((n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n))
    return np.sum(y)


def test_more_indices_than_the_limit_is_an_error_at_the_line():
    with pytest.raises(srcdiff.UnsupportedSyntaxError) as err:
        srcdiff.grad(too_many_indices)
    message = str(err.value)
    assert f":{statement_line(too_many_indices, 'return x[')}:" in message
    assert "17 indices" in message and f"up to {MAX_RANK}" in message


def test_a_longer_shape_than_the_limit_is_an_error_at_the_line():
    with pytest.raises(srcdiff.UnsupportedSyntaxError) as err:
        srcdiff.grad(too_long_a_shape)
    assert f":{statement_line(too_long_a_shape, 'y = np.zeros')}:" in str(err.value)
    assert "17 dimensions" in str(err.value)


def test_an_array_argument_of_too_many_dimensions_is_refused():
    x = np.ones((1,) * (MAX_RANK + 1))
    with pytest.raises(SrcdiffError, match=f"up to {MAX_RANK} dimensions"):
        srcdiff.grad(elementwise)(x)


def test_an_axis_added_past_the_limit_is_an_error_at_the_line():
    def widened(x):
        return np.sum(x[:, None] * 2.0)

    x = np.ones((1,) * MAX_RANK)
    with pytest.raises(SrcdiffError) as err:
        srcdiff.grad(widened)(x)
    assert f":{statement_line(widened, 'return')}:" in str(err.value)
    assert f"{MAX_RANK + 1} dimensions" in str(err.value)
