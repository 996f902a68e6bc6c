"""Stage 1: read a function's source, reject what srcdiff cannot differentiate, and
resolve every free name (a primitive with a rule, another user function, a constant).

Nothing downstream sees Python objects: after this stage a call is either a primitive
name or another ``SourceFunction``.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import linecache
import math
import os
import site
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .custom import gradient_function, library_function
from .errors import SourceLocation, SrcdiffError
from .rules import (
    BINOPS,
    BOOLOPS,
    CALLS,
    COMPAREOPS,
    PRIMITIVES,
    UNARYOPS,
    attribute_for,
    binding_for,
    method_for,
    primitive_for,
)
from .rules.traits import Binding

MODULES = {id(math): "math", id(np): "numpy"}

UNSUPPORTED_STATEMENTS = {
    ast.Try: "try/except",
    ast.With: "a with statement",
    ast.AsyncWith: "async with",
    ast.AsyncFor: "async for",
    ast.Global: "a global statement",
    ast.Nonlocal: "a nonlocal statement (a closure that mutates state)",
    ast.ClassDef: "a class definition",
    ast.FunctionDef: "a nested function definition",
    ast.AsyncFunctionDef: "a nested function definition",
    ast.Import: "import",
    ast.ImportFrom: "import",
    ast.Delete: "del",
    ast.Match: "match",
}
if hasattr(ast, "TryStar"):
    UNSUPPORTED_STATEMENTS[ast.TryStar] = "try/except*"

UNSUPPORTED_EXPRESSIONS = {
    ast.Lambda: "lambda",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Yield: "yield (generators)",
    ast.YieldFrom: "yield from (generators)",
    ast.Await: "await",
    ast.Dict: "a dict literal",
    ast.Set: "a set literal",
    ast.List: "a list literal",
    ast.JoinedStr: "an f-string",
    ast.NamedExpr: "the walrus operator :=",
    ast.Starred: "star unpacking",
    ast.Slice: "a slice outside a subscript",
}

# what to write instead of a construct of the two tables above, where there is a way
ADVICE = {
    ast.Try: "test the input with if and raise instead",
    ast.With: "move the with block out of the function",
    ast.Global: "pass the value as an argument and return the new one",
    ast.Nonlocal: "return the new value instead",
    ast.ClassDef: "define the class at module level and pass arrays and numbers",
    ast.FunctionDef: "define the function at module level and call it",
    ast.Lambda: "define a function at module level and call it",
    ast.Import: "import at module level",
    ast.ImportFrom: "import at module level",
    ast.Delete: "leave the variable, or assign it a new value",
    ast.Match: "write if/elif",
    ast.ListComp: "write a for loop",
    ast.GeneratorExp: "write a for loop",
    ast.SetComp: "write a for loop",
    ast.DictComp: "write a for loop",
    ast.Yield: "return a value; write the loop with for",
    ast.YieldFrom: "return a value; write the loop with for",
    ast.Dict: "pass the values as arguments",
    ast.Set: "pass the values as arguments",
    ast.JoinedStr: 'f-strings go in print, assert and raise only: print(f"x={x}")',
    ast.NamedExpr: "assign on a line of its own",
    ast.Starred: "write the elements out",
    ast.Slice: "slices go inside a subscript: x[1:n]",
}

ELSE_ADVICE = "set a flag before the break and test it after the loop"

# what a for loop may iterate over through a builtin (normalize.iteration lowers each)
ITERATION_BUILTINS = (builtins.range, builtins.reversed, builtins.enumerate, builtins.zip)
ITERATION_HINT = (
    "loop over range(...), reversed(range(...)), an array (`for a in x`), zip(x, y) or enumerate(x)"
)

# the exceptions a function may raise itself (``raise ValueError("...")``): Numba raises them
# too, with a constant message
RAISABLE = (
    ValueError, RuntimeError, ZeroDivisionError, ArithmeticError, AssertionError,
    FloatingPointError, IndexError, TypeError, OverflowError, NotImplementedError,
)  # fmt: skip


@dataclass
class SourceFunction:
    """A user function, parsed, checked and with its free names resolved."""

    func: Callable
    name: str
    filename: str
    tree: ast.FunctionDef
    lines: list[str]
    params: list[str]
    defaults: dict[str, object]
    locals: set[str]
    resolved: dict[int, object] = field(default_factory=dict)  # id(ast node) -> resolution

    def loc(self, node: ast.AST) -> SourceLocation:
        line = getattr(node, "lineno", self.tree.lineno)
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        return SourceLocation(self.filename, line, getattr(node, "col_offset", 0), text)

    def is_value(self, node: ast.expr) -> bool:
        """Whether an expression computes a value in the function (``x``, ``x.T``,
        ``f(x)``), as opposed to naming a module or a global (``np.linalg``)."""
        if isinstance(node, ast.Name):
            return node.id in self.locals
        if isinstance(node, ast.Attribute):
            return self.is_value(node.value)
        return isinstance(node, (ast.Call, ast.Subscript, ast.BinOp, ast.UnaryOp))

    @property
    def short_filename(self) -> str:
        return os.path.basename(self.filename)


@dataclass(frozen=True)
class Primitive:
    name: str
    # called through Python's math module, which raises where NumPy returns nan or inf
    from_math: bool = False


@dataclass(frozen=True)
class Constant:
    value: float | int | bool


@dataclass(frozen=True)
class Module:
    name: str


def read_function(func: Callable) -> SourceFunction:
    """Parse ``func`` and check it; raises ``SrcdiffError`` for anything unsupported."""
    func = inspect.unwrap(func)
    if not isinstance(func, types.FunctionType):
        raise SrcdiffError(f"srcdiff differentiates Python functions, not {type(func).__name__}")
    filename = func.__code__.co_filename
    try:
        lines, first_line = inspect.getsourcelines(func)
    except (OSError, TypeError) as err:
        raise SrcdiffError(
            f"{filename}:{func.__code__.co_firstlineno}: cannot read the source of "
            f"{func.__name__!r} (srcdiff needs functions defined in a file)"
        ) from err
    try:
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except SyntaxError as err:  # a lambda's source is a fragment of its line
        raise SourceLocation(filename, first_line).unsupported(
            "this function's source", "define the function with def at the start of a line"
        ) from err
    ast.increment_lineno(tree, first_line - 1)
    fdef = tree.body[0]
    if isinstance(fdef, ast.AsyncFunctionDef):
        raise SourceLocation(filename, fdef.lineno).unsupported("an async function")
    if not isinstance(fdef, ast.FunctionDef):
        raise SourceLocation(filename, first_line).unsupported(
            "a lambda", "define the function with def"
        )
    if not compiles_to(func, filename):
        raise SrcdiffError(
            f"{filename}:{first_line}: the source of {func.__name__!r} in the file is not the "
            "code that runs (was the file changed after it was imported?); reload the module "
            "(importlib.reload) or restart Python"
        )
    source = SourceFunction(
        func=func,
        name=func.__name__,
        filename=filename,
        tree=fdef,
        lines=linecache.getlines(filename),
        params=[a.arg for a in fdef.args.args],
        defaults=_defaults(func, fdef),
        locals=set(),
    )
    _check_signature(source)
    source.locals = _assigned_names(fdef) | set(source.params)
    Checker(source).check()
    return source


def compiles_to(func: types.FunctionType, filename: str) -> bool:
    """Whether the file's text, compiled as Python compiles a module, holds ``func``'s own
    code: the file may have changed since the module was imported (or ``exec`` ran other
    code under its name), and then srcdiff would differentiate a function other than the
    one that runs. The whole file, because how a function compiles depends on its module
    (names bound by imports, enclosing classes and functions, ``__future__``)."""
    code = _compiled_file(filename, "".join(linecache.getlines(filename)), _rewriter(func))
    if code is None:
        return False
    found = _code_named(code, func.__code__.co_name, func.__code__.co_firstlineno)
    return found is not None and _same_code(found, func.__code__)


@functools.lru_cache(maxsize=64)
def _compiled_file(filename: str, text: str, rewriter: object = None) -> types.CodeType | None:
    try:
        tree = ast.parse(text, filename)
        if rewriter is not None:  # pytest rewrites the asserts of test modules as it imports them
            from _pytest.assertion.rewrite import rewrite_asserts

            rewrite_asserts(tree, text.encode(), filename, rewriter.config)
        return compile(tree, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None


def _rewriter(func: types.FunctionType) -> object:
    """pytest's import hook, if it imported ``func``'s module (and so rewrote its code)."""
    loader = getattr(sys.modules.get(func.__module__), "__loader__", None)
    return loader if type(loader).__name__ == "AssertionRewritingHook" else None


def _code_named(code: types.CodeType, name: str, line: int) -> types.CodeType | None:
    """The code object of the function ``name`` defined at ``line``, nested anywhere."""
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_name == name and const.co_firstlineno == line:
                return const
            found = _code_named(const, name, line)
            if found is not None:
                return found
    return None


def _same_code(a: types.CodeType, b: types.CodeType) -> bool:
    """The same instructions, names and constants (line numbers aside)."""
    fields = ("co_code", "co_names", "co_varnames", "co_freevars", "co_cellvars", "co_argcount")
    if any(getattr(a, f) != getattr(b, f) for f in fields) or len(a.co_consts) != len(b.co_consts):
        return False
    for x, y in zip(a.co_consts, b.co_consts, strict=True):
        if isinstance(x, types.CodeType) or isinstance(y, types.CodeType):
            if not (isinstance(x, types.CodeType) and isinstance(y, types.CodeType)):
                return False
            if not _same_code(x, y):
                return False
        elif type(x) is not type(y) or repr(x) != repr(y):
            return False
    return True


def _defaults(func: Callable, fdef: ast.FunctionDef) -> dict[str, object]:
    names = [a.arg for a in fdef.args.args]
    values = func.__defaults__ or ()
    return dict(zip(names[len(names) - len(values) :], values, strict=True))


def _check_signature(source: SourceFunction) -> None:
    args = source.tree.args
    loc = source.loc(source.tree)
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        raise loc.unsupported(
            f"the parameter `{_special_parameter(args)}`",
            "parameters are plain names, with or without defaults: def f(x, y, n=3)",
        )


def _special_parameter(args: ast.arguments) -> str:
    """The first parameter that is not a plain positional-or-keyword one, as written."""
    if args.posonlyargs:
        return f"{args.posonlyargs[-1].arg}, /"
    if args.vararg:
        return f"*{args.vararg.arg}"
    if args.kwonlyargs:
        return f"*, {args.kwonlyargs[0].arg}"
    return f"**{args.kwarg.arg}"


def _assigned_names(fdef: ast.FunctionDef) -> set[str]:
    names = set()
    for node in ast.walk(fdef):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


class Checker(ast.NodeVisitor):
    """Rejects unsupported syntax and resolves every free name, recording the result."""

    def __init__(self, source: SourceFunction):
        self.source = source
        self.scope = _scope_of(source.func)

    def check(self) -> None:
        body = self.source.tree.body
        if body and is_docstring(body[0]):
            body = body[1:]
        for stmt in body:
            self.visit(stmt)

    def unsupported(self, node: ast.AST, construct: str, hint: str = ""):
        return self.source.loc(node).unsupported(construct, hint)

    # --- statements ---------------------------------------------------------------
    def generic_visit(self, node: ast.AST) -> None:
        kind = type(node)
        if kind in UNSUPPORTED_STATEMENTS:
            raise self.unsupported(node, UNSUPPORTED_STATEMENTS[kind], ADVICE.get(kind, ""))
        if kind in UNSUPPORTED_EXPRESSIONS:
            raise self.unsupported(node, UNSUPPORTED_EXPRESSIONS[kind], ADVICE.get(kind, ""))
        if isinstance(node, ast.operator) and kind not in BINOPS:
            raise self.unsupported(node, f"the operator {kind.__name__}")
        super().generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if self.is_print(node.value):
            self.visit_print(node.value)
            return
        what = ast.unparse(node.value)
        raise self.unsupported(node, f"an expression statement `{what}`", "its value is discarded")

    def visit_Assert(self, node: ast.Assert) -> None:
        self.visit(node.test)
        self.message_of(node, node.msg, "an assert")

    def visit_Raise(self, node: ast.Raise) -> None:
        """``raise E`` or ``raise E("message")``, ``E`` a builtin exception (``RAISABLE``)."""
        exc = node.exc
        call = exc if isinstance(exc, ast.Call) else None
        cls = call.func if call is not None else exc
        if cls is None:
            raise self.unsupported(node, "a bare raise (re-raising)")
        if node.cause is not None:
            raise self.unsupported(node, "raise ... from ...")
        named = isinstance(cls, ast.Name) and cls.id not in self.source.locals
        value = self.resolve(cls) if named else None
        if value not in RAISABLE:
            names = ", ".join(e.__name__ for e in RAISABLE)
            raise self.unsupported(
                node, f"raising `{ast.unparse(cls)}`", f"raise one of Python's {names}"
            )
        self.record(cls, value)
        if call is not None:
            if call.keywords or len(call.args) > 1:
                raise self.unsupported(node, "an exception with more than one argument")
            self.message_of(node, call.args[0] if call.args else None, "a raise")

    def message_of(self, node: ast.stmt, message: ast.expr | None, what: str) -> None:
        constant = isinstance(message, ast.Constant) and isinstance(message.value, str)
        if isinstance(message, ast.JoinedStr):  # formatted where the check fails
            self.visit_fstring(node, message)
            return
        if message is not None and not constant:
            raise self.unsupported(
                node,
                f"{what} whose message is not a constant string or an f-string",
                'write an f-string: f"bad {n}"',
            )

    def is_print(self, node: ast.expr) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id not in self.source.locals
            and self.lookup(node.func) is builtins.print
        )

    def visit_print(self, node: ast.Call) -> None:
        """``print(a, "text", b)``: numbers, arrays and constant strings."""
        if node.keywords:
            raise self.unsupported(node, "print with keyword arguments (sep=, end=, file=)")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.unsupported(node, "*args or **kwargs in a call")
            if isinstance(arg, ast.JoinedStr):
                self.visit_fstring(node, arg)
            elif not is_text(arg):
                self.visit(arg)
        self.record(node.func, builtins.print)

    def visit_fstring(self, node: ast.Call, fstring: ast.JoinedStr) -> None:
        """``f"loss {loss:.3f}"`` in a print: values, with constant format specs."""
        for part in fstring.values:
            if isinstance(part, ast.FormattedValue):
                spec = part.format_spec
                if spec is not None and not all(is_text(v) for v in spec.values):
                    raise self.unsupported(
                        node, "an f-string with a computed format spec", "write the spec out"
                    )
                self.visit(part.value)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self.check_target(target)
        unpacked = isinstance(node.value, ast.Tuple) and isinstance(node.targets[0], ast.Tuple)
        for value in node.value.elts if unpacked else [node.value]:
            self.visit(value)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if not isinstance(node.target, ast.Name):
            self.check_target(node.target)
        if type(node.op) not in BINOPS:
            raise self.unsupported(node, f"the operator {type(node.op).__name__}")
        self.visit(node.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is None:
            return
        self.check_target(node.target)
        self.visit(node.value)

    def check_target(self, target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            return
        if isinstance(target, ast.Tuple | ast.List) and all(
            isinstance(e, ast.Name) for e in target.elts
        ):
            return
        if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            self.visit_Subscript(target)
            return
        raise self.unsupported(target, f"assignment to `{ast.unparse(target)}`")

    def visit_For(self, node: ast.For) -> None:
        if node.orelse:
            raise self.unsupported(node, "for ... else", ELSE_ADVICE)
        self.check_iteration(node.target, node.iter, node)
        for stmt in node.body:
            self.visit(stmt)

    def check_iteration(self, target: ast.expr, iterable: ast.expr, node: ast.For) -> None:
        """The forms of ``normalize.iteration``: a range, reversed(range), an array's first
        axis, zip of arrays and enumerate of either; every name a call there is recorded."""
        call = iterable if isinstance(iterable, ast.Call) else None
        builtin = self.iteration_builtin(call)
        if call is not None and builtin is not None and call.keywords:
            raise self.unsupported(node, f"keyword arguments to {builtin.__name__}() in a for loop")
        if builtin is builtins.range and 1 <= len(call.args) <= 3:
            self.check_loop_name(target, node, "range(...)")
            self.visit_each(call.args)
        elif builtin is builtins.reversed and len(call.args) == 1:
            inner = call.args[0]
            if self.iteration_builtin(inner) is not builtins.range or not 1 <= len(inner.args) <= 3:
                raise self.unsupported(
                    node, f"iterating over `{ast.unparse(iterable)}`", "reversed(range(...))"
                )
            self.check_loop_name(target, node, "reversed(range(...))")
            self.visit_each(inner.args)
        elif builtin is builtins.enumerate and 1 <= len(call.args) <= 2:
            if not (isinstance(target, ast.Tuple | ast.List) and len(target.elts) == 2):
                raise self.unsupported(
                    node, f"the loop target `{ast.unparse(target)}` of enumerate()",
                    "write `for i, a in enumerate(x)`",
                )  # fmt: skip
            self.check_loop_name(target.elts[0], node, "enumerate(...)")
            self.check_array_iteration(target.elts[1], call.args[0], node)
            self.visit_each(call.args[1:])
        elif builtin is not None and builtin is not builtins.zip:
            raise self.unsupported(
                node, f"iterating over `{ast.unparse(iterable)}`", ITERATION_HINT
            )
        else:
            self.check_array_iteration(target, iterable, node)

    def check_array_iteration(self, target: ast.expr, iterable: ast.expr, node: ast.For) -> None:
        if self.iteration_builtin(iterable) is builtins.zip:
            arrays = iterable.args
            if not arrays:
                raise self.unsupported(node, "zip() of nothing")
            names = target.elts if isinstance(target, ast.Tuple | ast.List) else []
            if len(names) != len(arrays) or not all(isinstance(n, ast.Name) for n in names):
                raise self.unsupported(
                    node, f"the loop target `{ast.unparse(target)}` of zip()",
                    f"write one name per array: `for {_example_names(len(arrays))} "
                    f"in {ast.unparse(iterable)}`",
                )  # fmt: skip
            self.visit_each(arrays)
            return
        if isinstance(iterable, ast.Call) and self.iteration_builtin(iterable) is not None:
            raise self.unsupported(
                node, f"iterating over `{ast.unparse(iterable)}` here", ITERATION_HINT
            )
        self.check_loop_name(target, node, "an array")
        self.visit(iterable)

    def check_loop_name(self, target: ast.expr, node: ast.For, what: str) -> None:
        if not isinstance(target, ast.Name):
            raise self.unsupported(
                node, f"the loop target `{ast.unparse(target)}` over {what}",
                "loop with one name, or zip(...) the arrays and name each one",
            )  # fmt: skip

    def iteration_builtin(self, node: ast.expr | None) -> object:
        """range, reversed, enumerate or zip when ``node`` calls one (recorded), else None."""
        if not isinstance(node, ast.Call) or (
            isinstance(node.func, ast.Name) and node.func.id in self.source.locals
        ):
            return None
        if not isinstance(node.func, ast.Name):
            return None
        callee = self.resolve(node.func)
        if callee in ITERATION_BUILTINS:
            self.record(node.func, callee)
            return callee
        return None

    def visit_each(self, nodes: list[ast.expr]) -> None:
        for node in nodes:
            self.visit(node)

    def visit_While(self, node: ast.While) -> None:
        if node.orelse:
            raise self.unsupported(node, "while ... else", ELSE_ADVICE)
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is None:
            raise self.unsupported(node, "a return without a value", "return the result: return y")
        values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
        for value in values:
            self.visit(value)

    # --- expressions --------------------------------------------------------------
    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, (int, float, bool)) or isinstance(node.value, complex):
            raise self.unsupported(
                node, f"the constant {node.value!r}", "numbers, True, False and None only"
            )

    def visit_Tuple(self, node: ast.Tuple) -> None:
        raise self.unsupported(
            node, "a tuple value", "tuples can be returned, unpacked, or given as a shape"
        )

    def visit_sequence_argument(self, node: ast.expr) -> None:
        """A tuple or list given to a NumPy function: a shape, or arrays to join."""
        if isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                self.visit(element)
        else:
            self.visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if type(node.op) not in UNARYOPS:
            raise self.unsupported(node, f"the operator {type(node.op).__name__}")
        self.visit(node.operand)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        assert type(node.op) in BOOLOPS
        for value in node.values:
            self.visit(value)

    def visit_Compare(self, node: ast.Compare) -> None:
        for op in node.ops:
            if type(op) not in COMPAREOPS:
                raise self.unsupported(
                    node, f"the comparison {type(op).__name__}", "compare with ==, !=, <, <=, >, >="
                )
        self.visit(node.left)
        for comparator in node.comparators:
            self.visit(comparator)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.source.locals:
            return
        value = self.resolve(node)
        if not isinstance(value, Constant):
            raise self.unsupported(
                node, f"the global `{node.id}` ({_describe(value)})", "pass it as an argument"
            )
        self.record(node, value)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self.source.is_value(node.value):
            if attribute_for(node.attr) is not None:
                self.visit(node.value)
                return
            raise self.unsupported(node, f"the attribute `{ast.unparse(node)}`")
        value = self.resolve(node)
        if not isinstance(value, Constant):
            raise self.unsupported(node, f"`{ast.unparse(node)}` used as a value")
        self.record(node, value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)
        indices = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for index in indices:
            if isinstance(index, ast.Slice):
                for part in (index.lower, index.upper, index.step):
                    if part is not None:
                        self.visit(part)
            elif not (isinstance(index, ast.Constant) and index.value is None):
                self.visit(index)

    def visit_Call(self, node: ast.Call) -> None:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords
        ):
            raise self.unsupported(node, "*args or **kwargs in a call")
        if isinstance(node.func, ast.Name) and node.func.id in self.source.locals:
            raise self.unsupported(node, f"calling the local variable `{node.func.id}`")
        base = node.func.value if isinstance(node.func, ast.Attribute) else None
        if base is not None and self.source.is_value(base):
            method = method_for(node.func.attr)
            if method is None:
                raise self.unsupported(
                    node, f"the method call `{ast.unparse(node.func)}()`",
                    "call the NumPy function instead, np.f(x)",
                )  # fmt: skip
            self.check_keywords(node, method, is_method=True)
            self.visit(base)
            self.visit_arguments(node, method)
            return
        callee = self.resolve(node.func)
        if hasattr(callee, "__srcdiff__"):  # a gradient, differentiated by a Hessian's products
            try:
                name = gradient_function(callee, len(node.args), ast.unparse(node.func))
            except SrcdiffError as err:
                raise self.source.loc(node).error(str(err)) from None
            callee = Primitive(name)
        elif not isinstance(callee, Primitive) and is_library(callee):
            # a builtin or a function of an installed package, without a rule: called as it is
            callee = Primitive(library_function(callee, len(node.args), ast.unparse(node.func)))
        prim = callee.name if isinstance(callee, Primitive) else None
        if prim is not None:
            self.check_keywords(node, prim)
        self.visit_arguments(node, prim)
        if callee is builtins.range:
            raise self.unsupported(
                node, "range outside a for statement", "loop over it: for i in range(n)"
            )
        if prim is None and has_effects(callee):
            raise self.source.loc(node).error(
                f"`{ast.unparse(node.func)}` has effects (a random draw, a clock, the "
                "operating system): srcdiff does not call it; pass its value as an argument"
            )
        if prim is None and not isinstance(callee, types.FunctionType):
            name = ast.unparse(node.func)
            raise self.source.loc(node).error(
                f"no derivative rule for `{name}` ({_describe(callee)}); srcdiff differentiates "
                "math/numpy primitives with rules and Python functions defined in files"
            )
        self.record(node.func, callee)

    def check_keywords(self, node: ast.Call, prim: str, is_method: bool = False) -> None:
        binding = _binding(prim, is_method)
        accepted = binding.keywords if binding is not None else set()
        for keyword in node.keywords:
            if keyword.arg not in accepted:
                raise self.unsupported(
                    node, f"the keyword argument {keyword.arg}= to `{ast.unparse(node.func)}`"
                )

    def visit_arguments(self, node: ast.Call, prim: str | None) -> None:
        # unsupported syntax inside the call is the first thing to report
        args = [*node.args, *(k.value for k in node.keywords)]
        binding = _binding(prim, is_method=False)
        for text in binding.text if binding is not None else ():  # einsum's subscripts
            if (
                not args
                or not isinstance(args[0], ast.Constant)
                or not isinstance(args[0].value, str)
            ):
                raise self.unsupported(node, f"np.{prim} without constant {text}")
            args = args[1:]
        for arg in args:
            if prim is not None and isinstance(arg, (ast.Tuple, ast.List)):
                opaque = prim in PRIMITIVES and PRIMITIVES[prim].opaque
                if opaque:  # a library function: numbers only
                    raise self.source.loc(node).error(opaque)
                self.visit_sequence_argument(arg)
            elif isinstance(arg, ast.Constant) and arg.value is None and prim is not None:
                continue  # axis=None
            else:
                self.visit(arg)

    # --- name resolution ------------------------------------------------------------
    def record(self, node: ast.AST, value: object) -> None:
        self.source.resolved[id(node)] = value

    def resolve(self, node: ast.expr) -> object:
        """What a free name or attribute chain refers to, as srcdiff understands it."""
        value = self.lookup(node)
        if isinstance(value, types.ModuleType) and id(value) in MODULES:
            return Module(MODULES[id(value)])
        prim = primitive_for(value)
        if prim is not None:
            return Primitive(prim, getattr(value, "__module__", None) == "math")
        if isinstance(value, (bool, int, float, np.floating, np.integer)):
            return Constant(value.item() if isinstance(value, np.generic) else value)
        return value

    def lookup(self, node: ast.expr) -> object:
        if isinstance(node, ast.Name):
            if node.id in self.scope:
                return self.scope[node.id]
            raise self.source.loc(node).error(f"name {node.id!r} is not defined")
        if isinstance(node, ast.Attribute):
            base = self.lookup(node.value)
            try:
                return getattr(base, node.attr)
            except AttributeError as err:
                raise self.source.loc(node).error(f"`{ast.unparse(node)}` does not exist") from err
        raise self.unsupported(node, f"calling `{ast.unparse(node)}`")


# modules of functions with effects (random draws, clocks): srcdiff does not call them
def _binding(prim: str | None, is_method: bool) -> Binding | None:
    """How a call of ``prim`` binds (None for a primitive called with its parameters)."""
    if prim is None or (prim not in PRIMITIVES and prim not in CALLS):
        return None
    return binding_for(prim, method=is_method)


IMPURE = ("random", "numpy.random", "time", "os", "posix", "nt", "secrets", "uuid", "datetime")


def is_library(value: object) -> bool:
    """A callable srcdiff does not read and may call as it is: a builtin, a ufunc, a Numba
    function, or a Python function whose file lies in Python's library or an installed
    package's (NumPy, SciPy). Not a class (calling one makes an object), nor a function with
    effects (a random draw would not be the plain function's)."""
    if not callable(value) or isinstance(value, type) or has_effects(value):
        return False
    if isinstance(value, types.MethodType):  # a method of an object: its function decides
        return is_library(value.__func__)
    if not isinstance(value, types.FunctionType):
        return True
    filename = os.path.realpath(value.__code__.co_filename)
    return any(filename.startswith(directory + os.sep) for directory in _library_directories())


def has_effects(value: object) -> bool:
    """A function of a module with effects (random draws, clocks, the operating system)."""
    owner = getattr(value, "__self__", None)
    modules = (getattr(value, "__module__", None) or "", type(owner).__module__)
    return any(m == i or m.startswith(i + ".") for m in modules for i in IMPURE)


@functools.cache
def _library_directories() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    found |= set(getattr(site, "getsitepackages", list)())
    found.add(site.getusersitepackages())
    return tuple(sorted(os.path.realpath(p) for p in found))


def _scope_of(func: types.FunctionType) -> dict[str, object]:
    """The names a function can see: builtins, then its module's globals, then its closure."""
    scope = dict(vars(builtins))
    scope.update(func.__globals__)
    if func.__closure__:
        for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
            try:
                scope[name] = cell.cell_contents
            except ValueError:
                continue
    return scope


def _describe(value: object) -> str:
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    name = getattr(value, "__qualname__", None) or type(value).__name__
    module = getattr(value, "__module__", None)
    return f"{module}.{name}" if module else name


def _example_names(count: int) -> str:
    return ", ".join(f"a{k}" for k in range(count))


def format_template(fstring: ast.JoinedStr) -> tuple[str, list[ast.expr]]:
    """An f-string as ``str.format``'s template and the values it formats, in order:
    ``f"loss {loss:.3f}"`` is ``"loss {:.3f}"`` and ``[loss]``."""
    template, values = [], []
    for part in fstring.values:
        if isinstance(part, ast.FormattedValue):
            conversion = "" if part.conversion == -1 else f"!{chr(part.conversion)}"
            spec = "" if part.format_spec is None else ":" + format_template(part.format_spec)[0]
            template.append(f"{{{conversion}{spec}}}")
            values.append(part.value)
        else:
            template.append(part.value.replace("{", "{{").replace("}", "}}"))
    return "".join(template), values


def is_text(node: ast.expr) -> bool:
    """A constant string (what ``print`` may show besides values)."""
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )
