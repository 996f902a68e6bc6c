"""The normalized intermediate representation every pipeline stage speaks.

Expressions are small immutable trees: a variable, a constant, or a primitive applied
to expressions. The normalizer emits three-address code (every ``Op`` argument is an
atom); the reverse transform and the optimizer build larger trees from rule templates.

Statements are structured: assignments, calls of other user functions, ``if``, counted
``for`` loops, ``while`` loops and a final ``return``. Jumps (break, continue, early
return) are lowered to flags before anything else sees the code, so every later stage
reasons about plain structured control flow. Every statement keeps its source location.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .errors import SourceLocation


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True, eq=False)
class Const:
    """A literal. Equal only to a literal of the same type: 1, 1.0 and True differ."""

    value: float | int | bool | None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Const) or type(other.value) is not type(self.value):
            return False
        return self.value == other.value or (
            self.value != self.value and other.value != other.value
        )

    def __hash__(self) -> int:
        return hash((type(self.value), self.value))


@dataclass(frozen=True)
class Op:
    prim: str
    args: tuple[Expr, ...]


Expr = Name | Const | Op
Atom = Name | Const


@dataclass
class Assign:
    """``target = value``; value is an atom or an ``Op`` (over atoms, once normalized).
    ``out``: the array whose memory an elementwise value is written into (NumPy's ``out=``)."""

    target: str
    value: Expr
    loc: SourceLocation | None = None
    out: str | None = None


@dataclass
class Call:
    """``targets = func(args)``: a call of a generated function (a user helper, its
    adjoint, or a runtime routine), unpacked into one or more names."""

    targets: tuple[str, ...]
    func: str
    args: tuple[Expr, ...]
    loc: SourceLocation | None = None
    pure: bool = False  # a user function (no effects): dropped when its results are unused


@dataclass
class If:
    test: Expr
    body: list[Stmt]
    orelse: list[Stmt] = field(default_factory=list)
    loc: SourceLocation | None = None


@dataclass
class For:
    """``for var in range(start, stop, step)``; the loop ends early after an iteration
    in which ``exit_test`` holds (that is how ``break`` and ``return`` are lowered)."""

    var: str
    start: Expr
    stop: Expr
    step: Expr
    body: list[Stmt]
    exit_test: Expr | None = None
    loc: SourceLocation | None = None


@dataclass
class While:
    """``while test`` where ``test_block`` recomputes the test's operands first."""

    test_block: list[Stmt]
    test: Expr
    body: list[Stmt]
    exit_test: Expr | None = None
    loc: SourceLocation | None = None


@dataclass
class Return:
    """``return values``; from position ``group_from`` on, the values form an inner tuple
    (``return y, (g_x, g_z)``)."""

    values: tuple[Expr, ...]
    loc: SourceLocation | None = None
    group_from: int | None = None


@dataclass
class Push:
    """Save ``value`` on the typed tape ``tape`` (``"f"`` floats, ``"i"`` ints, ``"b"`` bools,
    ``"a"`` arrays)."""

    tape: str
    value: Expr
    loc: SourceLocation | None = None


@dataclass
class Pop:
    """Restore ``target`` from the top of tape ``tape``."""

    tape: str
    target: str
    loc: SourceLocation | None = None


@dataclass
class IndexAdd:
    """``target[indices] += value``: accumulating the adjoint of an element or a slice;
    ``unbuffered`` (integer-array indices, which may repeat) adds every occurrence."""

    target: str
    indices: tuple[Expr, ...]
    value: Expr
    loc: SourceLocation | None = None
    unbuffered: bool = False


@dataclass
class SetItem:
    """``target[indices] = value``: writing into an array made by the function itself."""

    target: str
    indices: tuple[Expr, ...]
    value: Expr
    loc: SourceLocation | None = None


@dataclass
class Check:
    """``if not test: raise <error>(message)``: Python's UnboundLocalError for a variable
    read on a path where it was never assigned, or a ValueError for input srcdiff cannot
    differentiate correctly (a write through repeated indices)."""

    test: Expr
    message: str
    loc: SourceLocation | None = None
    error: str = "UnboundLocalError"


@dataclass
class Comment:
    text: str
    loc: SourceLocation | None = None


Stmt = Assign | Call | If | For | While | Return | Push | Pop | IndexAdd | SetItem | Check | Comment


@dataclass
class Function:
    name: str
    params: list[str]
    body: list[Stmt]
    loc: SourceLocation
    defaults: dict[str, Expr] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # set by the transform, for printing


# --- traversal helpers ------------------------------------------------------------


def names_in(expr: Expr) -> Iterator[str]:
    """Every variable an expression reads."""
    if isinstance(expr, Name):
        yield expr.id
    elif isinstance(expr, Op):
        for arg in expr.args:
            yield from names_in(arg)


def child_blocks(stmt: Stmt) -> list[list[Stmt]]:
    if isinstance(stmt, If):
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, For):
        return [stmt.body]
    if isinstance(stmt, While):
        return [stmt.test_block, stmt.body]
    return []


def walk(block: list[Stmt]) -> Iterator[Stmt]:
    """Every statement of a block, nested ones included, in source order."""
    for stmt in block:
        yield stmt
        for child in child_blocks(stmt):
            yield from walk(child)


def targets_of(stmt: Stmt) -> tuple[str, ...]:
    """The variables a single statement (not its children) assigns."""
    if isinstance(stmt, Assign):
        return (stmt.target,)
    if isinstance(stmt, Call):
        return stmt.targets
    if isinstance(stmt, Pop):
        return (stmt.target, f"_top_{stmt.tape}")
    if isinstance(stmt, Push):
        return (f"_tape_{stmt.tape}", f"_top_{stmt.tape}")
    if isinstance(stmt, (IndexAdd, SetItem)):
        return (stmt.target,)
    if isinstance(stmt, For):
        return (stmt.var,)
    return ()


