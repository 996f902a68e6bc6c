"""Derivatives of scalar primitives: one entry each, with its traits.

An entry reads ``defrule(name, printed form, VJP per argument, ...traits)``: the kind of
its result, how it evaluates (constant folding), its SymPy form (``each(sympy.exp)``:
applied to each element), whether it applies element by element to arrays (``elementwise``,
with the form NumPy prints there), where ``math`` raises (``math_domain``), and the
objects users call it by (``aliases``).

``g`` is the adjoint of the result, ``ans`` the result. At kinks srcdiff returns what
centred finite differences return there: abs'(0) = 0, and two tied arguments of min/max
get half the gradient each (see ``runtime.max_weight``). The reductions np.max/np.min are
the exception: k tied elements get 1/k each, as in JAX and PyTorch, where centred
differences would give each 1/2 (``runtime.extremum_weight``).
"""

from __future__ import annotations

import builtins
import math
import operator

import numpy as np

from ..ir import Op
from ..kind import BOOL, FLOAT, INT, promote
from .table import alias, defrule, nondiff
from .traits import Binding, at_point, decided, each, whole


def _int_power(kinds, args) -> bool:
    # int ** int stays an int only for a non-negative constant exponent, as in Python.
    exponent = args[1]
    return kinds == (INT, INT) and getattr(exponent, "value", -1) >= 0


def _pow_kind(kinds, args):
    return INT if _int_power(kinds, args) else FLOAT


def _small_power(args) -> bool:
    # x ** 2 and x ** 3 are a multiplication or two
    return getattr(args[1], "value", None) in (2, 3) and not isinstance(args[1].value, bool)


def _pow_lower(kinds, args):
    # Numba evaluates int ** negative int as an int (0); Python gives a float
    if all(k.is_integer for k in kinds) and not _int_power(kinds, args):
        return Op("pow", (Op("float", (args[0],)), args[1]))
    return None


# --- how calls bind ------------------------------------------------------------------


def _folded(prim: str) -> Binding:
    """``max(a, b, c)`` is ``max(max(a, b), c)``; ``max(items)`` folds the items."""

    def build(bound, site):
        if len(bound["args"]) == 1:  # max(xs), max(f(v) for v in x): the largest item
            return site.extremum(prim, bound["args"][0])
        args = [site.argument(a) for a in bound["args"]]
        if len(args) > 2:
            acc = args[0]
            for arg in args[1:-1]:
                acc = site.atom_of(Op(prim, (acc, arg)))
            args = [acc, args[-1]]
        return site.positional(prim, args)

    return Binding((), build, rest="args")


def _log(bound, site):
    """``log(x, base)`` is ``log(x) / log(base)``."""
    args = [site.argument(a) for a in bound["args"]]
    if len(args) == 2:
        numerator, denominator = (site.operand("log", (a,)) for a in args)
        return Op("div", (numerator, denominator))
    return site.positional("log", args)


_log_binding = Binding((), _log, rest="args")


# --- SymPy forms that choose by the values at the point ----------------------------------
def _larger(args, concrete):
    return args[0] if concrete[0] >= concrete[1] else args[1]


def _smaller(args, concrete):
    return args[0] if concrete[0] <= concrete[1] else args[1]


def _clip(args, concrete):
    x, low, high = concrete
    return args[1] if x < low else args[2] if x > high else args[0]


def _select(args, concrete):  # x if y else z
    return args[0] if concrete[1] else args[2]


def _where(args, concrete):  # np.where(x, y, z)
    return args[1] if concrete[0] else args[2]


