"""Writes into arrays: only into arrays the function made, never seen through a view
that is stale by the time it is read (``check_writes``); and the views the reverse
sweep reads of arrays written afterwards, which are copied when taken
(``views_of_written``).
"""

from __future__ import annotations

from .. import ir
from ..errors import error_at
from ..ir import Assign, Call, Const, Expr, Name, Op
from ..rules import PRIMITIVES, is_array


def check_writes(fn: ir.Function, kinds: dict[str, str]) -> None:
    """``y[i] = e`` only into arrays the function made itself, and never seen through a
    view taken before a later write: srcdiff follows values, not memory."""
    written = {s.target: s for s in ir.walk(fn.body) if isinstance(s, ir.SetItem)}
    for stmt in ir.walk(fn.body):
        if _assigns_one_of(stmt, written) and not _creates_array(stmt):
            name = next(t for t in ir.targets_of(stmt) if t in written)
            raise error_at(
                written[name].loc,
                f"`{name}` is written in place, so it must be an array this function makes "
                f"(np.zeros, np.empty, .copy()), assigned once",
            )
    for name, stmt in written.items():
        if name in fn.params:
            raise error_at(
                stmt.loc, f"writing into the argument `{name}`; write into {name}.copy()"
            )
        if not is_array(kinds.get(name)):
            raise error_at(stmt.loc, f"`{name}` is not an array")
    _check_views(fn.body, set(written), kinds)


def _assigns_one_of(stmt: ir.Stmt, names) -> bool:
    """Whether ``stmt`` gives one of ``names`` a whole new value."""
    match stmt:
        case Assign() | Call():
            return any(t in names for t in ir.targets_of(stmt))
        case ir.SetItem() | ir.IndexAdd():
            return False  # writes elements: the same array
        case ir.For() | ir.If() | ir.While() | ir.Return() | ir.Check() | ir.Comment():
            return False  # a loop counter is an int, never an array written in place
        case ir.Push() | ir.Pop():
            return False  # made by the reverse transform, after this analysis
        case _:
            raise ir.unknown_statement(stmt)


def _creates_array(stmt: ir.Stmt) -> bool:
    return (
        isinstance(stmt, Assign)
        and isinstance(stmt.value, Op)
        and PRIMITIVES[stmt.value.prim].allocates
    )


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
                raise error_at(
                    later.loc,
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
    if isinstance(expr, Op) and PRIMITIVES[expr.prim].index_read:
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


# statements whose targets never share memory with another variable: an element write keeps
# its own array, a call's results are the callee's arrays (copied where they are views)
_MAKE_NO_VIEW = (
    Call, ir.SetItem, ir.IndexAdd, ir.For, ir.If, ir.While, ir.Return, ir.Check, ir.Comment,
    ir.Push, ir.Pop,
)  # fmt: skip


def _viewed(stmt: ir.Stmt, written: set[str], kinds: dict[str, str]) -> str | None:
    """The array of ``written`` that the value ``stmt`` assigns may be a view of."""
    if not isinstance(stmt, Assign):
        if not isinstance(stmt, _MAKE_NO_VIEW):
            raise ir.unknown_statement(stmt)
        return None
    if not is_array(kinds.get(stmt.target)):
        return None
    value = stmt.value
    if isinstance(value, Name) and value.id in written:
        return value.id
    if isinstance(value, Op) and PRIMITIVES[value.prim].view and isinstance(value.args[0], Name):
        return value.args[0].id if value.args[0].id in written else None
    return None
