"""The forward-mode API: ``jvp``, ``derivative`` and ``jacobian``.

``jvp(f, wrt)`` generates, per combination of argument kinds, a tangent function (see
``forward.py``) that computes ``f``'s value and its derivative along a tangent in one
pass; ``.source`` shows it. ``derivative`` and ``jacobian`` are built on it (and, for a
Jacobian with one output, on ``grad``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .api import (
    Backend,
    Wrt,
    _as_differentiable,
    _differentiable_kind,
    _kind_of,
    guessed_kinds,
)
from .errors import SrcdiffError
from .jit import CompiledAdjoint
from .normalize import normalize_program
from .transform import generate, generate_second_order, generate_tangent


class Jvp:
    """``f``'s value and directional derivative: ``jvp(*args, tangent)``."""

    def __init__(
        self, f: Callable, wrt: Wrt, jit: bool | None, backend: Backend, optimize: bool = True
    ):
        if backend not in ("auto", "numba", "numpy"):
            raise SrcdiffError(f"backend must be 'auto', 'numba' or 'numpy', not {backend!r}")
        self.f, self._jit, self._backend, self._optimize = f, jit, backend, optimize
        self.__name__ = getattr(f, "__name__", "f")
        self._program = normalize_program(f)
        self._params = list(inspect.signature(f).parameters)
        self._wrt_tuple = isinstance(wrt, tuple)
        self._positions = [self._position(w) for w in (wrt if self._wrt_tuple else (wrt,))]
        self._variants: dict[tuple[str, ...], CompiledAdjoint] = {}
        self._latest: CompiledAdjoint | None = None

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
            params = self._program.main.ir.params
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
        if variant.backend == "numba":
            primal = [_float64(a) for a in primal]
        found = variant.call(*primal, *tangents)
        results = self._program.main.n_results
        if results == 1:
            return found
        return tuple(found[:results]), tuple(found[results:])  # f returns a tuple

    def _variant(self, kinds: tuple[str, ...]) -> CompiledAdjoint:
        if kinds not in self._variants:
            params = self._program.main.ir.params
            wrt = tuple(params[p] for p in self._positions)
            module = generate_tangent(
                self._program,
                wrt,
                dict(zip(params, kinds, strict=True)),
                optimized=self._optimize,
                backend=self._backend,
            )
            self._variants[kinds] = CompiledAdjoint.of(module, self._jit, self.__name__)
        self._latest = self._variants[kinds]
        return self._latest


def _prepared(args, params: list[str], varied: set[int]) -> tuple[list, tuple[str, ...]]:
    """The arguments, those at the ``varied`` positions as floats (or float arrays), and
    their kinds: what picks the generated variant."""
    primal = [_as_differentiable(a) if i in varied else a for i, a in enumerate(args)]
    kinds = tuple(
        _differentiable_kind(_kind_of(a, p)) if i in varied else _kind_of(a, p)
        for i, (a, p) in enumerate(zip(primal, params, strict=True))
    )
    return primal, kinds


def _tangent_like(tangent: Any, value: Any, backend: str) -> Any:
    if not isinstance(value, np.ndarray) and np.ndim(tangent):
        raise SrcdiffError(f"a tangent of shape {np.shape(tangent)} for a number")
    if isinstance(value, np.ndarray):
        dtype = np.float64 if backend == "numba" else value.dtype
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
    return df


def jacobian(
    f: Callable,
    wrt: int | str = 0,
    *,
    mode: Literal["forward", "reverse"] | None = None,
    jit: bool | None = None,
    backend: Backend = "auto",
) -> Callable:
    """The function returning the Jacobian of ``f`` with respect to argument ``wrt``, of
    shape ``result.shape + wrt.shape``. ``mode="forward"`` builds it a column at a time
    (one tangent per input element), ``"reverse"`` a row at a time (one vector-Jacobian
    product per output element); without ``mode``, whichever takes fewer passes."""
    if mode not in (None, "forward", "reverse"):
        raise SrcdiffError(f"mode must be 'forward' or 'reverse', not {mode!r}")
    columns = Jvp(f, wrt, jit, backend)
    rows = _Rows(f, wrt, jit, backend)

    def jac(*args: Any) -> Any:
        x = args[columns._positions[0]]
        result = f(*args)
        chosen = mode or ("reverse" if np.size(result) < np.size(x) else "forward")
        if chosen == "reverse":
            found = [rows(args, seed) for seed in _units(np.shape(result))]
            shape = np.shape(result)
        else:
            found = [columns(*args, tangent)[1] for tangent in _units(np.shape(x))]
            shape = np.shape(x)
        stacked = np.stack([np.asarray(v, dtype=float) for v in found])
        if chosen == "reverse":  # rows: one per result element
            return stacked.reshape(*shape, *np.shape(x)) if shape else stacked[0]
        moved = np.moveaxis(stacked, 0, -1)  # columns: one per input element
        return moved.reshape(*np.shape(result), *shape) if shape else moved[..., 0]

    return jac


