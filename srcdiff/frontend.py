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
from .kind import MAX_RANK, Kind
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
from .structures import container_parameters, flatten_function

MODULES = {id(math): "math", id(np): "numpy"}

UNSUPPORTED_STATEMENTS = {
    ast.Try: "try/except",
    ast.With: "a with statement",
    ast.AsyncWith: "async with",
    ast.AsyncFor: "async for",
    ast.Global: "a global statement",
    ast.Nonlocal: "a nonlocal statement (a closure that mutates state)",
    ast.ClassDef: "a class definition",
    ast.AsyncFunctionDef: "a nested async function",
    ast.Import: "import",
    ast.ImportFrom: "import",
    ast.Delete: "del",
    ast.Match: "match",
}
if hasattr(ast, "TryStar"):
    UNSUPPORTED_STATEMENTS[ast.TryStar] = "try/except*"

UNSUPPORTED_EXPRESSIONS = {
    ast.Lambda: "a lambda used as a value",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.Yield: "yield (generators)",
    ast.YieldFrom: "yield from (generators)",
    ast.Await: "await",
    ast.Dict: "a dict literal",
    ast.Set: "a set literal",
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

# methods of Python lists: ``append`` is lowered, the others are refused by name
LIST_METHODS = {"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"}

PLACEHOLDERS = "a list of None (places to fill in later)"
PLACEHOLDERS_HINT = "make an array, np.zeros(n), and write its items; or append to an empty list"

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
    # functions defined in this one (``def``, ``name = lambda``), by name: calls resolve to them
    nested: dict[str, LocalFunction] = field(default_factory=dict)
    # how many of ``params`` may be passed by position (the others are keyword-only)
    positional: int = 0
    # for a nested function: the enclosing function's variables it reads, its last parameters
    captured: tuple[str, ...] = ()
    # arrays it reads from its module or closure, by name: inputs read at each call
    free_arrays: dict[str, FreeArray] = field(default_factory=dict)
    # containers passed to user functions: id(call) -> each positional argument's treedef
    call_structures: dict[int, tuple] = field(default_factory=dict)
    scope: dict[str, object] = field(default_factory=dict)  # names the flattening added

    def loc(self, node: ast.AST) -> SourceLocation:
        line = getattr(node, "lineno", self.tree.lineno)
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        return SourceLocation(self.filename, line, getattr(node, "col_offset", 0), text)

    def is_value(self, node: ast.expr) -> bool:
        """Whether an expression computes a value in the function (``x``, ``x.T``,
        ``f(x)``), as opposed to naming a module or a global (``np.linalg``)."""
        if isinstance(node, ast.Name):
            return node.id in self.locals or node.id in self.free_arrays
        if isinstance(node, ast.Attribute):
            return self.is_value(node.value) or _dotted(node) in self.free_arrays
        return isinstance(node, (ast.Call, ast.Subscript, ast.BinOp, ast.UnaryOp))

    def defines(self, stmt: ast.stmt) -> bool:
        """Whether ``stmt`` defines one of the functions nested in this one."""
        return any(stmt is f.node for f in self.nested.values())

    @property
    def short_filename(self) -> str:
        return os.path.basename(self.filename)


@dataclass(eq=False)
class LocalFunction:
    """A function defined inside another, closure-converted: a helper whose last parameters
    (``source.captured``) are the enclosing function's variables it reads, passed at each
    call, so it sees their values at the call as Python's closures do."""

    source: SourceFunction
    node: ast.FunctionDef | ast.Assign  # the statement that defines it

    @property
    def __name__(self) -> str:
        return self.source.name


ARRAY_ELEMENTS = {"f": "float", "i": "int", "u": "int", "b": "bool"}


@dataclass(eq=False)
class FreeArray:
    """An array a function reads from its module's globals or its closure, not an argument.
    The gradient reads it at each call (so a new value, or new contents, is seen) and
    passes it to the generated code as a parameter that is not differentiated."""

    name: str
    namespace: dict[str, object] | None  # the module's globals, or None for a closure cell
    cell: types.CellType | None = None
    module: str | None = None  # read as an attribute of a module: its name (``data.X``)

    @property
    def key(self) -> tuple[int, str]:
        """The same variable for every function that reads it."""
        return (id(self.cell), "") if self.cell is not None else (id(self.namespace), self.name)

    def describe(self) -> str:
        where = "global" if self.cell is None else "closure variable"
        name = self.name if self.module is None else f"{self.module}.{self.name}"
        return f"the {where} `{name}`"

    def read(self) -> object:
        """Its value now (a tuple or list of numbers as an array)."""
        try:
            value = self.cell.cell_contents if self.cell is not None else self.namespace[self.name]
        except (KeyError, ValueError):
            raise SrcdiffError(f"{self.describe()} no longer exists") from None
        return _as_array(value)

    def kind(self) -> Kind:
        """The kind of its value now; a ``SrcdiffError`` where it is no longer an array."""
        kind = array_kind(self.read())
        if kind is None:
            raise SrcdiffError(
                f"{self.describe()}, which srcdiff reads as a constant array, is now "
                f"{_describe(self.read())}: pass it as an argument"
            )
        return kind


def array_kind(value: object) -> Kind | None:
    """The kind of a numeric NumPy array of rank 1 to ``MAX_RANK``, or of a tuple or list of
    numbers read as one (what a free array may be)."""
    value = _as_array(value)
    if not isinstance(value, np.ndarray) or not 1 <= value.ndim <= MAX_RANK:
        return None
    element = ARRAY_ELEMENTS.get(value.dtype.kind)
    return Kind.array(element, value.ndim) if element is not None else None


def _as_array(value: object) -> object:
    """A non-empty tuple or list of numbers as an array; anything else as it is."""
    numbers = (bool, int, float, np.integer, np.floating)
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, numbers) for v in value):
        return np.asarray(value)
    return value


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


