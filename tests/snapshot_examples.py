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
