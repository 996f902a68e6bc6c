"""Optimizers for training with srcdiff gradients, and weight initialisers.

An optimizer holds parameters (a tuple of arrays, or any container of them: a dict, a
list of layers, a dataclass) and updates them in place from gradients of the same shape
(what ``srcdiff.grad`` returns for them):

    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    loss_and_grad = srcdiff.value_and_grad(loss)  # loss(params, X, Y)
    opt = srcdiff.optim.Adam(params, lr=1e-3)
    for X, Y in batches:
        loss, grads = loss_and_grad(params, X, Y)
        opt.step(grads)

Arrays of floats are updated in place. A float leaf (``{"scale": 0.5}``) is replaced in its
container, which must then be mutable (a dict, a list, a dataclass that is not frozen, an
object's attribute): a float in a tuple or NamedTuple cannot change, and the optimizer
refuses it when made (hold it in a 0-d array, ``np.array(0.5)``, or in a list or dict).
Ints, int arrays, strings and None are left as they are.

The formulas are PyTorch's (``torch.optim.SGD`` with ``momentum``, ``nesterov`` and
``weight_decay``; ``torch.optim.Adam``). Each update is one Numba loop over the array, in
place: NumPy would take five to nine passes (and temporaries) for Adam's.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import SrcdiffError
from .numba_cache import njit
from .pytrees import is_container, items


class Optimizer:
    """Parameters updated in place, one state array (or two) per parameter.

    ``params`` is a container of parameters (a tuple or list of arrays, a dict, nested
    containers, NamedTuples, dataclasses, an object's attributes: ``pytrees``) and
    ``step`` takes gradients in the same shape, what ``srcdiff.grad`` returns for it.
    Arrays of floats are updated in place. A float is replaced in its container, which
    must then be mutable (a dict, a list, a dataclass that is not frozen, an object): one
    in a tuple or NamedTuple cannot change, and is an error here (hold it in a 0-d
    array, ``np.array(0.5)``, or in a list or dict). Other leaves (ints, int arrays,
    strings, None) are left alone."""

    def __init__(self, params: object, lr: float):
        self.params = params
        self.slots = _slots(params, "")  # (where, container, key, value) of each float leaf
        # and how to find its gradient: (key, whether by attribute) from the top, kept
        # rather than read back from ``where`` (a key may print as anything)
        self.paths = _paths(params, ())
        if not self.slots:
            raise SrcdiffError("the parameters hold no writable float array (or float) to update")
        for where, container, _, value in self.slots:
            if isinstance(value, np.ndarray) and not value.flags.writeable:
                raise SrcdiffError(f"parameter {where} is not a writable float array")
            if not isinstance(value, np.ndarray) and not _mutable(container):
                raise SrcdiffError(
                    f"parameter {where} is a float in a {type(container).__name__}, which "
                    "cannot be updated in place: hold it in a 0-d array (np.array(x)), or in "
                    "a list or dict"
                )
        # flat views (updating them updates the array), or a buffer a float is copied to
        self.flat = [
            _flat(v) if isinstance(v, np.ndarray) else np.zeros(1) for _, _, _, v in self.slots
        ]
        if lr <= 0:
            raise SrcdiffError(f"the learning rate must be positive, not {lr}")
        self.lr = lr
        self.steps = 0

    def step(self, grads: object) -> None:
        """Update every parameter from its gradient (``grads`` shaped like the
        parameters), in place."""
        if _is_sequence(grads) and _is_sequence(self.params) and len(grads) != len(self.params):
            raise SrcdiffError(f"{len(grads)} gradients for {len(self.params)} parameters")
        self.steps += 1
        for k, (where, container, key, value) in enumerate(self.slots):
            g = _gradient_at(grads, self.paths[k], where)
            if isinstance(value, np.ndarray):
                if np.shape(g) != value.shape:
                    raise SrcdiffError(
                        f"gradient {where} has shape {np.shape(g)}, parameter {value.shape}"
                    )
                self.update(k, self.flat[k], np.ascontiguousarray(g, dtype=value.dtype).reshape(-1))
                continue
            buffer = self.flat[k]
            buffer[0] = _get(container, key)
            self.update(k, buffer, np.array([float(g)]))
            _set(container, key, float(buffer[0]))

    def update(self, k: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def sizes(self) -> list[tuple[int, type]]:
        """Each parameter's number of elements and dtype, for the state arrays."""
        return [(f.size, f.dtype) for f in self.flat]


def _slots(tree: object, where: str) -> list[tuple[str, object, object, object]]:
    found = []
    for key, value in items(tree):
        path = f"{where}{_step(tree, key)}"
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "f":
                found.append((path, tree, key, value))
        elif isinstance(value, (float, np.floating)):
            found.append((path, tree, key, value))
        elif is_container(value):
            found.extend(_slots(value, path))
    return found


def _paths(tree: object, path: tuple) -> list[tuple[tuple[object, bool], ...]]:
    """For each float leaf, in the order of ``_slots``, its keys from the top, each with
    whether it is an attribute (read from a dict of attributes as a key)."""
    found = []
    by_attribute = not (isinstance(tree, (dict, list)) or type(tree) is tuple)
    for key, value in items(tree):
        here = (*path, (key, by_attribute))
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "f":
                found.append(here)
        elif isinstance(value, (float, np.floating)):
            found.append(here)
        elif is_container(value):
            found.extend(_paths(value, here))
    return found


def _step(tree: object, key: object) -> str:
    """How a path names ``key`` of ``tree``: [0], ['W'], .W"""
    if isinstance(tree, (dict, list)) or type(tree) is tuple:
        return f"[{key!r}]"
    return f".{key}"


def _gradient_at(grads: object, path: tuple, where: str) -> object:
    """The entry of ``grads`` at ``path`` (as ``_paths`` wrote it; ``where`` names it)."""
    found = grads
    try:
        for key, by_attribute in path:
            if by_attribute and not isinstance(found, dict):
                found = getattr(found, key)
            else:
                found = found[key]
    except (KeyError, IndexError, AttributeError, TypeError):
        raise SrcdiffError(
            f"the gradients have no entry {where}: pass what srcdiff.grad returns for the "
            "parameters"
        ) from None
    if found is None:
        raise SrcdiffError(f"the gradient {where} is None")
    return found


def _is_sequence(value: object) -> bool:
    return isinstance(value, (list, tuple)) and not hasattr(type(value), "_fields")


def _mutable(container: object) -> bool:
    if isinstance(container, tuple):
        return False
    params = getattr(type(container), "__dataclass_params__", None)
    return not (params is not None and params.frozen)


def _get(container: object, key: object) -> object:
    return container[key] if isinstance(container, (dict, list)) else getattr(container, key)


def _set(container: object, key: object, value: float) -> None:
    if isinstance(container, (dict, list)):
        container[key] = value
    else:
        setattr(container, key, value)


def _flat(p: np.ndarray) -> np.ndarray:
    """A flat view of ``p`` (updates through it change ``p``)."""
    flat = p.reshape(-1)
    if not np.shares_memory(flat, p):
        raise SrcdiffError("parameters must be contiguous arrays (updated in place)")
    return flat


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum (heavy ball, or Nesterov's) and L2
    weight decay: ``v = momentum v + g``, ``p -= lr (g + momentum v)`` (Nesterov) or
    ``p -= lr v``."""

    def __init__(
        self,
        params: object,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise SrcdiffError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay
        self.velocity = [np.zeros(size, dtype) for size, dtype in self.sizes()]

    def update(self, k: int, p: np.ndarray, g: np.ndarray) -> None:
        first = self.steps == 1
        _sgd(p, g, self.velocity[k], self.lr, self.momentum, self.nesterov, self.weight_decay,
             first)  # fmt: skip


@njit(cache=True)
def _sgd(p, g, v, lr, momentum, nesterov, weight_decay, first):
    for i in range(p.size):
        d = g[i] + weight_decay * p[i]
        if momentum != 0.0:
            v[i] = d if first else momentum * v[i] + d  # PyTorch starts the velocity at g
            d = d + momentum * v[i] if nesterov else v[i]
        p[i] -= lr * d


class Adam(Optimizer):
    """Adam (Kingma and Ba): running means of the gradient and of its square, corrected
    for their start at zero: ``p -= lr m_hat / (sqrt(v_hat) + eps)``."""

    def __init__(
        self,
        params: object,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.m = [np.zeros(size, dtype) for size, dtype in self.sizes()]
        self.v = [np.zeros(size, dtype) for size, dtype in self.sizes()]

    def update(self, k: int, p: np.ndarray, g: np.ndarray) -> None:
        b1, b2 = self.betas
        corrections = (1.0 - b1**self.steps, 1.0 - b2**self.steps)
        _adam(p, g, self.m[k], self.v[k], self.lr, b1, b2, self.eps, self.weight_decay,
              *corrections)  # fmt: skip


@njit(cache=True)
def _adam(p, g, m, v, lr, b1, b2, eps, weight_decay, correction1, correction2):
    root2 = math.sqrt(correction2)
    for i in range(p.size):
        d = g[i] + weight_decay * p[i]
        m[i] = b1 * m[i] + (1.0 - b1) * d
        v[i] = b2 * v[i] + (1.0 - b2) * d * d
        p[i] -= lr * (m[i] / correction1) / (math.sqrt(v[i]) / root2 + eps)


# --- initialisers ----------------------------------------------------------------------------
def xavier(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Glorot/Xavier uniform weights for a (fan_in, fan_out) layer (tanh, sigmoid)."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out))


def he(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """He (Kaiming) normal weights for a (fan_in, fan_out) layer (ReLU, ELU)."""
    return rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in)
