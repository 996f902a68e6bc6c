"""A name bound to values of different kinds (``x = np.sum(x)``: an array, then a float),
split into one name per binding.

Each assignment of a variable starts a value; a read sees the values whose assignments reach
it. Assignments that reach a common read belong together (a *web*: after an ``if`` that
assigns in one branch, or around a loop, one read may see either), and a web needs one kind.
Webs that share no read are independent variables that happen to share a name: each but the
first is renamed, so kinds analysis gives each its own kind. ``split_webs`` is called only for
a variable whose kinds conflict, so code whose names each hold one kind is not renamed.
"""

from __future__ import annotations

from .. import ir
from ..ir import For, If, While

_PARAMETER = -1  # the value a parameter holds on entry


class _Webs:
    """Reaching assignments of one variable over structured IR, joined into webs."""

    def __init__(self, var: str):
        self.var = var
        self.parent: dict[int, int] = {}
        self.order: list[int] = []  # assignments in program order
        self.reads: dict[tuple[int, str], frozenset[int]] = {}  # (stmt, roles) -> reaching

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def define(self, key: int) -> frozenset[int]:
        if key not in self.parent:
            self.parent[key] = key
            self.order.append(key)
        return frozenset({key})

    def read(self, stmt: ir.Stmt, roles: str, reaching: frozenset[int]) -> None:
        key = (id(stmt), roles)
        reaching = self.reads.get(key, frozenset()) | reaching
        self.reads[key] = reaching
        first, *rest = sorted(reaching) or [None]
        for other in rest:
            self.parent[self.find(other)] = self.find(first)

    def reads_var(self, exprs: list[ir.Expr]) -> bool:
        return any(self.var in ir.names_in(e) for e in exprs)

    def block(self, block: list[ir.Stmt], state: frozenset[int]) -> frozenset[int]:
        for stmt in block:
            state = self.statement(stmt, state)
        return state

    def statement(self, stmt: ir.Stmt, state: frozenset[int]) -> frozenset[int]:
        match stmt:
            case If():
                if self.reads_var([stmt.test]):
                    self.read(stmt, "own", state)
                return self.block(stmt.body, state) | self.block(stmt.orelse, state)
            case For():
                if self.reads_var(ir.expressions(stmt, {ir.BOUND})):
                    self.read(stmt, "own", state)
                counter = self.define(id(stmt)) if stmt.var == self.var else None
                out = frozenset()
                while True:  # to a fixed point: the body's values reach its next iteration
                    entry = counter if counter is not None else state | out
                    new_out = self.block(stmt.body, entry)
                    if self.reads_var(ir.expressions(stmt, {ir.EXIT})):
                        self.read(stmt, "exit", new_out)
                    if new_out == out:
                        return state | out
                    out = new_out
            case While():
                out = frozenset()
                while True:
                    tested = self.block(stmt.test_block, state | out)
                    if self.reads_var([stmt.test]):
                        self.read(stmt, "own", tested)
                    new_out = self.block(stmt.body, tested)
                    if self.reads_var(ir.expressions(stmt, {ir.EXIT})):
                        self.read(stmt, "exit", new_out)
                    if new_out == out:
                        return tested
                    out = new_out
            case _:
                if self.var in ir.reads_of(stmt):
                    self.read(stmt, "own", state)
                if self.var in ir.targets_of(stmt) and self.var not in ir.element_writes_of(stmt):
                    return self.define(id(stmt))
                return state


def split_webs(fn: ir.Function, var: str, taken: set[str]) -> list[str]:
    """Rename, in ``fn``, each web of ``var`` but the first (the parameter's, if ``var`` is
    one) to a fresh name not in ``taken`` (which receives it): ``x``, ``x_1``, ``x_2``...
    Returns the new names; none where ``var`` is one web (a read that sees two of its
    assignments), which renaming cannot split."""
    webs = _Webs(var)
    entry = webs.define(_PARAMETER) if var in fn.params else frozenset()
    webs.block(fn.body, entry)
    roots: list[int] = []
    for key in webs.order:
        if webs.find(key) not in roots:
            roots.append(webs.find(key))
    if len(roots) < 2:
        return []
    names = {roots[0]: var}
    for root in roots[1:]:
        k = 1
        while f"{var}_{k}" in taken:
            k += 1
        names[root] = f"{var}_{k}"
        taken.add(names[root])
    _rename(fn.body, webs, names)
    return [names[r] for r in roots[1:]]


def _rename(block: list[ir.Stmt], webs: _Webs, names: dict[int, str]) -> None:
    var = webs.var

    def name_of(reaching: frozenset[int]) -> str:
        return names[webs.find(min(reaching))] if reaching else var

    for stmt in ir.walk(block):
        for roles, reaching in ((r, webs.reads.get((id(stmt), r))) for r in ("own", "exit")):
            if reaching is None:
                continue
            new = name_of(reaching)
            mapping = {var: new}
            if roles == "exit":
                ir.map_expressions(stmt, lambda e, m=mapping: ir.rename_expr(e, m), {ir.EXIT})
                continue
            own = ir.ROLES - {ir.EXIT}
            ir.map_expressions(stmt, lambda e, m=mapping: ir.rename_expr(e, m), own)
            if var in ir.element_writes_of(stmt):
                ir.map_targets(stmt, lambda t, new=new: new if t == var else t)
        if id(stmt) in webs.parent:  # an assignment of var
            new = names[webs.find(id(stmt))]
            ir.map_targets(stmt, lambda t, new=new: new if t == var else t)
