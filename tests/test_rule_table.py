"""The whole rule table, entry by entry (in the manner of autograd's test_systematic and
JAX's lax_autodiff_test).

Every entry of ``PRIMITIVES`` (array variants ``name[]`` included) states every fact later
stages ask for, and its calculus is checked on its own printed form, run with NumPy at
sample points inside its domain (the entry's ``samples``, or numbers that its
``math_domain`` admits):

* each VJP against centred finite differences: <g, J t> ~ <VJP(g), t>, along a random
  direction ``t`` and cotangent ``g``;
* each tangent (forward-mode rule, stated or read off the VJP) against the VJP transposed:
  <g, J t> == <J^T g, t>;
* a zero derivative (``None`` VJPs) is zero there; the compiler's internal helpers are
  used by no tangent (the code they appear in is never differentiated).
"""

from __future__ import annotations

import ast
import math

import numpy as np
import pytest

from srcdiff import runtime
from srcdiff.buffers import LAYOUT_RULES
from srcdiff.ir import Const, Expr, Name, Op
from srcdiff.rules import BUILT_IN, PRIMITIVES, Primitive, substitute
from srcdiff.rules.traits import UNSTATED, SymPyForm

ENTRIES = sorted(BUILT_IN)
NAMESPACE = {"np": np, "math": math, **runtime.PYTHON_VERSIONS}
STEP = 1e-6

# numbers of no special meaning (no kinks, ties or integers), per arity
SCALAR_POINTS = {
    1: [(0.37,), (-0.61,), (1.43,), (2.2,), (-1.7,)],
    2: [(0.37, 1.43), (-0.61, 0.83), (1.7, -0.45), (2.2, 0.6)],
    3: [(0.37, -0.61, 1.43), (1.7, -0.45, 0.9), (-0.2, 0.5, 1.1)],
}
SCALAR_KINDS = {bool: "bool", int: "int", float: "float", str: "str", type(None): "none"}


# --- running a primitive and its templates ------------------------------------------------------
def printed(name: str):
    """The primitive as its printed form, a Python function."""
    prim = PRIMITIVES[name]
    source = f"lambda {', '.join(prim.params)}: {ast.unparse(prim.form)}"
    return eval(source, dict(NAMESPACE))  # noqa: S307 (the rule table)


def evaluate(expr: Expr, env: dict):
    """A template at concrete values, each primitive run as its printed form (the array
    form where an argument is an array); an ``at`` (g at position i) as that sparse array,
    represented by its indices and values."""
    if isinstance(expr, Name):
        return env[expr.id]
    if isinstance(expr, Const):
        return expr.value
    args = [evaluate(a, env) for a in expr.args]
    prim = PRIMITIVES[expr.prim]
    if prim.scatter:
        return ("at", tuple(args[:-1]), args[-1])
    if prim.array_variant is not None and any(isinstance(a, np.ndarray) for a in args):
        prim = PRIMITIVES[prim.array_variant]
    with np.errstate(all="ignore"):
        return printed(prim.name)(*args)


def dense(value, like):
    """A VJP's value as an array of its argument's shape (or a number)."""
    if isinstance(value, tuple) and value and value[0] == "at":
        _, indices, g = value
        out = np.zeros_like(like, dtype=float)
        np.add.at(out, indices if len(indices) > 1 else indices[0], g)
        return out
    return np.broadcast_to(value, np.shape(like)) if np.ndim(value) < np.ndim(like) else value


def kind_of(value) -> str:
    if isinstance(value, np.ndarray):
        element = {"f": "float", "i": "int", "b": "bool"}[value.dtype.kind]
        return f"array:{element}:{value.ndim}"
    if isinstance(value, tuple):
        return f"shape:{len(value)}"
    if isinstance(value, slice):
        return "slice"
    return SCALAR_KINDS.get(type(value), "float")


def differentiable(value) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f"
    return type(value) is float


# --- sample points ----------------------------------------------------------------------------
def inside(prim: Primitive, args: tuple) -> bool:
    """The arguments are in the primitive's domain, where it is finite."""
    if prim.math_domain is not None:
        env = dict(zip(prim.params, args, strict=True))
        if evaluate(prim.math_domain, env):
            return False
    try:
        with np.errstate(all="raise"):
            value = printed(prim.name)(*args)
        return bool(np.all(np.isfinite(np.asarray(value, dtype=float))))
    except Exception:  # noqa: BLE001 (not a point of its domain: a number where an array goes)
        return False


