"""Stage 6: clean up generated code, so ``.source`` shows the program that runs.

Passes, run to a fixed point:
* algebraic simplification and constant folding (``1.0 * g`` -> ``g``, ``x ** 1`` -> ``x``);
* known-zero adjoints: ``g = 0.0`` followed by ``g = g + e`` becomes ``g = e``;
* copy propagation of ``a = b`` within a straight-line block;
* dead code elimination of pure assignments whose value is never read.
"""

from __future__ import annotations

import math

from . import ir
from .ir import Assign, Const, Expr, Name, Op
from .rules import PRIMITIVES


def optimize(fn: ir.Function, keep_results: bool = False) -> ir.Function:
    """Optimize ``fn`` in place. ``keep_results`` leaves the returned names alone (they
    are the variables the reverse transform seeds)."""
    for _ in range(10):
        before = repr(fn.body)
        fn.body = simplify_block(fn.body)
        fn.body = propagate_zeros(fn.body, set())[0]
        propagate_values(fn.body, _Values(), keep_results)
        fn.body = eliminate_dead_code(fn.body, set())
        if repr(fn.body) == before:
            break
    return fn


# --- algebraic simplification ----------------------------------------------------------


def is_const(expr: Expr, value: float) -> bool:
    return isinstance(expr, Const) and not isinstance(expr.value, bool) and expr.value == value


def simplify(expr: Expr) -> Expr:
    if not isinstance(expr, Op):
        return expr
    args = tuple(simplify(a) for a in expr.args)
    expr = Op(expr.prim, args)
    folded = _fold(expr)
    if folded is not None:
        return folded
    if PRIMITIVES[expr.prim].scale_after:
        return _reduction(expr)
    return _ALGEBRA.get(expr.prim, lambda e: e)(expr)


def _fold(expr: Op) -> Const | None:
    prim = PRIMITIVES[expr.prim]
    if prim.evaluate is None or not all(isinstance(a, Const) for a in expr.args):
        return None
    try:
        value = prim.evaluate(*(a.value for a in expr.args))
    except (ArithmeticError, ValueError, TypeError):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return Const(value)


def _add(e: Op) -> Expr:
    a, b = e.args
    if is_const(b, 0):
        return a
    if is_const(a, 0):
        return b
    if a == b:  # the adjoint of x * x: g * x + g * x -> (2 * g) * x, scaling the smaller
        if isinstance(a, Op) and a.prim == "mul":
            return Op("mul", (simplify(Op("mul", (Const(2), a.args[0]))), a.args[1]))
        return Op("mul", (Const(2), a))
    if isinstance(b, Op) and b.prim == "neg":
        return Op("sub", (a, b.args[0]))
    return e


def _sub(e: Op) -> Expr:
    a, b = e.args
    if is_const(b, 0):
        return a
    if is_const(a, 0) and isinstance(a.value, float):
        return simplify(Op("neg", (b,)))
    if isinstance(b, Op) and b.prim == "neg":
        return Op("add", (a, b.args[0]))
    return e


def _mul(e: Op) -> Expr:
    a, b = e.args
    for zero in (a, b):
        if is_const(zero, 0):
            return zero  # 0 * n stays an int zero, as in Python (range bounds need one)
    if is_const(b, 1):
        return a
    if is_const(a, 1):
        return b
    if is_const(a, -1):
        return simplify(Op("neg", (b,)))
    if is_const(b, -1):
        return simplify(Op("neg", (a,)))
    if isinstance(a, Op) and a.prim == "neg":  # (-a) * b -> -(a * b)
        return Op("neg", (simplify(Op("mul", (a.args[0], b))),))
    if isinstance(b, Op) and b.prim == "neg":
        return Op("neg", (simplify(Op("mul", (a, b.args[0]))),))
    return e


def _div(e: Op) -> Expr:
    a, b = e.args
    if is_const(a, 0):
        return Const(0.0)
    if is_const(b, 1):
        return a
    if isinstance(a, Op) and a.prim == "neg":
        return Op("neg", (simplify(Op("div", (a.args[0], b))),))
    return e


def _neg(e: Op) -> Expr:
    (a,) = e.args
    if isinstance(a, Op) and a.prim == "neg":
        return a.args[0]
    return e


def _pow(e: Op) -> Expr:
    a, b = e.args
    if is_const(b, 1):
        return a
    return e


def _select(e: Op) -> Expr:
    value, test, other = e.args
    if isinstance(test, Const):
        return value if test.value else other
    if value == other:
        return value
    return e


def _not(e: Op) -> Expr:
    (a,) = e.args
    if isinstance(a, Op) and a.prim == "not":
        return a.args[0]
    if isinstance(a, Const) and isinstance(a.value, bool):
        return Const(not a.value)
    return e


