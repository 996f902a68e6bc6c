"""What the compiler knows about a value before it runs: its kind.

A kind is a number (a bool, an int or a float), an array of numbers of some rank, a tuple of
ints (an array's shape, of known length), or one of the few other values that appear in
subscripts and calls (a slice, None, a string, a tape list). Kinds are inferred from the
kinds of a function's arguments (``analysis.kinds``), key the compiled variants of a
gradient, and pick how each primitive prints and differentiates.

``str(kind)`` is short, for debugging (``float``, ``array[float, 2]``); messages to users
say ``kind.describe()`` (``a float``, ``a 2-D array of floats``).

Per-dimension facts (a known length along an axis) would be one more field, compared and
hashed with the rest: every kind is a frozen value.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Element = Literal["bool", "int", "float"]

# The most dimensions an array may have, and the most indices one subscript and the most
# lengths one shape may hold: the rule table has an entry per number of indices.
MAX_RANK = 16
What = Literal["number", "array", "shape", "slice", "none", "str", "list", "mixed"]

# Ordered so that promoting numbers takes the wider one.
ELEMENTS: tuple[Element, ...] = ("bool", "int", "float")
_ARTICLE = {"bool": "a bool", "int": "an int", "float": "a float"}
_DESCRIBED = {
    "slice": "a slice",
    "none": "None",
    "str": "a string",
    "list": "a list",
    "mixed": "a value of several kinds",
}


class KindError(Exception):
    """An operation applied to a value of the wrong kind (indexing a float, say); where the
    value is a variable of the user's, ``argument`` names it and ``kind`` is its kind."""

    def __init__(self, message: str, argument: str | None = None, kind: Kind | None = None):
        super().__init__(message)
        self.argument = argument
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Kind:
    """What a value is: ``what`` (a number, an array, a shape tuple...), the ``element`` type
    of a number or of an array's entries, an array's rank ``ndim``, and the ``length`` of a
    shape tuple. Build them with the constructors and constants below."""

    what: What
    element: Element | None = None
    ndim: int = 0
    length: int | None = None

    def __post_init__(self) -> None:
        numeric = self.what in ("number", "array")
        if numeric != (self.element in ELEMENTS):
            raise ValueError(f"a kind {self.what!r} with element {self.element!r}")
        if (self.ndim and self.what != "array") or self.ndim < 0:
            raise ValueError(f"a kind {self.what!r} of rank {self.ndim}")
        if self.ndim > MAX_RANK:
            raise KindError(f"an array of {self.ndim} dimensions (srcdiff takes up to {MAX_RANK})")
        if (self.what == "shape") != (self.length is not None):
            raise ValueError(f"a kind {self.what!r} of length {self.length!r}")

    # --- constructors ------------------------------------------------------------------------
    @staticmethod
    def number(element: Element) -> Kind:
        return Kind("number", element)

    @staticmethod
    @functools.cache  # one instance per kind: kinds of arguments are made on every call of a jvp
    def array(element: Element, ndim: int) -> Kind:
        return Kind("array", element, ndim)

    @staticmethod
    def of_rank(element: Element, ndim: int) -> Kind:
        """An array of that rank, or a number for rank 0 (what a reduction gives)."""
        return Kind.array(element, ndim) if ndim else Kind.number(element)

    @staticmethod
    def shape(length: int) -> Kind:
        """A tuple of ``length`` ints: an array's shape."""
        return Kind("shape", length=length)

    @staticmethod
    def of_constant(value: object) -> Kind:
        """The kind of a constant in the code (``None``, a string, a number)."""
        if value is None:
            return NONE
        if isinstance(value, str):
            return STR
        if isinstance(value, bool):
            return BOOL
        return INT if isinstance(value, int) else FLOAT

    # --- queries -------------------------------------------------------------------------------
    @property
    def is_array(self) -> bool:
        return self.what == "array"

    @property
    def is_number(self) -> bool:
        return self.what == "number"

    @property
    def is_integer(self) -> bool:
        """An int or a bool: what ``range()`` and indices take."""
        return self.what == "number" and self.element in ("bool", "int")

    @property
    def holds_floats(self) -> bool:
        """A float, or an array of floats: a value that can carry a derivative."""
        return self.element == "float"

    def scalar(self) -> Kind:
        """The kind of one entry of an array; any other kind is its own."""
        return Kind.number(self.element) if self.is_array else self

    def differentiable(self) -> Kind:
        """The kind of a value that is differentiated, and of its derivative: a float, or an
        array of floats of the same rank."""
        return Kind.array("float", self.ndim) if self.is_array else FLOAT

    def join(self, other: Kind) -> Kind:
        """The kind of a variable assigned both: numbers promote (an int and a float give a
        float); an array and any other kind is a ``KindError``."""
        if self == other:
            return self
        if self.is_array or other.is_array:
            raise KindError(f"both {self.describe()} and {other.describe()}")
        return promote((self, other))

    def describe(self) -> str:
        """The kind in words, for messages: "a float", "a 2-D array of floats"."""
        if self.what == "number":
            return _ARTICLE[self.element]
        if self.what == "array":
            return f"a {self.ndim}-D array of {self.element}s"
        if self.what == "shape":
            return f"a shape ({self.length} int{'' if self.length == 1 else 's'})"
        return _DESCRIBED[self.what]

    def __str__(self) -> str:
        if self.what == "number":
            return self.element
        if self.what == "array":
            return f"array[{self.element}, {self.ndim}]"
        if self.what == "shape":
            return f"shape[{self.length}]"
        return self.what

    def __repr__(self) -> str:
        return f"Kind({self})"


def promote(kinds: Iterable[Kind]) -> Kind:
    """The kind Python arithmetic gives: bools and ints give an int, a float gives a float
    (any other kind, the first such, wins: the operation decides whether it is allowed)."""
    widest = max(kinds, key=lambda k: ELEMENTS.index(k.element) if k.is_number else 3)
    return INT if widest == BOOL else widest


BOOL = Kind.number("bool")
INT = Kind.number("int")
FLOAT = Kind.number("float")
SLICE = Kind("slice")
NONE = Kind("none")  # the constant None (``x[:, None]``)
STR = Kind("str")
LIST = Kind("list")  # a Python list (the tape of a value without a typed one)
MIXED = Kind("mixed")  # differs between the variants a function is compiled for
