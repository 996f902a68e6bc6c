"""Where the generated code runs: Numba or NumPy, from the code (``choose_backend``)."""

from __future__ import annotations

from .. import ir
from ..errors import error_at
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


def choose_backend(fn: ir.Function, kinds: dict[str, Kind], requested: str) -> tuple[str, str]:
    """Where the generated code runs, and why: "numba" for loop and scalar code, and for
    loops over small arrays (NumPy's overhead per call would dominate); "numpy" for array
    statements outside loops (NumPy's transcendental functions are several times faster
    than Numba's), with loops over elements moved into Numba kernels, and for code Numba
    cannot compile. ``requested`` ("auto", "numba", "numpy") overrides."""
    arrays = whole_array_ops(fn, kinds)

    def numba_ok(op: Op) -> bool:
        arg_kinds = tuple(expr_kind(a, kinds) or FLOAT for a in op.args)
        return PRIMITIVES[op.prim].numba_ok(arg_kinds, op.args)

    if requested == "numba":
        every_op = [
            (s, op) for s in ir.walk(fn.body) for e in ir.expressions(s) for op in _ops_in(e)
        ]
        on_arrays = {id(op) for _, op in arrays}
        for stmt, op in every_op:
            prim = PRIMITIVES[op.prim]
            if not (prim.numba or prim.numba_lower) or id(op) in on_arrays and not numba_ok(op):
                raise error_at(
                    stmt.loc,
                    f"`{prim.source}` has no Numba version in srcdiff; use backend='numpy' or "
                    "'auto'",
                )
        return "numba", "as requested"
    if requested == "numpy":
        return "numpy", "as requested"
    python_only = next((op for op in primitive_ops(fn) if not PRIMITIVES[op.prim].numba), None)
    if python_only is not None:  # a user's function that is not a Numba function
        return "numpy", f"`{PRIMITIVES[python_only.prim].source}` is not a Numba function"
    if not arrays:
        return "numba", "loop and scalar code"
    in_loops = {id(s) for loop in ir.walk(fn.body) if isinstance(loop, (For, ir.While))
                for s in ir.walk(loop.body)}  # fmt: skip
    if not any(id(stmt) in in_loops for stmt, _ in arrays):
        return "numpy", "array statements outside loops, which NumPy runs faster than Numba"
    missing = next((op for _, op in arrays if not numba_ok(op)), None)
    if missing is not None:
        return "numpy", f"`{PRIMITIVES[missing.prim].source}` has no Numba form in srcdiff"
    # (the transform falls back to NumPy if the reverse sweep must record a whole array)
    return "numba", "loops over arrays, where NumPy's cost per call would dominate"


def primitive_ops(fn: ir.Function):
    """Every primitive application in ``fn``."""
    for stmt in ir.walk(fn.body):
        for expr in ir.expressions(stmt):
            yield from _ops_in(expr)


def _ops_in(expr: Expr):
    if isinstance(expr, Op):
        yield expr
        for arg in expr.args:
            yield from _ops_in(arg)
