"""Hand-written reverse-mode adjoints, the yardstick for srcdiff's generated code.

Each takes the primal's arguments and returns the gradient in `wrt` order, like `srcdiff.grad`.
They use plain `numba.njit` (no fastmath), the same flags as the primal, so ratios compare
algorithms rather than compiler settings.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit
def quiz_grad(x: float, z: float) -> tuple[float, float]:
    # f = e + p/L + s/p with p = x*z, L = log x, e = exp p, s = sin L.
    p = x * z
    log_x = math.log(x)
    sin_l = math.sin(log_x)
    d_p = math.exp(p) + 1.0 / log_x - sin_l / (p * p)
    d_log = -p / (log_x * log_x) + math.cos(log_x) / p
    return d_p * z + d_log / x, d_p * x


@njit
def graph_grad(x: float) -> float:
    a = x * x
    d_c = -math.sin(math.sin(a) + 3.0 * a)
    return d_c * (math.cos(a) + 3.0) * 2.0 * x


@njit
def rnn_grad(w: float, u: float, b: float, x: np.ndarray, n: int) -> tuple[float, float, float]:
    # Forward sweep stores every hidden state; tanh' = 1 - h^2 needs only the stored output.
    hs = np.empty(n + 1)
    hs[0] = 0.0
    for t in range(n):
        hs[t + 1] = math.tanh(w * hs[t] + u * x[t] + b)
    d_w = d_u = d_b = 0.0
    d_h = 1.0
    for t in range(n - 1, -1, -1):
        h = hs[t + 1]
        d_pre = d_h * (1.0 - h * h)
        d_w += d_pre * hs[t]
        d_u += d_pre * x[t]
        d_b += d_pre
        d_h = d_pre * w
    return d_w, d_u, d_b


@njit
def _lv_rhs(u: float, v: float, alpha: float, beta: float, delta: float, gamma: float):
    uv = u * v
    return alpha * u - beta * uv, delta * uv - gamma * v


@njit
def _lv_rhs_vjp(u, v, g_du, g_dv, alpha, beta, delta, gamma):
    """Pull the adjoints (g_du, g_dv) of lv_rhs's outputs back to u, v and the parameters."""
    uv = u * v
    return (
        g_du * (alpha - beta * v) + g_dv * delta * v,
        g_dv * (delta * u - gamma) - g_du * beta * u,
        g_du * u,
        -g_du * uv,
        g_dv * uv,
        -g_dv * v,
    )


@njit
def lotka_volterra_grad(
    alpha: float, beta: float, delta: float, gamma: float, n: int
) -> tuple[float, float, float, float]:
    # Forward sweep stores the four RK4 stage inputs per step (8 floats): the reverse sweep
    # then needs no recomputation, and the 64 KB for n = 1000 stay in cache.
    dt = 0.01
    half = 0.5 * dt
    sixth = dt / 6.0
    stages = np.empty((n, 8))
    u = 10.0
    v = 5.0
    for t in range(n):
        k1u, k1v = _lv_rhs(u, v, alpha, beta, delta, gamma)
        u2, v2 = u + half * k1u, v + half * k1v
        k2u, k2v = _lv_rhs(u2, v2, alpha, beta, delta, gamma)
        u3, v3 = u + half * k2u, v + half * k2v
        k3u, k3v = _lv_rhs(u3, v3, alpha, beta, delta, gamma)
        u4, v4 = u + dt * k3u, v + dt * k3v
        k4u, k4v = _lv_rhs(u4, v4, alpha, beta, delta, gamma)
        s = stages[t]
        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7] = u, v, u2, v2, u3, v3, u4, v4
        u = u + sixth * (k1u + 2.0 * k2u + 2.0 * k3u + k4u)
        v = v + sixth * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)

    d_alpha = d_beta = d_delta = d_gamma = 0.0
    d_u = d_v = 1.0  # d(u + v)
    for t in range(n - 1, -1, -1):
        s = stages[t]
        acc_u, acc_v = d_u, d_v  # u_next = u + dt/6 (k1 + 2 k2 + 2 k3 + k4)
        # Stage 4, input u + dt k3: k4 feeds u_next only.
        g_ku, g_kv = sixth * d_u, sixth * d_v
        gu, gv, ga, gb, gd, gg = _lv_rhs_vjp(s[6], s[7], g_ku, g_kv, alpha, beta, delta, gamma)
        d_alpha, d_beta, d_delta, d_gamma = d_alpha + ga, d_beta + gb, d_delta + gd, d_gamma + gg
        acc_u, acc_v = acc_u + gu, acc_v + gv
        # Stage 3, input u + dt/2 k2: k3 feeds u_next and stage 4's input.
        g_ku, g_kv = 2.0 * sixth * d_u + dt * gu, 2.0 * sixth * d_v + dt * gv
        gu, gv, ga, gb, gd, gg = _lv_rhs_vjp(s[4], s[5], g_ku, g_kv, alpha, beta, delta, gamma)
        d_alpha, d_beta, d_delta, d_gamma = d_alpha + ga, d_beta + gb, d_delta + gd, d_gamma + gg
        acc_u, acc_v = acc_u + gu, acc_v + gv
        # Stage 2, input u + dt/2 k1: k2 feeds u_next and stage 3's input.
        g_ku, g_kv = 2.0 * sixth * d_u + half * gu, 2.0 * sixth * d_v + half * gv
        gu, gv, ga, gb, gd, gg = _lv_rhs_vjp(s[2], s[3], g_ku, g_kv, alpha, beta, delta, gamma)
        d_alpha, d_beta, d_delta, d_gamma = d_alpha + ga, d_beta + gb, d_delta + gd, d_gamma + gg
        acc_u, acc_v = acc_u + gu, acc_v + gv
        # Stage 1, input u itself: k1 feeds u_next and stage 2's input.
        g_ku, g_kv = sixth * d_u + half * gu, sixth * d_v + half * gv
        gu, gv, ga, gb, gd, gg = _lv_rhs_vjp(s[0], s[1], g_ku, g_kv, alpha, beta, delta, gamma)
        d_alpha, d_beta, d_delta, d_gamma = d_alpha + ga, d_beta + gb, d_delta + gd, d_gamma + gg
        d_u, d_v = acc_u + gu, acc_v + gv
    return d_alpha, d_beta, d_delta, d_gamma


@njit
def rosenbrock_grad(x: np.ndarray, n: int) -> np.ndarray:
    # Each term touches x[i] and x[i + 1]; no storage needed, one pass.
    grad = np.zeros_like(x)
    for i in range(n - 1):
        r = x[i + 1] - x[i] * x[i]
        grad[i] += -400.0 * r * x[i] - 2.0 * (1.0 - x[i])
        grad[i + 1] += 200.0 * r
    return grad


HAND_ADJOINTS = {
    "quiz": quiz_grad,
    "graph": graph_grad,
    "rnn": rnn_grad,
    "lotka_volterra": lotka_volterra_grad,
    "rosenbrock_loop": rosenbrock_grad,
}