def read_function(func: Callable, structures: tuple = ()) -> SourceFunction:
    """Parse ``func`` and check it; raises ``SrcdiffError`` for anything unsupported.

    ``structures``: for each positional parameter, the treedef of the container it takes
    (``pytrees``), or None; the function read is then the flat one (``structures``)."""
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
    if func.__name__ == "<lambda>":
        fdef = _lambda_definition(func, filename)
    else:
        try:
            tree = ast.parse(textwrap.dedent("".join(lines)))
        except SyntaxError as err:
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
        name=fdef.name if func.__name__ == "<lambda>" else func.__name__,
        filename=filename,
        tree=fdef,
        lines=linecache.getlines(filename),
        params=_parameters(fdef.args),
        defaults=_defaults(func, fdef),
        locals=set(),
        positional=len(fdef.args.posonlyargs) + len(fdef.args.args),
    )
    _check_signature(source, varargs=True)
    if any(s is not None for s in structures):
        _flatten(source, structures)
    return checked(source)


def _flatten(source: SourceFunction, structures: tuple) -> None:
    """Read the function as one of the leaves of its container arguments."""
    by_name = {p: s for p, s in zip(source.params, structures, strict=False) if s is not None}
    flat = flatten_function(source.tree, by_name, source.loc, scope_of(source.func))
    source.tree = flat.tree
    source.params = _parameters(flat.tree.args)
    source.positional = len(flat.tree.args.posonlyargs) + len(flat.tree.args.args)
    source.defaults = {k: v for k, v in source.defaults.items() if k not in by_name}
    source.call_structures = flat.call_structures
    source.scope = flat.scope


def takes_containers(func: Callable) -> bool:
    """Whether ``func`` reads an argument as only a container can be read (``structures``):
    its code may then compile only for the containers of a call."""
    func = inspect.unwrap(getattr(func, "__func__", func))

    def tree_of(f: object) -> ast.FunctionDef | None:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(f))).body[0]
        except (OSError, TypeError, SyntaxError, IndexError):
            return None
        return tree if isinstance(tree, ast.FunctionDef) else None

    def callee(node: ast.expr) -> ast.FunctionDef | None:
        value = scope.get(node.id) if isinstance(node, ast.Name) else None
        return tree_of(value) if isinstance(value, types.FunctionType) else None

    if not isinstance(func, types.FunctionType):
        return False
    scope = scope_of(func)
    tree = tree_of(func)
    return tree is not None and bool(container_parameters(tree, callee))


