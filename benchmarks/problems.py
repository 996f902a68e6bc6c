"""The benchmark problems, written as plain Python.

Scalar and loop problems: the very same function objects are handed to `numba.njit` (the
primal) and to `srcdiff.grad` (the gradient), so both sides compile identical source.

Array problems (`mlp_loss`, `gmm_objective`): whole-array NumPy code, written the way one would
write it for NumPy. The primal is the function itself, run by NumPy; srcdiff differentiates the
same function object.

Backend problems (`make_backend_problems`): code that either of srcdiff's backends could run,
for timing one against the other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def quiz(x: float, z: float) -> float:
    return math.exp(x * z) + x * z / math.log(x) + math.sin(math.log(x)) / (x * z)


def graph(x: float) -> float:
    # The lecture's computation graph J.
    return math.cos(math.sin(x**2) + 3 * x**2)


def rnn(w: float, u: float, b: float, x: np.ndarray, n: int) -> float:
    h = 0.0
    for t in range(n):
        h = math.tanh(w * h + u * x[t] + b)
    return h


def lv_rhs(
    u: float, v: float, alpha: float, beta: float, delta: float, gamma: float
) -> tuple[float, float]:
    # Lotka–Volterra: u is the prey, v the predator population.
    return alpha * u - beta * u * v, delta * u * v - gamma * v


def lotka_volterra(alpha: float, beta: float, delta: float, gamma: float, n: int) -> float:
    # n classical RK4 steps from (10, 5); returns final prey + predator population.
    dt = 0.01
    u = 10.0
    v = 5.0
    for _step in range(n):
        k1u, k1v = lv_rhs(u, v, alpha, beta, delta, gamma)
        k2u, k2v = lv_rhs(u + 0.5 * dt * k1u, v + 0.5 * dt * k1v, alpha, beta, delta, gamma)
        k3u, k3v = lv_rhs(u + 0.5 * dt * k2u, v + 0.5 * dt * k2v, alpha, beta, delta, gamma)
        k4u, k4v = lv_rhs(u + dt * k3u, v + dt * k3v, alpha, beta, delta, gamma)
        u = u + dt / 6.0 * (k1u + 2.0 * k2u + 2.0 * k3u + k4u)
        v = v + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
    return u + v


def rosenbrock(x: np.ndarray, n: int) -> float:
    # The Rosenbrock function as an explicit loop over elements: what tracing tools do badly.
    s = 0.0
    for i in range(n - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def mlp_loss(W1, b1, W2, b2, W3, b3, X, labels):
    # Two tanh hidden layers, then the mean softmax cross-entropy of the integer labels, with
    # the log-softmax stabilised by subtracting each row's maximum.
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    shifted = z - np.max(z, axis=1, keepdims=True)
    logp = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    n = X.shape[0]
    return -np.mean(logp[np.arange(n), labels])


def mlp_onehot_loss(W1, b1, W2, b2, W3, b3, X, Y):
    # mlp_loss with one-hot targets Y (batch, 10): Numba cannot index logp by label arrays.
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    shifted = z - np.max(z, axis=1, keepdims=True)
    logp = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.mean(np.sum(Y * logp, axis=1))


def rosenbrock_plus_array(x: np.ndarray, n: int) -> float:
    # The Rosenbrock loop, then one whole-array term.
    s = 0.0
    for i in range(n - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s + np.sum(np.tanh(x) ** 2)


def vector_rnn(W, U, x, T):
    # An RNN whose small state vector is updated with array code, step after step.
    h = np.zeros(W.shape[0])
    for t in range(T):
        h = np.tanh(W @ h + U @ x[t])
    return np.sum(h**2)


def row_loop(x, w):
    # A loop over the rows of a small matrix, each row a small array.
    s = 0.0
    for i in range(x.shape[0]):
        s += np.tanh(x[i] @ w) ** 2
    return s


def gmm_objective(alphas, means, icf, x, wishart_gamma, wishart_m, q_index, log_gamma_d):
    """ADBench's GMM objective: the log-likelihood of the n points `x` (n, d) under a mixture
    of k Gaussians, plus the log of a Wishart prior on the precision matrices.

    alphas (k,): log mixture weights, unnormalised. means (k, d). icf (k, d + d(d-1)/2): per
    component the log of Q's diagonal, then Q's strictly lower triangle column by column,
    where Q is the Cholesky factor of the precision matrix (Q^T Q = inverse covariance).

    Q is built by gathering: `q_index` (d*d,) maps each entry of Q, row-major, to a column of
    `entries` = [exp(log-diagonal), lower triangle, 0]. `log_gamma_d` is log Gamma_d((d + m +
    1) / 2), the multivariate log-gamma constant, computed outside: srcdiff has no lgamma.
    """
    n = x.shape[0]
    d = x.shape[1]
    k = alphas.shape[0]
    log_diag = icf[:, :d]
    qdiags = np.exp(log_diag)
    sum_qs = np.sum(log_diag, axis=1)
    nonzero = np.concatenate((qdiags, icf[:, d:]), axis=1)
    entries = np.concatenate((nonzero, np.zeros((k, 1))), axis=1)
    q = np.reshape(entries[:, q_index], (k, d, d))  # Q_k, the Cholesky factor of the precision
    # Q_k (x_i - mu_k) for every point i and component k
    qxc = np.reshape(x @ np.reshape(q, (k * d, d)).T, (n, k, d)) - np.einsum("kij,kj->ki", q, means)
    inner = alphas + sum_qs - 0.5 * np.einsum("nki,nki->nk", qxc, qxc)
    top = np.max(inner, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(inner - top), axis=1)) + top[:, 0]
    top_alpha = np.max(alphas)
    lse_alphas = np.log(np.sum(np.exp(alphas - top_alpha))) + top_alpha
    n_wishart = d + wishart_m + 1
    log_prior = (
        0.5 * wishart_gamma**2 * (np.sum(qdiags * qdiags) + np.sum(icf[:, d:] ** 2))
        - wishart_m * np.sum(sum_qs)
        - k * (n_wishart * d * math.log(wishart_gamma / math.sqrt(2.0)) - log_gamma_d)
    )
    constant = -0.5 * n * d * math.log(2.0 * math.pi)
    return constant + np.sum(lse) - n * lse_alphas + log_prior


def gmm_q_index(d: int) -> np.ndarray:
    """For gmm_objective: where each entry of Q (row-major) comes from in [exp(log-diagonal),
    lower triangle column by column, 0]."""
    zero = d + d * (d - 1) // 2
    index = np.full((d, d), zero, dtype=np.int64)
    index[np.arange(d), np.arange(d)] = np.arange(d)
    column = d
    for j in range(d):
        for i in range(j + 1, d):
            index[i, j] = column
            column += 1
    return index.ravel()


def log_multigamma(a: float, p: int) -> float:
    """log Gamma_p(a), the multivariate log-gamma function."""
    return 0.25 * p * (p - 1) * math.log(math.pi) + sum(math.lgamma(a - 0.5 * j) for j in range(p))


@dataclass(frozen=True)
class Problem:
    name: str
    func: Callable[..., float]
    args: tuple
    wrt: int | tuple[int, ...]
    value_and_grad: bool = False  # array problems time srcdiff.value_and_grad


def make_problems(quick: bool = False) -> list[Problem]:
    """The benchmark inputs; `quick` shrinks the loop lengths for a smoke run."""
    n_rnn = 1_000 if quick else 10_000
    n_lv = 100 if quick else 1_000
    n_rosenbrock = 1_000 if quick else 100_000
    x = np.random.default_rng(0).standard_normal(n_rnn) * 0.5
    points = np.random.default_rng(1).uniform(-1.0, 1.0, n_rosenbrock)
    return [
        Problem("quiz", quiz, (2.0, 3.0), (0, 1)),
        Problem("graph", graph, (0.7,), 0),
        Problem("rnn", rnn, (0.5, 0.3, 0.1, x, n_rnn), (0, 1, 2)),
        Problem("lotka_volterra", lotka_volterra, (1.1, 0.4, 0.1, 0.4, n_lv), (0, 1, 2, 3)),
        Problem("rosenbrock_loop", rosenbrock, (points, n_rosenbrock), 0),
    ]


def make_array_problems(quick: bool = False) -> list[Problem]:
    """Whole-array problems, float64; `quick` shrinks the batch and the number of points."""
    rng = np.random.default_rng(3)
    n_batch = 32 if quick else 256
    sizes = ((64, 128), (128, 128), (128, 10))
    params = []
    for fan_in, fan_out in sizes:  # Glorot-scaled weights keep tanh out of saturation
        params.append(rng.standard_normal((fan_in, fan_out)) / math.sqrt(fan_in))
        params.append(0.1 * rng.standard_normal(fan_out))
    X = rng.standard_normal((n_batch, 64))
    labels = rng.integers(0, 10, n_batch)

    # ADBench's GMM inputs (d = 10, K = 25, n = 1000): alphas and icf standard normal, means
    # and points uniform on [0, 1); Wishart prior with gamma = 1, m = 0.
    d, k, n_points = 10, 25, 100 if quick else 1000
    alphas = rng.standard_normal(k)
    means = rng.uniform(size=(k, d))
    icf = rng.standard_normal((k, d + d * (d - 1) // 2))
    points = rng.uniform(size=(n_points, d))
    gamma, m = 1.0, 0
    log_gamma_d = log_multigamma(0.5 * (d + m + 1), d)
    gmm_args = (alphas, means, icf, points, gamma, m, gmm_q_index(d), log_gamma_d)
    return [
        Problem("mlp", mlp_loss, (*params, X, labels), (0, 1, 2, 3, 4, 5), value_and_grad=True),
        Problem("gmm", gmm_objective, gmm_args, (0, 1, 2), value_and_grad=True),
    ]


def make_backend_problems(quick: bool = False) -> list[Problem]:
    """Problems for the backend-choice table: whole-array code (the MLP, two batch sizes), a
    loop plus an array term, array code inside loops, and pure loop code. `quick` shrinks every
    size."""
    rng = np.random.default_rng(5)
    weights = []
    for fan_in, fan_out in ((64, 128), (128, 128), (128, 10)):  # as in make_array_problems
        weights.append(rng.standard_normal((fan_in, fan_out)) / math.sqrt(fan_in))
        weights.append(0.1 * rng.standard_normal(fan_out))
    problems = []
    for batch in (32, 8) if quick else (256, 32):
        X = rng.standard_normal((batch, 64))
        Y = np.eye(10)[rng.integers(0, 10, batch)]  # one-hot targets
        name = f"mlp, one-hot targets, batch {batch}"
        problems.append(Problem(name, mlp_onehot_loss, (*weights, X, Y), (0, 1, 2, 3, 4, 5)))

    n = 1_000 if quick else 100_000
    points = rng.uniform(-1.0, 1.0, n)
    name = f"rosenbrock loop + array term, n = {n:,}"
    problems.append(Problem(name, rosenbrock_plus_array, (points, n), 0))

    steps = 50 if quick else 200
    W = 0.5 * rng.standard_normal((8, 8)) / math.sqrt(8)  # 8 hidden units
    U = rng.standard_normal((8, 4)) / 2.0  # 4 inputs
    x = rng.standard_normal((steps, 4))
    name = f"vector rnn (8 hidden, 4 inputs), T = {steps}"
    problems.append(Problem(name, vector_rnn, (W, U, x, steps), (0, 1)))

    rows = 100 if quick else 1_000
    name = f"loop over {rows:,} rows of 8"
    x, w = rng.standard_normal((rows, 8)), rng.standard_normal(8) / 3
    problems.append(Problem(name, row_loop, (x, w), (0, 1)))

    name = f"rosenbrock_loop (pure loop), n = {n:,}"
    problems.append(Problem(name, rosenbrock, (points, n), 0))
    return problems
