"""Stage 6b: move loops over array elements into Numba kernels of their own.

A function whose array statements run best as NumPy calls may still loop over single
elements (``for i in range(n - 1): s += (x[i + 1] - x[i] ** 2) ** 2``), which plain
Python runs a hundred times slower than Numba. Each such loop (one that touches arrays
only element by element) becomes a function of its own, compiled with Numba: it takes
the variables the loop reads and returns the ones it changes that are read later.

    s, _top_f = f_adjoint_loop0(x, n, s, _tape_f, _top_f)

Under the Numba backend the loops over array elements move too: LLVM vectorizes such a
loop in a function of its own, and did not inside the larger adjoint. Which loops move is
the backend's choice (``worth_a_kernel``). Arrays the loop writes into (adjoints, tapes)
are shared, not copied.
"""

from __future__ import annotations

from collections.abc import Callable

from . import ir
from .analysis.activity import reads_outside
from .ir import Assign, Call, For, Name, Return, While
from .kind import FLOAT
from .optimize import live_before
from .reverse import stand_in

# (function, loop) -> whether the loop moves into a kernel: the backend's ``worth_a_kernel``
WorthAKernel = Callable[[ir.Function, For | While], bool]


def outline_loops(fn: ir.Function, taken: set[str], worth: WorthAKernel) -> list[ir.Function]:
    """Replace ``fn``'s outermost loops that are ``worth`` it (the backend says which) by
    calls of kernels (new functions, compiled with Numba), which it returns. Under the
    NumPy backend this is what makes loops over elements fast; under Numba too, as LLVM
    vectorizes a loop on its own where it did not inside the larger function (a
    Rosenbrock gradient ran twice as fast)."""
    kernels: list[ir.Function] = []
    _outline_block(fn, fn.body, kernels, taken, worth)
    return kernels


def _outline_block(fn, block: list[ir.Stmt], kernels, taken, worth: WorthAKernel) -> None:
    """Outline in place, in program order: the analysis of each loop sees the loops
    before it as the calls they have become."""
    k = 0
    while k < len(block):
        stmt = block[k]
        if ir.is_loop(stmt) and worth(fn, stmt):
            kernel, call = _kernel_for(fn, stmt, _name(fn, kernels, taken))
            kernels.append(kernel)
            block[k : k + 1] = call
            k += len(call)
            continue
        for child in ir.child_blocks(stmt):
            _outline_block(fn, child, kernels, taken, worth)
        k += 1


def _name(fn: ir.Function, kernels: list[ir.Function], taken: set[str]) -> str:
    n = len(kernels)
    while f"{fn.name}_loop{n}" in taken:
        n += 1
    taken.add(f"{fn.name}_loop{n}")
    return f"{fn.name}_loop{n}"


def _kernel_for(fn, loop, name: str) -> tuple[ir.Function, list]:
    """The kernel running ``loop``, and the statements that call it."""
    defined_before = set(fn.params) | _assigned_earlier(fn, loop)
    reads = ir.read_in([loop]) | ir.reads_of(loop)
    changed = ir.assigned_in([loop])
    read_later = _live_after(fn, loop)
    results = sorted(n for n in changed & read_later if not _mutated_only(loop, n))
    # A result the loop may not assign (it may run no iteration) gets a stand-in of its kind
    # first: a kernel cannot return an unassigned variable. Reads of it that Python would
    # reject are guarded by the unassigned-read checks.
    stand_ins = [
        Assign(r, stand_in(fn.kinds.get(r, FLOAT)), loop.loc)
        for r in results
        if r not in defined_before
    ]
    # a result goes in as well as out: after no iteration it keeps the value it had
    params = sorted(((reads | set(results)) & defined_before) | {s.target for s in stand_ins})
    kinds = {v: k for v, k in fn.kinds.items() if v in params or v in changed}
    body = [loop, Return(tuple(Name(r) for r in results))]
    kernel = ir.Function(name, params, body, loop.loc, kinds=kinds)
    call = Call(tuple(results), name, tuple(Name(p) for p in params), loop.loc)
    return kernel, [*stand_ins, call]


def _mutated_only(loop, name: str) -> bool:
    """An array the loop only writes into (``g_x[i] += ...``): shared, not returned."""
    for stmt in ir.walk([loop]):
        if name in ir.targets_of(stmt) and name not in ir.element_writes_of(stmt):
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


def _live_after(fn: ir.Function, loop) -> set[str]:
    """The variables read after ``loop`` before being assigned: exact for a loop at the
    top of the function, else every variable read outside the loop."""
    for k, stmt in enumerate(fn.body):
        if stmt is loop:
            return live_before(fn.body[k + 1 :], set())
    return reads_outside(fn.body, loop)
