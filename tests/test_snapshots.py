"""Golden tests of the generated source (as Clad does): any change in the code srcdiff emits
for the examples of ``snapshot_examples.py`` shows up here as a diff, to be read and
accepted on purpose.

To accept a change, regenerate the golden files and review them with ``git diff``::

    SRCDIFF_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py

The golden files are also run on their own, as a user who pasted them would, and checked
against srcdiff's API and centred finite differences of the original function: gradients
element by element, forward mode (``jvp``) as directional derivatives, second order
(reverse over forward) as centred differences of the gradient.
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

import srcdiff

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("SRCDIFF_UPDATE_SNAPSHOTS") == "1"
REGENERATE = "SRCDIFF_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py"
MODES = ("grad", "jvp", "second")


@dataclass(frozen=True)
class Example:
    """A function whose generated module is kept as ``tests/snapshots/<name>.py``.

    ``mode`` says which module: ``"grad"``, the adjoint of ``srcdiff.grad`` (entry
    ``<f>_adjoint``); ``"jvp"``, the tangent function of ``srcdiff.jvp`` (``<f>_jvp``);
    ``"second"``, reverse over forward (``<f>_jvp_adjoint``): the gradient with respect to
    ``wrt`` of the derivative along ``d_<direction>``, made by ``srcdiff.hvp`` (when
    ``direction`` is ``wrt``) or by ``srcdiff.grad(srcdiff.grad(f, wrt=direction), wrt=wrt)``.
    ``tangents`` holds, per point, the jvp's tangent or the second order's direction.
    ``called``: the golden file is the variant made by a call at the first point (array
    layouts known: the NumPy backend's memory reuse), not the one guessed at decoration.
    """

    function: object
    wrt: int | tuple[int, ...]
    points: tuple[tuple, ...]  # arguments to check the golden file's code at
    mode: str = "grad"
    backend: str = "auto"
    called: bool = False
    tangents: tuple = ()
    direction: int | None = None  # mode "second": the parameter d_<direction> goes with
    xfail: str = ""  # a known bug: the golden file disagrees with finite differences

    def __post_init__(self):
        assert self.mode in MODES, self.mode
        if self.mode != "grad":
            assert len(self.tangents) == len(self.points), self.name
        if self.mode == "second":
            assert self.direction is not None, self.name

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def golden(self) -> Path:
        return SNAPSHOTS / f"{self.name}.py"

    @property
    def entry(self) -> str:
        return self.name + {"grad": "_adjoint", "jvp": "_jvp", "second": "_jvp_adjoint"}[self.mode]

    @property
    def positions(self) -> tuple[int, ...]:
        return self.wrt if isinstance(self.wrt, tuple) else (self.wrt,)

    def generated(self, jit: bool | None = False):
        """The srcdiff function whose ``.source`` the golden file holds, and that source."""
        f, wrt, backend, first = self.function, self.wrt, self.backend, self.points[0]
        if self.mode == "grad":
            made = srcdiff.grad(f, wrt=wrt, jit=jit, backend=backend)
            if self.called:
                made(*first)
            return made, made.source
        if self.mode == "jvp":
            made = srcdiff.jvp(f, wrt=wrt, jit=jit, backend=backend)
            if self.called:
                made(*first, self.tangents[0])
            return made, made.source
        if not isinstance(wrt, tuple) and wrt == self.direction:
            made = srcdiff.hvp(f, wrt, backend=backend)
            made(*first, self.tangents[0])  # second order is generated at the first call
            return made, made.second_order.source
        assert all(t == 1.0 for t in self.tangents), "grad of a gradient goes along d = 1.0"
        inner = srcdiff.grad(f, wrt=self.direction, jit=jit, backend=backend)
        made = srcdiff.grad(inner, wrt=wrt, backend=backend)
        made(*first)
        return made, made.source

    def via_api(self, made, args, tangent):
        """What srcdiff's API returns where the golden entry is called with ``args``."""
        if self.mode == "grad":
            return made(*args)
        if self.mode == "jvp":
            return made(*args, tangent)
        if not isinstance(self.wrt, tuple) and self.wrt == self.direction:
            return made(*args, tangent)
        return made(*args)


DATA_X = np.array([0.5, -1.2, 2.0, 0.3, -0.7, 1.5])
DATA_Y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
SIGNS = 2.0 * DATA_Y - 1.0
POSITIVE = np.array([0.8, 1.7, 2.9, 0.4, 1.1, 3.6])
_rng = np.random.default_rng(20261205)


def _normal(*shape, scale=1.0):
    return np.round(scale * _rng.standard_normal(shape), 3)  # short reprs in failures


# an MLP layer's data: 5 rows of 3 features, 4 hidden units, 2 outputs
MLP = (
    _normal(3, 4, scale=0.5), _normal(4, scale=0.1), _normal(4, 2, scale=0.5),
    _normal(2, scale=0.1), _normal(5, 3), _normal(5, 2),
)  # fmt: skip
ONE_HOT = np.eye(3)[[0, 2, 1, 1, 0]]
SEQUENCE = _normal(4, 3)  # 4 steps of 3 features
SPD = np.array([[2.0, 0.3, 0.1], [0.3, 1.5, -0.2], [0.1, -0.2, 1.0]])

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
    # a for loop overwriting h each step: float tape, reserve, loops in Numba kernels
    Example(
        examples.rnn_tanh,
        (0, 1, 2),
        ((0.8, 0.6, -0.1, DATA_X, 6), (-1.3, 0.4, 0.2, DATA_X, 3), (0.5, 0.5, 0.5, DATA_X, 0)),
        called=True,
    ),
    # a while loop: its trip count recorded and replayed
    Example(
        examples.damped_oscillator,
        (0, 1),
        ((4.0, 0.3, 1.0), (2.5, 0.8, 0.52), (1.0, 1.0, -1.0)),  # the last: no step
    ),
    # continue and break flags
    Example(
        examples.hinge_sum,
        (0, 1),
        (
            (0.4, 0.1, DATA_X, SIGNS, 10.0),  # no break
            (0.4, 0.1, DATA_X, SIGNS, 1.5),  # stops at the cap
            (-0.9, 0.3, DATA_X, SIGNS, 10.0),
        ),
        called=True,
    ),
    # a helper taking the parameter array, called in a loop: its adjoint handed over
    Example(
        examples.least_squares,
        0,
        ((np.array([0.2, -0.5, 0.3]), DATA_X, POSITIVE),),
        called=True,
    ),
    # a helper returning a tuple, called four times a step
    Example(
        examples.lotka_volterra,
        (0, 1, 2, 3),
        ((1.1, 0.4, 0.1, 0.4, 12), (0.9, 0.2, 0.15, 0.6, 0)),
    ),
    # whole-array code compiled by Numba
    Example(examples.mlp_numba, (0, 1, 2, 3), (MLP,), backend="numba", called=True),
    # the same on NumPy, with a call's array layouts: memory reuse (out=, in place)
    Example(examples.mlp_numpy, (0, 1, 2, 3), (MLP,), backend="numpy", called=True),
    # NumPy backend, a loop over elements outlined to a Numba kernel
    Example(
        examples.smooth_regression,
        0,
        ((_normal(4), _normal(5, 4), _normal(5), 0.3),),
        backend="numpy",
        called=True,
    ),
    # reductions along an axis with keepdims: a stabilised log-softmax
    Example(
        examples.softmax_cross_entropy,
        (0, 1),
        ((_normal(3, 3, scale=0.5), _normal(3, scale=0.1), MLP[4], ONE_HOT),),
        called=True,
    ),
    # np.einsum, with np.max along an axis
    Example(
        examples.attention,
        (0, 1, 2),
        ((_normal(3, 2, scale=0.5), _normal(4, 2, scale=0.5), _normal(4, 2)),),
        called=True,
    ),
    # element writes into an array the function made
    Example(examples.ema_filter, 0, ((0.7, DATA_X), (0.2, POSITIVE)), called=True),
    # rows of a state array read, then rewritten: views copied
    Example(
        examples.lstm_rows,
        (0, 1),
        ((0.6, -0.8, SEQUENCE), (1.3, 0.4, SEQUENCE[:1])),
        called=True,
    ),
    # an array reassigned as a whole while needed: the list tape (NumPy backend)
    Example(
        examples.power_iteration,
        (0, 1),
        ((SPD, np.array([1.0, 0.5, -0.3]), 4), (SPD, np.array([0.2, 1.0, 0.4]), 1)),
        backend="numpy",
        called=True,
    ),
    # runtime guards: math.log, division by a Python number, index checks before a loop
    Example(
        examples.lognormal_nll,
        (0, 1),
        ((0.3, 0.9, POSITIVE), (-0.5, 1.7, POSITIVE[:2])),
        called=True,
    ),
    # forward mode
    Example(
        examples.projectile,
        (0, 1),
        ((20.0, 0.7, 0.01, 50), (12.0, 1.1, 0.05, 30)),
        mode="jvp",
        tangents=((1.0, 0.5), (-0.3, 2.0)),
    ),
    # second order, arrays: a Hessian-vector product
    Example(
        examples.rosenbrock,
        0,
        ((np.array([0.5, -0.3, 1.2, 0.8]),), (np.array([1.0, 1.0, 1.1, 0.9, -0.4]),)),
        mode="second",
        direction=0,
        tangents=(np.array([1.0, 0.0, -0.5, 2.0]), np.array([0.3, -1.0, 0.2, 0.7, 1.0])),
    ),
    # second order, numbers: grad of grad, a mixed derivative too
    Example(
        examples.gaussian_mixture_1d,
        (0, 1),
        ((0.3, 1.1, 0.8), (-1.2, 0.6, 1.5)),
        mode="second",
        direction=0,
        tangents=(1.0, 1.0),
    ),
    # a gradient called inside the function: its VJP a Hessian-vector product
    Example(
        examples.after_gradient_step,
        (0, 2),
        ((np.array([0.4, -0.6, 0.3]), np.array([1.0, 2.0, 0.5]), 0.1),),
        called=True,
    ),
    # a user's rule (srcdiff.register_rule)
    Example(examples.softplus_regression, (0, 1), ((0.7, -0.2, DATA_X, POSITIVE),), called=True),
    # adjoints that may be zero: branches, min and max
    Example(
        examples.clipped_loss,
        (0, 1),
        (
            (1.2, 0.5, 0.1, 3.0),  # exp branch, inside the clip
            (1.2, 0.1, 0.1, 2.0),  # exp branch, clipped at hi
            (0.2, 1.1, 0.1, 3.0),  # square branch
            (0.2, 0.25, 0.1, 3.0),  # square branch, clipped at lo
        ),
    ),
    # a while loop in a for loop: trip counts on the int tape
    Example(examples.kepler_anomalies, 0, ((0.3, POSITIVE), (0.8, DATA_X)), called=True),
    # early returns
    Example(
        examples.piecewise_return,
        (0, 1),
        ((-0.5, 1.3), (1.5, 1.9), (0.6, 0.8)),
    ),
]
IDS = [example.name for example in EXAMPLES]


