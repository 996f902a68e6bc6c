"""Stage 4b: the forward-mode (tangent) transformation of one normalized function.

Each statement is followed by its tangent: for ``t = f(x, y)`` the tangent ``d_t`` is
``J_x * d_x + J_y * d_y``, the dual-number rule, read off the rule table. Elementwise and
scalar primitives take it from their VJPs (``g * J`` with the tangent for ``g``); array
primitives that are not elementwise have a tangent template of their own (``x @ y``:
``d_x @ y + x @ d_y``). Control flow stays as it is: branches and loops carry their
tangents along, and calls of user functions call those functions' tangent versions, which
return their results and then the results' tangents.

The tangent function of ``f(x, z)`` with respect to x and z is ``f_jvp(x, z, d_x, d_z)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import ir
from .analysis.kinds import expr_kind
from .errors import SrcdiffError
from .ir import Assign, Call, Const, Expr, For, If, Name, Op, Return, While
from .normalize.program import NameAllocator
from .rules import PRIMITIVES, is_array, substitute

ZERO = Const(0.0)

# (callee, mask of arguments with tangents, argument kinds) -> name of its tangent function
TangentNamer = Callable[[str, tuple[bool, ...], tuple[str, ...]], str]


@dataclass
class TangentRequest:
    """What to generate: the tangent function of ``fn`` for the tangents of ``wrt``."""

    fn: ir.Function
    names: NameAllocator
    kinds: dict[str, str]
    active: set[str]  # the variables that vary with ``wrt`` (and matter to the results)
    wrt: tuple[str, ...]
    name: str


def tangent_function(request: TangentRequest, tangent_name: TangentNamer) -> ir.Function:
    return _Forward(request, tangent_name).build()


class _Forward:
    def __init__(self, request: TangentRequest, tangent_name: TangentNamer):
        self.req = request
        self.kinds = request.kinds
        self.active = request.active | set(request.wrt)
        self.names = request.names
        self.tangent_name = tangent_name
        self.tangent_names: dict[str, str] = {}

    def build(self) -> ir.Function:
        fn = self.req.fn
        params = [*fn.params, *(self.d(p) for p in self.req.wrt)]
        body = self.block(fn.body)
        result = ir.Function(self.req.name, params, body, fn.loc, dict(fn.defaults))
        result.kinds = self.kinds
        return result

    def d(self, var: str) -> str:
        """The tangent of ``var``: ``d_x`` carries dx, the dual part of x."""
        if var not in self.tangent_names:
            self.tangent_names[var] = self.names.fresh(f"d_{var}", numbered=False)
            self.kinds[self.tangent_names[var]] = self.kinds.get(var, "float")
        return self.tangent_names[var]

    def zero(self, var: str) -> Expr:
        return Op("zeros_like", (Name(var),)) if is_array(self.kinds.get(var)) else ZERO

    def tangent_of(self, expr: Expr) -> Expr | None:
        """The tangent of an atom, or None if it does not vary."""
        if isinstance(expr, Name) and expr.id in self.active:
            return Name(self.d(expr.id))
        return None

    def block(self, block: list[ir.Stmt]) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        for stmt in block:
            out += self.statement(stmt)
        return out

    def statement(self, stmt: ir.Stmt) -> list[ir.Stmt]:
        if isinstance(stmt, Assign):
            return self.assign(stmt)
        if isinstance(stmt, Call):
            return self.call(stmt)
        if isinstance(stmt, If):
            return [If(stmt.test, self.block(stmt.body), self.block(stmt.orelse), stmt.loc)]
        if isinstance(stmt, For):
            body = self.block(stmt.body)
            step = (stmt.start, stmt.stop, stmt.step)
            return [For(stmt.var, *step, body, stmt.exit_test, stmt.loc)]
        if isinstance(stmt, While):
            test_block, body = self.block(stmt.test_block), self.block(stmt.body)
            return [While(test_block, stmt.test, body, stmt.exit_test, stmt.loc)]
        if isinstance(stmt, Return):
            tangents = [self.tangent_of(v) for v in stmt.values]
            zeros = [self.zero_of(v) for v in stmt.values]
            values = (*stmt.values, *(t or z for t, z in zip(tangents, zeros, strict=True)))
            return [Return(values, stmt.loc)]
        if isinstance(stmt, ir.SetItem):
            return self.set_item(stmt)
        if isinstance(stmt, (ir.Check, ir.Comment)):
            return [stmt]
        raise ir.unknown_statement(stmt)  # tapes and element updates: not in code to differentiate

    def zero_of(self, value: Expr) -> Expr:
        if isinstance(value, Name):
            return self.zero(value.id)
        return ZERO

    def assign(self, stmt: Assign) -> list[ir.Stmt]:
        target, value, loc = stmt.target, stmt.value, stmt.loc
        if target not in self.active:
            return [stmt]
        tangent = self.tangent_expr(value, Name(target), loc)
        if tangent is None:  # an active variable given a value that does not vary
            return [stmt, Assign(self.d(target), self.zero(target), loc)]
        if target not in ir.names_in(value):
            return [stmt, Assign(self.d(target), tangent, loc)]
        # x = f(x, ...): the tangent reads the old x, so the new value waits in a temporary
        new = self.names.fresh(f"{target}_new")
        self.kinds[new] = self.kinds.get(target, "float")
        return [
            Assign(new, value, loc),
            Assign(self.d(target), self.tangent_expr(value, Name(new), loc), loc),
            Assign(target, Name(new), loc),
        ]

    def tangent_expr(self, value: Expr, answer: Name, loc) -> Expr | None:
        """The tangent of a value, or None if it does not vary."""
        if not isinstance(value, Op):
            return self.tangent_of(value)
        prim = PRIMITIVES[value.prim]
        kinds = tuple(expr_kind(a, self.kinds) or "float" for a in value.args)
        arrays = any(is_array(k) for k in kinds) or is_array(self.kinds.get(answer.id))
        from_vjps = prim.elementwise or not arrays
        rules = prim.vjps_for(kinds) if from_vjps else prim.tangents
        terms: list[Expr] = []
        for k, arg in enumerate(value.args):
            dx = self.tangent_of(arg)
            if dx is None:
                continue
            rule = rules[k] if k < len(rules) else None
            if prim.opaque:  # no derivative known (not a zero one)
                raise (loc.error if loc else SrcdiffError)(prim.opaque)
            if rule is None:
                if prim.vjps and prim.vjps[k] is not None:  # differentiable, but no tangent rule
                    raise (loc.error if loc else SrcdiffError)(
                        f"forward mode has no tangent rule for {prim.source} on arrays yet"
                    )
                continue
            bindings = dict(zip(prim.params, value.args, strict=True))
            bindings.update({"ans": answer, "g": dx, "t": dx})
            terms.append(substitute(rule, bindings))
        if not terms:
            return None
        total = terms[0]
        for term in terms[1:]:
            total = Op("add", (total, term))
        return total

    def set_item(self, stmt: ir.SetItem) -> list[ir.Stmt]:
        if stmt.target not in self.active:
            return [stmt]
        tangent = self.tangent_expr(stmt.value, Name(stmt.target), stmt.loc) or ZERO
        return [stmt, ir.SetItem(self.d(stmt.target), stmt.indices, tangent, stmt.loc)]

    def call(self, stmt: Call) -> list[ir.Stmt]:
        mask = tuple(self.tangent_of(a) is not None for a in stmt.args)
        targets = list(stmt.targets)
        if not any(mask) or not any(t in self.active for t in targets):
            zeros = [Assign(self.d(t), self.zero(t), stmt.loc) for t in targets if t in self.active]
            return [stmt, *zeros]
        kinds = tuple(expr_kind(a, self.kinds) or "float" for a in stmt.args)
        callee = self.tangent_name(stmt.func, mask, kinds)
        tangents = [self.tangent_of(a) for a, m in zip(stmt.args, mask, strict=True) if m]
        outputs = (*targets, *(self.d(t) for t in targets))
        return [Call(outputs, callee, (*stmt.args, *tangents), stmt.loc, stmt.pure)]


# --- back to three-address code, to differentiate a tangent function again ---------------------
def three_address(fn: ir.Function, names: NameAllocator) -> None:
    """Give every nested expression of ``fn`` a temporary of its own, as the normalizer
    does (the reverse transform differentiates one primitive of atoms per statement)."""
    fn.body = _Flattener(names, fn.kinds).block(fn.body)


class _Flattener:
    def __init__(self, names: NameAllocator, kinds: dict[str, str]):
        self.names = names
        self.kinds = kinds

    def block(self, block: list[ir.Stmt]) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        for stmt in block:
            before: list[ir.Stmt] = []
            self.statement(stmt, before)
            out += before + [stmt]
        return out

    def statement(self, stmt: ir.Stmt, before: list[ir.Stmt]) -> None:
        loc = getattr(stmt, "loc", None)
        if isinstance(stmt, Assign):
            stmt.value = self.operands(stmt.value, before, loc)
        elif isinstance(stmt, (ir.SetItem, ir.IndexAdd)):
            stmt.value = self.atom(stmt.value, before, loc)
            stmt.indices = tuple(self.operands(i, before, loc) for i in stmt.indices)
        elif isinstance(stmt, Call):
            stmt.args = tuple(self.atom(a, before, loc) for a in stmt.args)
        elif isinstance(stmt, Return):
            stmt.values = tuple(self.atom(v, before, loc) for v in stmt.values)
        elif isinstance(stmt, If):
            stmt.test = self.atom(stmt.test, before, loc)
            stmt.body, stmt.orelse = self.block(stmt.body), self.block(stmt.orelse)
        elif isinstance(stmt, For):
            stmt.body = self.block(stmt.body)
        elif isinstance(stmt, While):
            stmt.test_block, stmt.body = self.block(stmt.test_block), self.block(stmt.body)
        elif not isinstance(stmt, (ir.Check, ir.Comment, ir.Push, ir.Pop)):
            raise ir.unknown_statement(stmt)  # checks are not differentiated: left nested

    def operands(self, expr: Expr, before: list[ir.Stmt], loc) -> Expr:
        """One primitive of atoms (slices stay in place, as the normalizer leaves them)."""
        if not isinstance(expr, Op) or PRIMITIVES[expr.prim].subscript:
            return expr
        return Op(expr.prim, tuple(self.inline(a, before, loc) for a in expr.args))

    def inline(self, expr: Expr, before: list[ir.Stmt], loc) -> Expr:
        if isinstance(expr, Op) and PRIMITIVES[expr.prim].subscript:
            return Op(expr.prim, tuple(self.atom(a, before, loc) for a in expr.args))
        return self.atom(expr, before, loc)

    def atom(self, expr: Expr, before: list[ir.Stmt], loc) -> Expr:
        if not isinstance(expr, Op):
            return expr
        value = self.operands(expr, before, loc)
        name = self.names.fresh("t")
        self.kinds[name] = expr_kind(value, self.kinds) or "float"
        before.append(Assign(name, value, loc))
        return Name(name)
