"""The backend choice (``srcdiff.backends``): made from the code before any adjoint is
generated, by each backend's cost model and the prediction of what the reverse sweep
records; an explicit request is honoured, or refused at the user's line."""

from __future__ import annotations

import inspect
import math
import re

import numpy as np
import pytest

from srcdiff import SrcdiffError, backends, transform
from srcdiff.backends import NUMBA, NUMPY
from srcdiff.kind import FLOAT, INT, Kind
from srcdiff.normalize.statements import normalize_program

ARRAY1, ARRAY2, INTS1 = Kind.array("float", 1), Kind.array("float", 2), Kind.array("int", 1)


def chosen(f, kinds: tuple[Kind, ...], backend: str = "auto"):
    """The backend of ``f``'s gradient module (with respect to its first parameter) for
    arguments of ``kinds``, and the reason its header gives."""
    program = normalize_program(f)
    params = program.main.ir.params
    module = transform.generate(
        program, (params[0],), dict(zip(params, kinds, strict=True)), "grad", False,
        backend=backend,
    )  # fmt: skip
    header = re.search(r"# Backend: (.*) \((.*)\); choose with", module.source)
    assert header is not None, module.source
    assert header.group(1) == module.backend.title
    return module.backend, header.group(2)


def line_of(f, text: str) -> int:
    lines, first = inspect.getsourcelines(f)
    return first + next(k for k, line in enumerate(lines) if text in line)


# --- the cost model ---------------------------------------------------------------------------


def scalar_loop(x, n):
    s = 0.0
    for i in range(n):
        s += math.sin(x * i)
    return s


def array_code(W, x):
    return np.sum(np.tanh(W @ x))


def arrays_in_a_loop(x, n):
    s = 0.0
    for i in range(n):
        s += np.sum(x * i)
    return s


def gather_in_a_loop(x, idx, n):
    s = 0.0
    for _ in range(n):
        s += np.sum(np.sin(x[idx]))
    return s


def test_scalar_loop_runs_on_numba():
    assert chosen(scalar_loop, (FLOAT, INT)) == (NUMBA, "loop and scalar code")


def test_array_code_outside_loops_runs_on_numpy():
    reason = "array statements outside loops, which NumPy runs faster than Numba"
    assert chosen(array_code, (ARRAY2, ARRAY1)) == (NUMPY, reason)


def test_arrays_in_loops_run_on_numba():
    reason = "loops over arrays, where NumPy's cost per call would dominate"
    assert chosen(arrays_in_a_loop, (ARRAY1, INT)) == (NUMBA, reason)


def test_a_primitive_without_a_numba_form_runs_on_numpy():
    backend, reason = chosen(gather_in_a_loop, (ARRAY1, INTS1, INT))
    assert backend is NUMPY
    assert re.fullmatch(r"`.*` has no Numba form in srcdiff", reason), reason


def loop_calling_array_code(W, x, n):
    s = 0.0
    for i in range(n):
        s += array_code(W, x) * i
    return s


def test_one_backend_per_module_the_one_a_function_needs():
    # the entry is loop and scalar code, its helper array code: the generated functions
    # call each other, so the module runs where the helper runs well
    reason = "array statements outside loops, which NumPy runs faster than Numba"
    assert chosen(loop_calling_array_code, (ARRAY2, ARRAY1, INT)) == (NUMPY, reason)


# --- what the reverse sweep records, predicted ---------------------------------------------------


def reassigned_while_needed(W, h):
    for _ in range(3):
        h = np.tanh(W @ h)  # the adjoint of tanh reads this h, the next iteration replaces it
    return np.sum(h)


def calls_a_reassigning_helper(W, h):
    return reassigned_while_needed(W, h) * 2.0


def not_reassigned(W, h):
    y = W @ h  # the adjoint of @ reads W and h, not y
    for _ in range(3):
        y = y * 0.5  # reassigned, but the adjoint of a product by a constant reads nothing
    z = y * 2.0
    return np.sum(z)  # its adjoint reads z's shape


