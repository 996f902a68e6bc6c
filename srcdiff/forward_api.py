"""The forward-mode API: ``jvp``, ``derivative`` and ``jacobian``.

``jvp(f, wrt)`` generates, per combination of argument kinds, a tangent function (see
``forward.py``) that computes ``f``'s value and its derivative along a tangent in one
pass; ``.source`` shows it. ``derivative`` and ``jacobian`` are built on it (and, for a
Jacobian with one output, on ``grad``).

Each returned object pickles as the call that made it, ``f`` by reference, as gradients do.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from . import backends, custom
from .backends import check_request
from .errors import SrcdiffError
from .frontend import takes_containers
from .gradient import (
    Backend,
    Wrt,
    _as_differentiable,
    _kind_of,
    _rebuilt,
    _reference,
    guessed_kinds,
)
from .jit import CompiledAdjoint
from .kind import Kind
from .normalize.program import Program
from .normalize.statements import normalize_program
from .transform import generate, generate_second_order, generate_tangent


def _normalized(f: Callable) -> Program:
    """``f``'s program; forward mode does not take containers apart (``structures``)."""
    try:
        return normalize_program(f)
    except SrcdiffError as err:
        if takes_containers(f):
            raise SrcdiffError(
                f"{err}; forward mode takes numbers and arrays, not containers of them: "
                "grad and value_and_grad take dicts, lists, tuples and dataclasses of parameters"
            ) from None
        raise


class Jvp:
    """``f``'s value and directional derivative: ``jvp(*args, tangent)``."""

    def __init__(
        self, f: Callable, wrt: Wrt, jit: bool | None, backend: Backend, optimize: bool = True
    ):
        check_request(backend)
        self.f, self._jit, self._backend, self._optimize = f, jit, backend, optimize
        self.__name__ = getattr(f, "__name__", "f")
        self._program = _normalized(f)
        self._params = list(inspect.signature(f).parameters)
        self._wrt_tuple = isinstance(wrt, tuple)
        self._positions = self._positions_of(wrt)
        self._variants: dict[tuple[Kind, ...], CompiledAdjoint] = {}
        self._latest: CompiledAdjoint | None = None

    def __reduce__(self) -> tuple:
        """Pickled as ``f`` by reference and the options, made again once per process."""
        wrt = tuple(self._positions) if self._wrt_tuple else self._positions[0]
        options = (wrt, self._jit, self._backend, self._optimize)
        return _rebuilt, (Jvp, _reference(self.f, "jvp"), *options)

    def _positions_of(self, wrt: Wrt) -> list[int]:
        positions = [self._position(w) for w in (wrt if isinstance(wrt, tuple) else (wrt,))]
        if len(set(positions)) < len(positions):
            raise SrcdiffError(f"wrt={wrt!r} names a parameter of {self.__name__} twice")
        return positions

    def _position(self, w: int | str) -> int:
        if isinstance(w, str):
            if w not in self._params:
                raise SrcdiffError(f"{self.__name__} has no parameter {w!r}")
            return self._params.index(w)
        if not -len(self._params) <= w < len(self._params):
            raise SrcdiffError(f"{self.__name__} has no parameter at position {w}")
        return w % len(self._params)

    @property
    def source(self) -> str:
        """The generated tangent function: for the argument kinds of the latest call
        (before any call: as guessed from annotations and usage)."""
        if self._latest is None:
            params = self._program.params
            wrt = tuple(params[p] for p in self._positions)
            signature = inspect.signature(self.f)
            self._variant(guessed_kinds(self._program, signature, wrt))
        return self._latest.source

    def __call__(self, *args: Any) -> tuple[Any, Any]:
        if len(args) != len(self._params) + 1:
            raise SrcdiffError(
                f"{self.__name__}'s jvp takes its {len(self._params)} arguments, then the tangent"
            )
        *primal, tangent = args
        if self._wrt_tuple and not isinstance(tangent, (tuple, list)):
            raise SrcdiffError(f"a tuple of {len(self._positions)} tangents expected, one per wrt")
        tangents = tuple(tangent) if self._wrt_tuple else (tangent,)
        if len(tangents) != len(self._positions):
            raise SrcdiffError(f"{len(self._positions)} tangents expected, one per wrt")
        primal, kinds = _prepared(primal, self._params, set(self._positions))
        variant = self._variant(kinds)
        tangents = [
            _tangent_like(t, primal[p], variant.backend)
            for t, p in zip(tangents, self._positions, strict=True)
        ]
        if variant.backend.widens_float32:
            primal = [_float64(a) for a in primal]
        found = variant.call(*primal, *tangents)
        results = self._program.main.n_results
        if results == 1:
            return found
        return tuple(found[:results]), tuple(found[results:])  # f returns a tuple

    def _variant(self, kinds: tuple[Kind, ...]) -> CompiledAdjoint:
        if kinds not in self._variants:
            params = self._program.params
            wrt = tuple(params[p] for p in self._positions)
            module = generate_tangent(
                self._program,
                wrt,
                dict(zip(params, kinds, strict=True)),
                optimized=self._optimize,
                backend=self._backend,
            )
            self._variants[kinds] = module.backend.compile(module, self._jit, self.__name__)
        self._latest = self._variants[kinds]
        return self._latest


