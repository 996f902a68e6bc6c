"""``*args`` of a helper, for the number of arguments a call gives: ``def total(*xs)``
called as ``total(a, b, c)`` is read again as ``def total(xs_0, xs_1, xs_2)``, with
``xs[k]`` (a constant ``k``) the parameter ``xs_k``, ``len(xs)`` the constant 3, ``sum(xs)``
the sum written out and ``for x in xs:`` unrolled, one copy of its body per argument. Any
other use of ``xs`` is refused at its line, saying what to write instead.
"""

from __future__ import annotations

import ast
import builtins
import copy

from ..frontend import SourceFunction, checked, own_nodes, scope_of

HINT = "use it as xs[k] with a constant k, len(xs), sum(xs) or `for a in xs`"


def with_arity(source: SourceFunction, count: int) -> SourceFunction:
    """``source`` with its ``*args`` parameter replaced by ``count`` parameters."""
    tree = copy.deepcopy(source.tree)
    star = tree.args.vararg.arg
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | set(source.params)
    names = [_fresh(f"{star}_{k}", taken) for k in range(count)]
    tree.args = copy.copy(tree.args)
    tree.args.args = [*tree.args.args, *(ast.arg(n) for n in names)]
    tree.args.vararg = None
    expand = _Expand(source, star, names)
    tree.body = expand.block(tree.body)
    for node in own_nodes(tree):
        if isinstance(node, ast.Name) and node.id == star:
            raise source.loc(node).unsupported(f"this use of *{star}", HINT.replace("xs", star))
    positional = source.positional + count
    params = [*source.params[: source.positional], *names, *source.params[source.positional :]]
    variant = SourceFunction(
        func=source.func,
        name=source.name,
        filename=source.filename,
        tree=tree,
        lines=source.lines,
        params=params,
        defaults=dict(source.defaults),
        locals=set(),
        positional=positional,
    )
    return checked(variant)


class _Expand(ast.NodeTransformer):
    def __init__(self, source: SourceFunction, star: str, names: list[str]):
        self.source = source
        self.star = star
        self.names = names
        self.scope = scope_of(source.func)

    def block(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in stmts:
            if isinstance(stmt, ast.For) and self.is_star(stmt.iter):
                out += self.unrolled(stmt)
                continue
            new = self.visit(stmt)
            out.append(new)
        return out

    def unrolled(self, loop: ast.For) -> list[ast.stmt]:
        jumps = (ast.Break, ast.Continue)
        if (
            not isinstance(loop.target, ast.Name)
            or loop.orelse
            or any(isinstance(n, jumps) for s in loop.body for n in ast.walk(s))
        ):
            raise self.source.loc(loop).unsupported(
                f"this loop over *{self.star}",
                f"`for a in {self.star}:` with one name, without break, continue or else",
            )
        out: list[ast.stmt] = []
        for name in self.names:
            target = ast.Name(loop.target.id, ast.Store())
            value = ast.Name(name, ast.Load())
            out.append(ast.copy_location(ast.Assign([target], value), loop))
            out += self.block(copy.deepcopy(loop.body))
        ast.fix_missing_locations(ast.Module(out, []))
        return out

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for field in ("body", "orelse"):
            if isinstance(getattr(node, field, None), list) and isinstance(node, ast.stmt):
                setattr(node, field, self.block(getattr(node, field)))
        for name, value in ast.iter_fields(node):
            if name in ("body", "orelse") and isinstance(node, ast.stmt):
                continue
            if isinstance(value, ast.AST):
                setattr(node, name, self.visit(value))
            elif isinstance(value, list):
                setattr(node, name, [self.visit(v) if isinstance(v, ast.AST) else v for v in value])
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return node  # a nested function's names are its own

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if self.is_star(node.value):
            index = _constant_int(node.slice)
            if index is None:
                raise self.source.loc(node).unsupported(
                    f"`{ast.unparse(node)}`: an index of *{self.star} that is not a constant",
                    HINT.replace("xs", self.star),
                )
            if not -len(self.names) <= index < len(self.names):
                raise self.source.loc(node).error(
                    f"`{ast.unparse(node)}`: tuple index out of range ({len(self.names)} "
                    "arguments in this call)"
                )
            return ast.copy_location(ast.Name(self.names[index], node.ctx), node)
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        one = len(node.args) == 1 and not node.keywords and self.is_star(node.args[0])
        builtin = self.builtin(node.func)
        if one and builtin is builtins.len:
            return ast.copy_location(ast.Constant(len(self.names)), node)
        if one and builtin is builtins.sum:
            total: ast.expr = ast.Constant(0)
            for name in self.names:
                total = ast.BinOp(total, ast.Add(), ast.Name(name, ast.Load()))
            return ast.fix_missing_locations(ast.copy_location(total, node))
        return self.generic_visit(node)

    def builtin(self, func: ast.expr) -> object:
        local = isinstance(func, ast.Name) and func.id in self.source.locals
        return None if local or not isinstance(func, ast.Name) else self.scope.get(func.id)

    def is_star(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id == self.star


def _constant_int(node: ast.expr) -> int | None:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None
    return value if type(value) is int else None


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    taken.add(name)
    return name
