"""Derivatives of scalar primitives: one line each.

``g`` is the adjoint of the result, ``ans`` the result. At kinks srcdiff returns what
centred finite differences return there: abs'(0) = 0, and two tied arguments of min/max
get half the gradient each (see ``runtime.max_weight``). The reductions np.max/np.min are
the exception: k tied elements get 1/k each, as in JAX and PyTorch, where centred
differences would give each 1/2 (``runtime.extremum_weight``).
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from ..ir import Op
from ..kind import BOOL, FLOAT, INT, promote
from . import (
    alias,
    defrule,
    elementwise,
    math_domain,
    math_overflows,
    nondiff,
)


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


# --- arithmetic -------------------------------------------------------------------
defrule("add", "x + y", "g", "g", result="promote", evaluate=lambda x, y: x + y, cheap=True)
defrule("sub", "x - y", "g", "-g", result="promote", evaluate=lambda x, y: x - y, cheap=True)
defrule("mul", "x * y", "g * y", "g * x", result="promote", evaluate=lambda x, y: x * y, cheap=True)
defrule("div", "x / y", "g / y", "-g * ans / y", evaluate=lambda x, y: x / y, cheap=True)
defrule(
    "pow", "x ** y",
    "g * y * x ** (y - 1)",
    "g * ans * log(x) if x > 0 else (0.0 if x == 0 else nan)",
    result=_pow_kind, evaluate=lambda x, y: x**y, lower=_pow_lower, cheap=_small_power,
)  # fmt: skip
defrule("neg", "-x", "-g", result="promote", evaluate=lambda x: -x, cheap=True)
defrule("copy", "x", "g", result="promote", evaluate=lambda x: x)
defrule("float", "float(x)", "g", evaluate=float)
defrule(
    "mod", "x % y", "g", "-g * floor(x / y)",
    result="promote", evaluate=lambda x, y: x % y,
)  # fmt: skip
defrule("abs", "abs(x)", "g * sign(x)", result="promote", evaluate=abs)
defrule("max", "max(x, y)", "g * max_weight(x, y)", "g * max_weight(y, x)", result="promote")
defrule("min", "min(x, y)", "g * max_weight(y, x)", "g * max_weight(x, y)", result="promote")

# --- exponentials and logarithms ------------------------------------------------------
defrule("exp", "math.exp(x)", "g * ans", evaluate=math.exp)
defrule("expm1", "math.expm1(x)", "g * (ans + 1.0)", evaluate=math.expm1)
defrule("log", "math.log(x)", "g / x", evaluate=math.log)
defrule("log1p", "math.log1p(x)", "g / (1.0 + x)", evaluate=math.log1p)
defrule("log2", "math.log2(x)", "g / (x * log(2.0))", evaluate=math.log2)
defrule("log10", "math.log10(x)", "g / (x * log(10.0))", evaluate=math.log10)
defrule("sqrt", "math.sqrt(x)", "g * 0.5 / ans", evaluate=math.sqrt)
defrule("hypot", "math.hypot(x, y)", "g * div0(x, ans)", "g * div0(y, ans)", evaluate=math.hypot)

# --- trigonometric and hyperbolic ----------------------------------------------------
defrule("sin", "math.sin(x)", "g * cos(x)", evaluate=math.sin)
defrule("cos", "math.cos(x)", "-g * sin(x)", evaluate=math.cos)
defrule("tan", "math.tan(x)", "g * (1.0 + ans * ans)", evaluate=math.tan)
defrule("asin", "math.asin(x)", "g / sqrt(1.0 - x * x)", evaluate=math.asin)
defrule("acos", "math.acos(x)", "-g / sqrt(1.0 - x * x)", evaluate=math.acos)
defrule("atan", "math.atan(x)", "g / (1.0 + x * x)", evaluate=math.atan)
defrule(
    "atan2", "math.atan2(y, x)",
    "g * x / (x * x + y * y)",
    "-g * y / (x * x + y * y)",
    evaluate=math.atan2,
)  # fmt: skip
defrule("sinh", "math.sinh(x)", "g * cosh(x)", evaluate=math.sinh)
defrule("cosh", "math.cosh(x)", "g * sinh(x)", evaluate=math.cosh)
defrule("tanh", "math.tanh(x)", "g * (1.0 - ans * ans)", evaluate=math.tanh)
defrule("asinh", "math.asinh(x)", "g / sqrt(x * x + 1.0)", evaluate=math.asinh)
defrule("acosh", "math.acosh(x)", "g / sqrt(x * x - 1.0)", evaluate=math.acosh)
defrule("atanh", "math.atanh(x)", "g / (1.0 - x * x)", evaluate=math.atanh)
defrule("erf", "math.erf(x)", "g * 2.0 / sqrt(pi) * exp(-x * x)", evaluate=math.erf)
defrule("erfc", "math.erfc(x)", "-g * 2.0 / sqrt(pi) * exp(-x * x)", evaluate=math.erfc)

# --- piecewise constant: zero derivative -----------------------------------------------
nondiff("floordiv", "x // y", result="promote", evaluate=lambda x, y: x // y)
nondiff("int", "int(x)", result=INT, evaluate=int)
nondiff("round", "round(x)", result=INT, evaluate=round)
nondiff("floor", "math.floor(x)", result=INT, evaluate=math.floor)
nondiff("ceil", "math.ceil(x)", result=INT, evaluate=math.ceil)
nondiff("trunc", "math.trunc(x)", result=INT, evaluate=math.trunc)
nondiff("sign", "sign(x)", result=FLOAT)
nondiff("max_weight", "max_weight(x, y)", result=FLOAT)
# x / y, and 0 where y is 0: the derivative of hypot and of a norm, differentiated again
# by second derivatives
defrule("div0", "div0(x, y)", "div0(g, y)", "-div0(g * ans, y)")
nondiff("isnan", "math.isnan(x)", result=BOOL, evaluate=math.isnan)
nondiff("isinf", "math.isinf(x)", result=BOOL, evaluate=math.isinf)
nondiff("isfinite", "math.isfinite(x)", result=BOOL, evaluate=math.isfinite)
nondiff("lt", "x < y", result=BOOL, evaluate=lambda x, y: x < y)
nondiff("le", "x <= y", result=BOOL, evaluate=lambda x, y: x <= y)
nondiff("gt", "x > y", result=BOOL, evaluate=lambda x, y: x > y)
nondiff("ge", "x >= y", result=BOOL, evaluate=lambda x, y: x >= y)
nondiff("eq", "x == y", result=BOOL, evaluate=lambda x, y: x == y)
nondiff("ne", "x != y", result=BOOL, evaluate=lambda x, y: x != y)
nondiff("not", "not x", result=BOOL, evaluate=lambda x: not x)
nondiff("and", "x and y", result=BOOL)
nondiff("or", "x or y", result=BOOL)
# A conditional expression inside templates and generated code: lazy in both branches.
defrule(
    "select", "x if y else z", "g if y else 0.0", None, "0.0 if y else g",
    result="branches",
)  # fmt: skip

# --- NumPy's elementwise functions without a math counterpart --------------------------
defrule("square", "x * x", "2.0 * g * x", evaluate=lambda x: x * x, result="promote")
defrule(
    "where",
    "where(x, y, z)",
    None,
    "g if x else 0.0",
    "0.0 if x else g",
    result=lambda k, a: promote((k[1], k[2])),
)
# clip(x, lo, hi) = min(max(x, lo), hi), with the same tie convention as max and min
defrule(
    "clip", "min(max(x, y), z)",
    "g * max_weight(x, y) * max_weight(z, x)",
    "g * max_weight(y, x) * max_weight(z, y)",
    "g * max_weight(x, z)",
    result="promote",
)  # fmt: skip

# --- the same rules on arrays, element by element (broadcasting) ----------------------
for _name in ("add", "sub", "mul", "div", "pow", "neg", "copy", "mod", "floordiv"):
    elementwise(_name)
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    elementwise(_name)
for _name, _array_name in {
    "exp": "exp", "expm1": "expm1", "log": "log", "log1p": "log1p", "log2": "log2",
    "log10": "log10", "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan",
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "sinh": "sinh", "cosh": "cosh",
    "tanh": "tanh", "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh",
    "floor": "floor", "ceil": "ceil", "trunc": "trunc", "sign": "sign", "abs": "abs",
    "isnan": "isnan", "isinf": "isinf", "isfinite": "isfinite", "not": "logical_not",
}.items():  # fmt: skip
    elementwise(_name, f"np.{_array_name}(x)")
elementwise("hypot", "np.hypot(x, y)")
elementwise("atan2", "np.arctan2(y, x)")
elementwise("max", "np.maximum(x, y)")
elementwise("min", "np.minimum(x, y)")
elementwise("square", "np.square(x)")
elementwise("where", "np.where(x, y, z)")
elementwise("clip", "np.clip(x, y, z)")
elementwise("select", "np.where(y, x, z)")
elementwise("max_weight", "max_weight_array(x, y)")
elementwise("div0", "div0_array(x, y)")

# --- where Python's math module raises (NumPy returns nan or inf instead) ---------------
math_domain("sqrt", "x < 0")
math_domain("log", "x <= 0")
math_domain("log2", "x <= 0")
math_domain("log10", "x <= 0")
math_domain("log1p", "x <= -1")
math_domain("asin", "x < -1 or x > 1")
math_domain("acos", "x < -1 or x > 1")
math_domain("acosh", "x < 1")
math_domain("atanh", "x <= -1 or x >= 1")
math_domain("sin", "isinf(x)")
math_domain("cos", "isinf(x)")
math_domain("tan", "isinf(x)")
math_domain("pow", "x == 0 and y < 0 or x < 0 and isfinite(y) and y != float(floor(y))")
math_overflows("exp", "expm1", "sinh", "cosh", "pow")

# --- the names users call them by --------------------------------------------------
alias("abs", builtins.abs, math.fabs, np.abs, np.fabs)
alias("max", builtins.max, np.maximum, np.fmax)
alias("min", builtins.min, np.minimum, np.fmin)
alias("pow", builtins.pow, math.pow, np.power)
alias("float", builtins.float, np.float64)
alias("int", builtins.int)
alias("len", builtins.len)
alias("round", builtins.round)
alias("floor", math.floor, np.floor)
alias("ceil", math.ceil, np.ceil)
alias("trunc", math.trunc, np.trunc)
alias("exp", math.exp, np.exp)
alias("expm1", math.expm1, np.expm1)
alias("log", math.log, np.log)
alias("log1p", math.log1p, np.log1p)
alias("log2", math.log2, np.log2)
alias("log10", math.log10, np.log10)
alias("sqrt", math.sqrt, np.sqrt)
alias("hypot", math.hypot, np.hypot)
alias("sin", math.sin, np.sin)
alias("cos", math.cos, np.cos)
alias("tan", math.tan, np.tan)
alias("asin", math.asin, np.arcsin)
alias("acos", math.acos, np.arccos)
alias("atan", math.atan, np.arctan)
alias("atan2", math.atan2, np.arctan2)
alias("sinh", math.sinh, np.sinh)
alias("cosh", math.cosh, np.cosh)
alias("tanh", math.tanh, np.tanh)
alias("asinh", math.asinh, np.arcsinh)
alias("acosh", math.acosh, np.arccosh)
alias("atanh", math.atanh, np.arctanh)
alias("erf", math.erf)
alias("erfc", math.erfc)
alias("isnan", math.isnan, np.isnan)
alias("isinf", math.isinf, np.isinf)
alias("isfinite", math.isfinite, np.isfinite)
alias("square", np.square)
alias("where", np.where)
alias("clip", np.clip)
alias("sign", np.sign)
