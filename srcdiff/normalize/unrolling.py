"""Recursion whose depth follows from ints known where it is called: unrolled.

``pw(x, 3)`` of a ``pw(v, n)`` that calls ``pw(v, n - 1)`` becomes a helper ``pw_n3`` in which
``n`` is the constant 3: arithmetic and comparisons of constant ints fold, an ``if`` (or a
conditional expression) whose test folds keeps only the branch it takes, and the call inside
is ``pw(v, 2)``, a helper ``pw_n2`` of its own, down to the case that does not recurse. Each
helper is made once per constant arguments, so a tree of fixed depth costs one helper per
level. A recursive function called without a constant int argument, or whose constants do
not bring it to its end, is refused, saying what to write instead.
"""

from __future__ import annotations

import ast
import operator

from ..errors import SourceLocation, UnsupportedSyntaxError
from ..ir import Const, Expr, Op

MAX_DEPTH = 24  # helpers made for one recursive function: deeper recursion is refused

# what folds when both operands are constant ints (or bools)
_FOLDED = {
    "add": operator.add, "sub": operator.sub, "mult": operator.mul, "floordiv": operator.floordiv,
    "mod": operator.mod, "eq": operator.eq, "noteq": operator.ne, "lt": operator.lt,
    "lte": operator.le, "gt": operator.gt, "gte": operator.ge, "and": operator.and_,
    "or": operator.or_,
}  # fmt: skip


class Recursion(Exception):
    """A function called while it is being normalized: caught where it was first called,
    which unrolls it if the call fixes ints of it (``UnrollingLowering.call_recursive``)."""

    def __init__(self, func: object, error: UnsupportedSyntaxError, cycle: list[object]):
        super().__init__(str(error))
        self.func = func
        self.cycle = cycle  # the functions that call each other, ``func`` first
        self.error = error
        self.chain = error.construct.split("(", 1)[1].rstrip(")")

    def unrolled_error(self, name: str) -> UnsupportedSyntaxError:
        """The error where the recursion cannot be unrolled, at the call that recurses."""
        at = SourceLocation(self.error.filename, self.error.line, self.error.col)
        return unconstant_error(name, self.chain, at)


def fold(value: Expr) -> Expr:
    """``value``, computed, where it is an operation on constant ints (or bools)."""
    if not isinstance(value, Op) or not all(isinstance(a, Const) for a in value.args):
        return value
    args = [a.value for a in value.args]
    if not all(type(a) in (int, bool) for a in args):
        return value
    if value.prim == "neg" and len(args) == 1:
        return Const(-args[0])
    if value.prim == "not" and len(args) == 1:
        return Const(not args[0])
    function = _FOLDED.get(value.prim)
    if function is None or len(args) != 2:
        return value
    if value.prim in ("floordiv", "mod") and args[1] == 0:
        return value  # Python's ZeroDivisionError, raised by the checks as usual
    return Const(function(*args))


class _Unknown(Exception):
    pass


_AST_OPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Eq: operator.eq,
    ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}  # fmt: skip


def constant_test(node: ast.expr, constants: dict[str, int]) -> bool | None:
    """The truth of an ``if`` test made of constant ints (None: not known here)."""
    try:
        return bool(_evaluate(node, constants))
    except (_Unknown, ZeroDivisionError):
        return None


def _evaluate(node: ast.expr, constants: dict[str, int]) -> object:
    if isinstance(node, ast.Constant) and type(node.value) in (int, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPS:
        left, right = _evaluate(node.left, constants), _evaluate(node.right, constants)
        return _AST_OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        value = _evaluate(node.operand, constants)
        return not value if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.Compare) and all(type(op) in _AST_OPS for op in node.ops):
        values = [_evaluate(e, constants) for e in (node.left, *node.comparators)]
        pairs = zip(node.ops, values, values[1:], strict=False)
        return all(_AST_OPS[type(op)](a, b) for op, a, b in pairs)
    if isinstance(node, ast.BoolOp):
        values = [bool(_evaluate(v, constants)) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    raise _Unknown


def taken_branches(stmts: list[ast.stmt], constants: dict[str, int]) -> list[ast.stmt]:
    """``stmts`` with each ``if`` whose test is known replaced by the branch it takes, up to
    a ``return`` (what follows it never runs)."""
    out: list[ast.stmt] = []
    for stmt in stmts:
        test = constant_test(stmt.test, constants) if isinstance(stmt, ast.If) else None
        if test is None:
            out.append(stmt)
        else:
            out += taken_branches(stmt.body if test else stmt.orelse, constants)
        if out and isinstance(out[-1], ast.Return):
            break
    return out


def specialized_name(name: str, constants: dict[str, int]) -> str:
    parts = (f"{p}{str(int(v)).replace('-', 'm')}" for p, v in constants.items())
    return "_".join([name, *parts])


def unconstant_error(name: str, chain: str, loc: SourceLocation) -> UnsupportedSyntaxError:
    return loc.unsupported(
        f"recursion ({chain}) whose depth srcdiff cannot know when it compiles",
        f"srcdiff unrolls recursion when a call gives constant ints (`{name}(x, 3)`) that "
        "decide where it ends; else write it with a loop",
    )


def constant_parameters(tree: ast.FunctionDef, params: list[str], args: list[Expr]) -> dict:
    """The parameters a call gives constant ints or bools, and the function never assigns."""
    assigned = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    return {
        p: a.value
        for p, a in zip(params, args, strict=False)
        if isinstance(a, Const) and type(a.value) in (int, bool) and p not in assigned
    }
