"""Lists, tuples and comprehensions made inside the function, against finite differences on
both backends and SymPy, and the forms that stay refused, each at the user's line.

The functions are written the way users write them (``sum(... for i in range(n))``,
``xs.append(...)`` then ``np.array(xs)``)."""
# ruff: noqa: B007, B905, C416, C419

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import statement_line
from test_arrays import check_gradient

import srcdiff
from srcdiff import SrcdiffError, UnsupportedSyntaxError

X = np.array([0.3, -1.2, 0.7, 2.1, -0.4])
W = np.array([1.5, 0.2, -0.8, 0.4, 1.1])
M = np.array([[0.3, -1.2, 0.7], [2.1, -0.4, 0.9]])

# --- literals of computed values ------------------------------------------------------------


def literal_items(a, b):
    xs = [a * 2.0, math.sin(b), a * b]
    return xs[0] + xs[-1] * len(xs) + xs[1] ** 2


def tuple_items(a, b):
    pair = (a * b, a + b)
    first, second = pair
    return first * second + pair[1]


def literal_sum(a, b):
    return sum([a * a, b, a * b]) + sum((a, b), 1.5)


def literal_max_min(a, b):
    xs = [a * a, b, a * b]
    return max(xs) - 2.0 * min(xs)


def array_of_floats(a, b):
    v = np.array([a, b, a * b])
    return np.sum(v**2) + np.sum(np.array([a, b]) * v[:2])


def matrix_of_floats(a, b):
    m = np.array([[a, b], [b * a, a]])
    return np.sum(m @ m) + np.trace(m)


def loop_over_literal(a, b):
    s = 0.0
    for v in [a, b, a * b]:
        s = s + v * v
    return s


def loop_over_list_with_break(a, b):
    xs = [a, b, a * b, a - b]
    s = 0.0
    for v in xs:
        if s > 1.0:
            break
        if v < 0.0:
            continue
        s = s + v * v
    return s


def enumerate_and_zip_lists(a, b):
    xs = [a, b, a * b]
    ys = [b, a]
    s = 0.0
    for i, v in enumerate(xs):
        s = s + i * v
    for u, v in zip(xs, ys):
        s = s + u * v
    return s


def dynamic_index(a, b, k):
    xs = [a, b, a * b]
    s = 0.0
    for i in range(len(xs)):
        s = s + xs[i] * (i + 1)
    return s + xs[k]


def dynamic_index_in_while(a, b):
    xs = (a, b, a * b)
    s, i = 0.0, 0
    while i < len(xs):
        s = s + xs[i] * xs[len(xs) - 1 - i]
        i += 1
    return s


def list_of_arrays(x, w):
    parts = [x * w, np.sin(x), x]
    return np.sum(np.stack(parts) ** 2) + np.sum(np.concatenate(parts) * 0.5) + np.sum(sum(parts))


def layers_as_pairs(x, w):
    layers = [(w, 0.5), (w * w, -0.2)]
    h = x
    for weight, bias in layers:
        h = np.tanh(h * weight + bias)
    return np.sum(h)


def sum_of_array_list(x, w):
    return np.sum(np.array([x, w * x]) ** 2)


def list_kept_after_rebinding(a, b):
    xs = [a, b]
    a = a * 3.0
    return xs[0] * a + xs[1]


# --- lists built by append -----------------------------------------------------------------


def append_straight(a, b):
    xs = []
    xs.append(a * b)
    xs.append(b)
    return xs[0] * xs[1] + len(xs)


def append_in_loop(x):
    ys = []
    for i in range(x.shape[0]):
        ys.append(x[i] ** 2)
    return sum(ys) + np.sum(np.array(ys)) * ys[1] + len(ys)


def append_over_array(x, w):
    ys = []
    for v in x:
        ys.append(np.sin(v) * w[0])
    arr = np.array(ys)
    return np.sum(arr * arr) + max(ys)


def append_filtered(x):
    ys = []
    for v in x:
        if v > 0.0:
            ys.append(v * v)
    total = 0.0
    for y in ys:
        total = total + np.sqrt(y + 1.0)
    return total + len(ys)


def append_under_if_in_range(a, b):
    ys = []
    for i in range(4):
        if i != 1:
            ys.append(a * i + b)
        if a * i > b:
            ys.append(a * b)
    return ys[-1] * ys[0] + np.sum(np.array(ys)) + len(ys)


def append_in_unrolled_loop(a, b):
    ys = []
    for v in [a, b]:
        ys.append(v * a)
    return np.sum(np.array(ys)) * ys[1]


def arrays_appended_in_constant_range(x, w):
    hs = []
    h = x
    for t in range(3):
        h = np.tanh(h * w[t] + 0.1)
        hs.append(h * 1.0)
    return np.sum(np.stack(hs) ** 2) + np.sum(hs[-1])


