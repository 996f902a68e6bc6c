"""The machinery of the rule table: ``Primitive`` (an entry and its traits), ``defrule`` and
its kin that register entries, and the parsing of their templates into IR. The entries
themselves are in ``scalar.py`` and ``arrays.py``; the package puts them together."""

from __future__ import annotations

import ast
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ir import Const, Expr, Name, Op
from ..kind import BOOL, FLOAT, INT, NONE, SLICE, Kind, KindError, promote
from .traits import UNSTATED, Binding, SymPyForm

# Python syntax -> primitive names, shared by the normalizer and the template parser.
BINOPS: dict[type, str] = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "div",
    ast.Pow: "pow",
    ast.FloorDiv: "floordiv",
    ast.Mod: "mod",
    ast.MatMult: "matmul",
}
UNARYOPS: dict[type, str] = {ast.USub: "neg", ast.UAdd: "copy", ast.Not: "not"}
COMPAREOPS: dict[type, str] = {
    ast.Lt: "lt",
    ast.LtE: "le",
    ast.Gt: "gt",
    ast.GtE: "ge",
    ast.Eq: "eq",
    ast.NotEq: "ne",
}
BOOLOPS: dict[type, str] = {ast.And: "and", ast.Or: "or"}

TEMPLATE_CONSTANTS = {
    "nan": float("nan"),
    "inf": float("inf"),
    "pi": 3.141592653589793,
    "None": None,
}

KindRule = Callable[[tuple[Kind, ...], tuple[Expr, ...]], Kind]

# What may stand inside a subscript.
INDEX_KINDS = (INT, BOOL, SLICE, NONE, Kind.array("int", 1), Kind.array("bool", 1))


# Result kinds by name: Python's arithmetic promotion, of all arguments or of the two branches
# of ``x if c else y``.
RESULT_KINDS: dict[str, KindRule] = {
    "promote": lambda kinds, args: promote(kinds),
    "branches": lambda kinds, args: promote((kinds[0], kinds[2])),
}


