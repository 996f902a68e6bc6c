"""The value types of a rule's traits that say more than yes or no: how the SymPy
cross-check computes a primitive (``SymPyForm``), and how a call of a NumPy function binds
its arguments (``Binding``).

Both are data the rule table holds and later stages interpret: SymPy is imported only when
the cross-check runs (a form is built from the ``sympy`` module handed to it), and the
normalizer reads a call's arguments through the small interface of ``CallSite``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from ..ir import Expr, Name


class _Unstated:
    """The default of a fact every entry must state (tests/test_rule_table.py checks)."""

    def __repr__(self) -> str:
        return "UNSTATED"


UNSTATED: Any = _Unstated()


# --- SymPy forms -------------------------------------------------------------------------
@dataclass(frozen=True)
class SymPyForm:
    """How ``symbolic.py`` computes a primitive on SymPy expressions. ``how``:

    * ``"each"``: ``build(sympy)`` is applied to each element (a number, or every element
      of arrays of expressions, broadcast);
    * ``"whole"``: ``build(sympy)`` takes the arguments as they are (arrays of expressions);
    * ``"decided"``: ``build(sympy)`` takes (arguments, their values at the point) and
      picks one, as the function does when it runs there (``max``, ``x if c else y``);
    * ``"at_point"``: the derivative is zero where it is defined: ``build(sympy)`` gives
      the value from the arguments' values at the point (``floor``, ``x < y``);
    * ``"reduction"``: ``build(sympy)`` takes ``(x, axis, keepdims, values of x)``;
    * ``"printed"``: the printed form, run even on arrays of expressions (a shape, a size);
    * ``"subscript"``: a part of a subscript (``1:n``), read at the point.
    """

    how: str
    build: Callable[[ModuleType], Callable] | None = None


def each(build: Callable[[ModuleType], Callable]) -> SymPyForm:
    return SymPyForm("each", build)


def whole(function: Callable) -> SymPyForm:
    return SymPyForm("whole", lambda sympy: function)


def decided(choose: Callable) -> SymPyForm:
    return SymPyForm("decided", lambda sympy: choose)


def at_point(function: Callable) -> SymPyForm:
    return SymPyForm("at_point", lambda sympy: function)


def reduction(build: Callable[[ModuleType], Callable]) -> SymPyForm:
    return SymPyForm("reduction", build)


PRINTED = SymPyForm("printed")
SUBSCRIPT = SymPyForm("subscript")


# --- how a call binds ----------------------------------------------------------------------
REQUIRED: Any = object()  # a parameter without a default


class UnsupportedCall(Exception):
    """A call the binding refuses (``keepdims=True`` without an axis); ``hint`` says what
    to write instead."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class CallSite(Protocol):
    """What a binding's ``build`` may ask of the call it lowers (the normalizer's side)."""

    name: str  # the function as the call spells it (``np.sum``)

    def atom(self, node: Any) -> Expr: ...  # an argument's value, as a variable or constant

    def argument(self, node: Any) -> Expr: ...  # the same, a tuple ``(n, m)`` as a shape

    def constant(self, node: Any) -> Expr: ...  # an axis: an int, a bool or None

    def sequence(self, node: Any) -> list[Expr]: ...  # a written-out list of arrays

    # lists made in the function (``normalize/lists.py``); an array where no list is given
    def array_like(self, node: Any) -> Expr: ...  # a list as one array, else the value

    def stacked(self, node: Any) -> Expr: ...  # np.array(xs): the items as rows, in new memory

    def length(self, node: Any) -> Expr: ...  # len(xs)

    def total(self, node: Any, start: Any) -> Expr: ...  # sum(xs), sum(f(v) for v in x)

    def extremum(self, prim: str, node: Any) -> Expr: ...  # max(xs) ("max") or min(xs)

    def shape(self, nodes: list) -> Expr: ...  # lengths as a shape tuple

    def atom_of(self, value: Expr) -> Name: ...  # a value assigned to a new variable

    # ``prim`` of ``args`` (as many as its parameters, else an unsupported call), with the
    # checks that make a call through ``math`` raise as ``math`` does
    def positional(self, prim: str, args: list[Expr]) -> Expr: ...

    # the same, as an operand of a larger expression
    def operand(self, prim: str, args: tuple[Expr, ...]) -> Expr: ...


@dataclass(frozen=True)
class Binding:
    """How a call binds (the rule's NumPy signature): ``params`` are (name, default) in
    order, taken by position or keyword; ``rest`` names a parameter that collects any
    further positional arguments (as a list); ``text`` the parameters that must be string
    constants (einsum's subscripts). ``build(bound, site)`` makes the primitive's
    operation from the bound argument nodes (``site`` reads them: ``CallSite``)."""

    params: tuple[tuple[str, Any], ...]
    build: Callable[[dict[str, Any], CallSite], Expr]
    rest: str | None = None
    text: tuple[str, ...] = ()

    @property
    def keywords(self) -> set[str]:
        return {name for name, _ in self.params}
