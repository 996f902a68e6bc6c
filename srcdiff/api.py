"""The public API of reverse mode: ``grad`` and ``value_and_grad``.

Each returns a function with ``f``'s signature; the machinery behind it is in
``gradient.py``, and forward mode (``jvp``, ``hessian``, ...) in ``forward_api.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from .forward_api import gradient_of_gradient
from .gradient import Backend, Gradient, Wrt


def grad(
    f: Callable | None = None,
    *,
    wrt: Wrt = 0,
    jit: bool | None = None,
    backend: Backend = "auto",
    optimize: bool = True,
) -> Callable:
    """The gradient of ``f`` with respect to the argument(s) ``wrt``.

    Usable as ``@grad``, ``@grad(wrt=(0, 1))`` or ``grad(f, wrt="x")``. The result has
    ``f``'s signature and returns a float (or an array like the argument) for one
    argument, a tuple for a tuple ``wrt``.

    ``backend="auto"`` compiles loop and scalar code with Numba and runs whole-array code
    as plain Python on NumPy (faster there); ``"numba"`` or ``"numpy"`` forces one. With
    Numba, ``jit=None`` falls back to Python with a warning if Numba cannot compile;
    ``jit=True`` requires Numba; ``jit=False`` runs plain Python.

    An argument may be a container of parameters: a dict, list or tuple (nested), a
    NamedTuple or a dataclass instance, of floats and arrays, ``loss(params, X, y)`` with
    ``params = {"W1": W1, "b1": b1}`` or a list of ``(W, b)`` layers. ``wrt`` names whole
    arguments; the gradient of a container comes back in its shape (a dict for a dict, a
    list for a list, a NamedTuple or dataclass of the same type), with a float or array at
    each float leaf and ``None`` at every other one (ints, int arrays, strings, ``None``):
    they are passed through, not differentiated. Each structure (types, keys, lengths)
    gets a variant of its own, made at the first call with it.

    ``f`` may be a bound method, ``grad(model.loss)``: the numbers, arrays and containers
    of the instance that it reads (``self.W``) are inputs, read at each call.
    ``wrt="self"`` differentiates them; the gradient is then a dict from attribute name to
    gradient (a dataclass instance gives a dataclass). Positions count the method's own
    parameters (``wrt=0`` is the first after ``self``). ``grad(Model.loss)`` takes the
    instance as its first argument, like any other container.

    ``f`` may itself be a gradient of a number, ``grad(grad(g))``: the second derivative
    (or, with another ``wrt``, a mixed one), by reverse mode over forward mode.

    ``optimize=False`` skips the optimization passes, leaving the adjoint as the reverse
    transformation wrote it (for reading and debugging the transformation).
    """
    if f is None:
        return functools.partial(grad, wrt=wrt, jit=jit, backend=backend, optimize=optimize)
    if hasattr(f, "__srcdiff__"):  # the gradient of a gradient
        return gradient_of_gradient(f.__srcdiff__, wrt, backend)
    return Gradient(f, wrt, jit, backend, with_value=False, optimize=optimize).function


def value_and_grad(
    f: Callable | None = None,
    *,
    wrt: Wrt = 0,
    jit: bool | None = None,
    backend: Backend = "auto",
    optimize: bool = True,
) -> Callable:
    """Like ``grad``, but returns ``(f(*args), gradient)``."""
    if f is None:
        return functools.partial(
            value_and_grad, wrt=wrt, jit=jit, backend=backend, optimize=optimize
        )
    return Gradient(f, wrt, jit, backend, with_value=True, optimize=optimize).function
