"""The benchmark problems, written as plain Python.

The very same function objects are handed to `numba.njit` (the primal) and to `srcdiff.grad`
(the gradient), so both sides compile identical source.
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


@dataclass(frozen=True)
class Problem:
    name: str
    func: Callable[..., float]
    args: tuple
    wrt: int | tuple[int, ...]


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
