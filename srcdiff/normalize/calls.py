"""Calls of primitives, lowered: NumPy's keyword and tuple arguments bound by the rule
table's signatures, methods and attributes of arrays (``x.sum(axis=0)``, ``x.T``),
subscripts, and calls through ``math`` with the checks that make them raise as ``math``
does."""

from __future__ import annotations

import ast

from ..frontend import Constant, Primitive
from ..ir import Assign, Const, Expr, Name, Op
from ..python_errors import math_prechecks
from ..rules import PRIMITIVES
from ..rules.arrays import ATTRIBUTES, METHODS, REDUCTIONS, REQUIRED, SIGNATURES


class CallLowering:
    """The part of ``Normalizer`` that lowers calls and subscripts (it needs ``atom``,
    ``emit``, ``names``, ``loc``, ``src`` and ``resolved`` from it)."""

    def attribute(self, node: ast.Attribute) -> Expr:
        resolved = self.resolved(node)
        if isinstance(resolved, Constant):
            return Const(resolved.value)
        if self.src.is_value(node.value) and node.attr in ATTRIBUTES:  # x.T, x.shape
            return Op(ATTRIBUTES[node.attr], (self.atom(node.value),))
        raise self.loc.unsupported(f"`{ast.unparse(node)}` used as a value")

    def subscript(self, node: ast.Subscript) -> Expr:
        base = node.value
        if isinstance(base, ast.Attribute) and base.attr == "shape":
            return Op("shape", (self.atom(base.value), self.atom(node.slice)))
        if not self.src.is_value(base):
            raise self.loc.unsupported(f"the subscript `{ast.unparse(node)}`")
        indices = self.indices(node)
        return Op(f"index{len(indices)}", (self.atom(base), *indices))

    def indices(self, node: ast.Subscript) -> tuple[Expr, ...]:
        """The indices of ``x[i, 1:n, None]``: atoms, slices and None."""
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if len(parts) > 3:
            raise self.loc.unsupported(f"the subscript `{ast.unparse(node)}` (at most 3 indices)")
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
            prim_name = METHODS[node.func.attr]
            array = self.atom(node.func.value)
            if prim_name == "reshape" and len(node.args) > 1:  # x.reshape(n, m)
                return Op("reshape", (array, self.shape_tuple(node.args)))
            return self.apply(prim_name, [array, *node.args], node.keywords, node)
        resolved = self.resolved(node.func)
        assert isinstance(resolved, Primitive)
        return self.apply(resolved.name, list(node.args), node.keywords, node, resolved.from_math)

    def is_method(self, node: ast.Call) -> bool:
        return isinstance(node.func, ast.Attribute) and self.src.is_value(node.func.value)

    def apply(
        self, prim_name: str, arg_nodes: list, keywords: list, node: ast.Call, math: bool = False
    ) -> Expr:
        """The primitive applied to its arguments, keyword arguments bound by the table;
        ``math``: called through Python's math module, which raises on bad arguments."""
        name = ast.unparse(node.func)
        if prim_name in SIGNATURES:
            return self.apply_numpy(prim_name, self.bind(prim_name, arg_nodes, keywords, name))
        if prim_name == "einsum":  # np.einsum('ij,jk->ik', a, b)
            if not 2 <= len(arg_nodes) <= 3:
                raise self.loc.unsupported(f"np.einsum with {len(arg_nodes) - 1} operands")
            operands = [self.atom(a) for a in arg_nodes[1:]]
            return Op(f"einsum{len(operands)}", (Const(arg_nodes[0].value), *operands))
        prim = PRIMITIVES[prim_name]
        args = [self.argument(a) for a in arg_nodes]
        if prim_name in ("min", "max") and len(args) > 2:
            # max(a, b, c) is max(max(a, b), c)
            acc = args[0]
            for arg in args[1:-1]:
                temp = self.names.fresh("t")
                self.emit(Assign(temp, Op(prim_name, (acc, arg)), self.loc))
                acc = Name(temp)
            args = [acc, args[-1]]
        if prim_name == "log" and len(args) == 2:  # log(x, base) = log(x) / log(base)
            num, den = (self.atom_of(self.math_call(Op("log", (a,))) if math else Op("log", (a,)))
                        for a in args)  # fmt: skip
            return Op("div", (num, den))
        if len(args) != len(prim.params):
            raise self.loc.unsupported(f"`{name}` with {len(args)} arguments")
        return self.math_call(Op(prim_name, tuple(args))) if math else Op(prim_name, tuple(args))

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

    def bind(self, prim: str, args: list, keywords: list, name: str) -> dict[str, object]:
        params = SIGNATURES[prim]
        if len(args) > len(params):
            raise self.loc.unsupported(f"`{name}` with {len(args)} arguments")
        bound = {p: a for (p, _), a in zip(params, args, strict=False)}
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

    def apply_numpy(self, prim: str, bound: dict[str, object]) -> Expr:
        """NumPy functions with keyword arguments and tuple or list arguments."""
        if prim in REDUCTIONS:
            array = self.atom(bound["a"])
            axis, keepdims = self.constant(bound["axis"]), self.constant(bound["keepdims"])
            if axis.value is None:
                if keepdims.value:
                    raise self.loc.unsupported("keepdims=True without an axis")
                return Op(prim, (array,))
            return Op(REDUCTIONS[prim], (array, axis, keepdims))
        if prim in ("concatenate", "stack"):
            axis = self.constant(bound["axis"])
            arrays = self.sequence(bound["arrays"])
            if prim == "stack":  # stack = concatenate along a new axis
                arrays = [self.atom_of(Op("expand_dims", (a, axis))) for a in arrays]
            joined = arrays[0]
            for array in arrays[1:-1]:
                joined = self.atom_of(Op("concatenate", (joined, array, axis)))
            return Op("concatenate", (joined, arrays[-1], axis))
        if prim == "expand_dims":
            return Op(prim, (self.atom(bound["a"]), self.constant(bound["axis"])))
        shape = bound["shape"]
        elements = shape.elts if isinstance(shape, (ast.Tuple, ast.List)) else [shape]
        return Op("reshape", (self.atom(bound["a"]), self.shape_tuple(elements)))

    def constant(self, node) -> Const:
        try:
            value = Const(ast.literal_eval(node))  # axis=-1
        except ValueError:
            value = self.value(node)  # a named constant
        if not isinstance(value, Const) or type(value.value) not in (int, bool, type(None)):
            raise self.loc.unsupported(f"`{ast.unparse(node)}` as an axis", "use a constant")
        return value

    def sequence(self, node) -> list[Expr]:
        if not isinstance(node, (ast.Tuple, ast.List)) or len(node.elts) < 2:
            raise self.loc.unsupported(
                f"`{ast.unparse(node)}` as a list of arrays", "write the arrays out: [a, b]"
            )
        return [self.atom(e) for e in node.elts]

    def shape_tuple(self, elements: list) -> Expr:
        """A shape ``(n, m)`` as a value: a tuple of one to three integers."""
        if not 1 <= len(elements) <= 3:
            raise self.loc.unsupported(f"a shape with {len(elements)} dimensions")
        return self.atom_of(Op(f"tuple{len(elements)}", tuple(self.atom(e) for e in elements)))
