"""The public API: decorator forms, wrt, signatures, return types, jit modes, ``.source``."""

from __future__ import annotations

import inspect
import math
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    assert_grad_close,
    call_or_fail,
    check_structure,
    fd_grad,
    is_foreign_warning,
    load_function,
    no_fallback_warning,
    statement_line,
)

import srcdiff

SCALE = 2.5


def api_square(x):
    return x**2


def api_cube_half(x):
    return x**3 / 2


def api_sin_times(x, y):
    return math.sin(x) * y


def api_two(x, y):
    s = x * y + SCALE
    return math.sin(s) * x


def api_three(x, y, z):
    return x * y * z + math.exp(x - z) * y


def api_with_default(x, y=2.0):
    return x * y * y


def api_loop(x, n):
    s = x
    for i in range(n):
        s = math.sin(s) * x + i
    return s


def api_while(x):
    k = 0
    while x > 0.5 and k < 50:
        x = x * 0.7 + 0.01
        k += 1
    return x * x


def api_helper(a, b):
    return a * math.exp(b * 0.5)


def api_uses_helper(x, y):
    t = api_helper(x, y) * SCALE
    return t * y


def api_reads_array(w, x):
    s = 0.0
    for t in range(len(x)):
        s = s + math.tanh(w * x[t])
    return s


# --- decorator forms ----------------------------------------------------------------------------

DECORATED_MODULE = """
import math

import srcdiff


@srcdiff.grad
def bare(x, y):
    return math.sin(x) * y


@srcdiff.grad(wrt=(0, 1))
def both(x, y):
    return math.sin(x) * y


@srcdiff.grad(wrt="y", jit=False)
def by_name(x, y):
    return math.sin(x) * y


@srcdiff.grad(wrt=("y",))
def one_tuple(x, y):
    return math.sin(x) * y


@srcdiff.value_and_grad
def value_bare(x, y):
    return math.sin(x) * y


@srcdiff.value_and_grad(wrt=("y", 0), jit=False)
def value_tuple(x, y):
    return math.sin(x) * y
"""


def test_decorator_forms(tmp_path):
    args = (0.7, -1.3)
    with no_fallback_warning():
        bare = load_function(tmp_path, DECORATED_MODULE, "bare")
        both = load_function(tmp_path, DECORATED_MODULE, "both")
        by_name = load_function(tmp_path, DECORATED_MODULE, "by_name")
        one_tuple = load_function(tmp_path, DECORATED_MODULE, "one_tuple")
        value_bare = load_function(tmp_path, DECORATED_MODULE, "value_bare")
        value_tuple = load_function(tmp_path, DECORATED_MODULE, "value_tuple")
        for g in (bare, both, by_name, one_tuple, value_bare, value_tuple):
            assert isinstance(g.source, str) and g.source
            assert list(inspect.signature(g).parameters) == ["x", "y"]

        assert_grad_close(bare, api_sin_times, args, 0)
        assert_grad_close(both, api_sin_times, args, (0, 1))
        assert_grad_close(by_name, api_sin_times, args, "y")
        assert_grad_close(one_tuple, api_sin_times, args, ("y",))

        value, grad = call_or_fail(value_bare, args)
        assert value == pytest.approx(api_sin_times(*args), rel=1e-12), value_bare.source
        check_structure(value_bare, grad, 0)
        assert grad == pytest.approx(fd_grad(api_sin_times, args, 0), rel=1e-6), value_bare.source

        value, grads = call_or_fail(value_tuple, args)
        assert value == pytest.approx(api_sin_times(*args), rel=1e-12), value_tuple.source
        check_structure(value_tuple, grads, ("y", 0))
        expected = fd_grad(api_sin_times, args, ("y", 0))
        assert grads == pytest.approx(expected, rel=1e-6), value_tuple.source


# --- signature, wrapping, wrt -------------------------------------------------------------------


@pytest.mark.parametrize("transform", [srcdiff.grad, srcdiff.value_and_grad])
@pytest.mark.parametrize("f", [api_two, api_with_default, api_loop], ids=lambda f: f.__name__)
def test_signature_and_wrapped(transform, f):
    g = transform(f, jit=False)
    assert inspect.signature(g) == inspect.signature(f)
    assert g.__wrapped__ is f


