"""The functions whose generated adjoints are kept as golden files in tests/snapshots/.

The generated source quotes this file's name and line numbers in its comments: editing
this file changes every snapshot. Add new examples at the end and regenerate with
``SRCDIFF_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py``.
"""

import math


def quiz(x, z):
    """The lecture quiz: y = exp(xz) + xz / log(x) + sin(log(x)) / (xz)."""
    xz = x * z
    return math.exp(xz) + xz / math.log(x) + math.sin(math.log(x)) / xz


def J(x):
    """The computation graph J(x) = cos(sin(x**2) + 3 x**2), one node per line."""
    a = x**2
    b = math.sin(a)
    c = 3 * a
    d = b + c
    return math.cos(d)


def logistic_loss(w, b, x, y, n):
    """Mean cross-entropy of the model p = sigmoid(w x + b) over n labelled points."""
    loss = 0.0
    for i in range(n):
        z = w * x[i] + b
        p = 1.0 / (1.0 + math.exp(-z))
        loss -= y[i] * math.log(p) + (1 - y[i]) * math.log(1 - p)
    return loss / n


def recurrence(x, r, n: int):
    """Iterate the logistic map from x until n steps or until the orbit leaves [0, 1]."""
    k = 0
    while k < n:
        x = r * x * (1.0 - x)
        if x < 0.0 or x > 1.0:
            break
        k += 1
    return x * r


# --- examples added for the refactor's golden tests (only ever append below) ----------------

import numpy as np  # noqa: E402

import srcdiff  # noqa: E402


def rnn_tanh(w, u, b, x, n):
    """An Elman RNN with one unit: h is overwritten each step (float tape, reserve)."""
    h = 0.0
    s = 0.0
    for t in range(n):
        h = math.tanh(w * h + u * x[t] + b)
        s += h * h
    return s


def damped_oscillator(k, c, t_end):
    """Explicit Euler for x'' = -k x - c x' until t_end: a while loop (trip count, int tape)."""
    x = 1.0
    v = 0.0
    t = 0.0
    dt = 0.05
    while t < t_end:
        a = -k * x - c * v
        x = x + dt * v
        v = v + dt * a
        t += dt
    return x * x + v * v


def hinge_sum(w, b, x, y, cap):
    """SVM hinge loss over the points, skipping those outside the margin (continue) and
    stopping once the loss exceeds a cap (break)."""
    loss = 0.0
    for i in range(x.shape[0]):
        margin = y[i] * (w * x[i] + b)
        if margin >= 1.0:
            continue
        loss += 1.0 - margin
        if loss > cap:
            break
    return loss + 0.5 * w * w


def squared_residual(theta, x, y, i):
    r = theta[0] + theta[1] * x[i] + theta[2] * x[i] * x[i] - y[i]
    return r * r


def least_squares(theta, x, y):
    """A quadratic fit: a helper, taking the parameter array, called in a loop (the array
    adjoint is handed over to the helper's adjoint)."""
    s = 0.0
    for i in range(x.shape[0]):
        s += squared_residual(theta, x, y, i)
    return s / x.shape[0]


def lv_rhs(u, v, alpha, beta, delta, gamma):
    """Lotka-Volterra: u is the prey, v the predator population."""
    return alpha * u - beta * u * v, delta * u * v - gamma * v


def lotka_volterra(alpha, beta, delta, gamma, n):
    """n classical RK4 steps from (10, 5) (ADBench-style ODE): a helper returning a tuple,
    called four times a step."""
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


def mlp_numba(W1, b1, W2, b2, X, Y):
    """One tanh hidden layer and a squared-error loss, whole-array code (Numba backend)."""
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    r = out - Y
    return 0.5 * np.sum(r * r) / X.shape[0]


def mlp_numpy(W1, b1, W2, b2, X, Y):
    """The same network on the NumPy backend: memory reuse (out=, in-place updates)."""
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    r = out - Y
    return 0.5 * np.sum(r * r) / X.shape[0]


def smooth_regression(w, X, y, lam):
    """Least squares with a smoothness penalty written as a loop over elements: on the
    NumPy backend the loop is outlined to a Numba kernel."""
    r = X @ w - y
    fit = np.sum(r * r)
    penalty = 0.0
    for i in range(w.shape[0] - 1):
        d = w[i + 1] - w[i]
        penalty += d * d
    return fit + lam * penalty


def softmax_cross_entropy(W, b, X, Y):
    """Mean cross-entropy of a linear softmax classifier, one-hot labels Y, with the
    log-sum-exp stabilised by each row's maximum (axis reductions, keepdims)."""
    z = X @ W + b
    shifted = z - np.max(z, axis=1, keepdims=True)
    logp = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.sum(Y * logp) / X.shape[0]


def attention(Q, K, V):
    """Single-head dot-product attention written with np.einsum, squared output summed."""
    s = np.einsum("id,jd->ij", Q, K)
    e = np.exp(s - np.max(s, axis=1, keepdims=True))
    a = e / np.sum(e, axis=1, keepdims=True)
    o = np.einsum("ij,jd->id", a, V)
    return np.sum(o * o)


