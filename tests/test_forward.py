"""Forward mode against reverse mode on every construct of the earlier test corpora.

For each function of test_rules, test_control_flow, test_calls, test_array_elements,
test_regressions, test_arrays, test_array_patterns and test_einsum (imported from those
modules, at their own test points), ``srcdiff.jvp(f, wrt)(*args, v)`` must return
``f(*args)`` and the directional derivative ``sum_i <grad_i, v_i>``, where the gradients come
from ``srcdiff.grad`` (reverse mode) and the tangents ``v`` are seeded random numbers and
arrays. The two modes compute the same derivative by different programs, so they must agree
to rounding: within ``RTOL`` times the sum of the magnitudes of the products ``grad * v``.

Then unoptimized tangent code, Numba-compiled tangent functions, ``derivative`` (against
finite differences and ``grad``), ``jacobian`` (forward against reverse, and against finite
differences for array results), the ``.source`` of a jvp, and the errors.
"""

from __future__ import annotations

import math
import re
import zlib

import numpy as np
import pytest
import test_array_elements
import test_array_patterns
import test_arrays
import test_calls
import test_control_flow
import test_einsum
import test_errors
import test_regressions
import test_rules
from conftest import fd_grad, marker_line, no_fallback_warning
from test_arrays import as_float32, assert_names_a_line_of, richardson

import srcdiff
from srcdiff import SrcdiffError, UnsupportedSyntaxError

RTOL = {np.float64: 1e-10, np.float32: 1e-4}  # forward against reverse, relative to sum|g*v|
VALUE_RTOL = {np.float64: 1e-10, np.float32: 1e-4}  # jvp's value against f(*args)
ATOL = {np.float64: 1e-13, np.float32: 1e-5}
RNG = np.random.default_rng(20261123)  # this file's own: test_arrays.RNG is left alone


def normal(*shape):
    return RNG.normal(size=shape)


# --- the check ----------------------------------------------------------------------------------


def positions_of(f, wrt) -> list[int]:
    names = list(f.__code__.co_varnames[: f.__code__.co_argcount])
    items = wrt if isinstance(wrt, tuple) else (wrt,)
    return [names.index(w) if isinstance(w, str) else w % len(names) for w in items]


def seed_of(*parts) -> int:
    """A seed that depends on the case only, not on the order the tests run in."""
    return zlib.crc32(repr(parts).encode())


def random_tangents(args, positions, seed: int) -> list:
    """One tangent per differentiated argument: a number, or an array of its shape (of its
    float dtype; float64 for an integer array)."""
    rng = np.random.default_rng(seed)
    tangents = []
    for position in positions:
        arg = args[position]
        if isinstance(arg, np.ndarray):
            dtype = arg.dtype if arg.dtype.kind == "f" else np.dtype(np.float64)
            tangents.append(rng.normal(size=arg.shape).astype(dtype))
        else:
            tangents.append(float(rng.normal()))
    return tangents


def precision(args):
    low = any(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in args)
    return np.float32 if low else np.float64


def copies(values) -> list:
    return [v.copy() if isinstance(v, np.ndarray) else v for v in values]


def assert_same(values, before, what: str, source: str):
    for k, (value, old) in enumerate(zip(values, before, strict=True)):
        if isinstance(old, np.ndarray):
            assert value.dtype == old.dtype and value.shape == old.shape, source
            np.testing.assert_array_equal(value, old, err_msg=f"{what} {k} was modified\n{source}")


def reverse_gradients(f, args, wrt, backend: str) -> list:
    """srcdiff.grad's gradients (reverse mode, the generated Python run without Numba)."""
    got = srcdiff.grad(f, wrt=wrt, backend=backend, jit=False)(*args)
    return list(got) if isinstance(wrt, tuple) else [got]


def directional(gradients, tangents) -> tuple[float, float]:
    """sum_i <g_i, v_i> in float64, and sum_i <|g_i|, |v_i|>, the scale of its rounding."""
    terms = [
        np.asarray(g, dtype=np.float64) * np.asarray(v, dtype=np.float64)
        for g, v in zip(gradients, tangents, strict=True)
    ]
    return float(sum(np.sum(t) for t in terms)), float(sum(np.sum(np.abs(t)) for t in terms))


