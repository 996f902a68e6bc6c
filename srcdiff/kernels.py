"""Stage 6b: in code that runs on NumPy, move loops over elements into Numba kernels.

A function whose array statements run best as NumPy calls may still loop over single
elements (``for i in range(n - 1): s += (x[i + 1] - x[i] ** 2) ** 2``), which plain
Python runs a hundred times slower than Numba. Each such loop (one that touches arrays
only element by element) becomes a function of its own, compiled with Numba: it takes
the variables the loop reads and returns the ones it changes that are read later.

    s, _top_f = f_adjoint_loop0(x, n, s, _tape_f, _top_f)

Arrays the loop writes into (adjoints, tapes) are shared, not copied.
"""

from __future__ import annotations

from . import ir
from .analysis import whole_array_ops
from .ir import Call, For, Name, Return, While
from .rules import is_array


def outline_loops(fn: ir.Function, taken: set[str]) -> list[ir.Function]:
    """Replace ``fn``'s outermost element-level loops by calls of kernels; returns the
    kernels (new functions, compiled with Numba)."""
    kernels: list[ir.Function] = []
    fn.body = _outline_block(fn, fn.body, kernels, taken)
    return kernels


def _outline_block(fn, block, kernels, taken) -> list[ir.Stmt]:
    out: list[ir.Stmt] = []
    for stmt in block:
        if isinstance(stmt, (For, While)) and _runs_in_numba(fn, stmt):
            kernel, call = _kernel_for(fn, stmt, out, _name(fn, kernels, taken))
            kernels.append(kernel)
            out.append(call)
            continue
        if isinstance(stmt, ir.If):
            stmt.body = _outline_block(fn, stmt.body, kernels, taken)
            stmt.orelse = _outline_block(fn, stmt.orelse, kernels, taken)
        elif isinstance(stmt, (For, While)):
            stmt.body = _outline_block(fn, stmt.body, kernels, taken)
        out.append(stmt)
    return out


def _name(fn: ir.Function, kernels: list[ir.Function], taken: set[str]) -> str:
    n = len(kernels)
    while f"{fn.name}_loop{n}" in taken:
        n += 1
    taken.add(f"{fn.name}_loop{n}")
    return f"{fn.name}_loop{n}"


def _runs_in_numba(fn: ir.Function, loop: For | While) -> bool:
    """A loop Numba can run on its own: elements and scalars only, no list tape, no
    calls of other generated functions, no np.add.at."""
    body = ir.Function("loop", [], [loop], fn.loc, kinds=fn.kinds)
    if whole_array_ops(body, fn.kinds):
        return False
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


def _numba_kind(kind: str | None) -> bool:
    return kind is None or kind in ("float", "int", "bool") or is_array(kind)


def _kernel_for(fn, loop, before: list[ir.Stmt], name: str) -> tuple[ir.Function, Call]:
    defined_before = set(fn.params) | ir.assigned_in(before) | _assigned_earlier(fn, loop)
    reads = ir.read_in([loop]) | ir.reads_of(loop)
    params = sorted(reads & defined_before)
    changed = ir.assigned_in([loop])
    read_later = _read_outside(fn.body, loop)
    results = sorted(n for n in changed & read_later if not _mutated_only(loop, n))
    kinds = {v: k for v, k in fn.kinds.items() if v in params or v in changed}
    body = [loop, Return(tuple(Name(r) for r in results))]
    kernel = ir.Function(name, params, body, loop.loc, kinds=kinds, backend="numba")
    call = Call(tuple(results), name, tuple(Name(p) for p in params), loop.loc)
    return kernel, call


def _mutated_only(loop, name: str) -> bool:
    """An array the loop only writes into (``g_x[i] += ...``): shared, not returned."""
    for stmt in ir.walk([loop]):
        if name in ir.targets_of(stmt) and not isinstance(stmt, (ir.IndexAdd, ir.SetItem)):
            return False
    return True


def _assigned_earlier(fn: ir.Function, loop) -> set[str]:
    """Variables assigned anywhere before ``loop`` in the function's text."""
    found: set[str] = set()
    for stmt in ir.walk(fn.body):
        if stmt is loop:
            return found
        found |= set(ir.targets_of(stmt))
    return found


def _read_outside(block: list[ir.Stmt], loop) -> set[str]:
    reads: set[str] = set()
    for stmt in block:
        if stmt is loop:
            continue
        reads |= ir.reads_of(stmt)
        for child in ir.child_blocks(stmt):
            reads |= _read_outside(child, loop)
    return reads
