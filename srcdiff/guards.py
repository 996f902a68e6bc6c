"""Stage 3b: the errors Python raises, made explicit in the IR.

Python raises where compiled code would carry on: ``math.sqrt(-1.0)`` is a ValueError,
``1.0 / 0.0`` a ZeroDivisionError, ``x[n]`` an IndexError; Numba returns nan, inf or
whatever lies past the end of the array. Each such point becomes a ``Check`` statement
(``if not test: raise Error("file.py:LINE: message")``), so every backend raises the
exception the plain function raises, at the user's line, before any gradient is computed.
The reverse sweep drops checks: the forward sweep has made them.

* around a call through Python's ``math`` module, its domain (``math.log(0.0)``:
  ValueError) and its overflow (``math.exp(1000.0)``: OverflowError), as the rule table
  states them: written by normalize, with the statements of ``python_errors``;
* ``insert_guards``, once kinds are known: division, ``//``, ``%`` and ``**`` of Python
  numbers (not NumPy scalars, which give inf with a warning), conversions of floats to
  ints, and array indices. An index provably in range (``x[i]`` in ``range(len(x))``) is not
  checked; one in a loop is checked once, before the loop, when every iteration reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ir
from .analysis.kinds import expr_kind
from .ir import Assign, Check, Const, Expr, For, Name, Op
from .kind import FLOAT, INT, MIXED, Kind
from .python_errors import (
    MATH_ERRORS,
    NEGATIVE_POWER,
    OUT_OF_RANGE,
    check,
    conjunction,
    division_message,
)
from .rules import PRIMITIVES

# --- once kinds are known -------------------------------------------------------------------


def insert_guards(fn: ir.Function, variants: list[dict[str, Kind]], fresh) -> None:
    """Add the checks that depend on kinds to ``fn``, in place: arithmetic of Python numbers,
    float-to-int conversions, array indices. ``variants``: the kinds of each variant the code
    serves (a helper may be called with floats and with arrays): only what holds in all of
    them is checked. ``fresh(kind)`` makes a temporary."""
    if not variants:  # a helper never called
        return
    kinds = {
        v: k if all(other.get(v) == k for other in variants) else MIXED
        for variant in variants
        for v, k in variant.items()
    }
    python = set.intersection(*(python_numbers(fn, variant) for variant in variants))
    ranges = _Ranges(fn, kinds)
    fn.body = _Guarder(kinds, python, ranges, fresh).block(fn.body, loop=None)
    _drop_array_math_checks(fn.body, kinds)


def python_numbers(fn: ir.Function, kinds: dict[str, Kind]) -> set[str]:
    """Numeric variables that surely hold Python numbers (not NumPy scalars): parameters,
    constants, loop counters, sizes of arrays (``len(x)``, ``x.shape[0]``), and arithmetic
    of these. An element of an array or a reduction is a NumPy scalar, and so is what is
    computed from one; a helper's result may be either."""
    numeric = {v for v, k in kinds.items() if k.is_number}
    python = set(numeric)
    changed = True
    while changed:
        changed = False
        for stmt in ir.walk(fn.body):
            for target in ir.targets_of(stmt):
                if target in python and not _python_value(stmt, python, kinds):
                    python.discard(target)
                    changed = True
    return python


# statements whose targets may hold NumPy scalars (a helper's result, an element) or that
# assign no number
_MAY_ASSIGN_NUMPY_SCALARS = (
    ir.Call, ir.SetItem, ir.IndexAdd, ir.Push, ir.Pop, ir.If, ir.While, ir.Return, Check,
    ir.Comment,
)  # fmt: skip


def _python_value(stmt: ir.Stmt, python: set[str], kinds: dict[str, Kind]) -> bool:
    if isinstance(stmt, For):
        return True
    if not isinstance(stmt, Assign):
        if not isinstance(stmt, _MAY_ASSIGN_NUMPY_SCALARS):
            raise ir.unknown_statement(stmt)
        return False
    value = stmt.value
    if isinstance(value, Const):
        return True
    if isinstance(value, Name):
        return value.id in python
    if PRIMITIVES[value.prim].python_int:
        return True
    return all(
        (isinstance(a, Const) and not isinstance(a.value, str))
        or (isinstance(a, Name) and a.id in python)
        for a in value.args
    )