# --- arithmetic -------------------------------------------------------------------
# (the optimizer's algebra knows add, sub, mul, div, neg and not by name: see optimize.py)
defrule(
    "add", "x + y", "g", "g",
    result="promote", evaluate=lambda x, y: x + y, cheap=True, elementwise=True,
    integer_closed=True, sympy=whole(lambda x, y: x + y),
)  # fmt: skip
defrule(
    "sub", "x - y", "g", "-g",
    result="promote", evaluate=lambda x, y: x - y, cheap=True, elementwise=True,
    integer_closed=True, sympy=whole(lambda x, y: x - y),
)  # fmt: skip
defrule(
    "mul", "x * y", "g * y", "g * x",
    result="promote", evaluate=lambda x, y: x * y, cheap=True, elementwise=True,
    integer_closed=True, layout="product", sympy=whole(lambda x, y: x * y),
)  # fmt: skip
defrule(
    "div", "x / y", "g / y", "-g * ans / y",
    evaluate=lambda x, y: x / y, cheap=True, elementwise=True, python_error="division",
    sympy=whole(lambda x, y: x / y),
)  # fmt: skip
defrule(
    "pow", "x ** y",
    "g * y * x ** (y - 1)",
    "g * ans * log(x) if x > 0 else (0.0 if x == 0 else nan)",
    result=_pow_kind, evaluate=lambda x, y: x**y, lower=_pow_lower, cheap=_small_power,
    elementwise=True, python_error="power", aliases=(builtins.pow, math.pow, np.power),
    math_domain="x == 0 and y < 0 or x < 0 and isfinite(y) and y != float(floor(y))",
    math_overflow=True, sympy=each(lambda sp: sp.Pow),
)  # fmt: skip
defrule(
    "neg", "-x", "-g",
    result="promote", evaluate=lambda x: -x, cheap=True, elementwise=True,
    integer_closed=True, sympy=whole(lambda x: -x),
)  # fmt: skip
defrule(
    "copy", "x", "g",
    result="promote", evaluate=lambda x: x, elementwise=True, view=True,
    sympy=whole(lambda x: x),
)  # fmt: skip
defrule(
    "float", "float(x)", "g",
    evaluate=float, aliases=(builtins.float, np.float64), sympy=whole(lambda x: x),
)  # fmt: skip
defrule(
    "mod", "x % y", "g", "-g * floor(x / y)",
    result="promote", evaluate=lambda x, y: x % y, elementwise=True, integer_closed=True,
    python_error="division", sympy=None,
)  # fmt: skip
defrule(
    "abs", "abs(x)", "g * sign(x)",
    result="promote", evaluate=abs, elementwise="np.abs(x)",
    aliases=(builtins.abs, math.fabs, np.abs, np.fabs), sympy=each(lambda sp: sp.Abs),
)  # fmt: skip
defrule(
    "max", "max(x, y)", "g * max_weight(x, y)", "g * max_weight(y, x)",
    result="promote", elementwise="np.maximum(x, y)", binding=_folded("max"),
    aliases=(builtins.max, np.maximum, np.fmax), sympy=decided(_larger),
)  # fmt: skip
defrule(
    "min", "min(x, y)", "g * max_weight(y, x)", "g * max_weight(x, y)",
    result="promote", elementwise="np.minimum(x, y)", binding=_folded("min"),
    aliases=(builtins.min, np.minimum, np.fmin), sympy=decided(_smaller),
)  # fmt: skip

