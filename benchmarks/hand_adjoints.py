"""Hand-written reverse-mode adjoints, the yardstick for srcdiff's generated code.

Each takes the primal's arguments and returns the gradient in `wrt` order, like `srcdiff.grad`
(the array problems: `(value, gradient)`, like `srcdiff.value_and_grad`). They use plain
`numba.njit` (no fastmath), the same flags as the primal, so ratios compare algorithms rather
than compiler settings. The array problems also have NumPy adjoints, written for speed: reused
buffers, in-place updates, no work for terms whose adjoint is zero.
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


# --- array problems -----------------------------------------------------------------------


def mlp_grad_numpy(W1, b1, W2, b2, W3, b3, X, labels):
    n = X.shape[0]
    rows = np.arange(n)
    h1 = X @ W1
    h1 += b1
    np.tanh(h1, out=h1)
    h2 = h1 @ W2
    h2 += b2
    np.tanh(h2, out=h2)
    z = h2 @ W3
    z += b3
    z -= z.max(axis=1, keepdims=True)  # the max's own adjoint is zero: softmax rows sum to 1
    p = np.exp(z)
    total = p.sum(axis=1, keepdims=True)
    loss = (np.log(total).sum() - z[rows, labels].sum()) / n
    # d loss / dz = (softmax - onehot) / n
    total *= n
    p /= total
    p[rows, labels] -= 1.0 / n
    g_W3 = h2.T @ p
    g_b3 = p.sum(axis=0)
    g_a2 = p @ W3.T
    h2 *= h2  # tanh' = 1 - h^2, formed in place
    np.subtract(1.0, h2, out=h2)
    g_a2 *= h2
    g_W2 = h1.T @ g_a2
    g_b2 = g_a2.sum(axis=0)
    g_a1 = g_a2 @ W2.T
    h1 *= h1
    np.subtract(1.0, h1, out=h1)
    g_a1 *= h1
    g_W1 = X.T @ g_a1
    g_b1 = g_a1.sum(axis=0)
    return loss, (g_W1, g_b1, g_W2, g_b2, g_W3, g_b3)


@njit(cache=True)
def _tanh_layer(a, b):
    """a <- tanh(a + b) row by row, in place."""
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            a[i, j] = math.tanh(a[i, j] + b[j])


@njit(cache=True)
def _tanh_backward(g, h):
    """g <- g * (1 - h^2) in place; returns the column sums (the bias adjoint)."""
    g_b = np.zeros(g.shape[1])
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            g[i, j] *= 1.0 - h[i, j] * h[i, j]
            g_b[j] += g[i, j]
    return g_b


@njit(cache=True)
def mlp_grad_numba(W1, b1, W2, b2, W3, b3, X, labels):
    n = X.shape[0]
    h1 = X @ W1  # BLAS, through Numba's np.dot
    _tanh_layer(h1, b1)
    h2 = h1 @ W2
    _tanh_layer(h2, b2)
    z = h2 @ W3
    classes = z.shape[1]
    loss = 0.0
    g_b3 = np.zeros(classes)
    for i in range(n):  # softmax cross-entropy and its adjoint, one row at a time
        top = z[i, 0] + b3[0]
        for j in range(classes):
            z[i, j] += b3[j]
            top = max(top, z[i, j])
        label = labels[i]
        loss -= z[i, label] - top
        total = 0.0
        for j in range(classes):
            z[i, j] = math.exp(z[i, j] - top)
            total += z[i, j]
        loss += math.log(total)
        for j in range(classes):
            z[i, j] /= total * n
        z[i, label] -= 1.0 / n
        for j in range(classes):
            g_b3[j] += z[i, j]
    g_W3 = h2.T @ z
    g_a2 = z @ W3.T
    g_b2 = _tanh_backward(g_a2, h2)
    g_W2 = h1.T @ g_a2
    g_a1 = g_a2 @ W2.T
    g_b1 = _tanh_backward(g_a1, h1)
    g_W1 = X.T @ g_a1
    return loss / n, (g_W1, g_b1, g_W2, g_b2, g_W3, g_b3)


def gmm_grad_numpy(alphas, means, icf, x, wishart_gamma, wishart_m, q_index, log_gamma_d):
    n, d = x.shape
    k = alphas.shape[0]
    log_diag = icf[:, :d]
    lower = icf[:, d:]
    qdiags = np.exp(log_diag)
    entries = np.concatenate((qdiags, lower, np.zeros((k, 1))), axis=1)
    q = entries[:, q_index].reshape(k, d, d)  # Q_k, the Cholesky factor of the precision
    qxc = (x @ q.reshape(k * d, d).T).reshape(n, k, d)  # Q_k (x_i - mu_k)
    qxc -= np.einsum("kij,kj->ki", q, means)
    sum_qs = log_diag.sum(axis=1)
    inner = alphas + sum_qs - 0.5 * np.einsum("nki,nki->nk", qxc, qxc)
    top = inner.max(axis=1, keepdims=True)
    resp = np.exp(inner - top)
    total = resp.sum(axis=1, keepdims=True)
    lse_sum = np.log(total).sum() + top.sum()
    resp /= total  # responsibilities: d lse_i / d inner_ik
    top_alpha = alphas.max()
    weights = np.exp(alphas - top_alpha)
    weights_total = weights.sum()
    lse_alphas = math.log(weights_total) + top_alpha
    n_wishart = d + wishart_m + 1
    gamma2 = wishart_gamma * wishart_gamma
    log_prior = (
        0.5 * gamma2 * (np.sum(qdiags * qdiags) + np.sum(lower * lower))
        - wishart_m * sum_qs.sum()
        - k * (n_wishart * d * math.log(wishart_gamma / math.sqrt(2.0)) - log_gamma_d)
    )
    value = -0.5 * n * d * math.log(2.0 * math.pi) + lse_sum - n * lse_alphas + log_prior

    counts = resp.sum(axis=0)  # sum over points of the responsibilities
    g_alphas = counts - n * weights / weights_total
    qxc *= resp[:, :, None]  # now -(d value / d qxc)
    g_qmu = qxc.sum(axis=0)  # d value / d (Q_k mu_k)
    # d value / d Q_k = -sum_i r_ik Q_k(x_i - mu_k) (x_i - mu_k)^T
    g_q = np.einsum("ki,kj->kij", g_qmu, means)
    g_q -= (qxc.reshape(n, k * d).T @ x).reshape(k, d, d)
    g_means = np.einsum("kij,ki->kj", q, g_qmu)
    # back through the gather: each parameter sits at exactly one place in Q
    place = np.argsort(q_index, kind="stable")[: d + lower.shape[1]]
    g_entries = g_q.reshape(k, d * d)[:, place]
    g_icf = np.empty_like(icf)
    g_icf[:, :d] = g_entries[:, :d] * qdiags + gamma2 * qdiags * qdiags
    g_icf[:, :d] += (counts - wishart_m)[:, None]
    g_icf[:, d:] = g_entries[:, d:] + gamma2 * lower
    return value, (g_alphas, g_means, g_icf)


HAND_ADJOINTS = {
    "quiz": quiz_grad,
    "graph": graph_grad,
    "rnn": rnn_grad,
    "lotka_volterra": lotka_volterra_grad,
    "rosenbrock_loop": rosenbrock_grad,
}

# Array problems: every hand-written adjoint, by implementation; srcdiff is compared with the
# faster one.
ARRAY_HAND_ADJOINTS = {
    "mlp": {"NumPy": mlp_grad_numpy, "Numba": mlp_grad_numba},
    "gmm": {"NumPy": gmm_grad_numpy},
}
