"""One training epoch of the digits MLP: srcdiff against hand-written NumPy backprop and
PyTorch (CPU, same architecture, batch, dtype and optimizer), measured in the same run.
srcdiff trains twice: from six separate arrays, and from examples/mlp_digits.py's dict of
parameters (the structure is compiled away, so the two should take the same time).

    python benchmarks/training.py           # batch 32 and 128, 9 epochs each, medians
    python benchmarks/training.py --quick   # 3 epochs each

The network is examples/mlp_digits.py's: 64 inputs, two tanh layers of 64, a 10-class
softmax cross-entropy with one-hot targets, float64, plain SGD (lr 0.05). One epoch is a
pass over the 1,347 training digits in a fixed shuffled order. Needs scikit-learn; PyTorch
is optional (``pip install ".[bench]"``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread everywhere, as in run.py

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import mlp_digits  # noqa: E402
from mlp_digits import tanh  # noqa: E402

import srcdiff  # noqa: E402

LR = 0.05


def data(seed: int = 0):
    digits = load_digits()
    X, Y = digits.data / 16.0, np.eye(10)[digits.target]
    X_train, _, Y_train, _ = train_test_split(X, Y, test_size=0.25, random_state=seed)
    return X_train, Y_train


KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")


def initial_dict(seed: int = 0) -> dict:
    return mlp_digits.initial_params((64, 64, 64, 10), "tanh", np.random.default_rng(seed))


def initial(seed: int = 0) -> tuple:
    params = initial_dict(seed)
    return tuple(params[k] for k in KEYS)


def flat_loss(W1, b1, W2, b2, W3, b3, X, Y):
    """examples/mlp_digits.py's loss with its tanh, the parameters as six arguments."""
    h1 = tanh(X @ W1 + b1)
    h2 = tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    top = np.max(z, axis=1, keepdims=True)
    logp = z - top - np.log(np.sum(np.exp(z - top), axis=1, keepdims=True))
    return -np.mean(np.sum(Y * logp, axis=1))


def batches(n: int, batch: int, seed: int = 1):
    order = np.random.default_rng(seed).permutation(n)
    return [order[k : k + batch] for k in range(0, n, batch)]


# --- the three trainers: each runs one epoch in place --------------------------------------------
def srcdiff_epoch(loss_and_grad, params, X, Y, rows_list):
    for rows in rows_list:
        _, grads = loss_and_grad(*params, X[rows], Y[rows])
        for p, g in zip(params, grads, strict=True):
            p -= LR * g


def srcdiff_dict_epoch(loss_and_grad, params, X, Y, rows_list):
    for rows in rows_list:
        _, grads = loss_and_grad(params, X[rows], Y[rows])
        for k, g in grads.items():
            params[k] -= LR * g


def hand_gradient(W1, b1, W2, b2, W3, b3, X, Y):
    """Backprop by hand for the same loss: mean cross-entropy of softmax(MLP(X))."""
    n = X.shape[0]
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    g_z = (p - Y) / n
    g_a2 = (g_z @ W3.T) * (1.0 - h2 * h2)
    g_a1 = (g_a2 @ W2.T) * (1.0 - h1 * h1)
    return (X.T @ g_a1, g_a1.sum(axis=0), h1.T @ g_a2, g_a2.sum(axis=0), h2.T @ g_z,
            g_z.sum(axis=0))  # fmt: skip


def hand_epoch(params, X, Y, rows_list):
    for rows in rows_list:
        for p, g in zip(params, hand_gradient(*params, X[rows], Y[rows]), strict=True):
            p -= LR * g


def torch_trainer(params):
    import torch

    torch.set_num_threads(1)
    tensors = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt = torch.optim.SGD(tensors, lr=LR)

    def epoch(X, Y, rows_list):
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
        W1, b1, W2, b2, W3, b3 = tensors
        for rows in rows_list:
            index = torch.from_numpy(rows)
            h1 = torch.tanh(Xt[index] @ W1 + b1)
            h2 = torch.tanh(h1 @ W2 + b2)
            logp = torch.log_softmax(h2 @ W3 + b3, dim=1)
            loss = -(Yt[index] * logp).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch, tensors


# --- measuring ---------------------------------------------------------------------------------
def median_epoch(run, repeats: int) -> float:
    run()  # warm: compiled, caches filled
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(batch: int, X, Y, flat, by_dict, has_torch: bool, repeats: int) -> str:
    """One table row; exits with status 1 if srcdiff and the hand-written backprop disagree."""
    rows_list = batches(len(X), batch)
    ours, theirs, as_dict = list(initial()), list(initial()), initial_dict()
    t_ours = median_epoch(lambda: srcdiff_epoch(flat, ours, X, Y, rows_list), repeats)
    t_dict = median_epoch(lambda: srcdiff_dict_epoch(by_dict, as_dict, X, Y, rows_list), repeats)
    t_hand = median_epoch(lambda: hand_epoch(theirs, X, Y, rows_list), repeats)
    trained = [ours, [as_dict[k] for k in KEYS]]
    if not all(
        np.allclose(a, b, rtol=1e-8, atol=1e-10)
        for params in trained
        for a, b in zip(params, theirs, strict=True)
    ):
        print(f"batch {batch}: srcdiff's and the hand-written parameters disagree")
        raise SystemExit(1)
    t_torch = None
    if has_torch:
        epoch, _ = torch_trainer(initial())
        t_torch = median_epoch(lambda: epoch(X, Y, rows_list), repeats)
    cells = [f"{1e3 * t_ours:.1f} ms", f"{1e3 * t_dict:.1f} ms", f"{1e3 * t_hand:.1f} ms"]
    cells += [f"{1e3 * t_torch:.1f} ms" if t_torch else "n/a", f"{t_dict / t_ours:.2f}"]
    cells += [f"{t_ours / t_hand:.2f}"]
    cells += [f"{t_ours / t_torch:.2f}" if t_torch else "n/a"]
    return f"| {batch} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    repeats = 3 if parser.parse_args().quick else 9
    X, Y = data()
    flat = srcdiff.value_and_grad(flat_loss, wrt=tuple(range(6)))
    by_dict = srcdiff.value_and_grad(mlp_digits.make_loss(mlp_digits.tanh))
    try:
        import torch  # noqa: F401

        has_torch = True
    except ImportError:
        has_torch = False
    print(f"# One epoch of the digits MLP ({len(X)} digits, 64-64-64-10 tanh, float64, SGD)\n")
    print(
        "| batch | srcdiff | srcdiff, dict | hand NumPy | PyTorch | dict/arrays | srcdiff/hand "
        "| srcdiff/PyTorch |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for batch in (32, 128):
        print(row(batch, X, Y, flat, by_dict, has_torch, repeats))
    print(
        f"\nmedians of {repeats} epochs after a warm one; one thread; srcdiff (six arrays, and a "
        "dict) and the hand-written backprop train the same parameters from the same start "
        "(checked equal after the runs)."
    )


if __name__ == "__main__":
    main()