class _Made:
    """What ``derivative``, ``jacobian``, ``hvp``, ``hessian`` and ``grad`` of a gradient
    return: their function, which pickles as the call that made it (``f`` by reference)
    and is made again once per process. Calls and attributes (``.source``) go to it."""

    def __init__(self, function: Callable, make: Callable, f: Callable, *args, **options):
        self._function = function
        self._made_by = (make, f, args, tuple(options.items()))

    def __call__(self, *args: Any) -> Any:
        return self._function(*args)

    def __getattr__(self, name: str) -> Any:
        if name == "_function":  # not yet set
            raise AttributeError(name)
        return getattr(self._function, name)

    def __reduce__(self) -> tuple:
        make, f, args, options = self._made_by
        return _rebuilt, (_remade, make, _reference(f, make.__name__), args, options)

    def __repr__(self) -> str:
        make, f, _, _ = self._made_by
        return f"<srcdiff.{make.__name__} of {getattr(f, '__srcdiff__', f.__qualname__)}>"


def _remade(make: Callable, f: Callable, args: tuple, options: tuple) -> _Made:
    return make(f, *args, **dict(options))


def _prepared(args, params: list[str], varied: set[int]) -> tuple[list, tuple[Kind, ...]]:
    """The arguments, those at the ``varied`` positions as floats (or float arrays), and
    their kinds: what picks the generated variant."""
    primal = [_as_differentiable(a) if i in varied else a for i, a in enumerate(args)]
    kinds = tuple(
        _kind_of(a, p).differentiable() if i in varied else _kind_of(a, p)
        for i, (a, p) in enumerate(zip(primal, params, strict=True))
    )
    return primal, kinds


def _tangent_like(tangent: Any, value: Any, backend: backends.Backend) -> Any:
    if not isinstance(value, np.ndarray) and np.ndim(tangent):
        raise SrcdiffError(f"a tangent of shape {np.shape(tangent)} for a number")
    if isinstance(value, np.ndarray):
        dtype = np.float64 if backend.widens_float32 else value.dtype
        found = np.asarray(tangent, dtype=dtype)
        if found.shape != value.shape:
            raise SrcdiffError(f"a tangent of shape {found.shape} for an array of {value.shape}")
        return found
    return float(tangent)