def samples(name: str) -> list[tuple]:
    prim = PRIMITIVES[name]
    if prim.samples is not None:
        return prim.samples(np.random.default_rng(0))
    base = PRIMITIVES[name.removesuffix("[]")]
    points = [p for p in SCALAR_POINTS.get(len(prim.params), []) if inside(base, p)]
    if not name.endswith("[]") or not points:
        return points
    columns = [points[k % len(points)] for k in range(3)]  # arrays of three such points
    return [tuple(np.array(column) for column in zip(*columns, strict=True))]


# --- the facts --------------------------------------------------------------------------------
def vjps(prim: Primitive, args: tuple):
    return prim.vjps_for(tuple(kind_of(a) for a in args))


def tangent_templates(prim: Primitive, args: tuple) -> tuple[Expr | None, ...]:
    """The forward-mode rule: stated, or the VJP with g replaced by t (J is diagonal)."""
    if prim.tangents:
        return prim.tangents
    return tuple(None if v is None else substitute(v, {"g": Name("t")}) for v in vjps(prim, args))


@pytest.mark.parametrize("name", ENTRIES)
def test_every_entry_states_every_fact(name):
    prim = PRIMITIVES[name]
    assert prim.sympy is not UNSTATED, f"{name}: say how SymPy computes it, or sympy=None"
    assert prim.sympy is None or isinstance(prim.sympy, SymPyForm)
    assert len(prim.vjp_sources) == len(prim.params)
    assert callable(prim.result_kind)
    assert prim.layout is None or prim.layout in LAYOUT_RULES, prim.layout
    assert prim.dtype in (None, "first", "joined") or np.dtype(prim.dtype)
    assert prim.python_error in (None, "division", "power", "conversion")
    assert prim.opaque is None, "built-in rules know their derivatives"
    assert not (prim.fresh and prim.view), "new memory, or a view: not both"
    assert all(0 <= k < len(prim.params) for k in prim.shape_only)
    if prim.python_error == "division":
        with pytest.raises(ZeroDivisionError):
            prim.evaluate(1.0, 0.0)
    has_vjp = any(v is not None for v in prim.vjps) or prim.rank_vjps
    if prim.internal:
        assert not has_vjp and not prim.tangent_sources
    if has_vjp and prim.arrays and not prim.elementwise:  # a primitive of arrays: its tangents
        assert len(prim.tangent_sources) == len(prim.params), f"{name}: state its tangents"
        for k, rule in enumerate(prim.tangent_sources):
            if rule is not None:
                assert any(vs[k] is not None for vs in [prim.vjps, *prim.rank_vjps.values()])
    if has_vjp:
        assert samples(name), f"{name}: give it samples inside its domain"


def test_no_tangent_uses_an_internal_helper():
    def ops(expr):
        if isinstance(expr, Op):
            yield expr.prim
            for a in expr.args:
                yield from ops(a)

    for name in ENTRIES:
        for template in PRIMITIVES[name].tangents:
            used = {p for p in ops(template)} if template is not None else set()
            assert not any(PRIMITIVES[p].internal for p in used), (name, used)


def test_bindings_methods_and_attributes_name_entries():
    from srcdiff.rules import ALIASES, CALLS, attribute_for, binding_for, method_for

    for target in set(ALIASES.values()):
        assert target in PRIMITIVES or target in CALLS, target
        binding_for(target)  # raises for a name with no rule
    for name in ENTRIES:
        for method in PRIMITIVES[name].methods:
            assert method_for(method) == name
        for attribute in PRIMITIVES[name].attributes:
            assert attribute_for(attribute) == name
    with pytest.raises(KeyError):
        binding_for("no_such_primitive")


def close(a: float, b: float, tolerance: float = 2e-5) -> bool:
    return abs(a - b) <= tolerance * (1.0 + abs(a) + abs(b))


