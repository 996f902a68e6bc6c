"""Stage 7a: print IR functions as a readable, self-contained Python module.

Each statement that starts a new line of the user's code is preceded by a comment
``# file.py:LINE  <the user's code>``, so the adjoint reads against the original.
"""

from __future__ import annotations

import ast
import copy
import functools
import math
import re
from dataclasses import dataclass

from . import custom, ir, runtime
from .ir import Const, Expr, Name, Op
from .kind import FLOAT, Kind
from .rules import PRIMITIVES, augmented_operator, ufunc_of

RUNTIME_NAMES = tuple(sorted(runtime.PYTHON_VERSIONS))  # what generated code imports from it
TAPE_DTYPES = {"f": "np.float64", "i": "np.int64", "b": "np.bool_"}


@functools.lru_cache(maxsize=4096)
def expr_ast(expr: Expr) -> ast.expr:
    """The Python syntax tree of an IR expression (shared: never mutate the result)."""
    if isinstance(expr, Name):
        return ast.Name(expr.id, ast.Load())
    if isinstance(expr, Const):
        return _constant(expr.value)
    prim = PRIMITIVES[expr.prim]
    if prim.subscript:  # start:stop:step, inside a subscript
        bounds = (None if a == Const(None) else expr_ast(a) for a in expr.args)
        return ast.Slice(*bounds)
    bindings = {p: expr_ast(a) for p, a in zip(prim.params, expr.args, strict=True)}
    return _Substitute(bindings).visit(copy.deepcopy(prim.form))


def _constant(value: float | int | bool) -> ast.expr:
    if isinstance(value, float) and not math.isfinite(value):
        name = "nan" if math.isnan(value) else "inf"
        node = ast.Attribute(ast.Name("math", ast.Load()), name, ast.Load())
        return ast.UnaryOp(ast.USub(), node) if value < 0 else node
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return ast.UnaryOp(ast.USub(), ast.Constant(-value))
    return ast.Constant(value)


class _Substitute(ast.NodeTransformer):
    def __init__(self, bindings: dict[str, ast.expr]):
        self.bindings = bindings

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.bindings.get(node.id, node)


def expr_source(expr: Expr) -> str:
    return ast.unparse(expr_ast(expr))


