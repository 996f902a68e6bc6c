"""Nested functions and lambdas that read the enclosing function's variables (closure
conversion), against finite differences on both backends and SymPy, and what stays refused."""
# ruff: noqa: E731

from __future__ import annotations

import inspect
import types

import numpy as np
import pytest
from conftest import statement_line
from test_arrays import check_gradient

import srcdiff
from srcdiff import SrcdiffError, UnsupportedSyntaxError
from srcdiff.testing import assert_grad_close

X = np.array([0.3, -0.2, 0.5])
W = np.array([[0.1, 0.2, 0.3], [0.4, -0.5, 0.6], [0.7, 0.8, -0.9]])

# --- nested functions and lambdas ---------------------------------------------------------


def nested_def(x, w, scale):
    def act(v):
        return np.tanh(v) * scale

    h = act(w @ x)
    return np.sum(h * h)


def named_lambda(x, y):
    sq = lambda t: t * t
    return sq(x) + sq(x * y) * y


def lambda_of_enclosing_array(x, w):
    b = np.sum(w) * 0.5
    layer = lambda h: np.tanh(w @ h + b)
    return np.sum(layer(layer(x)))


def calls_a_sibling(x, w):
    b = 0.5

    def act(v):
        return np.tanh(v + b)

    def layer(h):
        return act(w @ h)

    return np.sum(layer(layer(x)))


def reads_at_the_call(x):
    s = 2.0
    g = lambda t: t * s
    s = x * 3.0  # Python's closures read s when g is called, not when it is defined
    return g(x) + g(x * x)


def in_a_loop(x, n):
    def step(v, k):
        return v * 0.5 + np.sin(v) * k

    s = x
    for k in range(n):
        s = step(s, k)
    return s


def with_a_default(x):
    k = x * 0.5

    def scaled(v, c=3.0):  # a default, then the captured k
        return v * c * k

    return scaled(x) + scaled(x, 0.5) * x


def returns_a_tuple(x, y):
    def both(a):
        return a * y, a + y

    p, q = both(x)
    return p * q


def recursive_nested(x):
    def pw(v, n):
        return v if n == 0 else v * pw(v, n - 1)

    return pw(x, 3)


def helper_with_nested(x, w):
    return nested_def(x, w, 1.5) * 2.0


