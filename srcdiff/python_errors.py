"""What Python raises where compiled code carries on, and the ``Check`` statements that
mirror it: Python's own messages (read from Python at import, as their wording varies
between versions), and the checks around a call through ``math`` (its domain before the
call, its overflow after), from the rule table's ``math_domain`` and ``math_overflow``.
Normalize writes the checks of ``math`` calls; ``guards`` the ones that need kinds.
"""

from __future__ import annotations

import functools
import operator

from .errors import SourceLocation
from .ir import Check, Const, Expr, Name, Op
from .rules import PRIMITIVES, substitute


def _message_of(operation, *args) -> str:
    """What Python itself says (the wording varies between versions)."""
    try:
        operation(*args)
    except ArithmeticError as err:
        return str(err)
    raise AssertionError("expected an error")


def division_message(prim: str, both_ints: bool) -> str:
    """What Python says dividing by zero with primitive ``prim`` (a "division" one), for
    int or float operands."""
    return _division_messages(prim)[both_ints]


@functools.cache
def _division_messages(prim: str) -> dict[bool, str]:
    evaluate = PRIMITIVES[prim].evaluate
    return {True: _message_of(evaluate, 1, 0), False: _message_of(evaluate, 1.0, 0.0)}


NEGATIVE_POWER = _message_of(operator.pow, 0.0, -1.0)
DOMAIN, RANGE = "math domain error", "math range error"  # what the math module says
MATH_ERRORS = (DOMAIN, RANGE)
OUT_OF_RANGE = "Numerical result out of range"


def negation(test: Expr) -> Expr:
    return Op("not", (test,))


def conjunction(tests: list[Expr]) -> Expr:
    found = tests[0]
    for test in tests[1:]:
        found = Op("and", (found, test))
    return found


def check(failure: Expr, message: str, error: str, loc: SourceLocation | None) -> Check:
    """``if failure: raise error("file:line: message")``."""
    where = f"{loc.short}: " if loc is not None else ""
    return Check(negation(failure), f"{where}{message}", loc, error)


# --- functions of the math module -------------------------------------------------------------


def math_prechecks(prim: str, args: tuple[Expr, ...], loc) -> list[Check]:
    """Before ``prim(*args)`` called through ``math``: its domain (``math.sqrt(-1.0)``)."""
    outside = PRIMITIVES[prim].math_domain
    if outside is None:
        return []
    bindings = dict(zip(PRIMITIVES[prim].params, args, strict=True))
    return [check(substitute(outside, bindings), DOMAIN, "ValueError", loc)]


def math_checks(prim: str, result: Name, args: tuple[Expr, ...], loc) -> list[Check]:
    """After ``result = prim(*args)`` called through ``math``: an infinity from finite
    arguments, for functions that overflow (``math.exp(1000.0)``)."""
    if not PRIMITIVES[prim].math_overflow:
        return []
    finite = [Op("isfinite", (a,)) for a in args if not isinstance(a, Const)]
    return [check(conjunction([Op("isinf", (result,)), *finite]), RANGE, "OverflowError", loc)]
