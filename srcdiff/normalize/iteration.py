"""What a ``for`` statement iterates over, lowered to a loop over a range.

``for a in x`` (the first axis of an array), ``zip(x, y, ...)``, ``enumerate(...)`` and
``reversed(range(...))`` become ``for i in range(start, stop, step)`` with the loop's
targets read at the start of each iteration (``a = x[i]``). Later stages therefore see the
one loop they know, and an element read is the ``index1`` of any other subscript.

Python evaluates the iterable once, before the loop: an array the body rebinds is copied
to a name of its own first, as ``range()``'s bounds are.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from ..ir import Assign, Const, Expr, Name, Op


@dataclass
class Iteration:
    """``for counter in range(start, stop, step)``, then ``reads`` at each iteration's start.

    ``counter`` is the user's name when the loop variable is the range's value itself
    (``range``, ``enumerate``'s index), else None: the loop counts with a name of its own."""

    start: Expr
    stop: Expr
    step: Expr
    counter: str | None
    reads: list[tuple[str, Expr]] = field(default_factory=list)  # (target, array)
    index_offset: tuple[str, Expr] | None = None  # enumerate(x, start): target = i + start

    def prologue(self, var: str, loc) -> list[Assign]:
        """The assignments of the loop's targets at the start of an iteration over ``var``."""
        stmts = []
        if self.index_offset is not None:
            target, offset = self.index_offset
            stmts.append(Assign(target, Op("add", (Name(var), offset)), loc))
        for target, array in self.reads:
            stmts.append(Assign(target, Op("index1", (array, Name(var))), loc))
        return stmts


class IterationLowering:
    """The part of ``Normalizer`` that lowers a ``for`` statement's iterable (it needs
    ``atom``, ``atom_of``, ``protect``, ``local``, ``resolved`` and ``loc`` from it)."""

    def iteration(self, node: ast.For, assigned: set[str]) -> Iteration:
        """``assigned``: the names the loop's body assigns (bounds and arrays it rebinds
        are copied before the loop)."""
        iterable, target = node.iter, node.target
        builtin = self.iteration_builtin(iterable)
        if builtin is builtins.range:
            return self.range_iteration(iterable, target, assigned)
        if builtin is builtins.reversed:
            return self.reversed_range(iterable.args[0], target, assigned)
        if builtin is builtins.enumerate:
            return self.enumerate_iteration(iterable, target, assigned)
        return self.array_iteration(iterable, target, assigned)

    def iteration_builtin(self, node: ast.expr) -> object:
        return self.resolved(node.func) if isinstance(node, ast.Call) else None

    def range_bounds(self, call: ast.Call, assigned: set[str]) -> tuple[Expr, Expr, Expr]:
        args = [self.atom(a) for a in call.args]
        start, stop, step = {1: lambda: [Const(0), args[0], Const(1)],
                             2: lambda: [args[0], args[1], Const(1)],
                             3: lambda: args}[len(args)]()  # fmt: skip
        if step == Const(0):
            raise self.loc.error("range() step must not be zero")
        # range() reads its bounds once, and the reverse sweep reads them after the loop
        return tuple(self.protect(b, assigned) for b in (start, stop, step))

    def range_iteration(self, call: ast.Call, target: ast.Name, assigned: set[str]) -> Iteration:
        start, stop, step = self.range_bounds(call, assigned)
        return Iteration(start, stop, step, self.local(target.id))

    def reversed_range(self, call: ast.Call, target: ast.Name, assigned: set[str]) -> Iteration:
        """``reversed(range(a, b, s))`` is ``range(last, a - s, -s)``, where ``last`` is the
        range's last value (``a - s`` when the range is empty)."""
        start, stop, step = self.range_bounds(call, assigned)
        if step == Const(1):
            last = self.int_op("sub", stop, Const(1))
        elif step == Const(-1):
            last = self.int_op("add", stop, Const(1))
        elif isinstance(step, Const):
            sign = Const(1 if step.value > 0 else -1)
            span = self.int_op("sub", self.int_op("sub", stop, start), sign)
            last = self.int_op(
                "add", start, self.int_op("mul", self.int_op("floordiv", span, step), step)
            )
        else:  # trips = max(0, ceil((b - a) / s)), whatever the sign of s
            ceiling = self.negated(self.int_op("floordiv", self.int_op("sub", start, stop), step))
            trips = self.atom_of(Op("max", (Const(0), ceiling)))
            offset = self.int_op("mul", self.int_op("sub", trips, Const(1)), step)
            last = self.int_op("add", start, offset)
        return Iteration(
            last, self.int_op("sub", start, step), self.negated(step), self.local(target.id)
        )

    def enumerate_iteration(
        self, call: ast.Call, target: ast.expr, assigned: set[str]
    ) -> Iteration:
        index, rest = target.elts
        inner = self.array_iteration(call.args[0], rest, assigned)
        first = self.atom(call.args[1]) if len(call.args) > 1 else Const(0)
        if first == Const(0):
            inner.counter = self.local(index.id)
        else:
            inner.index_offset = (self.local(index.id), first)
        return inner

    def array_iteration(
        self, iterable: ast.expr, target: ast.expr, assigned: set[str]
    ) -> Iteration:
        """``for a in x`` and ``for a, b in zip(x, y)``: rows of arrays, up to the shortest."""
        if self.iteration_builtin(iterable) is builtins.zip:
            targets, arrays = target.elts, iterable.args
        else:
            targets, arrays = [target], [iterable]
        for name in targets:
            if not isinstance(name, ast.Name):  # rows of an array are not unpacked
                raise self.loc.unsupported(
                    f"the loop target `{ast.unparse(name)}` over an array",
                    "loop with one name, or zip(...) the arrays and name each one",
                )
        atoms = [self.protect(self.atom(a), assigned) for a in arrays]
        length = self.atom_of(Op("len", (atoms[0],)))
        for array in atoms[1:]:  # zip stops at the shortest
            length = self.atom_of(Op("min", (length, self.atom_of(Op("len", (array,))))))
        reads = [(self.local(t.id), a) for t, a in zip(targets, atoms, strict=True)]
        return Iteration(Const(0), length, Const(1), None, reads)

    # --- integer arithmetic on bounds, folded where the operands are constants ---------
    def int_op(self, prim: str, left: Expr, right: Expr) -> Expr:
        if isinstance(left, Const) and isinstance(right, Const):
            fold = {"add": int.__add__, "sub": int.__sub__, "mul": int.__mul__,
                    "floordiv": int.__floordiv__}[prim]  # fmt: skip
            return Const(fold(left.value, right.value))
        return self.atom_of(Op(prim, (left, right)))

    def negated(self, value: Expr) -> Expr:
        if isinstance(value, Const):
            return Const(-value.value)
        return self.atom_of(Op("neg", (value,)))
