"""The statement interface of the IR (``srcdiff/ir.py``), and what it guarantees: every pass
that meets a statement kind the interface does not know raises, instead of dropping it.

Part one checks, for each statement kind, what it reads and assigns, the blocks it holds, and
how its expressions are rewritten. Part two defines a new statement kind here, outside the
closed set ``ir.Stmt``, places it in hand-built functions and calls every stage on them."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest

from srcdiff import ir
from srcdiff.errors import SourceLocation
from srcdiff.ir import (
    Assign,
    Call,
    Check,
    Comment,
    Const,
    Expr,
    For,
    If,
    IndexAdd,
    Name,
    Op,
    Pop,
    Push,
    Return,
    SetItem,
    While,
)
from srcdiff.kind import FLOAT, INT

LOC = SourceLocation("f.py", 1, 0, "y = f(x)")


def _mul(a: str, b: str) -> Op:
    return Op("mul", (Name(a), Name(b)))


def _upper(expr: Expr) -> Expr:
    """Rename every variable to its upper-case spelling (a visible rewrite)."""
    return ir.rename_expr(expr, _UpperNames())


class _UpperNames(dict):
    def get(self, key, default=None):
        return key.upper()


# --- part one: each statement kind --------------------------------------------------------------


def _statements():
    """(statement, reads, targets, number of child blocks, expressions by role)."""
    inner = [Assign("z", Name("w"))]
    return [
        (Assign("y", _mul("a", "b")), {"a", "b"}, ("y",), 0, {ir.VALUE: [_mul("a", "b")]}),
        (
            Call(("p", "q"), "helper", (Name("a"), Const(1.0))),
            {"a"},
            ("p", "q"),
            0,
            {ir.ARG: [Name("a"), Const(1.0)]},
        ),
        (If(Name("c"), list(inner), []), {"c"}, (), 2, {ir.TEST: [Name("c")]}),
        (
            For("i", Const(0), Name("n"), Const(1), list(inner), Name("stop")),
            {"n", "stop"},
            ("i",),
            1,
            {ir.BOUND: [Const(0), Name("n"), Const(1)], ir.EXIT: [Name("stop")]},
        ),
        (
            While([Assign("c", Name("d"))], Name("c"), list(inner), Name("stop")),
            {"c", "stop"},
            (),
            2,
            {ir.TEST: [Name("c")], ir.EXIT: [Name("stop")]},
        ),
        (Return((Name("y"), Name("g"))), {"y", "g"}, (), 0, {ir.RESULT: [Name("y"), Name("g")]}),
        (
            Push("f", Name("v")),
            {"v", "_tape_f", "_top_f"},
            ("_tape_f", "_top_f"),
            0,
            {ir.VALUE: [Name("v")]},
        ),
        (Pop("f", "v"), {"_tape_f", "_top_f"}, ("v", "_top_f"), 0, {}),
        (
            IndexAdd("g", (Name("i"),), Name("e")),
            {"g", "i", "e"},
            ("g",),
            0,
            {ir.INDEX: [Name("i")], ir.VALUE: [Name("e")]},
        ),
        (
            SetItem("s", (Name("i"), Const(0)), Name("e")),
            {"s", "i", "e"},
            ("s",),
            0,
            {ir.INDEX: [Name("i"), Const(0)], ir.VALUE: [Name("e")]},
        ),
        (Check(Name("ok"), "message"), {"ok"}, (), 0, {ir.TEST: [Name("ok")]}),
        (Comment("a heading"), set(), (), 0, {}),
    ]


STATEMENTS = _statements()
IDS = [type(s[0]).__name__ for s in STATEMENTS]


def test_every_statement_kind_is_described():
    assert {type(s[0]) for s in STATEMENTS} == set(ir.Stmt.__args__)


@pytest.mark.parametrize(("stmt", "reads", "targets", "children", "roles"), STATEMENTS, ids=IDS)
def test_reads_targets_children(stmt, reads, targets, children, roles):
    assert ir.reads_of(stmt) == reads
    assert ir.targets_of(stmt) == targets
    assert len(ir.child_blocks(stmt)) == children
    by_role: dict[str, list[Expr]] = {}
    for role, expr in ir.labelled_expressions(stmt):
        by_role.setdefault(role, []).append(expr)
    assert by_role == roles
    assert ir.expressions(stmt) == [e for _, e in ir.labelled_expressions(stmt)]


@pytest.mark.parametrize(("stmt", "reads", "targets", "children", "roles"), STATEMENTS, ids=IDS)
def test_map_expressions(stmt, reads, targets, children, roles):
    stmt = copy.deepcopy(stmt)
    mapped = ir.map_expressions(stmt, _upper)
    assert mapped is stmt
    uppered = {role: [_upper(e) for e in exprs] for role, exprs in roles.items()}
    by_role: dict[str, list[Expr]] = {}
    for role, expr in ir.labelled_expressions(stmt):
        by_role.setdefault(role, []).append(expr)
    assert by_role == uppered
    # children are not the statement's own expressions
    for block in ir.child_blocks(stmt):
        for inner in block:
            assert all(n.islower() for e in ir.expressions(inner) for n in ir.names_in(e))


@pytest.mark.parametrize(("stmt", "reads", "targets", "children", "roles"), STATEMENTS, ids=IDS)
def test_map_expressions_by_role(stmt, reads, targets, children, roles):
    for role in ir.ROLES:
        changed = ir.map_expressions(copy.deepcopy(stmt), _upper, roles={role})
        expected = [(r, _upper(e) if r == role else e) for r, e in ir.labelled_expressions(stmt)]
        assert ir.labelled_expressions(changed) == expected


@pytest.mark.parametrize(("stmt", "reads", "targets", "children", "roles"), STATEMENTS, ids=IDS)
def test_rename(stmt, reads, targets, children, roles):
    stmt = copy.deepcopy(stmt)
    ir.rename([stmt], _UpperNames())
    tape_state = {"_tape_f", "_top_f"}  # named by the tape, not renamed
    assert ir.reads_of(stmt) == {r if r in tape_state else r.upper() for r in reads}
    assert ir.targets_of(stmt) == tuple(t if t in tape_state else t.upper() for t in targets)


def test_map_child_blocks_and_walk():
    loop = For("i", Const(0), Name("n"), Const(1), [Assign("a", Name("b"))])
    branch = If(Name("c"), [loop], [Comment("nothing")])
    assert list(ir.walk([branch])) == [branch, loop, loop.body[0], branch.orelse[0]]
    ir.map_child_blocks(branch, lambda block: block[::-1] + [Comment("end")])
    assert [type(s) for s in branch.body] == [For, Comment]
    assert ir.element_writes_of(SetItem("s", (Const(0),), Const(1.0))) == ("s",)
    assert ir.element_writes_of(Assign("s", Const(1.0))) == ()
    assert ir.is_loop(loop) and not ir.is_loop(branch)


# --- part two: a statement kind no pass knows -------------------------------------------------


@dataclass
class Mystery:
    """A statement kind of the future (``target = something(value)``), not in ``ir.Stmt``."""

    target: str
    value: Expr
    loc: SourceLocation | None = None


def _function(where: str) -> ir.Function:
    """``f(x, n)`` that squares ``x`` and runs a ``Mystery`` statement, at the top level or
    inside a loop, whose result it returns (so no pass may drop it as dead)."""
    mystery = Mystery("m", _mul("t0", "x"), LOC)
    square = Assign("t0", _mul("x", "x"), LOC)
    if where == "top":
        body = [square, mystery]
    else:
        body = [
            Assign("m", Const(0.0), LOC),
            For("i", Const(0), Name("n"), Const(1), [square, mystery], None, LOC),
        ]
    body.append(Return((Name("m"),), LOC))
    fn = ir.Function("f", ["x", "n"], body, LOC)
    fn.kinds = dict(KINDS)
    return fn


KINDS = {"x": FLOAT, "n": INT, "t0": FLOAT, "m": FLOAT, "i": INT}


def _names():
    from srcdiff.normalize.program import NameAllocator

    return NameAllocator({"x", "n", "t0", "m", "i", "f"})


def _normalize_protect_tests(fn):
    from srcdiff.normalize.statements import Normalizer

    normalizer = Normalizer.__new__(Normalizer)  # the pass needs only a name allocator
    normalizer.names = _names()
    normalizer.protect_tests(fn.body)


def _normalize_guard_unassigned(fn):
    from srcdiff.normalize.unbound import guard_unassigned

    guard_unassigned(fn.body, {"x", "n"}, _names(), LOC)


def _guess_kinds(fn):
    from srcdiff.analysis.kinds import guess_kinds
    from srcdiff.normalize.program import NormalizedFunction, Program

    normalized = NormalizedFunction(fn, None, 1, _names())
    guess_kinds(Program(normalized, {fn.name: normalized}))


def _infer_kinds(fn):
    from srcdiff.analysis.kinds import infer_kinds

    infer_kinds(fn, {"x": FLOAT, "n": INT}, lambda name, kinds: (FLOAT,))


def _lower_for_kinds(fn):
    from srcdiff.analysis.kinds import lower_for_kinds

    lower_for_kinds(fn, [KINDS])


def _specialize(fn):
    from srcdiff.analysis.kinds import specialize
    from srcdiff.backends import NUMBA

    specialize(fn, KINDS, NUMBA)


def _find_active(fn):
    from srcdiff.analysis.activity import find_active

    find_active(fn, KINDS, {"x"}, {"m"})


def _to_be_recorded(fn):
    from srcdiff.analysis.activity import to_be_recorded

    to_be_recorded(fn, {"t0", "x", "m"})


def _find_recomputable(fn):
    from srcdiff.analysis.activity import find_recomputable

    find_recomputable(fn)


def _check_writes(fn):
    from srcdiff.analysis.writes import check_writes

    check_writes(fn, KINDS)


def _views_of_written(fn):
    from srcdiff.analysis.writes import views_of_written

    views_of_written(fn, KINDS)


def _choose_backend(requested):
    def run(fn):
        from srcdiff.backends import choose

        choose(requested, [(fn, KINDS)])

    return run


def _insert_guards(fn):
    from srcdiff.guards import insert_guards

    names = _names()
    insert_guards(fn, [KINDS], lambda kind: names.fresh("t"))


def _reverse(fn):
    from srcdiff.backends import NUMBA
    from srcdiff.reverse import AdjointRequest, adjoint

    active = {"x", "t0", "m"}
    request = AdjointRequest(fn, _names(), dict(KINDS), active, ("x",), "f_adjoint", NUMBA)
    adjoint(request, lambda *args: ("helper_adjoint", ()))


def _forward(fn):
    from srcdiff.forward import TangentRequest, tangent_function

    request = TangentRequest(fn, _names(), dict(KINDS), {"x", "t0", "m"}, ("x",), "f_jvp")
    tangent_function(request, lambda *args: "helper_jvp")


def _three_address(fn):
    from srcdiff.forward import three_address

    three_address(fn, _names())


def _optimize(fn):
    from srcdiff.optimize import optimize

    optimize(fn)


def _simplify_block(fn):
    from srcdiff.optimize import simplify_block

    simplify_block(fn.body)


def _propagate_zeros(fn):
    from srcdiff.optimize import propagate_zeros

    propagate_zeros(fn.body, set())


def _propagate_values(fn):
    from srcdiff.optimize import _Values, propagate_values

    propagate_values(fn.body, _Values())


def _eliminate_dead_code(fn):
    from srcdiff.optimize import eliminate_dead_code

    eliminate_dead_code(fn.body, set())


def _renumber_temporaries(fn):
    from srcdiff.optimize import renumber_temporaries

    renumber_temporaries(fn, ["t0"])


def _outline_loops(backend):
    def run(fn):
        from srcdiff.backends import BY_NAME
        from srcdiff.kernels import outline_loops

        outline_loops(fn, {"f"}, BY_NAME[backend].worth_a_kernel)

    return run


def _layouts():
    from srcdiff.buffers import Layout

    return {"x": Layout("float64", (False,))}


def _resolve_broadcasts(fn):
    from srcdiff.buffers import resolve_broadcasts

    resolve_broadcasts(fn, _layouts())


def _reuse_buffers(fn):
    from srcdiff.buffers import reuse_buffers

    reuse_buffers(fn, _layouts())


def _codegen(fn):
    from srcdiff.codegen import module_source

    module_source([fn], "header")


def _symbolic(fn):
    from srcdiff.normalize.program import NormalizedFunction, Program
    from srcdiff.symbolic import _Interpreter, _Trace

    normalized = NormalizedFunction(fn, None, 1, _names())
    interpreter = _Interpreter(Program(normalized, {fn.name: normalized}), _Trace({}, 0.0))
    interpreter.trace.in_time = lambda: None  # no time limit here
    interpreter.run(fn, [2.0, 1])


STAGES = {
    "normalize.protect_tests": _normalize_protect_tests,
    "normalize.guard_unassigned": _normalize_guard_unassigned,
    "kinds.guess_kinds": _guess_kinds,
    "kinds.infer_kinds": _infer_kinds,
    "kinds.lower_for_kinds": _lower_for_kinds,
    "kinds.specialize": _specialize,
    "activity.find_active": _find_active,
    "activity.to_be_recorded": _to_be_recorded,
    "activity.find_recomputable": _find_recomputable,
    "writes.check_writes": _check_writes,
    "writes.views_of_written": _views_of_written,
    "backends.choose(auto)": _choose_backend("auto"),
    "backends.choose(numba)": _choose_backend("numba"),
    "guards.insert_guards": _insert_guards,
    "reverse.adjoint": _reverse,
    "forward.tangent_function": _forward,
    "forward.three_address": _three_address,
    "optimize.optimize": _optimize,
    "optimize.simplify_block": _simplify_block,
    "optimize.propagate_zeros": _propagate_zeros,
    "optimize.propagate_values": _propagate_values,
    "optimize.eliminate_dead_code": _eliminate_dead_code,
    "optimize.renumber_temporaries": _renumber_temporaries,
    "kernels.outline_loops(numba)": _outline_loops("numba"),
    "kernels.outline_loops(numpy)": _outline_loops("numpy"),
    "buffers.resolve_broadcasts": _resolve_broadcasts,
    "buffers.reuse_buffers": _reuse_buffers,
    "codegen.module_source": _codegen,
    "symbolic.interpreter": _symbolic,
}


@pytest.mark.parametrize("where", ["top", "loop"])
@pytest.mark.parametrize("stage", list(STAGES))
def test_unknown_statement_fails_loudly(stage, where):
    fn = _function(where)
    with pytest.raises(ir.UnknownStatement, match="srcdiff IR: no rule for Mystery"):
        STAGES[stage](fn)


@pytest.mark.parametrize("stage", list(STAGES))
def test_stages_run_without_the_unknown_statement(stage):
    """The same functions with the ``Mystery`` statement made an assignment: every stage
    runs, so what the test above sees is the unknown statement, not a broken set-up."""
    for where in ("top", "loop"):
        fn = _function(where)
        _replace_mystery(fn.body)
        STAGES[stage](fn)


def _replace_mystery(block: list) -> None:
    for k, stmt in enumerate(block):
        if isinstance(stmt, Mystery):
            block[k] = Assign(stmt.target, stmt.value, stmt.loc)
        elif isinstance(stmt, For):
            _replace_mystery(stmt.body)