# --- exponentials and logarithms ------------------------------------------------------
defrule(
    "exp", "math.exp(x)", "g * ans",
    evaluate=math.exp, elementwise="np.exp(x)", math_overflow=True,
    aliases=(math.exp, np.exp), sympy=each(lambda sp: sp.exp),
)  # fmt: skip
defrule(
    "expm1", "math.expm1(x)", "g * (ans + 1.0)",
    evaluate=math.expm1, elementwise="np.expm1(x)", math_overflow=True,
    aliases=(math.expm1, np.expm1), sympy=each(lambda sp: lambda x: sp.exp(x) - 1),
)  # fmt: skip
defrule(
    "log", "math.log(x)", "g / x",
    evaluate=math.log, elementwise="np.log(x)", math_domain="x <= 0", binding=_log_binding,
    aliases=(math.log, np.log), sympy=each(lambda sp: sp.log),
)  # fmt: skip
defrule(
    "log1p", "math.log1p(x)", "g / (1.0 + x)",
    evaluate=math.log1p, elementwise="np.log1p(x)", math_domain="x <= -1",
    aliases=(math.log1p, np.log1p), sympy=each(lambda sp: lambda x: sp.log(1 + x)),
)  # fmt: skip
defrule(
    "log2", "math.log2(x)", "g / (x * log(2.0))",
    evaluate=math.log2, elementwise="np.log2(x)", math_domain="x <= 0",
    aliases=(math.log2, np.log2), sympy=each(lambda sp: lambda x: sp.log(x, 2)),
)  # fmt: skip
defrule(
    "log10", "math.log10(x)", "g / (x * log(10.0))",
    evaluate=math.log10, elementwise="np.log10(x)", math_domain="x <= 0",
    aliases=(math.log10, np.log10), sympy=each(lambda sp: lambda x: sp.log(x, 10)),
)  # fmt: skip
defrule(
    "sqrt", "math.sqrt(x)", "g * 0.5 / ans",
    evaluate=math.sqrt, elementwise="np.sqrt(x)", math_domain="x < 0",
    aliases=(math.sqrt, np.sqrt), sympy=each(lambda sp: sp.sqrt),
)  # fmt: skip
defrule(
    "hypot", "math.hypot(x, y)", "g * div0(x, ans)", "g * div0(y, ans)",
    evaluate=math.hypot, elementwise="np.hypot(x, y)", aliases=(math.hypot, np.hypot),
    sympy=each(lambda sp: lambda x, y: sp.sqrt(x**2 + y**2)),
)  # fmt: skip
# NumPy's cube root (no math counterpart before Python 3.11): the same form for numbers
defrule(
    "cbrt", "np.cbrt(x)", "g / (3.0 * ans * ans)",
    evaluate=lambda x: float(np.cbrt(x)), elementwise=True, aliases=(np.cbrt,),
    sympy=each(lambda sp: lambda x: sp.real_root(x, 3)),
)  # fmt: skip

