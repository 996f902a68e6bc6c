"""The two analyses that make the adjoint lean (Tapenade's): activity (which float variables
depend on a differentiated input AND influence a result; only those get adjoints) and
to-be-recorded (which variables the reverse sweep reads after they may have been
overwritten; only those are saved on a tape), with the reads cheap enough to recompute.
"""

from __future__ import annotations

from collections import Counter

from .. import ir
from ..ir import Assign, Call, Expr, For, Name, Op
from ..rules import PRIMITIVES


def differentiable_args(expr: Expr) -> list[str]:
    """The variables an assignment's value depends on differentiably."""
    if isinstance(expr, Name):
        return [expr.id]
    if isinstance(expr, Op):
        prim = PRIMITIVES[expr.prim]
        return [
            a.id
            for a, vjp in zip(expr.args, prim.vjps, strict=True)
            if (vjp is not None or prim.opaque) and isinstance(a, Name)
        ]
    return []


def find_active(
    fn: ir.Function, kinds: dict[str, str], wrt: set[str], results: set[str]
) -> set[str]:
    """Float variables that depend on ``wrt`` and influence ``results``."""
    edges: list[tuple[list[str], tuple[str, ...]]] = []  # (sources, targets)
    for stmt in ir.walk(fn.body):
        match stmt:
            case Assign() | ir.SetItem():
                edges.append((differentiable_args(stmt.value), (stmt.target,)))
            case Call():
                sources = [a.id for a in stmt.args if isinstance(a, Name)]
                edges.append((sources, stmt.targets))
            case For() | ir.If() | ir.While() | ir.Return() | ir.Check() | ir.Comment():
                pass  # no value flows into a float (a loop counter does not vary)
            case ir.Push() | ir.Pop() | ir.IndexAdd():
                pass  # made by the reverse transform, after this analysis
            case _:
                raise ir.unknown_statement(stmt)

    def is_float(name: str) -> bool:
        kind = kinds.get(name, "")
        return kind == "float" or kind.startswith("array:float")

    varied = {v for v in wrt if is_float(v)}
    useful = {r for r in results if is_float(r)}
    changed = True
    while changed:
        changed = False
        for sources, targets in edges:
            if any(s in varied for s in sources):
                new = {t for t in targets if is_float(t)} - varied
                if new:
                    varied |= new
                    changed = True
            if any(t in useful for t in targets):
                new = {s for s in sources if is_float(s)} - useful
                if new:
                    useful |= new
                    changed = True
    return varied & useful


def definition_counts(fn: ir.Function, partial_writes: bool = True) -> dict[str, int]:
    """How many times each variable may be assigned on one run: a site inside a loop
    counts twice, and of two branches of an ``if`` only the one that assigns more.
    ``partial_writes``: whether writing an element (``y[i] = e``) counts."""

    def count(block: list[ir.Stmt]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for stmt in block:
            if isinstance(stmt, ir.SetItem) and not partial_writes:
                continue
            counts.update(ir.targets_of(stmt))
            if isinstance(stmt, ir.If):
                counts.update(count(stmt.body) | count(stmt.orelse))  # | is the maximum
            elif isinstance(stmt, (ir.For, ir.While)):
                inner = Counter()
                for child in ir.child_blocks(stmt):
                    inner.update(count(child))
                counts.update({v: 2 * n for v, n in inner.items()})
        return counts

    counts = Counter(dict.fromkeys(fn.params, 1))
    counts.update(count(fn.body))
    return dict(counts)


def to_be_recorded(fn: ir.Function, reverse_reads: set[str]) -> set[str]:
    """Variables the reverse sweep reads that may be overwritten before it reads them."""
    counts = definition_counts(fn)
    return {v for v in reverse_reads if counts.get(v, 0) > 1}


def find_recomputable(fn: ir.Function) -> dict[int, list[Assign]]:
    """Per ``for`` loop (by id), the statements at the top of its body that the reversed
    loop can simply re-run each iteration instead of taping their results, like
    ``t1 = x[t]``: a single assignment of a cheap operation whose operands are the loop
    variable, values the loop never changes, or other such statements; its result is
    used only later in the same iteration."""
    sites: dict[str, int] = {}
    for stmt in ir.walk(fn.body):
        for target in ir.targets_of(stmt):
            sites[target] = sites.get(target, 0) + 1
    found: dict[int, list[Assign]] = {}
    for loop in ir.walk(fn.body):
        if isinstance(loop, For):
            chosen = _recomputable_in(fn, loop, sites)
            if chosen:
                found[id(loop)] = chosen
    return found


def _recomputable_in(fn: ir.Function, loop: For, sites: dict[str, int]) -> list[Assign]:
    changed_in_loop = ir.assigned_in(loop.body)
    read_outside = reads_outside(fn.body, loop)

    def iteration_local(target: str, k: int) -> bool:
        # one assignment, at the top of the body; read only after it, in the same iteration
        return (
            sites.get(target) == 1
            and target not in read_outside
            and target not in ir.read_in(loop.body[:k])
        )

    # Values that hold this iteration's value at the top of the reversed iteration: the
    # loop variable, values the loop never changes, and earlier iteration-local values.
    available = {loop.var}
    chosen: list[Assign] = []
    for k, stmt in enumerate(loop.body):
        if not isinstance(stmt, Assign):
            continue
        local = iteration_local(stmt.target, k)
        operands = set(ir.names_in(stmt.value))
        if (
            local
            and isinstance(stmt.value, Op)
            and PRIMITIVES[stmt.value.prim].is_cheap(stmt.value.args)
            and all(n in available or n not in changed_in_loop for n in operands)
        ):
            chosen.append(stmt)
        if local:
            available.add(stmt.target)
    return chosen


def reads_outside(block: list[ir.Stmt], loop: For | ir.While) -> set[str]:
    """Every variable read in ``block`` outside the body of ``loop``."""
    reads: set[str] = set()
    for stmt in block:
        reads |= ir.reads_of(stmt)
        if stmt is not loop:
            for child in ir.child_blocks(stmt):
                reads |= reads_outside(child, loop)
    return reads
