"""The rule table: every fact about every primitive, in one entry each.

An entry reads like a line of a derivative table::

    defrule("exp", "math.exp(x)", "g * ans", evaluate=math.exp, elementwise="np.exp(x)",
            math_overflow=True, aliases=(math.exp, np.exp), sympy=each(lambda sp: sp.exp))

its name, how it prints in generated code, and per argument its vector-Jacobian product
(VJP) written as a Python expression in

* the argument names of the printed form (``x``, ``y``),
* ``g``, the adjoint of the result, and
* ``ans``, the result itself.

Templates may call other primitives by name (``cos(x)``), use arithmetic, comparisons,
conditional expressions, and the constants ``nan``, ``inf`` and ``pi``. They are parsed
once into IR trees and spliced into the adjoint. ``None`` marks an argument with zero
derivative (comparisons, rounding, integer-valued functions); ``nondiff`` declares a
primitive whose derivative is zero, ``helper`` one of the compiler's own helpers (never
differentiated). The keywords after the VJPs are the entry's traits, the fields of
``Primitive``: its kind rule, forward-mode rule (``tangents``), SymPy form (``traits``),
how NumPy calls bind, Numba availability, cost (``cheap``), and what the analyses and the
NumPy backend need to know of its memory and shape. A fact that does not apply is False,
None or (); tests/test_rule_table.py checks every entry states them all, and its calculus.

The rest of the compiler never asks which primitive it is looking at: it asks the entry
for a trait (``PRIMITIVES[op.prim].fresh``). Only the core algebra the optimizer and the
reverse sweep write themselves (``add``, ``sub``, ``mul``, ``div``, ``neg``, ``not``) is
known by name. Adding a primitive is one entry here (``scalar.py`` for numbers and their
elementwise forms on arrays, ``arrays.py`` for the rest) plus, for an array function, its
``samples`` for the table's test.
"""

from __future__ import annotations

from . import arrays as _arrays  # noqa: F401  (registers the array table)
from . import scalar as _scalar  # noqa: F401  (registers the scalar table)
from .table import (
    ALIASES,
    BINOPS,
    BOOLOPS,
    CALLS,
    COMPAREOPS,
    PRIMITIVES,
    UNARYOPS,
    Primitive,
    alias,
    attribute_for,
    augmented_operator,
    binding_for,
    defcall,
    defrule,
    global_names,
    helper,
    method_for,
    nondiff,
    parse_rule,
    parse_templates,
    primitive_for,
    substitute,
    template,
    ufunc_of,
)

parse_templates()
BUILT_IN = frozenset(PRIMITIVES)  # the tables above (users' rules are added later)

__all__ = [
    "BUILT_IN",
    "ALIASES",
    "BINOPS",
    "BOOLOPS",
    "CALLS",
    "COMPAREOPS",
    "PRIMITIVES",
    "UNARYOPS",
    "Primitive",
    "alias",
    "attribute_for",
    "augmented_operator",
    "binding_for",
    "defcall",
    "defrule",
    "global_names",
    "helper",
    "method_for",
    "nondiff",
    "parse_rule",
    "primitive_for",
    "substitute",
    "template",
    "ufunc_of",
]