def check_jvp(f, args, wrt=0, *, backend="auto", jit=False, seed=None, gradients=None):
    """``jvp(f, wrt)(*args, v)`` is ``(f(*args), sum_i <grad_i, v_i>)`` to rounding, for
    seeded random tangents ``v``; the arguments and tangents are left as they were.

    ``gradients`` (a list, one per ``wrt``) defaults to srcdiff.grad's on the same backend."""
    positions = positions_of(f, wrt)
    seed = seed_of(f.__name__, wrt, len(args)) if seed is None else seed
    tangents = random_tangents(args, positions, seed)
    tangent = tuple(tangents) if isinstance(wrt, tuple) else tangents[0]
    args_before, tangents_before = copies(args), copies(tangents)
    tangent_fn = srcdiff.jvp(f, wrt=wrt, backend=backend, jit=jit)
    result = tangent_fn(*args, tangent)
    source = tangent_fn.source
    context = f"{f.__name__} wrt={wrt!r} backend={backend!r}\n----- jvp source -----\n{source}"
    assert isinstance(result, tuple) and len(result) == 2, f"jvp returned {result!r}\n{context}"
    value, derivative = result
    assert_same(args, args_before, "argument", source)
    assert_same(tangents, tangents_before, "tangent", source)

    dtype = precision(args)
    expected_value = f(*args_before)
    # a number: run as Python (jit=False), the generated code may give an int where f does,
    # or where the optimizer's `2 * t0` for `c * 1.0 + c` of a bool c does (so does reverse mode)
    assert isinstance(value, (float, int)), f"value is a {type(value).__name__}\n{context}"
    assert isinstance(derivative, float), f"derivative is a {type(derivative).__name__}\n{context}"
    assert abs(value - expected_value) <= ATOL[dtype] + VALUE_RTOL[dtype] * abs(expected_value), (
        f"value {value!r} != f(*args) = {expected_value!r}\n{context}"
    )

    if gradients is None:
        gradients = reverse_gradients(f, args, wrt, backend)
    expected, scale = directional(gradients, tangents)
    assert math.isfinite(derivative), f"derivative {derivative!r}\n{context}"
    assert abs(derivative - expected) <= ATOL[dtype] + RTOL[dtype] * scale, (
        f"forward {derivative!r} != reverse {expected!r} (scale {scale:.3g})\n{context}"
    )
    return tangent_fn, value, derivative


# --- scalar rules (test_rules) ------------------------------------------------------------------

RULE_CASES = test_rules.SMOOTH_CASES


@pytest.mark.parametrize(
    ("f", "wrt", "points"), RULE_CASES, ids=[c[0].__name__ for c in RULE_CASES]
)
def test_rule_forward_matches_reverse(f, wrt, points):
    for k, args in enumerate(points):
        check_jvp(f, args, wrt, seed=seed_of(f.__name__, k))


@pytest.mark.parametrize(
    ("f", "wrt", "points"), RULE_CASES[::6], ids=[c[0].__name__ for c in RULE_CASES[::6]]
)
def test_rule_forward_matches_reverse_wrt_each_argument(f, wrt, points):
    """One argument at a time: the others are held fixed (no tangent)."""
    for position in wrt if isinstance(wrt, tuple) else (wrt,):
        check_jvp(f, points[0], position)


KINK_IDS = [f"{c[0].__name__}-{c[2]}" for c in test_rules.KINK_CASES]


@pytest.mark.parametrize(("f", "wrt", "args", "convention"), test_rules.KINK_CASES, ids=KINK_IDS)
def test_kink_forward_matches_reverse_and_the_convention(f, wrt, args, convention):
    """At a kink forward mode follows the documented convention too: abs'(0) = 0, and
    max/min give half the tangent of each tied argument."""
    _, _, derivative = check_jvp(f, args, wrt, seed=seed_of("kink", f.__name__, args))
    convention = convention if isinstance(convention, tuple) else (convention,)
    tangents = random_tangents(args, positions_of(f, wrt), seed_of("kink", f.__name__, args))
    expected = sum(c * v for c, v in zip(convention, tangents, strict=True))
    assert derivative == pytest.approx(expected, abs=1e-12)


def test_max_tie_splits_the_tangent_in_half():
    tangent_fn = srcdiff.jvp(test_rules.kink_max, wrt=(0, 1), jit=False)
    assert tangent_fn(0.75, 0.75, (1.0, 0.0))[1] == pytest.approx(0.5, abs=1e-15)
    assert tangent_fn(0.75, 0.75, (0.0, 1.0))[1] == pytest.approx(0.5, abs=1e-15)
    assert tangent_fn(0.75, 0.5, (1.0, 0.0))[1] == pytest.approx(1.0, abs=1e-15)
    assert tangent_fn(0.5, 0.75, (1.0, 0.0))[1] == pytest.approx(0.0, abs=1e-15)


# --- control flow, calls, integer arguments -----------------------------------------------------

FLOW_CASES = test_control_flow.CASES
FLOW_IDS = [f"{c[0].__name__}-{i}" for i, c in enumerate(FLOW_CASES)]


@pytest.mark.parametrize(("f", "wrt", "points"), FLOW_CASES, ids=FLOW_IDS)
def test_control_flow_forward_matches_reverse(f, wrt, points):
    for k, args in enumerate(points):
        check_jvp(f, args, wrt, seed=seed_of(f.__name__, k))


CALL_CASES = test_calls.CASES


@pytest.mark.parametrize(
    ("f", "wrt", "points", "helpers"), CALL_CASES, ids=[c[0].__name__ for c in CALL_CASES]
)
def test_call_forward_matches_reverse(f, wrt, points, helpers):
    for k, args in enumerate(points):
        tangent_fn, _, _ = check_jvp(f, args, wrt, seed=seed_of(f.__name__, k))
    for helper in helpers:  # the helpers' own tangent functions are generated and called
        assert helper.__name__ in tangent_fn.source, tangent_fn.source
        if f is not test_calls.call_in_condition:  # there the helper only picks the branch
            assert f"def {helper.__name__}_jvp" in tangent_fn.source, tangent_fn.source


