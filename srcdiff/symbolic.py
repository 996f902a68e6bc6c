"""The gradient SymPy computes, for cross-checking srcdiff's at one point.

The function is not re-parsed: srcdiff's own normalized IR is run with SymPy values. The
differentiated arguments become symbols (an array becomes an array of symbols, one per
element), the others keep their values. Control flow is resolved at the point, as it is
when the function runs there: a branch or a comparison takes the side the values take,
``max``/``min``/``np.max`` the element that is largest there, and loops run their concrete
number of iterations. The result is one SymPy expression, which ``sympy.diff``
differentiates with respect to each symbol; the derivatives are evaluated at the point.

What cannot be translated raises ``CannotTranslate`` with the reason, which the report
shows as "skipped": a primitive with no SymPy form here (``np.einsum``), a loop that runs
more than ``MAX_ITERATIONS`` times in all, or more than ``MAX_SYMBOLS`` differentiated
numbers (SymPy's expressions, and the time to differentiate them, grow with both).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy

from . import custom, ir, runtime
from .ir import Const, Expr, Name
from .normalize import Program, normalize_program
from .rules import PRIMITIVES

MAX_ITERATIONS = 200  # loop iterations unrolled, over the whole run
MAX_SYMBOLS = 64  # differentiated numbers (array elements count one each)


class CannotTranslate(Exception):
    """The function is outside what the SymPy translation handles; the message says why."""


def sympy_gradient(f: Callable, args: tuple, wrt: tuple[int, ...]) -> list[Any]:
    """The gradient of ``f`` at ``args`` with respect to the arguments at positions ``wrt``,
    by SymPy: a float per number, an array of floats per array argument."""
    program = normalize_program(f)
    params = program.main.ir.params
    point: dict[sympy.Symbol, sympy.Float] = {}
    values: list[Any] = list(args)
    symbols: list[Any] = []
    for position in wrt:
        made = _symbols_for(params[position], args[position])
        for symbol, value in zip(np.ravel(made), np.ravel(args[position]), strict=True):
            point[symbol] = sympy.Float(float(value))
        values[position] = made
        symbols.append(made)
    if len(point) > MAX_SYMBOLS:
        raise CannotTranslate(
            f"{len(point)} differentiated numbers; SymPy checks at most {MAX_SYMBOLS}"
        )
    result = _Interpreter(program, point).run(program.main.ir, values)[0]
    if isinstance(result, np.ndarray):
        raise CannotTranslate("the function returns an array")
    expression = sympy.sympify(result)
    gradient = []
    for made in symbols:
        derivatives = [_at(sympy.diff(expression, s), point) for s in np.ravel(made)]
        if isinstance(made, np.ndarray):
            gradient.append(np.array(derivatives, dtype=float).reshape(made.shape))
        else:
            gradient.append(derivatives[0])
    return gradient


def _symbols_for(name: str, value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.size > MAX_SYMBOLS:
            raise CannotTranslate(f"{name} has {value.size} elements; at most {MAX_SYMBOLS}")
        flat = [sympy.Symbol(f"{name}_{k}", real=True) for k in range(value.size)]
        return np.array(flat, dtype=object).reshape(value.shape)
    return sympy.Symbol(name, real=True)


def _at(expression: Any, point: dict) -> float:
    """The value of an expression at the point, as a float."""
    if isinstance(expression, sympy.Basic):
        value = expression.xreplace(point).evalf()
        try:
            return float(value)
        except TypeError:  # complex, or symbols left over
            raise CannotTranslate(f"{expression} is not a real number at the point") from None
    return float(expression)


def _concrete(value: Any, point: dict) -> Any:
    """A value with the point substituted: numbers for expressions, arrays of numbers for
    arrays of expressions, anything else as it is."""
    if isinstance(value, sympy.Basic):
        if value.is_Boolean or value.is_Relational:
            return bool(value.xreplace(point))
        return _at(value, point)
    if isinstance(value, np.ndarray) and value.dtype == object:
        return np.vectorize(lambda v: _concrete(v, point), otypes=[float])(value)
    return value


def _symbolic(value: Any) -> bool:
    if isinstance(value, sympy.Basic):
        return bool(value.free_symbols)
    if isinstance(value, np.ndarray) and value.dtype == object:
        return any(_symbolic(v) for v in value.flat)
    return False


class _Interpreter:
    """Runs normalized IR with SymPy values."""

    def __init__(self, program: Program, point: dict):
        self.program = program
        self.point = point
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
        if isinstance(stmt, ir.Assign):
            env[stmt.target] = self.value(stmt.value, env)
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
            target[self.indices(stmt.indices, env)] += self.value(stmt.value, env)
        elif isinstance(stmt, ir.Check):
            if not self.test(stmt.test, env):
                raise CannotTranslate(stmt.message)
        elif not isinstance(stmt, ir.Comment):
            raise CannotTranslate(f"no SymPy translation of {type(stmt).__name__}")
        return None

    def for_loop(self, loop: ir.For, env: dict) -> tuple | None:
        bounds = [int(_concrete(self.value(e, env), self.point)) for e in (loop.start, loop.stop)]
        step = int(_concrete(self.value(loop.step, env), self.point))
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
        return bool(_concrete(self.value(expr, env), self.point))

    def indices(self, indices: tuple[Expr, ...], env: dict) -> Any:
        found = tuple(_as_index(_concrete(self.value(i, env), self.point)) for i in indices)
        return found[0] if len(found) == 1 else found

    def value(self, expr: Expr, env: dict) -> Any:
        if isinstance(expr, Name):
            if expr.id not in env:
                raise CannotTranslate(f"{expr.id} is read before it is assigned")
            return env[expr.id]
        if isinstance(expr, Const):
            return expr.value
        if expr.prim == "slice":
            return slice(*(_as_index(self.value(a, env)) for a in expr.args))
        args = [self.value(a, env) for a in expr.args]
        if expr.prim in SHAPE_READS:  # of arrays of expressions too
            return _compiled(expr.prim)(*args)
        symbolic = SYMBOLIC.get(expr.prim)
        if symbolic is not None and any(_symbolic(a) for a in args):
            return symbolic(self, *args)
        if any(_symbolic(a) for a in args):
            raise CannotTranslate(
                f"no SymPy form for {PRIMITIVES[expr.prim].source} (primitive {expr.prim!r})"
            )
        return _numeric(expr.prim, args)


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
SHAPE_READS = {"shape", "shape_of", "size", "ndim", "len", "zeros_like", "ones_like"}
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


# --- symbolic values -------------------------------------------------------------------------
def _elementwise(function: Callable) -> Callable:
    """A SymPy function applied to a number or to each element of an array."""

    def apply(interpreter: _Interpreter, *args: Any) -> Any:
        if any(isinstance(a, np.ndarray) for a in args):
            return np.vectorize(function, otypes=[object])(*args)
        return function(*args)

    return apply


def _operator(function: Callable) -> Callable:
    return lambda interpreter, *args: function(*(_objects(a) for a in args))


def _objects(value: Any) -> Any:
    """Float arrays as arrays that can hold expressions; integer arrays (indices) as they are."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(object)
    return value