def _lambda_definition(func: types.FunctionType, filename: str) -> ast.FunctionDef:
    """A lambda (``f = lambda x: ...``, ``grad(lambda x: ...)``) as the ``def`` it stands
    for, named after the name it is assigned to (else ``lambda_``): found in its file, as
    the one lambda on its first line."""
    line = func.__code__.co_firstlineno
    try:
        module = ast.parse("".join(linecache.getlines(filename)), filename)
    except SyntaxError:
        module = ast.Module([], [])
    found = [n for n in ast.walk(module) if isinstance(n, ast.Lambda) and n.lineno == line]
    if len(found) != 1:
        what = "several lambdas on one line" if found else "this lambda's source"
        raise SourceLocation(filename, line).unsupported(what, "define the function with def")
    lam = found[0]
    name = "lambda_"
    for node in ast.walk(module):
        if (
            isinstance(node, ast.Assign)
            and node.value is lam
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            name = node.targets[0].id
    body = ast.copy_location(ast.Return(lam.body), lam.body)
    return ast.copy_location(ast.FunctionDef(name, lam.args, [body], [], None, None), lam)


def checked(source: SourceFunction) -> SourceFunction:
    """``source`` with its nested functions and local names found, and everything checked
    (also a function rewritten for the number of its ``*args``: ``normalize.varargs``)."""
    source.nested = _nested_functions(source)
    source.locals = (_assigned_names(source.tree) | set(source.params)) - set(source.nested)
    if source.tree.args.vararg:  # checked as a name here, rewritten away at each call
        source.locals.add(source.tree.args.vararg.arg)
    for local in source.nested.values():  # first: they come before their calls
        Checker(local.source).check()
    Checker(source).check()
    return source


def _nested_functions(outer: SourceFunction) -> dict[str, LocalFunction]:
    """The functions ``outer`` defines at the top of its body (``def g(...)``, ``g = lambda
    ...``), each with the variables of ``outer`` it reads, itself or through the nested
    functions it calls (closure conversion)."""
    found: dict[str, LocalFunction] = {}
    for stmt in outer.tree.body:
        tree = _nested_definition(stmt)
        if tree is None:
            continue
        if tree.name in found:
            raise outer.loc(stmt).unsupported(
                f"defining the nested function `{tree.name}` twice", "give each its own name"
            )
        found[tree.name] = LocalFunction(_nested_source(outer, tree), stmt)
    _refuse_other_definitions(outer, found)
    rebound = _assigned_names(outer.tree) & set(found)
    for name in sorted(rebound):
        if not isinstance(found[name].node, ast.Assign) or _assignments(outer.tree, name) > 1:
            raise outer.loc(found[name].node).unsupported(
                f"the nested function `{name}` assigned again", "give the value another name"
            )
    enclosing = (_assigned_names(outer.tree) | set(outer.params)) - set(found)
    reads = {name: _free_names(local.source.tree) for name, local in found.items()}
    captured = {name: names & enclosing for name, names in reads.items()}
    changed = True
    while changed:  # through the nested functions each one calls
        changed = False
        for name, names in reads.items():
            for callee in names & set(found):
                if not captured[callee] <= captured[name]:
                    captured[name] |= captured[callee]
                    changed = True
    for name, local in found.items():
        local.source.captured = tuple(sorted(captured[name]))
        local.source.params = local.source.params + list(local.source.captured)
        local.source.locals = (_assigned_names(local.source.tree) | set(local.source.params)) - set(
            found
        )
        local.source.nested = found
    return found


def _refuse_other_definitions(outer: SourceFunction, found: dict[str, LocalFunction]) -> None:
    """A function defined anywhere but at the top of ``outer``'s body, or a lambda not named
    there: one that escapes (passed, returned, stored) or is defined conditionally."""
    defined = {id(_definition_node(f)) for f in found.values()}
    nested = {id(n) for f in found.values() for n in ast.walk(_definition_node(f))}
    for node in ast.walk(outer.tree):
        if node is outer.tree or id(node) in defined:
            continue
        if not isinstance(node, (ast.FunctionDef, ast.Lambda)):
            continue
        if id(node) in nested:
            raise outer.loc(node).unsupported(
                "a function defined inside a nested function",
                "define it at the top level of the enclosing function's body",
            )
        if isinstance(node, ast.Lambda):
            raise outer.loc(node).unsupported(
                "a lambda used as a value (passed, returned or stored)",
                "name it at the top level of the function's body (`g = lambda t: ...`) and "
                "call it there",
            )
        raise outer.loc(node).unsupported(
            "a nested function defined inside a block (if, for, while)",
            "define it at the top level of the function's body",
        )


def _nested_definition(stmt: ast.stmt) -> ast.FunctionDef | None:
    """The function a statement defines (a ``def``, or a lambda assigned to one name)."""
    if isinstance(stmt, ast.FunctionDef):
        return stmt
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(stmt.value, ast.Lambda)
    ):
        lam = stmt.value
        body = ast.copy_location(ast.Return(lam.body), lam.body)
        tree = ast.FunctionDef(stmt.targets[0].id, lam.args, [body], [], None, None)
        return ast.copy_location(tree, lam)
    return None


def _definition_node(local: LocalFunction) -> ast.AST:
    node = local.node
    return node.value if isinstance(node, ast.Assign) else node


