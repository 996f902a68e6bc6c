"""Variables read before assignment: where a variable may be read on a path that never
assigned it (set in one branch only, or in a loop that may not run), the generated code
raises Python's UnboundLocalError as Python would, instead of reading whatever it holds."""

from __future__ import annotations

from .. import ir
from ..errors import SourceLocation
from ..ir import Assign, Const, For, Name
from .program import NameAllocator


def guard_unassigned(
    block: list[ir.Stmt], known: set[str], names: NameAllocator, loc: SourceLocation
) -> list[ir.Stmt]:
    """``block`` with a flag per variable it may read before assigning (``known`` are
    surely assigned on entry), set by its assignments and checked before such reads."""
    sites: dict[int, list[str]] = {}
    ir.definitely_assigned(block, known, ir.assigned_in(block) - known, sites)
    risky = sorted({v for names in sites.values() for v in names})
    if not risky:
        return block
    flags = {v: names.fresh(f"_{v}_assigned", numbered=False) for v in risky}
    block = _with_checks(block, sites, flags)
    return [Assign(flags[v], Const(False), loc) for v in risky] + block


def _with_checks(
    block: list[ir.Stmt], sites: dict[int, list[str]], flags: dict[str, str]
) -> list[ir.Stmt]:
    """``block`` with each risky read preceded by a check of its variable's flag, and each
    assignment of a risky variable followed by setting its flag."""
    out: list[ir.Stmt] = []
    for stmt in block:
        for child in ir.child_blocks(stmt):
            child[:] = _with_checks(child, sites, flags)
        for var in sites.get(id(stmt), []):
            message = f"{stmt.loc.short}: local variable '{var}' is read before it is assigned"
            out.append(ir.Check(Name(flags[var]), message, stmt.loc))
        out.append(stmt)
        out += [Assign(flags[t], Const(True), stmt.loc) for t in ir.targets_of(stmt) if t in flags]
        if isinstance(stmt, For) and stmt.var in flags:
            stmt.body.insert(0, Assign(flags[stmt.var], Const(True), stmt.loc))
    return out
