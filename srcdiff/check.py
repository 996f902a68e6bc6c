"""Cross-checking a gradient: srcdiff's against centred finite differences of the function
itself and against SymPy's symbolic derivative (``symbolic.py``), at one point."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .api import grad
from .errors import SrcdiffError

METHODS = ("finite_differences", "sympy")
MAX_COORDINATES = 32  # arrays with more elements are checked along random directions
DIRECTIONS = 8


@dataclass
class MethodResult:
    """How one reference method compares with srcdiff's gradient."""

    method: str
    status: str  # "ok", "mismatch" or "skipped"
    reason: str = ""  # why skipped
    max_abs_error: float = math.nan
    max_rel_error: float = math.nan
    worst: str = ""  # the coordinate (or direction) of the largest error


@dataclass
class GradReport:
    """The outcome of ``check_grad``: per method, the largest errors and where they are.
    ``ok`` when no method disagrees and at least one ran."""

    function: str
    gradient: list[Any]
    methods: dict[str, MethodResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        statuses = [m.status for m in self.methods.values()]
        return "mismatch" not in statuses and "ok" in statuses

    def __str__(self) -> str:
        rows = [("method", "status", "max abs error", "max rel error", "worst")]
        for m in self.methods.values():
            if m.status == "skipped":
                rows.append((m.method, "skipped", "", "", m.reason))
            else:
                errors = (f"{m.max_abs_error:.1e}", f"{m.max_rel_error:.1e}")
                rows.append((m.method, m.status, *errors, m.worst))
        widths = [max(len(r[k]) for r in rows) for k in range(4)]
        lines = [f"gradient check of {self.function}: {'ok' if self.ok else 'FAILED'}"]
        for row in rows:
            cells = [
                c.ljust(w) if k in (0, 1) else c.rjust(w)
                for k, (c, w) in enumerate(zip(row, widths, strict=False))
            ]
            lines.append("  ".join([*cells, row[4]]).rstrip())
        return "\n".join(lines)


def check_grad(
    f: Callable,
    *args: Any,
    wrt: int | str | tuple[int | str, ...] | None = None,
    methods: Sequence[str] = METHODS,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    seed: int = 0,
) -> GradReport:
    """Compare ``srcdiff.grad(f, wrt)`` at ``args`` with reference gradients. ``f`` may be
    a function or one decorated with ``srcdiff.grad`` (whose ``wrt`` is then the default;
    else the first parameter).

    ``"finite_differences"``: centred differences of ``f`` itself, in float64, with the step
    ``h = eps**(1/3) * max(1, |x_i|)`` per coordinate (eps the float64 machine epsilon: the
    step that balances the method's truncation error, O(h**2), against rounding, O(eps/h)),
    refined by one Richardson step (steps h and h/2). The difference between the two steps
    estimates the reference's own error and is added to the tolerance. An array with more
    than ``MAX_COORDINATES`` elements is checked along ``DIRECTIONS`` random directions
    (seeded by ``seed``): the derivative of ``f(x + t v)`` at t = 0 against ``<grad, v>``.

    ``"sympy"``: SymPy's derivative of the function run on symbols (see ``symbolic``); it
    is "skipped", with the reason, where the function cannot be translated or a limit of
    ``srcdiff.symbolic`` is passed: 200 loop iterations, 64 differentiated numbers, 20,000
    operations on symbols or 20 seconds (``MAX_ITERATIONS``, ``MAX_SYMBOLS``,
    ``MAX_OPERATIONS``, ``MAX_SECONDS``).

    A coordinate disagrees when ``|srcdiff - reference| > atol + rtol * |reference|``;
    float32 arguments are checked with ``rtol`` at least 1e-3.
    """
    decorated = getattr(f, "__srcdiff__", None)
    if decorated is not None:
        f, wrt = decorated.f, decorated.wrt if wrt is None else wrt
    wrt = 0 if wrt is None else wrt
    wrt_all = wrt if isinstance(wrt, tuple) else (wrt,)
    positions = tuple(_position(f, w) for w in wrt_all)
    gradient = call_in_order(grad(f, wrt=wrt), args)
    gradients = list(gradient) if isinstance(wrt, tuple) else [gradient]
    if any(np.asarray(a).dtype == np.float32 for a in args):
        rtol = max(rtol, 1e-3)
    report = GradReport(getattr(f, "__name__", "f"), gradients)
    names = [_param_names(f)[p] for p in positions]
    for method in methods:
        if method == "finite_differences":
            result = _finite_differences(f, args, positions, names, gradients, rtol, atol, seed)
        elif method == "sympy":
            result = _symbolic(f, args, positions, names, gradients, rtol, atol)
        else:
            raise SrcdiffError(f"unknown check method {method!r}; choose from {METHODS}")
        report.methods[method] = result
    return report


def _param_names(f: Callable) -> list[str]:
    return list(inspect.signature(f).parameters)


def _position(f: Callable, w: int | str) -> int:
    names = _param_names(f)
    if isinstance(w, str):
        if w not in names:
            raise SrcdiffError(f"{getattr(f, '__name__', 'f')} has no parameter {w!r}")
        return names.index(w)
    return w


# --- comparing ---------------------------------------------------------------------------------
def _compare(
    method: str,
    labels: list[str],
    got: np.ndarray,
    reference: np.ndarray,
    slack: np.ndarray,
    rtol: float,
    atol: float,
) -> MethodResult:
    """Compare flat arrays of derivatives; ``slack`` is the reference's own error estimate."""
    error = np.abs(got - reference)
    relative = error / np.maximum(np.abs(reference), np.finfo(float).tiny)
    bad = ~(error <= atol + rtol * np.abs(reference) + slack)  # NaN counts as bad
    worst = int(np.argmax(np.where(np.isnan(error), np.inf, error))) if error.size else 0
    return MethodResult(
        method,
        "mismatch" if bad.any() else "ok",
        max_abs_error=float(np.max(error)) if error.size else 0.0,
        max_rel_error=float(np.max(relative)) if error.size else 0.0,
        worst=labels[worst] if labels else "",
    )


def _labels(name: str, value: Any) -> list[str]:
    if not isinstance(value, np.ndarray) or value.ndim == 0:
        return [name]
    return [f"{name}[{', '.join(map(str, index))}]" for index in np.ndindex(value.shape)]


# --- finite differences ------------------------------------------------------------------------
def _finite_differences(f, args, positions, names, gradients, rtol, atol, seed) -> MethodResult:
    wide = [_float64(a) for a in args]
    rng = np.random.default_rng(seed)
    rows = []  # (label, srcdiff's derivative, the reference, its error estimate)
    for position, name, g in zip(positions, names, gradients, strict=True):
        x, g = wide[position], np.asarray(g, dtype=float)
        for label, v in _directions(name, x, rng):
            scale = max(1.0, float(np.max(np.abs(x * v))) if np.ndim(x) else abs(x))
            reference, slack = _derivative(_line(f, wide, position, x, v), scale)
            rows.append((label, float(np.sum(g * v)), reference, slack))
    labels, got, reference, slack = zip(*rows, strict=True) if rows else ((), (), (), ())
    return _compare(
        "finite_differences", list(labels), np.array(got), np.array(reference),
        np.array(slack), rtol, atol,
    )  # fmt: skip


def _directions(name: str, x: Any, rng: np.random.Generator):
    """(label, direction) pairs: each coordinate of a number or a small array, random
    directions (largest component 1) for a large one."""
    if not isinstance(x, np.ndarray) or x.ndim == 0:
        yield name, 1.0
    elif x.size > MAX_COORDINATES:
        for k in range(DIRECTIONS):
            v = rng.standard_normal(x.shape)
            yield f"{name}·v{k}", v / np.max(np.abs(v))
    else:
        for index, label in zip(np.ndindex(x.shape), _labels(name, x), strict=True):
            v = np.zeros(x.shape)
            v[index] = 1.0
            yield label, v


def _line(f: Callable, args: list[Any], position: int, x: Any, v: Any) -> Callable:
    """t -> f with argument ``position`` moved to x + t v."""

    def along(t: float) -> float:
        moved = list(args)
        moved[position] = x + t * v
        return float(call_in_order(f, moved))

    return along


def call_in_order(f: Callable, args: Sequence[Any]) -> Any:
    """``f`` at ``args`` given in its parameters' order, keyword-only ones by name."""
    params = list(inspect.signature(f).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    n = sum(p.kind in positional for p in params)
    keywords = {p.name: a for p, a in zip(params[n:], args[n:], strict=False)}
    return f(*args[:n], **keywords)


def _derivative(along: Callable[[float], float], scale: float) -> tuple[float, float]:
    """The derivative at 0 of a function of one number, by centred differences with one
    Richardson step, and an estimate of its error."""
    h = np.finfo(float).eps ** (1 / 3) * scale
    coarse = (along(h) - along(-h)) / (2 * h)
    fine = (along(h / 2) - along(-h / 2)) / h
    return (4 * fine - coarse) / 3, abs(fine - coarse)


def _float64(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float64)
    return value


# --- SymPy ---------------------------------------------------------------------------------------
def _symbolic(f, args, positions, names, gradients, rtol, atol) -> MethodResult:
    from .symbolic import CannotTranslate, sympy_gradient  # SymPy loads in ~0.5 s: on demand

    try:
        reference = sympy_gradient(f, tuple(_float64(a) for a in args), positions)
    except CannotTranslate as why:
        return MethodResult("sympy", "skipped", reason=str(why))
    pairs = zip(names, positions, strict=True)
    labels = [label for name, p in pairs for label in _labels(name, args[p])]
    got = np.concatenate([np.ravel(np.asarray(g, dtype=float)) for g in gradients])
    expected = np.concatenate([np.ravel(np.asarray(r, dtype=float)) for r in reference])
    return _compare("sympy", labels, got, expected, np.zeros_like(expected), rtol, atol)