@dataclass
class Primitive:
    name: str
    params: tuple[str, ...]
    form: ast.expr
    vjp_sources: tuple[str | None, ...]
    result_kind: KindRule
    evaluate: Callable | None
    source: str
    vjps: tuple[Expr | None, ...] = ()  # parsed once the whole table is registered
    arrays: tuple[int, ...] = ()  # the argument positions that take an array
    integers: tuple[int, ...] = ()  # the argument positions that take an integer (indices)
    # cheaper to recompute in the reverse sweep than to tape (always, or for these arguments)
    cheap: bool | Callable[[tuple[Expr, ...]], bool] = False
    # (argument kinds, arguments) -> an equivalent expression Numba evaluates as Python does,
    # or None when the primitive prints as it is
    lower: Callable[[tuple[Kind, ...], tuple[Expr, ...]], Expr | None] | None = None
    # applies element by element to arrays, broadcasting (adjoints are summed back to
    # each argument's shape); ``array_variant`` is the primitive printed for arrays
    elementwise: bool = False
    array_variant: str | None = None
    # VJPs that depend on the arguments' ranks (matrix products): (ndims) -> VJPs
    rank_vjps: dict[tuple[int, ...], tuple[Expr | None, ...]] = field(default_factory=dict)
    rank_vjp_sources: dict[tuple[int, ...], tuple[str | None, ...]] = field(default_factory=dict)
    numba: bool = True  # its printed form compiles under Numba
    # why Numba cannot run it, in the user's terms, where its printed form does not say
    numba_missing: str | None = None
    loose: bool = False  # takes arrays or numbers in any position (adjoint helpers)
    # (argument kinds, arguments) -> a clearer or faster equivalent, once kinds are known
    # (an einsum adjoint with its subscripts worked out), or None
    expand: Callable[[tuple[Kind, ...], tuple[Expr, ...]], Expr | None] | None = None
    # (argument kinds, arguments) -> an equivalent expression Numba compiles, for a
    # primitive whose printed form it does not (None where there is none for these kinds)
    numba_lower: Callable[[tuple[Kind, ...], tuple[Expr, ...]], Expr | None] | None = None
    # forward mode, for primitives of arrays that are not elementwise: per argument, its
    # tangent's contribution to the result's, a template in which ``t`` is that tangent
    # (elementwise and scalar primitives take theirs from the VJPs: g * J becomes J * t)
    tangent_sources: tuple[str | None, ...] = ()
    tangents: tuple[Expr | None, ...] = ()
    # called through Python's math module: where it raises ValueError (a template in the
    # parameters, true outside the domain), and whether an infinite result from finite
    # arguments is an OverflowError (``defrule``'s ``math_domain`` and ``math_overflow``)
    math_domain: Expr | None = None
    math_domain_source: str | None = None
    math_overflow: bool = False
    # its derivative is unknown (a user's VJP given as a callable, a library function without
    # a rule), not zero: differentiating through it is an error, which this message explains
    # (a None VJP would silently be zero)
    opaque: str | None = None
    # a helper srcdiff writes (the reverse sweep's ``expand_like``, a Numba form): the code it
    # appears in is never differentiated, so its VJPs are not stated (None), no tangent may
    # use it, and it has no SymPy form
    internal: bool = False

    # --- facts later stages ask for; False, None or () where a fact does not apply -----------
    # how the SymPy cross-check computes it (None: it has none, and the check is skipped)
    sympy: SymPyForm | None = UNSTATED
    # how a call binds its arguments (None: its parameters, by position), and the methods
    # and attributes of arrays that stand for it (``x.sum()``, ``x.T``)
    binding: Binding | None = None
    method_binding: Binding | None = None  # as a method, where it binds otherwise
    methods: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    # memory: a result always in new memory (``fresh``); one that may share its first
    # argument's memory (``view``: a slice, a transpose); a new array at every call, which
    # the program may write into (``allocates``: two equal calls are two arrays); a view
    # repeating elements along a dimension (``stretching``); argument positions read only
    # for their shape and dtype (``shape_only``)
    fresh: bool = False
    view: bool = False
    allocates: bool = False
    stretching: bool = False
    shape_only: tuple[int, ...] = ()
    # what the NumPy backend knows of the result before it exists (see buffers.py): its
    # ``layout`` rule ("like_first", "indexed", "reduced", ...) and its ``dtype``
    # ("first": the first argument's, "joined": of the arrays joined, or a NumPy dtype)
    layout: str | None = None
    dtype: str | None = None
    # reads one element, row or slice of an array (``x[i]``); the adjoint of one (g at
    # position i), which becomes ``g_x[i] += g``; a part of a subscript (``1:n``)
    index_read: bool = False
    scatter: bool = False
    subscript: bool = False
    # works on single elements or sizes, not on whole arrays: code of only these is loop code
    element_level: bool = False
    # weights of 0 or 1 that select a value (an adjoint multiplied by one may be zero)
    selecting: bool = False
    # ints in, an int out (``n - 1``): its operands of an int result are ints
    integer_closed: bool = False
    # its result is a Python int, never a NumPy scalar (a size)
    python_int: bool = False
    # the length of an array along an axis: (arguments) -> the axis, an expression
    length_axis: Callable[[tuple[Expr, ...]], Expr] | None = None
    # its elements are distinct integers (``np.arange``): indexing with it hits each once
    distinct: bool = False
    # the Python error compiled code must mirror: "division" (ZeroDivisionError, the
    # message ``evaluate`` raises), "power" (``0.0 ** -1``, complex results, overflow),
    # "conversion" (float to int: nan and infinity raise)
    python_error: str | None = None
    # negation and constant factors move outside it (it makes its argument smaller)
    scale_after: bool = False
    # sample arguments inside its domain, for tests/test_rule_table.py: (rng) -> argument
    # tuples; None: numbers derived from ``math_domain``
    samples: Callable[[Any], list[tuple]] | None = None

    def numba_ok(self, kinds: tuple[Kind, ...], args: tuple[Expr, ...]) -> bool:
        if any(kinds[i].is_array for i in self.integers):
            return False  # indexing with integer arrays (np.add.at in the adjoint)
        if self.numba_lower is not None:
            return self.numba_lower(kinds, args) is not None
        return self.numba

    def vjps_for(self, kinds: tuple[Kind, ...]) -> tuple[Expr | None, ...]:
        if not self.rank_vjps:
            return self.vjps
        return self.rank_vjps[tuple(k.ndim for k in kinds)]

    def is_cheap(self, args: tuple[Expr, ...]) -> bool:
        return self.cheap(args) if callable(self.cheap) else self.cheap

    def kind(self, kinds: tuple[Kind, ...], args: tuple[Expr, ...]) -> Kind:
        """The kind of the result, or a ``KindError`` for arguments of the wrong kind."""
        if self.loose:
            return self.result_kind(kinds, args)
        if self.elementwise and any(k.is_array for k in kinds):
            elements = tuple(k.scalar() for k in kinds)
            for position, kind in enumerate(elements):
                if not kind.is_number:
                    raise KindError(
                        f"`{self.source}` needs a number or an array as argument "
                        f"{position + 1}, not {kind.describe()}"
                    )
            element = self.result_kind(elements, args)
            if element == INT and FLOAT in elements:
                element = FLOAT
            return Kind.array(element.element, max(k.ndim for k in kinds))
        for position, kind in enumerate(kinds):
            if position in self.integers:
                if kind not in INDEX_KINDS:
                    raise KindError(
                        f"an array index must be an integer or a slice, not {kind.describe()}"
                        "; convert it with int()"
                    )
                continue
            if kind.is_array != (position in self.arrays):
                wanted = "an array" if position in self.arrays else "a number"
                raise self.wrong_kind(args, position, wanted, kind)
        return self.result_kind(kinds, args)

    def wrong_kind(
        self, args: tuple[Expr, ...], position: int, wanted: str, kind: Kind
    ) -> KindError:
        """The error for argument ``position`` of the wrong kind, naming it as the call is
        written (``x[i]`` for ``index1(x, i)``) where it is a variable."""
        arg = args[position] if position < len(args) else None
        if isinstance(arg, Name) and not _is_temporary(arg.id):
            message = f"`{self.spelled(args)}` needs {wanted}, but `{arg.id}` is {kind.describe()}"
            return KindError(message, arg.id, kind)
        return KindError(
            f"`{self.source}` needs {wanted} as argument {position + 1}, not {kind.describe()}"
        )

    def spelled(self, args: tuple[Expr, ...]) -> str:
        """The printed form with the arguments' names and constants in place of its letters
        (``...`` for a computed argument)."""
        text = {p: _spelled(a) for p, a in zip(self.params, args, strict=False)}
        tree = ast.parse(self.source, mode="eval")
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in text:
                node.id = text[node.id]
        return ast.unparse(tree)