def _diff(expected: str, actual: str, example: Example) -> str:
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"tests/snapshots/{example.golden.name} (golden)",
            tofile=f"srcdiff {example.mode} of {example.name}: .source (generated now)",
        )
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_generated_source_matches_the_golden_file(example):
    _, source = example.generated(jit=False)
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
    assert len(set(IDS)) == len(IDS), "two examples would share a golden file"


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_golden_file_is_portable(example):
    """No absolute path, no machine's name: comments and messages quote file:line by the
    file's base name."""
    source = _golden_source(example)
    home = str(Path.home())
    for text in (str(Path(__file__).parent.parent), home, "/tmp/", "/home/", "\\"):
        assert text not in source, f"{text!r} in {example.golden.name}"
    assert "snapshot_examples.py:" in source


def _golden_source(example: Example) -> str:
    if not example.golden.exists():
        pytest.fail(f"no golden file {example.golden}; create it with\n    {REGENERATE}")
    return example.golden.read_text(encoding="utf-8")


def _load_golden_entry(example: Example):
    """The entry function of the golden file, executed as a user who pasted it would."""
    source = _golden_source(example)
    namespace: dict[str, object] = {"__name__": f"golden_{example.name}"}
    exec(compile(source, str(example.golden), "exec"), namespace)
    return namespace[example.entry], source


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_golden_entry_takes_the_parameters_then_tangents_or_seeds(example):
    entry, source = _load_golden_entry(example)
    names = list(inspect.signature(example.function).parameters)
    parameters = list(inspect.signature(entry).parameters.values())
    assert [p.name for p in parameters[: len(names)]] == names, source
    rest = parameters[len(names) :]
    if example.mode == "grad":
        assert len(rest) == 1, source
        assert all(p.default == 1.0 for p in rest), source
        return
    tangents = example.positions if example.mode == "jvp" else (example.direction,)
    expected = [f"d_{names[p]}" for p in tangents]
    assert [p.name for p in rest[: len(expected)]] == expected, source
    assert all(p.default is inspect.Parameter.empty for p in rest[: len(expected)]), source
    seeds = rest[len(expected) :]
    if example.mode == "jvp":
        assert seeds == [], source
    else:
        assert [(p.name, p.default) for p in seeds] == [("g_d_y", 1.0)], source