def _decided(choose: Callable) -> Callable:
    """A choice between expressions, decided by their values at the point (as ``max``,
    a comparison or a conditional expression decide when the function runs there)."""

    def apply(interpreter: _Interpreter, *args: Any) -> Any:
        concrete = [_concrete(a, interpreter.point) for a in args]
        if any(isinstance(a, np.ndarray) for a in args):
            args = np.broadcast_arrays(*(np.asarray(_objects(a), dtype=object) for a in args))
            concrete = np.broadcast_arrays(*(np.asarray(c) for c in concrete))
            out = np.empty(args[0].shape, dtype=object)
            for index in np.ndindex(out.shape):
                out[index] = choose([a[index] for a in args], [c[index] for c in concrete])
            return out
        return choose(args, concrete)

    return apply


def _along(reduce: Callable) -> Callable:
    """A reduction of an array of expressions (along an axis, or of all elements)."""

    def apply(interpreter: _Interpreter, x: Any, axis: Any = None, keepdims: Any = False) -> Any:
        return reduce(interpreter, np.asarray(_objects(x), dtype=object), axis, keepdims)

    return apply


def _sum(interpreter, x, axis, keepdims):
    return np.sum(x, axis=axis, keepdims=bool(keepdims)) if axis is not None else sum(x.flat)


def _mean(interpreter, x, axis, keepdims):
    count = x.size if axis is None else x.shape[axis]
    return _sum(interpreter, x, axis, keepdims) / count


def _prod(interpreter, x, axis, keepdims):
    if axis is None:
        return sympy.Mul(*x.flat)
    return np.prod(x, axis=axis, keepdims=bool(keepdims))


def _extremum(pick: Callable) -> Callable:
    def reduce(interpreter, x, axis, keepdims):
        values = _concrete(x, interpreter.point)
        if axis is None:
            return x.flat[int(pick(values))]
        chosen = np.expand_dims(pick(values, axis=axis), axis)
        found = np.take_along_axis(x, chosen, axis=axis)
        return found if keepdims else np.squeeze(found, axis=axis)

    return reduce


def _larger(args, concrete):
    return args[0] if concrete[0] >= concrete[1] else args[1]


def _smaller(args, concrete):
    return args[0] if concrete[0] <= concrete[1] else args[1]


def _clip(args, concrete):
    x, low, high = concrete
    return args[1] if x < low else args[2] if x > high else args[0]


def _select(args, concrete):  # x if y else z
    return args[0] if concrete[1] else args[2]