def _drop_array_math_checks(block: list[ir.Stmt], kinds: dict[str, Kind]) -> None:
    """``math.exp`` of an array (accepted as ``np.exp``) has no Python error to mirror."""

    def kept(stmt: ir.Stmt) -> bool:
        if not isinstance(stmt, Check) or stmt.verbatim or not stmt.message.endswith(MATH_ERRORS):
            return True
        return not any(kinds.get(n) == MIXED or kinds.get(n, FLOAT).is_array
                       for n in ir.names_in(stmt.test))  # fmt: skip

    for stmt in ir.walk(block):
        for child in ir.child_blocks(stmt):
            child[:] = filter(kept, child)
    block[:] = filter(kept, block)


@dataclass
class _Loop:
    """A ``for`` loop whose body is being guarded, and the checks moved in front of it."""

    stmt: For
    assigned: set[str]  # what the loop assigns new values to
    hoisted: list[Check]


class _Guarder:
    def __init__(self, kinds: dict[str, Kind], python: set[str], ranges: _Ranges, fresh):
        self.params = ranges.params
        self.kinds = kinds
        self.python = python
        self.ranges = ranges
        self.fresh = fresh

    def block(self, block: list[ir.Stmt], loop: _Loop | None) -> list[ir.Stmt]:
        """``block`` with its checks; ``loop``: the loop whose body it is, if every
        iteration runs all of it (checks of indices can then move in front of the loop)."""
        out: list[ir.Stmt] = []
        for stmt in block:
            if isinstance(stmt, For):
                inner = _Loop(stmt, _reassigned_in(stmt), [])
                every_iteration = inner if stmt.exit_test is None else None
                stmt.body = self.block(stmt.body, every_iteration)
                out += inner.hoisted
            else:  # branches, and while loops: not every iteration runs all of them
                for child in ir.child_blocks(stmt):
                    child[:] = self.block(child, None)
            out += self.statement(stmt, loop)
        return out

    def kind(self, expr: Expr) -> Kind:
        """The kind of an atom (``MIXED`` where the variants disagree)."""
        return expr_kind(expr, self.kinds) or FLOAT

    def is_python(self, expr: Expr) -> bool:
        if isinstance(expr, Const):
            return isinstance(expr.value, (int, float, bool))
        return isinstance(expr, Name) and expr.id in self.python

    def statement(self, stmt: ir.Stmt, loop: _Loop | None) -> list[ir.Stmt]:
        before: list[ir.Stmt] = []
        after: list[ir.Stmt] = []
        for array, indices in _accesses(stmt):
            before += self.index_checks(array, indices, stmt.loc, loop)
        if isinstance(stmt, Assign) and isinstance(stmt.value, Op):
            prim, args = stmt.value.prim, stmt.value.args
            numbers = all(self.kind(a).is_number for a in args)
            if numbers and all(self.is_python(a) for a in args):
                before += self.arithmetic_checks(prim, args, stmt.loc)
                power = PRIMITIVES[prim].python_error == "power"
                if power and FLOAT in (self.kind(a) for a in args):
                    stmt, after = self.overflow_check(stmt)
            if PRIMITIVES[prim].python_error == "conversion" and self.kind(args[0]) == FLOAT:
                before += _conversion_checks(args[0], stmt.loc)
        return [*before, stmt, *after]

    def arithmetic_checks(self, prim: str, args: tuple[Expr, ...], loc) -> list[Check]:
        """Python's ZeroDivisionError for ``/``, ``//``, ``%`` and ``0.0 ** -1``; a real
        number raised to a fractional power is complex in Python: refused."""
        error = PRIMITIVES[prim].python_error
        if error == "division":
            both_ints = all(self.kind(a).is_integer for a in args)
            divisor = Op("eq", (args[1], Const(0)))
            return [check(divisor, division_message(prim, both_ints), "ZeroDivisionError", loc)]
        if error != "power":
            return []
        x, y = args
        checks = [check(Op("and", (Op("eq", (x, Const(0))), Op("lt", (y, Const(0))))),
                         NEGATIVE_POWER, "ZeroDivisionError", loc)]  # fmt: skip
        if self.kind(y) == FLOAT and not _integral_constant(y):
            fractional = Op("ne", (y, Op("float", (Op("floor", (y,)),))))
            complex_result = Op("and", (Op("lt", (x, Const(0))), Op("and", (
                Op("isfinite", (y,)), fractional))))  # fmt: skip
            checks.append(check(
                complex_result,
                "a negative number raised to a fractional power is a complex number, "
                "and srcdiff differentiates real numbers",
                "ValueError", loc,
            ))  # fmt: skip
        return checks

    def overflow_check(self, stmt: Assign) -> tuple[Assign, list[ir.Stmt]]:
        """``x ** y`` of finite floats that overflows: Python's OverflowError."""
        x, y = stmt.value.args
        target, after = stmt.target, []
        if target in ir.names_in(stmt.value):  # x = x ** y: test against the old x
            target = self.fresh(self.kinds.get(stmt.target, FLOAT))
            after = [Assign(stmt.target, Name(target), stmt.loc)]
            stmt = Assign(target, stmt.value, stmt.loc)
        finite = [Op("isfinite", (a,)) for a in (x, y) if not isinstance(a, Const)]
        overflow = conjunction([Op("isinf", (Name(target),)), *finite])
        return stmt, [check(overflow, OUT_OF_RANGE, "OverflowError", stmt.loc), *after]

    def index_checks(self, array: str, indices, loc, loop: _Loop | None) -> list[Check]:
        """Python's IndexError for an integer index out of range; none where the index is
        provably in range, and in front of the loop where every iteration reads it."""
        checks: list[Check] = []
        axis = 0
        for index in indices:
            if index == Const(None):
                continue
            if self.kind(index) == INT and not self.ranges.in_range(array, axis, index):
                size = Op("shape", (Name(array), Const(axis)))
                message = f"index out of range for axis {axis} of {_describe(array)}"
                hoisted = self.hoisted_check(size, index, message, loc, loop, array)
                if hoisted is not None:
                    loop.hoisted.append(hoisted)
                else:
                    checks.append(check(_outside(index, index, size), message, "IndexError", loc))
            axis += 1
        return checks

    def hoisted_check(self, size, index, message, loc, loop: _Loop | None, array: str):
        """The check of ``index`` for every iteration of ``loop``, made once before it."""
        if loop is None or array in loop.assigned:
            return None
        stmt = loop.stmt
        if isinstance(index, Const) or (isinstance(index, Name) and index.id in self.params):
            runs = _runs(stmt)
            if runs is None:
                return None
            return check(Op("and", (runs, _outside(index, index, size))), message, "IndexError",
                          loc)  # fmt: skip
        offset = self.ranges.offset_from(index, stmt.var)
        extremes = _extremes(stmt, offset)
        if offset is None or extremes is None:
            return None
        runs, low, high = extremes
        return check(Op("and", (runs, _outside(low, high, size))), message, "IndexError", loc)