TWO_ARGUMENT_CALLS = [c for c in CALL_CASES if isinstance(c[1], tuple)]


@pytest.mark.parametrize(
    ("f", "wrt", "points", "helpers"),
    TWO_ARGUMENT_CALLS,
    ids=[c[0].__name__ for c in TWO_ARGUMENT_CALLS],
)
@pytest.mark.parametrize("position", [0, 1])
def test_call_with_some_arguments_not_differentiated(f, wrt, points, helpers, position):
    """Only x, or only y, has a tangent: helpers get tangents for some of their arguments."""
    for k, args in enumerate(points):
        check_jvp(f, args, position, seed=seed_of(f.__name__, position, k))


OTHER_SCALAR_CASES = [
    *[(f, wrt, args) for f, args, wrt in test_array_elements.CASES],
    *[(f, wrt, args) for f, args, wrt in test_regressions.CASES],
    (test_regressions.rosenbrock_by_terms, 0, (np.linspace(-1.0, 1.5, 7), 7)),
    (test_regressions.same_array_twice, 0, (np.linspace(-1.0, 1.5, 7), 7)),
]
OTHER_SCALAR_IDS = [f"{c[0].__name__}-{i}" for i, c in enumerate(OTHER_SCALAR_CASES)]


@pytest.mark.parametrize(("f", "wrt", "args"), OTHER_SCALAR_CASES, ids=OTHER_SCALAR_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_elements_and_regressions_forward_matches_reverse(f, wrt, args, dtype):
    if dtype == np.float32:
        args = as_float32(args)
    check_jvp(f, args, wrt)


INTEGER_CASES = [
    # (function, args, wrt): an integer argument differentiated as a float, or an integer
    # argument passed through (bounds, exponents, flags, indices)
    (test_control_flow.scaled_by_count, (1.3, 3), 1),
    (test_control_flow.scaled_by_count, (1.3, 3), (0, 1)),
    (test_rules.pow_int_parameter, (-1.3, 3), 0),
    (test_control_flow.integer_flag, (2, 1), 0),
    (test_control_flow.range_int_initial_state, (2, 5), 0),
    (test_regressions.scaled_by_integer_power, (1.5, 2, -1), 0),
    (test_arrays.arith_integer_arguments, (normal(4), 3), 0),
    (test_arrays.ix_element_2d, (normal(3, 3), 0, 2), 0),
    (test_arrays.la_transpose, (np.arange(6, dtype=np.int64).reshape(2, 3),), 0),
]


@pytest.mark.parametrize(
    ("f", "args", "wrt"), INTEGER_CASES, ids=[f"{c[0].__name__}-{c[2]}" for c in INTEGER_CASES]
)
def test_integer_arguments(f, args, wrt):
    check_jvp(f, args, wrt)


# --- arrays (test_arrays, test_array_patterns, test_einsum) -------------------------------------

ARRAY_CASES = [*test_arrays.ALL_CASES, *test_array_patterns.CASES]
ARRAY_CASES += [test_arrays.Case(f, args, (0, 1), numba=False) for f, args in test_einsum.CASES]
ARRAY_IDS = [case.id for case in ARRAY_CASES]
BY_ID = {case.id: case for case in ARRAY_CASES}
assert len(BY_ID) == len(ARRAY_CASES)


def array_params(backend: str):
    return [pytest.param(case, id=case.id) for case in ARRAY_CASES]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", array_params("numpy"))
def test_array_forward_matches_reverse_on_numpy(case, dtype):
    args = case.args if dtype == np.float64 else as_float32(case.args)
    tangent_fn, _, _ = check_jvp(case.f, args, case.wrt, backend="numpy")
    assert "Backend: plain Python on NumPy" in tangent_fn.source


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", array_params("numba"))
def test_array_forward_matches_reverse_on_numba_backend(case, dtype):
    """backend="numba", run as Python. Where the reverse mode cannot run on Numba (an array
    reassigned in a loop needs a tape it lacks there; no Numba form), the reference is the
    NumPy backend's gradient, and forward mode may refuse only what reverse mode refuses."""
    args = case.args if dtype == np.float64 else as_float32(case.args)
    try:
        gradients, reverse_error = reverse_gradients(case.f, args, case.wrt, "numba"), None
    except SrcdiffError as error:
        assert not case.numba, f"reverse mode refused {case.id} on Numba: {error}"
        gradients, reverse_error = reverse_gradients(case.f, args, case.wrt, "numpy"), error
    try:
        tangent_fn, _, _ = check_jvp(case.f, args, case.wrt, backend="numba", gradients=gradients)
    except SrcdiffError as error:
        assert reverse_error is not None, f"forward mode refused what reverse runs: {error}"
        assert_names_a_line_of(case.f, error)
        return
    assert "Backend: compiled with Numba" in tangent_fn.source


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "name", ["mlp_loss_big", "rnn_with_loss_per_step", "power_iteration", "la_matrix_chain"]
)
def test_more_random_tangents(name, seed):
    case = BY_ID[name]
    check_jvp(case.f, case.args, case.wrt, backend="numpy", seed=seed)


