"""The gradient SymPy computes, for cross-checking srcdiff's at one point.

The function is not re-parsed: srcdiff's own normalized IR is run with SymPy values. The
differentiated arguments become symbols (an array becomes an array of symbols, one per
element), the others keep their values. Control flow is resolved at the point, as it is
when the function runs there: a branch or a comparison takes the side the values take,
``max``/``min``/``np.max`` the element that is largest there, and loops run their concrete
number of iterations.

The result of each operation on symbols is given a fresh name (a real SymPy symbol),
defined by a line ``name = expression`` on earlier names, the symbols and constants: the
function at the point becomes a straight-line program, its expression kept as a DAG. (As
one SymPy expression, a loop body that reads its variable twice doubles the tree at every
iteration, and SymPy's simplification on construction, ``sympy.diff`` and ``xreplace``
walk the tree: a 10-step loop took more than ten minutes.) The derivative is SymPy's:
``sympy.diff`` differentiates each line's expression with respect to each name and symbol
in it, and the chain rule sums the products of these partial derivatives, at the point,
from the output back to the symbols (reverse accumulation). Values and partial
derivatives are evaluated in floats by functions ``sympy.lambdify`` compiles once per
shape of line (the 64 elements of ``np.tanh(x)`` share one, as do a loop body's lines
at every iteration).

What cannot be translated raises ``CannotTranslate`` with the reason, which the report
shows as "skipped": a primitive with no SymPy form here (``np.einsum``), a loop that runs
more than ``MAX_ITERATIONS`` times in all, more than ``MAX_SYMBOLS`` differentiated
numbers, more than ``MAX_OPERATIONS`` operations on symbols (lines), a run longer than
``MAX_SECONDS`` (checked at every statement and line), or a value or partial derivative
that is not a finite real number at the point.
"""

from __future__ import annotations

import ast
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy
from sympy.printing.pycode import PythonCodePrinter

from . import custom, ir, runtime
from .ir import Const, Expr, Name
from .normalize.program import Program
from .normalize.statements import normalize_program
from .rules import PRIMITIVES
from .rules.traits import SymPyForm

MAX_ITERATIONS = 200  # loop iterations unrolled, over the whole run
MAX_SYMBOLS = 64  # differentiated numbers (array elements count one each)
MAX_OPERATIONS = 20_000  # operations on symbols: lines of the straight-line program
MAX_SECONDS = 20.0  # translating, differentiating and evaluating, in all


class CannotTranslate(Exception):
    """The function is outside what the SymPy translation handles; the message says why."""


def sympy_gradient(f: Callable, args: tuple, wrt: tuple[int, ...]) -> list[Any]:
    """The gradient of ``f`` at ``args`` with respect to the arguments at positions ``wrt``,
    by SymPy: a float per number, an array of floats per array argument."""
    started = time.monotonic()
    program = normalize_program(f)
    params = program.params
    point: dict[sympy.Symbol, float] = {}
    # the arrays it reads from its module or closure, as they are now: constants
    values: list[Any] = [*args, *_omitted(program, len(args))]
    values += [free.read() for _, free in program.inputs]
    symbols: list[Any] = []
    for position in wrt:
        made = _symbols_for(params[position], args[position])
        for symbol, value in zip(np.ravel(made), np.ravel(args[position]), strict=True):
            point[symbol] = float(value)
        values[position] = made
        symbols.append(made)
    if len(point) > MAX_SYMBOLS:
        raise CannotTranslate(
            f"{len(point)} differentiated numbers; SymPy checks at most {MAX_SYMBOLS}"
        )
    trace = _Trace(point, started)
    result = _Interpreter(program, trace).run(program.main.ir, values)[0]
    if isinstance(result, np.ndarray):
        raise CannotTranslate("the function returns an array")
    derivatives = trace.derivatives(result)
    gradient = []
    for made in symbols:
        found = [derivatives.get(s, 0.0) for s in np.ravel(made)]
        if isinstance(made, np.ndarray):
            gradient.append(np.array(found, dtype=float).reshape(made.shape))
        else:
            gradient.append(found[0])
    return gradient