# --- trigonometric and hyperbolic ----------------------------------------------------
defrule(
    "sin", "math.sin(x)", "g * cos(x)",
    evaluate=math.sin, elementwise="np.sin(x)", math_domain="isinf(x)",
    aliases=(math.sin, np.sin), sympy=each(lambda sp: sp.sin),
)  # fmt: skip
defrule(
    "cos", "math.cos(x)", "-g * sin(x)",
    evaluate=math.cos, elementwise="np.cos(x)", math_domain="isinf(x)",
    aliases=(math.cos, np.cos), sympy=each(lambda sp: sp.cos),
)  # fmt: skip
defrule(
    "tan", "math.tan(x)", "g * (1.0 + ans * ans)",
    evaluate=math.tan, elementwise="np.tan(x)", math_domain="isinf(x)",
    aliases=(math.tan, np.tan), sympy=each(lambda sp: sp.tan),
)  # fmt: skip
defrule(
    "asin", "math.asin(x)", "g / sqrt(1.0 - x * x)",
    evaluate=math.asin, elementwise="np.arcsin(x)", math_domain="x < -1 or x > 1",
    aliases=(math.asin, np.arcsin), sympy=each(lambda sp: sp.asin),
)  # fmt: skip
defrule(
    "acos", "math.acos(x)", "-g / sqrt(1.0 - x * x)",
    evaluate=math.acos, elementwise="np.arccos(x)", math_domain="x < -1 or x > 1",
    aliases=(math.acos, np.arccos), sympy=each(lambda sp: sp.acos),
)  # fmt: skip
defrule(
    "atan", "math.atan(x)", "g / (1.0 + x * x)",
    evaluate=math.atan, elementwise="np.arctan(x)",
    aliases=(math.atan, np.arctan), sympy=each(lambda sp: sp.atan),
)  # fmt: skip
defrule(
    "atan2", "math.atan2(y, x)",
    "g * x / (x * x + y * y)",
    "-g * y / (x * x + y * y)",
    evaluate=math.atan2, elementwise="np.arctan2(y, x)",
    aliases=(math.atan2, np.arctan2), sympy=each(lambda sp: sp.atan2),
)  # fmt: skip
defrule(
    "sinh", "math.sinh(x)", "g * cosh(x)",
    evaluate=math.sinh, elementwise="np.sinh(x)", math_overflow=True,
    aliases=(math.sinh, np.sinh), sympy=each(lambda sp: sp.sinh),
)  # fmt: skip
defrule(
    "cosh", "math.cosh(x)", "g * sinh(x)",
    evaluate=math.cosh, elementwise="np.cosh(x)", math_overflow=True,
    aliases=(math.cosh, np.cosh), sympy=each(lambda sp: sp.cosh),
)  # fmt: skip
defrule(
    "tanh", "math.tanh(x)", "g * (1.0 - ans * ans)",
    evaluate=math.tanh, elementwise="np.tanh(x)",
    aliases=(math.tanh, np.tanh), sympy=each(lambda sp: sp.tanh),
)  # fmt: skip
defrule(
    "asinh", "math.asinh(x)", "g / sqrt(x * x + 1.0)",
    evaluate=math.asinh, elementwise="np.arcsinh(x)",
    aliases=(math.asinh, np.arcsinh), sympy=each(lambda sp: sp.asinh),
)  # fmt: skip
defrule(
    "acosh", "math.acosh(x)", "g / sqrt(x * x - 1.0)",
    evaluate=math.acosh, elementwise="np.arccosh(x)", math_domain="x < 1",
    aliases=(math.acosh, np.arccosh), sympy=each(lambda sp: sp.acosh),
)  # fmt: skip
defrule(
    "atanh", "math.atanh(x)", "g / (1.0 - x * x)",
    evaluate=math.atanh, elementwise="np.arctanh(x)", math_domain="x <= -1 or x >= 1",
    aliases=(math.atanh, np.arctanh), sympy=each(lambda sp: sp.atanh),
)  # fmt: skip
defrule(
    "erf", "math.erf(x)", "g * 2.0 / sqrt(pi) * exp(-x * x)",
    evaluate=math.erf, aliases=(math.erf,), sympy=each(lambda sp: sp.erf),
)  # fmt: skip
defrule(
    "erfc", "math.erfc(x)", "-g * 2.0 / sqrt(pi) * exp(-x * x)",
    evaluate=math.erfc, aliases=(math.erfc,), sympy=each(lambda sp: sp.erfc),
)  # fmt: skip

