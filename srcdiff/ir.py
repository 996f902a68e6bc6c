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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .errors import SourceLocation
from .kind import Kind


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


PRINT = "print"  # Python's print: the one function a ``Call`` names that srcdiff did not write


def is_print(stmt: Stmt) -> bool:
    """``print(args)``, the user's: an effect of the forward sweep, with no results and no
    generated function behind it (nothing to differentiate, to recompute or to type)."""
    return isinstance(stmt, Call) and stmt.func == PRINT


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
    read on a path where it was never assigned, a ValueError for input srcdiff cannot
    differentiate correctly (a write through repeated indices), or the user's own ``assert``
    or ``raise`` (``verbatim``: the message is the user's, raised as it is, with no
    ``file:line`` in front, as the plain function raises it; an empty one raises ``error()``).
    ``detail``: a message computed where the check fails (an f-string's ``str.format``), in
    place of ``message``."""

    test: Expr
    message: str
    loc: SourceLocation | None = None
    error: str = "UnboundLocalError"
    verbatim: bool = False
    detail: Expr | None = None


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
    kinds: dict[str, Kind] = field(default_factory=dict)  # set by the transform, for printing


# --- the statement interface -------------------------------------------------------
# Every pass asks these functions, not the statement classes, what a statement reads,
# assigns and contains. Each is a ``match`` over the closed set ``Stmt`` whose last case
# raises: a statement kind added to the IR and not described here fails loudly in every
# pass, instead of having its operands dropped (dead-code elimination deleting what it
# reads would be wrong code, silently).

# The roles an expression plays in its statement, for passes that treat them apart.
VALUE = "value"  # the value assigned, pushed, written or added (Assign, Push, SetItem, IndexAdd)
INDEX = "index"  # an index of an element write (SetItem, IndexAdd)
ARG = "arg"  # an argument of a call
RESULT = "result"  # a returned value
TEST = "test"  # the condition of an If, a While or a Check
BOUND = "bound"  # start, stop or step of a For
EXIT = "exit"  # the early-exit test of a loop, evaluated after each iteration
ROLES = frozenset({VALUE, INDEX, ARG, RESULT, TEST, BOUND, EXIT})


class UnknownStatement(TypeError):
    """An internal error: a pass met a statement kind it has no rule for."""


def unknown_statement(stmt: object) -> UnknownStatement:
    return UnknownStatement(f"srcdiff IR: no rule for {type(stmt).__name__}")


def labelled_expressions(stmt: Stmt) -> list[tuple[str, Expr]]:
    """(role, expression) for every expression ``stmt`` itself evaluates (not its children)."""
    match stmt:
        case Assign():
            return [(VALUE, stmt.value)]
        case Call():
            return [(ARG, a) for a in stmt.args]
        case If():
            return [(TEST, stmt.test)]
        case Check():
            return [(TEST, stmt.test)] + ([] if stmt.detail is None else [(VALUE, stmt.detail)])
        case For():
            bounds = [(BOUND, stmt.start), (BOUND, stmt.stop), (BOUND, stmt.step)]
            return bounds + _exit(stmt)
        case While():
            return [(TEST, stmt.test), *_exit(stmt)]
        case Return():
            return [(RESULT, v) for v in stmt.values]
        case Push():
            return [(VALUE, stmt.value)]
        case IndexAdd() | SetItem():
            return [*((INDEX, i) for i in stmt.indices), (VALUE, stmt.value)]
        case Pop() | Comment():
            return []
        case _:
            raise unknown_statement(stmt)


def _exit(loop: For | While) -> list[tuple[str, Expr]]:
    return [] if loop.exit_test is None else [(EXIT, loop.exit_test)]


def expressions(stmt: Stmt, roles: frozenset[str] | set[str] = ROLES) -> list[Expr]:
    """The expressions ``stmt`` itself evaluates in the given roles (default: all)."""
    return [e for role, e in labelled_expressions(stmt) if role in roles]


def map_expressions(
    stmt: Stmt, f: Callable[[Expr], Expr], roles: frozenset[str] | set[str] = ROLES
) -> Stmt:
    """Replace, in place, each expression ``stmt`` itself evaluates in the given roles
    (default: all) by ``f`` of it; returns ``stmt``."""

    def m(role: str, expr: Expr) -> Expr:
        return f(expr) if role in roles else expr

    match stmt:
        case Assign():
            stmt.value = m(VALUE, stmt.value)
        case Call():
            stmt.args = tuple(m(ARG, a) for a in stmt.args)
        case If():
            stmt.test = m(TEST, stmt.test)
        case Check():
            stmt.test = m(TEST, stmt.test)
            stmt.detail = None if stmt.detail is None else m(VALUE, stmt.detail)
        case For():
            stmt.start, stmt.stop = m(BOUND, stmt.start), m(BOUND, stmt.stop)
            stmt.step = m(BOUND, stmt.step)
            stmt.exit_test = None if stmt.exit_test is None else m(EXIT, stmt.exit_test)
        case While():
            stmt.test = m(TEST, stmt.test)
            stmt.exit_test = None if stmt.exit_test is None else m(EXIT, stmt.exit_test)
        case Return():
            stmt.values = tuple(m(RESULT, v) for v in stmt.values)
        case Push():
            stmt.value = m(VALUE, stmt.value)
        case IndexAdd() | SetItem():
            stmt.indices = tuple(m(INDEX, i) for i in stmt.indices)
            stmt.value = m(VALUE, stmt.value)
        case Pop() | Comment():
            pass
        case _:
            raise unknown_statement(stmt)
    return stmt


def targets_of(stmt: Stmt) -> tuple[str, ...]:
    """The variables a single statement (not its children) assigns, wholly or in part."""
    match stmt:
        case Assign() | IndexAdd() | SetItem():
            return (stmt.target,)
        case Call():
            return stmt.targets
        case For():
            return (stmt.var,)
        case Pop():
            return (stmt.target, f"_top_{stmt.tape}")
        case Push():
            return (f"_tape_{stmt.tape}", f"_top_{stmt.tape}")
        case If() | While() | Return() | Check() | Comment():
            return ()
        case _:
            raise unknown_statement(stmt)


def element_writes_of(stmt: Stmt) -> tuple[str, ...]:
    """The targets ``stmt`` writes only some elements of: they keep the others, so the
    statement reads them too, and they stay the same array."""
    match stmt:
        case IndexAdd() | SetItem():
            return (stmt.target,)
        case Assign() | Call() | For() | Pop() | Push() | If() | While() | Return():
            return ()
        case Check() | Comment():
            return ()
        case _:
            raise unknown_statement(stmt)


def map_targets(stmt: Stmt, f: Callable[[str], str]) -> Stmt:
    """Replace, in place, each variable ``stmt`` names as a target by ``f`` of it (a
    tape's state is named by the tape, not renamed); returns ``stmt``."""
    match stmt:
        case Assign() | IndexAdd() | SetItem() | Pop():
            stmt.target = f(stmt.target)
        case Call():
            stmt.targets = tuple(f(t) for t in stmt.targets)
        case For():
            stmt.var = f(stmt.var)
        case Push() | If() | While() | Return() | Check() | Comment():
            pass
        case _:
            raise unknown_statement(stmt)
    return stmt


def child_blocks(stmt: Stmt) -> list[list[Stmt]]:
    """The blocks nested in ``stmt``, in the order they first run (the lists themselves:
    editing one in place edits the statement)."""
    match stmt:
        case If():
            return [stmt.body, stmt.orelse]
        case For():
            return [stmt.body]
        case While():
            return [stmt.test_block, stmt.body]
        case Assign() | Call() | Return() | Push() | Pop() | IndexAdd() | SetItem():
            return []
        case Check() | Comment():
            return []
        case _:
            raise unknown_statement(stmt)


def map_child_blocks(stmt: Stmt, f: Callable[[list[Stmt]], list[Stmt]]) -> Stmt:
    """Replace each block nested in ``stmt`` by ``f`` of it; returns ``stmt``."""
    match stmt:
        case If():
            stmt.body, stmt.orelse = f(stmt.body), f(stmt.orelse)
        case For():
            stmt.body = f(stmt.body)
        case While():
            stmt.test_block, stmt.body = f(stmt.test_block), f(stmt.body)
        case _:
            child_blocks(stmt)  # none, or an unknown statement: raises
    return stmt


def is_loop(stmt: Stmt) -> bool:
    """Whether ``stmt`` may run its children more than once."""
    match stmt:
        case For() | While():
            return True
        case _:
            child_blocks(stmt)  # an unknown statement raises
            return False


# --- traversal helpers ------------------------------------------------------------


def names_in(expr: Expr) -> Iterator[str]:
    """Every variable an expression reads."""
    if isinstance(expr, Name):
        yield expr.id
    elif isinstance(expr, Op):
        for arg in expr.args:
            yield from names_in(arg)


def walk(block: list[Stmt]) -> Iterator[Stmt]:
    """Every statement of a block, nested ones included, in source order."""
    for stmt in block:
        yield stmt
        for child in child_blocks(stmt):
            yield from walk(child)


def reads_of(stmt: Stmt) -> set[str]:
    """The variables a single statement (not its children) reads: its expressions' names,
    the arrays it writes elements of, and a tape's state."""
    reads = {n for e in expressions(stmt) for n in names_in(e)}
    reads.update(element_writes_of(stmt))
    if isinstance(stmt, (Push, Pop)):
        reads |= {f"_tape_{stmt.tape}", f"_top_{stmt.tape}"}
    return reads


def assigned_in(block: list[Stmt]) -> set[str]:
    return {t for stmt in walk(block) for t in targets_of(stmt)}


def read_in(block: list[Stmt]) -> set[str]:
    return {n for stmt in walk(block) for n in reads_of(stmt)}


def rename_expr(expr: Expr, mapping: dict[str, str]) -> Expr:
    if isinstance(expr, Name):
        return Name(mapping.get(expr.id, expr.id))
    if isinstance(expr, Op):
        return Op(expr.prim, tuple(rename_expr(a, mapping) for a in expr.args))
    return expr


def rename(block: list[Stmt], mapping: dict[str, str]) -> None:
    """Rename variables throughout a block, in place."""
    for stmt in walk(block):
        map_targets(stmt, lambda t: mapping.get(t, t))
        map_expressions(stmt, lambda e: rename_expr(e, mapping))


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
        match stmt:
            case If():
                note(stmt, set(names_in(stmt.test)))
                body = definitely_assigned(stmt.body, assigned, local, sites)
                orelse = definitely_assigned(stmt.orelse, assigned, local, sites)
                assigned |= body & orelse
            case For():
                note(stmt, reads_of(stmt) - set(names_in(stmt.exit_test or Const(0))))
                definitely_assigned(stmt.body, assigned | {stmt.var}, local, sites)
            case While():
                assigned = definitely_assigned(stmt.test_block, assigned, local, sites)
                note(stmt, set(names_in(stmt.test)))
                definitely_assigned(stmt.body, assigned, local, sites)
            case _:  # straight-line statements (reads_of raises on an unknown one)
                note(stmt, reads_of(stmt))
                assigned |= set(targets_of(stmt))
    return assigned
