"""Shared test machinery: independent reference gradients and helpers that show generated code.

Every reference value here is computed without srcdiff: centred finite differences of the
original Python function (Richardson-extrapolated), or sympy.diff of the same function executed
on symbols. A failing gradient check always prints the source srcdiff generated.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import inspect
import math
import os
import shutil
import sys
import tempfile
import textwrap
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy

_saved_cache_dir: str | None = None
_session_cache_dir: str | None = None


def pytest_configure(config):
    # srcdiff keeps compiled code in a cache; the tests must never write into the user's home.
    global _saved_cache_dir, _session_cache_dir
    _saved_cache_dir = os.environ.get("SRCDIFF_CACHE_DIR")
    _session_cache_dir = tempfile.mkdtemp(prefix="srcdiff-test-cache-")
    os.environ["SRCDIFF_CACHE_DIR"] = _session_cache_dir


def pytest_unconfigure(config):
    if _saved_cache_dir is None:
        os.environ.pop("SRCDIFF_CACHE_DIR", None)
    else:
        os.environ["SRCDIFF_CACHE_DIR"] = _saved_cache_dir
    if _session_cache_dir is not None:
        shutil.rmtree(_session_cache_dir, ignore_errors=True)


# --- execution modes ----------------------------------------------------------------------------


def is_foreign_warning(record: warnings.WarningMessage) -> bool:
    """Warnings that cannot be srcdiff's fallback notice: Numba's own, and deprecations."""
    if issubclass(record.category, DeprecationWarning | PendingDeprecationWarning):
        return True
    try:
        from numba.core.errors import NumbaWarning
    except ImportError:  # pragma: no cover - numba is a hard dependency
        return False
    return issubclass(record.category, NumbaWarning)


@contextlib.contextmanager
def no_fallback_warning():
    """Fail if srcdiff warned (in default mode that means it fell back to plain Python).

    Warnings issued by Numba itself, and deprecation warnings, are ignored: the fallback
    warning is srcdiff's own.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    unexpected = [w for w in caught if not is_foreign_warning(w)]
    assert not unexpected, "default (Numba) mode emitted warnings, probably a fallback:\n" + (
        "\n".join(f"{w.category.__name__}: {w.message}" for w in unexpected)
    )


@pytest.fixture(params=[False, None], ids=["python", "numba"])
def jit(request):
    """The ``jit=`` argument to pass: plain generated Python, or the default Numba mode.

    In the default mode a fallback to Python would make the test pass without Numba ever
    compiling the code, so that mode also fails on any srcdiff warning.
    """
    if request.param is None:
        with no_fallback_warning():
            yield None
    else:
        yield False


# --- locating things in user files --------------------------------------------------------------


def marker_line(func, marker: str) -> int:
    """Line number (1-based) of the line ending with ``# <marker>`` in ``func``'s file."""
    path = inspect.getsourcefile(func)
    suffix = f"# {marker}"
    for number, text in enumerate(Path(path).read_text().splitlines(), start=1):
        if text.rstrip().endswith(suffix):
            return number
    raise LookupError(f"no line ending with {suffix!r} in {path}")


def statement_line(func, snippet: str) -> int:
    """Line number of the first line of ``func``'s source that contains ``snippet``."""
    lines, first = inspect.getsourcelines(func)
    for offset, text in enumerate(lines):
        if snippet in text:
            return first + offset
    raise LookupError(f"{snippet!r} not in the source of {func.__name__}")


# --- loading generated test programs ------------------------------------------------------------


def load_function(tmp_path: Path, source: str, name: str):
    """Write ``source`` to a module under ``tmp_path``, import it and return ``name`` from it.

    The module name is derived from the source text, so the same program is written and
    imported once; different programs never share a file (``inspect`` caches lines by file).
    """
    source = textwrap.dedent(source)
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    module_name = f"srcdiff_testprog_{digest}"
    module = sys.modules.get(module_name)
    if module is None:
        path = Path(tmp_path) / f"{module_name}.py"
        if not path.exists():
            path.write_text(source)
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    return getattr(module, name)


# --- reference gradients ------------------------------------------------------------------------


def _positions(f, wrt) -> tuple[list[int], bool]:
    names = list(inspect.signature(f).parameters)
    single = not isinstance(wrt, tuple)
    positions = []
    for item in (wrt,) if single else wrt:
        positions.append(names.index(item) if isinstance(item, str) else item)
    return positions, single


def fd_grad(f, args, wrt, *, rel_step: float = 1e-5):
    """Centred finite differences of ``f`` at ``args`` w.r.t. ``wrt``, Richardson-extrapolated.

    ``wrt`` is a position, a parameter name, or a tuple of them (then a tuple is returned).
    The step is scaled by the magnitude of the argument. At kinks the centred difference is
    the average of the one-sided slopes (abs'(0) = 0, max at a tie gives 1/2 to each side).
    """
    positions, single = _positions(f, wrt)
    grads = []
    for pos in positions:
        x0 = float(args[pos])
        h = rel_step * max(1.0, abs(x0))

        def at(x, pos=pos):
            shifted = list(args)
            shifted[pos] = x
            return float(f(*shifted))

        def centred(step, x0=x0, at=at):
            up, down = x0 + step, x0 - step
            return (at(up) - at(down)) / (up - down)

        coarse, fine = centred(h), centred(h / 2)
        grads.append((4.0 * fine - coarse) / 3.0)
    return grads[0] if single else tuple(grads)