def _logical(deciding: bool):
    """``and`` (decided by False) or ``or`` (decided by True) with a constant operand."""

    def rule(e: Op) -> Expr:
        for known, other in (e.args, e.args[::-1]):
            if known == Const(deciding):
                return known
            if known == Const(not deciding):
                return other
        return e

    return rule


def _reduction(e: Op) -> Expr:
    """Negate or scale after summing (unbroadcast(-g, x) -> -unbroadcast(g, x)): the
    sum is smaller than its argument."""
    inner, *rest = e.args
    if isinstance(inner, Op) and inner.prim == "neg":
        return Op("neg", (simplify(Op(e.prim, (inner.args[0], *rest))),))
    if isinstance(inner, Op) and inner.prim == "mul" and isinstance(inner.args[0], Const):
        scaled = simplify(Op(e.prim, (inner.args[1], *rest)))
        return Op("mul", (inner.args[0], scaled))
    return e


# The algebra of arithmetic and logic itself, by name: these few primitives are the core
# operations (as ``lax.add`` is to JAX), which the reverse sweep writes and whose identities
# (x + 0, 1 * x, --x) are the simplifications; every other primitive's facts are traits.
_ALGEBRA = {
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "neg": _neg,
    "pow": _pow,
    "select": _select,
    "not": _not,
    "and": _logical(False),
    "or": _logical(True),
}


def simplify_block(block: list[ir.Stmt]) -> list[ir.Stmt]:
    out: list[ir.Stmt] = []
    for stmt in block:
        match stmt:
            case Assign():
                stmt.value = simplify(stmt.value)
                if stmt.value == Name(stmt.target):
                    continue
            case ir.If():
                stmt.test = simplify(stmt.test)
                ir.map_child_blocks(stmt, simplify_block)
                if isinstance(stmt.test, Const):  # a decided branch
                    out.extend(stmt.body if stmt.test.value else stmt.orelse)
                    continue
                if not stmt.body and not stmt.orelse:
                    continue
            case ir.For() | ir.While():  # the tests of loops are atoms
                ir.map_expressions(stmt, simplify, {ir.BOUND})
                ir.map_child_blocks(stmt, simplify_block)
            case ir.Call() | ir.Return():
                ir.map_expressions(stmt, simplify)
            case ir.Check():
                stmt.test = simplify(stmt.test)
                if stmt.test == Const(True):  # holds whatever the values
                    continue
            case ir.Push() | ir.Pop() | ir.IndexAdd() | ir.SetItem() | ir.Comment():
                pass  # element writes and tapes are left as the transforms wrote them
            case _:
                raise ir.unknown_statement(stmt)
        out.append(stmt)
    return out


# --- known-zero adjoints ------------------------------------------------------------------


def propagate_zeros(
    block: list[ir.Stmt], zeros: set[str], dry: bool = False
) -> tuple[list[ir.Stmt], set[str]]:
    """Rewrite ``v = v + e`` to ``v = e`` where ``v`` is known to hold 0.0.

    ``zeros`` holds the variables known to be zero on entry; returns the block and the
    set known on exit. Loops start from what holds both on entry and after an iteration.
    """
    zeros = set(zeros)
    out: list[ir.Stmt] = []
    for stmt in block:
        if isinstance(stmt, Assign):
            value = stmt.value
            if (
                isinstance(value, Op)
                and value.prim in ("add", "sub")
                and value.args[0] == Name(stmt.target)
                and stmt.target in zeros
            ):
                rest = value.args[1]
                value = rest if value.prim == "add" else simplify(Op("neg", (rest,)))
                if not dry:
                    stmt.value = value
            zeros.discard(stmt.target)
            if is_const(value, 0) and isinstance(value.value, float):
                zeros.add(stmt.target)
        elif isinstance(stmt, ir.If):
            body, body_zeros = propagate_zeros(stmt.body, zeros, dry)
            orelse, else_zeros = propagate_zeros(stmt.orelse, zeros, dry)
            if not dry:
                stmt.body, stmt.orelse = body, orelse
            zeros = body_zeros & else_zeros
        elif isinstance(stmt, (ir.For, ir.While)):
            # known zero at the loop head: on entry, and again after every iteration
            head = zeros - ir.assigned_in(_test_block(stmt)) - set(ir.targets_of(stmt))
            while True:
                _, after_body = propagate_zeros(stmt.body, head, dry=True)
                if head <= after_body:
                    break
                head &= after_body
            if not dry:
                stmt.body, _ = propagate_zeros(stmt.body, head)
            zeros = head
        else:  # straight-line statements (targets_of raises on an unknown one)
            zeros -= set(ir.targets_of(stmt))
        out.append(stmt)
    return out, zeros