# --- comprehensions and generators ----------------------------------------------------------


def generator_sum(x, w):
    return sum(x[i] * w[i] for i in range(len(x)))


def generator_of_function(x):
    return sum(np.sin(x[i]) ** 2 for i in range(x.shape[0]))


def generator_max_min(x):
    return max(np.sin(v) for v in x) + min(v * v for v in x)


def comprehension_array(x, w):
    zs = [w[0] * v for v in x]
    return np.sum(np.array(zs) ** 2) + zs[0]


def comprehension_of_range(x):
    n = x.shape[0]
    ys = np.array([x[i] * x[n - 1 - i] for i in range(n)])
    return np.sum(ys * x)


def comprehension_filtered(x):
    return sum([v * v for v in x if v > 0.0]) + sum(v for v in x if v < 0.0)


def comprehension_over_list(a, b):
    xs = [a, b, a * b]
    squares = [v * v for v in xs]
    return sum(squares) + squares[2] + sum(v * a for v in xs)


def comprehension_of_arrays_over_constant_range(x, w):
    stacked = np.stack([x * w[i] for i in range(3)])
    return np.sum(stacked**2) + np.sum(sum(x * i for i in range(3)))


def loop_over_comprehensions(x, w):
    s = 0.0
    for row in [x * w[i] for i in range(3)]:
        s = s + np.sum(row * row)
    for v in [np.sin(u) for u in x]:
        s = s + v
    return s


def comprehension_of_arrays_over_list(x, w):
    rows = [x * c for c in (0.5, 1.5, w[0])]
    return np.sum(np.stack(rows) ** 2)


# --- as public code writes them (Rosenbrock benchmarks, a training loop, an RNN) -----------


def rosenbrock_generator(X):
    f = sum(100.0 * (X[i + 1] - X[i] ** 2) ** 2 + (1 - X[i]) ** 2 for i in range(0, len(X) - 1))
    return f


def rosenbrock_builtin_sum(x):
    return sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def epoch_losses(w, xs, ys):
    losses = []
    for i in range(xs.shape[0]):
        pred = w[0] * xs[i] + w[1]
        losses.append((pred - ys[i]) ** 2)
    return np.mean(losses)


def rnn_appended(W, inputs):
    outputs = []
    prev = 0.0
    for t in range(3):
        prev = (prev + inputs[t]) * W
        outputs.append(prev)
    return outputs[2] + 0.1 * sum(outputs)


CASES = [
    (rosenbrock_generator, 0, [(X,)]),
    (rosenbrock_builtin_sum, 0, [(X,)]),
    (epoch_losses, 0, [(np.array([0.5, -0.2]), X, W)]),
    (rnn_appended, (0, 1), [(0.7, X)]),
    (literal_items, 0, [(0.3, 0.7)]),
    (literal_items, 1, [(0.3, 0.7)]),
    (tuple_items, (0, 1), [(0.3, 0.7)]),
    (literal_sum, (0, 1), [(0.3, 0.7)]),
    (literal_max_min, (0, 1), [(0.3, 0.7), (1.4, 0.6)]),
    (array_of_floats, (0, 1), [(0.3, 0.7)]),
    (matrix_of_floats, (0, 1), [(0.3, 0.7)]),
    (loop_over_literal, (0, 1), [(0.3, 0.7)]),
    (loop_over_list_with_break, (0, 1), [(0.3, 0.7), (1.3, -0.7), (-0.5, 0.8)]),
    (enumerate_and_zip_lists, (0, 1), [(0.3, 0.7)]),
    (dynamic_index, (0, 1), [(0.3, 0.7, 2), (0.3, 0.7, -3)]),
    (dynamic_index_in_while, (0, 1), [(0.3, 0.7)]),
    (list_of_arrays, (0, 1), [(X, W)]),
    (layers_as_pairs, (0, 1), [(X, W)]),
    (sum_of_array_list, (0, 1), [(X, W)]),
    (list_kept_after_rebinding, (0, 1), [(0.3, 0.7)]),
    (append_straight, (0, 1), [(0.3, 0.7)]),
    (append_in_loop, 0, [(X,)]),
    (append_over_array, (0, 1), [(X, W)]),
    (append_filtered, 0, [(X,)]),
    (append_in_unrolled_loop, (0, 1), [(0.3, 0.7)]),
    (append_under_if_in_range, (0, 1), [(0.3, 0.7), (0.9, 0.2)]),
    (generator_sum, (0, 1), [(X, W)]),
    (generator_of_function, 0, [(X,)]),
    (generator_max_min, 0, [(X,)]),
    (comprehension_array, (0, 1), [(X, W)]),
    (comprehension_of_range, 0, [(X,)]),
    (comprehension_filtered, 0, [(X,)]),
    (comprehension_over_list, (0, 1), [(0.3, 0.7)]),
    (comprehension_of_arrays_over_list, (0, 1), [(X, W)]),
    (comprehension_of_arrays_over_constant_range, (0, 1), [(X, W)]),
    (loop_over_comprehensions, (0, 1), [(X, W)]),
    (arrays_appended_in_constant_range, (0, 1), [(X, W)]),
]
IDS = [f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)]