def _sympy_math():
    return types.SimpleNamespace(
        sin=sympy.sin, cos=sympy.cos, tan=sympy.tan,
        asin=sympy.asin, acos=sympy.acos, atan=sympy.atan, atan2=sympy.atan2,
        sinh=sympy.sinh, cosh=sympy.cosh, tanh=sympy.tanh,
        exp=sympy.exp, expm1=lambda v: sympy.exp(v) - 1,
        log=sympy.log, log1p=lambda v: sympy.log(1 + v),
        log2=lambda v: sympy.log(v, 2), log10=lambda v: sympy.log(v, 10),
        sqrt=sympy.sqrt, hypot=lambda a, b: sympy.sqrt(a**2 + b**2), pow=sympy.Pow,
        pi=math.pi, e=math.e,
    )  # fmt: skip


def _sympy_numpy():
    shim = _sympy_math()
    shim.arcsin, shim.arccos, shim.arctan = sympy.asin, sympy.acos, sympy.atan
    shim.arctan2, shim.power, shim.abs = sympy.atan2, sympy.Pow, sympy.Abs
    return shim


def sympy_function(f):
    """Re-execute ``f``'s own source with math/numpy/abs/min/max/pow meaning their sympy twins.

    Module-level helpers that ``f`` calls are re-executed the same way. Only straight-line
    code (no branches on the arguments) can be run on symbols.
    """
    namespace = dict(f.__globals__)
    for key, value in f.__globals__.items():
        if value is math:
            namespace[key] = _sympy_math()
        elif value is np:
            namespace[key] = _sympy_numpy()
    namespace.update(abs=sympy.Abs, min=sympy.Min, max=sympy.Max, pow=sympy.Pow)
    pending, done = [f], set()
    while pending:
        func = pending.pop()
        if func.__name__ in done:
            continue
        done.add(func.__name__)
        source = textwrap.dedent(inspect.getsource(func))
        exec(compile(source, "<sympy twin>", "exec"), namespace)
        for node in ast.walk(ast.parse(source)):
            called = f.__globals__.get(node.id) if isinstance(node, ast.Name) else None
            if isinstance(called, types.FunctionType) and called.__module__ == f.__module__:
                pending.append(called)
    return namespace[f.__name__]


def sympy_grad(f, args, wrt):
    """Exact gradient of straight-line ``f`` at ``args`` via sympy.diff, as float(s)."""
    positions, single = _positions(f, wrt)
    symbols = {pos: sympy.Symbol(f"a{pos}", real=True) for pos in positions}
    symbolic_args = [symbols.get(pos, value) for pos, value in enumerate(args)]
    expression = sympy.sympify(sympy_function(f)(*symbolic_args))
    point = {symbols[pos]: sympy.Float(float(args[pos]), 40) for pos in positions}
    grads = tuple(
        float(sympy.diff(expression, symbols[pos]).subs(point).evalf(40)) for pos in positions
    )
    return grads[0] if single else grads


# --- assertions that show the generated source --------------------------------------------------


def generated_source(g) -> str:
    return getattr(g, "source", "<the returned object has no .source attribute>")


def _fail(g, message: str):
    return AssertionError(f"{message}\n----- generated source -----\n{generated_source(g)}")


def call_or_fail(g, args, kwargs=None):
    """Call ``g``; if it raises, fail with the generated source attached."""
    try:
        return g(*args, **(kwargs or {}))
    except Exception as exc:
        raise _fail(g, f"calling the gradient at args={args!r} raised {exc!r}") from exc


def check_structure(g, got, wrt, what: str = "gradient"):
    """A single ``wrt`` gives a float, a tuple ``wrt`` gives a tuple of floats (same length)."""
    if isinstance(wrt, tuple):
        if not (isinstance(got, tuple) and len(got) == len(wrt)):
            raise _fail(g, f"{what} for wrt={wrt!r} should be a {len(wrt)}-tuple, got {got!r}")
        items = got
    else:
        items = (got,)
    for item in items:
        if not isinstance(item, float):
            raise _fail(g, f"{what} for wrt={wrt!r} should hold floats, got {got!r}")


def assert_values_close(g, got, expected, *, rtol: float, atol: float, what: str):
    got_items = got if isinstance(got, tuple) else (got,)
    expected_items = expected if isinstance(expected, tuple) else (expected,)
    bad = [
        (index, a, b)
        for index, (a, b) in enumerate(zip(got_items, expected_items, strict=True))
        if not (math.isfinite(a) and abs(a - b) <= atol + rtol * abs(b))
    ]
    if bad:
        details = ", ".join(f"[{i}] srcdiff {a!r} vs reference {b!r}" for i, a, b in bad)
        raise _fail(g, f"{what}: {details}")


def assert_grad_close(g, f, args, wrt, *, rtol: float = 1e-6, atol: float = 1e-8):
    """``g(*args)`` agrees with centred finite differences of the original ``f``."""
    got = call_or_fail(g, args)
    check_structure(g, got, wrt)
    expected = fd_grad(f, args, wrt)
    assert_values_close(
        g, got, expected, rtol=rtol, atol=atol,
        what=f"{f.__name__}{tuple(args)!r} wrt={wrt!r} vs finite differences",
    )  # fmt: skip
    return got


def assert_grad_matches_sympy(g, f, args, wrt, *, rtol: float = 1e-9, atol: float = 1e-12):
    """``g(*args)`` agrees with sympy.diff of the same (straight-line) function."""
    got = call_or_fail(g, args)
    check_structure(g, got, wrt)
    expected = sympy_grad(f, args, wrt)
    assert_values_close(
        g, got, expected, rtol=rtol, atol=atol,
        what=f"{f.__name__}{tuple(args)!r} wrt={wrt!r} vs sympy.diff",
    )  # fmt: skip
    return got
