"""Stage 3: what the reverse transform needs to know about a normalized function.

* kinds: which variables hold bools, ints, floats or arrays (from the argument kinds);
* activity: which float variables depend on a differentiated input AND influence a
  result; only those get adjoints;
* to-be-recorded: which variables the reverse sweep reads after they may have been
  overwritten; only those are saved on a tape.

Each analysis is a small fixed point over the statement list, insensitive to order
(a sound over-approximation: an extra active or taped variable costs time, never
correctness).
"""

from __future__ import annotations

from collections.abc import Callable

from . import ir
from .errors import SrcdiffError
from .ir import Assign, Call, Const, Expr, For, Name, Op
from .rules import PRIMITIVES, KindError, join_kinds

# result kinds of a called function, given its argument kinds
CalleeKinds = Callable[[str, tuple[str, ...]], tuple[str, ...]]


def const_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    return "int" if isinstance(value, int) else "float"


def expr_kind(expr: Expr, kinds: dict[str, str]) -> str | None:
    if isinstance(expr, Name):
        return kinds.get(expr.id)
    if isinstance(expr, Const):
        return const_kind(expr.value)
    arg_kinds = tuple(expr_kind(a, kinds) for a in expr.args)
    if None in arg_kinds:
        return None
    return PRIMITIVES[expr.prim].kind(arg_kinds, expr.args)


def guess_kinds(program) -> dict[str, str]:
    """Kinds for the main function's parameters before any call, from how they are used:
    indexed means an array, a range bound an int. Follows copies and calls of helpers."""
    usage = {name: _direct_usage(f.ir) for name, f in program.functions.items()}
    changed = True
    while changed:
        changed = False
        for name, function in program.functions.items():
            kinds = usage[name]
            for stmt in ir.walk(function.ir.body):
                for source, kind in _implied_kinds(stmt, kinds, usage, program):
                    if kind is not None and source not in kinds:
                        kinds[source] = kind
                        changed = True
    return usage[program.main.ir.name]


def _direct_usage(fn: ir.Function) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for stmt in ir.walk(fn.body):
        if isinstance(stmt, For):
            for bound in (stmt.start, stmt.stop, stmt.step):
                for name in ir.names_in(bound):
                    kinds.setdefault(name, "int")
        if isinstance(stmt, Assign) and isinstance(stmt.value, Op):
            prim = PRIMITIVES[stmt.value.prim]
            for position in prim.arrays:  # an argument a rule takes as an array
                arg = stmt.value.args[position]
                if not isinstance(arg, Name):
                    continue
                if prim.name.startswith("index"):  # as many indices as dimensions
                    kinds[arg.id] = f"array:float:{len(prim.integers)}"
                else:  # x.shape[k], len(x): the rank is unknown
                    kinds.setdefault(arg.id, "array:float:1")
    return kinds


INTEGER_ARITHMETIC = {"add", "sub", "mul", "floordiv", "mod", "neg"}


def _implied_kinds(stmt: ir.Stmt, kinds: dict[str, str], usage, program):
    """(variable, kind) pairs a statement implies: a copy has its source's kind and a
    call argument the kind its parameter is used as."""
    if isinstance(stmt, Assign) and isinstance(stmt.value, Name):
        yield stmt.value.id, kinds.get(stmt.target)
        yield stmt.target, kinds.get(stmt.value.id)
    elif isinstance(stmt, Assign) and isinstance(stmt.value, Op):
        # an integer computed by integer arithmetic (range(n - 1)) comes from integers
        if kinds.get(stmt.target) == "int" and stmt.value.prim in INTEGER_ARITHMETIC:
            for name in ir.names_in(stmt.value):
                yield name, "int"
    elif isinstance(stmt, Call):
        params = program.functions[stmt.func].ir.params
        for param, arg in zip(params, stmt.args, strict=True):
            if isinstance(arg, Name):
                yield arg.id, usage[stmt.func].get(param)


