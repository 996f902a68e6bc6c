"""Stage 2, statements: lower a checked Python function to the structured three-address IR.

* Every operation gets its own named result (``t0 = x * z``); the user's names stay.
* Augmented assignment, tuple unpacking, ternaries, ``and``/``or`` and chained
  comparisons become plain assignments and ``if`` statements (keeping Python's lazy
  evaluation).
* ``break``, ``continue`` and early ``return`` become flags: the statements after a
  jump are guarded by ``if not flag``, and a loop ends after an iteration that set its
  stop flag. Later stages therefore only see structured control flow.
* Calls of other user functions become ``Call`` statements; those functions are
  normalized in turn (callees first); recursion is unrolled where constant ints fix its
  depth (``unrolling``), and rejected elsewhere.

Calls of primitives are lowered in ``calls``, loops' iterables in ``iteration``, lists and
comprehensions in ``lists``, and reads of variables that may be unassigned guarded in
``unbound``.
"""

from __future__ import annotations

import ast
import types
from dataclasses import dataclass

from .. import ir
from ..errors import SourceLocation
from ..frontend import (
    Constant,
    FreeArray,
    LocalFunction,
    SourceFunction,
    format_template,
    is_docstring,
    is_text,
    read_function,
)
from ..ir import Assign, Call, Const, Expr, For, If, Name, Op, Return, While
from ..python_errors import math_checks
from ..rules import BINOPS, COMPAREOPS
from ..structures import assigned_names, names_in
from .calls import CallLowering
from .iteration import IterationLowering
from .lists import (
    UNROLLED,
    ListLowering,
    Scope,
    StaticList,
    appended_lists,
    appends_in_branches,
)
from .program import RESERVED, NameAllocator, NormalizedFunction, Program
from .unbound import guard_unassigned
from .unrolling import (
    MAX_DEPTH,
    Recursion,
    constant_parameters,
    constant_test,
    fold,
    specialized_name,
    taken_branches,
    unconstant_error,
)
from .varargs import with_arity


def normalize_program(func: types.FunctionType, structures: tuple = ()) -> Program:
    """``func`` and its callees in IR; ``structures``: the treedef of each container
    argument (``pytrees``), by position, or None."""
    builder = _ProgramBuilder()
    try:
        source = builder.source_of(func, structures=structures)
        if source.tree.args.vararg:
            raise source.loc(source.tree).unsupported(
                f"the parameter *{source.tree.args.vararg.arg} of the function differentiated",
                "name the parameters, or pass the values as one array (a function it calls "
                "may take *args)",
            )
        main_name = builder.normalize(func, None, structures=structures)
    except Recursion as recursion:  # the function differentiated calls itself: its ints
        # are arguments, known only at each call
        raise recursion.unrolled_error(func.__name__) from None
    return Program(builder.functions[main_name], builder.functions)


class _ProgramBuilder:
    def __init__(self) -> None:
        self.functions: dict[str, NormalizedFunction] = {}
        self.names: dict[object, str] = {}  # id(python function) (and constants) -> name
        self.in_progress: list[tuple[object, tuple]] = []  # (function, constants)
        self.module_names = NameAllocator(set())
        self.sources: dict[int, SourceFunction] = {}
        self.recursive: set[int] = set()  # ids of functions unrolled at each call

    def source_of(
        self,
        func: types.FunctionType | LocalFunction,
        arity: int | None = None,
        structures: tuple = (),
    ) -> SourceFunction:
        """``func`` read (once); ``arity``: for that many ``*args`` (``varargs``);
        ``structures``: for the containers of a call (``structures``)."""
        if any(s is not None for s in structures):
            key = (id(func), "structures", structures)
            if key not in self.sources:
                self.sources[key] = read_function(func, structures)
            return self.sources[key]
        if id(func) not in self.sources:
            self.sources[id(func)] = (
                func.source if isinstance(func, LocalFunction) else read_function(func)
            )
        if arity is None:
            return self.sources[id(func)]
        if (id(func), arity) not in self.sources:
            self.sources[id(func), arity] = with_arity(self.sources[id(func)], arity)
        return self.sources[id(func), arity]

    def normalize(
        self,
        func: types.FunctionType | LocalFunction,
        call_site: SourceLocation | None,
        constants: dict[str, int] | None = None,
        arity: int | None = None,
        structures: tuple = (),
    ) -> str:
        """The generated name of ``func``, normalized first if it is new (a function nested
        in another is already read: ``frontend`` closure-converts it). ``constants``: the
        parameters a call fixes, for a recursive function (``unrolling``); ``arity``: the
        number of ``*args`` the call gives (``varargs``)."""
        fixed = tuple(constants.items()) if constants is not None else None
        key = id(func) if fixed is None else (id(func), fixed)
        if arity is not None:
            key = (key, "*", arity)
        if any(s is not None for s in structures):
            key = (key, "structures", structures)
        loc = call_site or SourceLocation(func.__code__.co_filename, 0)
        if fixed is None and any(f is func for f, _ in self.in_progress):
            chain = " -> ".join(f.__name__ for f, _ in [*self.in_progress, (func, None)])
            first = next(k for k, (f, _) in enumerate(self.in_progress) if f is func)
            cycle = [f for f, _ in self.in_progress[first:]]
            raise Recursion(func, loc.unsupported(f"recursion ({chain})"), cycle)
        if (func, fixed) in self.in_progress:
            values = ", ".join(f"{p}={v}" for p, v in constants.items())
            raise loc.error(
                f"{func.__name__} calls itself again with {values}: this recursion never ends"
            )
        if key in self.names:
            return self.names[key]
        if sum(f is func for f, _ in self.in_progress) >= MAX_DEPTH:
            raise loc.unsupported(
                f"recursion of {func.__name__} deeper than {MAX_DEPTH} calls",
                "write it with a loop",
            )
        self.in_progress.append((func, fixed))
        try:
            source = self.source_of(func, arity, structures)
            base = source.name if constants is None else specialized_name(source.name, constants)
            if arity is not None:
                base = f"{base}_{arity}args"
            name = self.module_names.fresh(base, numbered=False)
            helper = call_site is not None
            normalized = Normalizer(source, self, name, helper, constants or {}).function()
        finally:
            self.in_progress.pop()
        self.names[key] = name
        self.functions[name] = normalized
        return name


