"""Everything the stage tests build, in one place: kinds, backends, hand-made IR, and the call
of each pipeline stage.

The tests give one stage a small input and look at what comes out. They never spell a kind,
a backend or a stage's signature themselves: they go through the helpers here, so a change
of those interfaces (kinds as values, backends as objects, a new way to walk statements) is
one edit in this file, not one in every test.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable

from srcdiff import backends as _backends
from srcdiff import ir
from srcdiff.analysis import activity as _activity
from srcdiff.analysis import kinds as _kinds
from srcdiff.analysis import writes as _writes
from srcdiff.codegen import Printer, module_source
from srcdiff.errors import SourceLocation
from srcdiff.forward import TangentRequest, tangent_function
from srcdiff.guards import insert_guards
from srcdiff.ir import Assign, Const, Expr, Name, Op
from srcdiff.kind import BOOL, FLOAT, INT, NONE, SLICE, Kind
from srcdiff.normalize.program import NameAllocator, NormalizedFunction, Program
from srcdiff.normalize.statements import normalize_program
from srcdiff.optimize import (
    _Values,
    eliminate_dead_code,
    optimize,
    propagate_values,
    propagate_zeros,
    renumber_temporaries,
    simplify,
    simplify_block,
)
from srcdiff.reverse import AdjointRequest, adjoint, arrays_recorded

# --- kinds and backends ---------------------------------------------------------------------
# Written in the tests as short spellings: "bool", "int", "float", "array:float:2" (an array
# of floats of rank 2), "shape:2" (a tuple of two ints), "slice", "none".

_NAMED_KINDS = {"bool": BOOL, "int": INT, "float": FLOAT, "slice": SLICE, "none": NONE}


def kind(spelling: str) -> Kind:
    """The kind a spelling stands for, as the stages take and give it."""
    what, _, rest = spelling.partition(":")
    if what == "array":
        element, ndim = rest.split(":")
        return Kind.array(element, int(ndim))
    if what == "shape":
        return Kind.shape(int(rest))
    return _NAMED_KINDS[spelling]


def kinds(**spellings: str) -> dict:
    """Kinds of variables by name: ``kinds(x="float", A="array:float:2")``."""
    return {name: kind(spelling) for name, spelling in spellings.items()}


def backend(name: str):
    """The backend called ``name`` ("numba" or "numpy"), as the stages take it."""
    return _backends.BY_NAME[name]


def backend_name(chosen) -> str:
    """The name of a backend a stage chose."""
    return chosen.name


# --- hand-made IR -----------------------------------------------------------------------------

LOC = SourceLocation("stage.py", 1)


def atom(value) -> Expr:
    """A name for a string, a constant for a number or bool, an expression as it is."""
    if isinstance(value, (Name, Const, Op)):
        return value
    if isinstance(value, str):
        return Name(value)
    return Const(value)


def op(prim: str, *args) -> Op:
    """A primitive applied to atoms: ``op("mul", "x", 2.0)`` is ``x * 2.0``."""
    return Op(prim, tuple(atom(a) for a in args))


def assign(target: str, value) -> ir.Assign:
    return Assign(target, atom(value))


def set_item(target: str, indices: list, value) -> ir.SetItem:
    """``target[indices] = value``."""
    return ir.SetItem(target, tuple(atom(i) for i in indices), atom(value))


def ret(*values) -> ir.Return:
    return ir.Return(tuple(atom(v) for v in values))


def loop(var: str, start, stop, body: list, step=1, exit_test=None) -> ir.For:
    exit_ = None if exit_test is None else atom(exit_test)
    return ir.For(var, atom(start), atom(stop), atom(step), body, exit_)


def when(test, body: list, orelse: list | None = None) -> ir.If:
    return ir.If(atom(test), body, orelse or [])


def check(test, message: str = "stage.py:1: message", error: str = "ValueError") -> ir.Check:
    return ir.Check(atom(test), message, None, error)


def function(params: list[str], body: list, name: str = "f", **kind_spellings) -> ir.Function:
    fn = ir.Function(name, list(params), body, LOC)
    fn.kinds = kinds(**kind_spellings)
    return fn


def statements(fn_or_block) -> list:
    """Every statement of a function or block, nested ones included, in source order."""
    block = fn_or_block.body if isinstance(fn_or_block, ir.Function) else fn_or_block
    return list(ir.walk(block))


def variables(fn_or_block) -> set[str]:
    """Every variable a function's body (or a block) reads or assigns."""
    block = fn_or_block.body if isinstance(fn_or_block, ir.Function) else fn_or_block
    return set(ir.names_used(block))


# --- reading IR -------------------------------------------------------------------------------

_LOCATION_COMMENT = re.compile(r"^\s*# [^\s:]+\.py:\d+")