def _omitted(program: Program, given: int) -> list[Any]:
    """The default values of the parameters after the ``given`` first."""
    source = program.main.source
    missing = [p for p in source.params[given:] if p not in source.defaults]
    if missing:
        raise CannotTranslate(f"no value for the parameter {missing[0]!r}")
    return [source.defaults[p] for p in source.params[given:]]


def _symbols_for(name: str, value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.size > MAX_SYMBOLS:
            raise CannotTranslate(f"{name} has {value.size} elements; at most {MAX_SYMBOLS}")
        flat = [sympy.Symbol(f"{name}_{k}", real=True) for k in range(value.size)]
        return np.array(flat, dtype=object).reshape(value.shape)
    return sympy.Symbol(name, real=True)


class _Trace:
    """The function at the point as a straight-line program: ``lines``, in order, and the
    value at the point (a float) of every name and symbol."""

    def __init__(self, point: dict[sympy.Symbol, float], started: float):
        self.values: dict[sympy.Symbol, float] = dict(point)
        self.lines: list[_Line] = []
        self.shapes: dict[Any, _Shape] = {}  # lines alike but for their names share one
        self.started = started

    def in_time(self) -> None:
        if time.monotonic() - self.started > MAX_SECONDS:
            raise CannotTranslate(f"SymPy ran for more than {MAX_SECONDS:g} s (MAX_SECONDS)")

    def named(self, value: Any) -> Any:
        """A new value with every expression in it on symbols replaced by a new name
        (names, symbols and constants stay as they are)."""
        if isinstance(value, np.ndarray) and value.dtype == object:
            if all(_atomic(v) for v in value.flat):
                return value  # a view stays a view
            return np.vectorize(self.named, otypes=[object])(value)
        if _atomic(value):
            return value
        self.in_time()
        if len(self.lines) >= MAX_OPERATIONS:
            raise CannotTranslate(
                f"more than {MAX_OPERATIONS} operations on symbols (MAX_OPERATIONS)"
            )
        name = sympy.Dummy(f"t{len(self.lines)}", real=True)
        key, arguments = _pattern(value)
        if key not in self.shapes:
            self.shapes[key] = _Shape(value, arguments)
        line = _Line(name, value, arguments, self.shapes[key])
        self.values[name] = line.value(self.values)
        self.lines.append(line)
        return name

    def concrete(self, value: Any) -> Any:
        """A value with the point substituted: numbers for expressions, arrays of numbers
        for arrays of expressions, anything else as it is."""
        if isinstance(value, sympy.Basic):
            if value in self.values:
                return self.values[value]
            if value.free_symbols:  # not made by an operation: not named
                return self.values[self.named(value)]
            return bool(value) if value.is_Boolean else float(value)
        if isinstance(value, np.ndarray) and value.dtype == object:
            return np.vectorize(self.concrete, otypes=[float])(value)
        return value

    def derivatives(self, output: Any) -> dict[sympy.Symbol, float]:
        """The derivative of ``output`` (a name, a symbol or a constant) with respect to
        each name and symbol it depends on, at the point: the partial derivatives of each
        line by SymPy, joined by the chain rule from the output back (reverse
        accumulation: the sum over the paths of the products)."""
        adjoints: dict[Any, float] = {output: 1.0}
        for line in reversed(self.lines):
            adjoint = adjoints.pop(line.name, None)
            if adjoint is None:
                continue  # the output does not depend on it
            self.in_time()
            for argument, partial in zip(line.arguments, line.partials(self.values), strict=True):
                adjoints[argument] = adjoints.get(argument, 0.0) + adjoint * partial
        return adjoints


class _Line:
    """``name = expression``: one operation on names, symbols and constants."""

    def __init__(
        self,
        name: sympy.Symbol,
        expression: sympy.Basic,
        arguments: list[sympy.Symbol],
        shape: _Shape,
    ):
        self.name = name
        self.expression = expression
        self.arguments = arguments  # its names and symbols, in the order of ``shape``
        self.shape = shape

    def value(self, values: dict[sympy.Symbol, float]) -> float:
        found = _real(self.shape.evaluate, [values[a] for a in self.arguments])
        if found is None:
            raise CannotTranslate(f"{self.expression} is not a finite real number at the point")
        return found[0]

    def partials(self, values: dict[sympy.Symbol, float]) -> list[float]:
        found = _real(self.shape.differentiate(), [values[a] for a in self.arguments])
        if found is None:
            raise CannotTranslate(
                f"the derivative of {self.expression} is not a finite real number at the point"
            )
        return found


class _Shape:
    """What lines alike but for their names share (the 64 elements of ``np.tanh(x)``, a
    loop body's lines at every iteration): the expression on placeholders, and functions
    of floats for its value and for SymPy's derivatives of it with respect to each
    placeholder, compiled once."""

    def __init__(self, expression: sympy.Basic, arguments: list[sympy.Symbol]):
        self.placeholders = [sympy.Dummy(f"a{k}", real=True) for k in range(len(arguments))]
        self.expression = expression.xreplace(dict(zip(arguments, self.placeholders, strict=True)))
        self.evaluate = _lambdified(self.placeholders, [self.expression])
        self.derivatives: Callable | None = None  # compiled when a gradient needs them

    def differentiate(self) -> Callable:
        if self.derivatives is None:
            found = [sympy.diff(self.expression, p) for p in self.placeholders]
            self.derivatives = _lambdified(self.placeholders, found)
        return self.derivatives


def _pattern(expression: sympy.Basic) -> tuple[Any, list[sympy.Symbol]]:
    """A key equal for expressions alike but for their symbols (numbered in the order
    they first appear), and those symbols in that order."""
    arguments: dict[sympy.Symbol, int] = {}

    def key(node: sympy.Basic) -> Any:
        if node.is_Symbol:
            return arguments.setdefault(node, len(arguments))
        if not node.args:
            return node  # a constant
        return (node.func, *(key(a) for a in node.args))

    return key(expression), list(arguments)


class _FloatPrinter(PythonCodePrinter):
    """Python's math, with every digit of a float constant (SymPy prints 15)."""

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))