CASES = [
    (nested_def, (0, 1, 2), (X, W, 1.5)),
    (named_lambda, (0, 1), (0.7, -1.3)),
    (lambda_of_enclosing_array, (0, 1), (X, W)),
    (calls_a_sibling, (0, 1), (X, W)),
    (reads_at_the_call, 0, (0.7,)),
    (in_a_loop, 0, (0.4, 4)),
    (with_a_default, 0, (1.1,)),
    (returns_a_tuple, (0, 1), (0.6, 1.7)),
    (helper_with_nested, (0, 1), (X, W)),
    (recursive_nested, 0, (0.8,)),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize(("f", "wrt", "args"), CASES, ids=IDS)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_nested_functions_match_finite_differences(f, wrt, args, backend):
    check_gradient(f, args, wrt, backend=backend)


@pytest.mark.parametrize("f", [named_lambda, reads_at_the_call, with_a_default, in_a_loop], ids=str)
def test_nested_functions_match_sympy(f):
    case = CASES[IDS.index(f.__name__)]
    assert_grad_close(f, *case[2], wrt=case[1])


def test_a_nested_function_is_a_helper_with_the_variables_it_reads():
    source = srcdiff.grad(nested_def, wrt=0, backend="numpy").source
    assert "def act(v, scale):" in source
    assert "act(t0, scale)" in source.replace("(t1, scale)", "(t0, scale)")


rosenbrock = lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_lambda_given_to_grad(backend):
    check_gradient(rosenbrock, (X,), 0, backend=backend)
    assert "def rosenbrock_adjoint(x" in srcdiff.grad(rosenbrock, backend=backend).source
    g = srcdiff.grad(lambda a, b=2.0: a**b * np.sin(a), backend=backend)
    assert g(0.7) == pytest.approx(2 * 0.7 * np.sin(0.7) + 0.49 * np.cos(0.7))
    assert_grad_close(lambda a, b=2.0: a**b * np.sin(a), 0.7)


def test_two_lambdas_on_one_line_are_refused():
    with pytest.raises(UnsupportedSyntaxError, match="several lambdas on one line"):
        srcdiff.grad(lambda a: a * 2.0)(srcdiff.grad(lambda b: b)(1.0))


# --- what stays refused ----------------------------------------------------------------------


def mutates_enclosing(x):
    s = 0.0

    def add(v):
        nonlocal s
        s = s + v
        return s

    return add(x)


def escapes(x):
    def act(v):
        return v * x

    return apply_to(act, x)


def apply_to(g, x):
    return x


def returns_function(x):
    g = lambda t: t * x
    return g


def lambda_as_argument(x):
    return np.sum(np.vectorize(lambda t: t * t)(x))


def defined_in_branch(x):
    if x > 0:

        def g(v):
            return v * 2.0

    else:

        def g(v):
            return v * 3.0

    return g(x)


def nested_twice(x):
    def outer(v):
        def inner(w):
            return w * w

        return inner(v)

    return outer(x)


def called_before_defined(x):
    y = g(x)  # noqa: F821

    def g(v):
        return v * 2.0

    return y


def rebound(x):
    g = lambda t: t * 2.0
    g = lambda t: t * 3.0
    return g(x)


@pytest.mark.parametrize(
    ("f", "error", "words", "snippet"),
    [
        (mutates_enclosing, UnsupportedSyntaxError, ["nonlocal"], "nonlocal s"),
        (escapes, UnsupportedSyntaxError, ["`act`", "used as a value"], "return apply_to"),
        (returns_function, UnsupportedSyntaxError, ["`g`", "used as a value"], "return g"),
        (lambda_as_argument, UnsupportedSyntaxError, ["lambda", "g = lambda"], "vectorize"),
        (defined_in_branch, UnsupportedSyntaxError, ["inside a block", "top level"], "def g"),
        (nested_twice, UnsupportedSyntaxError, ["inside a nested function"], "def inner"),
        (called_before_defined, SrcdiffError, ["`g`", "before it is defined"], "y = g(x)"),
        (rebound, UnsupportedSyntaxError, ["defining the nested function `g` twice"], "* 3.0"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_refused_nested_functions_are_reported_at_the_line(f, error, words, snippet):
    with pytest.raises(error) as info:
        srcdiff.grad(f)(0.5)
    message = str(info.value)
    assert f"test_closures.py:{statement_line(f, snippet)}:" in message, message
    for word in words:
        assert word in message, message


# --- arrays of the module and of closures: inputs read at each call ---------------------------

A = np.array([[1.0, 2.0, -0.5], [0.5, -1.0, 0.25]])
B = np.array([0.1, 0.2])
STEPS = (0.5, 0.25, 2.0)


def reads_global_arrays(x):
    return np.sum(np.tanh(A @ x + B) ** 2)


def global_in_helper(v):
    return np.sum(A @ v)


def calls_a_helper_reading_a_global(x):
    return global_in_helper(x * x) + np.sum(x)


def global_in_nested(x):
    act = lambda v: np.tanh(A @ v)
    return np.sum(act(x) * B)


def reads_a_global_tuple(x):
    s = 0.0
    for i in range(len(STEPS)):
        s = s + STEPS[i] * x[i] ** 2
    return s


def closure_over(m):
    def model(x):
        return np.sum(np.sin(m @ x))

    return model


closure_of_array = closure_over(A.copy())

data = types.ModuleType("data")  # a module of data arrays, read as data.X
data.X = np.array([[1.0, 2.0, 0.5], [0.5, -1.0, 0.3]])
data.y = np.array([1.0, 0.0])


def reads_module_arrays(w):
    p = np.tanh(data.X @ w)
    return np.sum((p - data.y) ** 2) + np.sum(data.X.T[0] * w[:2])


GLOBAL_CASES = [
    (reads_global_arrays, (X,)),
    (calls_a_helper_reading_a_global, (X,)),
    (global_in_nested, (X,)),
    (reads_a_global_tuple, (X,)),
    (closure_of_array, (X,)),
    (reads_module_arrays, (X,)),
]


@pytest.mark.parametrize(("f", "args"), GLOBAL_CASES, ids=[c[0].__name__ for c in GLOBAL_CASES])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_global_and_closure_arrays_match_finite_differences(f, args, backend):
    check_gradient(f, args, 0, backend=backend)


@pytest.mark.parametrize(("f", "args"), GLOBAL_CASES, ids=[c[0].__name__ for c in GLOBAL_CASES])
def test_global_and_closure_arrays_match_sympy(f, args):
    assert_grad_close(f, *args)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_global_array_is_read_at_each_call(backend, monkeypatch):
    g = srcdiff.grad(reads_global_arrays, backend=backend)
    before = g(X)
    monkeypatch.setitem(globals(), "A", A * 2.0)  # the name bound to another array
    np.testing.assert_allclose(g(X), srcdiff.grad(reads_global_arrays, backend=backend)(X))
    assert not np.allclose(g(X), before)
    A_now = globals()["A"]
    A_now[0, 0] = 5.0  # the same array, new contents
    u = A_now @ X + B
    expected = A_now.T @ (2.0 * np.tanh(u) * (1.0 - np.tanh(u) ** 2))
    np.testing.assert_allclose(g(X), expected, rtol=1e-12)


def test_forward_mode_and_second_order_read_global_arrays():
    v = np.array([0.5, -1.0, 2.0])
    value, tangent = srcdiff.jvp(reads_global_arrays)(X, v)
    assert value == pytest.approx(reads_global_arrays(X))
    assert tangent == pytest.approx(np.dot(srcdiff.grad(reads_global_arrays)(X), v))
    h = srcdiff.hessian(reads_global_arrays)(X)
    step = 1e-6
    columns = [
        (
            srcdiff.grad(reads_global_arrays)(X + step * e)
            - srcdiff.grad(reads_global_arrays)(X - step * e)
        )
        / (2 * step)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(h, np.array(columns).T, rtol=1e-5, atol=1e-8)


def test_an_array_of_a_module_is_read_at_each_call():
    g = srcdiff.grad(reads_module_arrays)
    before = g(X)
    data.X[0, 0] = 4.0
    try:
        assert not np.allclose(g(X), before)
        assert srcdiff.check_grad(reads_module_arrays, X).ok
        assert "the global `data.y` (a 1-D array of floats)" in g.source
    finally:
        data.X[0, 0] = 1.0


def test_the_note_in_source_names_what_is_read_at_each_call():
    source = srcdiff.grad(calls_a_helper_reading_a_global, backend="numpy").source
    header = source.split("import")[0]
    assert "Read at each call" in header and "the global `A` (a 2-D array of floats)" in header
    assert "def global_in_helper(v, A):" in source
    closure = srcdiff.grad(closure_of_array).source
    assert "the closure variable `m`" in closure


def test_a_global_array_of_another_kind_needs_a_new_gradient(monkeypatch):
    g = srcdiff.grad(reads_global_arrays)
    g(X)
    monkeypatch.setitem(globals(), "B", np.array([[0.1, 0.2]]))
    with pytest.raises(SrcdiffError, match="the global `B` is now a 2-D array.*make the gradient"):
        g(X)


def writes_a_global(x):
    B[0] = x
    return x * 2.0


def reads_an_object(x):
    return x * len(GLOBAL_CASES[0])


def closure_over_object(d):
    def model(x):
        return x * d["scale"]

    return model


@pytest.mark.parametrize(
    ("f", "words", "snippet"),
    [
        (reads_an_object, ["the global `GLOBAL_CASES` (list)"], "GLOBAL_CASES[0]"),
        (closure_over_object({"scale": 2.0}), ["the closure variable `d` (dict)"], 'd["scale"]'),
    ],
    ids=["global", "closure"],
)
def test_other_free_values_are_refused_naming_where_they_come_from(f, words, snippet):
    with pytest.raises(UnsupportedSyntaxError) as info:
        srcdiff.grad(f)(0.5)
    message = str(info.value)
    assert f":{statement_line(f, snippet)}:" in message, message
    for word in words:
        assert word in message, message


def test_a_global_array_written_into_is_refused():
    with pytest.raises(UnsupportedSyntaxError) as info:
        srcdiff.grad(writes_a_global)
    message = str(info.value)
    assert f":{statement_line(writes_a_global, 'B[0] = x')}:" in message
    assert "writing into the global `B`" in message and "B.copy()" in message


# --- keyword-only parameters ---------------------------------------------------------------


def keyword_only(x, *, scale=2.0):
    return np.sin(x) * scale


def keyword_only_required(x, y=1.0, *, k, c=0.5):
    return x * y * k + c * x * x


def calls_with_keywords(x, w):
    def inner(v, *, p=3.0):
        return np.sum(v**p) * w[0, 0]

    return keyword_only(x[0], scale=4.0) + keyword_only_required(x[1], k=2.0) + inner(x, p=2.0)


KEYWORD_CASES = [
    (keyword_only, 0, (0.5,), {}),
    (keyword_only, (0, 1), (0.5,), {"scale": 3.0}),
    (keyword_only_required, (0, 2, 3), (0.5,), {"k": 3.0, "c": 1.5}),
    (calls_with_keywords, (0, 1), (X, W), {}),
]


@pytest.mark.parametrize(("f", "wrt", "args", "keywords"), KEYWORD_CASES)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_keyword_only_parameters(f, wrt, args, keywords, backend):
    names = list(inspect.signature(f).parameters)
    g = srcdiff.grad(f, wrt=wrt, backend=backend)
    got = g(*args, **keywords)
    bound = inspect.signature(f).bind(*args, **keywords)
    bound.apply_defaults()
    full = tuple(bound.arguments[n] for n in names)
    report = srcdiff.check_grad(f, *full, wrt=wrt)
    assert report.ok, str(report)
    for ours, reference in zip(
        got if isinstance(wrt, tuple) else (got,), report.gradient, strict=True
    ):
        np.testing.assert_allclose(ours, reference)


def test_check_grad_takes_the_defaults_of_omitted_parameters():
    assert srcdiff.check_grad(keyword_only, 0.5).ok
    assert srcdiff.check_grad(with_a_default, 0.5).ok


def test_keyword_only_parameters_stay_keyword_only():
    with pytest.raises(TypeError):
        srcdiff.grad(keyword_only)(0.5, 3.0)


def star_args(*xs):
    return xs[0] * xs[1]


def star_kwargs(x, **options):
    return x * 2.0


def total(*xs):
    s = 0.0
    for x in xs:
        s = s + np.sin(x) * x
    return s * len(xs)


def scaled_sum(scale, *xs):
    return scale * xs[0] * sum(xs) + xs[-1]


def calls_star_args(x, y):
    return total(x, y, x * y) + total(x) + scaled_sum(2.0, x, y) + star_args(x, y)


def star_with_arrays(x, w):
    return total(np.sum(x), np.sum(w @ x)) + scaled_sum(0.5, x[0], x[1], x[2])


@pytest.mark.parametrize(
    ("f", "wrt", "args"), [(calls_star_args, (0, 1), (0.3, 0.7)), (star_with_arrays, 0, (X, W))]
)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_star_args_of_a_helper_fixed_by_the_call(f, wrt, args, backend):
    check_gradient(f, args, wrt, backend=backend)


def test_star_args_match_sympy():
    assert_grad_close(calls_star_args, 0.3, 0.7, wrt=(0, 1))


def test_each_number_of_star_args_is_a_helper_of_its_own():
    source = srcdiff.grad(calls_star_args, backend="numpy").source
    assert "def total_3args(xs_0, xs_1, xs_2):" in source
    assert "def total_1args(xs_0):" in source


def star_index_not_constant(n, *xs):
    return xs[n] * 2.0


def star_as_value(*xs):
    return np.sum(np.array(xs))


def star_out_of_range(*xs):
    return xs[2] * 2.0


def star_loop_with_break(*xs):
    s = 0.0
    for x in xs:
        if x > 1.0:
            break
        s = s + x
    return s


def calls_index_not_constant(x):
    return star_index_not_constant(1, x, x)


def calls_as_value(x):
    return star_as_value(x, x)


def calls_out_of_range(x):
    return star_out_of_range(x, x)


def calls_loop_with_break(x):
    return star_loop_with_break(x, x)


@pytest.mark.parametrize(
    ("f", "error", "words", "where", "snippet"),
    [
        (star_args, UnsupportedSyntaxError, ["*xs of the function differentiated", "one array"],
         star_args, "def star_args"),
        (star_kwargs, UnsupportedSyntaxError, ["**options", "keyword-only"], star_kwargs,
         "def star_kwargs"),
        (calls_index_not_constant, UnsupportedSyntaxError, ["xs[n]", "constant k"],
         star_index_not_constant, "return xs[n]"),
        (calls_as_value, UnsupportedSyntaxError, ["*xs", "len(xs)", "for a in xs"],
         star_as_value, "np.array(xs)"),
        (calls_out_of_range, SrcdiffError, ["xs[2]", "out of range", "2 arguments"],
         star_out_of_range, "return xs[2]"),
        (calls_loop_with_break, UnsupportedSyntaxError, ["loop over *xs", "break"],
         star_loop_with_break, "for x in xs"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)  # fmt: skip
def test_star_parameters_are_refused_with_what_to_write(f, error, words, where, snippet):
    with pytest.raises(error) as info:
        srcdiff.grad(f)(0.5)
    message = str(info.value)
    assert f":{statement_line(where, snippet)}:" in message, message
    for word in words:
        assert word in message, message