def reads_of(stmt: Stmt) -> set[str]:
    """The variables a single statement (not its children) reads."""
    if isinstance(stmt, Assign):
        return set(names_in(stmt.value))
    if isinstance(stmt, (Call, Return)):
        exprs = stmt.args if isinstance(stmt, Call) else stmt.values
        return {n for e in exprs for n in names_in(e)}
    if isinstance(stmt, Push):
        return set(names_in(stmt.value)) | {f"_tape_{stmt.tape}", f"_top_{stmt.tape}"}
    if isinstance(stmt, Pop):
        return {f"_tape_{stmt.tape}", f"_top_{stmt.tape}"}
    if isinstance(stmt, (IndexAdd, SetItem)):  # a partial write keeps the other elements
        return {stmt.target, *names_in(stmt.value)} | {n for e in stmt.indices for n in names_in(e)}
    if isinstance(stmt, (If, Check)):
        return set(names_in(stmt.test))
    if isinstance(stmt, For):
        reads = {n for e in (stmt.start, stmt.stop, stmt.step) for n in names_in(e)}
        if stmt.exit_test is not None:
            reads |= set(names_in(stmt.exit_test))
        return reads
    if isinstance(stmt, While):
        reads = set(names_in(stmt.test))
        if stmt.exit_test is not None:
            reads |= set(names_in(stmt.exit_test))
        return reads
    return set()


def assigned_in(block: list[Stmt]) -> set[str]:
    return {t for stmt in walk(block) for t in targets_of(stmt)}


def read_in(block: list[Stmt]) -> set[str]:
    return {n for stmt in walk(block) for n in reads_of(stmt)}


def rename(block: list[Stmt], mapping: dict[str, str]) -> None:
    """Rename variables throughout a block, in place."""

    def expr(e: Expr) -> Expr:
        if isinstance(e, Name):
            return Name(mapping.get(e.id, e.id))
        if isinstance(e, Op):
            return Op(e.prim, tuple(expr(a) for a in e.args))
        return e

    for stmt in walk(block):
        if isinstance(stmt, Assign):
            stmt.target, stmt.value = mapping.get(stmt.target, stmt.target), expr(stmt.value)
        elif isinstance(stmt, Call):
            stmt.targets = tuple(mapping.get(t, t) for t in stmt.targets)
            stmt.args = tuple(expr(a) for a in stmt.args)
        elif isinstance(stmt, (Return, Push)):
            if isinstance(stmt, Return):
                stmt.values = tuple(expr(v) for v in stmt.values)
            else:
                stmt.value = expr(stmt.value)
        elif isinstance(stmt, Pop):
            stmt.target = mapping.get(stmt.target, stmt.target)
        elif isinstance(stmt, (IndexAdd, SetItem)):
            stmt.target = mapping.get(stmt.target, stmt.target)
            stmt.indices = tuple(expr(i) for i in stmt.indices)
            stmt.value = expr(stmt.value)
        elif isinstance(stmt, (If, Check)):
            stmt.test = expr(stmt.test)
        elif isinstance(stmt, For):
            stmt.var = mapping.get(stmt.var, stmt.var)
            stmt.start, stmt.stop, stmt.step = expr(stmt.start), expr(stmt.stop), expr(stmt.step)
            stmt.exit_test = None if stmt.exit_test is None else expr(stmt.exit_test)
        elif isinstance(stmt, While):
            stmt.test = expr(stmt.test)
            stmt.exit_test = None if stmt.exit_test is None else expr(stmt.exit_test)


def names_used(block: list[Stmt]) -> list[str]:
    """Every variable a block assigns or reads, in order of first appearance."""
    seen: dict[str, None] = {}
    for stmt in walk(block):
        if isinstance(stmt, Assign):  # the value is computed before the target is written
            seen.update(dict.fromkeys(names_in(stmt.value)))
            seen.update(dict.fromkeys(targets_of(stmt)))
        else:
            seen.update(dict.fromkeys(sorted(reads_of(stmt))))
            seen.update(dict.fromkeys(targets_of(stmt)))
    return list(seen)


def definitely_assigned(
    block: list[Stmt],
    assigned: set[str],
    local: set[str] = frozenset(),
    sites: dict[int, list[str]] | None = None,
) -> set[str]:
    """The variables surely assigned after ``block``; records in ``sites`` (by statement
    id) the local variables a statement may read before they are assigned."""
    assigned = set(assigned)

    def note(stmt: Stmt, reads: set[str]) -> None:
        unsure = sorted((reads & local) - assigned)
        if unsure and sites is not None:
            sites.setdefault(id(stmt), []).extend(unsure)

    for stmt in block:
        if isinstance(stmt, If):
            note(stmt, set(names_in(stmt.test)))
            body = definitely_assigned(stmt.body, assigned, local, sites)
            orelse = definitely_assigned(stmt.orelse, assigned, local, sites)
            assigned |= body & orelse
        elif isinstance(stmt, For):
            note(stmt, reads_of(stmt) - set(names_in(stmt.exit_test or Const(0))))
            definitely_assigned(stmt.body, assigned | {stmt.var}, local, sites)
        elif isinstance(stmt, While):
            assigned = definitely_assigned(stmt.test_block, assigned, local, sites)
            note(stmt, set(names_in(stmt.test)))
            definitely_assigned(stmt.body, assigned, local, sites)
        else:
            note(stmt, reads_of(stmt))
            assigned |= set(targets_of(stmt))
    return assigned