@pytest.mark.parametrize("name", [n for n in ENTRIES if not PRIMITIVES[n].internal])
def test_vjp_matches_finite_differences_and_tangent(name):
    prim = PRIMITIVES[name]
    rng = np.random.default_rng(1)
    f = printed(name)
    for args in samples(name):
        ans = f(*args)
        env = dict(zip(prim.params, args, strict=True))
        rules = vjps(prim, args)
        tangents = tangent_templates(prim, args)
        for k, arg in enumerate(args):
            if not differentiable(arg):
                continue
            t = rng.standard_normal(np.shape(arg)) if np.ndim(arg) else float(rng.standard_normal())
            g = rng.standard_normal(np.shape(ans)) if np.ndim(ans) else float(rng.standard_normal())

            def at(step, k=k, t=t, args=args):
                moved = list(args)
                moved[k] = args[k] + step * t
                return np.asarray(f(*moved), dtype=float)

            jt = (at(STEP) - at(-STEP)) / (2 * STEP)  # J t, centred
            seen = float(np.sum(g * jt))
            if rules[k] is None:  # a zero derivative: zero here
                assert close(seen, 0.0), f"{name}: derivative {seen} in argument {k}, not 0"
                continue
            pulled = dense(evaluate(rules[k], {**env, "g": g, "ans": ans}), arg)
            transposed = float(np.sum(pulled * t))
            assert close(seen, transposed, 1e-4), (
                f"{name} at {args}: <g, J t> = {seen} by finite differences, "
                f"<VJP(g), t> = {transposed}"
            )
            if tangents[k] is None:  # stated: forward mode refuses it
                continue
            pushed = evaluate(tangents[k], {**env, "t": t, "ans": ans})
            forward = float(np.sum(g * np.asarray(pushed, dtype=float)))
            assert close(forward, transposed), (
                f"{name}: <g, tangent(t)> = {forward} but <VJP(g), t> = {transposed}"
            )


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in ENTRIES
        if isinstance(PRIMITIVES[n].sympy, SymPyForm) and PRIMITIVES[n].sympy.how == "each"
    ],  # fmt: skip
)
def test_sympy_form_computes_the_primitive(name):
    """An elementwise SymPy form gives the printed form's value at the sample points."""
    sympy = pytest.importorskip("sympy")
    function = PRIMITIVES[name].sympy.build(sympy)
    for args in samples(name.removesuffix("[]")):
        expected = printed(name.removesuffix("[]"))(*args)
        assert close(float(function(*args)), float(expected), 1e-12), (name, args)


# --- a new entry works through the whole compiler -----------------------------------------------
def centred_gradient(f, x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-6
        out[index] = (f(x + step) - f(x - step)) / 2e-6
    return out


def running_sum_1d(x):
    return np.sum(np.cumsum(x) ** 2)


def running_sum_rows(x):
    return np.sum(np.sin(np.cumsum(x, axis=1)) * x)


def running_sum_method(x):
    return np.sum(x.cumsum(axis=0) ** 2) + np.sum(np.cumsum(x[0], axis=None))


def cube_roots(x):
    return np.sum(np.cbrt(x) * x)


def cube_root_loop(x):
    total = 0.0
    for i in range(x.shape[0]):
        total = total + np.cbrt(x[i]) * x[i]
    return total


@pytest.mark.parametrize(
    ("f", "x"),
    [
        (running_sum_1d, np.linspace(0.2, 1.4, 5)),
        (running_sum_rows, np.linspace(0.2, 1.4, 12).reshape(3, 4)),
        (running_sum_method, np.linspace(0.2, 1.4, 12).reshape(4, 3)),
    ],
)
def test_cumsum_gradient(f, x):
    import srcdiff

    got = srcdiff.grad(f, backend="numpy", jit=False)(x)
    np.testing.assert_allclose(got, centred_gradient(f, x), rtol=1e-6, atol=1e-8)
    auto = srcdiff.grad(f, jit=False)(x)  # chosen for it: NumPy, as Numba lacks cumsum's axis
    np.testing.assert_allclose(auto, got, rtol=1e-12)


def test_cumsum_has_no_numba_form():
    import srcdiff
    from srcdiff.errors import SrcdiffError

    with pytest.raises(SrcdiffError, match="no Numba version"):
        srcdiff.grad(running_sum_1d, backend="numba", jit=False)(np.ones(3))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("f", [cube_roots, cube_root_loop])
def test_cbrt_gradient(f, backend):
    import srcdiff

    x = np.array([0.3, -1.2, 2.5, 0.8])
    got = srcdiff.grad(f, backend=backend)(x)  # compiled: Numba has np.cbrt
    np.testing.assert_allclose(got, centred_gradient(f, x), rtol=1e-6, atol=1e-8)
