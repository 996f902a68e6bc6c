"""Kind inference: which variables hold bools, ints, floats or arrays (with element kind and
rank), from the kinds of the arguments; and, once kinds are known, the printed form of
each primitive (``lower_for_kinds``, ``specialize``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import ir
from ..errors import SourceLocation, SrcdiffError, error_at
from ..ir import Assign, Call, Const, Expr, For, Name, Op
from ..kind import FLOAT, INT, Kind, KindError
from ..rules import PRIMITIVES

if TYPE_CHECKING:  # for the annotation only: the backend is chosen after the analyses
    from ..backends import Backend

# result kinds of a called function, given its argument kinds
CalleeKinds = Callable[[str, tuple[Kind, ...]], tuple[Kind, ...]]


def expr_kind(expr: Expr, kinds: dict[str, Kind]) -> Kind | None:
    if isinstance(expr, Name):
        return kinds.get(expr.id)
    if isinstance(expr, Const):
        return Kind.of_constant(expr.value)
    arg_kinds = tuple(expr_kind(a, kinds) for a in expr.args)
    if None in arg_kinds:
        return None
    return PRIMITIVES[expr.prim].kind(arg_kinds, expr.args)


def guess_kinds(program) -> dict[str, Kind]:
    """Kinds for the main function's parameters before any call, from how they are used:
    indexed means an array, a range bound an int. Follows copies and calls of helpers."""
    usage = {name: _direct_usage(f.ir) for name, f in program.functions.items()}
    changed = True
    while changed:
        changed = False
        for name, function in program.functions.items():
            kinds = usage[name]
            for stmt in ir.walk(function.ir.body):
                for source, kind in _implied_kinds(stmt, kinds, usage, program):
                    if kind is not None and source not in kinds:
                        kinds[source] = kind
                        changed = True
    return usage[program.main.ir.name]


def _direct_usage(fn: ir.Function) -> dict[str, Kind]:
    kinds: dict[str, Kind] = {}
    for stmt in ir.walk(fn.body):
        if isinstance(stmt, For):
            for bound in (stmt.start, stmt.stop, stmt.step):
                for name in ir.names_in(bound):
                    kinds.setdefault(name, INT)
        elif isinstance(stmt, Assign) and isinstance(stmt.value, Op):
            prim = PRIMITIVES[stmt.value.prim]
            args = stmt.value.args
            for position in prim.arrays:  # an argument a rule takes as an array
                arg = args[position]
                if not isinstance(arg, Name):
                    continue
                if prim.name.startswith("index"):  # as many indices as dimensions
                    rank = sum(1 for a in args[1:] if a != Const(None))
                    kinds[arg.id] = Kind.array("float", rank)
                elif prim.name == "matmul":  # most likely matrices
                    kinds.setdefault(arg.id, Kind.array("float", 2))
                else:  # x.shape[k], len(x): the rank is unknown
                    kinds.setdefault(arg.id, Kind.array("float", 1))
            for position in prim.integers:  # an index: an integer, until a call says otherwise
                if isinstance(args[position], Name):
                    kinds.setdefault(args[position].id, INT)
        elif isinstance(stmt, ir.SetItem):
            kinds.setdefault(stmt.target, Kind.array("float", len(stmt.indices)))
            for index in stmt.indices:
                if isinstance(index, Name):
                    kinds.setdefault(index.id, INT)
        elif not isinstance(stmt, _SAYS_NOTHING_OF_USE):
            raise ir.unknown_statement(stmt)
    return kinds


# statements whose operands' use implies no kind (an assignment of an atom, a call: see
# _implied_kinds)
_SAYS_NOTHING_OF_USE = (
    Assign, Call, ir.If, ir.While, ir.Return, ir.Push, ir.Pop, ir.IndexAdd, ir.Check, ir.Comment
)  # fmt: skip


def _implied_kinds(stmt: ir.Stmt, kinds: dict[str, Kind], usage, program):
    """(variable, kind) pairs a statement implies: a copy has its source's kind and a
    call argument the kind its parameter is used as."""
    if isinstance(stmt, Assign) and isinstance(stmt.value, Name):
        yield stmt.value.id, kinds.get(stmt.target)
        yield stmt.target, kinds.get(stmt.value.id)
    elif isinstance(stmt, Assign) and isinstance(stmt.value, Op):
        # an integer computed by integer arithmetic (range(n - 1)) comes from integers
        if kinds.get(stmt.target) == INT and PRIMITIVES[stmt.value.prim].integer_closed:
            for name in ir.names_in(stmt.value):
                yield name, INT
    elif ir.is_print(stmt):
        pass  # prints whatever it is given
    elif isinstance(stmt, Call):
        params = program.functions[stmt.func].ir.params
        for param, arg in zip(params, stmt.args, strict=True):
            if isinstance(arg, Name):
                yield arg.id, usage[stmt.func].get(param)
    elif not isinstance(stmt, _IMPLY_NOTHING):
        raise ir.unknown_statement(stmt)


# statements that pass no kind from one variable to another
_IMPLY_NOTHING = (
    Assign, For, ir.If, ir.While, ir.Return, ir.Push, ir.Pop, ir.IndexAdd, ir.SetItem, ir.Check,
    ir.Comment,
)  # fmt: skip


def infer_kinds(
    fn: ir.Function,
    param_kinds: dict[str, Kind],
    callee_kinds: CalleeKinds,
    split: Callable[[str], bool] | None = None,
) -> dict[str, Kind]:
    """The kind of every variable, joined over all its assignments.

    A variable assigned values of two kinds is first offered to ``split`` (which renames its
    independent bindings apart in ``fn``, and says whether it could: see ``webs.py``), and
    inference starts again. Where it cannot be split, numbers of two kinds promote (``s = 0``
    then ``s = s + x`` is one float variable), and any other pair is an error."""
    promoted: set[str] = set()
    while True:
        try:
            return _infer(fn, param_kinds, callee_kinds, frozenset(promoted))
        except KindConflict as conflict:
            if split is not None and split(conflict.variable):
                continue
            if not conflict.numbers:
                raise (conflict if split is None else conflict.on_one_path()) from None
            promoted.add(conflict.variable)


def _infer(
    fn: ir.Function,
    param_kinds: dict[str, Kind],
    callee_kinds: CalleeKinds,
    promoted: frozenset[str],
) -> dict[str, Kind]:
    """``infer_kinds`` once: a ``KindConflict`` for a variable assigned two kinds, numbers
    of two kinds included unless it is in ``promoted``."""
    kinds = dict(param_kinds)
    statements = list(ir.walk(fn.body))
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            for target, kind in _assigned_kinds(stmt, kinds, callee_kinds):
                if kind is None:
                    continue
                joined = _join(kinds.get(target), kind, target, stmt, promoted)
                if joined != kinds.get(target):
                    kinds[target] = joined
                    changed = True
    for stmt in statements:  # names only ever assigned from themselves: default to float
        for target in ir.targets_of(stmt):
            kinds.setdefault(target, FLOAT)
        if isinstance(stmt, For):
            for bound in (stmt.start, stmt.stop, stmt.step):
                bound_kind = expr_kind(bound, kinds) or FLOAT
                if not bound_kind.is_integer:
                    raise (stmt.loc.error if stmt.loc else SrcdiffError)(
                        f"range() needs integers, but a bound is {bound_kind.describe()}; "
                        "convert it with int()"
                    )
    return kinds


def _assigned_kinds(stmt: ir.Stmt, kinds: dict[str, Kind], callee_kinds: CalleeKinds):
    if isinstance(stmt, Assign):
        try:
            yield stmt.target, expr_kind(stmt.value, kinds)
        except KindError as err:
            raise error_at(stmt.loc, _in_users_terms(err, stmt.loc)) from None
    elif isinstance(stmt, For):
        yield stmt.var, INT
    elif isinstance(stmt, ir.SetItem) and stmt.target in kinds:
        read = Op(f"index{len(stmt.indices)}", (Name(stmt.target), *stmt.indices))
        try:
            expr_kind(read, kinds)  # the indices fit the array
        except KindError as err:
            raise (stmt.loc.error if stmt.loc else SrcdiffError)(str(err)) from None
    elif ir.is_print(stmt):
        pass  # assigns nothing
    elif isinstance(stmt, Call):
        arg_kinds = tuple(expr_kind(a, kinds) for a in stmt.args)
        if None not in arg_kinds:
            yield from zip(stmt.targets, callee_kinds(stmt.func, arg_kinds), strict=True)
    elif not isinstance(stmt, _ASSIGN_NO_KIND):
        raise ir.unknown_statement(stmt)


def _in_users_terms(err: KindError, loc: SourceLocation | None) -> str:
    """A kind error in terms of the line the user wrote: on a ``for`` line, the loop's
    iterable (``for a in x`` reads ``len(x)`` and ``x[i]``) is what needs an array."""
    text = loc.text.rstrip(":") if loc is not None else ""
    if err.argument is not None and text.startswith("for ") and not err.kind.is_array:
        return f"`{text}` needs an array; `{err.argument}` is {err.kind.describe()}"
    return str(err)


# statements that give no variable a new kind (an element write keeps the array's kind;
# a tape's state is not a variable of the user's)
_ASSIGN_NO_KIND = (
    ir.SetItem, ir.If, ir.While, ir.Return, ir.Push, ir.Pop, ir.IndexAdd, ir.Check, ir.Comment
)  # fmt: skip


class KindConflict(SrcdiffError):
    """A variable assigned values of kinds that cannot share it (an array and a float):
    ``variable`` names it, ``loc`` is where the second kind was assigned."""

    def __init__(
        self, variable: str, kinds: str, loc: SourceLocation | None, numbers: bool = False
    ):
        self.variable = variable
        self.kinds = kinds
        self.loc = loc
        self.numbers = numbers  # numbers of two kinds, which may share one variable (promoted)
        super().__init__(str(error_at(loc, f"`{variable}` holds {kinds}; use separate names")))

    def __reduce__(self):  # (pickle would call __init__ with the message alone)
        return type(self), (self.variable, self.kinds, self.loc, self.numbers)

    def on_one_path(self) -> SrcdiffError:
        """The error where renaming cannot help: one read sees both kinds (after an ``if``
        that assigns in one branch only, or from one loop iteration to the next)."""
        return error_at(
            self.loc,
            f"`{self.variable}` holds {self.kinds}, and one read may see either (a branch or "
            "a loop assigns it); use two names",
        )


def _join(
    old: Kind | None, new: Kind, target: str, stmt: ir.Stmt, promoted: frozenset[str]
) -> Kind:
    if old is None:
        return new
    if old != new and old.is_number and new.is_number and target not in promoted:
        raise KindConflict(target, f"both {old.describe()} and {new.describe()}", stmt.loc, True)
    try:
        return old.join(new)
    except KindError as err:
        raise KindConflict(target, str(err), stmt.loc) from None


def lower_for_kinds(fn: ir.Function, variants: list[dict[str, Kind]]) -> None:
    """Replace primitives whose Numba meaning differs from Python's for some argument kinds
    (``n ** k`` of ints), if any of the functions' kind variants needs it."""
    for stmt in ir.walk(fn.body):
        if isinstance(stmt, Assign) and isinstance(stmt.value, Op):
            prim = PRIMITIVES[stmt.value.prim]
            if prim.lower is None:
                continue
            for kinds in variants:
                arg_kinds = tuple(expr_kind(a, kinds) or FLOAT for a in stmt.value.args)
                lowered = prim.lower(arg_kinds, stmt.value.args)
                if lowered is not None:
                    stmt.value = lowered
                    break