def _spelled(arg: Expr) -> str:
    if isinstance(arg, Name) and not _is_temporary(arg.id):
        return arg.id
    if isinstance(arg, Const):
        return repr(arg.value)
    return "..."


def _is_temporary(name: str) -> bool:
    """A name normalize made for an intermediate result (``t3``), not one of the user's."""
    return name[:1] == "t" and name[1:].isdigit()


PRIMITIVES: dict[str, Primitive] = {}


def defrule(
    name: str,
    form: str,
    *vjps: str | None,
    result: Kind | str | KindRule = FLOAT,
    evaluate: Callable | None = None,
    arrays: tuple[int, ...] = (),
    integers: tuple[int, ...] = (),
    cheap: bool | Callable = False,
    lower: Callable | None = None,
    by_rank: dict[tuple[int, ...], tuple[str | None, ...]] | None = None,
    numba: bool = True,
    numba_lower: Callable | None = None,
    tangents: tuple[str | None, ...] = (),
    elementwise: bool | str = False,
    math_domain: str | None = None,
    math_overflow: bool = False,
    aliases: tuple[object, ...] = (),
    **traits: Any,
) -> None:
    """Register a primitive: its printed ``form`` and one VJP template per argument;
    ``arrays`` and ``integers`` name the argument positions that take those kinds.
    ``by_rank`` gives VJPs per combination of argument ranks instead; ``tangents`` the
    forward-mode rule of a primitive of arrays that is not elementwise (see ``Primitive``).
    ``elementwise``: it applies element by element to arrays (a string: printed so there);
    ``math_domain``: true of arguments for which ``math`` raises ValueError (``"x < 0"``),
    ``math_overflow``: ``math`` raises OverflowError for an infinite result; ``aliases``:
    the Python objects users call it by. Other keywords are the traits of ``Primitive``."""
    form_tree = ast.parse(form, mode="eval").body
    params = tuple(_form_params(form_tree))
    if by_rank and not vjps:  # which arguments have a derivative at all
        vjps = next(iter(by_rank.values()))
    if len(vjps) != len(params):
        raise ValueError(f"rule {name!r}: {len(params)} arguments but {len(vjps)} VJPs")
    if tangents and len(tangents) != len(params):
        raise ValueError(f"rule {name!r}: {len(params)} tangents expected")
    unknown = set(traits) - {f.name for f in dataclasses.fields(Primitive)}
    if unknown:
        raise ValueError(f"rule {name!r}: no trait named {', '.join(sorted(unknown))}")
    options = dict(
        vjp_sources=vjps,
        result_kind=_kind_rule(result),
        evaluate=evaluate,
        arrays=arrays,
        integers=integers,
        cheap=cheap,
        lower=lower,
        rank_vjp_sources=by_rank or {},
        numba=numba,
        numba_lower=numba_lower,
        tangent_sources=tangents,
        math_overflow=math_overflow,
    )
    prim = Primitive(name=name, params=params, form=form_tree, source=form, **options, **traits)
    prim.math_domain_source = math_domain
    PRIMITIVES[name] = prim
    if elementwise:
        _elementwise(name, elementwise if isinstance(elementwise, str) else None)
    alias(name, *aliases)