def test_tangents_along_coordinates_are_the_gradient():
    """With the unit tangents e_k, jvp gives each entry of the gradient."""
    f, (x,) = test_arrays.red_norm_matrix, (normal(2, 3),)
    gradient = srcdiff.grad(f, backend="numpy")(x)
    tangent_fn = srcdiff.jvp(f, backend="numpy")
    for index in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[index] = 1.0
        assert tangent_fn(x, e)[1] == pytest.approx(gradient[index], rel=1e-12, abs=1e-14)


def test_warm_calls_with_new_values_are_right():
    case = BY_ID["wr_overwrite_in_loop"]
    rng = np.random.default_rng(5)
    tangent_fn = srcdiff.jvp(case.f, wrt=case.wrt, backend="numpy")
    for _ in range(3):
        (x,) = (rng.normal(size=a.shape) for a in case.args)
        v = rng.normal(size=x.shape)
        value, derivative = tangent_fn(x, v)
        expected, scale = directional([srcdiff.grad(case.f, backend="numpy")(x)], [v])
        assert value == pytest.approx(case.f(x), rel=1e-12)
        assert abs(derivative - expected) <= 1e-13 + 1e-10 * scale, tangent_fn.source


def test_new_ranks_and_dtypes_get_new_variants():
    tangent_fn = srcdiff.jvp(test_arrays.red_sum)
    for base in (normal(5), normal(2, 3), normal(4, 1)):
        for dtype in (np.float64, np.float32):
            x = base.astype(dtype)
            v = np.linspace(-1.0, 1.0, x.size).reshape(x.shape).astype(dtype)
            value, derivative = tangent_fn(x, v)
            gradient = srcdiff.grad(test_arrays.red_sum)(x)
            expected, scale = directional([gradient], [v])
            assert abs(derivative - expected) <= ATOL[dtype] + RTOL[dtype] * scale
            assert value == pytest.approx(test_arrays.red_sum(x), rel=VALUE_RTOL[dtype])


def test_wrt_by_name_and_out_of_order():
    a, r = normal(3, 4), normal(4)
    va, vr = np.full(a.shape, 0.5), np.linspace(-1.0, 1.0, 4)
    _, d = srcdiff.jvp(test_arrays.broadcast_matrix_row, wrt=("r", "a"))(a, r, (vr, va))
    gr, ga = srcdiff.grad(test_arrays.broadcast_matrix_row, wrt=("r", "a"))(a, r)
    expected, scale = directional([gr, ga], [vr, va])
    assert abs(d - expected) <= 1e-13 + 1e-10 * scale


def test_tangent_given_as_lists():
    """Tangents are converted like the arguments: lists and integer arrays are accepted."""
    a, v = normal(3, 2), [[1, 0], [0, 2], [-1, 1]]
    _, d = srcdiff.jvp(test_arrays.la_transpose, backend="numpy")(a, v)
    expected, _ = directional([srcdiff.grad(test_arrays.la_transpose)(a)], [np.array(v)])
    assert d == pytest.approx(expected, rel=1e-10)


def test_inactive_argument_gives_a_zero_derivative():
    _, d = srcdiff.jvp(test_rules.zero_other_parameter, wrt=0, jit=False)(0.8, -1.1, 1.0)
    assert d == 0.0
    _, d = srcdiff.jvp(test_rules.zero_constant, jit=False)(0.8, 1.0)
    assert d == 0.0


UNOPTIMIZED_CASES = [
    *[(f, wrt, points) for f, wrt, points in RULE_CASES[::3]],
    *[(f, wrt, points) for f, wrt, points in FLOW_CASES[::3]],
    *[(f, wrt, points) for f, wrt, points, _ in CALL_CASES[::2]],
]


@pytest.mark.parametrize(
    ("f", "wrt", "points"),
    UNOPTIMIZED_CASES,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(UNOPTIMIZED_CASES)],
)
def test_unoptimized_forward_matches_reverse(f, wrt, points):
    """optimize=False: the tangent code as the transformation writes it."""
    for k, args in enumerate(points):
        tangents = random_tangents(args, positions_of(f, wrt), seed_of(f.__name__, k))
        tangent = tuple(tangents) if isinstance(wrt, tuple) else tangents[0]
        tangent_fn = srcdiff.jvp(f, wrt=wrt, jit=False, optimize=False)
        value, derivative = tangent_fn(*args, tangent)
        assert value == pytest.approx(f(*args), rel=1e-10, abs=1e-13), tangent_fn.source
        gradients = reverse_gradients(f, args, wrt, "auto")
        expected, scale = directional(gradients, tangents)
        assert abs(derivative - expected) <= 1e-13 + 1e-10 * scale, tangent_fn.source


# --- compiled by Numba (a few: compilation takes a fraction of a second to seconds each) --------

