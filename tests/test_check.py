"""srcdiff.check_grad and srcdiff.testing.assert_grad_close: the report on good gradients,
a planted wrong rule caught by both methods, skips with reasons, and random programs."""

from __future__ import annotations

import importlib.util
import math
import random
import sys

import numpy as np
import pytest

import srcdiff
from srcdiff import symbolic
from srcdiff.rules import PRIMITIVES, template
from srcdiff.testing import assert_grad_close


def quiz(x, z):
    return math.exp(x * z) + x * z / math.log(x) + math.sin(math.log(x)) / (x * z)


def layer(W, x):
    h = np.tanh(W @ x)
    return np.sum(h**2) + np.max(h) + np.mean(W, axis=0)[1]


def branchy(x, n):
    s = 0.0
    for i in range(n):
        if x * i > 1.0:
            s += math.sin(x * i)
        else:
            s = max(s, x**2)
    return s


def squares(x):
    return np.sum(np.tanh(x) ** 2)


def contraction(a, b):
    return np.einsum("ij,ij->", a, b)


def sine(x, y):
    return math.sin(x * y) + y


def test_quiz_passes_both_methods():
    report = srcdiff.check_grad(quiz, 2.0, 3.0, wrt=(0, 1))
    assert report.ok
    assert [m.status for m in report.methods.values()] == ["ok", "ok"]
    fd, sym = report.methods["finite_differences"], report.methods["sympy"]
    assert fd.max_rel_error < 1e-8 and sym.max_rel_error < 1e-12
    assert fd.worst in ("x", "z") and sym.worst in ("x", "z")
    assert report.gradient == pytest.approx([1208.3812151266, 809.7074792185], rel=1e-12)
    table = str(report)
    assert table.splitlines()[0] == "gradient check of quiz: ok"
    assert "finite_differences" in table and "sympy" in table


def test_arrays_are_checked_per_element_and_named():
    W = np.arange(6.0).reshape(2, 3) / 10
    x = np.array([0.3, -0.2, 0.5])
    report = srcdiff.check_grad(layer, W, x, wrt=(0, 1))
    assert report.ok, report
    assert report.methods["sympy"].worst.startswith(("W[", "x["))
    assert report.gradient[0].shape == (2, 3)


def test_branches_and_loops_resolve_at_the_point():
    report = srcdiff.check_grad(branchy, 0.4, 6, wrt="x")
    assert report.ok, report
    assert report.methods["sympy"].status == "ok"


def test_large_arrays_use_random_directions_and_sympy_says_why_it_skips():
    report = srcdiff.check_grad(squares, np.linspace(-1.0, 1.0, 100))
    assert report.ok, report
    assert report.methods["finite_differences"].worst.startswith("x·v")
    sym = report.methods["sympy"]
    assert sym.status == "skipped" and "100 elements" in sym.reason
    assert "skipped" in str(report) and "100 elements" in str(report)


def test_untranslatable_function_is_skipped_not_passed():
    a, b = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    report = srcdiff.check_grad(contraction, a, b, methods=("sympy",))
    assert report.methods["sympy"].status == "skipped"
    assert "einsum" in report.methods["sympy"].reason
    assert not report.ok  # nothing was checked


def test_long_loops_are_skipped_with_the_limit():
    report = srcdiff.check_grad(branchy, 0.001, 500, methods=("sympy",))
    assert report.methods["sympy"].status == "skipped"
    assert "200 iterations" in report.methods["sympy"].reason


def recurrence(x):
    s = x
    for _ in range(10):
        s = 0.5 * s + 0.25 * s * s + math.sqrt(1.0 + s * s) * x
    return s


def sines(x, n):
    for _ in range(n):
        x = math.sin(x)
    return x


def test_a_ten_step_recurrence_is_compared_not_given_up():
    # As one SymPy expression this took 46 s for 7 steps, 346 s for 8 and over ten minutes
    # for 10; as a straight-line program, one line per operation, well under a second.
    report = srcdiff.check_grad(recurrence, 0.3)
    assert report.methods["sympy"].status == "ok", report
    assert report.methods["sympy"].max_rel_error < 1e-12
    assert report.ok


def test_a_function_just_over_the_operations_bound_is_skipped(monkeypatch):
    monkeypatch.setattr(symbolic, "MAX_OPERATIONS", 30)  # sines(x, 30): 30 operations
    assert srcdiff.check_grad(sines, 0.5, 30, methods=("sympy",)).ok
    report = srcdiff.check_grad(sines, 0.5, 31, methods=("sympy",))
    sym = report.methods["sympy"]
    assert sym.status == "skipped" and "more than 30 operations" in sym.reason
    assert "MAX_OPERATIONS" in sym.reason and not report.ok


def test_a_run_past_the_time_bound_is_skipped(monkeypatch):
    monkeypatch.setattr(symbolic, "MAX_SECONDS", 0.0)
    sym = srcdiff.check_grad(recurrence, 0.3, methods=("sympy",)).methods["sympy"]
    assert sym.status == "skipped" and "MAX_SECONDS" in sym.reason


def test_float32_arrays_are_checked_with_a_float32_tolerance():
    W = (np.arange(6.0).reshape(2, 3) / 10).astype(np.float32)
    x = np.array([0.3, -0.2, 0.5], dtype=np.float32)
    report = srcdiff.check_grad(layer, W, x, wrt=(0, 1))
    assert report.ok, report
    assert report.gradient[0].dtype == np.float32