def _kind_rule(result: Kind | str | KindRule) -> KindRule:
    """A rule's result kind: a function of the argument kinds, a name in ``RESULT_KINDS``,
    or always the same kind."""
    if isinstance(result, str):
        return RESULT_KINDS[result]
    if isinstance(result, Kind):
        return lambda kinds, args: result
    return result


def _elementwise(name: str, array_form: str | None = None) -> None:
    """Let primitive ``name`` apply element by element to arrays (broadcasting), printed
    as ``array_form`` there; its VJPs stay the same, and the reverse transform sums
    each adjoint back to its argument's shape."""
    prim = PRIMITIVES[name]
    prim.elementwise = True
    if array_form is None or array_form == prim.source:
        return
    tree = ast.parse(array_form, mode="eval").body
    if set(_form_params(tree)) != set(prim.params):
        raise ValueError(f"rule {name!r}: the array form names other arguments")
    variant = f"{name}[]"
    # NumPy's form returns nan or inf where ``math`` raises
    PRIMITIVES[variant] = dataclasses.replace(
        prim, name=variant, form=tree, source=array_form, math_domain_source=None,
        math_overflow=False,
    )  # fmt: skip
    prim.array_variant = variant


def nondiff(name: str, form: str, result: Kind | str | KindRule, **options) -> None:
    """Register a primitive whose derivative is zero wherever it is defined."""
    n_params = len(_form_params(ast.parse(form, mode="eval").body))
    defrule(name, form, *([None] * n_params), result=result, **options)


def helper(name: str, form: str, result: Kind | str | KindRule, **options) -> None:
    """Register a helper of the reverse sweep (or of its Numba forms): it appears only in
    adjoint code, which is not differentiated again, and never in a user's program (so it
    has no SymPy form)."""
    options.setdefault("sympy", None)
    nondiff(name, form, result, internal=True, **options)


def _form_params(tree: ast.expr) -> list[str]:
    """The single-letter names of a printed form, in the order they are written."""
    names = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and len(n.id) == 1]
    names = [n for n in names if n.id != "_"]
    ordered: list[str] = []
    for node in sorted(names, key=lambda n: (n.lineno, n.col_offset)):
        if node.id not in ordered:
            ordered.append(node.id)
    return ordered