def _float64(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.dtype != np.float64:
        return value.astype(np.float64)
    return value


def jvp(
    f: Callable,
    *,
    wrt: Wrt = 0,
    jit: bool | None = None,
    backend: Backend = "auto",
    optimize: bool = True,
) -> Jvp:
    """Forward mode: ``jvp(f, wrt=0)(*args, tangent)`` returns ``(f(*args), d)``, where d
    is the derivative of ``f`` at ``args`` along ``tangent`` (a number or an array shaped
    like the ``wrt`` argument; a tuple of them for a tuple ``wrt``). One pass computes both,
    through generated code (``.source``) that follows each statement by its tangent. For
    ``f`` returning a tuple, both are tuples."""
    return Jvp(f, wrt, jit, backend, optimize)


def derivative(
    f: Callable, wrt: int | str = 0, *, jit: bool | None = None, backend: Backend = "auto"
) -> Callable:
    """For ``f`` of a number (argument ``wrt``): the function returning df/dwrt at its
    arguments, of ``f``'s result's shape."""
    tangent_fn = Jvp(f, wrt, jit, backend)

    def df(*args: Any) -> Any:
        position = tangent_fn._positions[0]
        if isinstance(args[position], np.ndarray):
            raise SrcdiffError("derivative is for a number argument; use jacobian for arrays")
        result = tangent_fn(*args, 1.0)[1]
        df.source = tangent_fn.source  # type: ignore[attr-defined]
        return result

    df.source = ""  # type: ignore[attr-defined]  (the tangent function, after a call)
    return _Made(df, derivative, f, wrt, jit=jit, backend=backend)


def jacobian(
    f: Callable,
    wrt: Wrt = 0,
    *,
    mode: Literal["forward", "reverse"] | None = None,
    jit: bool | None = None,
    backend: Backend = "auto",
) -> Callable:
    """The function returning the Jacobian of ``f`` with respect to argument ``wrt``, of
    shape ``result.shape + wrt.shape`` (a float for a number of a number).
    ``mode="forward"`` builds it a column at a time (one tangent per input element),
    ``"reverse"`` a row at a time (one vector-Jacobian product per output element, the
    adjoint seeded with a unit vector); without ``mode``, whichever takes fewer passes.
    Both modes return the same structure.

    As ``jax.jacfwd`` and ``jax.jacrev`` do: for ``f`` returning a tuple, a tuple of
    Jacobians, one per result, of shape ``result_i.shape + wrt.shape``; for a tuple
    ``wrt``, a tuple of Jacobians, one per argument in ``wrt``. With both,
    ``jac(*args)[i][j]`` is the Jacobian of result i with respect to ``args[wrt[j]]``."""
    if mode not in (None, "forward", "reverse"):
        raise SrcdiffError(f"mode must be 'forward' or 'reverse', not {mode!r}")
    wrt_tuple = isinstance(wrt, tuple)
    rows = _Rows(f, wrt, jit, backend)
    columns = [Jvp(f, w, jit, backend) for w in (wrt if wrt_tuple else (wrt,))]
    several = rows.n_results > 1

    def jac(*args: Any) -> Any:
        n = len(rows.params)
        _check_count(args, n, f"{rows.name}'s jacobian takes its {n} arguments")
        result = f(*args)
        outputs = tuple(result) if several else (result,)
        inputs = [args[p] for p in rows.positions]
        reverse_passes = sum(np.size(out) for out in outputs)
        chosen = mode or ("reverse" if reverse_passes < sum(map(np.size, inputs)) else "forward")
        if chosen == "reverse":
            blocks = _jacobian_by_rows(rows, args, outputs)
        else:
            blocks = _jacobian_by_columns(columns, args, outputs, several)
        per_result = [tuple(row) if wrt_tuple else row[0] for row in blocks]
        return tuple(per_result) if several else per_result[0]

    return _Made(jac, jacobian, f, wrt, mode=mode, jit=jit, backend=backend)


def _jacobian_by_rows(rows: _Rows, args: tuple, outputs: tuple) -> list[list[Any]]:
    """``blocks[i][j]``, the Jacobian of result i with respect to wrt j: a vector-Jacobian
    product per element of result i, every other result seeded with zeros."""
    blocks = []
    for i, out in enumerate(outputs):
        grads = []
        for unit in _units(np.shape(out)):
            seeds = [unit if k == i else _zeros(np.shape(o)) for k, o in enumerate(outputs)]
            grads.append(rows(args, seeds))
        blocks.append(
            [
                _stacked([g[j] for g in grads], np.shape(out), np.shape(args[p]), rows=True)
                for j, p in enumerate(rows.positions)
            ]
        )
    return blocks


def _jacobian_by_columns(
    columns: list[Jvp], args: tuple, outputs: tuple, several: bool
) -> list[list[Any]]:
    """``blocks[i][j]``: a tangent per element of wrt j gives a column of every result's
    Jacobian."""
    by_input = []
    for column in columns:
        shape = np.shape(args[column._positions[0]])
        tangents = [column(*args, unit)[1] for unit in _units(shape)]
        tangents = tangents if several else [(t,) for t in tangents]
        by_input.append(
            [
                _stacked([t[i] for t in tangents], np.shape(out), shape, rows=False)
                for i, out in enumerate(outputs)
            ]
        )
    return [list(blocks) for blocks in zip(*by_input, strict=True)]


def _stacked(parts: list, out_shape: tuple, in_shape: tuple, rows: bool) -> Any:
    """Rows (one per element of the result, shaped like the argument) or columns (one per
    element of the argument, shaped like the result) as one array of shape ``out_shape +
    in_shape``; a float where both are numbers."""
    if not parts:  # an empty array
        return np.zeros(out_shape + in_shape)
    each = in_shape if rows else out_shape
    # a derivative that does not depend on the input can come back as a scalar 0.0
    stacked = np.stack([np.broadcast_to(np.asarray(p, dtype=float), each) for p in parts])
    found = (stacked if rows else np.moveaxis(stacked, 0, -1)).reshape(out_shape + in_shape)
    return float(found) if found.ndim == 0 else found


def _units(shape: tuple[int, ...]):
    """The unit tangents (or seeds) of an array of ``shape``; 1.0 for a number."""
    if not shape:
        yield 1.0
        return
    for index in np.ndindex(shape):
        unit = np.zeros(shape)
        unit[index] = 1.0
        yield unit


def _zeros(shape: tuple[int, ...]) -> Any:
    return np.zeros(shape) if shape else 0.0


def _check_count(args: tuple, expected: int, message: str) -> None:
    if len(args) != expected:
        raise SrcdiffError(message)


class _Rows:
    """Vector-Jacobian products of ``f``, which may return an array or a tuple of numbers
    and arrays: its adjoint, given one seed per result, shaped like it. The adjoint's
    seeds default to 1.0 (the seed of a gradient), so every one is passed: a missing seed
    would add the whole of its result into every row."""

    def __init__(self, f: Callable, wrt: Wrt, jit: bool | None, backend: Backend):
        self._jvp = Jvp(f, wrt, jit, backend)  # for the parameters and the positions
        self.name, self.params, self.positions = f.__name__, self._jvp._params, self._jvp._positions
        self.n_results = self._jvp._program.main.n_results
        self._jit, self._backend = jit, backend
        self._variants: dict[tuple[Kind, ...], CompiledAdjoint] = {}

    def __call__(self, args: tuple, seeds: list) -> tuple:
        """The gradients, one per ``wrt``, of the sum over the results of ``<seed, result>``."""
        assert len(seeds) == self.n_results
        primal, kinds = _prepared(args, self.params, set(self.positions))
        if kinds not in self._variants:
            program = self._jvp._program
            names = program.params
            module = generate(
                program, tuple(names[p] for p in self.positions),
                dict(zip(names, kinds, strict=True)), "grad", True, backend=self._backend,
                array_result=True,
            )  # fmt: skip
            self._variants[kinds] = module.backend.compile(module, self._jit, self.name)
        variant = self._variants[kinds]
        if variant.backend.widens_float32:
            primal = [_float64(a) for a in primal]
        return variant.call(*primal, *seeds)


# --- second order: reverse mode over forward mode ----------------------------------------------
class SecondOrder:
    """The gradient, with respect to ``wrt``, of ``f``'s derivative along a direction for
    parameter ``direction``: generated by differentiating ``f``'s tangent function again.
    For a unit direction, a column of the Hessian: of every block ``wrt`` has with it."""

    def __init__(self, f: Callable, wrt: Wrt, direction: int | str, backend: Backend):
        self.f, self._backend = f, backend
        self._jvp = Jvp(f, direction, None, backend)  # for its parameters and positions
        self._direction = self._jvp._positions[0]
        main = self._jvp._program.main
        if main.n_results != 1:  # the adjoint would differentiate the sum of the results
            ret = main.ir.body[-1]
            raise (ret.loc.error if ret.loc else SrcdiffError)(
                f"{self._jvp.__name__} returns {main.n_results} values; second derivatives "
                "need a single number"
            )
        self._wrt_tuple = isinstance(wrt, tuple)
        self._positions = self._jvp._positions_of(wrt)
        self._variants: dict[tuple[Kind, ...], CompiledAdjoint] = {}
        self.source = ""

    def __call__(self, *args: Any) -> Any:
        """``(*f_args, direction)``: the gradient of ``<grad f, direction>``."""
        *primal, direction = args
        varied = {*self._positions, self._direction}
        primal, kinds = _prepared(primal, self._jvp._params, varied)
        variant = self._variant(kinds)
        direction = _tangent_like(direction, primal[self._direction], variant.backend)
        if variant.backend.widens_float32:
            primal = [_float64(a) for a in primal]
        return variant.call(*primal, direction)

    def _variant(self, kinds: tuple[Kind, ...]) -> CompiledAdjoint:
        if kinds not in self._variants:
            program = self._jvp._program
            names = program.params
            module = generate_second_order(
                program,
                tuple(names[p] for p in self._positions),
                names[self._direction],
                dict(zip(names, kinds, strict=True)),
                self._wrt_tuple,
                backend=self._backend,
            )
            self._variants[kinds] = module.backend.compile(module, None, self._jvp.__name__)
        self.source = self._variants[kinds].source
        return self._variants[kinds]


custom.SECOND_ORDER = SecondOrder


def hvp(f: Callable, wrt: Wrt = 0, *, backend: Backend = "auto") -> Callable:
    """The Hessian-vector product: ``hvp(f, wrt)(*args, v)`` is H v, H the Hessian of ``f``
    with respect to argument ``wrt`` (shaped like it), without forming H: reverse mode over
    the forward-mode derivative along v.

    For a tuple ``wrt``, as JAX's ``hvp`` of a tuple of primals: ``v`` is a tuple of
    vectors, one per argument in ``wrt`` and shaped like it, and so is H v, by blocks:
    its part i is ``sum_j H[i][j] v[j]`` for ``H = hessian(f, wrt)(*args)``. That takes
    one reverse-over-forward pass per argument in ``wrt`` (each differentiates the
    derivative along one ``v[j]``)."""
    if not isinstance(wrt, tuple):
        second = SecondOrder(f, wrt, wrt, backend)

        def product(*args: Any) -> Any:
            n = len(second._jvp._params)
            what = f"{second._jvp.__name__}'s hvp takes its {n} arguments, then the vector"
            _check_count(args, n + 1, what)
            return second(*args)

        product.second_order = second  # type: ignore[attr-defined]
        return _Made(product, hvp, f, wrt, backend=backend)

    seconds = [SecondOrder(f, wrt, w, backend) for w in wrt]

    def products(*args: Any) -> tuple:
        n = len(seconds[0]._jvp._params)
        what = f"{seconds[0]._jvp.__name__}'s hvp takes its {n} arguments, then the vectors"
        _check_count(args, n + 1, what)
        *primal, vectors = args
        if not isinstance(vectors, (tuple, list)) or len(vectors) != len(seconds):
            raise SrcdiffError(
                f"hvp with wrt={wrt!r} takes a tuple of {len(seconds)} vectors, one per wrt"
            )
        columns = [second(*primal, v) for second, v in zip(seconds, vectors, strict=True)]
        return tuple(sum(parts[1:], parts[0]) for parts in zip(*columns, strict=True))

    return _Made(products, hvp, f, wrt, backend=backend)


def hessian(f: Callable, wrt: Wrt = 0, *, backend: Backend = "auto") -> Callable:
    """The Hessian of ``f`` with respect to argument ``wrt``, of shape ``x.shape + x.shape``
    (a float for a number): one Hessian-vector product per element of x.

    For a tuple ``wrt``, its blocks, as ``jax.hessian(f, argnums=wrt)`` gives them: a tuple
    of tuples, block ``[i][j]`` holding the second derivatives with respect to
    ``args[wrt[i]]`` and ``args[wrt[j]]``, of shape ``args[wrt[i]].shape +
    args[wrt[j]].shape`` (a float for two numbers). A pass along one element of one
    argument differentiates with respect to all of them, so it gives a column of every
    block in its column: as many passes as the arguments in ``wrt`` have elements."""
    items = wrt if isinstance(wrt, tuple) else (wrt,)
    seconds = [SecondOrder(f, tuple(items), w, backend) for w in items]

    def hess(*args: Any) -> Any:
        n = len(seconds[0]._jvp._params)
        _check_count(args, n, f"{seconds[0]._jvp.__name__}'s hessian takes its {n} arguments")
        shapes = [np.shape(args[p]) for p in seconds[0]._positions]
        blocks: list[list[Any]] = [[None] * len(shapes) for _ in shapes]
        for j, second in enumerate(seconds):
            columns = [second(*args, unit) for unit in _units(shapes[j])]
            for i, shape in enumerate(shapes):
                blocks[i][j] = _stacked([c[i] for c in columns], shape, shapes[j], rows=False)
        if isinstance(wrt, tuple):
            return tuple(tuple(row) for row in blocks)
        return blocks[0][0]

    return _Made(hess, hessian, f, wrt, backend=backend)


def gradient_of_gradient(inner: Any, wrt: Wrt, backend: Backend) -> Callable:
    """``grad(grad(f, wrt=x), wrt)``: the gradient of df/dx, which must be a number."""
    if inner._wrt_tuple or inner._with_value:
        raise SrcdiffError(
            "grad of a gradient needs a gradient of one number (grad(f, wrt=x)); "
            "for more, use srcdiff.hessian or srcdiff.hvp"
        )
    second = SecondOrder(inner.f, wrt, inner.wrt, backend)

    def second_derivative(*args: Any) -> Any:
        if isinstance(args[second._direction], np.ndarray):
            raise SrcdiffError(
                f"grad of a gradient needs {inner.wrt} to be a number; for an array, "
                "use srcdiff.hessian or srcdiff.hvp"
            )
        result = second(*args, 1.0)
        second_derivative.source = second.source  # type: ignore[attr-defined]
        return result

    second_derivative.source = ""  # type: ignore[attr-defined]
    return _Made(second_derivative, _grad_of_gradient, inner.function, wrt=wrt, backend=backend)


def _grad_of_gradient(gradient: Callable, wrt: Wrt, backend: Backend) -> Callable:
    """``grad(gradient, wrt=wrt)``, as a pickled gradient of a gradient is made again."""
    return gradient_of_gradient(gradient.__srcdiff__, wrt, backend)