def ema_filter(alpha, x):
    """An exponential moving average written element by element into an array the function
    made (y[i] = e: the overwritten element is saved)."""
    n = x.shape[0]
    y = np.zeros(n)
    y[0] = x[0]
    for i in range(1, n):
        y[i] = alpha * y[i - 1] + (1.0 - alpha) * x[i]
    return np.sum(y * y)


def lstm_rows(wf, wc, x):
    """An LSTM-like cell keeping its hidden and cell states as rows of one array, read and
    rewritten each step (views copied because their rows are written afterwards)."""
    state = np.zeros((2, x.shape[1]))
    for t in range(x.shape[0]):
        forget = 1.0 / (1.0 + np.exp(-(wf * state[0] + x[t])))
        state[1] = forget * state[1] + (1.0 - forget) * np.tanh(wc * x[t])
        state[0] = np.tanh(state[1])
    return np.sum(state[0])


def power_iteration(A, v0, n):
    """The Rayleigh quotient after n steps of power iteration: v is reassigned as a whole
    while the gradient still needs it (the list tape _tape_a)."""
    v = v0
    for _k in range(n):
        w = A @ v
        v = w / np.sqrt(np.sum(w * w))
    return v @ (A @ v)


def lognormal_nll(mu, sigma, x):
    """Negative log-likelihood of a log-normal sample: runtime guards for math.log,
    division by a Python number, index checks hoisted before the loop."""
    n = x.shape[0]
    s = 0.0
    for i in range(n):
        z = (math.log(x[i]) - mu) / sigma
        s += 0.5 * z * z + math.log(sigma * math.sqrt(2.0 * math.pi) * x[i])
    return s / n


def projectile(v0, angle, drag, n):
    """Range of a projectile with quadratic drag, Euler steps (forward mode: jvp)."""
    dt = 0.01
    vx = v0 * math.cos(angle)
    vy = v0 * math.sin(angle)
    x = 0.0
    y = 0.0
    for _ in range(n):
        speed = math.sqrt(vx * vx + vy * vy)
        vx = vx - dt * drag * speed * vx
        vy = vy - dt * (9.81 + drag * speed * vy)
        x = x + dt * vx
        y = y + dt * vy
    return x + 0.1 * y


def rosenbrock(x):
    """The vectorised Rosenbrock function (second order: a Hessian-vector product)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def gaussian_mixture_1d(x, mu, s):
    """A two-component mixture's negative log-density (second order: grad of grad)."""
    a = math.exp(-0.5 * ((x - mu) / s) ** 2)
    b = math.exp(-0.5 * ((x + mu) / s) ** 2)
    return -math.log(0.3 * a + 0.7 * b)


def trap_potential(q, charges):
    return np.sum(charges * q * q) + math.exp(q[0] * q[1])


trap_force = srcdiff.grad(trap_potential)


def after_gradient_step(q, charges, lr):
    """The energy after one gradient-descent step (an inner gradient: its VJP is a
    Hessian-vector product)."""
    moved = q - lr * trap_force(q, charges)
    return trap_potential(moved, charges)


def softplus_link(x):
    return math.log1p(math.exp(x))


# d softplus / dx = 1 / (1 + e^-x): no exp(x) to overflow. Registered rules and inner gradients
# are named after their function, process-wide: a name another test module also registers
# would become softplus_1 when both are imported, and the golden file would differ.
srcdiff.register_rule(softplus_link, "g / (1.0 + exp(-x))")


def softplus_regression(w, b, x, y):
    """A Poisson-like regression with a softplus link, through a user's rule."""
    s = 0.0
    for i in range(x.shape[0]):
        rate = softplus_link(w * x[i] + b)
        s += rate - y[i] * math.log(rate)
    return s


def clipped_loss(a, b, lo, hi):
    """Branches and min/max selection: adjoints that may be zero get `!= 0.0` guards."""
    if a > b:
        t = math.exp(a - b)
    else:
        t = b * b
    u = max(lo, min(t, hi))
    return u * u + math.log(hi - lo) * a


def piecewise_return(x, y):
    """An early return (the _returned flag) in a smooth piecewise function."""
    if x < 0.0:
        return x * y
    r = math.hypot(x, y)
    if r > 2.0:
        return math.atan2(y, x) * r
    return x * x * y


def kepler_anomalies(e, M):
    """Solve Kepler's equation E - e sin E = M by Newton's method for each mean anomaly,
    to a tolerance: a while loop inside a for loop (trip counts on the int tape)."""
    s = 0.0
    for i in range(M.shape[0]):
        E = M[i]
        k = 0
        while abs(E - e * math.sin(E) - M[i]) > 1e-13 and k < 30:
            E = E - (E - e * math.sin(E) - M[i]) / (1.0 - e * math.cos(E))
            k += 1
        s += math.cos(E)
    return s