def template(text: str, params: tuple[str, ...]) -> Expr:
    """Parse a rule template into an IR tree whose free names are params, ``g`` and ``ans``."""
    return expr_from_ast(ast.parse(text, mode="eval").body, set(params) | {"g", "ans"})


def expr_from_ast(node: ast.expr, free: set[str]) -> Expr:
    """Convert a side-effect-free Python expression over ``free`` names into IR."""
    if isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, (int, float, bool))
    ):
        return Const(node.value)
    if isinstance(node, ast.Name):
        if node.id in free:
            return Name(node.id)
        if node.id in TEMPLATE_CONSTANTS:
            return Const(TEMPLATE_CONSTANTS[node.id])
    if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
        return Op(
            BINOPS[type(node.op)], (expr_from_ast(node.left, free), expr_from_ast(node.right, free))
        )
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARYOPS:
        return Op(UNARYOPS[type(node.op)], (expr_from_ast(node.operand, free),))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPAREOPS:
        left, right = node.left, node.comparators[0]
        prim = COMPAREOPS[type(node.ops[0])]
        return Op(prim, (expr_from_ast(left, free), expr_from_ast(right, free)))
    if isinstance(node, ast.BoolOp):  # a and b and c: and(and(a, b), c)
        found = expr_from_ast(node.values[0], free)
        for value in node.values[1:]:
            found = Op(BOOLOPS[type(node.op)], (found, expr_from_ast(value, free)))
        return found
    if isinstance(node, ast.IfExp):
        parts = (node.body, node.test, node.orelse)
        return Op("select", tuple(expr_from_ast(p, free) for p in parts))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in PRIMITIVES
    ):
        return Op(node.func.id, tuple(expr_from_ast(a, free) for a in node.args))
    raise ValueError(f"cannot read rule template {ast.unparse(node)!r}")


def substitute(expr: Expr, bindings: dict[str, Expr]) -> Expr:
    """Replace the free names of a template by the expressions they stand for."""
    if isinstance(expr, Name):
        return bindings.get(expr.id, expr)
    if isinstance(expr, Op):
        return Op(expr.prim, tuple(substitute(a, bindings) for a in expr.args))
    return expr


# Names a user may call, resolved by object identity: filled in by the tables below.
ALIASES: dict[int, str] = {}
ALIAS_OBJECTS: list[object] = []  # keeps the aliased objects alive so their ids stay valid


def alias(prim: str, *objects: object) -> None:
    for obj in objects:
        ALIASES[id(obj)] = prim
        ALIAS_OBJECTS.append(obj)


def primitive_for(obj: object) -> str | None:
    """The primitive (or call, see ``defcall``) a Python callable stands for, if any."""
    return ALIASES.get(id(obj))


# Functions users call that are no primitive of their own, but written with primitives
# (np.stack: expand_dims, then concatenate): name -> how a call binds.
CALLS: dict[str, Binding] = {}


def defcall(name: str, binding: Binding, aliases: tuple[object, ...] = ()) -> None:
    CALLS[name] = binding
    alias(name, *aliases)


def binding_for(name: str, method: bool = False) -> Binding | None:
    """How a call of ``name`` binds its arguments; None: the primitive's parameters, by
    position. A name that is neither a primitive nor a call is an error (KeyError)."""
    if name in CALLS:
        return CALLS[name]
    prim = PRIMITIVES[name]
    return (method and prim.method_binding) or prim.binding


def method_for(attr: str) -> str | None:
    """The primitive the method ``x.<attr>(...)`` of an array stands for."""
    return _by_trait("methods").get(attr)


def attribute_for(attr: str) -> str | None:
    """The primitive the attribute ``x.<attr>`` of an array stands for."""
    return _by_trait("attributes").get(attr)


@functools.cache
def _by_trait(trait: str) -> dict[str, str]:
    return {
        spelled: prim.name
        for prim in PRIMITIVES.values()
        if not prim.name.endswith("[]")
        for spelled in getattr(prim, trait)
    }


AUGMENTED_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div)


