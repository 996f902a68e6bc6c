"""What the backends' cost models read of a function (``backends``): its operations on whole
arrays, and every primitive it applies."""

from __future__ import annotations

from .. import ir
from ..ir import Assign, Expr, Op
from ..rules import is_array
from ..rules.arrays import ELEMENT_LEVEL, INDEX_READS
from .kinds import expr_kind, kind_or_float


def whole_array_ops(fn: ir.Function, kinds: dict[str, str]) -> list[tuple[ir.Stmt, Op]]:
    """Operations on whole arrays (not single elements), with their statements."""
    found = []
    for stmt in ir.walk(fn.body):
        if isinstance(stmt, Assign) and isinstance(stmt.value, Op):
            op = stmt.value
            if op.prim in ELEMENT_LEVEL and not is_array(kinds.get(stmt.target)):
                continue
            if op.prim in ELEMENT_LEVEL and op.prim not in INDEX_READS:
                continue  # creating an array, reading a size
            arg_kinds = [kind_or_float(a, kinds) for a in op.args]
            if is_array(kinds.get(stmt.target)) or any(is_array(k) for k in arg_kinds):
                found.append((stmt, op))
        elif isinstance(stmt, ir.SetItem) and is_array(expr_kind(stmt.value, kinds)):
            found.append((stmt, Op("copy", (stmt.value,))))
    return found


def primitive_ops(fn: ir.Function):
    """Every primitive application in ``fn``."""
    for _, op in ops_by_statement(fn):
        yield op


def ops_by_statement(fn: ir.Function):
    """Every primitive application in ``fn``, with its statement."""
    for stmt in ir.walk(fn.body):
        for expr in _exprs_of(stmt):
            for op in _ops_in(expr):
                yield stmt, op


def _exprs_of(stmt: ir.Stmt) -> list[Expr]:
    found = [getattr(stmt, a, None) for a in ("value", "test", "start", "stop", "step")]
    found += list(getattr(stmt, "args", ())) + list(getattr(stmt, "values", ()))
    return [e for e in found if e is not None]


def _ops_in(expr: Expr):
    if isinstance(expr, Op):
        yield expr
        for arg in expr.args:
            yield from _ops_in(arg)