@pytest.fixture
def wrong_sine_rule(monkeypatch):
    """d sin(x) = g * sin(x): a planted mistake in the rule table."""
    monkeypatch.setattr(PRIMITIVES["sin"], "vjps", (template("g * sin(x)", ("x",)),))


def test_a_wrong_rule_is_caught_by_both_methods(wrong_sine_rule):
    report = srcdiff.check_grad(sine, 0.7, 1.3, wrt=(0, 1))
    assert not report.ok
    for method in ("finite_differences", "sympy"):
        result = report.methods[method]
        assert result.status == "mismatch", report
        assert result.max_rel_error > 0.1
    assert "FAILED" in str(report) and "mismatch" in str(report)


def test_a_wrong_rule_inside_a_loop_is_caught_by_sympy(wrong_sine_rule):
    sym = srcdiff.check_grad(sines, 0.7, 10, methods=("sympy",)).methods["sympy"]
    assert sym.status == "mismatch" and sym.max_rel_error > 0.1


def test_assert_grad_close_raises_with_the_table(wrong_sine_rule):
    with pytest.raises(AssertionError, match="mismatch") as raised:
        assert_grad_close(sine, 0.7, 1.3, wrt=(0, 1))
    assert "gradient check of sine: FAILED" in str(raised.value)


def test_a_decorated_function_is_checked_with_its_own_wrt():
    decorated = srcdiff.grad(quiz, wrt=("x", "z"))
    report = srcdiff.check_grad(decorated, 2.0, 3.0)
    assert report.ok and len(report.gradient) == 2, report


def test_assert_grad_close_returns_the_report():
    assert assert_grad_close(sine, 0.7, 1.3, wrt=(0, 1)).ok


def test_unknown_method_and_parameter_are_errors():
    with pytest.raises(srcdiff.SrcdiffError, match="unknown check method"):
        srcdiff.check_grad(sine, 0.7, 1.3, methods=("complex_step",))
    with pytest.raises(srcdiff.SrcdiffError, match="no parameter 'w'"):
        srcdiff.check_grad(sine, 0.7, 1.3, wrt="w")


# --- random scalar programs -------------------------------------------------------------------
UNARY = [
    "math.sin({})", "math.cos({})", "math.tanh({})", "math.exp(0.3 * {})",
    "math.log(1.0 + {} ** 2)", "math.sqrt(2.0 + {} ** 2)", "abs({})", "math.atan({})",
]  # fmt: skip
BINARY = ["({} + {})", "({} - {})", "({} * {})", "({} / (1.5 + {} ** 2))", "max({}, {})"]


def random_expression(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(["x", "y", "z", f"{rng.uniform(-2, 2):.3f}"])
    if rng.random() < 0.45:
        return rng.choice(UNARY).format(random_expression(rng, depth - 1))
    left, right = random_expression(rng, depth - 1), random_expression(rng, depth - 1)
    return rng.choice(BINARY).format(left, right, right)


def random_program(rng: random.Random, name: str) -> str:
    lines = [f"def {name}(x, y, z):"]
    variables = ["x", "y", "z"]
    for k in range(rng.randint(1, 4)):
        expression = random_expression(rng, 3)
        for v in variables[3:]:
            expression = expression.replace("z", v, 1) if rng.random() < 0.5 else expression
        lines.append(f"    t{k} = {expression}")
        variables.append(f"t{k}")
    if rng.random() < 0.5:
        lines.append(f"    if {variables[-1]} > 0.0:")
        lines.append(f"        {variables[-1]} = {variables[-1]} * x")
    lines.append(f"    return {' + '.join(variables[3:])}")
    return "\n".join(lines)


def test_random_scalar_programs_pass_both_methods(tmp_path):
    rng = random.Random(20261122)
    sources = [random_program(rng, f"program{k}") for k in range(25)]
    path = tmp_path / "random_programs.py"
    path.write_text("import math\n\n\n" + "\n\n\n".join(sources) + "\n")
    spec = importlib.util.spec_from_file_location("random_programs", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["random_programs"] = module
    spec.loader.exec_module(module)
    try:
        for k, source in enumerate(sources):
            f = getattr(module, f"program{k}")
            point = [rng.uniform(-1.5, 1.5) for _ in range(3)]
            report = srcdiff.check_grad(f, *point, wrt=(0, 1, 2), rtol=1e-5, atol=1e-8)
            assert report.ok, f"{source}\nat {point}\n{report}"
            assert report.methods["sympy"].status == "ok", f"{source}\n{report}"
    finally:
        del sys.modules["random_programs"]


def softmax_cross_entropy(W, b, X, labels):
    z = np.tanh(X @ W + b)
    top = np.max(z, axis=1, keepdims=True)
    logp = z - top - np.log(np.sum(np.exp(z - top), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(X.shape[0]), labels])


def test_integer_label_indexing_translates_to_sympy():
    rng = np.random.default_rng(0)
    W, b, X = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((5, 3))
    report = srcdiff.check_grad(
        softmax_cross_entropy, W, b, X, np.array([0, 3, 1, 1, 2]), wrt=(0, 1)
    )
    assert report.methods["sympy"].status == "ok", report
    assert report.ok