@functools.cache
def augmented_operator(name: str) -> type[ast.operator] | None:
    """The operator of ``a += b`` for a primitive printed ``x + y`` (and ``-``, ``*``,
    ``/``), from its printed form; else None."""
    form = PRIMITIVES[name].form
    if (
        isinstance(form, ast.BinOp)
        and type(form.op) in AUGMENTED_OPERATORS
        and all(isinstance(o, ast.Name) for o in (form.left, form.right))
        and (form.left.id, form.right.id) == PRIMITIVES[name].params
    ):
        return type(form.op)
    return None


def global_names() -> set[str]:
    """The module-level names printed forms use (``math``, ``np``, ``sign``, ``len`` ...)."""
    names: set[str] = set()
    for prim in PRIMITIVES.values():
        for node in ast.walk(prim.form):
            if isinstance(node, ast.Name) and node.id not in prim.params:
                names.add(node.id)
    return names


def parse_templates() -> None:
    # Templates call other primitives, so they are parsed after every table has registered.
    for name in PRIMITIVES:
        _parse_vjps(PRIMITIVES[name])
    for prim in PRIMITIVES.values():
        _check_numba(prim)


def parse_rule(name: str) -> None:
    """Parse the templates of a primitive registered after the tables (a user's rule,
    which has no SymPy form)."""
    if PRIMITIVES[name].sympy is UNSTATED:
        PRIMITIVES[name].sympy = None
    _parse_vjps(PRIMITIVES[name])
    _check_numba(PRIMITIVES[name])


def _parse_vjps(prim: Primitive) -> None:
    prim.vjps = tuple(None if v is None else template(v, prim.params) for v in prim.vjp_sources)
    prim.rank_vjps = {
        ranks: tuple(None if v is None else template(v, prim.params) for v in vjps)
        for ranks, vjps in prim.rank_vjp_sources.items()
    }
    prim.tangents = tuple(
        None if t is None else template(t, (*prim.params, "t")) for t in prim.tangent_sources
    )
    if prim.math_domain_source is not None:
        prim.math_domain = template(prim.math_domain_source, prim.params)


def _check_numba(prim: Primitive) -> None:
    """Numba compiles a rule only if it compiles its VJPs."""
    vjps = [*prim.vjps, *(v for vs in prim.rank_vjps.values() for v in vs)]
    called = {e.prim for v in vjps if v is not None for e in _ops_in(v)}
    compiles = [PRIMITIVES[c].numba or PRIMITIVES[c].numba_lower for c in called]
    prim.numba = prim.numba and all(compiles)


UFUNC_OPERATORS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}


@functools.cache
def ufunc_of(name: str) -> tuple[str, tuple[int, ...]] | None:
    """For an elementwise primitive that is a NumPy arithmetic ufunc on floats (which can
    write its result into an array given as ``out=``): the ufunc's name and which
    argument goes where (``atan2(x, y)`` is ``np.arctan2(y, x)``); else None."""
    prim = PRIMITIVES[name]
    if not prim.elementwise:
        return None
    form = prim.form
    if isinstance(form, ast.BinOp) and type(form.op) in UFUNC_OPERATORS:
        ufunc, operands = UFUNC_OPERATORS[type(form.op)], [form.left, form.right]
    elif isinstance(form, ast.UnaryOp) and isinstance(form.op, ast.USub):
        ufunc, operands = "negative", [form.operand]
    elif (
        isinstance(form, ast.Call)
        and isinstance(form.func, ast.Attribute)
        and isinstance(form.func.value, ast.Name)
        and form.func.value.id == "np"
        and not form.keywords
    ):
        ufunc, operands = form.func.attr, form.args
    else:
        return None
    found = getattr(np, ufunc, None)
    float_to_float = {"d->d", "dd->d"}
    if not isinstance(found, np.ufunc) or not float_to_float & set(found.types):
        return None
    if not all(isinstance(o, ast.Name) and o.id in prim.params for o in operands):
        return None
    return ufunc, tuple(prim.params.index(o.id) for o in operands)


def _ops_in(expr: Expr):
    if isinstance(expr, Op):
        yield expr
        for arg in expr.args:
            yield from _ops_in(arg)
