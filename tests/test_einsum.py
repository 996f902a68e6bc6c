"""np.einsum with one or two operands: gradients against finite differences, and the
adjoint printed as an einsum itself where it can be."""

from __future__ import annotations

import numpy as np
import pytest
from test_arrays import check_gradient

import srcdiff


def matrix_product(a, b):
    return np.sum(np.einsum("ij,jk->ik", a, b) ** 2)


def batched_matvec(q, m):
    return np.sum(np.einsum("kij,kj->ki", q, m) ** 2)


def column_sums_and_frobenius(a, b):
    return np.sum(np.einsum("ij->j", a) ** 2) + np.einsum("ij,ij->", a, b)


def outer_product_3d(a, v):
    return np.sum(np.tanh(np.einsum("ij,k->ijk", a, v)))


def index_only_in_one_operand(a, b):
    return np.sum(np.einsum("ij,kl->il", a, b) ** 2)


RNG = np.random.default_rng(7)
CASES = [
    (matrix_product, (RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2)))),
    (batched_matvec, (RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 4)))),
    (column_sums_and_frobenius, (RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4)))),
    (outer_product_3d, (RNG.normal(size=(2, 3)), RNG.normal(size=4))),
    (index_only_in_one_operand, (RNG.normal(size=(2, 3)), RNG.normal(size=(4, 2)))),
]


@pytest.mark.parametrize(("f", "args"), CASES, ids=[f.__name__ for f, _ in CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_einsum_matches_finite_differences(f, args, dtype):
    args = tuple(a.astype(dtype) for a in args)
    check_gradient(f, args, wrt=(0, 1))


def test_einsum_adjoint_is_an_einsum():
    g = srcdiff.grad(matrix_product, wrt=(0, 1))
    g(*CASES[0][1])
    assert "np.einsum('ik,jk->ij', g_t0, b)" in g.source
    assert "np.einsum('ik,ij->jk', g_t0, a)" in g.source


def no_output(a, b):
    return np.sum(np.einsum("ij,jk", a, b))


def diagonal(a, b):
    return np.sum(np.einsum("ii->i", a))


def unknown_index(a, b):
    return np.sum(np.einsum("ij,jk->iz", a, b))


@pytest.mark.parametrize(
    ("f", "message"),
    [(no_output, "with an output"), (diagonal, "repeat an index"), (unknown_index, "no operand")],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_unsupported_einsum_subscripts_are_reported_at_the_line(f, message):
    with pytest.raises(srcdiff.SrcdiffError, match=message) as caught:
        srcdiff.grad(f, wrt=(0, 1))(np.ones((2, 2)), np.ones((2, 2)))
    assert "test_einsum.py:" in str(caught.value)
