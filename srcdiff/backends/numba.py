"""The Numba backend: every generated function compiled with Numba (``numba.njit``).

Fast for loops and scalar code, and for loops over small arrays, where NumPy's cost per call
would dominate. Its tapes are typed arrays of numbers, so it cannot record whole arrays, and
a variable keeps one type, so array adjoints are arrays from the start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import ir
from ..analysis.kinds import expr_kind
from ..analysis.placement import ops_by_statement, primitive_ops, whole_array_ops
from ..errors import SourceLocation, SrcdiffError, error_at
from ..ir import Call, Expr, For, Op, While
from ..jit import CompiledAdjoint
from ..kind import FLOAT, Kind
from ..rules import PRIMITIVES, Primitive

if TYPE_CHECKING:
    from ..buffers import Layout
    from ..transform import GeneratedModule


class Numba:
    name = "numba"
    title = "compiled with Numba"
    records_arrays = False  # tapes are typed arrays of numbers
    lazy_array_adjoints = False  # a variable keeps one type
    layout_specific = False
    widens_float32 = True  # Numba would otherwise mix float32 and float64 in one variable
    allocates_temporaries = False
    declined_recording = "an array the gradient needs back is reassigned, which only NumPy records"

    # --- what it runs, and its cost model ----------------------------------------------------
    def check(self, fn: ir.Function, kinds: dict[str, Kind]) -> None:
        on_arrays = {id(op) for _, op in whole_array_ops(fn, kinds)}
        for stmt, op in ops_by_statement(fn):
            prim = PRIMITIVES[op.prim]
            no_form = not (prim.numba or prim.numba_lower)
            if no_form or (id(op) in on_arrays and not _has_form(op, kinds)):
                what = prim.numba_missing or f"`{prim.source}` has no Numba version in srcdiff"
                raise error_at(stmt.loc, f"{what}; use backend='numpy' or 'auto'")

    def assess(self, fn: ir.Function, kinds: dict[str, Kind]) -> tuple[bool, str]:
        """Loop and scalar code, and loops over (small) arrays, where NumPy's cost per call
        would dominate; not array statements outside loops (NumPy's transcendental
        functions are several times faster than Numba's), nor code it cannot compile."""
        arrays = whole_array_ops(fn, kinds)
        python_only = next((op for op in primitive_ops(fn) if not PRIMITIVES[op.prim].numba), None)
        if python_only is not None:  # a user's function that is not a Numba function
            prim = PRIMITIVES[python_only.prim]
            return False, prim.numba_missing or f"`{prim.source}` is not a Numba function"
        if not arrays:
            return True, "loop and scalar code"
        in_loops = {id(s) for loop in ir.walk(fn.body) if isinstance(loop, (For, While))
                    for s in ir.walk(loop.body)}  # fmt: skip
        if not any(id(stmt) in in_loops for stmt, _ in arrays):
            return False, "array statements outside loops, which NumPy runs faster than Numba"
        missing = next((op for _, op in arrays if not _has_form(op, kinds)), None)
        if missing is not None:
            return False, f"`{PRIMITIVES[missing.prim].source}` has no Numba form in srcdiff"
        return True, "loops over arrays, where NumPy's cost per call would dominate"

    def cannot_record(self, at: SourceLocation) -> SrcdiffError:
        return at.error(
            "an array is reassigned while the gradient still needs its old value, which the "
            "Numba backend cannot record; use a new name, or backend='numpy'"
        )

    def runs_loop(self, fn: ir.Function, loop: For | While) -> bool:
        """A loop Numba can run on its own: elements and scalars only, no list tape, no
        calls of other generated functions or of Python functions, no np.add.at."""
        body = ir.Function("loop", [], [loop], fn.loc, kinds=fn.kinds)
        if whole_array_ops(body, fn.kinds):
            return False
        if any(not PRIMITIVES[op.prim].numba for op in primitive_ops(body)):
            return False  # a user's function that is not a Numba function
        for stmt in ir.walk([loop]):
            if isinstance(stmt, Call):
                return False
            if isinstance(stmt, (ir.Push, ir.Pop)) and stmt.tape == "a":
                return False
            if isinstance(stmt, ir.IndexAdd) and stmt.unbuffered:
                return False
            if isinstance(stmt, ir.Assign) and not _numba_kind(fn.kinds.get(stmt.target)):
                return False
        return True

    # --- how it prints -----------------------------------------------------------------------
    def lower(
        self, prim: Primitive, kinds: tuple[Kind, ...], args: tuple[Expr, ...]
    ) -> Expr | None:
        """What Numba lacks, replaced by its Numba form from the rule table."""
        return prim.numba_lower(kinds, args) if prim.numba_lower is not None else None

    def worth_a_kernel(self, fn: ir.Function, loop: For | While) -> bool:
        """Loops over array elements: LLVM vectorizes them in a function of their own, not
        inside a larger one; a loop over numbers only reads better where it is."""
        return any(_touches_an_element(s) for s in ir.walk([loop]))

    def reuse_buffers(self, fn: ir.Function, layouts: dict[str, Layout]) -> str | None:
        return None

    # --- how it compiles ---------------------------------------------------------------------
    def compile(self, module: GeneratedModule, jit: bool | None, what: str) -> CompiledAdjoint:
        return CompiledAdjoint.of(module, jit, what, compiled=tuple(module.functions))

    def __repr__(self) -> str:
        return "<srcdiff backend numba>"


def _has_form(op: Op, kinds: dict[str, Kind]) -> bool:
    arg_kinds = tuple(expr_kind(a, kinds) or FLOAT for a in op.args)
    return PRIMITIVES[op.prim].numba_ok(arg_kinds, op.args)


def _touches_an_element(stmt: ir.Stmt) -> bool:
    if isinstance(stmt, (ir.IndexAdd, ir.SetItem)):
        return True
    reads_one = isinstance(stmt, ir.Assign) and isinstance(stmt.value, Op)
    return reads_one and PRIMITIVES[stmt.value.prim].index_read


def _numba_kind(kind: Kind | None) -> bool:
    return kind is None or kind.is_number or kind.is_array


NUMBA = Numba()