def _test_block(stmt: ir.For | ir.While) -> list[ir.Stmt]:
    return stmt.test_block if isinstance(stmt, ir.While) else []


# --- copies and common subexpressions --------------------------------------------------------


class _Values:
    """What is known to hold at a point of a straight-line block: ``a`` holds a copy of
    variable ``b`` or the constant ``c``, and ``v`` already holds the value of an
    expression."""

    def __init__(self) -> None:
        self.copies: dict[str, Name | Const] = {}
        self.exprs: dict[Expr, str] = {}
        self.checked: set[Expr] = set()  # tests of checks that have passed
        self.mentioned: set[str] = set()  # every name a fact above involves

    def fork(self, killed: set[str]) -> _Values:
        forked = _Values()
        forked.copies = dict(self.copies)
        forked.exprs = dict(self.exprs)
        forked.checked = set(self.checked)
        forked.mentioned = set(self.mentioned)
        for name in killed:
            forked.kill(name)
        return forked

    def kill(self, name: str) -> None:
        if name not in self.mentioned:
            return
        self.copies = {a: b for a, b in self.copies.items() if a != name and b != Name(name)}
        self.exprs = {
            e: v for e, v in self.exprs.items() if v != name and name not in ir.names_in(e)
        }
        self.checked = {e for e in self.checked if name not in ir.names_in(e)}

    def check(self, test: Expr) -> None:
        self.checked.add(test)
        self.mentioned |= set(ir.names_in(test))

    def rewrite(self, expr: Expr) -> Expr:
        if isinstance(expr, Name):
            return self.copies.get(expr.id, expr)
        if isinstance(expr, Op):
            expr = simplify(Op(expr.prim, tuple(self.rewrite(a) for a in expr.args)))
            if expr in self.exprs:
                return Name(self.exprs[expr])
        return expr

    def assign(self, target: str, value: Expr) -> None:
        self.kill(target)
        if isinstance(value, Const) or (isinstance(value, Name) and value.id != target):
            self.copies[target] = value
            self.mentioned |= {target, *ir.names_in(value)}
        elif (
            isinstance(value, Op)
            and not PRIMITIVES[value.prim].allocates  # equal calls, distinct arrays
            and target not in ir.names_in(value)
        ):
            self.exprs[value] = target
            self.mentioned |= {target, *ir.names_in(value)}


def propagate_values(block: list[ir.Stmt], values: _Values, keep_results: bool = False) -> None:
    """Reuse values already computed (``t2 = x * z`` after ``t0 = x * z`` reads ``t0``)
    and read the original of a copy, so the copy can die."""
    for stmt in block:
        if isinstance(stmt, Assign):
            top = stmt.value
            if isinstance(top, Op):  # reuse a whole expression, or rewrite its parts
                rewritten = values.rewrite(top)
                stmt.value = rewritten if rewritten != Name(stmt.target) else top
            else:
                stmt.value = values.rewrite(top)
            values.assign(stmt.target, stmt.value)
        elif isinstance(stmt, ir.Call):
            stmt.args = tuple(values.rewrite(a) for a in stmt.args)
            for target in stmt.targets:
                values.kill(target)
        elif isinstance(stmt, (ir.Push, ir.Pop, ir.IndexAdd, ir.SetItem)):
            ir.map_expressions(stmt, values.rewrite)
            for target in ir.targets_of(stmt):
                values.kill(target)
        elif isinstance(stmt, ir.Return):
            if not keep_results:
                stmt.values = tuple(values.rewrite(v) for v in stmt.values)
        elif isinstance(stmt, ir.Check):
            stmt.test = values.rewrite(stmt.test)
            if stmt.test in values.checked:  # passed already, on the same values
                stmt.test = Const(True)
            else:
                values.check(stmt.test)
        elif isinstance(stmt, ir.If):
            killed = ir.assigned_in(stmt.body) | ir.assigned_in(stmt.orelse)
            # the reverse sweep re-evaluates the test after the branch: keep protecting copies
            stmt.test = values.fork(killed).rewrite(stmt.test)
            propagate_values(stmt.body, values.fork(set()), keep_results)
            propagate_values(stmt.orelse, values.fork(set()), keep_results)
            for name in killed:
                values.kill(name)
        elif isinstance(stmt, (ir.For, ir.While)):
            killed = ir.assigned_in(stmt.body) | ir.assigned_in(_test_block(stmt))
            if isinstance(stmt, ir.For):
                killed.add(stmt.var)
                bounds = values.fork(killed).rewrite  # the reverse sweep reads them after the loop
                stmt.start, stmt.stop, stmt.step = map(bounds, (stmt.start, stmt.stop, stmt.step))
            for name in killed:
                values.kill(name)
            if isinstance(stmt, ir.While):
                propagate_values(stmt.test_block, values.fork(set()), keep_results)
            propagate_values(stmt.body, values.fork(set()), keep_results)
        elif not isinstance(stmt, ir.Comment):
            raise ir.unknown_statement(stmt)


