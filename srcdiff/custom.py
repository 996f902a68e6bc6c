"""Derivative rules users give their own functions: ``srcdiff.register_rule``.

A registered function becomes a primitive, through the same ``defrule`` the built-in rules
use: wherever it is called, srcdiff calls it as it is (generated code imports it from this
module, ``from srcdiff.custom import softplus``) and differentiates it by the rule. So the
function may be one srcdiff cannot read (a SciPy special function, a C extension), or one it
can but should not (a numerically stable derivative).

    def softplus(x):
        return math.log1p(math.exp(x))

    srcdiff.register_rule(softplus, "g / (1 + exp(-x))")

A VJP is a template in terms of the function's parameter names, ``g`` (the adjoint of the
result) and ``ans`` (the result), calling primitives by name as the built-in rules do
(``exp``, ``sqrt``, ``cos``, ...), or a Python callable ``vjp(g, ans, *args)``, itself
called from the generated code. Numba compiles code calling the function, or a callable
VJP, only if it is a Numba function (``numba.njit``); otherwise srcdiff runs that code on
NumPy.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable

import numpy as np

from .errors import SrcdiffError
from .rules import PRIMITIVES, alias, defrule, elementwise, parse_rule, tangent

LETTERS = "xyzabcuvw"  # the parameter names of printed forms
NAMES: list[str] = []  # what generated code imports from this module


def register_rule(
    fn: Callable,
    *vjps: str | Callable | None,
    tangents: tuple[str | None, ...] | None = None,
    elementwise_on_arrays: bool = False,
) -> str:
    """Give ``fn`` its own reverse-mode rule: one VJP per parameter (None where the
    derivative is zero), a template string or a callable ``vjp(g, ans, *args)``.
    ``elementwise_on_arrays``: ``fn`` also applies element by element to arrays, and its
    VJPs with it (always so for a NumPy ufunc, whose parameters are named x, y, ...).
    Forward mode reads tangents off the VJPs; a function of arrays that is not elementwise
    needs ``tangents`` (templates in ``t``, the tangent of that argument). Returns the name
    generated code calls ``fn`` by."""
    params = _parameters(fn)
    if {"g", "ans", "t"} & set(params):
        raise SrcdiffError(f"{_name(fn)}: g, ans and t name the adjoint, result and tangent")
    if len(vjps) != len(params):
        raise SrcdiffError(f"{_name(fn)} has {len(params)} parameters but {len(vjps)} VJPs")
    letters = dict(zip(params, LETTERS, strict=False))
    name = _fresh(_name(fn))
    _export(name, fn)
    form = f"{name}({', '.join(letters.values())})"
    templates = [
        None if v is None else _callable_vjp(name, k, v, letters) if callable(v) else v
        for k, v in enumerate(vjps)
    ]
    defrule(
        name,
        form,
        *(None if t is None else _renamed(t, letters) for t in templates),
        result="float",
        numba=_numba_function(fn),
    )
    if elementwise_on_arrays or isinstance(fn, np.ufunc):
        elementwise(name)
    if tangents is not None:
        tangent(name, *(None if t is None else _renamed(t, letters) for t in tangents))
    parse_rule(name)
    alias(name, fn)
    return name


def _parameters(fn: Callable) -> list[str]:
    if isinstance(fn, np.ufunc):  # (x, /, out=None, *, where=True, ...): its inputs
        return list(LETTERS[: fn.nin])
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # a C function without a signature
        raise SrcdiffError(f"cannot read the parameters of {_name(fn)}") from None
    if len(params) > len(LETTERS):
        raise SrcdiffError(f"{_name(fn)} has more than {len(LETTERS)} parameters")
    return params


def _name(fn: Callable) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _fresh(base: str) -> str:
    """A name for generated code, clashing with no primitive or registered function."""
    base = base if base.isidentifier() else "user_function"
    name, n = base, 1
    while name in PRIMITIVES or name in NAMES:
        name, n = f"{base}_{n}", n + 1
    return name


def _export(name: str, fn: Callable) -> None:
    globals()[name] = fn
    NAMES.append(name)


def _numba_function(fn: Callable) -> bool:
    return hasattr(fn, "py_func")  # a numba.njit dispatcher


def _callable_vjp(name: str, k: int, vjp: Callable, letters: dict[str, str]) -> str:
    """Register a callable VJP as a primitive of its own; the template calling it."""
    vjp_name = _fresh(f"{name}_vjp{k}")
    _export(vjp_name, vjp)
    free = [c for c in LETTERS if c not in letters.values()][:2]  # for g and ans
    form = f"{vjp_name}({', '.join([*free, *letters.values()])})"
    defrule(vjp_name, form, *([None] * (len(letters) + 2)), numba=_numba_function(vjp))
    parse_rule(vjp_name)
    return f"{vjp_name}(g, ans, {', '.join(letters)})"


def _renamed(text: str, letters: dict[str, str]) -> str:
    """A template in the user's parameter names, in the printed form's letters."""
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in letters:
            node.id = letters[node.id]
    return ast.unparse(tree)
