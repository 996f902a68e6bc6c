"""What the backends' cost models read of a function (``backends``): its operations on whole
arrays, and every primitive it applies."""

from __future__ import annotations

from .. import ir
from ..ir import Assign, Expr, For, Op
from ..kind import FLOAT, Kind
from ..rules import PRIMITIVES
from .kinds import expr_kind, kind_or_float


def whole_array_ops(fn: ir.Function, kinds: dict[str, Kind]) -> list[tuple[ir.Stmt, Op]]:
    """Operations on whole arrays (not single elements), with their statements."""
    found = []
    for stmt in ir.walk(fn.body):
        if isinstance(stmt, Assign) and isinstance(stmt.value, Op):
            op, prim = stmt.value, PRIMITIVES[stmt.value.prim]
            if prim.element_level and not kinds.get(stmt.target, FLOAT).is_array:
                continue
            if prim.element_level and not prim.index_read:
                continue  # creating an array, reading a size
            arg_kinds = [kind_or_float(a, kinds) for a in op.args]
            if kinds.get(stmt.target, FLOAT).is_array or any(k.is_array for k in arg_kinds):
                found.append((stmt, op))
        elif isinstance(stmt, ir.SetItem) and (expr_kind(stmt.value, kinds) or FLOAT).is_array:
            found.append((stmt, Op("copy", (stmt.value,))))
        elif not isinstance(stmt, _NO_WHOLE_ARRAY_OP):
            raise ir.unknown_statement(stmt)
    return found


# statements that compute nothing on whole arrays themselves (their expressions are atoms,
# tests and bounds; a call's arrays are the callee's)
_NO_WHOLE_ARRAY_OP = (
    Assign, ir.SetItem, ir.Call, For, ir.If, ir.While, ir.Return, ir.Push, ir.Pop, ir.IndexAdd,
    ir.Check, ir.Comment,
)  # fmt: skip


def primitive_ops(fn: ir.Function):
    """Every primitive application in ``fn``."""
    for _, op in ops_by_statement(fn):
        yield op


def ops_by_statement(fn: ir.Function):
    """Every primitive application in ``fn``, with its statement."""
    for stmt in ir.walk(fn.body):
        for expr in ir.expressions(stmt):
            for op in _ops_in(expr):
                yield stmt, op


def _ops_in(expr: Expr):
    if isinstance(expr, Op):
        yield expr
        for arg in expr.args:
            yield from _ops_in(arg)
