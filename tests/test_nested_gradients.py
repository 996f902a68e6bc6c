"""A gradient called inside a function that is differentiated in turn (an optimiser's inner
steps, GradBench's saddle and particle evaluations): its derivative is a product with the
Hessian of its function, by reverse mode over forward mode. Checked against centred
differences of the plain function, which calls the gradient as it is."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import marker_line

import srcdiff


def cubic(p):
    return p * p * p


cubic_slope = srcdiff.grad(cubic)


def times_slope(p):
    return p * cubic_slope(p)


def coupling(x, y):
    return x[0] * x[0] * y[1] + math.sin(x[1] * y[0]) - 0.5 * (y[0] * y[0] + y[1] * y[1])


ascent = srcdiff.grad(coupling, wrt=1)


def after_ascent(x, y0, steps):
    y = y0
    for _ in range(steps):
        y = y + 0.25 * ascent(x, y)
    return coupling(x, y)


def energy(q, charges):
    return np.sum(charges * q * q) + math.exp(q[0] * q[1])


force = srcdiff.grad(energy)


def one_step(q, charges):
    moved = q - 0.1 * force(q, charges)
    return energy(moved, charges)


def centred(f, args, position, h=1e-6):
    x0 = args[position]
    if not isinstance(x0, np.ndarray):
        shifted = [list(args), list(args)]
        shifted[0][position], shifted[1][position] = x0 + h, x0 - h
        return (f(*shifted[0]) - f(*shifted[1])) / (2 * h)
    out = np.zeros(x0.shape)
    for index in np.ndindex(x0.shape):
        up, down = list(args), list(args)
        up[position], down[position] = x0.copy(), x0.copy()
        up[position][index] += h
        down[position][index] -= h
        out[index] = (f(*up) - f(*down)) / (2 * h)
    return out


def test_a_gradient_inside_a_gradient_is_differentiated_not_read_as_its_function():
    # d/dp (p * 3 p^2) = 9 p^2; read as the plain cubic it came out 4 p^3
    assert srcdiff.grad(times_slope)(1.0) == pytest.approx(9.0)
    assert srcdiff.grad(times_slope)(2.0) == pytest.approx(36.0)


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_inner_gradient_ascent_steps_differentiate_with_respect_to_the_outer_point(backend):
    x, y0 = np.array([0.7, -0.4]), np.array([0.3, 0.9])
    got = srcdiff.grad(after_ascent, wrt=(0, 1), backend=backend)(x, y0, 4)
    for position, g in enumerate(got):
        expected = centred(after_ascent, (x, y0, 4), position)
        np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)


def test_a_gradient_step_of_array_code_and_forward_mode_agree():
    q, charges = np.array([0.3, -0.2, 0.5]), np.array([1.0, 2.0, 0.5])
    got = srcdiff.grad(one_step)(q, charges)
    np.testing.assert_allclose(got, centred(one_step, (q, charges), 0), rtol=1e-6, atol=1e-8)
    direction = np.array([0.2, 1.0, -0.7])
    _, tangent = srcdiff.jvp(one_step)(q, charges, direction)
    assert tangent == pytest.approx(float(got @ direction), rel=1e-10)
    with_charges = srcdiff.grad(one_step, wrt=1)(q, charges)  # a mixed block of the Hessian
    expected = centred(one_step, (q, charges), 1)
    np.testing.assert_allclose(with_charges, expected, rtol=1e-6, atol=1e-8)


both = srcdiff.grad(coupling, wrt=(0, 1))
with_value = srcdiff.value_and_grad(cubic)


def calls_a_tuple_gradient(x, y):
    gx, gy = both(x, y)  # tuple gradient
    return np.sum(gx)


def calls_value_and_grad(p):
    value, slope = with_value(p)  # value and grad
    return value * slope


@pytest.mark.parametrize(
    ("f", "args", "marker"),
    [
        (calls_a_tuple_gradient, (np.ones(2), np.ones(2)), "tuple gradient"),
        (calls_value_and_grad, (1.0,), "value and grad"),
    ],
)
def test_gradients_returning_tuples_inside_are_refused_at_the_users_line(f, args, marker):
    line = marker_line(f, marker)
    with pytest.raises(srcdiff.SrcdiffError, match=rf"test_nested_gradients.py:{line}:.*tuple"):
        srcdiff.grad(f)(*args)


def test_a_third_derivative_through_an_inner_gradient_is_refused():
    with pytest.raises(srcdiff.SrcdiffError, match="third derivative"):
        srcdiff.hessian(times_slope)(1.0)
