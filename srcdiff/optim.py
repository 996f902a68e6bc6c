"""Optimizers for training with srcdiff gradients, and weight initialisers.

An optimizer holds a tuple of parameter arrays and updates them in place from a tuple of
gradients (what ``srcdiff.grad(loss, wrt=(0, 1, ...))`` returns):

    params = (W1, b1, W2, b2)
    opt = srcdiff.optim.Adam(params, lr=1e-3)
    for X, Y in batches:
        loss, grads = loss_and_grad(*params, X, Y)
        opt.step(grads)

The formulas are PyTorch's (``torch.optim.SGD`` with ``momentum``, ``nesterov`` and
``weight_decay``; ``torch.optim.Adam``). Each update is one Numba loop over the array, in
place: NumPy would take five to nine passes (and temporaries) for Adam's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import SrcdiffError
from .numba_cache import njit


class Optimizer:
    """Parameters updated in place, one state array (or two) per parameter."""

    def __init__(self, params: Sequence[np.ndarray], lr: float):
        self.params = tuple(params)
        for k, p in enumerate(self.params):
            if not (isinstance(p, np.ndarray) and p.dtype.kind == "f" and p.flags.writeable):
                raise SrcdiffError(f"parameter {k} is not a writable float array")
        self.flat = [_flat(p) for p in self.params]  # views: updating them updates p
        if lr <= 0:
            raise SrcdiffError(f"the learning rate must be positive, not {lr}")
        self.lr = lr
        self.steps = 0

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Update every parameter from its gradient (in the same order), in place."""
        grads = tuple(grads)
        if len(grads) != len(self.params):
            raise SrcdiffError(f"{len(grads)} gradients for {len(self.params)} parameters")
        self.steps += 1
        for k, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if np.shape(g) != p.shape:
                raise SrcdiffError(f"gradient {k} has shape {np.shape(g)}, parameter {p.shape}")
            self.update(k, self.flat[k], np.ascontiguousarray(g, dtype=p.dtype).reshape(-1))

    def update(self, k: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError


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
        params: Sequence[np.ndarray],
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise SrcdiffError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay
        self.velocity = [np.zeros(p.size, p.dtype) for p in self.params]

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
        params: Sequence[np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.m = [np.zeros(p.size, p.dtype) for p in self.params]
        self.v = [np.zeros(p.size, p.dtype) for p in self.params]

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
