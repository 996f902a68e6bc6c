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
from .rules import (
    PRIMITIVES,
    KindError,
    alias,
    defrule,
    differentiable_kind,
    parse_rule,
)

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
    needs ``tangents`` (templates in ``t``, the tangent of that argument). srcdiff cannot
    differentiate a callable VJP: second derivatives through ``fn`` need template VJPs.
    Returns the name generated code calls ``fn`` by."""
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
        elementwise=elementwise_on_arrays or isinstance(fn, np.ufunc),
        tangents=tuple(None if t is None else _renamed(t, letters) for t in tangents or ()),
    )
    parse_rule(name)
    alias(name, fn)
    return name


# functions generated code calls as they are (library functions, gradients):
# (id of the function, number of arguments) -> its primitive
CALLED: dict[tuple[int, int], str] = {}
CALLED_OBJECTS: list[Callable] = []  # keeps the ids valid


def library_function(fn: Callable, arity: int, spelled: str) -> str:
    """The primitive for a function srcdiff has no rule for and does not read (a builtin, a
    function of NumPy, SciPy or another installed package): generated code calls it where
    its arguments are numbers that do not depend on what is differentiated
    (``math.lgamma(0.5 * n)``); differentiating through it is an error that names it and
    ``register_rule``. ``spelled``: how the user's code names it, for messages."""
    key = (id(fn), arity)
    if key not in CALLED:
        export = next((n for n in NAMES if globals()[n] is fn), None)
        if export is None:
            export = _fresh(_name(fn))
            _export(export, fn)
        name = _fresh(f"{export}_{arity}")
        letters = LETTERS[:arity]
        defrule(
            name,
            f"{export}({', '.join(letters)})",
            *([None] * arity),
            result=_numbers_only(spelled),
            numba=_numba_supports(fn),
        )
        PRIMITIVES[name].loose = True  # its kind rule says what it takes
        PRIMITIVES[name].opaque = _no_rule(spelled)
        parse_rule(name)
        CALLED[key] = name
        CALLED_OBJECTS.append(fn)
    return CALLED[key]


def gradient_function(gradient: Callable, arity: int, spelled: str) -> str:
    """The primitive for a srcdiff gradient called inside a function being differentiated
    (an optimiser's inner step): generated code calls the gradient as it is, and its VJP,
    a Hessian-vector product, comes from differentiating the gradient's function again
    (reverse over forward, as ``srcdiff.hvp``). Forward mode takes the same products as
    tangents, the Hessian being symmetric. ``spelled``: how the user's code names it."""
    state = gradient.__srcdiff__
    if state._with_value or state._wrt_tuple:
        raise SrcdiffError(
            f"`{spelled}` returns a tuple: srcdiff differentiates through a gradient "
            "called inside the function for one wrt only (grad(f, wrt=...), not "
            "value_and_grad or a tuple wrt)"
        )
    if arity != len(state._params):
        raise SrcdiffError(f"`{spelled}` is called with {arity} of its {len(state._params)} "
                           "arguments; pass them all")  # fmt: skip
    if arity >= len(LETTERS):
        raise SrcdiffError(f"`{spelled}` has more than {len(LETTERS) - 1} parameters")
    key = (id(gradient), arity)
    if key not in CALLED:
        export = _fresh(f"grad_{_name(gradient)}")
        _export(export, gradient)
        letters = LETTERS[:arity]
        direction = state._wrt_positions[0]
        name = _fresh(f"{export}_grad")
        vjps = [_hessian_product(name, gradient, j, letters) for j in range(arity)]
        defrule(
            name, f"{export}({', '.join(letters)})", *vjps,
            result=lambda kinds, args: differentiable_kind(kinds[direction]), numba=False,
            tangents=tuple(v.replace("(g, ", "(t, ", 1) for v in vjps),
        )  # fmt: skip
        PRIMITIVES[name].loose = True
        parse_rule(name)
        CALLED[key] = name
        CALLED_OBJECTS.append(gradient)
    return CALLED[key]


def _hessian_product(name: str, gradient: Callable, position: int, letters: str) -> str:
    """The VJP of ``gradient(*args)`` for argument ``position``, as a template calling a
    primitive of its own: ``g`` times the block of the Hessian (by a Hessian-vector
    product of the gradient's function along ``g``)."""
    state = gradient.__srcdiff__
    direction = state._wrt_positions[0]

    def vjp(g, *args):
        varied = tuple(i for i, a in enumerate(args) if _is_float(a))
        second = _SECOND_ORDERS.get((id(gradient), varied))
        if second is None:
            second = SECOND_ORDER(state.f, varied, direction, state._backend)
            _SECOND_ORDERS[id(gradient), varied] = second
        products = second(*args, g)
        return products[varied.index(position)]

    vjp_name = _fresh(f"{name}_hvp{position}")
    _export(vjp_name, vjp)
    adjoint = LETTERS[len(letters)]  # the printed form's letter for g
    form = f"{vjp_name}({', '.join([adjoint, *letters])})"
    defrule(
        vjp_name, form, *([None] * (len(letters) + 1)),
        result=lambda kinds, args: differentiable_kind(kinds[1 + position]), numba=False,
    )  # fmt: skip
    PRIMITIVES[vjp_name].loose = True
    PRIMITIVES[
        vjp_name
    ].opaque = "a third derivative through a gradient called inside the function is not supported"
    parse_rule(vjp_name)
    return f"{vjp_name}(g, {', '.join(letters)})"


_SECOND_ORDERS: dict[tuple[int, tuple[int, ...]], object] = {}

# (f, wrt, direction, backend) -> reverse over forward mode's gradient of f's derivative along
# a direction (``forward_api.SecondOrder``, which sets this: it builds on this module's tables)
SECOND_ORDER: Callable = None  # type: ignore[assignment]


def _is_float(value: object) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f"
    return isinstance(value, (float, np.floating))


def _no_rule(what: str) -> str:
    return (
        f"srcdiff has no derivative rule for `{what}`: it calls such a function only with "
        "numbers that do not depend on the differentiated arguments; give it a rule with "
        "srcdiff.register_rule(function, vjp, ...)"
    )


def _numbers_only(what: str):
    def kind(kinds: tuple[str, ...], args) -> str:
        if any(k not in ("int", "float", "bool") for k in kinds):
            raise KindError(_no_rule(what))
        return "float"

    return kind


def _numba_supports(fn: Callable) -> bool:
    if _numba_function(fn):
        return True
    from numba.core.registry import cpu_target

    context = cpu_target.typing_context
    context.refresh()
    try:
        context.resolve_value_type(fn)
    except (ValueError, TypeError):
        return False
    return True


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
    """A name for generated code, clashing with no primitive or registered function (nor
    with the one-letter parameters of printed forms)."""
    base = base if base.isidentifier() else "user_function"
    base = base if len(base) > 1 else f"{base}_function"
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
    PRIMITIVES[vjp_name].opaque = (  # srcdiff cannot differentiate the callable itself
        f"`{vjp_name}` is a VJP given as a Python callable, which srcdiff cannot "
        "differentiate: give the rule as a template for second derivatives through it"
    )
    parse_rule(vjp_name)
    return f"{vjp_name}(g, ans, {', '.join(letters)})"


def _renamed(text: str, letters: dict[str, str]) -> str:
    """A template in the user's parameter names, in the printed form's letters."""
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in letters:
            node.id = letters[node.id]
    return ast.unparse(tree)