@pytest.fixture
def adjoints(monkeypatch):
    """The backend of every adjoint generated, and of every prediction made."""
    made: list = []
    predicted: list = []

    def adjoint(request, namer):
        made.append(request.backend)
        return real_adjoint(request, namer)

    def arrays_recorded(request, namer, found):
        predicted.append(request.backend)
        return real_predict(request, namer, found)

    real_adjoint, real_predict = transform.adjoint, transform.arrays_recorded
    monkeypatch.setattr(transform, "adjoint", adjoint)
    monkeypatch.setattr(transform, "arrays_recorded", arrays_recorded)
    return made, predicted


def test_an_array_reassigned_while_needed_runs_on_numpy_decided_up_front(adjoints):
    made, predicted = adjoints
    backend, reason = chosen(reassigned_while_needed, (ARRAY2, ARRAY1))
    assert backend is NUMPY
    assert reason == "an array the gradient needs back is reassigned, which only NumPy records"
    assert predicted == [NUMBA]  # the cost model chose Numba: the prediction said no
    assert made == [NUMPY]  # one adjoint, generated once, for the backend chosen


def test_a_callee_reassigning_an_array_sends_the_module_to_numpy(adjoints):
    made, predicted = adjoints
    backend, _ = chosen(calls_a_reassigning_helper, (ARRAY2, ARRAY1))
    assert backend is NUMPY
    assert predicted == [NUMBA, NUMBA]  # the entry's adjoint, then the helper's
    assert made == [NUMPY, NUMPY]


def test_an_array_reassigned_but_not_needed_stays_on_numba(adjoints):
    made, _ = adjoints
    backend, _ = chosen(not_reassigned, (ARRAY2, ARRAY1))
    assert backend is NUMBA
    assert made == [NUMBA]


def test_code_chosen_for_numpy_needs_no_prediction(adjoints):
    made, predicted = adjoints
    assert chosen(array_code, (ARRAY2, ARRAY1))[0] is NUMPY
    assert predicted == [] and made == [NUMPY]


def test_the_prediction_names_the_line_that_reassigns():
    program = normalize_program(reassigned_while_needed)
    generator = transform._Generator(program, True, "auto", {})
    kinds = generator.kinds("reassigned_while_needed", (ARRAY2, ARRAY1))
    at = generator.arrays_recorded(NUMBA, program.main, kinds, ("W",), "grad", False)
    assert at is not None
    assert at.line == line_of(reassigned_while_needed, "h = np.tanh(W @ h)")
    assert generator.arrays_recorded(NUMPY, program.main, kinds, ("W",), "grad", False) is None


# --- requests ------------------------------------------------------------------------------------


def test_requested_backends_are_honoured():
    assert chosen(scalar_loop, (FLOAT, INT), "numpy") == (NUMPY, "as requested")
    assert chosen(array_code, (ARRAY2, ARRAY1), "numba") == (NUMBA, "as requested")
    assert chosen(reassigned_while_needed, (ARRAY2, ARRAY1), "numpy") == (NUMPY, "as requested")


def test_requested_numba_is_refused_where_the_sweep_records_a_whole_array(adjoints):
    made, _ = adjoints
    with pytest.raises(SrcdiffError) as info:
        chosen(reassigned_while_needed, (ARRAY2, ARRAY1), "numba")
    line = line_of(reassigned_while_needed, "h = np.tanh(W @ h)")
    message = str(info.value)
    assert message.startswith(f"{__file__}:{line}:"), message
    assert message.endswith(
        "an array is reassigned while the gradient still needs its old value, which the "
        "Numba backend cannot record; use a new name, or backend='numpy'"
    )
    assert made == []  # refused before any adjoint was generated


def test_requested_numba_is_refused_for_a_primitive_without_a_numba_version():
    with pytest.raises(SrcdiffError, match="has no Numba version in srcdiff") as info:
        chosen(gather_in_a_loop, (ARRAY1, INTS1, INT), "numba")
    line = line_of(gather_in_a_loop, "np.sin(x[idx])")
    assert str(info.value).startswith(f"{__file__}:{line}:"), str(info.value)


def test_an_unknown_backend_is_refused():
    with pytest.raises(SrcdiffError, match="backend must be 'auto', 'numba' or 'numpy', not 'gpu'"):
        backends.check_request("gpu")
    backends.check_request("auto")
