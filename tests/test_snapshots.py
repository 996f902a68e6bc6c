"""Golden tests of the generated source (as Clad does): any change in the code srcdiff emits
for the lecture examples shows up here as a diff, to be read and accepted on purpose.

To accept a change, regenerate the golden files and review them with ``git diff``::

    SRCDIFF_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py

The golden files are also run on their own, as a user who pasted them would, and checked
against ``srcdiff.grad`` and centred finite differences of the original function.
"""

from __future__ import annotations

import difflib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import snapshot_examples as examples
from conftest import fd_grad

import srcdiff

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("SRCDIFF_UPDATE_SNAPSHOTS") == "1"
REGENERATE = "SRCDIFF_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py"


@dataclass(frozen=True)
class Example:
    function: object
    wrt: int | tuple[int, ...]
    points: tuple[tuple, ...]  # arguments to check the golden file's adjoint at

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def golden(self) -> Path:
        return SNAPSHOTS / f"{self.name}.py"


DATA_X = np.array([0.5, -1.2, 2.0, 0.3, -0.7, 1.5])
DATA_Y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])

EXAMPLES = [
    Example(examples.quiz, (0, 1), ((1.5, 0.7), (2.3, -0.4))),
    Example(examples.J, 0, ((0.6,), (-1.3,))),
    Example(
        examples.logistic_loss,
        (0, 1),
        ((0.7, -0.3, DATA_X, DATA_Y, 6), (-1.1, 0.4, DATA_X, DATA_Y, 4)),
    ),
    Example(
        examples.recurrence,
        (0, 1),
        (
            (0.3, 3.1, 8),  # stays in [0, 1]: all 8 steps
            (0.3, 4.2, 20),  # leaves [0, 1] at the third step: break
            (0.3, 3.1, 0),  # no step at all
        ),
    ),
]
IDS = [example.name for example in EXAMPLES]


def _diff(expected: str, actual: str, example: Example) -> str:
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"tests/snapshots/{example.golden.name} (golden)",
            tofile=f"srcdiff.grad({example.name}).source (generated now)",
        )
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_generated_source_matches_the_golden_file(example):
    source = srcdiff.grad(example.function, wrt=example.wrt, jit=False).source
    if UPDATE:
        if not example.golden.exists() or example.golden.read_text(encoding="utf-8") != source:
            SNAPSHOTS.mkdir(exist_ok=True)
            example.golden.write_text(source, encoding="utf-8", newline="")
        return
    if not example.golden.exists():
        pytest.fail(f"no golden file {example.golden}; create it with\n    {REGENERATE}")
    expected = example.golden.read_text(encoding="utf-8")
    if source != expected:
        pytest.fail(
            f"the source generated for {example.name} differs from its golden file.\n"
            f"If the change is intended, regenerate and review the golden files:\n"
            f"    {REGENERATE}\n\n{_diff(expected, source, example)}",
            pytrace=False,
        )


def test_every_golden_file_belongs_to_an_example():
    stale = sorted({p.name for p in SNAPSHOTS.glob("*.py")} - {f"{n}.py" for n in IDS})
    assert not stale, f"golden files without an example in test_snapshots.py: {stale}"


def _load_golden_adjoint(example: Example):
    """The entry adjoint of the golden file, executed as a user who pasted it would."""
    if not example.golden.exists():
        pytest.fail(f"no golden file {example.golden}; create it with\n    {REGENERATE}")
    source = example.golden.read_text(encoding="utf-8")
    namespace: dict[str, object] = {"__name__": f"golden_{example.name}"}
    exec(compile(source, str(example.golden), "exec"), namespace)
    return namespace[f"{example.name}_adjoint"], source


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_golden_adjoint_takes_the_parameters_then_seeds(example):
    adjoint, source = _load_golden_adjoint(example)
    names = list(inspect.signature(example.function).parameters)
    parameters = list(inspect.signature(adjoint).parameters.values())
    assert [p.name for p in parameters[: len(names)]] == names, source
    seeds = parameters[len(names) :]
    assert len(seeds) == 1, source
    assert all(p.default == 1.0 for p in seeds), source


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_golden_adjoint_runs_on_its_own_and_agrees(example, jit):
    adjoint, source = _load_golden_adjoint(example)
    g = srcdiff.grad(example.function, wrt=example.wrt, jit=jit)
    for args in example.points:
        pasted = adjoint(*args)
        via_api = g(*args)
        context = f"{example.name}{args!r}\n----- golden file -----\n{source}"
        if isinstance(example.wrt, tuple):
            assert isinstance(pasted, tuple) and len(pasted) == len(example.wrt), context
        else:
            assert isinstance(pasted, float), context
        if jit is False:
            assert pasted == via_api, context  # the same code, run by the same interpreter
        else:
            assert pasted == pytest.approx(via_api, rel=1e-12, abs=1e-15), context
        expected = fd_grad(example.function, args, example.wrt)
        assert pasted == pytest.approx(expected, rel=1e-6, abs=1e-8), context
        # the seed scales every adjoint exactly: doubling is exact in floating point
        doubled = tuple(2.0 * d for d in pasted) if isinstance(pasted, tuple) else 2.0 * pasted
        assert adjoint(*args, 2.0) == doubled, context