def _units(shape: tuple[int, ...]):
    """The unit tangents (or seeds) of an array of ``shape``; 1.0 for a number."""
    if not shape:
        yield 1.0
        return
    for index in np.ndindex(shape):
        unit = np.zeros(shape)
        unit[index] = 1.0
        yield unit


class _Rows:
    """Vector-Jacobian products of a function that may return an array: the adjoint with
    an array seed."""

    def __init__(self, f: Callable, wrt: int | str, jit: bool | None, backend: Backend):
        self._jvp = Jvp(f, wrt, jit, backend)  # for the parameters and the position
        self._jit, self._backend = jit, backend
        self._variants: dict[tuple[str, ...], CompiledAdjoint] = {}

    def __call__(self, args: tuple, seed: Any) -> Any:
        position = self._jvp._positions[0]
        primal, kinds = _prepared(args, self._jvp._params, {position})
        if kinds not in self._variants:
            program = self._jvp._program
            names = program.main.ir.params
            module = generate(
                program, (names[position],), dict(zip(names, kinds, strict=True)), "grad",
                False, backend=self._backend, array_result=True,
            )  # fmt: skip
            self._variants[kinds] = CompiledAdjoint.of(module, self._jit, self._jvp.__name__)
        variant = self._variants[kinds]
        if variant.backend == "numba":
            primal = [_float64(a) for a in primal]
        return variant.call(*primal, seed)


# --- second order: reverse mode over forward mode ----------------------------------------------
class SecondOrder:
    """The gradient, with respect to ``wrt``, of ``f``'s derivative along a direction for
    parameter ``direction``: generated by differentiating ``f``'s tangent function again."""

    def __init__(self, f: Callable, wrt: Wrt, direction: int | str, backend: Backend):
        self.f, self._backend = f, backend
        self._jvp = Jvp(f, direction, None, backend)  # for its parameters and positions
        self._direction = self._jvp._positions[0]
        self._wrt_tuple = isinstance(wrt, tuple)
        self._positions = [self._jvp._position(w) for w in (wrt if self._wrt_tuple else (wrt,))]
        self._variants: dict[tuple[str, ...], CompiledAdjoint] = {}
        self.source = ""

    def __call__(self, *args: Any) -> Any:
        """``(*f_args, direction)``: the gradient of ``<grad f, direction>``."""
        *primal, direction = args
        varied = {*self._positions, self._direction}
        primal, kinds = _prepared(primal, self._jvp._params, varied)
        variant = self._variant(kinds)
        direction = _tangent_like(direction, primal[self._direction], variant.backend)
        if variant.backend == "numba":
            primal = [_float64(a) for a in primal]
        return variant.call(*primal, direction)

    def _variant(self, kinds: tuple[str, ...]) -> CompiledAdjoint:
        if kinds not in self._variants:
            program = self._jvp._program
            names = program.main.ir.params
            module = generate_second_order(
                program,
                tuple(names[p] for p in self._positions),
                names[self._direction],
                dict(zip(names, kinds, strict=True)),
                self._wrt_tuple,
                backend=self._backend,
            )
            self._variants[kinds] = CompiledAdjoint.of(module, None, self._jvp.__name__)
        self.source = self._variants[kinds].source
        return self._variants[kinds]


def hvp(f: Callable, wrt: int | str = 0, *, backend: Backend = "auto") -> Callable:
    """The Hessian-vector product: ``hvp(f, wrt)(*args, v)`` is H v, H the Hessian of ``f``
    with respect to argument ``wrt`` (shaped like it), without forming H: reverse mode over
    the forward-mode derivative along v."""
    second = SecondOrder(f, wrt, wrt, backend)

    def product(*args: Any) -> Any:
        return second(*args)

    product.second_order = second  # type: ignore[attr-defined]
    return product


def hessian(f: Callable, wrt: int | str = 0, *, backend: Backend = "auto") -> Callable:
    """The Hessian of ``f`` with respect to argument ``wrt``, of shape ``x.shape + x.shape``
    (a number for a number): one Hessian-vector product per element of x."""
    second = SecondOrder(f, wrt, wrt, backend)

    def hess(*args: Any) -> Any:
        x = args[second._direction]
        if not np.ndim(x):
            return second(*args, 1.0)
        rows = []
        for index in np.ndindex(np.shape(x)):
            e = np.zeros(np.shape(x))
            e[index] = 1.0
            rows.append(np.asarray(second(*args, e), dtype=float))
        return np.stack(rows).reshape(*np.shape(x), *np.shape(x))

    return hess


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
    return second_derivative