# --- dead code ------------------------------------------------------------------------------


def eliminate_dead_code(block: list[ir.Stmt], live_out: set[str]) -> list[ir.Stmt]:
    """Drop pure assignments to variables not read afterwards; loops iterate to a fixed point."""
    return _dce(block, set(live_out))[0]


def live_before(block: list[ir.Stmt], live_after: set[str]) -> set[str]:
    """The variables ``block`` may read before assigning them, given those live after it."""
    return _dce(block, set(live_after), dry=True)[1]


def _dce(block: list[ir.Stmt], live: set[str], dry: bool = False) -> tuple[list[ir.Stmt], set[str]]:
    """Liveness, backwards; unless ``dry``, drop the assignments nobody reads."""
    out: list[ir.Stmt] = []
    for stmt in reversed(block):
        if isinstance(stmt, Assign):
            if stmt.target not in live:
                continue
            live = (live - {stmt.target}) | set(ir.names_in(stmt.value))
        elif isinstance(stmt, ir.Call) and stmt.pure and not live & set(stmt.targets):
            continue
        elif isinstance(stmt, ir.If):
            body, live_body = _dce(stmt.body, live, dry)
            orelse, live_else = _dce(stmt.orelse, live, dry)
            if not dry:
                stmt.body, stmt.orelse = body, orelse
                if not body and not orelse:
                    continue
            live = live_body | live_else | set(ir.names_in(stmt.test))
        elif isinstance(stmt, (ir.For, ir.While)):
            live_after = live
            live = _dce_loop(stmt, live, dry)
            if not dry and isinstance(stmt, ir.For) and not stmt.body:
                if stmt.var not in live_after:  # a loop with nothing left to do
                    live = live_after
                    continue
        else:  # every other statement, kept (reads_of raises on an unknown one)
            live = (live - set(ir.targets_of(stmt))) | ir.reads_of(stmt)
        out.append(stmt)
    out.reverse()
    return out, live


def _dce_loop(stmt: ir.For | ir.While, live_after: set[str], dry: bool) -> set[str]:
    # live at the loop head = live after the loop, plus what one more iteration reads
    head = set(live_after) | ir.reads_of(stmt)
    while True:
        _, live_in_body = _dce(stmt.body, head, dry=True)
        if isinstance(stmt, ir.While):
            _, live_in_body = _dce(stmt.test_block, live_in_body, dry=True)
        if isinstance(stmt, ir.For):
            # each iteration sets the loop variable before the body reads it; its old value
            # matters only after a loop that ran no iteration, so only if live after the loop
            live_in_body = live_in_body - {stmt.var}
        new_head = head | live_in_body
        if new_head == head:
            break
        head = new_head
    if not dry:
        stmt.body, _ = _dce(stmt.body, head)
        if isinstance(stmt, ir.While):
            stmt.test_block, _ = _dce(stmt.test_block, head)
    return head


# --- names ----------------------------------------------------------------------------------


def renumber_temporaries(fn: ir.Function, temporaries: list[str]) -> None:
    """Number the surviving temporaries t0, t1, ... in order of appearance, and their
    adjoints g_t0, g_t1, ... (or tangents d_t0, ...) to match, so optimization leaves no
    gaps in the names."""
    temps = set(temporaries)
    # order of appearance in the code proper: the prologue's placeholders come first otherwise
    start = next((k for k, s in enumerate(fn.body) if isinstance(s, ir.Comment)), 0)
    used = ir.names_used(fn.body[start:] + fn.body[:start])
    bases: list[str] = []
    for name in used:
        base = name[2:] if name[:2] in DERIVED and name[2:] in temps else name
        if base in temps and base not in bases:
            bases.append(base)
    renamed = set(bases) | {f"{p}{b}" for b in bases for p in DERIVED}
    called = {s.func for s in ir.walk(fn.body) if isinstance(s, ir.Call)}
    taken = (set(used) | set(fn.params) | called) - renamed
    mapping: dict[str, str] = {}
    number = 0
    for base in bases:
        while any(f"{p}t{number}" in taken for p in ("", *DERIVED)):
            number += 1
        mapping[base] = f"t{number}"
        mapping.update({f"{p}{base}": f"{p}t{number}" for p in DERIVED})
        number += 1
    ir.rename(fn.body, mapping)
    moved = {mapping[name]: fn.kinds.pop(name) for name in mapping if name in fn.kinds}
    fn.kinds.update(moved)


DERIVED = ("g_", "d_")  # prefixes of a variable's adjoint and tangent