WRT_FORMS = [0, 1, 2, "x", "z", (0,), ("y",), (0, 1), (1, 0), ("z", "x"), (0, "y", 2), (2, "y")]


@pytest.mark.parametrize("wrt", WRT_FORMS, ids=repr)
def test_wrt_forms(wrt, jit):
    g = srcdiff.grad(api_three, wrt=wrt, jit=jit)
    assert_grad_close(g, api_three, (0.7, -1.3, 0.4), wrt)


def test_wrt_order_is_respected(jit):
    forward = srcdiff.grad(api_three, wrt=(0, 1, 2), jit=jit)
    backward = srcdiff.grad(api_three, wrt=("z", "y", "x"), jit=jit)
    args = (0.7, -1.3, 0.4)
    expected = call_or_fail(forward, args)[::-1]
    assert call_or_fail(backward, args) == pytest.approx(expected, rel=1e-14), backward.source


def test_keyword_arguments_in_the_call(jit):
    g = srcdiff.grad(api_two, wrt=(0, 1), jit=jit)
    expected = assert_grad_close(g, api_two, (0.7, -1.3), (0, 1))
    assert g(x=0.7, y=-1.3) == pytest.approx(expected, rel=1e-14), g.source
    assert g(0.7, y=-1.3) == pytest.approx(expected, rel=1e-14), g.source
    assert g(y=-1.3, x=0.7) == pytest.approx(expected, rel=1e-14), g.source


def test_default_argument_is_used(jit):
    g = srcdiff.grad(api_with_default, wrt=(0, 1), jit=jit)
    got = call_or_fail(g, (1.3,))
    assert got == pytest.approx(fd_grad(api_with_default, (1.3, 2.0), (0, 1)), rel=1e-6), g.source


@pytest.mark.parametrize("transform", [srcdiff.grad, srcdiff.value_and_grad])
def test_wrong_arguments_raise_type_error(transform, jit):
    g = transform(api_two, wrt=(0, 1), jit=jit)
    with pytest.raises(TypeError):
        g()
    with pytest.raises(TypeError):
        g(0.7)
    with pytest.raises(TypeError):
        g(0.7, -1.3, 2.0)
    with pytest.raises(TypeError):
        g(0.7, -1.3, z=2.0)
    with pytest.raises(TypeError):
        g(0.7, x=2.0)


# --- return types -------------------------------------------------------------------------------


def test_integer_argument_is_treated_as_float(jit):
    g = srcdiff.grad(api_square, jit=jit)
    got = call_or_fail(g, (3,))
    assert isinstance(got, float), g.source
    assert got == pytest.approx(fd_grad(api_square, (3.0,), 0), rel=1e-9), g.source

    h = srcdiff.grad(api_cube_half, jit=jit)
    float_first = call_or_fail(h, (3.0,))
    int_then = call_or_fail(h, (3,))
    assert isinstance(int_then, float), h.source
    assert int_then == pytest.approx(float_first, rel=1e-14), h.source
    assert int_then == pytest.approx(fd_grad(api_cube_half, (3.0,), 0), rel=1e-9), h.source


def test_integer_arguments_with_tuple_wrt(jit):
    g = srcdiff.grad(api_three, wrt=(0, 1, 2), jit=jit)
    got = call_or_fail(g, (1, 2, -1))
    check_structure(g, got, (0, 1, 2))
    expected = fd_grad(api_three, (1.0, 2.0, -1.0), (0, 1, 2))
    assert got == pytest.approx(expected, rel=1e-6), g.source


def test_numpy_scalar_arguments(jit):
    g = srcdiff.grad(api_two, wrt=(0, 1), jit=jit)
    got = call_or_fail(g, (np.float64(0.7), np.float64(-1.3)))
    check_structure(g, got, (0, 1))
    assert got == pytest.approx(fd_grad(api_two, (0.7, -1.3), (0, 1)), rel=1e-6), g.source
    square = srcdiff.grad(api_square, jit=jit)
    got = call_or_fail(square, (np.int64(3),))
    check_structure(square, got, 0)
    assert got == pytest.approx(fd_grad(api_square, (3.0,), 0), rel=1e-9), square.source