# --- centred finite differences, arrays included ------------------------------------------------


def _directional(f, args, steps: dict[int, object], rel_step: float = 1e-5) -> float:
    """d/dh f(args + h * steps) at h = 0: centred, Richardson-extrapolated, the step scaled
    by the size of the arguments moved. ``steps`` maps positions to directions."""
    scale = max(1.0, *(float(np.max(np.abs(args[p]))) for p in steps))
    h = rel_step * scale

    def at(t: float) -> float:
        shifted = list(args)
        for p, d in steps.items():
            shifted[p] = args[p] + t * d
        return float(f(*shifted))

    def centred(step: float) -> float:
        return (at(step) - at(-step)) / (2.0 * step)

    return (4.0 * centred(h / 2) - centred(h)) / 3.0


def _units(value):
    """(index, unit direction) per element of an argument; one for a number."""
    if not isinstance(value, np.ndarray):
        yield None, 1.0
        return
    for index in np.ndindex(value.shape):
        unit = np.zeros(value.shape)
        unit[index] = 1.0
        yield index, unit


def _fd_gradient(f, args, positions) -> list:
    """Centred differences of the number ``f(*args)``, one per element of each position."""
    found = []
    for p in positions:
        if isinstance(args[p], np.ndarray):
            g = np.zeros(args[p].shape)
            for index, unit in _units(args[p]):
                g[index] = _directional(f, args, {p: unit})
            found.append(g)
        else:
            found.append(_directional(f, args, {p: 1.0}))
    return found


