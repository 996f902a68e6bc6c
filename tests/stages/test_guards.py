"""Stage 3b, guards: the errors Python raises, as ``Check`` statements in the IR, once kinds are
known (what normalize checks around ``math`` calls is tested with normalize)."""

from __future__ import annotations

from srcdiff import ir

from .build import guard, infer, lines, normalized, run_optimize, show, statements


def guarded(func, **param_kinds) -> ir.Function:
    return guard(normalized(func), infer(func, **param_kinds))


def checks_of(fn: ir.Function) -> list[ir.Check]:
    return [s for s in statements(fn) if isinstance(s, ir.Check)]


def divide(x, y):
    return x / y


def test_division_of_python_numbers_checks_the_divisor():
    fn = guarded(divide, x="float", y="float")
    line = divide.__code__.co_firstlineno + 1
    assert show(fn.body) == "\n".join(
        [
            "if y == 0:",
            f"    raise ZeroDivisionError('test_guards.py:{line}: float division by zero')",
            "y0 = x / y",
            "return y0",
        ]
    )


def divide_by_element(x, v):
    return x / v[0]


def test_division_by_an_array_element_is_not_checked():
    # a NumPy scalar divides to inf with a warning, as in the plain function
    fn = guarded(divide_by_element, x="float", v="array:float:1")
    assert [c.error for c in checks_of(fn)] == ["IndexError"]  # only the constant index


def over_all(x):
    s = 0.0
    for i in range(len(x)):
        s = s + x[i]
    return s


def shifted(x):
    s = 0.0
    for i in range(len(x) - 1):
        s = s + x[i + 1]
    return s


def test_an_index_provably_in_range_is_not_checked():
    assert checks_of(guarded(over_all, x="array:float:1")) == []
    assert checks_of(guarded(shifted, x="array:float:1")) == []


def shifted_by_n(x, n):
    s = 0.0
    for i in range(n):
        s = s + x[i + 1]
    return s


def test_an_index_every_iteration_reads_is_checked_once_before_the_loop():
    fn = guarded(shifted_by_n, x="array:float:1", n="int")
    line = shifted_by_n.__code__.co_firstlineno + 3
    assert lines(fn)[2:5] == [
        "if 0 < n and n >= x.shape[0]:",
        f"raise IndexError('test_guards.py:{line}: index out of range for axis 0 of `x`')",
        "for i in range(n):",
    ]
    loop = next(s for s in fn.body if isinstance(s, ir.For))
    assert checks_of(loop.body) == []


def element(x, k):
    return x[k]


def test_any_other_index_is_checked_where_it_is_used_negative_ones_included():
    fn = guarded(element, x="array:float:1", k="int")
    assert lines(fn)[1] == "if k < -x.shape[0] or k >= x.shape[0]:"
    assert isinstance(fn.body[1], ir.Assign) and fn.body[1].target == "y"


def to_int(x):
    return int(x) * 1.0


def test_converting_a_float_to_int_checks_nan_and_infinity():
    assert [
        (c.error, c.message.split(": ", 1)[1]) for c in checks_of(guarded(to_int, x="float"))
    ] == [
        ("ValueError", "cannot convert float NaN to integer"),
        ("OverflowError", "cannot convert float infinity to integer"),
    ]


def power(x, y):
    return x**y


def test_a_power_checks_zero_to_a_negative_power_fractional_powers_and_overflow():
    assert [c.error for c in checks_of(guarded(power, x="float", y="float"))] == [
        "ZeroDivisionError",
        "ValueError",
        "OverflowError",
    ]
    fn = guarded(power, x="float", y="float")
    assert isinstance(fn.body[3], ir.Check)  # overflow: after the power is computed
    assert fn.body[2] == next(s for s in fn.body if isinstance(s, ir.Assign))


def constant_operands(x, n):
    return x**2 + n % 3


def test_checks_that_constants_decide_are_left_for_the_optimizer_to_drop():
    fn = guarded(constant_operands, x="float", n="int")
    assert [c.error for c in checks_of(fn)] == [
        "ZeroDivisionError",
        "OverflowError",
        "ZeroDivisionError",
    ]
    assert [c.error for c in checks_of(run_optimize(fn))] == ["OverflowError"]


def test_a_helper_called_with_several_kinds_gets_only_the_checks_all_need():
    scalar, array = infer(divide, x="float", y="float"), infer(divide, x="float", y="array:float:1")
    assert [c.error for c in checks_of(guard(normalized(divide), [scalar]))] == [
        "ZeroDivisionError"
    ]
    assert checks_of(guard(normalized(divide), [scalar, array])) == []  # an array gives inf