def infer_kinds(
    fn: ir.Function, param_kinds: dict[str, str], callee_kinds: CalleeKinds
) -> dict[str, str]:
    """The kind of every variable, joined over all its assignments."""
    kinds = dict(param_kinds)
    statements = list(ir.walk(fn.body))
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            for target, kind in _assigned_kinds(stmt, kinds, callee_kinds):
                if kind is None:
                    continue
                joined = _join(kinds.get(target), kind, target, stmt)
                if joined != kinds.get(target):
                    kinds[target] = joined
                    changed = True
    for stmt in statements:  # names only ever assigned from themselves: default to float
        for target in ir.targets_of(stmt):
            kinds.setdefault(target, "float")
        if isinstance(stmt, For):
            for bound in (stmt.start, stmt.stop, stmt.step):
                if expr_kind(bound, kinds) not in ("int", "bool"):
                    raise (stmt.loc.error if stmt.loc else SrcdiffError)(
                        f"range() needs integers, but a bound is a {expr_kind(bound, kinds)}"
                    )
    return kinds


def _assigned_kinds(stmt: ir.Stmt, kinds: dict[str, str], callee_kinds: CalleeKinds):
    if isinstance(stmt, Assign):
        try:
            yield stmt.target, expr_kind(stmt.value, kinds)
        except KindError as err:
            raise (stmt.loc.error if stmt.loc else SrcdiffError)(str(err)) from None
    elif isinstance(stmt, For):
        yield stmt.var, "int"
    elif isinstance(stmt, Call):
        arg_kinds = tuple(expr_kind(a, kinds) for a in stmt.args)
        if None not in arg_kinds:
            yield from zip(stmt.targets, callee_kinds(stmt.func, arg_kinds), strict=True)


def _join(old: str | None, new: str, target: str, stmt: ir.Stmt) -> str:
    if old is None or old == new:
        return new
    if old.startswith("array") or new.startswith("array"):
        raise (stmt.loc.error if stmt.loc else SrcdiffError)(
            f"`{target}` holds both {old} and {new} values; use separate names"
        )
    return join_kinds((old, new))


def differentiable_args(expr: Expr) -> list[str]:
    """The variables an assignment's value depends on differentiably."""
    if isinstance(expr, Name):
        return [expr.id]
    if isinstance(expr, Op):
        prim = PRIMITIVES[expr.prim]
        return [
            a.id
            for a, vjp in zip(expr.args, prim.vjps, strict=True)
            if vjp is not None and isinstance(a, Name)
        ]
    return []


def find_active(
    fn: ir.Function, kinds: dict[str, str], wrt: set[str], results: set[str]
) -> set[str]:
    """Float variables that depend on ``wrt`` and influence ``results``."""
    edges: list[tuple[list[str], tuple[str, ...]]] = []  # (sources, targets)
    for stmt in ir.walk(fn.body):
        if isinstance(stmt, Assign):
            edges.append((differentiable_args(stmt.value), (stmt.target,)))
        elif isinstance(stmt, Call):
            sources = [a.id for a in stmt.args if isinstance(a, Name)]
            edges.append((sources, stmt.targets))

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


def definition_counts(fn: ir.Function) -> dict[str, int]:
    """How many times each variable may be assigned: a site inside a loop counts twice."""
    counts = {p: 1 for p in fn.params}

    def visit(block: list[ir.Stmt], in_loop: bool) -> None:
        for stmt in block:
            for target in ir.targets_of(stmt):
                counts[target] = counts.get(target, 0) + (2 if in_loop else 1)
            nested = in_loop or isinstance(stmt, (ir.For, ir.While))
            for child in ir.child_blocks(stmt):
                visit(child, nested)

    visit(fn.body, False)
    return counts


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
    read_outside = _reads_outside(fn.body, loop)

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


def _reads_outside(block: list[ir.Stmt], loop: For) -> set[str]:
    reads: set[str] = set()
    for stmt in block:
        if stmt is loop:
            reads |= ir.reads_of(stmt)
            continue
        reads |= ir.reads_of(stmt)
        for child in ir.child_blocks(stmt):
            reads |= _reads_outside(child, loop)
    return reads


def lower_for_kinds(fn: ir.Function, variants: list[dict[str, str]]) -> None:
    """Replace primitives whose Numba meaning differs from Python's for some argument kinds
    (``n ** k`` of ints), if any of the functions' kind variants needs it."""
    for stmt in ir.walk(fn.body):
        if isinstance(stmt, Assign) and isinstance(stmt.value, Op):
            prim = PRIMITIVES[stmt.value.prim]
            if prim.lower is None:
                continue
            for kinds in variants:
                arg_kinds = tuple(expr_kind(a, kinds) or "float" for a in stmt.value.args)
                lowered = prim.lower(arg_kinds, stmt.value.args)
                if lowered is not None:
                    stmt.value = lowered
                    break
