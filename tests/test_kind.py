"""The Kind value type: construction, equality, promotion and joining, the words users read,
and that error messages show those words rather than a kind's debugging form."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import srcdiff
from srcdiff.kind import (
    BOOL,
    FLOAT,
    INT,
    LIST,
    MIXED,
    NONE,
    SLICE,
    STR,
    Kind,
    KindError,
    promote,
)
from srcdiff.rules import PRIMITIVES


def test_constructors_and_constants():
    assert Kind.number("float") == FLOAT
    assert Kind.array("float", 2) == Kind("array", "float", 2)
    assert Kind.array("int", 1).is_array and Kind.array("int", 1).ndim == 1
    assert Kind.array("bool", 1).element == "bool"
    assert Kind.shape(3).length == 3 and not Kind.shape(3).is_array
    assert Kind.of_rank("float", 0) == FLOAT
    assert Kind.of_rank("int", 2) == Kind.array("int", 2)
    assert [Kind.of_constant(v) for v in (None, "ij->j", True, 3, 2.5)] == [
        NONE, STR, BOOL, INT, FLOAT,
    ]  # fmt: skip


@pytest.mark.parametrize(
    "fields",
    [("number", None), ("array", "float", -1), ("number", "float", 2), ("shape",),
     ("slice", "float"), ("array", "complex", 1)],
)  # fmt: skip
def test_inconsistent_kinds_cannot_be_built(fields):
    with pytest.raises(ValueError):
        Kind(*fields)


def test_kinds_are_values():
    """Equal kinds are equal and hash alike (they key caches of compiled variants), and
    cannot be changed."""
    assert Kind.array("float", 2) == Kind("array", "float", 2)
    assert hash(Kind.array("float", 2)) == hash(Kind("array", "float", 2))
    assert Kind.array("float", 1) != Kind.array("float", 2) != Kind.array("int", 2)
    assert FLOAT != INT and Kind.shape(1) != Kind.shape(2) and NONE != SLICE
    variants = {(FLOAT, Kind.array("float", 1)): "a"}
    assert variants[(Kind.number("float"), Kind("array", "float", 1))] == "a"
    with pytest.raises(AttributeError):
        FLOAT.ndim = 1  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(Kind.array("int", 3))) == Kind.array("int", 3)


def test_queries():
    assert FLOAT.is_number and not FLOAT.is_array and FLOAT.ndim == 0
    assert INT.is_integer and BOOL.is_integer and not FLOAT.is_integer
    assert not Kind.array("int", 1).is_integer  # an array of ints is not an integer
    assert FLOAT.holds_floats and Kind.array("float", 3).holds_floats
    assert not INT.holds_floats and not Kind.array("int", 1).holds_floats
    assert Kind.array("bool", 2).scalar() == BOOL and INT.scalar() == INT
    assert Kind.shape(2).scalar() == Kind.shape(2)


def test_differentiable_kind_is_float_of_the_same_rank():
    assert INT.differentiable() == FLOAT and BOOL.differentiable() == FLOAT
    assert Kind.array("int", 2).differentiable() == Kind.array("float", 2)
    assert Kind.array("float", 1).differentiable() == Kind.array("float", 1)


def test_promotion_follows_python_arithmetic():
    assert promote((BOOL, BOOL)) == INT  # True + True == 2
    assert promote((BOOL, INT)) == INT
    assert promote((INT, FLOAT)) == FLOAT and promote((FLOAT, BOOL)) == FLOAT
    assert promote((FLOAT,)) == FLOAT
    # any other kind wins, the first of them: the operation decides if it is allowed
    assert promote((INT, Kind.shape(2), STR)) == Kind.shape(2)


def test_join_of_two_assignments():
    assert INT.join(FLOAT) == FLOAT and BOOL.join(INT) == INT
    assert BOOL.join(BOOL) == BOOL  # the same kind: unchanged, not promoted
    assert Kind.array("float", 1).join(Kind.array("float", 1)) == Kind.array("float", 1)
    with pytest.raises(KindError, match="both a float and a 1-D array of floats"):
        FLOAT.join(Kind.array("float", 1))
    with pytest.raises(KindError, match="both a 1-D array of floats and a 2-D array"):
        Kind.array("float", 1).join(Kind.array("float", 2))


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (FLOAT, "a float"),
        (INT, "an int"),
        (BOOL, "a bool"),
        (Kind.array("float", 2), "a 2-D array of floats"),
        (Kind.array("int", 1), "a 1-D array of ints"),
        (Kind.array("bool", 3), "a 3-D array of bools"),
        (Kind.shape(3), "a shape (3 ints)"),
        (Kind.shape(1), "a shape (1 int)"),
        (SLICE, "a slice"),
        (NONE, "None"),
        (STR, "a string"),
        (LIST, "a list"),
        (MIXED, "a value of several kinds"),
    ],
    ids=str,
)
def test_describe(kind, words):
    assert kind.describe() == words


def test_debugging_form_is_short():
    assert str(FLOAT) == "float"
    assert str(Kind.array("float", 2)) == "array[float, 2]"
    assert str(Kind.shape(3)) == "shape[3]"
    assert repr(Kind.array("int", 1)) == "Kind(array[int, 1])"
    assert repr({"x": NONE}) == "{'x': Kind(none)}"


def test_rule_kinds_are_kind_values():
    """Rules compute result kinds from argument kinds as Kind values."""
    x2 = Kind.array("float", 2)
    assert PRIMITIVES["add"].kind((INT, FLOAT), ()) == FLOAT
    assert PRIMITIVES["exp"].kind((x2,), ()) == x2
    assert PRIMITIVES["lt"].kind((x2, FLOAT), ()) == Kind.array("bool", 2)
    assert PRIMITIVES["matmul"].kind((x2, Kind.array("float", 1)), ()) == Kind.array("float", 1)
    assert PRIMITIVES["shape_of"].kind((x2,), ()) == Kind.shape(2)
    assert PRIMITIVES["zeros"].kind((Kind.shape(3),), ()) == Kind.array("float", 3)
    with pytest.raises(KindError, match=r"`x @ y` needs an array as argument 1, not a float$"):
        PRIMITIVES["matmul"].kind((FLOAT, x2), ())
    with pytest.raises(KindError, match="index must be an integer or a slice, not a float; "):
        PRIMITIVES["index1"].kind((x2, FLOAT), ())


# --- what users read ---------------------------------------------------------------------------


def matmul_of_a_float(x, w):
    return np.sum(x @ w)


def float_range_bound(x, n):
    s = 0.0
    for i in range(n):
        s += x * i
    return s


def array_and_float(x):
    y = 1.0
    if x[0] > 0:
        y = x * 2.0
    return np.sum(y)


def returns_an_array(x):
    return x * 2.0


@pytest.mark.parametrize(
    ("f", "args", "message"),
    [
        (matmul_of_a_float, (1.0, np.ones(3)), "`x @ w` needs an array, but `x` is a float"),
        (float_range_bound, (1.0, 2.5), "range() needs integers, but a bound is a float"),
        (array_and_float, (np.ones(3),), "`y` holds both a float and a 1-D array of floats"),
        (returns_an_array, (np.ones((2, 2)),), "returns a 2-D array of floats; the gradient"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_user_errors_describe_kinds(f, args, message):
    with pytest.raises(srcdiff.SrcdiffError) as caught:
        srcdiff.grad(f, jit=False)(*args)
    text = str(caught.value)
    assert message in text
    assert "array:" not in text and "array[" not in text