# An unrolled loop that rebinds an array the gradient needs (``h = np.tanh(h * w + b)`` once
# per layer) is straight-line code that reassigns it: Numba cannot record the old arrays, as
# for the same lines written out by hand.
NUMPY_ONLY = {layers_as_pairs, arrays_appended_in_constant_range}


@pytest.mark.parametrize(("f", "wrt", "points"), CASES, ids=IDS)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_lists_match_finite_differences(f, wrt, points, backend):
    if backend == "numba" and f in NUMPY_ONLY:
        with pytest.raises(SrcdiffError, match="Numba backend cannot record"):
            srcdiff.grad(f, wrt=wrt, backend=backend)(*points[0])
        check_gradient(f, points[0], wrt, backend="auto")
        return
    for args in points:
        check_gradient(f, args, wrt, backend=backend)


SYMPY_CASES = [
    (literal_items, (0.3, 0.7)),
    (literal_max_min, (0.3, 0.7)),
    (array_of_floats, (0.3, 0.7)),
    (matrix_of_floats, (0.3, 0.7)),
    (loop_over_list_with_break, (0.3, 0.7)),
    (append_in_loop, (X,)),
    (generator_sum, (X, W)),
    (comprehension_filtered, (X,)),
    (comprehension_over_list, (0.3, 0.7)),
]


@pytest.mark.parametrize(("f", "args"), SYMPY_CASES, ids=[c[0].__name__ for c in SYMPY_CASES])
def test_lists_match_sympy(f, args):
    report = srcdiff.check_grad(f, *args, wrt=0, methods=("sympy",))
    assert report.methods["sympy"].status == "ok", str(report)


def test_a_list_keeps_the_values_its_items_had():
    g = srcdiff.grad(list_kept_after_rebinding, wrt=(0, 1))
    assert np.allclose(g(0.3, 0.7), (0.3 * 3.0 + 0.3 * 3.0, 1.0))


def test_a_sum_of_a_generator_adds_in_the_loop():
    source = srcdiff.grad(generator_sum, wrt=0).source
    assert "np.zeros" not in source.split("# reverse sweep")[0]  # no list is made


def test_the_builtin_sum_of_an_array_adds_its_rows():
    def rows(m):
        return np.sum(sum(m) ** 2)

    check_gradient(rows, (M,), 0, backend="numpy")


def _parts(x, w):
    parts = [np.sin(x) * w, x * x]
    return np.sum(np.stack(parts)) + np.sum(sum(p for p in parts))


def calls_a_helper_with_lists(x, w):
    return _parts(x, w) + sum(x[i] * w for i in range(len(x)))


def test_lists_inside_a_helper_function():
    for backend in ("numba", "numpy"):
        check_gradient(calls_a_helper_with_lists, (X, 0.5), (0, 1), backend=backend)


def test_forward_mode_and_hessians_through_lists():
    def squares(x):
        ys = [v * v for v in x]
        return np.sum(np.array(ys)) + ys[0] * ys[1]

    x = X[:3]
    value, tangent = srcdiff.jvp(squares)(x, np.ones(3))
    assert np.isclose(value, squares(x))
    assert np.isclose(tangent, np.sum(2 * x) + 2 * x[0] * x[1] ** 2 + 2 * x[0] ** 2 * x[1])
    expected = np.diag([2.0 + 2 * x[1] ** 2, 2.0 + 2 * x[0] ** 2, 2.0])
    expected[0, 1] = expected[1, 0] = 4 * x[0] * x[1]
    assert np.allclose(srcdiff.hessian(squares)(x), expected)


def test_a_list_built_by_a_loop_that_never_runs_is_empty():
    def collected(x):
        ys = []
        for v in x:
            ys.append(v * v)
        return len(ys) + 1.0 + sum(ys)

    assert srcdiff.grad(collected)(np.zeros(0)).shape == (0,)
    assert srcdiff.value_and_grad(collected)(np.zeros(0))[0] == 1.0