def test_value_and_grad(jit):
    args = (0.7, -1.3, 0.4)
    single = srcdiff.value_and_grad(api_three, wrt="y", jit=jit)
    value, grad = call_or_fail(single, args)
    assert isinstance(value, float), single.source
    assert value == pytest.approx(api_three(*args), rel=1e-12), single.source
    check_structure(single, grad, "y")
    assert grad == pytest.approx(fd_grad(api_three, args, "y"), rel=1e-6), single.source

    several = srcdiff.value_and_grad(api_three, wrt=(2, 0), jit=jit)
    value, grads = call_or_fail(several, args)
    assert value == pytest.approx(api_three(*args), rel=1e-12), several.source
    check_structure(several, grads, (2, 0))
    assert grads == pytest.approx(fd_grad(api_three, args, (2, 0)), rel=1e-6), several.source


def test_value_and_grad_with_integer_argument(jit):
    g = srcdiff.value_and_grad(api_square, jit=jit)
    value, grad = call_or_fail(g, (3,))
    assert value == 9, g.source
    assert isinstance(grad, float), g.source
    assert grad == pytest.approx(fd_grad(api_square, (3.0,), 0), rel=1e-9), g.source


def test_repeated_calls_are_independent(jit):
    """Tapes and adjoints must not leak from one call into the next."""
    loop = srcdiff.grad(api_loop, jit=jit)
    first = call_or_fail(loop, (0.8, 5))
    call_or_fail(loop, (-0.3, 9))
    call_or_fail(loop, (1.1, 0))
    assert call_or_fail(loop, (0.8, 5)) == first, loop.source
    assert_grad_close(loop, api_loop, (0.8, 5), 0)

    looped_while = srcdiff.grad(api_while, jit=jit)
    first = call_or_fail(looped_while, (3.0,))
    call_or_fail(looped_while, (40.0,))
    assert call_or_fail(looped_while, (3.0,)) == first, looped_while.source
    assert_grad_close(looped_while, api_while, (3.0,), 0)


# --- jit modes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("f", "args", "wrt"),
    [(api_two, (0.7, -1.3), (0, 1)), (api_loop, (0.8, 5), 0), (api_uses_helper, (0.3, 0.9), 1)],
    ids=["straight", "loop", "helper"],
)
def test_jit_true_compiles_with_numba(f, args, wrt):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = srcdiff.grad(f, wrt=wrt, jit=True)
        assert_grad_close(g, f, args, wrt)
    assert not [w for w in caught if not is_foreign_warning(w)], [str(w.message) for w in caught]


def test_default_mode_falls_back_with_one_warning():
    """Provoke a Numba failure srcdiff cannot see at decoration: an object-dtype array argument.

    Only read by index, the array is a pass-through argument, so plain Python runs it fine.
    """
    x = np.array([0.5, -1.2, 2.0], dtype=object)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = srcdiff.grad(api_reads_array, jit=None)
        first = call_or_fail(g, (0.7, x))
        second = call_or_fail(g, (-0.2, x))
    ours = [w for w in caught if not is_foreign_warning(w)]
    assert len(ours) == 1, [f"{w.category.__name__}: {w.message}" for w in ours]
    assert first == pytest.approx(fd_grad(api_reads_array, (0.7, x), 0), rel=1e-6), g.source
    assert second == pytest.approx(fd_grad(api_reads_array, (-0.2, x), 0), rel=1e-6), g.source


def test_jit_true_raises_when_numba_cannot_compile():
    x = np.array([0.5, -1.2, 2.0], dtype=object)
    with pytest.raises(srcdiff.SrcdiffError):
        g = srcdiff.grad(api_reads_array, jit=True)
        g(0.7, x)


def test_jit_false_runs_plain_python_without_warnings():
    x = np.array([0.5, -1.2, 2.0], dtype=object)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = srcdiff.grad(api_reads_array, jit=False)
        assert_grad_close(g, api_reads_array, (0.7, x), 0)
    assert not [w for w in caught if not is_foreign_warning(w)], [str(w.message) for w in caught]


# --- the generated source -------------------------------------------------------------------------