def _reassigned_in(loop: For) -> set[str]:
    """What a loop assigns a new value to (writing elements keeps an array's shape)."""
    statements = ir.walk(loop.body)
    whole = {t for s in statements for t in ir.targets_of(s) if t not in ir.element_writes_of(s)}
    return whole | {loop.var}


def _integral_constant(expr: Expr) -> bool:
    return isinstance(expr, Const) and float(expr.value).is_integer()


def _conversion_checks(x: Expr, loc) -> list[Check]:
    """``int(nan)`` is a ValueError and ``int(inf)`` an OverflowError, in Python."""
    return [
        check(Op("isnan", (x,)), "cannot convert float NaN to integer", "ValueError", loc),
        check(Op("isinf", (x,)), "cannot convert float infinity to integer", "OverflowError",
               loc),
    ]  # fmt: skip


def _outside(low: Expr, high: Expr, size: Expr) -> Expr:
    """Some index between ``low`` and ``high`` is outside ``[-size, size)``."""
    too_large = Op("ge", (high, size))
    if isinstance(low, Const) and low.value >= 0:
        return too_large
    return Op("or", (Op("lt", (low, Op("neg", (size,)))), too_large))


def _runs(loop: For) -> Expr | None:
    if loop.step == Const(1):
        return Op("lt", (loop.start, loop.stop))
    if loop.step == Const(-1):
        return Op("gt", (loop.start, loop.stop))
    return None


def _extremes(loop: For, offset: int | None) -> tuple[Expr, Expr, Expr] | None:
    """(the loop runs, the smallest and the largest ``var + offset`` over its iterations)."""
    if offset is None:
        return None
    runs = _runs(loop)
    if runs is None:
        return None
    if loop.step == Const(1):  # start, ..., stop - 1
        return runs, _plus(loop.start, offset), _plus(loop.stop, offset - 1)
    return runs, _plus(loop.stop, offset + 1), _plus(loop.start, offset)  # start, ..., stop + 1


def _plus(expr: Expr, offset: int) -> Expr:
    if isinstance(expr, Const):
        return Const(expr.value + offset)
    if offset == 0:
        return expr
    return Op("add", (expr, Const(offset))) if offset > 0 else Op("sub", (expr, Const(-offset)))


def _describe(array: str) -> str:
    return "an array" if array[:1] == "t" and array[1:].isdigit() else f"`{array}`"