def test_generated_names_leave_the_users_alone():
    def rows_of(m):
        s = 0.0
        for row in m:
            s = s + np.sum(row * row)
        return s + sum([s, s])

    g = srcdiff.grad(rows_of)
    g(M)
    source = g.source
    assert "row = " in source and "row_" not in source, source


# --- what stays refused ----------------------------------------------------------------------


def list_as_value(a, b):
    xs = [a, b]
    return np.exp(xs)[0]


def list_item_written(a, b):
    xs = [a, b]
    xs[0] = b
    return xs[0]


def list_extended(a, b):
    xs = [a]
    xs.extend([b])
    return xs[0]


def list_assigned_twice(a, b):
    xs = [a, b]
    if a > 0.0:
        xs = [b, a]
    return xs[0]


def list_made_in_branch(a, b):
    if a > 0.0:
        xs = [a, b]
    return xs[0]


def appended_in_branch(a, b):
    xs = [a]
    if a > 0.0:
        xs.append(b)
    return xs[0]


def arrays_appended_in_loop(x, n):
    hs = []
    for i in range(n):
        hs.append(x * i)
    return np.sum(np.array(hs))


def read_while_appending(x):
    hs = []
    for v in x:
        hs.append(v)
        hs.append(hs[0] * v)
    return sum(hs)


def appended_in_nested_loop(x):
    hs = []
    for v in x:
        for u in x:
            hs.append(u * v)
    return sum(hs)


def two_fors(x):
    return sum(x[i] * x[j] for i in range(2) for j in range(2))


def generator_as_value(x):
    g = (v * v for v in x)
    return sum(g)


def index_out_of_range(a, b):
    xs = [a, b]
    return xs[2]


def list_of_strings(a):
    names = ["a", "b"]
    return a * len(names)


def max_of_array(x):
    return max(x)


def ragged_array(a, b):
    return np.sum(np.array([[a, b], [a]]))


def repeated_list(a, n):
    xs = [0.0] * n
    return a * len(xs)


def placeholders(a, n):
    outputs = [None for t in range(n)]
    for t in range(n):
        outputs[t] = a * t
    return outputs[n - 1]


def list_slice(a, b):
    xs = [a, b, a]
    return sum(xs[1:])


@pytest.mark.parametrize(
    ("f", "args", "error", "words", "snippet"),
    [
        (list_as_value, (0.3, 0.7), UnsupportedSyntaxError, ["`xs`", "np.array"], "np.exp(xs)"),
        (list_item_written, (0.3, 0.7), UnsupportedSyntaxError, ["xs", "append"], "xs[0] = b"),
        (list_extended, (0.3, 0.7), UnsupportedSyntaxError, ["xs.extend", "append"], "xs.extend"),
        (list_assigned_twice, (0.3, 0.7), UnsupportedSyntaxError, ["xs", "name"], "xs = [a, b]"),
        (list_made_in_branch, (0.3, 0.7), UnsupportedSyntaxError, ["xs", "before"], "xs[0]"),
        (appended_in_branch, (0.3, 0.7), UnsupportedSyntaxError, ["xs", "append"], "xs.append"),
        (arrays_appended_in_loop, (X, 3), SrcdiffError, ["numbers", "out[i]"], "hs.append"),
        (read_while_appending, (X,), UnsupportedSyntaxError, ["hs", "variable"], "hs[0]"),
        (appended_in_nested_loop, (X,), UnsupportedSyntaxError, ["hs", "loop"], "hs.append"),
        (two_fors, (X,), UnsupportedSyntaxError, ["more than one", "loops"], "return"),
        (generator_as_value, (X,), UnsupportedSyntaxError, ["generator", "sum()"], "g = "),
        (index_out_of_range, (0.3, 0.7), SrcdiffError, ["IndexError", "2 items"], "xs[2]"),
        (list_of_strings, (0.3,), UnsupportedSyntaxError, ["'a'"], "names ="),
        (max_of_array, (X,), UnsupportedSyntaxError, ["np.max(x)"], "max(x)"),
        (ragged_array, (0.3, 0.7), UnsupportedSyntaxError, ["different lengths"], "np.array"),
        (repeated_list, (0.3, 2), UnsupportedSyntaxError, ["repeating", "np.zeros(n)"], "xs ="),
        (placeholders, (0.3, 2), UnsupportedSyntaxError, ["None", "np.zeros(n)"], "outputs ="),
        (list_slice, (0.3, 0.7), UnsupportedSyntaxError, ["xs[1:]", "np.array"], "xs[1:]"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_unsupported_lists_are_reported_at_the_line(f, args, error, words, snippet):
    with pytest.raises(error) as info:
        srcdiff.grad(f)(*args)
    message = str(info.value)
    assert f":{statement_line(f, snippet)}:" in message, message
    for word in words:
        assert word in message, message
