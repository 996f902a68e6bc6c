"""Pickling: gradients, jvps and the other derivative functions pickle as a reference to the
function and their options, and are made again on the other side, in this process or in a
process pool started with spawn.

Tests whose names contain ``processes`` start fresh Python interpreters; deselect them with
``-k "not processes"``. Every pool gets its own cache directory and a timeout.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import inspect
import multiprocessing
import pickle
import sys

import numpy as np
import pytest

import srcdiff

CHILD_TIMEOUT = 120  # seconds; generous, so a loaded machine fails slowly rather than falsely
MODULE = "srcdiff_pickled_program"
PROGRAM = """\
import math

import numpy as np

import srcdiff


def quiz(x, z):
    return math.exp(x * z) + x * z / math.log(x) + math.sin(math.log(x)) / (x * z)


@srcdiff.grad(wrt=("x", "z"))
def decorated_quiz(x, z):
    return math.exp(x * z) + x * z / math.log(x) + math.sin(math.log(x)) / (x * z)


def loss(w, x):
    return np.sum(np.tanh(x @ w) ** 2)
"""
POINTS = [(2.0, 3.0), (1.5, 0.7), (3.0, -0.5), (0.5, 2.0), (4.0, 0.25)]


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """The module holding the functions, importable by name (here and in a pool's children)."""
    directory = tmp_path_factory.mktemp("pickled")
    (directory / f"{MODULE}.py").write_text(PROGRAM)
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module(MODULE)
    finally:
        sys.path.remove(str(directory))
        sys.modules.pop(MODULE, None)


def round_trip(obj):
    return pickle.loads(pickle.dumps(obj))


# --- in this process ----------------------------------------------------------------------------


@pytest.mark.parametrize("transform", [srcdiff.grad, srcdiff.value_and_grad])
@pytest.mark.parametrize("wrt", [0, "z", ("z", "x")], ids=repr)
def test_a_gradient_of_a_module_function_is_made_again_from_it(program, transform, wrt):
    g = transform(program.quiz, wrt=wrt)
    again = round_trip(g)
    assert again.__wrapped__ is program.quiz
    assert inspect.signature(again) == inspect.signature(program.quiz)
    assert again.__srcdiff__.wrt == g.__srcdiff__.wrt
    for point in POINTS:
        assert again(*point) == g(*point), again.source
    assert round_trip(g) is again  # made once per process, as a pool unpickles it per batch


def test_the_options_travel_with_the_gradient(program):
    g = srcdiff.grad(program.loss, wrt=(0,), jit=False, backend="numpy", optimize=False)
    again = round_trip(g)
    gradient = again.__srcdiff__
    assert (gradient._jit, gradient._backend, gradient._optimize) == (False, "numpy", False)
    w, x = np.array([0.3, -0.2]), np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.1]])
    (expected,), (found,) = g(w, x), again(w, x)
    np.testing.assert_array_equal(found, expected)
    assert "Backend: plain Python on NumPy" in again.source


def test_a_decorated_gradient_unpickles_as_itself(program):
    assert round_trip(program.decorated_quiz) is program.decorated_quiz
    assert round_trip(program.decorated_quiz)(2.0, 3.0) == program.decorated_quiz(2.0, 3.0)


def test_a_gradient_of_a_decorated_function_refers_to_it_through_the_decorated_name(program):
    # @grad put its gradient under the function's name; value_and_grad of the function
    # itself is saved as "the function that gradient was made of"
    g = srcdiff.value_and_grad(program.decorated_quiz.__wrapped__, wrt=1)
    again = round_trip(g)
    assert again.__wrapped__ is program.decorated_quiz.__wrapped__
    assert again(2.0, 3.0) == g(2.0, 3.0)


def test_forward_mode_and_second_derivatives_pickle_too(program):
    f, args = program.quiz, (2.0, 3.0)
    made = [
        (srcdiff.jvp(f, wrt=(0, 1)), (*args, (1.0, 0.5))),
        (srcdiff.derivative(f, 1), args),
        (srcdiff.jacobian(f, (0, 1), mode="forward"), args),
        (srcdiff.hessian(f, (0, 1)), args),
        (srcdiff.hvp(f, 0), (*args, 1.0)),
        (srcdiff.grad(srcdiff.grad(f), wrt=1), args),
        (srcdiff.grad(program.decorated_quiz.__wrapped__, wrt=0), args),
    ]
    for function, call in made:
        again = round_trip(function)
        assert again(*call) == function(*call), repr(function)
        assert round_trip(function) is again, repr(function)
    derivative = round_trip(srcdiff.derivative(f, 1))
    derivative(*args)
    assert "def quiz_jvp(" in derivative.source, derivative.source


def test_a_function_defined_inside_another_cannot_be_pickled_and_the_error_says_why():
    def inner(x):
        return x * x

    for made in (srcdiff.grad(inner), srcdiff.value_and_grad(inner), srcdiff.jvp(inner)):
        with pytest.raises(pickle.PicklingError, match="defined inside another function"):
            pickle.dumps(made)
    with pytest.raises(pickle.PicklingError, match="srcdiff hessian of .*inner.*top level"):
        pickle.dumps(srcdiff.hessian(inner))


def test_a_function_whose_name_now_holds_another_object_cannot_be_pickled(program, monkeypatch):
    g = srcdiff.grad(program.quiz)
    monkeypatch.setattr(program, "quiz", program.loss)
    with pytest.raises(pickle.PicklingError, match=f"{MODULE}.quiz is another object"):
        pickle.dumps(g)


# --- in other processes -------------------------------------------------------------------------


@pytest.fixture
def pool_cache(tmp_path, monkeypatch):
    """A cache directory of the test's own, seen here and by the pool's children."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("SRCDIFF_CACHE_DIR", str(directory))
    return directory


def numba_index(directory):
    """Numba's index files, name -> mtime: a child that compiled again would rewrite them."""
    return {p.name: p.stat().st_mtime_ns for p in (directory / "__pycache__").glob("*.nbi")}


def test_processes_of_a_spawn_pool_map_a_gradient(program, pool_cache):
    g = srcdiff.grad(program.quiz, wrt=("x", "z"), jit=True)
    expected = [g(*point) for point in POINTS]
    modules, index = sorted(pool_cache.glob("srcdiff_*.py")), numba_index(pool_cache)
    assert modules and index
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        found = pool.starmap_async(g, POINTS, chunksize=1).get(timeout=CHILD_TIMEOUT)
    assert found == expected
    # the children made the same module and took its machine code from the cache (they also
    # made the module of the decorated gradient, importing the program)
    assert set(modules) <= set(pool_cache.glob("srcdiff_*.py"))
    after = numba_index(pool_cache)
    assert {name: after.get(name) for name in index} == index


def test_processes_of_a_spawn_executor_map_decorated_and_forward_functions(program, pool_cache):
    decorated, derivative = program.decorated_quiz, srcdiff.derivative(program.quiz, "z")
    xs, zs = zip(*POINTS, strict=True)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as executor:
        gradients = list(executor.map(decorated, xs, zs, timeout=CHILD_TIMEOUT))
        derivatives = list(executor.map(derivative, xs, zs, timeout=CHILD_TIMEOUT))
    assert gradients == [decorated(*point) for point in POINTS]
    assert derivatives == [derivative(*point) for point in POINTS]