def _accesses(stmt: ir.Stmt):
    """(array, indices) of every element read or written by one statement (not its children)."""
    if isinstance(stmt, ir.SetItem):
        yield stmt.target, stmt.indices
    for expr in ir.expressions(stmt, _READING_ELEMENTS):
        for op in _ops_in(expr):
            if PRIMITIVES[op.prim].index_read and isinstance(op.args[0], Name):
                yield op.args[0].id, op.args[1:]


# the expressions whose element reads are checked (normalized tests, bounds and indices are
# atoms)
_READING_ELEMENTS = {ir.VALUE, ir.ARG, ir.RESULT}


def _ops_in(expr: Expr):
    if isinstance(expr, Op):
        yield expr
        for arg in expr.args:
            yield from _ops_in(arg)


# --- what is known of integer values -----------------------------------------------------------


class _Ranges:
    """Integer facts from single assignments: ``n = len(x)``, ``t = i + 1``, loop counters."""

    def __init__(self, fn: ir.Function, kinds: dict[str, Kind]):
        self.kinds = kinds
        sites: dict[str, int] = dict.fromkeys(fn.params, 1)
        self.values: dict[str, Expr] = {}
        self.loops: dict[str, For] = {}
        for stmt in ir.walk(fn.body):
            for target in ir.targets_of(stmt):
                sites[target] = sites.get(target, 0) + 1
            if isinstance(stmt, Assign):
                self.values[stmt.target] = stmt.value
            elif isinstance(stmt, For):
                self.loops[stmt.var] = stmt
        self.once = {v for v, n in sites.items() if n == 1}
        self.params = {p for p in fn.params if p in self.once}  # never reassigned

    def offset_from(self, index: Expr, var: str) -> int | None:
        """``c`` where ``index`` is always ``var + c``."""
        found = self.affine(index)
        if found is None or found[0] != Name(var):
            return None
        return found[1]

    def affine(self, expr: Expr, depth: int = 0) -> tuple[Expr, int] | None:
        """``expr`` as ``base + c``: base a loop counter, a size (``len(x)``), or 0."""
        if isinstance(expr, Const):
            return (Const(0), expr.value) if type(expr.value) is int else None
        if not isinstance(expr, Name) or depth > 20:
            return None
        if expr.id in self.loops and expr.id in self.once:
            return expr, 0
        value = self.values.get(expr.id)
        if expr.id not in self.once or value is None:
            return None
        shifted = isinstance(value, Op) and value.prim in ("add", "sub")
        if shifted and isinstance(value.args[1], Const):
            inner = self.affine(value.args[0], depth + 1)
            step = value.args[1].value
            if inner is None or type(step) is not int:
                return None
            return inner[0], inner[1] + (step if value.prim == "add" else -step)
        if isinstance(value, (Name, Const)):
            return self.affine(value, depth + 1)
        if isinstance(value, Op) and self.size_of(value) is not None:
            return value, 0
        return None

    def size_of(self, value: Expr) -> tuple[str, int] | None:
        """(array, axis) for ``len(x)`` or ``x.shape[k]`` of an array assigned once."""
        if not isinstance(value, Op) or not isinstance(value.args[0], Name):
            return None
        array = value.args[0].id
        if array not in self.once or not self.kinds.get(array, FLOAT).is_array:
            return None
        length_axis = PRIMITIVES[value.prim].length_axis
        axis = length_axis(value.args) if length_axis is not None else None
        if isinstance(axis, Const):
            axis = axis.value
            rank = self.kinds[array].ndim
            return array, axis % rank if -rank <= axis < rank else -1
        return None

    def in_range(self, array: str, axis: int, index: Expr) -> bool:
        """Whether ``index`` is provably within ``[0, x.shape[axis])``: a counter of a loop
        over ``range(a, len(x) - d)`` (or downwards) plus an offset that stays inside."""
        if array not in self.once:
            return False
        found = self.affine(index)
        if found is None or not isinstance(found[0], Name) or found[0].id not in self.loops:
            return False
        loop, offset = self.loops[found[0].id], found[1]
        step = loop.step.value if isinstance(loop.step, Const) else 0
        if type(step) is not int or step == 0:
            return False
        first, bound = (loop.start, loop.stop) if step > 0 else (loop.stop, loop.start)
        low = self.affine(first)
        high = self.affine(bound)
        if low is None or high is None:
            return False
        # step > 0: values in [start, stop - 1]; step < 0: in [stop + 1, start]
        low_value = low[1] + (0 if step > 0 else 1)
        high_size, high_value = high[0], high[1] - (1 if step > 0 else 0)
        starts_inside = low[0] == Const(0) and low_value + offset >= 0
        ends_inside = self.size_of(high_size) == (array, axis) and high_value + offset <= -1
        return starts_inside and ends_inside