def test_source_available_right_after_decoration(jit):
    g = srcdiff.grad(api_two, wrt=(0, 1), jit=jit)
    source = g.source  # before any call
    assert isinstance(source, str)
    compile(source, "<generated>", "exec")
    assert "import" in source
    basename = os.path.basename(__file__)
    for snippet in ("s = x * y + SCALE", "return math.sin(s) * x"):
        location = f"{basename}:{statement_line(api_two, snippet)}"
        assert location in source, f"no comment pointing to {location} in:\n{source}"


def test_source_points_to_helper_lines():
    g = srcdiff.grad(api_uses_helper, wrt=(0, 1), jit=False)
    location = f"{os.path.basename(__file__)}:{statement_line(api_helper, 'return a * math.exp')}"
    assert location in g.source, f"no comment pointing to {location} in:\n{g.source}"


@pytest.mark.parametrize(
    "f", [api_two, api_loop, api_while, api_uses_helper], ids=lambda f: f.__name__
)
def test_source_is_deterministic(f, jit):
    first = srcdiff.grad(f, wrt=0, jit=jit).source
    # Decorating other functions in between must not shift any generated name.
    srcdiff.grad(api_three, wrt=(0, 2), jit=False)
    srcdiff.value_and_grad(api_loop, jit=False)
    second = srcdiff.grad(f, wrt=0, jit=jit).source
    assert first == second
    assert not re.search(r"0x[0-9a-fA-F]{6,}", first), f"memory address in source:\n{first}"


SUBPROCESS_PROGRAM = """
import math


def helper(a, b):
    return a * math.tanh(b)


def program(x, y, n):
    s = x
    for i in range(n):
        if s > y:
            s = helper(s, y) + i
        else:
            s = s * x
    return s * y
"""

SUBPROCESS_SCRIPT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location(sys.argv[2], sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[sys.argv[2]] = module
spec.loader.exec_module(module)
import srcdiff
sys.stdout.write(srcdiff.grad(module.program, wrt=(0, 1), jit=False).source)
"""


def test_source_is_identical_across_processes(tmp_path):
    program = load_function(tmp_path, SUBPROCESS_PROGRAM, "program")
    here = srcdiff.grad(program, wrt=(0, 1), jit=False).source
    module = sys.modules[program.__module__]
    package_root = str(Path(srcdiff.__file__).resolve().parent.parent)
    outputs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        result = subprocess.run(
            [sys.executable, "-c", SUBPROCESS_SCRIPT, module.__file__, module.__name__],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0] == here


def test_pasted_source_contract():
    """CONTRACT (pasted source): the generated module runs on its own.

    ``compile`` + ``exec`` in a fresh namespace defines ``<fname>_adjoint(*params, g_y=1.0)``
    whose last parameter is the seed (the adjoint of the result, named after it) and which
    returns exactly what the decorated function returns: for ``value_and_grad`` with a tuple
    ``wrt``, ``(value, (d_wrt1, d_wrt2))``.
    """
    g = srcdiff.value_and_grad(api_uses_helper, wrt=(1, 0), jit=False)
    namespace = {"__name__": "pasted_by_user"}
    exec(compile(g.source, "<pasted>", "exec"), namespace)
    adjoint = namespace["api_uses_helper_adjoint"]
    parameters = list(inspect.signature(adjoint).parameters.values())
    assert [p.name for p in parameters[:2]] == ["x", "y"], g.source
    assert len(parameters) == 3 and parameters[-1].name.startswith("g_"), g.source
    assert parameters[-1].default == 1.0, g.source

    args = (0.3, 0.9)
    value, (dy, dx) = adjoint(*args)
    assert (value, (dy, dx)) == g(*args), g.source
    assert value == pytest.approx(api_uses_helper(*args), rel=1e-12), g.source
    assert (dy, dx) == pytest.approx(fd_grad(api_uses_helper, args, (1, 0)), rel=1e-6), g.source

    value2, (dy2, dx2) = adjoint(*args, 2.0)
    assert value2 == pytest.approx(value, rel=1e-14), g.source
    assert (dy2, dx2) == pytest.approx((2.0 * dy, 2.0 * dx), rel=1e-14), g.source