def _nested_source(outer: SourceFunction, tree: ast.FunctionDef) -> SourceFunction:
    loc = outer.loc(tree)
    if tree.decorator_list:
        raise loc.unsupported("a decorated nested function")
    args = tree.args
    values = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
    if not all(isinstance(d, ast.Constant) and type(d.value) in NUMBERS for d in values):
        raise loc.unsupported(
            f"the default values of the nested function `{tree.name}`", "use numbers"
        )
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    first = len(positional) - len(args.defaults)
    defaults = dict(zip(positional[first:], args.defaults, strict=True))
    for param, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if default is not None:
            defaults[param.arg] = default
    source = SourceFunction(
        func=outer.func,  # its free names resolve in the enclosing function's scope
        name=tree.name,
        filename=outer.filename,
        tree=tree,
        lines=outer.lines,
        params=_parameters(args),
        defaults={name: node.value for name, node in defaults.items()},
        locals=set(),
        positional=len(positional),
    )
    _check_signature(source)
    return source


NUMBERS = (int, float, bool)


def _free_names(tree: ast.FunctionDef) -> set[str]:
    """The names a function reads and does not bind itself."""
    bound = _assigned_names(tree) | {a.arg for a in tree.args.args}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - bound


def _dotted(node: ast.Attribute) -> str | None:
    """``module.name`` for an attribute of a name (None for anything longer)."""
    return f"{node.value.id}.{node.attr}" if isinstance(node.value, ast.Name) else None


def own_nodes(tree: ast.FunctionDef):
    """The nodes of a function, not those of the functions nested in it."""
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.Lambda)):
            pending.extend(ast.iter_child_nodes(node))


def _assignments(tree: ast.AST, name: str) -> int:
    return sum(
        isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id == name
        for n in ast.walk(tree)
    )


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


def _parameters(args: ast.arguments) -> list[str]:
    """The parameters' names: positional ones first, then keyword-only ones."""
    return [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]


def _defaults(func: Callable, fdef: ast.FunctionDef) -> dict[str, object]:
    names = [a.arg for a in (*fdef.args.posonlyargs, *fdef.args.args)]
    values = func.__defaults__ or ()
    defaults = dict(zip(names[len(names) - len(values) :], values, strict=True))
    return defaults | (func.__kwdefaults__ or {})


def _check_signature(source: SourceFunction, varargs: bool = False) -> None:
    """Parameters srcdiff binds at each call: positional, keyword-only (``def f(x, *,
    scale=2.0)``), and ``*args`` of a helper (``varargs``: rewritten for each number of
    arguments it is called with); not ``**kwargs``."""
    args = source.tree.args
    loc = source.loc(source.tree)
    if args.vararg and not varargs:
        raise loc.unsupported(
            f"the parameter *{args.vararg.arg} (a variable number of arguments)",
            "name the parameters (`def f(x, y, z)`), or pass the values as one array",
        )
    if args.kwarg:
        raise loc.unsupported(
            f"the parameter **{args.kwarg.arg} (arbitrary keyword arguments)",
            "name the parameters, keyword-only after a `*` if you like: `def f(x, *, scale=1.0)`",
        )