def _where(args, concrete):  # np.where(x, y, z)
    return args[1] if concrete[0] else args[2]


def _compare(test: Callable) -> Callable:
    return _decided(lambda args, concrete: bool(test(*concrete)))


def _norm(interpreter, x):
    return sympy.sqrt(sum(v**2 for v in np.ravel(_objects(x))))


def _matmul(interpreter, x, y):
    return _objects(x) @ _objects(y)


def _zero_derivative(function: Callable) -> Callable:
    """A function whose derivative is zero where it is defined: its value at the point."""
    return _decided(lambda args, concrete: function(*concrete))


SYMBOLIC: dict[str, Callable] = {
    "add": _operator(lambda x, y: x + y),
    "sub": _operator(lambda x, y: x - y),
    "mul": _operator(lambda x, y: x * y),
    "div": _operator(lambda x, y: x / y),
    "neg": _operator(lambda x: -x),
    "copy": _operator(lambda x: x),
    "pow": _elementwise(lambda x, y: sympy.Pow(x, y)),
    "square": _elementwise(lambda x: x**2),
    "exp": _elementwise(sympy.exp),
    "expm1": _elementwise(lambda x: sympy.exp(x) - 1),
    "log": _elementwise(sympy.log),
    "log1p": _elementwise(lambda x: sympy.log(1 + x)),
    "log2": _elementwise(lambda x: sympy.log(x, 2)),
    "log10": _elementwise(lambda x: sympy.log(x, 10)),
    "sqrt": _elementwise(sympy.sqrt),
    "sin": _elementwise(sympy.sin),
    "cos": _elementwise(sympy.cos),
    "tan": _elementwise(sympy.tan),
    "asin": _elementwise(sympy.asin),
    "acos": _elementwise(sympy.acos),
    "atan": _elementwise(sympy.atan),
    "atan2": _elementwise(sympy.atan2),
    "sinh": _elementwise(sympy.sinh),
    "cosh": _elementwise(sympy.cosh),
    "tanh": _elementwise(sympy.tanh),
    "asinh": _elementwise(sympy.asinh),
    "acosh": _elementwise(sympy.acosh),
    "atanh": _elementwise(sympy.atanh),
    "hypot": _elementwise(lambda x, y: sympy.sqrt(x**2 + y**2)),
    "erf": _elementwise(sympy.erf),
    "erfc": _elementwise(sympy.erfc),
    "abs": _elementwise(sympy.Abs),
    "float": _operator(lambda x: x),
    "max": _decided(_larger),
    "min": _decided(_smaller),
    "clip": _decided(_clip),
    "select": _decided(_select),
    "where": _decided(_where),
    "lt": _compare(lambda x, y: x < y),
    "le": _compare(lambda x, y: x <= y),
    "gt": _compare(lambda x, y: x > y),
    "ge": _compare(lambda x, y: x >= y),
    "eq": _compare(lambda x, y: x == y),
    "ne": _compare(lambda x, y: x != y),
    "sign": _zero_derivative(np.sign),
    "floor": _zero_derivative(math.floor),
    "ceil": _zero_derivative(math.ceil),
    "trunc": _zero_derivative(math.trunc),
    "round": _zero_derivative(round),
    "int": _zero_derivative(int),
    "isnan": _zero_derivative(math.isnan),
    "isinf": _zero_derivative(math.isinf),
    "isfinite": _zero_derivative(math.isfinite),
    "sum": _along(_sum),
    "sum_axis": _along(_sum),
    "mean": _along(_mean),
    "mean_axis": _along(_mean),
    "prod": _along(_prod),
    "prod_axis": _along(_prod),
    "amax": _along(_extremum(np.argmax)),
    "amax_axis": _along(_extremum(np.argmax)),
    "amin": _along(_extremum(np.argmin)),
    "amin_axis": _along(_extremum(np.argmin)),
    "norm": _norm,
    "matmul": _matmul,
    "outer": _operator(np.multiply.outer),
    "inner": _operator(np.inner),
    "transpose": _operator(np.transpose),
    "trace": _operator(lambda x: sum(np.diagonal(x))),
    "reshape": _operator(np.reshape),
    "ravel": _operator(np.ravel),
    "expand_dims": _operator(np.expand_dims),
    "concatenate": _operator(lambda x, y, axis: np.concatenate((x, y), axis=axis)),
    "array_copy": _operator(np.copy),
    "index1": _operator(lambda x, i: x[_as_index(i)]),
    "index2": _operator(lambda x, i, j: x[_as_index(i), _as_index(j)]),
    "index3": _operator(lambda x, i, j, k: x[_as_index(i), _as_index(j), _as_index(k)]),
}
for _name in ("at1", "at2", "at3"):  # element reads inside loops: the same as indexing
    SYMBOLIC[_name] = SYMBOLIC["index" + _name[-1]]