def _lambdified(placeholders: list[sympy.Symbol], expressions: Any) -> Callable:
    printer = _FloatPrinter({"fully_qualified_modules": False, "inline": True})
    return sympy.lambdify(placeholders, expressions, modules="math", printer=printer)


def _real(function: Callable, values: list[float]) -> list[float] | None:
    """``function(*values)`` if its results are finite floats, else None."""
    try:
        found = function(*values)
    except (ArithmeticError, ValueError):  # a math domain error, a division by zero
        return None
    if all(isinstance(r, int | float) and math.isfinite(r) for r in found):
        return [float(r) for r in found]
    return None  # complex (a negative number to a fractional power), inf or nan


def _atomic(value: Any) -> bool:
    """A name, a symbol, a constant or anything not SymPy's: nothing to name."""
    return not isinstance(value, sympy.Basic) or value.is_Atom or not value.free_symbols


def _symbolic(value: Any) -> bool:
    if isinstance(value, sympy.Basic):
        return bool(value.free_symbols)
    if isinstance(value, np.ndarray) and value.dtype == object:
        return any(_symbolic(v) for v in value.flat)
    return False


class _Interpreter:
    """Runs normalized IR with SymPy values."""

    def __init__(self, program: Program, trace: _Trace):
        self.program = program
        self.trace = trace
        self.iterations = 0

    def run(self, fn: ir.Function, args: list[Any]) -> tuple:
        env = dict(zip(fn.params, args, strict=True))
        for param, default in fn.defaults.items():
            env.setdefault(param, self.value(default, env))
        returned = self.block(fn.body, env)
        if returned is None:
            raise CannotTranslate(f"{fn.name} ends without returning")
        return returned

    def block(self, block: list[ir.Stmt], env: dict) -> tuple | None:
        for stmt in block:
            returned = self.statement(stmt, env)
            if returned is not None:
                return returned
        return None

    def statement(self, stmt: ir.Stmt, env: dict) -> tuple | None:
        self.trace.in_time()
        if isinstance(stmt, ir.Assign):
            env[stmt.target] = self.value(stmt.value, env)
        elif ir.is_print(stmt):
            pass  # a symbolic run prints nothing
        elif isinstance(stmt, ir.Call):
            callee = self.program.functions[stmt.func].ir
            results = self.run(callee, [self.value(a, env) for a in stmt.args])
            env.update(zip(stmt.targets, results, strict=True))
        elif isinstance(stmt, ir.If):
            taken = stmt.body if self.test(stmt.test, env) else stmt.orelse
            return self.block(taken, env)
        elif isinstance(stmt, ir.For):
            return self.for_loop(stmt, env)
        elif isinstance(stmt, ir.While):
            return self.while_loop(stmt, env)
        elif isinstance(stmt, ir.Return):
            return tuple(self.value(v, env) for v in stmt.values)
        elif isinstance(stmt, ir.SetItem):
            target = env[stmt.target] = _writable(env[stmt.target])
            target[self.indices(stmt.indices, env)] = self.value(stmt.value, env)
        elif isinstance(stmt, ir.IndexAdd):
            target = env[stmt.target] = _writable(env[stmt.target])
            index = self.indices(stmt.indices, env)
            target[index] = self.trace.named(target[index] + self.value(stmt.value, env))
        elif isinstance(stmt, (ir.Push, ir.Pop)):  # not in normalized code
            raise CannotTranslate(f"no SymPy translation of {type(stmt).__name__}")
        elif not isinstance(stmt, (ir.Comment, ir.Check)):  # the function ran here: checks pass
            raise ir.unknown_statement(stmt)
        return None

    def for_loop(self, loop: ir.For, env: dict) -> tuple | None:
        bounds = [int(self.trace.concrete(self.value(e, env))) for e in (loop.start, loop.stop)]
        step = int(self.trace.concrete(self.value(loop.step, env)))
        for k in range(bounds[0], bounds[1], step):
            self.count_iteration()
            env[loop.var] = k
            returned = self.block(loop.body, env)
            if returned is not None:
                return returned
            if loop.exit_test is not None and self.test(loop.exit_test, env):
                break
        return None

    def while_loop(self, loop: ir.While, env: dict) -> tuple | None:
        while True:
            returned = self.block(loop.test_block, env)
            if returned is not None:
                return returned
            if not self.test(loop.test, env):
                return None
            self.count_iteration()
            returned = self.block(loop.body, env)
            if returned is not None:
                return returned
            if loop.exit_test is not None and self.test(loop.exit_test, env):
                return None

    def count_iteration(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise CannotTranslate(f"loops run more than {MAX_ITERATIONS} iterations in all")

    def test(self, expr: Expr, env: dict) -> bool:
        """A condition, decided at the point."""
        return bool(self.trace.concrete(self.value(expr, env)))

    def indices(self, indices: tuple[Expr, ...], env: dict) -> Any:
        found = tuple(_as_index(self.trace.concrete(self.value(i, env))) for i in indices)
        return found[0] if len(found) == 1 else found

    def value(self, expr: Expr, env: dict) -> Any:
        if isinstance(expr, Name):
            if expr.id not in env:
                raise CannotTranslate(f"{expr.id} is read before it is assigned")
            return env[expr.id]
        if isinstance(expr, Const):
            return expr.value
        form = PRIMITIVES[expr.prim].sympy
        how = form.how if isinstance(form, SymPyForm) else None
        if how == "subscript":
            return slice(*(_as_index(self.value(a, env)) for a in expr.args))
        args = [self.value(a, env) for a in expr.args]
        if how == "printed":  # of arrays of expressions too
            return _compiled(expr.prim)(*args)
        if not any(_symbolic(a) for a in args):
            return _numeric(expr.prim, args)
        if how is not None:
            return self.trace.named(_APPLY[how](self, _built(expr.prim, form), args))
        raise CannotTranslate(
            f"no SymPy form for {PRIMITIVES[expr.prim].source} (primitive {expr.prim!r})"
        )


def _as_index(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _writable(array: Any) -> np.ndarray:
    """An array that may hold expressions (NumPy's float arrays cannot)."""
    if not isinstance(array, np.ndarray):
        raise CannotTranslate("writing into something that is not an array")
    return array if array.dtype == object else array.astype(object)


# --- concrete values: the printed form, run with NumPy -----------------------------------------
_NAMESPACE = {"np": np, "math": math, **runtime.PYTHON_VERSIONS}


def _numeric(prim: str, args: list[Any]) -> Any:
    """A primitive of values without symbols: its printed form, run (the array form if an
    argument is an array)."""
    primitive = PRIMITIVES[prim]
    if primitive.array_variant is not None and any(isinstance(a, np.ndarray) for a in args):
        primitive = PRIMITIVES[primitive.array_variant]
    function = _compiled(primitive.name)
    return function(*(_plain(a) for a in args))


def _plain(value: Any) -> Any:
    """SymPy numbers (what is left of an expression times 0) as Python numbers."""
    if isinstance(value, sympy.Basic) and value.is_number:
        return int(value) if value.is_Integer else float(value)
    return value.astype(float) if _object_numbers(value) else value


def _object_numbers(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == object


_COMPILED: dict[str, Callable] = {}


def _compiled(name: str) -> Callable:
    if name not in _COMPILED:
        primitive = PRIMITIVES[name]
        source = ast.unparse(primitive.form)
        code = f"lambda {', '.join(primitive.params)}: {source}"
        registered = {n: getattr(custom, n) for n in custom.NAMES}  # users' rules
        _COMPILED[name] = eval(code, {**_NAMESPACE, **registered})  # noqa: S307 (the rule table)
    return _COMPILED[name]


# --- symbolic values: the rule table's SymPy forms (rules.traits.SymPyForm) --------------------
_BUILT: dict[str, Callable] = {}


def _built(prim: str, form: SymPyForm) -> Callable:
    """The form's function, built once from the sympy module."""
    if prim not in _BUILT:
        _BUILT[prim] = form.build(sympy)
    return _BUILT[prim]


def _each(interpreter: _Interpreter, function: Callable, args: list) -> Any:
    """A SymPy function applied to a number or to each element of an array."""
    if any(isinstance(a, np.ndarray) for a in args):
        return np.vectorize(function, otypes=[object])(*args)
    return function(*args)


def _whole(interpreter: _Interpreter, function: Callable, args: list) -> Any:
    return function(*(_objects(a) for a in args))


def _objects(value: Any) -> Any:
    """Float arrays as arrays that can hold expressions; integer arrays (indices) as they are."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(object)
    return value


def _decided(interpreter: _Interpreter, choose: Callable, args: list) -> Any:
    """A choice between expressions, decided by their values at the point (as ``max``,
    a comparison or a conditional expression decide when the function runs there)."""
    concrete = [interpreter.trace.concrete(a) for a in args]
    if any(isinstance(a, np.ndarray) for a in args):
        args = np.broadcast_arrays(*(np.asarray(_objects(a), dtype=object) for a in args))
        concrete = np.broadcast_arrays(*(np.asarray(c) for c in concrete))
        out = np.empty(args[0].shape, dtype=object)
        for index in np.ndindex(out.shape):
            out[index] = choose([a[index] for a in args], [c[index] for c in concrete])
        return out
    return choose(args, concrete)


def _at_point(interpreter: _Interpreter, function: Callable, args: list) -> Any:
    """A function whose derivative is zero where it is defined: its value at the point."""
    return _decided(interpreter, lambda args, concrete: function(*concrete), args)


def _reduction(interpreter: _Interpreter, reduce: Callable, args: list) -> Any:
    """A reduction of an array of expressions (along an axis, or of all elements)."""
    x, axis, keepdims = (*args, None, False)[:3]
    x = np.asarray(_objects(x), dtype=object)
    return reduce(x, axis, keepdims, interpreter.trace.concrete(x))


_APPLY: dict[str, Callable] = {
    "each": _each,
    "whole": _whole,
    "decided": _decided,
    "at_point": _at_point,
    "reduction": _reduction,
}