def _reference(example: Example, args: tuple, tangent) -> list:
    """What the golden entry should return, from the original function alone (for second
    order, from srcdiff's gradient, itself checked against the function's differences)."""
    f = example.function
    if example.mode == "grad":
        return _fd_gradient(f, args, example.positions)
    if example.mode == "jvp":
        parts = tangent if isinstance(example.wrt, tuple) else (tangent,)
        steps = dict(zip(example.positions, parts, strict=True))
        return [float(f(*args)), _directional(f, args, steps)]
    gradient = srcdiff.grad(f, wrt=example.direction, jit=False, backend=example.backend)

    def along(*shifted):
        return float(np.sum(np.asarray(gradient(*shifted)) * tangent))

    return _fd_gradient(along, args, example.positions)


def _as_list(example: Example, found) -> list:
    """The golden entry's result as a list, one item per gradient (or value, derivative)."""
    if example.mode == "jvp":
        assert isinstance(found, tuple) and len(found) == 2, found
        return list(found)
    if isinstance(example.wrt, tuple):
        assert isinstance(found, tuple) and len(found) == len(example.wrt), found
        return list(found)
    return [found]


def _check_kinds(example: Example, args: tuple, items: list) -> None:
    """Each gradient is a float for a number and an array shaped like it for an array."""
    if example.mode == "jvp":
        assert all(isinstance(item, float) for item in items), items
        return
    for p, item in zip(example.positions, items, strict=True):
        if isinstance(args[p], np.ndarray):
            assert isinstance(item, np.ndarray) and item.shape == args[p].shape, item
        else:
            assert isinstance(item, float), item


def _equal(a: list, b: list) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b, strict=True))


def _close(a: list, b: list, rel: float, abs_: float) -> bool:
    return all(
        np.allclose(np.asarray(x), np.asarray(y), rtol=rel, atol=abs_)
        for x, y in zip(a, b, strict=True)
    )


def _run_point(example: Example, entry, args: tuple, tangent):
    if example.mode == "grad":
        return entry(*args)
    if example.mode == "jvp":
        parts = tangent if isinstance(example.wrt, tuple) else (tangent,)
        return entry(*args, *parts)
    return entry(*args, tangent)


def _xfail_marked(examples_: list[Example]) -> list:
    return [
        pytest.param(e, id=e.name, marks=pytest.mark.xfail(strict=True, reason=e.xfail))
        if e.xfail
        else pytest.param(e, id=e.name)
        for e in examples_
    ]


@pytest.mark.parametrize("example", _xfail_marked(EXAMPLES))
def test_golden_entry_runs_on_its_own_and_agrees(example, jit):
    entry, source = _load_golden_entry(example)
    made, _ = example.generated(jit=jit)
    tangents = example.tangents or (None,) * len(example.points)
    for args, tangent in zip(example.points, tangents, strict=True):
        context = f"{example.name}{args!r} along {tangent!r}\n----- golden file -----\n{source}"
        pasted = _as_list(example, _run_point(example, entry, args, tangent))
        _check_kinds(example, args, pasted)
        via_api = _as_list(example, example.via_api(made, args, tangent))
        if jit is False and example.mode != "second":  # the same code, run by the same Python
            assert _equal(pasted, via_api), context
        else:
            assert _close(pasted, via_api, 1e-12, 1e-15), context
        expected = _reference(example, args, tangent)
        assert _close(pasted, expected, 1e-6, 1e-8), f"{pasted} != {expected}\n{context}"
        if example.mode == "jvp":
            continue
        # the seed scales every adjoint exactly: doubling is exact in floating point
        seeded = entry(*args, 2.0) if example.mode == "grad" else entry(*args, tangent, 2.0)
        doubled = _as_list(example, seeded)
        assert _equal(doubled, [2.0 * item for item in pasted]), context
