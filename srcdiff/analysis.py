"""Stage 3: what the reverse transform needs to know about a normalized function.

* kinds: which variables hold bools, ints, floats or arrays (from the argument kinds);
* activity: which float variables depend on a differentiated input AND influence a
  result; only those get adjoints;
* to-be-recorded: which variables the reverse sweep reads after they may have been
  overwritten; only those are saved on a tape;
* writes into arrays: only into arrays the function made, never seen through stale views;
* the backend: Numba or NumPy, from the code (``choose_backend``), and the printed form of
  each primitive once every kind is known (``specialize``).

Each analysis is a small fixed point over the statement list, insensitive to order
(a sound over-approximation: an extra active or taped variable costs time, never
correctness).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from . import ir
from .errors import SrcdiffError
from .ir import Assign, Call, Const, Expr, For, Name, Op
from .rules import PRIMITIVES, KindError, is_array, join_kinds
from .rules.arrays import ELEMENT_LEVEL, INDEX_READS

# result kinds of a called function, given its argument kinds
CalleeKinds = Callable[[str, tuple[str, ...]], tuple[str, ...]]


def const_kind(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return "str"
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
            args = stmt.value.args
            for position in prim.arrays:  # an argument a rule takes as an array
                arg = args[position]
                if not isinstance(arg, Name):
                    continue
                if prim.name.startswith("index"):  # as many indices as dimensions
                    rank = sum(1 for a in args[1:] if a != Const(None))
                    kinds[arg.id] = f"array:float:{rank}"
                elif prim.name == "matmul":  # most likely matrices
                    kinds.setdefault(arg.id, "array:float:2")
                else:  # x.shape[k], len(x): the rank is unknown
                    kinds.setdefault(arg.id, "array:float:1")
            for position in prim.integers:  # an index: an integer, until a call says otherwise
                if isinstance(args[position], Name):
                    kinds.setdefault(args[position].id, "int")
        if isinstance(stmt, ir.SetItem):
            kinds.setdefault(stmt.target, f"array:float:{len(stmt.indices)}")
            for index in stmt.indices:
                if isinstance(index, Name):
                    kinds.setdefault(index.id, "int")
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
    elif isinstance(stmt, ir.SetItem) and stmt.target in kinds:
        read = Op(f"index{len(stmt.indices)}", (Name(stmt.target), *stmt.indices))
        try:
            expr_kind(read, kinds)  # the indices fit the array
        except KindError as err:
            raise (stmt.loc.error if stmt.loc else SrcdiffError)(str(err)) from None
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
            if (vjp is not None or prim.opaque) and isinstance(a, Name)
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
        elif isinstance(stmt, ir.SetItem):
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


# --- arrays written in place ------------------------------------------------------------

CREATIONS = {"zeros", "ones", "empty", "zeros_like", "ones_like", "array_copy", "eye"}
# operations whose result may share memory with their first argument
VIEWS = {"index1", "index2", "index3", "transpose", "reshape", "ravel", "expand_dims", "copy"}


def check_writes(fn: ir.Function, kinds: dict[str, str]) -> None:
    """``y[i] = e`` only into arrays the function made itself, and never seen through a
    view taken before a later write: srcdiff follows values, not memory."""
    written = {s.target: s for s in ir.walk(fn.body) if isinstance(s, ir.SetItem)}
    for stmt in ir.walk(fn.body):
        if _assigns_one_of(stmt, written) and not _creates_array(stmt):
            name = stmt.target
            raise _error(
                written[name],
                f"`{name}` is written in place, so it must be an array this function makes "
                f"(np.zeros, np.empty, .copy()), assigned once",
            )
    for name, stmt in written.items():
        if name in fn.params:
            raise _error(stmt, f"writing into the argument `{name}`; write into {name}.copy()")
        if not is_array(kinds.get(name)):
            raise _error(stmt, f"`{name}` is not an array")
    _check_views(fn.body, set(written), kinds)


def _assigns_one_of(stmt: ir.Stmt, names) -> bool:
    return isinstance(stmt, (Assign, Call)) and any(t in names for t in ir.targets_of(stmt))


def _creates_array(stmt: ir.Stmt) -> bool:
    return isinstance(stmt, Assign) and isinstance(stmt.value, Op) and stmt.value.prim in CREATIONS


def _error(stmt: ir.Stmt, message: str) -> SrcdiffError:
    return (stmt.loc.error if stmt.loc else SrcdiffError)(message)


def _check_views(block: list[ir.Stmt], written: set[str], kinds: dict[str, str]) -> None:
    """A view of a written array (a slice, a transpose, a copy of the name) may be used
    only in its own block, before the next write into that array."""
    for k, stmt in enumerate(block):
        for child in ir.child_blocks(stmt):
            _check_views(child, written, kinds)
        source = _viewed(stmt, written, kinds)
        if source is None:
            continue
        view = stmt.target
        later_write = False
        for later in block[k + 1 :]:
            if view in ir.read_in([later]) and later_write:
                raise _error(
                    later,
                    f"`{view}` is a view of `{source}`, which is written in place after it "
                    f"was taken; take a copy instead ({view} = ... .copy())",
                )
            if source in ir.assigned_in([later]) and not _disjoint(stmt.value, source, later):
                later_write = True
            if view in ir.assigned_in([later]):
                break


def _disjoint(view: Expr, source: str, later: ir.Stmt) -> bool:
    """Whether every write into ``source`` in ``later`` misses the row ``view`` reads:
    both at different constant non-negative first indices (``h = s[0]``, ``s[1] = e``)."""
    row = _constant_row(view)
    if row is None:
        return False
    for stmt in ir.walk([later]):
        if source not in ir.targets_of(stmt):
            continue
        if not isinstance(stmt, ir.SetItem) or _constant_row(stmt.indices[0]) in (None, row):
            return False
    return True


def _constant_row(expr: Expr) -> int | None:
    if isinstance(expr, Op) and expr.prim in INDEX_READS:
        expr = expr.args[1]
    if isinstance(expr, Const) and type(expr.value) is int and expr.value >= 0:
        return expr.value
    return None


def views_of_written(fn: ir.Function, kinds: dict[str, str]) -> set[str]:
    """Variables that may share memory with an array written in place later (``r = s[0]``
    before ``s[0] = e``): their values change under them, so what the reverse sweep reads
    of them must be a copy taken when they were assigned."""
    written = {s.target for s in ir.walk(fn.body) if isinstance(s, ir.SetItem)}
    sharing = set(written)
    views: set[str] = set()
    changed = True
    while changed:
        changed = False
        for stmt in ir.walk(fn.body):
            if _viewed(stmt, sharing, kinds) is not None and stmt.target not in views:
                views.add(stmt.target)
                sharing.add(stmt.target)
                changed = True
    return views


def _viewed(stmt: ir.Stmt, written: set[str], kinds: dict[str, str]) -> str | None:
    if not isinstance(stmt, Assign) or not is_array(kinds.get(stmt.target)):
        return None
    value = stmt.value
    if isinstance(value, Name) and value.id in written:
        return value.id
    if isinstance(value, Op) and value.prim in VIEWS and isinstance(value.args[0], Name):
        return value.args[0].id if value.args[0].id in written else None
    return None


# --- where the code runs ------------------------------------------------------------------


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
            arg_kinds = [_kind_or_float(a, kinds) for a in op.args]
            if is_array(kinds.get(stmt.target)) or any(is_array(k) for k in arg_kinds):
                found.append((stmt, op))
        elif isinstance(stmt, ir.SetItem) and is_array(expr_kind(stmt.value, kinds)):
            found.append((stmt, Op("copy", (stmt.value,))))
    return found


def choose_backend(fn: ir.Function, kinds: dict[str, str], requested: str) -> tuple[str, str]:
    """Where the generated code runs, and why: "numba" for loop and scalar code, and for
    loops over small arrays (NumPy's overhead per call would dominate); "numpy" for array
    statements outside loops (NumPy's transcendental functions are several times faster
    than Numba's), with loops over elements moved into Numba kernels, and for code Numba
    cannot compile. ``requested`` ("auto", "numba", "numpy") overrides."""
    arrays = whole_array_ops(fn, kinds)

    def numba_ok(op: Op) -> bool:
        arg_kinds = tuple(expr_kind(a, kinds) or "float" for a in op.args)
        return PRIMITIVES[op.prim].numba_ok(arg_kinds, op.args)

    if requested == "numba":
        every_op = [(s, op) for s in ir.walk(fn.body) for e in _exprs_of(s) for op in _ops_in(e)]
        on_arrays = {id(op) for _, op in arrays}
        for stmt, op in every_op:
            prim = PRIMITIVES[op.prim]
            if not (prim.numba or prim.numba_lower) or id(op) in on_arrays and not numba_ok(op):
                raise _error(
                    stmt,
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
        for expr in _exprs_of(stmt):
            yield from _ops_in(expr)


def _exprs_of(stmt: ir.Stmt) -> list[Expr]:
    found = [getattr(stmt, a, None) for a in ("value", "test", "start", "stop", "step")]
    found += list(getattr(stmt, "args", ())) + list(getattr(stmt, "values", ()))
    return [e for e in found if e is not None]


def _ops_in(expr: Expr):
    if isinstance(expr, Op):
        yield expr
        for arg in expr.args:
            yield from _ops_in(arg)


def specialize(fn: ir.Function, kinds: dict[str, str]) -> None:
    """Print each elementwise primitive applied to an array as its array form
    (``math.exp`` -> ``np.exp``), now that every variable's kind is known; under Numba,
    replace what Numba lacks by its Numba form."""

    def lower(expr: Expr) -> Expr:
        if not isinstance(expr, Op):
            return expr
        args = tuple(lower(a) for a in expr.args)
        prim = PRIMITIVES[expr.prim]
        if prim.array_variant is not None:
            if any(is_array(_kind_or_float(a, kinds)) for a in args):
                return Op(prim.array_variant, args)
        if prim.expand is not None:
            expanded = prim.expand(tuple(_kind_or_float(a, kinds) for a in args), args)
            if expanded is not None:
                return lower(expanded)
        if fn.backend == "numba" and prim.numba_lower is not None:
            lowered = prim.numba_lower(tuple(_kind_or_float(a, kinds) for a in args), args)
            if lowered is not None:
                return lower(lowered)
        return Op(expr.prim, args)

    for stmt in ir.walk(fn.body):
        _map_exprs(stmt, lower)


def _kind_or_float(expr: Expr, kinds: dict[str, str]) -> str:
    try:
        return expr_kind(expr, kinds) or "float"
    except KindError:
        return "float"


def _map_exprs(stmt: ir.Stmt, f) -> None:
    if isinstance(stmt, Assign):
        stmt.value = f(stmt.value)
    elif isinstance(stmt, (ir.Push, ir.IndexAdd, ir.SetItem)):
        stmt.value = f(stmt.value)
        if not isinstance(stmt, ir.Push):
            stmt.indices = tuple(f(i) for i in stmt.indices)
    elif isinstance(stmt, (Call, ir.Return)):
        if isinstance(stmt, Call):
            stmt.args = tuple(f(a) for a in stmt.args)
        else:
            stmt.values = tuple(f(v) for v in stmt.values)
    elif isinstance(stmt, (ir.If, ir.While)):
        stmt.test = f(stmt.test)