@dataclass
class _Loop:
    stop: str | None = None  # set by break (or return) inside this loop
    skip: str | None = None  # set by continue
    has_return: bool = False


class Normalizer(CallLowering, IterationLowering, ListLowering):
    """Lowers one function's statements and expressions (calls: ``CallLowering``, loops'
    iterables: ``IterationLowering``, lists: ``ListLowering``)."""

    def __init__(
        self,
        source: SourceFunction,
        program: _ProgramBuilder,
        name: str,
        helper: bool = False,
        constants: dict[str, int] | None = None,
    ):
        self.src = source
        # parameters fixed to constant ints (a recursive function, unrolled): read as
        # constants, and operations on constant ints fold, so the recursion ends
        self.constants = constants or {}
        self.helper = helper  # called by the function being differentiated
        self.program = program
        self.name = name
        self.rename = {n: f"{n}_" for n in source.locals if n in RESERVED or n.endswith("_adjoint")}
        free = {n.id for n in ast.walk(source.tree) if isinstance(n, ast.Name)} - source.locals
        self.names = NameAllocator(source.locals | set(self.rename.values()) | free)
        self.out: list[ir.Stmt] = []
        self.loops: list[_Loop] = []
        self.loc: SourceLocation | None = None
        self.result_names: list[str] | None = None
        self.returned_flag: str | None = None
        self.callees: list[types.FunctionType | LocalFunction] = []
        # arrays of modules and closures read here or by callees: parameters after the others
        self.inputs: dict[tuple[int, str], tuple[str, FreeArray]] = {}
        # id(op) -> (op, location): math calls whose result the next assignment of them checks
        self.overflow_checked: dict[int, tuple[Op, SourceLocation]] = {}
        self.path: tuple[Scope, ...] = ()  # the blocks being lowered, outermost first
        self.start_lists()

    # --- whole function ----------------------------------------------------------------
    def function(self) -> NormalizedFunction:
        tree = self.src.tree
        # nested functions are helpers of their own: their returns are not this one's
        body = [s for s in tree.body if not is_docstring(s) and not self.src.defines(s)]
        self.check_always_returns(body)
        tail_return = isinstance(body[-1], ast.Return) and not _has_return(body[:-1])
        n_results = _count_results(body[-1]) if tail_return else self.result_arity(body)
        if not tail_return:
            self.result_names = [
                self.names.fresh("y", numbered=n_results > 1) for _ in range(n_results)
            ]
            self.returned_flag = self.names.fresh("_returned", numbered=False)
        stmts = self.protect_tests(self.block(body))
        assert not self.overflow_checked, "a math call's result was never assigned"
        if not tail_return:
            stmts.insert(0, Assign(self.returned_flag, Const(False), self.src.loc(tree)))
            stmts.append(Return(tuple(Name(n) for n in self.result_names), self.loc))
        stmts = self.guard_unassigned(stmts)
        inputs = list(self.inputs.values())
        params = [self.local(p) for p in self.src.params] + [name for name, _ in inputs]
        defaults = {self.local(k): Const(v) for k, v in self.src.defaults.items()}
        # printed as Python parameters: only a trailing run (callers pass every argument; a
        # keyword-only parameter, a captured variable or an input may follow a default)
        required = [k for k, p in enumerate(params) if p not in defaults]
        trailing = params[required[-1] + 1 :] if required else params
        defaults = {p: defaults[p] for p in trailing}
        function = ir.Function(self.name, params, stmts, self.src.loc(tree), defaults)
        normalized = NormalizedFunction(function, self.src, n_results, self.names, self.callees)
        normalized.inputs = inputs
        return normalized

    def protect_tests(self, block: list[ir.Stmt]) -> list[ir.Stmt]:
        """An ``if`` whose branches reassign its condition's operands tests a copy, so the
        reverse sweep can re-evaluate the same decision."""
        out: list[ir.Stmt] = []
        for stmt in block:
            for child in ir.child_blocks(stmt):
                child[:] = self.protect_tests(child)
            if isinstance(stmt, If):
                reassigned = ir.assigned_in(stmt.body) | ir.assigned_in(stmt.orelse)
                if set(ir.names_in(stmt.test)) & reassigned:
                    temp = self.names.fresh("t")
                    out.append(Assign(temp, stmt.test, stmt.loc))
                    stmt.test = Name(temp)
            out.append(stmt)
        return out

    def guard_unassigned(self, block: list[ir.Stmt]) -> list[ir.Stmt]:
        params = {self.local(p) for p in self.src.params} | {n for n, _ in self.inputs.values()}
        # the results of a function with early returns are set on every path to its end
        known = params | set(self.result_names or ())
        return guard_unassigned(block, known, self.names, self.src.loc(self.src.tree))

    def check_always_returns(self, body: list[ast.stmt]) -> None:
        if not body or not _always_returns(body):
            last = body[-1] if body else self.src.tree
            raise self.src.loc(last).error(
                f"{self.src.name} can reach its end without returning a value"
            )

    def result_arity(self, body: list[ast.stmt]) -> int:
        counts = {
            _count_results(n) for n in ast.walk(ast.Module(body, [])) if isinstance(n, ast.Return)
        }
        if not counts:
            raise self.src.loc(self.src.tree).error(
                f"{self.src.name} never returns a value: every path raises"
            )
        if len(counts) != 1:
            raise self.src.loc(self.src.tree).error(
                f"{self.src.name} returns tuples of different lengths on different paths"
            )
        return counts.pop()

    # --- blocks and jumps ----------------------------------------------------------------
    def block(self, stmts: list[ast.stmt], scope: Scope | None = None) -> list[ir.Stmt]:
        """Normalize a block; statements after a possible jump are guarded by its flags.
        ``scope``: the block it is (a branch unless said otherwise)."""
        if self.constants:  # unrolled: only the branches taken, up to a return
            stmts = taken_branches(stmts, self.constants)
        saved, self.out = self.out, []
        saved_path = self.path
        if scope is not UNROLLED:  # an unrolled loop's body runs where the loop is
            self.path = (*self.path, scope or Scope("branch"))
        for k, node in enumerate(stmts):
            self.statement(node)
            if isinstance(node, ast.Raise):
                break  # what follows never runs
            escapes = _escapes([node])
            rest = stmts[k + 1 :]
            if escapes and rest:
                flags = self.flags_for(escapes)
                guarded = self.block(rest)
                if guarded:
                    self.emit(If(Op("not", (_any(flags),)), guarded, [], self.src.loc(rest[0])))
                break
        block, self.out = self.out, saved
        self.path = saved_path
        return block

    def flags_for(self, escapes: set[str]) -> list[Name]:
        flags = []
        loop = self.loops[-1] if self.loops else None
        if "break" in escapes and loop is not None:
            flags.append(Name(self.stop_flag(loop)))
        if "continue" in escapes and loop is not None:
            flags.append(Name(self.skip_flag(loop)))
        if "return" in escapes:
            flags.append(Name(self.returned_flag))
        return flags

    def stop_flag(self, loop: _Loop) -> str:
        if loop.stop is None:
            loop.stop = self.names.fresh("_break")
        return loop.stop

    def skip_flag(self, loop: _Loop) -> str:
        if loop.skip is None:
            loop.skip = self.names.fresh("_continue")
        return loop.skip

    # --- statements ----------------------------------------------------------------------
    def emit(self, stmt: ir.Stmt) -> None:
        is_assign = isinstance(stmt, Assign)
        pending = self.overflow_checked.pop(id(stmt.value), None) if is_assign else None
        if pending is None:
            self.out.append(stmt)
            return
        op, loc = pending  # checks read the result: a value of its own, if it overwrites an operand
        target = stmt.target
        if Name(target) in op.args:
            target = self.names.fresh("t")
        self.out.append(Assign(target, op, stmt.loc))
        self.out += math_checks(op.prim, Name(target), op.args, loc)
        if target != stmt.target:
            self.out.append(Assign(stmt.target, Name(target), stmt.loc))

    def statement(self, node: ast.stmt) -> None:
        self.loc = self.src.loc(node)
        method = getattr(self, f"stmt_{type(node).__name__}", None)
        if method is None:  # the checker has rejected everything else
            raise self.loc.unsupported(type(node).__name__)
        method(node)

    def stmt_Pass(self, node: ast.Pass) -> None:
        pass

    def stmt_FunctionDef(self, node: ast.FunctionDef) -> None:
        """A nested function: a helper of its own, called with the variables it reads."""

    def stmt_Assign(self, node: ast.Assign) -> None:
        if self.src.defines(node):  # g = lambda ...: as a nested def
            return
        first, *others = node.targets
        self.assign_to(first, node.value)
        for target in others:  # a = b = value: the first target holds the value
            source = first.id if isinstance(first, ast.Name) else None
            if source is None or not isinstance(target, ast.Name):
                raise self.loc.unsupported("chained assignment to tuples")
            self.emit(Assign(self.local(target.id), Name(self.local(source)), self.loc))

    def stmt_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.assign_to(node.target, node.value)

    def stmt_AugAssign(self, node: ast.AugAssign) -> None:
        self.refuse_list_write(node.target)
        operand = self.atom(node.value)
        prim = BINOPS[type(node.op)]
        if isinstance(node.target, ast.Subscript):  # y[i] += e: read, combine, write back
            array, indices = Name(self.local(node.target.value.id)), self.indices(node.target)
            old = self.atom_of(Op(f"index{len(indices)}", (array, *indices)))
            new = self.atom_of(Op(prim, (old, operand)))
            self.emit(ir.SetItem(array.id, indices, new, self.loc))
            return
        target = self.local(node.target.id)
        self.emit(Assign(target, Op(prim, (Name(target), operand)), self.loc))

    def assign_to(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name):
            if self.is_list(value) and not isinstance(value, ast.GeneratorExp):
                self.assign_list(self.local(target.id), value)
                return
            self.assign(self.local(target.id), value)
            return
        if isinstance(target, ast.Subscript):
            self.refuse_list_write(target.value)
            indices = self.indices(target)
            self.emit(ir.SetItem(self.local(target.value.id), indices, self.atom(value), self.loc))
            return
        names = [self.local(e.id) for e in target.elts]
        if isinstance(value, (ast.Name, ast.Subscript)) and self.is_list(value):
            found = self.list_of(value)  # a, b = xs
            if isinstance(found, StaticList):
                self.unpack_targets(target.elts, found)
                return
        if isinstance(value, ast.Attribute) and value.attr == "shape":
            array = self.atom(value.value)  # n, d = x.shape
            for k, name in enumerate(names):
                self.emit(Assign(name, Op("shape", (array, Const(k))), self.loc))
            return
        if isinstance(value, ast.Tuple):
            if len(value.elts) != len(names):
                raise self.loc.error(f"cannot unpack {len(value.elts)} values into {len(names)}")
            atoms = [self.atom(e) for e in value.elts]
            # Evaluate the whole right-hand side before assigning (a, b = b, a).
            atoms = [self.copy_if_in(a, names) for a in atoms]
            for name, atom in zip(names, atoms, strict=True):
                self.emit(Assign(name, atom, self.loc))
            return
        if isinstance(value, ast.Call) and _is_user_function(self.resolved(value.func)):
            self.call_user(value, tuple(names))
            return
        raise self.loc.unsupported(
            "unpacking this value", "unpack a tuple literal or a call that returns a tuple"
        )

    def copy_if_in(self, atom: Expr, names: list[str]) -> Expr:
        if isinstance(atom, Name) and atom.id in names:
            temp = self.names.fresh("t")
            self.emit(Assign(temp, atom, self.loc))
            return Name(temp)
        return atom

    def stmt_Return(self, node: ast.Return) -> None:
        values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
        if self.result_names is None:  # the single return at the end of the function
            atoms = [self.result(v, len(values)) for v in values]
            self.emit(Return(tuple(self.distinct_names(atoms)), self.loc))
            return
        for name, value in zip(self.result_names, values, strict=True):
            self.assign(name, value)
        self.emit(Assign(self.returned_flag, Const(True), self.loc))
        for loop in self.loops:
            loop.has_return = True

    def result(self, node: ast.expr, count: int) -> Expr:
        """A returned expression gets a name of its own: ``y`` (``y0, y1`` for tuples)."""
        if isinstance(node, ast.Name | ast.Constant):
            return self.atom(node)
        name = self.names.fresh("y", numbered=count > 1)
        self.assign(name, node)
        return Name(name)

    def distinct_names(self, atoms: list[Expr]) -> list[Name]:
        """Results are distinct variables, so each gets its own seed in the adjoint."""
        result: list[Name] = []
        for atom in atoms:
            if not isinstance(atom, Name) or atom in result:
                name = self.names.fresh("y", numbered=len(atoms) > 1)
                self.emit(Assign(name, atom, self.loc))
                atom = Name(name)
            result.append(atom)
        return result

    def stmt_Assert(self, node: ast.Assert) -> None:
        """Kept, as a check in the forward sweep (also where Python's ``-O`` drops asserts)."""
        test = self.test(node.test)
        if isinstance(node.msg, ast.JoinedStr):  # formatted only where the assert fails
            saved, self.out = self.out, []
            detail = self.printed(node.msg)
            failing = ir.Check(Const(False), "", self.loc, "AssertionError", True, detail)
            fails, self.out = [*self.out, failing], saved
            self.emit(If(self.atom_of(Op("not", (test,))), fails, [], self.loc))
            return
        message = node.msg.value if node.msg is not None else ""
        self.emit(ir.Check(test, message, self.loc, "AssertionError", verbatim=True))

    def stmt_Raise(self, node: ast.Raise) -> None:
        """A check that always fails; under an ``if`` it stays conditional."""
        call = node.exc if isinstance(node.exc, ast.Call) else None
        error = self.resolved(call.func if call is not None else node.exc)
        argument = call.args[0] if call is not None and call.args else None
        detail = self.printed(argument) if isinstance(argument, ast.JoinedStr) else None
        message = argument.value if argument is not None and detail is None else ""
        self.emit(ir.Check(Const(False), message, self.loc, error.__name__, True, detail))

    def stmt_Expr(self, node: ast.Expr) -> None:
        """``print(...)`` (the checker rejects every other expression statement but
        ``xs.append(e)``): an effect of the forward sweep, which no pass removes and the
        reverse sweep leaves out."""
        call = node.value
        if isinstance(call.func, ast.Attribute):
            self.append(call)
            return
        if self.helper:
            raise self.loc.unsupported(
                f"print in `{self.src.name}`, a function called by the one differentiated",
                "print in that function itself: a helper's adjoint runs it again, so its "
                "prints would repeat",
            )
        args = tuple(self.printed(a) for a in call.args)
        self.emit(Call((), ir.PRINT, args, self.loc))

    def printed(self, arg: ast.expr) -> Expr:
        """What ``print`` shows: a value, a constant string, or an f-string, as the
        ``str.format`` call that formats it (``'loss {:.3f}'.format(loss)``)."""
        if is_text(arg):
            return Const(arg.value)
        if not isinstance(arg, ast.JoinedStr):
            return self.atom(arg)
        template, values = format_template(arg)
        if not values:
            return Const(template.replace("{{", "{").replace("}}", "}"))
        return self.atom_of(Op(f"format{len(values)}", (Const(template), *map(self.atom, values))))

    def stmt_Break(self, node: ast.Break) -> None:
        self.emit(Assign(self.stop_flag(self.loops[-1]), Const(True), self.loc))

    def stmt_Continue(self, node: ast.Continue) -> None:
        self.emit(Assign(self.skip_flag(self.loops[-1]), Const(True), self.loc))

    def stmt_If(self, node: ast.If) -> None:
        loc = self.loc
        test = self.test(node.test)
        body = self.block(node.body)
        orelse = self.block(node.orelse)
        self.emit(If(test, body, orelse, loc))

    def stmt_For(self, node: ast.For) -> None:
        loc = self.loc
        # a range loop that appends is unrolled (a list of known length), unless it
        # appends under an `if`: then it is a loop writing into an array
        appends = bool(appended_lists(node.body)) and not appends_in_branches(node.body)
        rows = self.static_rows(node.iter, ranges=appends)
        if rows is not None:
            self.unrolled_for(node, rows)
            return
        assigned = {self.local(n) for n in assigned_names([node])}
        iteration = self.iteration(node, assigned)
        scope = Scope("for")
        grown = self.begin_loop_lists(node.body, iteration, scope)
        self.prepare_lists(node.body)
        loop = _Loop()
        self.loops.append(loop)
        body = self.block(node.body, scope)
        self.loops.pop()
        var, prologue = iteration.counter, []
        if var is None or var in ir.assigned_in(body):
            # the body changes the loop variable: count with a variable of our own, which
            # the reversed loop can set, and start each iteration with target = counter
            var = self.names.fresh("i")
            if iteration.counter is not None:
                prologue.append(Assign(iteration.counter, Name(var), loc))
        body[0:0] = [*prologue, *iteration.prologue(var, loc)]
        stmt = For(var, iteration.start, iteration.stop, iteration.step, body, loc=loc)
        self.emit_loop(loop, stmt)
        self.end_loop_lists(grown)

    def unrolled_for(self, node: ast.For, rows: list) -> None:
        """``for v in xs`` over a list of known length: the body once per item, each copy
        after the first skipped once a ``break`` or ``return`` has run."""
        loop = _Loop()
        self.loops.append(loop)
        copies = []
        for row in rows:
            self.loc = self.src.loc(node)
            copy = self.branch(lambda row=row: self.bind_target(node.target, row))
            copy += self.block(node.body, UNROLLED)
            copies.append(copy)
        self.loops.pop()
        exits = [Name(loop.stop)] if loop.stop else []
        if loop.has_return:
            exits.append(Name(self.returned_flag))
            if self.loops:
                self.loops[-1].has_return = True
        if loop.stop is not None:
            self.emit(Assign(loop.stop, Const(False), self.src.loc(node)))
        for k, copy in enumerate(copies):
            if loop.skip is not None:
                copy.insert(0, Assign(loop.skip, Const(False), self.src.loc(node)))
            if k and exits:
                self.emit(If(Op("not", (_any(exits),)), copy, [], self.src.loc(node)))
            else:
                self.out.extend(copy)

    def stmt_While(self, node: ast.While) -> None:
        loc = self.loc
        if _is_true(node.test) and not _ends_loop(node.body):
            raise loc.error(
                f"`while {ast.unparse(node.test)}:` without a break, return or raise never ends"
            )
        self.prepare_lists(node.body)
        saved, self.out = self.out, []
        test = self.test(node.test)
        test_block, self.out = self.out, saved
        loop = _Loop()
        self.loops.append(loop)
        body = self.block(node.body, Scope("while"))
        self.loops.pop()
        self.emit_loop(loop, While(test_block, test, body, loc=loc))

    def emit_loop(self, loop: _Loop, stmt: For | While) -> None:
        if loop.skip is not None:
            stmt.body.insert(0, Assign(loop.skip, Const(False), stmt.loc))
        exits = [Name(loop.stop)] if loop.stop else []
        if loop.has_return:
            exits.append(Name(self.returned_flag))
        if exits:
            stmt.exit_test = _any(exits)
        if loop.stop is not None:
            self.emit(Assign(loop.stop, Const(False), stmt.loc))
        self.emit(stmt)
        if loop.has_return and self.loops:
            self.loops[-1].has_return = True

    def protect(self, atom: Expr, assigned: set[str]) -> Expr:
        """Copy a loop bound the body reassigns: range() reads it once, the reverse sweep too."""
        if isinstance(atom, Name) and atom.id in assigned:
            temp = self.names.fresh("t")
            self.emit(Assign(temp, atom, self.loc))
            return Name(temp)
        return atom

    # --- expressions -----------------------------------------------------------------------
    def test(self, node: ast.expr) -> Expr:
        """The condition of an if/while: a comparison stays readable inline (``protect_tests``
        copies it when the branches reassign one of its operands)."""
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            return self.value(node)
        return self.atom(node)

    def atom(self, node: ast.expr) -> Expr:
        """Normalize an expression to a variable or a constant, emitting what it needs."""
        if isinstance(node, (Name, Const)):  # already normalized (the array of a method)
            return node
        value = None if self.needs_statements(node) else self.value(node)
        if isinstance(value, (Name, Const)):
            return value
        temp = self.names.fresh("t")
        if value is None:
            self.assign(temp, node)
        else:
            self.emit(Assign(temp, value, self.loc))
        return Name(temp)

    def assign(self, target: str, node: ast.expr) -> None:
        """``target = node``, lowering lazily evaluated forms to statements."""
        lazy = isinstance(node, (ast.IfExp, ast.BoolOp)) or (
            isinstance(node, ast.Compare) and len(node.ops) > 1
        )
        if lazy and target in {self.local(n) for n in names_in(node)}:
            # the lowering writes the target before reading the rest: go through a temporary
            temp = self.names.fresh("t")
            self.assign(temp, node)
            self.emit(Assign(target, Name(temp), self.loc))
            return
        if isinstance(node, ast.IfExp):
            known = constant_test(node.test, self.constants) if self.constants else None
            if known is not None:  # unrolled: only the branch taken
                self.assign(target, node.body if known else node.orelse)
                return
            test = self.atom(node.test)
            body = self.branch(lambda: self.assign(target, node.body))
            orelse = self.branch(lambda: self.assign(target, node.orelse))
            self.emit(If(test, body, orelse, self.loc))
        elif isinstance(node, ast.BoolOp):
            self.assign_boolop(target, node)
        elif isinstance(node, ast.Compare) and len(node.ops) > 1:
            self.assign_chain(target, node)
        elif isinstance(node, ast.Call) and _is_user_function(self.resolved(node.func)):
            self.call_user(node, (target,))
        else:
            self.emit(Assign(target, self.value(node), self.loc))

    def branch(self, build) -> list[ir.Stmt]:
        saved, self.out = self.out, []
        build()
        block, self.out = self.out, saved
        return block

    def assign_boolop(self, target: str, node: ast.BoolOp) -> None:
        # a and b: evaluate b only when a is true; a or b: only when a is false.
        self.assign(target, node.values[0])
        rest = node.values[1:]
        if not rest:
            return
        remaining = ast.BoolOp(op=node.op, values=rest) if len(rest) > 1 else rest[0]
        test = Name(target) if isinstance(node.op, ast.And) else Op("not", (Name(target),))
        body = self.branch(lambda: self.assign(target, remaining))
        self.emit(If(test, body, [], self.loc))

    def assign_chain(self, target: str, node: ast.Compare) -> None:
        # a < b < c: b is evaluated once, c only when a < b.
        left = self.atom(node.left)
        pairs = list(zip(node.ops, node.comparators, strict=True))

        def compare(k: int, left: Expr) -> None:
            op, right_node = pairs[k]
            right = self.atom(right_node)
            self.emit(Assign(target, Op(COMPAREOPS[type(op)], (left, right)), self.loc))
            if k + 1 < len(pairs):
                body = self.branch(lambda: compare(k + 1, right))
                self.emit(If(Name(target), body, [], self.loc))

        compare(0, left)

    def value(self, node: ast.expr) -> Expr:
        """An atom or one operation over atoms (no lazily evaluated parts)."""
        if isinstance(node, ast.Constant):
            return Const(node.value)
        if isinstance(node, ast.Name):
            resolved = self.resolved(node)
            if isinstance(resolved, Constant):
                return Const(resolved.value)
            if isinstance(resolved, FreeArray):
                return Name(self.input_name(resolved))
            if node.id in self.constants:
                return Const(self.constants[node.id])
            if self.local(node.id) in self.lists:
                return self.list_value(node)
            return Name(self.local(node.id))
        if isinstance(node, (ast.List, ast.Tuple, ast.ListComp, ast.GeneratorExp)):
            return self.list_value(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.BinOp):
            self.refuse_list_arithmetic(node)
            args = (self.atom(node.left), self.atom(node.right))
            return self.folded(Op(BINOPS[type(node.op)], args))
        if isinstance(node, ast.UnaryOp):
            operand = self.atom(node.operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            return self.folded(Op("neg" if isinstance(node.op, ast.USub) else "not", (operand,)))
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            args = (self.atom(node.left), self.atom(node.comparators[0]))
            return self.folded(Op(COMPAREOPS[type(node.ops[0])], args))
        if isinstance(node, ast.Call) and not self.needs_statements(node):
            return self.call_primitive(node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if self.needs_statements(node):
            return self.atom(node)
        raise self.loc.unsupported(f"the expression `{ast.unparse(node)}`")

    def folded(self, value: Expr) -> Expr:
        """In an unrolled recursive function, operations on constant ints computed."""
        return fold(value) if self.constants else value

    def atom_of(self, value: Expr) -> Expr:
        temp = self.names.fresh("t")
        self.emit(Assign(temp, value, self.loc))
        return Name(temp)

    def call_user(self, node: ast.Call, targets: tuple[str, ...]) -> None:
        func = self.resolved(node.func)
        structures = self.src.call_structures.get(id(node), ())
        if any(s is not None for s in structures):  # containers passed: read for them
            callee_name = self.program.normalize(func, self.loc, structures=structures)
            args = self.bind_arguments(node, self.program.functions[callee_name].source)
            self.finish_call(func, callee_name, args, targets)
            return
        source = self.program.source_of(func)
        arity = len(node.args) - source.positional if source.tree.args.vararg else None
        if arity is not None:  # *args: the function read again for this many
            callee_name = self.program.normalize(func, self.loc, arity=max(arity, 0))
            args = self.bind_arguments(node, self.program.functions[callee_name].source)
        elif id(func) in self.program.recursive:
            callee_name, args = self.call_recursive(node, func, None)
        else:
            try:
                callee_name = self.program.normalize(func, self.loc)
            except Recursion as recursion:
                # unrolled from its first call, outside the cycle of calls
                inside = any(f is func for f, _ in self.program.in_progress)
                if recursion.func is not func or inside:
                    raise
                # every function of the cycle is unrolled, passing the constants on
                self.program.recursive.update(id(f) for f in recursion.cycle)
                callee_name, args = self.call_recursive(node, func, recursion)
            else:
                args = self.bind_arguments(node, self.program.functions[callee_name].source)
        self.finish_call(func, callee_name, args, targets)

    def finish_call(self, func: object, callee_name: str, args: list, targets: tuple) -> None:
        callee = self.program.functions[callee_name]
        if callee.n_results != len(targets):
            raise self.loc.error(
                f"{callee.source.name} returns {callee.n_results} value(s), "
                f"but {len(targets)} are expected here"
            )
        args += [Name(self.input_name(free)) for _, free in callee.inputs]
        self.callees.append(func)
        self.emit(Call(targets, callee_name, tuple(args), self.loc, pure=True))

    def call_recursive(
        self, node: ast.Call, func: object, recursion: Recursion | None
    ) -> tuple[str, list[Expr]]:
        """A call of a recursive function, unrolled for the constant ints it gives."""
        source = self.program.source_of(func)
        args = self.bind_arguments(node, source)
        constants = constant_parameters(source.tree, source.params, args)
        if not constants:
            if recursion is not None:
                raise recursion.unrolled_error(source.name)
            raise unconstant_error(source.name, f"{source.name} -> {source.name}", self.loc)
        return self.program.normalize(func, self.loc, constants), args

    def bind_arguments(self, node: ast.Call, callee: SourceFunction) -> list[Expr]:
        """The call's arguments, in the callee's parameters' order; a nested function's
        last parameters take the enclosing variables it reads, as they are now."""
        captured = callee.captured
        params = callee.params[: len(callee.params) - len(captured)]
        bound: dict[str, Expr] = {}
        positional = callee.positional
        if len(node.args) > positional:
            raise self.loc.error(f"{callee.name} takes {positional} positional arguments")
        for param, arg in zip(params, node.args, strict=False):
            bound[param] = self.atom(arg)
        for keyword in node.keywords:
            if keyword.arg not in params or keyword.arg in bound:
                raise self.loc.error(f"bad keyword argument {keyword.arg!r} for {callee.name}")
            bound[keyword.arg] = self.atom(keyword.value)
        for param in params:
            if param not in bound:
                if param not in callee.defaults:
                    raise self.loc.error(f"missing argument {param!r} for {callee.name}")
                default = callee.defaults[param]
                if not isinstance(default, (int, float, bool)):
                    raise self.loc.unsupported(f"the default value of {param!r}")
                bound[param] = Const(default)
        return [bound[p] for p in params] + [Name(self.local(c)) for c in captured]

    def needs_statements(self, node: ast.expr) -> bool:
        """Lazily evaluated forms, and calls of user functions, lower to statements."""
        if isinstance(node, ast.Call):
            return _is_user_function(self.resolved(node.func))
        return isinstance(node, (ast.IfExp, ast.BoolOp)) or (
            isinstance(node, ast.Compare) and len(node.ops) > 1
        )

    # --- names ---------------------------------------------------------------------------------
    def input_name(self, free: FreeArray) -> str:
        """The parameter that takes a module's or closure's array (read at each call)."""
        found = self.inputs.get(free.key)
        if found is None:
            name = free.name
            used = {n for n, _ in self.inputs.values()}
            clash = name in used or name in self.src.locals or name in RESERVED
            if free.module is not None:  # data.y: `y` is no name of the function's, so the
                # allocator may have given it out (or give it out later)
                clash = clash or name in self.names.taken
            if clash:
                name = self.names.fresh(f"{free.name}_")
            self.names.taken.add(name)
            found = self.inputs[free.key] = (name, free)
        return found[0]

    def local(self, name: str) -> str:
        return self.rename.get(name, name)

    def resolved(self, node: ast.AST) -> object:
        if isinstance(node, ast.Name) and node.id in self.src.locals:
            return None
        return self.src.resolved.get(id(node))


def _is_user_function(value: object) -> bool:
    """A function srcdiff reads and differentiates in turn (a helper)."""
    return isinstance(value, (types.FunctionType, LocalFunction))


def _any(flags: list[Name]) -> Expr:
    expr: Expr = flags[0]
    for flag in flags[1:]:
        expr = Op("or", (expr, flag))
    return expr


def _escapes(stmts: list[ast.stmt]) -> set[str]:
    """Which jumps out of these statements may happen: break, continue, return."""
    found: set[str] = set()
    for node in stmts:
        if isinstance(node, ast.Break):
            found.add("break")
        elif isinstance(node, ast.Continue):
            found.add("continue")
        elif isinstance(node, ast.Return):
            found.add("return")
        elif isinstance(node, ast.If):
            found |= _escapes(node.body) | _escapes(node.orelse)
        elif isinstance(node, (ast.For, ast.While)):
            found |= _escapes(node.body) & {"return"}
    return found


def _has_return(stmts: list[ast.stmt]) -> bool:
    return any(isinstance(n, ast.Return) for s in stmts for n in ast.walk(s))


def _always_returns(stmts: list[ast.stmt]) -> bool:
    if any(isinstance(s, ast.Raise) for s in stmts):  # a path that raises returns nothing
        return True
    last = stmts[-1]
    if isinstance(last, ast.Return):
        return True
    if isinstance(last, ast.If):
        return bool(last.orelse) and _always_returns(last.body) and _always_returns(last.orelse)
    if isinstance(last, ast.While):  # `while True:` ends only by a break or a return
        return _is_true(last.test) and "break" not in _escapes(last.body)
    return False


def _ends_loop(body: list[ast.stmt]) -> bool:
    """Whether a loop's body may leave it: a break or return, or a raise."""
    raises = any(isinstance(n, ast.Raise) for s in body for n in ast.walk(s))
    return raises or bool(_escapes(body) & {"break", "return"})


def _is_true(test: ast.expr) -> bool:
    return isinstance(test, ast.Constant) and bool(test.value)


def _count_results(node: ast.Return) -> int:
    return len(node.value.elts) if isinstance(node.value, ast.Tuple) else 1