def specialize(fn: ir.Function, kinds: dict[str, Kind], backend: Backend) -> None:
    """Print each elementwise primitive applied to an array as its array form
    (``math.exp`` -> ``np.exp``), now that every variable's kind is known, and each
    primitive in ``backend``'s form of it (Numba's where Numba lacks one)."""

    def lower(expr: Expr) -> Expr:
        if not isinstance(expr, Op):
            return expr
        args = tuple(lower(a) for a in expr.args)
        prim = PRIMITIVES[expr.prim]
        if prim.array_variant is not None:
            if any(kind_or_float(a, kinds).is_array for a in args):
                return Op(prim.array_variant, args)
        if prim.expand is not None:
            expanded = prim.expand(tuple(kind_or_float(a, kinds) for a in args), args)
            if expanded is not None:
                return lower(expanded)
        lowered = backend.lower(prim, tuple(kind_or_float(a, kinds) for a in args), args)
        if lowered is not None:
            return lower(lowered)
        return Op(expr.prim, args)

    for stmt in ir.walk(fn.body):
        ir.map_expressions(stmt, lower)


def kind_or_float(expr: Expr, kinds: dict[str, Kind]) -> Kind:
    try:
        return expr_kind(expr, kinds) or FLOAT
    except KindError:
        return FLOAT