# --- piecewise constant: zero derivative -----------------------------------------------
nondiff(
    "floordiv", "x // y",
    result="promote", evaluate=lambda x, y: x // y, elementwise=True, integer_closed=True,
    python_error="division", sympy=None,
)  # fmt: skip
nondiff(
    "int", "int(x)",
    result=INT, evaluate=int, python_error="conversion", aliases=(builtins.int,),
    sympy=at_point(int),
)  # fmt: skip
nondiff(
    "round", "round(x)",
    result=INT, evaluate=round, python_error="conversion", aliases=(builtins.round,),
    sympy=at_point(round),
)  # fmt: skip
nondiff(
    "floor", "math.floor(x)",
    result=INT, evaluate=math.floor, elementwise="np.floor(x)", python_error="conversion",
    aliases=(math.floor, np.floor), sympy=at_point(math.floor),
)  # fmt: skip
nondiff(
    "ceil", "math.ceil(x)",
    result=INT, evaluate=math.ceil, elementwise="np.ceil(x)", python_error="conversion",
    aliases=(math.ceil, np.ceil), sympy=at_point(math.ceil),
)  # fmt: skip
nondiff(
    "trunc", "math.trunc(x)",
    result=INT, evaluate=math.trunc, elementwise="np.trunc(x)", python_error="conversion",
    aliases=(math.trunc, np.trunc), sympy=at_point(math.trunc),
)  # fmt: skip
nondiff(
    "sign", "sign(x)",
    result=FLOAT, elementwise="np.sign(x)", selecting=True, aliases=(np.sign,),
    sympy=at_point(np.sign),
)  # fmt: skip
# the share of max's adjoint that goes to x (1, 0, or 1/2 at a tie)
nondiff(
    "max_weight", "max_weight(x, y)",
    result=FLOAT, elementwise="max_weight_array(x, y)", selecting=True, sympy=None,
)  # fmt: skip
# x / y, and 0 where y is 0: the derivative of hypot and of a norm, differentiated again
# by second derivatives
defrule(
    "div0", "div0(x, y)", "div0(g, y)", "-div0(g * ans, y)",
    elementwise="div0_array(x, y)", sympy=None,
)  # fmt: skip
nondiff(
    "isnan", "math.isnan(x)",
    result=BOOL, evaluate=math.isnan, elementwise="np.isnan(x)",
    aliases=(math.isnan, np.isnan), sympy=at_point(math.isnan),
)  # fmt: skip
nondiff(
    "isinf", "math.isinf(x)",
    result=BOOL, evaluate=math.isinf, elementwise="np.isinf(x)",
    aliases=(math.isinf, np.isinf), sympy=at_point(math.isinf),
)  # fmt: skip
nondiff(
    "isfinite", "math.isfinite(x)",
    result=BOOL, evaluate=math.isfinite, elementwise="np.isfinite(x)",
    aliases=(math.isfinite, np.isfinite), sympy=at_point(math.isfinite),
)  # fmt: skip
for _name, _form, _test in (
    ("lt", "x < y", operator.lt), ("le", "x <= y", operator.le),
    ("gt", "x > y", operator.gt), ("ge", "x >= y", operator.ge),
    ("eq", "x == y", operator.eq), ("ne", "x != y", operator.ne),
):  # fmt: skip
    nondiff(
        _name, _form, result=BOOL, evaluate=_test, elementwise=True,
        sympy=at_point(lambda x, y, test=_test: bool(test(x, y))),
    )  # fmt: skip
nondiff(
    "not", "not x",
    result=BOOL, evaluate=lambda x: not x, elementwise="np.logical_not(x)", sympy=None,
)  # fmt: skip
_TRUTHS = lambda rng: [(True, False), (False, True)]  # noqa: E731 (their domain: bools)
nondiff("and", "x and y", result=BOOL, sympy=None, samples=_TRUTHS)
nondiff("or", "x or y", result=BOOL, sympy=None, samples=_TRUTHS)
# A conditional expression inside templates and generated code: lazy in both branches.
defrule(
    "select", "x if y else z", "g if y else 0.0", None, "0.0 if y else g",
    result="branches", elementwise="np.where(y, x, z)", selecting=True,
    sympy=decided(_select),
)  # fmt: skip

# --- NumPy's elementwise functions without a math counterpart --------------------------
defrule(
    "square", "x * x", "2.0 * g * x",
    evaluate=lambda x: x * x, result="promote", elementwise="np.square(x)",
    aliases=(np.square,), sympy=each(lambda sp: lambda x: x**2),
)  # fmt: skip
defrule(
    "where", "where(x, y, z)", None, "g if x else 0.0", "0.0 if x else g",
    result=lambda k, a: promote((k[1], k[2])), elementwise="np.where(x, y, z)",
    selecting=True, aliases=(np.where,), sympy=decided(_where),
)  # fmt: skip
# clip(x, lo, hi) = min(max(x, lo), hi), with the same tie convention as max and min
defrule(
    "clip", "min(max(x, y), z)",
    "g * max_weight(x, y) * max_weight(z, x)",
    "g * max_weight(y, x) * max_weight(z, y)",
    "g * max_weight(x, z)",
    result="promote", elementwise="np.clip(x, y, z)", selecting=True, aliases=(np.clip,),
    sympy=decided(_clip),
)  # fmt: skip

alias("len", builtins.len)
