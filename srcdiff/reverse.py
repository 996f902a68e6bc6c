"""Stage 4: the reverse-mode (adjoint) transformation of one normalized function.

The adjoint function runs the forward sweep (the original statements, saving on typed
tapes the values that later statements overwrite but the reverse sweep still needs),
then the reverse sweep: the statements in reverse order, each replaced by

* its VJPs from the rule table, accumulated into the adjoints of its arguments
  (``g_x += g_t0 * math.cos(x)``), then the adjoint of its target reset to zero;
* the restoring of its target from the tape, if the target was recorded.

So when the reverse sweep reaches a statement, every variable holds the value it had
right after that statement in the forward sweep. ``if`` statements re-evaluate their
condition (whose operands are restored); loops run backwards, ``for`` loops over the
reversed range and ``while`` loops (or ``for`` loops that may break) over a recorded
trip count. Calls of other user functions call their adjoint, which recomputes the
callee's forward sweep.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import ir
from .analysis.activity import definition_counts, find_recomputable, to_be_recorded
from .analysis.kinds import expr_kind
from .analysis.writes import views_of_written
from .errors import SourceLocation, SrcdiffError
from .ir import Assign, Call, Const, Expr, For, If, Name, Op, Pop, Push, Return, SetItem, While
from .kind import BOOL, FLOAT, INT, Kind, KindError
from .normalize.program import NameAllocator
from .rules import PRIMITIVES, substitute

if TYPE_CHECKING:  # for the annotation only: the backend is chosen before this stage
    from .backends import Backend

TAPE_OF_KIND = {FLOAT: "f", INT: "i", BOOL: "b"}
DUMMY_OF_KIND = {FLOAT: Const(0.0), INT: Const(0), BOOL: Const(False)}
ZERO = Const(0.0)
ONE = Const(1)

# (callee name, mask of differentiated parameters, argument kinds, mask of array
# arguments whose adjoint could be handed over) -> (adjoint name, mask of those handed over)
AdjointNamer = Callable[
    [str, tuple[bool, ...], tuple[Kind, ...], tuple[bool, ...]], tuple[str, tuple[bool, ...]]
]


@dataclass
class AdjointRequest:
    """What to generate: the adjoint of ``fn`` with respect to ``wrt``."""

    fn: ir.Function
    names: NameAllocator
    kinds: dict[str, Kind]
    active: set[str]
    wrt: tuple[str, ...]
    name: str
    backend: Backend  # what it runs on: whether it records whole arrays, how adjoints start
    # What the function returns: "grads" (flat, a bare value for one), or for the entry
    # point exactly what the API returns: "grad" / "value_and_grad", and whether the
    # gradient is a tuple (wrt was a tuple).
    returns: str = "grads"
    grad_tuple: bool = False
    # array parameters whose adjoint the caller hands over: the adjoint function adds
    # into it (an extra argument, g_<p>) instead of starting from zeros, and returns it
    handed_over: tuple[str, ...] = ()


@dataclass
class _State:
    taped: set[str]
    reads: set[str] = field(default_factory=set)
    counters: dict[int, str] = field(default_factory=dict)  # id(loop) -> trip-count variable


def adjoint(request: AdjointRequest, adjoint_name: AdjointNamer) -> ir.Function:
    return _Reverser(request, adjoint_name).build()


def arrays_recorded(
    request: AdjointRequest, adjoint_name: AdjointNamer, found: list[SourceLocation]
) -> None:
    """Where the adjoint, generated for a backend that cannot record whole arrays, would
    record one: an array reassigned whole, or a slice of it overwritten, while the reverse
    sweep still reads the old value. Found before the adjoint is generated, so that the
    backend can be chosen first: the to-be-recorded analysis over the reverse sweep's reads
    (which only the sweep's own rules tell), then the kinds of what it records; no code is
    kept. Appends each place to ``found`` in the order generation would meet them;
    ``adjoint_name`` must do the same for the callees' adjoints."""
    reverser = _Reverser(request, adjoint_name, arrays_at=found)
    reverser.seeds()
    reverser.sweeps()


def stand_in(kind: Kind) -> Expr:
    """A value of ``kind`` for a variable not assigned yet: zero, or an empty array."""
    rank = kind.ndim
    if rank:
        return Op("zeros", (Op(f"tuple{rank}", (Const(0),) * rank),))
    return DUMMY_OF_KIND.get(kind, Const(0.0))


def add(a: Expr, b: Expr) -> Expr:
    return Op("add", (a, b))


# statements that update no element of an array whose adjoint must then be a whole array
_UPDATES_NO_ELEMENT = (
    Assign, For, If, While, Return, Push, Pop, ir.IndexAdd, ir.Check, ir.Comment
)  # fmt: skip


class _Reverser:
    def __init__(
        self,
        request: AdjointRequest,
        adjoint_name: AdjointNamer,
        arrays_at: list[SourceLocation] | None = None,
    ):
        self.req = request
        self.fn = request.fn
        self.active = request.active
        self.kinds = request.kinds
        self.names = request.names
        self.adjoint_name = adjoint_name
        self.grad_names: dict[str, str] = {}
        self.state = _State(taped=set())
        self.snapshots: set[str] = set()
        self.lazy_adjoints = request.backend.lazy_array_adjoints
        # where a whole array would be recorded by a backend that cannot (``arrays_recorded``)
        self.arrays_at: list[SourceLocation] = [] if arrays_at is None else arrays_at
        self.materialized = self.materialized_adjoints()
        # assignments of whole values (not element writes): arrays assigned once need no tape
        self.whole_counts = definition_counts(self.fn, partial_writes=False)
        self.aranges = {
            s.target
            for s in ir.walk(self.fn.body)
            if isinstance(s, Assign)
            and isinstance(s.value, Op)
            and PRIMITIVES[s.value.prim].distinct
            and self.whole_counts.get(s.target) == 1
        }

    def grad(self, var: str) -> str:
        """The adjoint variable of ``var``: ``g_x`` holds dy/dx, as in the course notes."""
        if var not in self.grad_names:
            self.grad_names[var] = self.names.fresh(f"g_{var}", numbered=False)
            self.kinds[self.grad_names[var]] = self.kind(var)
        return self.grad_names[var]

    def fresh(self, base: str, kind: Kind) -> str:
        name = self.names.fresh(base)
        self.kinds[name] = kind
        return name

    def materialized_adjoints(self) -> set[str]:
        """Arrays whose adjoint must be an actual array from the start (it is updated
        element by element); other array adjoints start as the scalar 0.0 under NumPy."""
        arrays = {v for v in self.active if self.kind(v).is_array}
        if not self.lazy_adjoints:
            return arrays
        found = set(self.req.handed_over)
        for stmt in ir.walk(self.fn.body):
            if isinstance(stmt, SetItem):
                found.add(stmt.target)
            elif isinstance(stmt, Call):  # adjoints handed to a callee's adjoint
                found |= {a.id for a in stmt.args if isinstance(a, Name)}
            elif isinstance(stmt, Assign) and isinstance(stmt.value, Op):
                if PRIMITIVES[stmt.value.prim].index_read and isinstance(stmt.value.args[0], Name):
                    found.add(stmt.value.args[0].id)
            elif not isinstance(stmt, _UPDATES_NO_ELEMENT):
                raise ir.unknown_statement(stmt)
        return found & arrays

    # --- the adjoint function -----------------------------------------------------------
    def seeds(self) -> list[str]:
        """The adjoints of the results, which the caller gives."""
        ret = self.fn.body[-1]
        assert isinstance(ret, Return)
        return [self.grad(v.id) for v in ret.values]

    def sweeps(self) -> tuple[set[str], list[ir.Stmt], list[ir.Stmt]]:
        """The variables recorded, and the forward and reverse sweeps."""
        body = self.fn.body[:-1]
        # What the reverse sweep reads decides what is taped; restoring a taped value can
        # make more code (an if around a pop) read more: iterate to a fixed point.
        self.nested = _nested_loops(self.fn.body, inside_loop=False)
        self.recompute = find_recomputable(self.fn)
        self.recomputed = {s.target for stmts in self.recompute.values() for s in stmts}
        pristine = copy.deepcopy(self.names)
        taped: set[str] = set()
        while True:
            self.names = copy.deepcopy(pristine)
            self.names.taken |= set(self.grad_names.values())
            self.state = _State(taped=taped)
            reverse = self.reverse_block(body)
            needed = to_be_recorded(self.fn, self.state.reads) - self.recomputed
            if needed <= taped:
                break
            taped |= needed
        # views the reverse sweep reads, of arrays written after them: copied when taken
        self.snapshots = views_of_written(self.fn, self.kinds) & self.state.reads
        return taped, self.forward_block(body), reverse

    def build(self) -> ir.Function:
        results = [v.id for v in self.fn.body[-1].values]
        seeds = self.seeds()
        taped, forward, reverse = self.sweeps()
        top_level = _own_pushes(forward)
        forward = _with_reserves(forward, Counter())

        prologue = self.prologue(taped, top_level)
        if self.arrays_at:  # ``arrays_recorded`` said otherwise when the backend was chosen
            raise AssertionError(f"{self.req.backend} chosen for code recording whole arrays")
        values = self.capture_results(results, taped, forward)
        handed = self.req.handed_over
        init = [
            Assign(self.grad(v), self.zero(v))
            for v in sorted(self.active)
            if v not in results and v not in handed
        ]
        scalar_adjoints = {
            g for v, g in self.grad_names.items() if self.kind(v) == FLOAT and v not in results
        }
        reverse = _ZeroAdjoints(scalar_adjoints).guarded(init + reverse)[len(init) :]
        grads = tuple(self.gradient_output(p) for p in self.req.wrt)
        outputs, group_from = self.outputs(values, grads)
        fn_body = [
            *prologue,
            ir.Comment("forward sweep"),
            *forward,
            ir.Comment("reverse sweep"),
            *init,
            *reverse,
            Return(outputs, None, group_from),
        ]
        params = [*self.fn.params, *(self.grad(p) for p in handed), *seeds]
        # dy/dy = 1 for a single result; with several, every seed is the caller's to give (a
        # default would add a missing one's adjoint in silently)
        defaults = {seeds[0]: Const(1.0)} if len(seeds) == 1 else {}
        return ir.Function(self.req.name, params, fn_body, self.fn.loc, defaults, self.kinds)

    def gradient_output(self, param: str) -> Expr:
        if param in self.req.handed_over:  # the caller's adjoint, with ours added
            return Name(self.grad(param))
        if param not in self.active:
            return Op("zeros_like", (Name(param),)) if self.kind(param).is_array else ZERO
        if self.lazy_adjoints and self.kind(param).is_array and self.req.returns != "grads":
            return Op("as_grad", (Name(self.grad(param)), Name(param)))  # shape and dtype
        return Name(self.grad(param))

    def outputs(self, values: list[Expr], grads: tuple[Expr, ...]) -> tuple[tuple, int | None]:
        returns, grouped = self.req.returns, self.req.grad_tuple
        if returns == "grads":
            return grads, None
        if returns == "grad":
            return grads, (0 if grouped else None)
        return (*values, *grads), (len(values) if grouped else None)

    def prologue(self, taped: set[str], top_level: Counter[str]) -> list[ir.Stmt]:
        stmts: list[ir.Stmt] = []
        tapes = {self.tape(v) for v in taped if self.records_whole(v)} | self.counter_tapes()
        tapes |= {self.element_tape(w) for w in self.written() if w.target in taped}
        for tape in sorted(tapes):
            if tape == "a":  # a list of arrays
                stmts.append(Assign("_tape_a", Op("tape_a", ())))
                continue
            size = Const(max(16, top_level.get(tape, 0)))
            stmts.append(Assign(f"_tape_{tape}", Op(f"tape_{tape}", (size,))))
            stmts.append(Assign(f"_top_{tape}", Const(0)))
        # A recorded variable is saved before each assignment, the first one included.
        dummies = {v for v in taped - set(self.fn.params) if self.records_whole(v)}
        for var in sorted(dummies):
            stmts.append(Assign(var, stand_in(self.kind(var))))
        # An array whose adjoint starts as zeros like it, but that the forward sweep may
        # not assign (in a branch not taken, a loop that did not run): an empty stand-in.
        surely = ir.definitely_assigned(self.fn.body, set(self.fn.params))
        for var in sorted(self.materialized - surely - dummies - set(self.fn.params)):
            stmts.append(Assign(var, stand_in(self.kind(var))))
        return stmts

    def written(self) -> list[SetItem]:
        return [s for s in ir.walk(self.fn.body) if isinstance(s, SetItem)]

    def records_whole(self, var: str) -> bool:
        """Whether assigning ``var`` saves its old value: an array assigned once but
        written element by element saves the elements instead."""
        if var not in self.state.taped:
            return False
        return not self.kind(var).is_array or self.whole_counts.get(var, 0) > 1

    def counter_tapes(self) -> set[str]:
        return {"i"} if set(self.state.counters) & self.nested else set()

    def capture_results(
        self, results: list[str], taped: set[str], forward: list[ir.Stmt]
    ) -> list[Expr]:
        """The function's value, copied if the reverse sweep will restore its variable."""
        values: list[Expr] = []
        for result in results:
            if result in taped:
                copy = self.fresh("value", self.kind(result))
                forward.append(Assign(copy, Name(result)))
                values.append(Name(copy))
            else:
                values.append(Name(result))
        return values

    def tape(self, var: str, loc=None) -> str:
        """The tape that saves ``var``: typed arrays for scalars, a list for arrays."""
        return self.tape_of_kind(self.kind(var), loc)

    def tape_of_kind(self, kind: Kind, loc=None) -> str:
        if kind in TAPE_OF_KIND:
            return TAPE_OF_KIND[kind]
        if not self.req.backend.records_arrays:
            self.arrays_at.append(loc or self.fn.loc)
        return "a"

    def distinct_indices(self, stmt: SetItem) -> list[ir.Stmt]:
        """A write through integer arrays that repeat a position keeps only the last value
        NumPy writes there, which the adjoint cannot tell apart: refuse such input."""
        arrays = tuple(i for i in stmt.indices if self.expr_kind(i).is_array)
        if not arrays or stmt.target not in self.active:
            return []
        message = f"{stmt.loc.short}: the indices of this write repeat a position"
        test = Op(f"distinct_positions{len(arrays)}", arrays)
        return [ir.Check(test, message, stmt.loc, "ValueError")]

    def element_tape(self, stmt: SetItem) -> str:
        return self.tape_of_kind(self.element_kind(stmt), stmt.loc)

    def element_kind(self, stmt: SetItem) -> Kind:
        read = Op(f"index{len(stmt.indices)}", (Name(stmt.target), *stmt.indices))
        try:
            return expr_kind(read, self.kinds) or FLOAT
        except KindError as err:
            raise (stmt.loc.error if stmt.loc else SrcdiffError)(str(err)) from None

    def kind(self, var: str) -> Kind:
        return self.kinds.get(var, FLOAT)

    # --- forward sweep: the original code, recording before overwriting ---------------
    def forward_block(self, block: list[ir.Stmt]) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        for stmt in block:
            out.extend(self.forward_stmt(stmt))
        return out

    def record(self, targets: tuple[str, ...], loc) -> list[ir.Stmt]:
        return [Push(self.tape(t, loc), Name(t), loc) for t in targets if self.records_whole(t)]

    def forward_stmt(self, stmt: ir.Stmt) -> list[ir.Stmt]:
        if isinstance(stmt, Assign) and stmt.target in self.snapshots:
            copied = Op("array_copy", (stmt.value,))
            return [*self.record((stmt.target,), stmt.loc), Assign(stmt.target, copied, stmt.loc)]
        if isinstance(stmt, (Assign, Call)):
            return [*self.record(ir.targets_of(stmt), stmt.loc), stmt]
        if isinstance(stmt, SetItem):
            checks = self.distinct_indices(stmt)
            if stmt.target not in self.state.taped:
                return [*checks, stmt]
            old = Op(f"index{len(stmt.indices)}", (Name(stmt.target), *stmt.indices))
            tape = self.element_tape(stmt)
            if tape == "a":  # a slice is a view: save a copy of its values
                old = Op("array_copy", (old,))
            return [*checks, Push(tape, old, stmt.loc), stmt]
        if isinstance(stmt, If):
            body, orelse = self.forward_block(stmt.body), self.forward_block(stmt.orelse)
            return [If(stmt.test, body, orelse, stmt.loc)]
        if isinstance(stmt, (For, While)):
            return self.forward_loop(stmt)
        if isinstance(stmt, ir.Check):
            return [stmt]
        raise ir.unknown_statement(stmt)  # Return, tapes, comments: not in code to differentiate

    def forward_loop(self, stmt: For | While) -> list[ir.Stmt]:
        body = self.forward_block(stmt.body)
        counter = self.state.counters.get(id(stmt))
        before: list[ir.Stmt] = []
        after: list[ir.Stmt] = []
        if counter is not None:
            before.append(Assign(counter, Const(0), stmt.loc))
            body.insert(0, Assign(counter, Op("add", (Name(counter), Const(1))), stmt.loc))
            if id(stmt) in self.nested:  # a loop that runs again needs every trip count
                after.append(Push("i", Name(counter), stmt.loc))
        if isinstance(stmt, For):
            before = self.record((stmt.var,), stmt.loc) + before
            loop = For(stmt.var, stmt.start, stmt.stop, stmt.step, body, stmt.exit_test, stmt.loc)
        else:
            test_block = self.forward_block(stmt.test_block)
            loop = While(test_block, stmt.test, body, stmt.exit_test, stmt.loc)
        return [*before, loop, *after]

    # --- reverse sweep ------------------------------------------------------------------------
    def reverse_block(self, block: list[ir.Stmt]) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        for stmt in reversed(block):
            out.extend(self.reverse_stmt(stmt))
        return out

    def reads(self, *exprs: Expr) -> None:
        for expr in exprs:
            self.state.reads.update(ir.names_in(expr))

    def restore(self, var: str, loc) -> list[ir.Stmt]:
        if self.records_whole(var):
            return [Pop(self.tape(var, loc), var, loc)]
        return []

    def reverse_stmt(self, stmt: ir.Stmt) -> list[ir.Stmt]:
        if isinstance(stmt, ir.Check):
            return []
        if isinstance(stmt, Assign):
            return self.reverse_assign(stmt)
        if isinstance(stmt, SetItem):
            return self.reverse_setitem(stmt)
        if isinstance(stmt, Call):
            return self.reverse_call(stmt)
        if isinstance(stmt, If):
            body, orelse = self.reverse_block(stmt.body), self.reverse_block(stmt.orelse)
            if not body and not orelse:
                return []
            self.reads(stmt.test)
            return [If(stmt.test, body, orelse, stmt.loc)]
        if isinstance(stmt, For):
            return self.reverse_for(stmt)
        if isinstance(stmt, While):
            return self.reverse_while(stmt)
        raise ir.unknown_statement(stmt)  # Return, tapes, comments: not in code to differentiate

    def reverse_assign(self, stmt: Assign) -> list[ir.Stmt]:
        target, value, loc = stmt.target, stmt.value, stmt.loc
        if target not in self.active:
            return self.restore(target, loc)
        prim = PRIMITIVES[value.prim] if isinstance(value, Op) else PRIMITIVES["copy"]
        args = value.args if isinstance(value, Op) else (value,)
        if prim.opaque:
            raise (loc.error if loc else SrcdiffError)(prim.opaque)
        self_reference = Name(target) in args
        out: list[ir.Stmt] = []
        answer = Name(target)
        if self_reference and self.records_whole(target) and _uses_answer(prim):
            # target = f(target): the old value is restored first, so keep the new one
            answer = Name(self.fresh("ans", self.kind(target)))
            out.append(Assign(answer.id, Name(target), loc))
        bindings = dict(zip(prim.params, args, strict=True))
        bindings.update(g=Name(self.grad(target)), ans=answer)
        arg_kinds = tuple(self.expr_kind(a) for a in args)
        contributions: dict[str, Expr] = {}
        for arg, vjp in zip(args, prim.vjps_for(arg_kinds), strict=True):
            if vjp is None or not (isinstance(arg, Name) and arg.id in self.active):
                continue
            term = substitute(vjp, bindings)
            if prim.elementwise:
                term = self.unbroadcast(term, arg, args, target)
            previous = contributions.get(arg.id)
            contributions[arg.id] = term if previous is None else add(previous, term)
        self.reads(*contributions.values())
        if not self_reference:
            # the usual case: accumulate into the arguments, then this value's adjoint is spent
            out += [self.accumulate(a, c, loc) for a, c in contributions.items()]
            out.append(Assign(self.grad(target), self.zero(target), loc))
            return out + self.restore(target, loc)
        out += self.restore(target, loc)
        own = contributions.pop(target, ZERO)
        out += [self.accumulate(a, c, loc) for a, c in contributions.items()]
        out.append(Assign(self.grad(target), own, loc))
        return out

    def unbroadcast(self, term: Expr, arg: Name, args: tuple[Expr, ...], target: str) -> Expr:
        """An elementwise VJP has the result's shape: sum it back to the argument's."""
        result_kind, arg_kind = self.kind(target), self.kind(arg.id)
        if not result_kind.is_array:
            return term
        if not arg_kind.is_array:
            return Op("sum", (term,))
        others = [a for a in args if a != arg and self.expr_kind(a).is_array]
        if arg_kind.ndim == result_kind.ndim and not others:
            return term  # the only array argument has the result's shape
        return Op("unbroadcast", (term, arg))

    def expr_kind(self, expr: Expr) -> Kind:
        return expr_kind(expr, self.kinds) or FLOAT

    def zero(self, var: str) -> Expr:
        """A spent or initial adjoint: 0.0, or zeros like the variable where the adjoint
        must be an actual array."""
        return Op("zeros_like", (Name(var),)) if var in self.materialized else ZERO

    def accumulate(self, var: str, term: Expr, loc) -> ir.Stmt:
        grad = self.grad(var)
        if isinstance(term, Op) and PRIMITIVES[term.prim].scatter:  # g at position i of an array
            indices = term.args[:-1]
            fancy = any(self.expr_kind(i).is_array for i in indices)
            repeats = fancy and not self.distinct_by_arange(indices)
            return ir.IndexAdd(grad, indices, term.args[-1], loc, unbuffered=repeats)
        return Assign(grad, add(Name(grad), term), loc)

    def distinct_by_arange(self, indices: tuple[Expr, ...]) -> bool:
        """Whether 1-D integer-array indices name each position once because one of them
        is an np.arange (``logp[np.arange(n), labels]``): then ``+=`` adds correctly."""
        arrays = [i for i in indices if self.expr_kind(i).is_array]
        if any(self.expr_kind(i).ndim != 1 for i in arrays):
            return False
        return any(isinstance(i, Name) and i.id in self.aranges for i in arrays)

    def reverse_setitem(self, stmt: SetItem) -> list[ir.Stmt]:
        """``y[idx] = v``: v's adjoint takes g_y[idx], which the write then zeroes (the old
        value no longer matters); the old value comes back from the tape."""
        target, indices, value, loc = stmt.target, stmt.indices, stmt.value, stmt.loc
        out: list[ir.Stmt] = []
        if target in self.active:
            grad = Name(self.grad(target))
            if isinstance(value, Name) and value.id in self.active:
                term = Op(f"index{len(indices)}", (grad, *indices))
                if not self.kind(value.id).is_array and self.element_kind(stmt).is_array:
                    term = Op("sum", (term,))  # one value written into a whole slice
                elif self.kind(value.id).is_array:
                    # a copy: the slice of g_y is a view, and is zeroed right after
                    term = Op("unbroadcast", (Op("array_copy", (term,)), value))
                self.reads(term)
                out.append(self.accumulate(value.id, term, loc))
            out.append(SetItem(grad.id, indices, Const(0.0), loc))
            self.reads(*indices)
        if target in self.state.taped:
            old = self.fresh("old", self.element_kind(stmt))
            out.append(Pop(self.element_tape(stmt), old, loc))
            out.append(SetItem(target, indices, Name(old), loc))
            self.reads(*indices)
        return out

    def reverse_call(self, stmt: Call) -> list[ir.Stmt]:
        loc = stmt.loc
        active_targets = [t for t in stmt.targets if t in self.active]
        mask = tuple(isinstance(a, Name) and a.id in self.active for a in stmt.args)
        restores = [s for t in reversed(stmt.targets) for s in self.restore(t, loc)]  # LIFO
        if not active_targets or not any(mask):
            return [Assign(self.grad(t), self.zero(t), loc) for t in active_targets] + restores
        self.reads(*stmt.args)
        kinds = tuple(self._arg_kind(a) for a in stmt.args)
        # an array argument passed once can have its adjoint handed over and added into,
        # rather than the callee returning a new array to add (O(n) per call in a loop)
        candidates = tuple(
            m and k.is_array and stmt.args.count(a) == 1
            for a, m, k in zip(stmt.args, mask, kinds, strict=True)
        )
        callee, handed = self.adjoint_name(stmt.func, mask, kinds, candidates)
        seeds = tuple(Name(self.grad(t)) if t in self.active else ZERO for t in stmt.targets)
        inputs = tuple(Name(self.grad(a.id)) for a, h in zip(stmt.args, handed, strict=True) if h)
        differentiated = [(a.id, h) for a, m, h in zip(stmt.args, mask, handed, strict=True) if m]
        # named after the callee: Numba's own names for redefinitions (g_x.1 -> g_x_1) must
        # not collide with them
        partials = tuple(self.fresh(f"g_{a}_{stmt.func}", self.kind(a)) for a, _ in differentiated)
        out: list[ir.Stmt] = list(restores)
        out.append(Call(partials, callee, (*stmt.args, *inputs, *seeds), loc))
        out += [Assign(self.grad(t), self.zero(t), loc) for t in active_targets]
        for (arg, handed_over), partial in zip(differentiated, partials, strict=True):
            if handed_over:
                out.append(Assign(self.grad(arg), Name(partial), loc))
            else:
                out.append(self.accumulate(arg, Name(partial), loc))
        return out

    def _arg_kind(self, arg: Expr) -> Kind:
        if isinstance(arg, Name):
            return self.kind(arg.id)
        return Kind.of_constant(arg.value)

    def reverse_for(self, stmt: For) -> list[ir.Stmt]:
        body = self.reverse_block(stmt.body)
        out: list[ir.Stmt] = []
        if body:
            body = self.recomputed_at_top(stmt, body) + body
            self.reads(stmt.start, stmt.stop, stmt.step)
            if stmt.exit_test is None:
                out.append(self.reversed_range(stmt, body))
            else:
                out += self.replay_counted(stmt, body)
        return out + self.restore(stmt.var, stmt.loc)

    def recomputed_at_top(self, loop: For, body: list[ir.Stmt]) -> list[ir.Stmt]:
        """The recomputable statements the reversed body needs, in their original order."""
        needed = ir.read_in(body)
        chosen: list[ir.Stmt] = []
        for assign in reversed(self.recompute.get(id(loop), [])):
            if assign.target in needed:
                chosen.append(copy.copy(assign))
                needed |= set(ir.names_in(assign.value))
                self.reads(assign.value)
        return chosen[::-1]

    def reversed_range(self, stmt: For, body: list[ir.Stmt]) -> For:
        """The same iterations, last to first."""
        start, stop, step = stmt.start, stmt.stop, stmt.step
        if step == Const(1):
            return For(stmt.var, _minus1(stop), _minus1(start), Const(-1), body, loc=stmt.loc)
        if step == Const(-1):
            return For(stmt.var, _plus1(stop), _plus1(start), Const(1), body, loc=stmt.loc)
        k = self.fresh("k", INT)
        trips = Op("range_len", (start, stop, step))
        set_var = Assign(stmt.var, Op("add", (start, Op("mul", (Name(k), step)))), stmt.loc)
        return For(k, _minus1(trips), Const(-1), Const(-1), [set_var, *body], loc=stmt.loc)

    def replay_counted(self, stmt: For, body: list[ir.Stmt]) -> list[ir.Stmt]:
        counter = self.counter(stmt)
        k = self.fresh("k", INT)
        set_var = Assign(
            stmt.var, Op("add", (stmt.start, Op("mul", (Name(k), stmt.step)))), stmt.loc
        )
        loop = For(k, _minus1(Name(counter)), Const(-1), Const(-1), [set_var, *body], loc=stmt.loc)
        return [*self.restore_count(stmt, counter), loop]

    def reverse_while(self, stmt: While) -> list[ir.Stmt]:
        body = self.reverse_block(stmt.body)
        if self.reverse_block(stmt.test_block):
            raise AssertionError("a while condition never needs reverse code")
        if not body:
            return []
        counter = self.counter(stmt)
        loop = For(self.fresh("k", INT), Const(0), Name(counter), Const(1), body, loc=stmt.loc)
        return [*self.restore_count(stmt, counter), loop]

    def restore_count(self, stmt: For | While, counter: str) -> list[ir.Stmt]:
        return [Pop("i", counter, stmt.loc)] if id(stmt) in self.nested else []

    def counter(self, stmt: For | While) -> str:
        if id(stmt) not in self.state.counters:
            self.state.counters[id(stmt)] = self.names.fresh("_trips")
            self.kinds[self.state.counters[id(stmt)]] = INT
        return self.state.counters[id(stmt)]


def _nested_loops(block: list[ir.Stmt], inside_loop: bool) -> set[int]:
    """Ids of the loops that sit inside another loop (and so may run many times)."""
    found: set[int] = set()
    for stmt in block:
        is_loop = ir.is_loop(stmt)
        if is_loop and inside_loop:
            found.add(id(stmt))
        for child in ir.child_blocks(stmt):
            found |= _nested_loops(child, inside_loop or is_loop)
    return found


# --- adjoints that may be zero -------------------------------------------------------------
# An adjoint still 0.0 because nothing contributed to it on this run (a branch not taken, a
# loop that did not run, the side max did not pick) is a zero, not a number: multiplying it
# by an infinite partial derivative (an intermediate that overflowed) must not make a nan.
# A forward walk over the reverse sweep tells, for each scalar adjoint, whether it is surely
# zero (Z), surely has a contribution (N), or either (M); a product of an adjoint that may be
# zero with anything that is not a constant runs only where the adjoint is not zero.

# statements the guard leaves as they are: only assignments of scalar adjoints are guarded
_NO_PRODUCT_OF_ADJOINTS = (
    Call, Return, Push, Pop, ir.IndexAdd, SetItem, ir.Check, ir.Comment
)  # fmt: skip


class _ZeroAdjoints:
    def __init__(self, adjoints: set[str]):
        self.adjoints = adjoints

    def guarded(self, block: list[ir.Stmt]) -> list[ir.Stmt]:
        return self.block(block, {})[0]

    def block(self, block: list[ir.Stmt], state: dict[str, str]):
        out: list[ir.Stmt] = []
        for stmt in block:
            if isinstance(stmt, If):
                body, after_body = self.block(stmt.body, dict(state))
                orelse, after_else = self.block(stmt.orelse, dict(state))
                stmt.body, stmt.orelse = body, orelse
                state = _join(after_body, after_else)
            elif isinstance(stmt, (For, While)):
                head = dict(state)
                while True:  # the state at the top of an iteration, over all iterations
                    _, after = self.block(copy.deepcopy(stmt.body), dict(head))
                    widened = _join(head, after)
                    if widened == head:
                        break
                    head = widened
                stmt.body, _ = self.block(stmt.body, dict(head))
                state = head
            elif isinstance(stmt, Assign):
                guard = self.zero_factor(stmt.value, state)
                if stmt.target in self.adjoints:
                    state[stmt.target] = self.value(stmt.value, state)
                if guard is not None:
                    test = Op("ne", (Name(guard), ZERO))
                    if out and isinstance(out[-1], If) and out[-1].test == test:
                        out[-1].body.append(stmt)  # the next contribution of the same adjoint
                    else:
                        out.append(If(test, [stmt], [], stmt.loc))
                    continue
            elif not isinstance(stmt, _NO_PRODUCT_OF_ADJOINTS):
                raise ir.unknown_statement(stmt)
            out.append(stmt)
        return out, state

    def value(self, expr: Expr, state: dict[str, str]) -> str:
        """Z, N or M for the value of an expression over adjoints (N: other values)."""
        if isinstance(expr, Const):
            return "Z" if expr.value == 0 and not isinstance(expr.value, bool) else "N"
        if isinstance(expr, Name):
            return state.get(expr.id, "Z") if expr.id in self.adjoints else "N"
        parts = [self.value(a, state) for a in expr.args]
        # (sums and products are the algebra of adjoints themselves, known by name)
        if expr.prim in ("add", "sub"):
            return _add(parts[0], parts[1])
        if PRIMITIVES[expr.prim].selecting:  # weights of 0 or 1
            return "M"
        if "Z" in parts and expr.prim in ("mul", "div", "neg"):
            return "Z"
        return "M" if "M" in parts else "N"

    def zero_factor(self, expr: Expr, state: dict[str, str]) -> str | None:
        """The adjoint that may be zero, multiplied by a value that is not a constant."""
        if not isinstance(expr, Op):
            return None
        if expr.prim in ("mul", "div"):
            for adjoint, other in (expr.args, expr.args[::-1]):
                maybe = isinstance(adjoint, Name) and adjoint.id in self.adjoints
                if maybe and state.get(adjoint.id, "Z") != "N" and not isinstance(other, Const):
                    return adjoint.id
        for arg in expr.args:
            found = self.zero_factor(arg, state)
            if found is not None:
                return found
        return None


def _add(a: str, b: str) -> str:
    if "N" in (a, b):
        return "N"
    return "M" if "M" in (a, b) else "Z"


def _join(a: dict[str, str], b: dict[str, str]) -> dict[str, str]:
    joined = {}
    for name in set(a) | set(b):
        x, y = a.get(name, "Z"), b.get(name, "Z")
        joined[name] = x if x == y else "M"
    return joined


# --- tape capacity --------------------------------------------------------------------
# Pushes are plain stores, so the tapes must have room for them: each loop reserves room
# for all its iterations up front (a while loop, one iteration at a time), and the
# straight-line code around loops re-reserves for its own pushes after each loop.


def _own_pushes(block: list[ir.Stmt]) -> Counter[str]:
    """Pushes per tape in a block, branches included, loops' bodies excluded."""
    counts: Counter[str] = Counter()
    for stmt in block:
        if isinstance(stmt, Push):
            counts[stmt.tape] += 1
        elif isinstance(stmt, If):
            counts += _own_pushes(stmt.body) + _own_pushes(stmt.orelse)
        elif not isinstance(stmt, _NO_OWN_PUSH):
            raise ir.unknown_statement(stmt)
    return counts


# loops reserve room for their own pushes; the others push nothing
_NO_OWN_PUSH = (For, While, Assign, Call, Return, Pop, ir.IndexAdd, SetItem, ir.Check, ir.Comment)


def _has_loop(block: list[ir.Stmt]) -> bool:
    return any(isinstance(s, (For, While)) for s in ir.walk(block))


def _reserve(counts: Counter[str], times: Expr = ONE) -> list[ir.Stmt]:
    counts = Counter({tape: n for tape, n in counts.items() if tape != "a"})  # lists grow
    return [
        Assign(
            f"_tape_{tape}",
            Op(
                "reserve",
                (Name(f"_tape_{tape}"), Name(f"_top_{tape}"), Op("mul", (Const(n), times))),
            ),
        )
        for tape, n in sorted(counts.items())
    ]


def _trips(loop: For) -> Expr:
    if loop.step == Const(1):
        return Op("sub", (loop.stop, loop.start))
    return Op("range_len", (loop.start, loop.stop, loop.step))


# statements with no block of their own to reserve room in
_STRAIGHT_LINE = (Assign, Call, Return, Push, Pop, ir.IndexAdd, SetItem, ir.Check, ir.Comment)


def _with_reserves(block: list[ir.Stmt], following: Counter[str]) -> list[ir.Stmt]:
    """Insert reserves; ``following`` counts the pushes that may come after this block
    before the next reserve."""
    # rests[k]: the pushes that may follow statement k before the next reserve
    rests: list[Counter[str]] = []
    after = following
    for stmt in reversed(block):
        rests.append(after)
        after = after + _own_pushes([stmt])
    rests.reverse()
    out: list[ir.Stmt] = []
    for stmt, rest in zip(block, rests, strict=True):
        if isinstance(stmt, If):
            stmt.body = _with_reserves(stmt.body, rest)
            stmt.orelse = _with_reserves(stmt.orelse, rest)
            out.append(stmt)
        elif isinstance(stmt, For) and not _has_loop(stmt.body):
            # room for every iteration at once (inner loops would use it up: not then)
            per_iteration = _own_pushes(stmt.body)
            stmt.body = _with_reserves(stmt.body, Counter())
            out += [*_reserve(per_iteration, _trips(stmt)), stmt, *_reserve(rest)]
        elif isinstance(stmt, (For, While)):
            per_iteration = _own_pushes(stmt.body)
            stmt.body = _reserve(per_iteration) + _with_reserves(stmt.body, Counter())
            out += [stmt, *_reserve(rest)]
        elif isinstance(stmt, _STRAIGHT_LINE):
            out.append(stmt)
        else:
            raise ir.unknown_statement(stmt)
    return out


def _uses_answer(prim) -> bool:
    return any(v is not None and "ans" in ir.names_in(v) for v in prim.vjps)


def _minus1(expr: Expr) -> Expr:
    return Op("sub", (expr, Const(1)))


def _plus1(expr: Expr) -> Expr:
    return Op("add", (expr, Const(1)))