class Printer:
    """Prints statements with indentation and user-line comments."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.last_line: int | None = None
        self.kinds: dict[str, Kind] = {}
        self.at: str | None = None  # the user's file:line of the statement being printed
        self.locations: dict[int, str] = {}  # index in lines -> the user's file:line

    def function(self, fn: ir.Function) -> None:
        self.kinds = fn.kinds
        signature = [
            f"{p}={expr_source(fn.defaults[p])}" if p in fn.defaults else p for p in fn.params
        ]
        self.lines.append(f"def {fn.name}({', '.join(signature)}):")
        self.last_line = None
        self.block(fn.body, 1)
        self.lines.append("")
        self.lines.append("")

    def block(self, block: list[ir.Stmt], depth: int) -> None:
        if not any(not isinstance(s, ir.Comment) for s in block):
            self.line("pass", depth)
        for k, stmt in enumerate(block):
            following = block[k + 1] if k + 1 < len(block) else None
            if isinstance(stmt, ir.Comment) and (
                following is None or isinstance(following, ir.Comment)
            ):
                continue  # a section heading with nothing under it
            self.statement(stmt, depth)

    def line(self, text: str, depth: int) -> None:
        if self.at is not None:
            self.locations[len(self.lines)] = self.at
        self.lines.append("    " * depth + text)

    def locate(self, stmt: ir.Stmt, depth: int) -> None:
        loc = stmt.loc
        if loc is None or loc.line == self.last_line:
            return
        self.last_line = loc.line
        filename = loc.filename.replace("\\", "/").rsplit("/", 1)[-1]
        self.line(f"# {filename}:{loc.line}  {loc.text}".rstrip(), depth)

    def statement(self, stmt: ir.Stmt, depth: int) -> None:
        if isinstance(stmt, ir.Comment):
            self.line(f"# {stmt.text}", depth)
            self.last_line = None
            return
        self.locate(stmt, depth)
        self.at = None if stmt.loc is None else stmt.loc.short
        if isinstance(stmt, ir.Assign) and stmt.out is not None:
            self.line(into_source(stmt), depth)
        elif isinstance(stmt, ir.Assign):
            in_place = not self.kinds.get(stmt.target, FLOAT).is_array
            self.line(assign_source(stmt, in_place), depth)
        elif isinstance(stmt, ir.Call):
            args = ", ".join(expr_source(a) for a in stmt.args)
            targets = f"{', '.join(stmt.targets)} = " if stmt.targets else ""
            self.line(f"{targets}{stmt.func}({args})", depth)
        elif isinstance(stmt, ir.Push) and stmt.tape == "a":
            self.line(f"_tape_a.append({expr_source(stmt.value)})", depth)
        elif isinstance(stmt, ir.Pop) and stmt.tape == "a":
            self.line(f"{stmt.target} = _tape_a.pop()", depth)
        elif isinstance(stmt, ir.Push):
            tape, top = f"_tape_{stmt.tape}", f"_top_{stmt.tape}"
            self.line(f"{tape}[{top}] = {expr_source(stmt.value)}; {top} += 1", depth)
        elif isinstance(stmt, ir.Pop):
            tape, top = f"_tape_{stmt.tape}", f"_top_{stmt.tape}"
            self.line(f"{top} -= 1; {stmt.target} = {tape}[{top}]", depth)
        elif isinstance(stmt, ir.IndexAdd) and stmt.unbuffered:  # repeated indices add up
            # the indices as a tuple value: slices spelled slice(start, stop, step)
            indices = ", ".join(_index_value(i) for i in stmt.indices)
            indices = f"({indices},)" if len(stmt.indices) == 1 else f"({indices})"
            value = expr_source(stmt.value)
            self.line(f"np.add.at({stmt.target}, {indices}, {value})", depth)
        elif isinstance(stmt, ir.IndexAdd):
            target = f"{stmt.target}[{subscript_source(stmt.indices)}]"
            self.line(f"{target} += {expr_source(stmt.value)}", depth)
        elif isinstance(stmt, ir.SetItem):
            target = f"{stmt.target}[{subscript_source(stmt.indices)}]"
            self.line(f"{target} = {expr_source(stmt.value)}", depth)
        elif isinstance(stmt, ir.Check):
            self.check(stmt, depth)
        elif isinstance(stmt, ir.Return):
            self.line(f"return {return_source(stmt)}".rstrip(), depth)
        elif isinstance(stmt, ir.If):
            self.if_statement(stmt, depth, "if")
        elif isinstance(stmt, ir.For):
            self.line(f"for {stmt.var} in {range_source(stmt)}:", depth)
            self.loop_body(stmt.body, stmt.exit_test, depth + 1)
        elif isinstance(stmt, ir.While):
            self.while_statement(stmt, depth)
        else:
            raise ir.unknown_statement(stmt)

    def check(self, stmt: ir.Check, depth: int) -> None:
        test = stmt.test
        raised = f"raise {stmt.error}({stmt.message!r})"
        if stmt.verbatim:  # the user's own: raised as the plain function raises it
            raised = f"raise {stmt.error}({repr(stmt.message) if stmt.message else ''})"
            if stmt.detail is not None:  # a computed message
                raised = f"raise {stmt.error}({expr_source(stmt.detail)})"
            self.at = None  # its message gets no file:line in front (see jit's ``located``)
        if stmt.verbatim and test == Const(False):  # an unconditional ``raise``
            self.line(raised, depth)
            return
        # (checks are written as the negation of the failure they look for: core logic)
        failing = test.args[0] if isinstance(test, Op) and test.prim == "not" else None
        if failing is not None:
            self.line(f"if {expr_source(failing)}:", depth)
        else:
            self.line(f"if not {expr_source(test)}:", depth)
        self.line(raised, depth + 1)

    def if_statement(self, stmt: ir.If, depth: int, keyword: str) -> None:
        self.line(f"{keyword} {expr_source(stmt.test)}:", depth)
        self.block(stmt.body, depth + 1)
        orelse = stmt.orelse
        if len(orelse) == 1 and isinstance(orelse[0], ir.If):
            self.if_statement(orelse[0], depth, "elif")
        elif orelse:
            self.line("else:", depth)
            self.block(orelse, depth + 1)

    def while_statement(self, stmt: ir.While, depth: int) -> None:
        if not stmt.test_block:
            self.line(f"while {expr_source(stmt.test)}:", depth)
            self.loop_body(stmt.body, stmt.exit_test, depth + 1)
            return
        self.line("while True:", depth)
        self.block(stmt.test_block, depth + 1)
        self.line(f"if not ({expr_source(stmt.test)}):", depth + 1)
        self.line("break", depth + 2)
        self.loop_body(stmt.body, stmt.exit_test, depth + 1)

    def loop_body(self, body: list[ir.Stmt], exit_test: Expr | None, depth: int) -> None:
        self.block(body, depth)
        if exit_test is not None:
            self.line(f"if {expr_source(exit_test)}:", depth)
            self.line("break", depth + 1)


def _index_value(index: Expr) -> str:
    if isinstance(index, Op) and PRIMITIVES[index.prim].subscript:
        return f"slice({', '.join(expr_source(a) for a in index.args)})"
    return expr_source(index)


def subscript_source(indices: tuple[Expr, ...]) -> str:
    parts = [expr_ast(i) for i in indices]
    subscript = ast.Subscript(ast.Name("_"), parts[0] if len(parts) == 1 else ast.Tuple(parts))
    return ast.unparse(subscript)[2:-1]


def assign_source(stmt: ir.Assign, in_place: bool = True) -> str:
    """``g += e`` for numbers; arrays get a new array (``g = g + e``), as ``g`` may share
    its memory with another adjoint."""
    value = stmt.value
    operator = augmented_operator(value.prim) if isinstance(value, Op) else None
    if in_place and operator is not None and value.args[0] == Name(stmt.target):
        target = ast.Name(stmt.target, ast.Store())
        rhs = expr_ast(value.args[1])
        return ast.unparse(ast.AugAssign(target, operator(), rhs))
    return f"{stmt.target} = {expr_source(value)}"


UFUNC_AUGMENTED = {"add": ast.Add, "subtract": ast.Sub, "multiply": ast.Mult, "divide": ast.Div}


def into_source(stmt: ir.Assign) -> str:
    """An elementwise operation writing into the memory of ``stmt.out``: ``h *= g`` when
    that is the target and an operand, else ``t = np.tanh(a, out=a)``."""
    ufunc, order = ufunc_of(stmt.value.prim)
    args = [stmt.value.args[k] for k in order]
    out = Name(stmt.out)
    if stmt.target == stmt.out and ufunc in UFUNC_AUGMENTED and out in args:
        commutes = ufunc in ("add", "multiply")
        other = args[1] if args[0] == out else args[0] if commutes else None
        if other is not None:
            operator = UFUNC_AUGMENTED[ufunc]()
            node = ast.AugAssign(ast.Name(stmt.out, ast.Store()), operator, expr_ast(other))
            return ast.unparse(node)
    printed = ", ".join(expr_source(a) for a in args)
    return f"{stmt.target} = np.{ufunc}({printed}, out={stmt.out})"


def return_source(stmt: ir.Return) -> str:
    values = [expr_source(v) for v in stmt.values]
    if stmt.group_from is None:
        return ", ".join(values)
    inner = values[stmt.group_from :]
    group = f"({inner[0]},)" if len(inner) == 1 else f"({', '.join(inner)})"
    return ", ".join([*values[: stmt.group_from], group])


def range_source(stmt: ir.For) -> str:
    start, stop, step = stmt.start, stmt.stop, stmt.step
    if step == Const(1):
        if start == Const(0):
            return f"range({expr_source(stop)})"
        return f"range({expr_source(start)}, {expr_source(stop)})"
    return f"range({expr_source(start)}, {expr_source(stop)}, {expr_source(step)})"


@dataclass
class ModuleText:
    source: str
    locations: dict[int, str]  # line of the source (from 1) -> the user's file:line it runs


def module_source(functions: list[ir.Function], header: str) -> ModuleText:
    """The whole generated module: header comment, the imports it needs, the functions;
    and which of the user's lines each of its lines runs."""
    printer = Printer()
    for fn in functions:
        printer.at = None
        printer.function(fn)
    body = "\n".join(printer.lines).rstrip() + "\n"
    used = _global_names(body)
    imports = ["import math"] if "math" in used else []
    if "np" in used:
        imports.append("import numpy as np")
    runtime = [n for n in RUNTIME_NAMES if n in used]
    if runtime:
        imports.append(f"from srcdiff.runtime import {', '.join(runtime)}")
    registered = [n for n in custom.NAMES if n in used]  # functions given rules by the user
    if registered:
        imports.append(f"from srcdiff.custom import {', '.join(registered)}")
    head = "\n".join(f"# {line}".rstrip() for line in header.splitlines())
    imports_block = "\n".join(imports) + "\n" if imports else ""
    prefix = f"{head}\n{imports_block}\n\n"
    first = prefix.count("\n") + 1
    locations = {first + k: at for k, at in printer.locations.items()}
    return ModuleText(prefix + body, locations)


def _global_names(source: str) -> set[str]:
    """The module-level names the printed functions use (a name followed by ``.`` or ``(``)."""
    return set(re.findall(r"\b([A-Za-z_]\w*)\s*[.(]", source))
