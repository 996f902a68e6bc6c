"""Calls of primitives, lowered: NumPy's keyword and tuple arguments bound by the rule
table's bindings, methods and attributes of arrays (``x.sum(axis=0)``, ``x.T``),
subscripts, and calls through ``math`` with the checks that make them raise as ``math``
does."""

from __future__ import annotations

import ast

from ..frontend import Constant, FreeArray, Primitive
from ..ir import Const, Expr, Name, Op
from ..kind import MAX_RANK
from ..python_errors import math_prechecks
from ..rules import PRIMITIVES, attribute_for, binding_for, method_for
from ..rules.traits import REQUIRED, Binding, UnsupportedCall


class CallLowering:
    """The part of ``Normalizer`` that lowers calls and subscripts (it needs ``atom``,
    ``emit``, ``names``, ``loc``, ``src`` and ``resolved`` from it, and the list operations
    of ``ListLowering``: ``sequence``, ``stacked``, ...)."""

    def attribute(self, node: ast.Attribute) -> Expr:
        resolved = self.resolved(node)
        if isinstance(resolved, Constant):
            return Const(resolved.value)
        if isinstance(resolved, FreeArray):  # data.X: an array of a module, read at each call
            return Name(self.input_name(resolved))
        attribute = attribute_for(node.attr) if self.src.is_value(node.value) else None
        if attribute is not None:  # x.T, x.shape
            return Op(attribute, (self.atom(node.value),))
        raise self.loc.unsupported(f"`{ast.unparse(node)}` used as a value")

    def subscript(self, node: ast.Subscript) -> Expr:
        base = node.value
        if self.is_list(base):  # xs[i] of a list made in the function
            item = self.list_subscript(node)
            if item is not None:
                return item
        if isinstance(base, ast.Attribute) and base.attr == "shape":
            return Op("shape", (self.atom(base.value), self.atom(node.slice)))
        if not self.src.is_value(base):
            raise self.loc.unsupported(f"the subscript `{ast.unparse(node)}`")
        indices = self.indices(node)
        return Op(f"index{len(indices)}", (self.atom(base), *indices))

    def indices(self, node: ast.Subscript) -> tuple[Expr, ...]:
        """The indices of ``x[i, 1:n, None]``: atoms, slices and None."""
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if len(parts) > MAX_RANK:
            raise self.loc.unsupported(
                f"the subscript `{ast.unparse(node)}` ({len(parts)} indices)",
                f"srcdiff takes up to {MAX_RANK}",
            )
        indices: list[Expr] = []
        for part in parts:
            if isinstance(part, ast.Slice):
                bounds = (part.lower, part.upper, part.step)
                atoms = (Const(None) if b is None else self.atom(b) for b in bounds)
                indices.append(Op("slice", tuple(atoms)))
            elif isinstance(part, ast.Constant) and part.value is None:
                indices.append(Const(None))
            else:
                indices.append(self.atom(part))
        return tuple(indices)

    def call_primitive(self, node: ast.Call) -> Expr:
        if self.is_method(node):  # x.sum(axis=0): the primitive, with x first
            prim_name = method_for(node.func.attr)
            array = self.atom(node.func.value)
            binding = binding_for(prim_name, method=True)
            return self.apply(prim_name, binding, [array, *node.args], node.keywords, node)
        resolved = self.resolved(node.func)
        assert isinstance(resolved, Primitive)
        binding = binding_for(resolved.name)
        return self.apply(
            resolved.name, binding, list(node.args), node.keywords, node, resolved.from_math
        )

    def is_method(self, node: ast.Call) -> bool:
        return isinstance(node.func, ast.Attribute) and self.src.is_value(node.func.value)

    def apply(
        self,
        prim_name: str,
        binding: Binding | None,
        arg_nodes: list,
        keywords: list,
        node: ast.Call,
        math: bool = False,
    ) -> Expr:
        """The primitive applied to its arguments, bound as the rule table says (by
        position where it says nothing); ``math``: called through Python's math module,
        which raises on bad arguments."""
        site = _Site(self, ast.unparse(node.func), math)
        if binding is None:
            return site.positional(prim_name, [self.argument(a) for a in arg_nodes])
        bound = self.bind(binding, arg_nodes, keywords, site.name)
        try:
            return binding.build(bound, site)
        except UnsupportedCall as err:
            raise self.loc.unsupported(str(err), err.hint) from None

    def math_call(self, op: Op) -> Op:
        """A call through Python's math module, with the checks that make it raise as math
        does (``math.sqrt(-1.0)``: ValueError) where compiled code returns nan or inf: its
        domain before the call, and for functions that overflow, once the assignment that
        takes the result is emitted (``emit``), a check of the result."""
        for check in math_prechecks(op.prim, op.args, self.loc):
            self.emit(check)
        if PRIMITIVES[op.prim].math_overflow:
            self.overflow_checked[id(op)] = (op, self.loc)
        return op

    def argument(self, node) -> Expr:
        if isinstance(node, (Name, Const)):  # the array a method is called on
            return node
        if isinstance(node, (ast.Tuple, ast.List)):  # np.zeros((n, m))
            return self.shape_tuple(node.elts)
        return self.atom(node)

    def bind(self, binding: Binding, args: list, keywords: list, name: str) -> dict[str, object]:
        params = binding.params
        if len(args) > len(params) and binding.rest is None:
            raise self.loc.unsupported(f"`{name}` with {len(args)} arguments")
        bound: dict[str, object] = {p: a for (p, _), a in zip(params, args, strict=False)}
        if binding.rest is not None:
            bound[binding.rest] = args[len(params) :]
        for keyword in keywords:
            if keyword.arg in bound:
                raise self.loc.error(f"`{name}` got {keyword.arg} twice")
            bound[keyword.arg] = keyword.value
        for param, default in params:
            if param not in bound:
                if default is REQUIRED:
                    raise self.loc.error(f"`{name}` needs the argument {param}")
                bound[param] = ast.Constant(default)
        return bound

    def constant(self, node) -> Const:
        try:
            value = Const(ast.literal_eval(node))  # axis=-1
        except ValueError:
            value = self.value(node)  # a named constant
        if not isinstance(value, Const) or type(value.value) not in (int, bool, type(None)):
            raise self.loc.unsupported(f"`{ast.unparse(node)}` as an axis", "use a constant")
        return value

    def shape_tuple(self, elements: list) -> Expr:
        """A shape ``(n, m)`` as a value: a tuple of one to ``MAX_RANK`` integers."""
        if not 1 <= len(elements) <= MAX_RANK:
            raise self.loc.unsupported(
                f"a shape with {len(elements)} dimensions", f"srcdiff takes 1 to {MAX_RANK}"
            )
        return self.atom_of(Op(f"tuple{len(elements)}", tuple(self.atom(e) for e in elements)))


class _Site:
    """One call, as a binding reads it (``rules.traits.CallSite``)."""

    def __init__(self, lowering: CallLowering, name: str, math: bool):
        self.lowering = lowering
        self.name = name
        self.math = math
        self.atom = lowering.atom
        self.argument = lowering.argument
        self.constant = lowering.constant
        self.sequence = lowering.sequence
        self.array_like = lowering.array_like
        self.stacked = lowering.stacked
        self.length = lowering.length
        self.total = lowering.total
        self.extremum = lowering.extremum
        self.shape = lowering.shape_tuple
        self.atom_of = lowering.atom_of

    def positional(self, prim: str, args: list[Expr]) -> Expr:
        if len(args) != len(PRIMITIVES[prim].params):
            raise self.lowering.loc.unsupported(f"`{self.name}` with {len(args)} arguments")
        return self.call(Op(prim, tuple(args)))

    def operand(self, prim: str, args: tuple[Expr, ...]) -> Expr:
        op = Op(prim, args)
        return self.atom_of(self.lowering.math_call(op)) if self.math else op

    def call(self, op: Op) -> Op:
        return self.lowering.math_call(op) if self.math else op