def show(fn_or_block, known: dict | None = None) -> str:
    """IR printed as generated code prints it, without the comments naming the user's lines:
    a function with its ``def`` line, a block at no indentation."""
    printer = Printer()
    if isinstance(fn_or_block, ir.Function):
        printer.function(fn_or_block)
    else:
        printer.kinds = known or {}
        printer.block(fn_or_block, 0)
    lines = [line for line in printer.lines if not _LOCATION_COMMENT.match(line)]
    return "\n".join(lines).strip("\n")


def lines(fn_or_block) -> list[str]:
    """The printed lines, stripped of indentation."""
    return [line.strip() for line in show(fn_or_block).splitlines()]


def module_text(functions: list[ir.Function], header: str = "test module") -> str:
    """The generated module's text for ``functions``, under a ``header`` comment."""
    return module_source(functions, header).source


def module_locations(functions: list[ir.Function], header: str = "test module") -> dict:
    """Which of the user's lines (``file.py:LINE``) each generated line (from 1) runs."""
    return module_source(functions, header).locations


# --- stage 2: normalize ---------------------------------------------------------------------


def normalize(func) -> Program:
    return normalize_program(func)


def normalized(func) -> ir.Function:
    """The IR of ``func`` itself (its helpers are normalized too, and dropped)."""
    return normalize(func).main.ir


# --- stage 3: analyses ------------------------------------------------------------------------


def callee_kinds_of(program: Program) -> Callable:
    """The result kinds of a call of one of ``program``'s functions, from its argument kinds."""

    def result_kinds(name: str, arg_kinds: tuple) -> tuple:
        fn = program.functions[name].ir
        inner = _kinds.infer_kinds(fn, dict(zip(fn.params, arg_kinds, strict=True)), result_kinds)
        return tuple(_kinds.expr_kind(v, inner) or kind("float") for v in fn.body[-1].values)

    return result_kinds


def infer(func_or_program, **param_spellings: str) -> dict:
    """The kind of every variable of the main function, from its parameters' kinds."""
    program = _program(func_or_program)
    fn = program.main.ir
    return _kinds.infer_kinds(fn, kinds(**param_spellings), callee_kinds_of(program))


def infer_fn(fn: ir.Function, **param_spellings: str) -> dict:
    """Kinds for hand-made IR without calls."""
    return _kinds.infer_kinds(fn, kinds(**param_spellings), lambda name, args: ())


def guess(func_or_program) -> dict:
    """The parameters' kinds as guessed from how they are used."""
    return _kinds.guess_kinds(_program(func_or_program))


def expr_kind(expr: Expr, known: dict):
    return _kinds.expr_kind(expr, known)


def lower_for(fn: ir.Function, known: dict) -> ir.Function:
    _kinds.lower_for_kinds(fn, [known])
    return fn


def specialize(fn: ir.Function, known: dict, on: str = "numba") -> ir.Function:
    _kinds.specialize(fn, known, backend(on))
    return fn


def active(fn: ir.Function, known: dict, wrt, results=None) -> set[str]:
    """The active variables for ``wrt``; ``results``: the names returned, by default."""
    if results is None:
        results = {v.id for v in fn.body[-1].values if isinstance(v, Name)}
    return _activity.find_active(fn, known, set(wrt), set(results))


def definition_counts(fn: ir.Function, partial_writes: bool = True) -> dict[str, int]:
    return _activity.definition_counts(fn, partial_writes)


def to_be_recorded(fn: ir.Function, reverse_reads) -> set[str]:
    return _activity.to_be_recorded(fn, set(reverse_reads))


def recomputable(fn: ir.Function) -> list[list[str]]:
    """Per ``for`` loop that has some, the targets the reversed loop recomputes."""
    found = _activity.find_recomputable(fn)
    return [[s.target for s in stmts] for stmts in found.values()]


def check_writes(fn: ir.Function, known: dict) -> None:
    _writes.check_writes(fn, known)


def views_of_written(fn: ir.Function, known: dict) -> set[str]:
    return _writes.views_of_written(fn, known)


def choose_backend(fn: ir.Function, known: dict, requested: str = "auto") -> tuple[str, str]:
    """(the backend's name, the reason given) for ``requested`` ("auto", "numba", "numpy")."""
    chosen, reason = _backends.choose(requested, [(fn, known)])
    return backend_name(chosen), reason


# --- stage 3b: guards -------------------------------------------------------------------------


def guard(fn: ir.Function, known: dict | list[dict]) -> ir.Function:
    """``fn`` with the checks that depend on kinds; ``known``: one kind map or several variants."""
    variants = known if isinstance(known, list) else [known]
    names = NameAllocator(set(ir.names_used(fn.body)) | set(fn.params))
    insert_guards(fn, variants, _fresh(names, variants))
    return fn


def _fresh(names: NameAllocator, variants: list[dict]):
    def fresh(kind_) -> str:
        name = names.fresh("t")
        for variant in variants:
            variant[name] = kind_
        return name

    return fresh