SEQUENCE = test_control_flow.SEQUENCE
COMPILED_CASES = [
    (test_rules.math_composite, (0.4, -1.3), (0, 1), "auto"),
    (test_rules.np_mixed_with_math, (0.4, -1.3), (0, 1), "auto"),
    (test_rules.pow_base_and_exponent, (1.3, 0.7), (0, 1), "auto"),
    (test_rules.kink_max, (1.5, 1.5), (0, 1), "auto"),
    (test_rules.aug_pow, (0.8, 1.3), (0, 1), "auto"),
    (test_rules.tuple_rotate, (0.8, -1.1, 0.4), (0, 1, 2), "auto"),
    (test_control_flow.loop_return, (1.0, 1.5, 10), (0, 1), "auto"),
    (test_control_flow.while_true_break, (2.0,), 0, "auto"),
    (test_control_flow.while_continue_break, (2.5,), 0, "auto"),
    (test_control_flow.nested_loop_break, (0.8, 4), 0, "auto"),
    (test_control_flow.range_variable_step, (0.8, -5, -2), 0, "auto"),
    (test_control_flow.rnn_loss, (0.5, -0.8, 0.1, SEQUENCE, 6), (0, 1, 2), "auto"),
    (test_calls.call_tuple_in_loop, (0.7, -1.3, 3), (0, 1), "auto"),
    (test_calls.call_loop_helper_in_loop, (0.6, 5), 0, "auto"),
    (test_calls.call_keywords, (0.7, -1.3), 1, "auto"),
    *[(f, args, wrt, "auto") for f, args, wrt in test_array_elements.CASES],
    *[(BY_ID[n].f, BY_ID[n].args, BY_ID[n].wrt, "auto") for n in test_arrays.AUTO_CASES],
    *[(c.f, c.args, c.wrt, "numba") for c in test_arrays.NUMBA_CASES[2:]],
    (test_arrays.numba_float32, (normal(2, 3).astype(np.float32),), 0, "numba"),
    *[
        (BY_ID[n].f, BY_ID[n].args, BY_ID[n].wrt, "numba")
        for n in ("wr_element_loop", "la_matmul_2d_1d", "red_sum_axis1", "ix_slices")
    ],
]


@pytest.mark.parametrize(
    ("f", "args", "wrt", "backend"),
    COMPILED_CASES,
    ids=[f"{c[0].__name__}-{c[3]}-{i}" for i, c in enumerate(COMPILED_CASES)],
)
def test_numba_compiled_forward_matches_reverse(f, args, wrt, backend):
    tangent_fn, _, _ = check_jvp(f, args, wrt, backend=backend, jit=True)
    if backend == "numba":
        assert "Backend: compiled with Numba" in tangent_fn.source


def test_default_mode_compiles_without_falling_back():
    with no_fallback_warning():
        tangent_fn, _, _ = check_jvp(test_calls.call_in_loop, (0.7, 4), 0, jit=None)
    # a second call goes straight to the compiled variant, at a new point
    value, derivative = tangent_fn(0.3, 6, 1.0)
    assert value == pytest.approx(test_calls.call_in_loop(0.3, 6), rel=1e-12)
    assert derivative == pytest.approx(srcdiff.grad(test_calls.call_in_loop)(0.3, 6), rel=1e-10)


# --- derivative ---------------------------------------------------------------------------------


def quiz(x, z):
    return math.exp(x * z) + x * z / math.log(x) + math.sin(math.log(x)) / (x * z)


DERIVATIVE_CASES = [
    (quiz, (2.0, 3.0), 0),
    (quiz, (2.0, 3.0), "z"),
    (test_rules.math_composite, (0.4, -1.3), 1),
    (test_rules.pow_self, (0.7,), 0),
    (test_control_flow.while_newton_sqrt, (7.5,), 0),
    (test_control_flow.loop_break, (2.0, 10), 0),
    (test_calls.call_tuple_return_twice, (1.4, 0.6), "y"),
    (test_control_flow.rnn_over_len, (0.5, -0.8, 0.1, test_control_flow.SEQUENCE), "u"),
]


@pytest.mark.parametrize(
    ("f", "args", "wrt"),
    DERIVATIVE_CASES,
    ids=[f"{c[0].__name__}-{c[2]}" for c in DERIVATIVE_CASES],
)
def test_derivative_matches_finite_differences_and_grad(f, args, wrt):
    df = srcdiff.derivative(f, wrt, jit=False)
    got = df(*args)
    assert isinstance(got, float)
    assert got == pytest.approx(fd_grad(f, args, wrt), rel=1e-6, abs=1e-8), df.source
    reverse = srcdiff.grad(f, wrt=wrt, jit=False)(*args)
    assert abs(got - reverse) <= 1e-13 + 1e-10 * abs(reverse), df.source
    assert f"def {f.__name__}_jvp(" in df.source and "d_" in df.source


def test_derivative_of_sqrt_by_newton_iterations_is_exact():
    df = srcdiff.derivative(test_control_flow.while_newton_sqrt)
    for a in (0.3, 2.0, 7.5):
        assert df(a) == pytest.approx(0.5 / math.sqrt(a), rel=1e-10)


def test_derivative_of_an_integer_point():
    df = srcdiff.derivative(test_rules.pow_int_exponents, jit=False)
    assert isinstance(df(2), float)
    assert df(2) == pytest.approx(3 * 4 - 4 * 2 - 2 / 8 + 4, rel=1e-14)


