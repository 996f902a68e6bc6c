"""Optional columns for the array problems: JAX (`jax.value_and_grad` under `jax.jit`) and
PyTorch (CPU, `torch.autograd.grad`), in float64, on the inputs srcdiff gets.

Neither is a dependency: `pip install ".[bench]"` brings both. Each maker returns a callable
and the arguments to time it with; it raises `Unavailable` when the framework cannot be
imported, and the column reads n/a.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import numpy as np
from problems import Problem


class Unavailable(Exception):
    """The framework is not installed (or has no version of this problem)."""


def jax_value_and_grad(problem: Problem) -> tuple[Callable, tuple]:
    """The problem's own function, with `np` bound to `jax.numpy`: the same source, traced.

    Arrays are traced arguments; Python numbers are static (the GMM takes `math.log` of one)."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise Unavailable(str(exc)) from None
    jax.config.update("jax_enable_x64", True)
    func = problem.func
    traced = types.FunctionType(func.__code__, {**func.__globals__, "np": jnp}, func.__name__)
    static = tuple(i for i, a in enumerate(problem.args) if not isinstance(a, np.ndarray))
    compiled = jax.jit(jax.value_and_grad(traced, argnums=problem.wrt), static_argnums=static)
    args = tuple(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in problem.args)

    def value_and_grad(*args):
        return jax.block_until_ready(compiled(*args))  # JAX dispatches asynchronously

    return value_and_grad, args


def mlp_loss_torch(W1, b1, W2, b2, W3, b3, X, labels):
    import torch

    h1 = torch.tanh(X @ W1 + b1)
    h2 = torch.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    shifted = z - torch.max(z, dim=1, keepdim=True).values
    logp = shifted - torch.log(torch.sum(torch.exp(shifted), dim=1, keepdim=True))
    n = X.shape[0]
    return -torch.mean(logp[torch.arange(n), labels])


def gmm_objective_torch(alphas, means, icf, x, wishart_gamma, wishart_m, q_index, log_gamma_d):
    import math

    import torch

    n, d = x.shape
    k = alphas.shape[0]
    log_diag = icf[:, :d]
    qdiags = torch.exp(log_diag)
    sum_qs = torch.sum(log_diag, dim=1)
    zero = torch.zeros((k, 1), dtype=icf.dtype)
    entries = torch.cat((qdiags, icf[:, d:], zero), dim=1)
    q = torch.reshape(entries.T[q_index].T, (k * d, d))
    qx = torch.reshape(x @ q.T, (n, k, d))
    qmu = torch.sum(torch.reshape(q, (k, d, d)) * means[:, None, :], dim=2)
    qxc = qx - qmu
    inner = alphas + sum_qs - 0.5 * torch.sum(qxc * qxc, dim=2)
    top = torch.max(inner, dim=1, keepdim=True).values
    lse = torch.log(torch.sum(torch.exp(inner - top), dim=1)) + top[:, 0]
    top_alpha = torch.max(alphas)
    lse_alphas = torch.log(torch.sum(torch.exp(alphas - top_alpha))) + top_alpha
    n_wishart = d + wishart_m + 1
    log_prior = (
        0.5 * wishart_gamma**2 * (torch.sum(qdiags * qdiags) + torch.sum(icf[:, d:] ** 2))
        - wishart_m * torch.sum(sum_qs)
        - k * (n_wishart * d * math.log(wishart_gamma / math.sqrt(2.0)) - log_gamma_d)
    )
    constant = -0.5 * n * d * math.log(2.0 * math.pi)
    return constant + torch.sum(lse) - n * lse_alphas + log_prior


TORCH_VERSIONS = {"mlp": mlp_loss_torch, "gmm": gmm_objective_torch}


def torch_value_and_grad(problem: Problem) -> tuple[Callable, tuple]:
    """A line-by-line PyTorch translation of the problem; the differentiated arguments are
    leaf tensors with requires_grad, and each call runs the forward pass and autograd."""
    try:
        import torch
    except ImportError as exc:
        raise Unavailable(str(exc)) from None
    if problem.name not in TORCH_VERSIONS:
        raise Unavailable(f"no PyTorch version of {problem.name}")
    func = TORCH_VERSIONS[problem.name]
    wrt = problem.wrt if isinstance(problem.wrt, tuple) else (problem.wrt,)
    args = tuple(
        torch.tensor(a, requires_grad=i in wrt) if isinstance(a, np.ndarray) else a
        for i, a in enumerate(problem.args)
    )

    def value_and_grad(*args):
        value = func(*args)
        return value, torch.autograd.grad(value, [args[i] for i in wrt])

    return value_and_grad, args


FRAMEWORKS = {"JAX": jax_value_and_grad, "PyTorch": torch_value_and_grad}


def as_numpy(value) -> np.ndarray:
    """A result of any column as a NumPy array (tensors detached, JAX arrays copied)."""
    if hasattr(value, "detach"):
        value = value.detach().numpy()
    return np.asarray(value, dtype=np.float64)