# --- stages 4 and 4b: reverse and forward -------------------------------------------------------


class Prepared:
    """A normalized function ready to be differentiated: its IR (a copy), names and kinds."""

    def __init__(self, func_or_program, param_spellings: dict[str, str], guards: bool = True):
        program = _program(func_or_program)
        self.program = program
        main: NormalizedFunction = program.main
        self.fn = copy.deepcopy(main.ir)
        self.names = copy.deepcopy(main.names)
        self.kinds = infer(program, **param_spellings)
        _kinds.lower_for_kinds(self.fn, [self.kinds])
        if guards:
            insert_guards(self.fn, [self.kinds], _fresh(self.names, [self.kinds]))

    def results(self) -> set[str]:
        return {v.id for v in self.fn.body[-1].values if isinstance(v, Name)}


def _callee_adjoint(callee: str, mask, arg_kinds, candidates):
    """Helpers' adjoints are named ``<callee>_adjoint``; no array adjoint is handed over."""
    return f"{callee}_adjoint", tuple(False for _ in candidates)


def run_reverse(
    func_or_program,
    wrt,
    on: str = "numba",
    optimized: bool = False,
    returns: str = "grads",
    **param_spellings: str,
) -> ir.Function:
    """The adjoint of ``func``'s normalized IR with respect to ``wrt`` (a name or a tuple);
    ``optimized``: cleaned up by the optimizer, as the pipeline does after this stage."""
    request = _adjoint_request(func_or_program, wrt, on, returns, param_spellings)
    result = adjoint(request, _callee_adjoint)
    return optimize(result) if optimized else result


def recorded_arrays(func_or_program, wrt, on: str = "numba", **param_spellings: str) -> list:
    """Where the adjoint for backend ``on`` would record a whole array (predicted before
    the backend is chosen); empty where it records none."""
    found: list = []
    request = _adjoint_request(func_or_program, wrt, on, "grads", param_spellings)
    arrays_recorded(request, _callee_adjoint, found)
    return found


def line_of(func, text: str) -> int:
    """The line of ``func``'s file that holds ``text`` (within ``func``)."""
    lines_, first = inspect.getsourcelines(func)
    return first + next(k for k, line in enumerate(lines_) if text in line)


def _adjoint_request(func_or_program, wrt, on: str, returns: str, param_spellings: dict):
    wrt = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    prepared = Prepared(func_or_program, param_spellings)
    return AdjointRequest(
        fn=prepared.fn,
        names=prepared.names,
        kinds=dict(prepared.kinds),
        active=active(prepared.fn, prepared.kinds, wrt, prepared.results()),
        wrt=wrt,
        name=f"{prepared.fn.name}_adjoint",
        returns=returns,
        backend=backend(on),
    )


def reverse_sweep(adjoint_fn: ir.Function) -> list:
    """The top-level statements of an adjoint after its ``# reverse sweep`` heading."""
    headings = [k for k, s in enumerate(adjoint_fn.body) if isinstance(s, ir.Comment)]
    start = next(k for k in headings if adjoint_fn.body[k].text == "reverse sweep")
    return adjoint_fn.body[start + 1 :]


def run_forward(
    func_or_program, wrt, optimized: bool = False, **param_spellings: str
) -> ir.Function:
    """The tangent function of ``func``'s normalized IR for the tangents of ``wrt``."""
    wrt = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    prepared = Prepared(func_or_program, param_spellings)
    request = TangentRequest(
        prepared.fn,
        prepared.names,
        dict(prepared.kinds),
        active(prepared.fn, prepared.kinds, wrt, prepared.results()),
        wrt,
        f"{prepared.fn.name}_jvp",
    )
    result = tangent_function(request, lambda callee, mask, arg_kinds: f"{callee}_jvp")
    return optimize(result) if optimized else result


# --- stage 6: optimize ------------------------------------------------------------------------


def run_optimize(fn: ir.Function, keep_results: bool = False) -> ir.Function:
    return optimize(fn, keep_results)


def simplified(expr: Expr) -> Expr:
    return simplify(expr)


def simplify_statements(block: list) -> list:
    return simplify_block(block)


def zeros_propagated(block: list, known_zero=()) -> list:
    return propagate_zeros(block, set(known_zero))[0]


def values_propagated(block: list) -> list:
    """Copies and common subexpressions replaced by the variables that hold them."""
    propagate_values(block, _Values())
    return block


def dead_code_eliminated(block: list, live_out=()) -> list:
    return eliminate_dead_code(block, set(live_out))


def renumbered(fn: ir.Function, temporaries: list[str]) -> ir.Function:
    """``fn`` with its surviving temporaries (of ``temporaries``) numbered from t0."""
    renumber_temporaries(fn, temporaries)
    return fn


def _program(func_or_program) -> Program:
    return func_or_program if isinstance(func_or_program, Program) else normalize(func_or_program)