# --- jacobian -----------------------------------------------------------------------------------


def vector_field(x, a):
    return np.tanh(a @ x) * x[0] + x**2


def matrix_valued(x, w):
    return np.outer(np.sin(x), w) + x[:, None] * w


def vector_by_elements(x, n):
    y = np.zeros(n)
    for i in range(n - 1):
        y[i] = math.sin(x[i] * x[i + 1])
    y[n - 1] = x[0] * x[n - 1]
    return y


def curve(t, w):
    return np.sin(t * w) * t + w


def fd_jacobian(f, args, position):
    """Centred differences (Richardson) of every output along every input coordinate:
    shape ``result.shape + argument.shape``."""
    x0 = np.asarray(args[position], dtype=np.float64)
    out_shape = np.shape(f(*args))
    jac = np.zeros(out_shape + x0.shape)
    for index in np.ndindex(x0.shape):
        for out in np.ndindex(out_shape):

            def moved(t, index=index, out=out):
                shifted = list(args)
                x = x0.copy()
                x[index] += t
                shifted[position] = x if x0.shape else float(x)
                return float(np.asarray(f(*shifted))[out])

            jac[out + index] = richardson(moved, 1e-5 * max(1.0, abs(float(x0[index]))))
    return jac


SCALAR_RESULT_CASES = ["la_quadratic_form", "red_max_min_axis", "softmax_rows_weighted",
                       "wr_prefix_sums", "rnn", "mlp_loss_one_hot", "matrix_product"]  # fmt: skip