def _assigned_names(fdef: ast.FunctionDef) -> set[str]:
    """The names a function assigns (not those of the functions nested in it)."""
    names = set()
    pending: list[ast.AST] = list(fdef.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        if not isinstance(node, (ast.FunctionDef, ast.Lambda)):
            pending.extend(ast.iter_child_nodes(node))
    return names


class Checker(ast.NodeVisitor):
    """Rejects unsupported syntax and resolves every free name, recording the result."""

    def __init__(self, source: SourceFunction):
        self.source = source
        self.scope = scope_of(source.func) | source.scope
        code, cells = source.func.__code__, source.func.__closure__ or ()
        self.closure = dict(zip(code.co_freevars, cells, strict=True))

    def check(self) -> None:
        self.find_free_arrays()
        body = self.source.tree.body
        if body and is_docstring(body[0]):
            body = body[1:]
        for stmt in body:
            if not self.source.defines(stmt):  # nested functions are checked on their own
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
        if self.is_append(node.value):  # xs.append(e) (normalize/lists.py)
            self.visit(node.value.args[0])
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
            and node.func.id not in self.source.nested
            and self.lookup(node.func) is builtins.print
        )

    def is_append(self, node: ast.expr) -> bool:
        call = node if isinstance(node, ast.Call) else None
        method = call.func if call is not None else None
        if not (isinstance(method, ast.Attribute) and isinstance(method.value, ast.Name)):
            return False
        if method.value.id not in self.source.locals or method.attr not in LIST_METHODS:
            return False
        if method.attr != "append" or len(call.args) != 1 or call.keywords:
            raise self.unsupported(
                node, f"the list method `{ast.unparse(method)}()`",
                "lists made in the function take `xs.append(item)`, one item at a time",
            )  # fmt: skip
        return True

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
            free = self.source.free_arrays.get(target.value.id)
            if free is not None:
                raise self.unsupported(
                    target, f"writing into {free.describe()}",
                    f"srcdiff reads it as a constant; write into a copy: "
                    f"`{free.name.lower()}_ = {free.name}.copy()`",
                )  # fmt: skip
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
        if what == "an array" and _names_only(target):
            return  # for W, b in layers: unpacked if layers is a list (normalize/lists.py)
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
        """A tuple of values is a list that cannot grow (normalize/lists.py)."""
        self.visit_each(node.elts)

    def visit_List(self, node: ast.List) -> None:
        if any(_is_none(e) for e in node.elts):
            raise self.unsupported(node, PLACEHOLDERS, PLACEHOLDERS_HINT)
        self.visit_each(node.elts)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        if _is_none(node.elt):
            raise self.unsupported(node, PLACEHOLDERS, PLACEHOLDERS_HINT)
        for generator in node.generators:
            if generator.is_async:
                raise self.unsupported(node, "async for")
            self.check_iteration(generator.target, generator.iter, node)
            self.visit_each(generator.ifs)
        self.visit(node.elt)

    visit_GeneratorExp = visit_ListComp

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
        if node.id in self.source.nested:
            raise self.unsupported(
                node, f"the nested function `{node.id}` used as a value (passed, returned or "
                "stored)", f"srcdiff differentiates a nested function where it is called: "
                f"`{node.id}(...)`",
            )  # fmt: skip
        value = self.resolve(node)
        if array_kind(value) is not None:
            self.record(node, self.free_array(node.id))
            return
        if not isinstance(value, Constant):
            where = "closure variable" if node.id in self.closure else "global"
            raise self.unsupported(
                node, f"the {where} `{node.id}` ({_describe(value)})", "pass it as an argument"
            )
        self.record(node, value)

    def find_free_arrays(self) -> None:
        """The arrays of the module or closure that the function reads (first, as they are
        values: ``A.T``, ``A[i]``)."""
        for node in own_nodes(self.source.tree):
            if (
                isinstance(node, ast.Name)
                and node.id not in self.source.locals
                and node.id not in self.source.nested
                and array_kind(self.scope.get(node.id)) is not None
            ):
                self.free_array(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                module = self.scope.get(node.value.id)
                if node.value.id in self.source.locals or not isinstance(module, types.ModuleType):
                    continue
                if array_kind(getattr(module, node.attr, None)) is not None:
                    free = FreeArray(node.attr, vars(module), module=node.value.id)
                    self.source.free_arrays.setdefault(_dotted(node), free)

    def free_array(self, name: str) -> FreeArray:
        found = self.source.free_arrays.get(name)
        if found is None:
            cell = self.closure.get(name)
            namespace = self.source.func.__globals__ if cell is None else None
            found = self.source.free_arrays[name] = FreeArray(name, namespace, cell)
        return found

    def visit_Attribute(self, node: ast.Attribute) -> None:
        free = self.source.free_arrays.get(_dotted(node))
        if free is not None:  # data.X, an array of a module
            self.record(node, free)
            return
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
        if isinstance(node.func, ast.Name) and node.func.id in self.source.nested:
            self.visit_nested_call(node, self.source.nested[node.func.id])
            return
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

    def visit_nested_call(self, node: ast.Call, callee: LocalFunction) -> None:
        """A call of a nested function, after its definition where that is in this body."""
        definition = callee.node
        if any(definition is s for s in self.source.tree.body) and (
            node.lineno,
            node.col_offset,
        ) < (definition.end_lineno, definition.end_col_offset):
            raise self.source.loc(node).error(
                f"the nested function `{callee.__name__}` is called before it is defined"
            )
        for keyword in node.keywords:
            if keyword.arg in callee.source.captured:
                raise self.unsupported(
                    node, f"the keyword argument {keyword.arg}= to `{callee.__name__}`"
                )
        self.visit_arguments(node, None)
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


def scope_of(func: types.FunctionType) -> dict[str, object]:
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


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _names_only(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    return isinstance(target, ast.Tuple | ast.List) and all(_names_only(e) for e in target.elts)


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
