"""srcdiff.register_rule: users' own derivative rules, used everywhere the function is
called, shown in .source, checked with check_grad, compiled by Numba when they can be."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from scipy import special

import srcdiff


def softplus(x):
    return math.log1p(math.exp(x))


# d softplus / dx = 1 / (1 + e^-x): no exp(x) to overflow, unlike the derivative of the code
srcdiff.register_rule(softplus, "g / (1.0 + exp(-x))")


@numba.njit
def cube(x):
    return x * x * x


@numba.njit
def cube_vjp(g, ans, x):
    return 3.0 * g * x * x


srcdiff.register_rule(cube, cube_vjp)
srcdiff.register_rule(special.erf, "g * 2.0 / sqrt(pi) * exp(-x * x)")


def hinge(x, margin):
    return max(0.0, margin - x)


srcdiff.register_rule(
    hinge, "-g * (1.0 if margin > x else 0.0)", "g * (1.0 if margin > x else 0.0)"
)


def loss_softplus(w, x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + softplus(w * x[i]) * w
    return s


def loss_cube(a, n):
    s = 0.0
    for i in range(n):
        s += cube(a * i + 0.5)
    return s


def loss_erf(x):
    return np.sum(special.erf(x) * x)


def loss_hinge(x, m):
    return hinge(x, m) ** 2 + x


def test_python_rule_is_used_checked_and_run_on_numpy():
    x = np.array([1.0, -2.0, 3.0])
    g = srcdiff.grad(loss_softplus)
    value = g(0.5, x)
    assert srcdiff.check_grad(loss_softplus, 0.5, x).ok
    source = g.source
    assert "from srcdiff.custom import softplus" in source
    assert "(1.0 + math.exp(-t" in source  # the rule, not log1p's derivative
    assert "`softplus(x)` is not a Numba function" in source
    assert np.isfinite(value)


def test_numba_function_with_a_numba_vjp_compiles():
    g = srcdiff.grad(loss_cube)
    assert g(0.7, 4) == pytest.approx(sum(3 * (0.7 * i + 0.5) ** 2 * i for i in range(4)))
    assert "compiled with Numba" in g.source
    assert "cube_vjp0(" in g.source
    assert srcdiff.check_grad(loss_cube, 0.7, 4).ok


def test_scipy_ufunc_applies_to_arrays_elementwise():
    x = np.linspace(-1.0, 1.0, 5)
    report = srcdiff.check_grad(loss_erf, x)
    assert report.ok, report
    expected = special.erf(x) + x * 2 / math.sqrt(math.pi) * np.exp(-x * x)
    np.testing.assert_allclose(srcdiff.grad(loss_erf)(x), expected, rtol=1e-12)


def test_rules_of_several_parameters():
    for x in (0.2, 1.7):
        report = srcdiff.check_grad(loss_hinge, x, 1.0, wrt=(0, 1))
        assert report.ok, report


def test_forward_mode_reads_tangents_off_the_rule():
    value, tangent = srcdiff.jvp(loss_cube)(0.7, 4, 1.0)
    assert value == pytest.approx(loss_cube(0.7, 4))
    assert tangent == pytest.approx(srcdiff.grad(loss_cube)(0.7, 4))


def test_second_derivatives_through_a_callable_rule_are_an_error():
    # srcdiff cannot differentiate the callable: the Hessian came out without its share
    with pytest.raises(srcdiff.SrcdiffError, match="cube_vjp0. is a VJP given as a Python"):
        srcdiff.hessian(loss_cube)(0.7, 4)
    second = srcdiff.hessian(loss_softplus)(0.5, np.array([1.0, -2.0]))  # a template: fine
    d = srcdiff.grad(loss_softplus)
    expected = (d(0.5 + 1e-6, np.array([1.0, -2.0])) - d(0.5 - 1e-6, np.array([1.0, -2.0]))) / 2e-6
    assert second == pytest.approx(expected, rel=1e-6)


def test_sympy_check_says_it_has_no_form_for_the_function():
    report = srcdiff.check_grad(loss_cube, 0.7, 4)
    assert report.methods["sympy"].status == "skipped"
    assert "cube" in report.methods["sympy"].reason


def doubled(x):
    return 2.0 * x


def uses_doubled(x):
    return doubled(x) * x


def test_a_wrong_rule_is_caught():
    srcdiff.register_rule(doubled, "g * 3.0")  # wrong on purpose (and used by no other test)
    report = srcdiff.check_grad(uses_doubled, 1.5)
    assert report.methods["finite_differences"].status == "mismatch"
    assert not report.ok


def test_registration_errors():
    def one(x):
        return x

    with pytest.raises(srcdiff.SrcdiffError, match="1 parameters but 2 VJPs"):
        srcdiff.register_rule(one, "g", "g")

    def adjoint_named(g):
        return g

    with pytest.raises(srcdiff.SrcdiffError, match="name the adjoint"):
        srcdiff.register_rule(adjoint_named, "g")