@pytest.mark.parametrize("name", SCALAR_RESULT_CASES)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_jacobian_forward_matches_reverse_for_a_number_result(name, backend):
    case = BY_ID[name]
    if backend == "numba" and not case.numba:
        backend = "numpy"
    wrt = case.wrt[-1] if isinstance(case.wrt, tuple) else case.wrt
    forward = srcdiff.jacobian(case.f, wrt, mode="forward", backend=backend, jit=False)(*case.args)
    reverse = srcdiff.jacobian(case.f, wrt, mode="reverse", backend=backend, jit=False)(*case.args)
    default = srcdiff.jacobian(case.f, wrt, backend=backend, jit=False)(*case.args)
    shape = np.shape(case.args[positions_of(case.f, wrt)[0]])
    assert forward.shape == reverse.shape == default.shape == shape
    np.testing.assert_allclose(forward, reverse, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(default, reverse, rtol=1e-10, atol=1e-12)


def test_jacobian_of_numbers_is_the_derivative():
    args = (0.4, -1.3)
    forward = srcdiff.jacobian(test_rules.math_composite, 1, mode="forward", jit=False)(*args)
    reverse = srcdiff.jacobian(test_rules.math_composite, 1, mode="reverse", jit=False)(*args)
    derivative = srcdiff.derivative(test_rules.math_composite, 1, jit=False)(*args)
    assert np.shape(forward) == np.shape(reverse) == ()
    assert float(forward) == pytest.approx(float(reverse), rel=1e-12)
    assert float(forward) == derivative


VECTOR_CASES = [
    (vector_field, (np.array([0.3, -0.5, 0.8]), np.eye(3) * 0.5 + 0.1), 0),
    (vector_field, (np.array([0.3, -0.5, 0.8]), np.eye(3) * 0.5 + 0.1), "a"),
    (matrix_valued, (np.array([0.3, -0.5, 0.8]), np.array([1.0, 2.0, -0.5, 0.25])), 0),
    (matrix_valued, (np.array([0.3, -0.5, 0.8]), np.array([1.0, 2.0, -0.5, 0.25])), 1),
    (vector_by_elements, (np.array([0.3, -0.5, 0.8, 1.1]), 4), 0),
    (curve, (0.7, np.array([1.0, 2.0, -0.5])), 0),
]


@pytest.mark.parametrize(
    ("f", "args", "wrt"),
    VECTOR_CASES,
    ids=[f"{c[0].__name__}-{c[2]}" for c in VECTOR_CASES],
)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_jacobian_of_an_array_result(f, args, wrt, backend):
    """Forward (a column per input element) against finite differences; reverse (a row per
    result element) and the default against forward, to rounding."""
    position = positions_of(f, wrt)[0]
    shape = np.shape(f(*args)) + np.shape(args[position])
    forward = srcdiff.jacobian(f, wrt, mode="forward", backend=backend, jit=False)(*args)
    assert forward.shape == shape
    np.testing.assert_allclose(forward, fd_jacobian(f, args, position), rtol=1e-7, atol=1e-8)
    reverse = srcdiff.jacobian(f, wrt, mode="reverse", backend=backend, jit=False)(*args)
    default = srcdiff.jacobian(f, wrt, backend=backend, jit=False)(*args)
    assert reverse.shape == default.shape == shape
    np.testing.assert_allclose(reverse, forward, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(default, forward, rtol=1e-10, atol=1e-13)


def test_jacobian_of_an_array_result_compiled_by_numba():
    x, a = np.array([0.3, -0.5, 0.8]), np.eye(3) * 0.5 + 0.1
    jac = srcdiff.jacobian(vector_field, 0, backend="numba", jit=True)(x, a)
    np.testing.assert_allclose(jac, fd_jacobian(vector_field, (x, a), 0), rtol=1e-7, atol=1e-8)


def test_derivative_of_an_array_result():
    t, w = 0.7, np.array([1.0, 2.0, -0.5])
    got = srcdiff.derivative(curve, backend="numpy")(t, w)
    assert got.shape == w.shape
    np.testing.assert_allclose(got, fd_jacobian(curve, (t, w), 0), rtol=1e-8, atol=1e-10)
    _, d = srcdiff.jvp(curve, backend="numpy")(t, w, 1.0)
    np.testing.assert_array_equal(got, d)


def test_jvp_of_an_array_result_is_the_jacobian_times_the_tangent():
    x, a = np.array([0.3, -0.5, 0.8]), np.eye(3) * 0.5 + 0.1
    v = np.array([0.2, -1.0, 0.7])
    value, d = srcdiff.jvp(vector_field, backend="numpy")(x, a, v)
    np.testing.assert_allclose(value, vector_field(x, a), rtol=1e-14)
    jac = fd_jacobian(vector_field, (x, a), 0)
    np.testing.assert_allclose(d, jac @ v, rtol=1e-7, atol=1e-9)


# --- the generated source -----------------------------------------------------------------------


def test_source_before_the_first_call():
    """Before any call .source shows the tangent function for argument kinds guessed from
    the code (here: numbers), without running anything."""
    tangent_fn = srcdiff.jvp(quiz, wrt=(0, 1), jit=False)
    assert "def quiz_jvp(x, z, d_x, d_z):" in tangent_fn.source
    assert "d_t0 = d_x * z + d_z * x" in tangent_fn.source


SOURCE_CASES = [
    # (function, args, wrt, straight-line: every statement varies with wrt)
    (quiz, (2.0, 3.0), (0, 1), True),
    (test_rules.assign_reassign, (0.8,), 0, True),
    (test_rules.tuple_rotate, (0.8, -1.1, 0.4), (0, 2), False),
    (test_control_flow.loop_updates_parameter, (0.7, 0.4, 4), (0, 1), False),
    (test_control_flow.while_true_break, (2.0,), 0, False),
    (test_calls.call_tuple_in_loop, (0.7, -1.3, 3), 0, False),
    (test_arrays.la_quadratic_form, (normal(4, 4), normal(4)), 1, True),
    (test_arrays.wr_prefix_sums, (normal(6),), 0, False),
]


@pytest.mark.parametrize(
    ("f", "args", "wrt", "straight"),
    SOURCE_CASES,
    ids=[f"{c[0].__name__}-{c[2]}" for c in SOURCE_CASES],
)
def test_source_follows_each_statement_by_its_tangent(f, args, wrt, straight):
    tangent_fn = srcdiff.jvp(f, wrt=wrt, backend="numpy", jit=False)
    positions = positions_of(f, wrt)
    tangents = random_tangents(args, positions, 0)
    got = tangent_fn(*args, tuple(tangents) if isinstance(wrt, tuple) else tangents[0])
    source = tangent_fn.source
    params = list(f.__code__.co_varnames[: f.__code__.co_argcount])
    signature = ", ".join([*params, *(f"d_{params[p]}" for p in positions)])
    assert f"def {f.__name__}_jvp({signature}):" in source, source
    assert "forward mode" in source.splitlines()[0], source

    # After each of the user's statements (a `# file:line` comment) come its primal lines,
    # each followed at once by its tangent: `t = ...` then `d_t = ...` (`x_new0 = f(x)`
    # then `d_x = ...` where the statement reassigns x).
    blocks = re.split(r"\n\s*# \w+\.py:\d+ ", source)[1:]
    initialized = set(re.findall(r"\n\s*d_(\w+) = 0\.0\n\s*\1 = 0\.0\n", source))
    assert blocks, source
    with_tangents = 0
    for block in blocks:
        lines = [line.strip() for line in block.splitlines()[1:] if line.strip()]
        tangent_lines = [(k, re.match(r"d_(\w+) [-+*/]?= ", line)) for k, line in enumerate(lines)]
        tangent_lines = [(k, found.group(1)) for k, found in tangent_lines if found]
        with_tangents += bool(tangent_lines)
        for k, primal in tangent_lines:
            computes = re.compile(rf"{primal}(_new\d+)? = ")
            previous = lines[k - 1] if k else ""
            following = lines[k + 1] if k + 1 < len(lines) else ""
            # (the initial values of a variable first assigned in a loop come as a pair)
            assert computes.match(previous) or (
                primal in initialized and computes.match(following)
            ), f"{lines[k]!r} does not follow the line computing {primal}\n{source}"
    assert with_tangents == len(blocks) if straight else with_tangents >= 1, source

    # The source is the program that runs: executed on its own it gives the same result.
    namespace: dict = {}
    exec(compile(source, f"<{f.__name__}_jvp>", "exec"), namespace)
    again = namespace[f"{f.__name__}_jvp"](*args, *tangents)
    assert again == pytest.approx(got, rel=1e-15)


# --- errors -------------------------------------------------------------------------------------


def good(x, y):
    return math.sin(x) * y


def test_wrong_number_of_arguments():
    tangent_fn = srcdiff.jvp(good, jit=False)
    with pytest.raises(SrcdiffError, match="then the tangent"):
        tangent_fn(0.5, 0.7)
    with pytest.raises(SrcdiffError, match="then the tangent"):
        tangent_fn(0.5, 0.7, 1.0, 2.0)


@pytest.mark.parametrize("tangent", [(1.0,), (1.0, 2.0, 3.0), ()], ids=repr)
def test_wrong_number_of_tangents(tangent):
    with pytest.raises(SrcdiffError, match="2 tangents expected"):
        srcdiff.jvp(good, wrt=(0, 1), jit=False)(0.5, 0.7, tangent)


def test_a_number_for_a_tuple_of_tangents():
    with pytest.raises(SrcdiffError):
        srcdiff.jvp(good, wrt=(0, 1), jit=False)(0.5, 0.7, 1.0)


@pytest.mark.parametrize(
    "shape", [(3,), (4,), (4, 3), (), (3, 4, 1), (1, 4)], ids=lambda s: "x".join(map(str, s))
)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_tangent_of_the_wrong_shape(shape, backend):
    a, r = normal(3, 4), normal(4)
    tangent_fn = srcdiff.jvp(test_arrays.broadcast_matrix_row, wrt=(0, 1), backend=backend)
    with pytest.raises(SrcdiffError, match="shape"):
        tangent_fn(a, r, (np.ones(shape), np.ones(4)))
    with pytest.raises(SrcdiffError, match="shape"):
        tangent_fn(a, r, (np.ones((3, 4)), np.ones(shape + (1,))))


def test_array_tangent_for_a_number_argument():
    with pytest.raises(SrcdiffError, match="shape"):
        srcdiff.jvp(good, jit=False)(0.5, 0.7, np.ones(3))


def test_wrt_by_negative_position():
    _, d = srcdiff.jvp(good, wrt=-1, jit=False)(0.5, 0.7, 2.0)
    assert d == pytest.approx(2.0 * math.sin(0.5), rel=1e-15)


@pytest.mark.parametrize(
    "options",
    [{"backend": "jax"}, {"wrt": "z"}, {"wrt": 2}, {"wrt": (0, "nope")}, {"wrt": (0, -3)}],
    ids=repr,
)
def test_bad_options(options):
    with pytest.raises(SrcdiffError):
        srcdiff.jvp(good, **options)(0.5, 0.7, 1.0)


def test_derivative_refuses_an_array_argument():
    with pytest.raises(SrcdiffError, match="jacobian"):
        srcdiff.derivative(test_arrays.red_sum)(np.ones(3))


def test_jacobian_errors():
    with pytest.raises(SrcdiffError, match="mode"):
        srcdiff.jacobian(good, mode="sideways")
    with pytest.raises(SrcdiffError):
        srcdiff.jacobian(good, wrt="nope")


SYNTAX_CASES = [c for c in test_errors.CASES if c[0] is not test_errors.bad_tuple_return]


@pytest.mark.parametrize(
    ("f", "args", "error", "markers", "words"),
    SYNTAX_CASES,
    ids=[c[0].__name__ for c in SYNTAX_CASES],
)
def test_forward_mode_rejects_what_reverse_rejects(f, args, error, markers, words):
    with pytest.raises(error) as info:
        srcdiff.jvp(f, jit=False)(*args, 1.0)
    lines = [marker_line(f, f"error: {marker}") for marker in markers]
    assert any(f"test_errors.py:{line}" in str(info.value) for line in lines), str(info.value)
    for word in words:
        assert word in str(info.value)


def test_tuple_result():  # a function returning a tuple: a tuple of values, one of tangents
    result = srcdiff.jvp(test_errors.bad_tuple_return, jit=False)(0.5, 1.0)
    assert len(result) == 2, result
    value, derivative = result
    assert value == test_errors.bad_tuple_return(0.5)
    assert tuple(derivative) == (2.0, 3.0)


@pytest.mark.parametrize(
    ("f", "marker", "named"),
    test_arrays.ERROR_CASES,
    ids=[marker for _, marker, _ in test_arrays.ERROR_CASES],
)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_unsupported_array_code_is_reported_at_its_line(f, marker, named, backend):
    x = normal(2, 2) if f is test_arrays.err_matmul_3d else normal(4)
    with pytest.raises(SrcdiffError) as info:
        srcdiff.jvp(f, backend=backend, jit=False)(x, np.ones_like(x))
    line = marker_line(f, f"error: {marker}")
    assert f"test_arrays.py:{line}" in str(info.value), str(info.value)
    assert named in str(info.value)


def test_syntax_errors_are_unsupported_syntax_errors():
    with pytest.raises(UnsupportedSyntaxError):
        srcdiff.jvp(test_errors.bad_try)(0.5, 1.0)
