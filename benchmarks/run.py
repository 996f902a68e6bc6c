"""Benchmark srcdiff gradients against the primal and hand-written adjoints.

Usage: python benchmarks/run.py [--quick]
Prints five markdown tables (warm run times of the scalar and loop problems, and of the array
problems; srcdiff's two backends against each other; transform and first-call times; srcdiff's
gradients with and without the checks that make them raise where the function raises). Timings
are medians over interleaved samples, so slow drift on a shared machine hits every column alike.
"""

# ruff: noqa: E402  (the thread counts below must be set before NumPy and friends load)
from __future__ import annotations

import os

# One thread for every BLAS and framework: on 2 shared cores, a second BLAS thread made the
# array timings swing 5x from sample to sample. Set a variable yourself to override.
for _variable, _value in (
    ("OPENBLAS_NUM_THREADS", "1"),
    ("OMP_NUM_THREADS", "1"),
    ("MKL_NUM_THREADS", "1"),
    ("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"),
):
    os.environ.setdefault(_variable, _value)

import argparse
import contextlib
import datetime
import difflib
import importlib.util
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import types
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numba
import numpy as np
from frameworks import FRAMEWORKS, Unavailable, as_numpy
from hand_adjoints import ARRAY_HAND_ADJOINTS, HAND_ADJOINTS
from problems import Problem, make_array_problems, make_backend_problems, make_problems

HERE = Path(__file__).resolve().parent
if importlib.util.find_spec("srcdiff") is None:  # benchmark the working tree if not installed
    sys.path.insert(1, str(HERE.parent))

FD_RTOL = 1e-6  # hand adjoint vs centred finite differences
SRCDIFF_RTOL = 1e-9  # srcdiff vs hand adjoint: both exact, so only rounding may differ
TARGETS = "targets: srcdiff/primal <= 3, srcdiff/hand <= 1.2"
FRAMEWORK_RTOL = 1e-9  # JAX and PyTorch vs the hand adjoint
BACKENDS = ("numba", "numpy")  # srcdiff's, for the backend-choice table


def njit_primal(func: types.FunctionType, cache: bool = False) -> Callable[..., float]:
    """njit `func`, njit-compiling the module-level helpers it calls first.

    Numba cannot call plain Python functions, so the helpers are swapped in a copy of the
    module namespace; the module itself keeps its plain functions for srcdiff.
    """
    namespace = dict(func.__globals__)
    for name in func.__code__.co_names:
        if isinstance(namespace.get(name), types.FunctionType):
            namespace[name] = numba.njit(cache=cache)(namespace[name])
    return numba.njit(cache=cache)(types.FunctionType(func.__code__, namespace, func.__name__))


def as_vector(gradient: float | tuple[float, ...]) -> np.ndarray:
    return np.atleast_1d(np.asarray(gradient, dtype=np.float64))


def rel_diff(a: float | tuple[float, ...], b: float | tuple[float, ...]) -> float:
    """Normwise relative difference max|a - b| / max|b|."""
    va, vb = as_vector(a), as_vector(b)
    return float(np.max(np.abs(va - vb)) / max(np.max(np.abs(vb)), 1e-300))


def finite_difference(func: Callable[..., float], args: tuple, wrt: tuple[int, ...]) -> np.ndarray:
    """Centred differences with step ~ eps^(1/3), the step that balances truncation and rounding.
    An array argument is checked along one seeded random direction (see `directional`)."""
    out = []
    for i in wrt:
        direction = DIRECTIONS.get(np.shape(args[i]), 1.0)
        step = 1e-5 * max(1.0, float(np.max(np.abs(args[i]))))
        plus, minus = list(args), list(args)
        plus[i] = args[i] + step * direction
        minus[i] = args[i] - step * direction
        out.append((func(*plus) - func(*minus)) / (2 * step))
    return np.array(out)


DIRECTIONS: dict[tuple[int, ...], np.ndarray] = {}


def directional(gradient, args: tuple, wrt: tuple[int, ...]) -> np.ndarray:
    """A gradient as finite_difference sees it: array parts dotted with the same direction."""
    parts = gradient if isinstance(gradient, tuple) else (gradient,)
    out = []
    for part, i in zip(parts, wrt, strict=True):
        if np.ndim(part):
            shape = np.shape(args[i])
            if shape not in DIRECTIONS:
                DIRECTIONS[shape] = np.random.default_rng(2).standard_normal(shape)
            out.append(float(np.sum(part * DIRECTIONS[shape])))
        else:
            out.append(part)
    return np.array(out)


def wrt_tuple(wrt: int | tuple[int, ...]) -> tuple[int, ...]:
    return (wrt,) if isinstance(wrt, int) else wrt


def check_hand_adjoints(problems: list[Problem], primals: dict[str, Callable]) -> None:
    for p in problems:
        wrt = wrt_tuple(p.wrt)
        hand = directional(HAND_ADJOINTS[p.name](*p.args), p.args, wrt)
        err = rel_diff(hand, finite_difference(primals[p.name], p.args, wrt))
        if not err <= FD_RTOL:
            sys.exit(
                f"self-check failed: hand adjoint of {p.name} differs from finite "
                f"differences by {err:.2e} (tolerance {FD_RTOL:.0e})"
            )


def flatten(result) -> np.ndarray:
    """`(value, gradient)` of an array problem as one vector: value first, then each array."""
    value, gradient = result
    parts = gradient if isinstance(gradient, tuple) else (gradient,)
    return np.concatenate([np.ravel(as_numpy(x)) for x in (value, *parts)])


def check_array_hand_adjoints(problems: list[Problem]) -> None:
    """Every hand-written adjoint of an array problem against centred differences of the
    NumPy primal, along one random direction per argument (and its value against the
    primal's)."""
    for p in problems:
        wrt = wrt_tuple(p.wrt)
        primal_value = p.func(*p.args)
        for kind, hand in ARRAY_HAND_ADJOINTS[p.name].items():
            value, gradient = hand(*p.args)
            along = directional(gradient, p.args, wrt)  # picks the directions: call it first
            fd = finite_difference(p.func, p.args, wrt)
            err = max(rel_diff(along, fd), rel_diff(value, primal_value))
            if not err <= FD_RTOL:
                sys.exit(
                    f"self-check failed: {kind} hand adjoint of {p.name} differs from finite "
                    f"differences by {err:.2e} (tolerance {FD_RTOL:.0e})"
                )


def differentiate(srcdiff: types.ModuleType, p: Problem, func: Callable | None = None):
    transform = srcdiff.value_and_grad if p.value_and_grad else srcdiff.grad
    return transform(p.func if func is None else func, wrt=p.wrt)


def make_timer(func: Callable, args: tuple) -> timeit.Timer:
    # Arguments are bound as globals so that no *args unpacking or lambda is timed.
    names = [f"a{i}" for i in range(len(args))]
    namespace = {"f": func, **dict(zip(names, args, strict=True))}
    return timeit.Timer(f"f({', '.join(names)})", globals=namespace)


def calibrate(timer: timeit.Timer, min_sample: float) -> int:
    number = 1
    while timer.timeit(number) < min_sample:
        number *= 2
    return number


def median_times(
    calls: dict[str, timeit.Timer], samples: int, min_sample: float
) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """Per-call medians and medians of paired ratios, from interleaved rounds.

    Each round times every call once (rotating the order); ratios are taken within a round so
    that load changes between rounds cancel out.
    """
    numbers = {k: calibrate(t, min_sample) for k, t in calls.items()}
    keys = list(calls)
    rounds: list[dict[str, float]] = []
    for r in range(samples):
        order = keys[r % len(keys) :] + keys[: r % len(keys)]
        rounds.append({k: calls[k].timeit(numbers[k]) / numbers[k] for k in order})
    medians = {k: statistics.median(rd[k] for rd in rounds) for k in keys}
    ratios = {
        (a, b): statistics.median(rd[a] / rd[b] for rd in rounds)
        for a in keys
        for b in keys
        if a != b
    }
    return medians, ratios


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def import_srcdiff() -> tuple[types.ModuleType | None, str]:
    try:
        import srcdiff

        srcdiff.grad  # noqa: B018  (a half-written package may import but lack the API)
    except Exception as exc:
        return None, f"import srcdiff: {type(exc).__name__}: {exc}"
    return srcdiff, ""


def one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()
    return text[0] if text else type(exc).__name__


def warm_table(
    problems: list[Problem],
    primals: dict[str, Callable],
    srcdiff: types.ModuleType | None,
    samples: int,
    min_sample: float,
    errors: list[str],
    wrong: list[str],
) -> list[str]:
    rows = [
        "| problem | primal | srcdiff grad | hand adjoint | srcdiff/primal | srcdiff/hand "
        "| hand/primal | srcdiff vs hand (rel. diff) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in problems:
        hand = HAND_ADJOINTS[p.name]
        calls = {"primal": make_timer(primals[p.name], p.args), "hand": make_timer(hand, p.args)}
        diff = None
        if srcdiff is not None:
            try:
                gradient = srcdiff.grad(p.func, wrt=p.wrt)
                diff = rel_diff(gradient(*p.args), hand(*p.args))  # also the warm-up call
                calls["srcdiff"] = make_timer(gradient, p.args)
            except Exception as exc:
                errors.append(f"{p.name}: srcdiff gradient failed: {one_line(exc)}")
        if diff is not None and not diff <= SRCDIFF_RTOL:
            wrong.append(f"{p.name}: srcdiff gradient differs from hand adjoint by {diff:.2e}")
            del calls["srcdiff"]  # a wrong gradient is not timed
        med, ratio = median_times(calls, samples, min_sample)
        rows.append(
            f"| {p.name} | {fmt_time(med['primal'])} | {fmt_time(med.get('srcdiff'))} "
            f"| {fmt_time(med['hand'])} | {fmt_ratio(ratio.get(('srcdiff', 'primal')))} "
            f"| {fmt_ratio(ratio.get(('srcdiff', 'hand')))} "
            f"| {fmt_ratio(ratio[('hand', 'primal')])} "
            f"| {'n/a' if diff is None else f'{diff:.1e}'} |"
        )
    return rows


def array_table(
    problems: list[Problem],
    srcdiff: types.ModuleType | None,
    samples: int,
    min_sample: float,
    errors: list[str],
    wrong: list[str],
) -> list[str]:
    """Warm times of `value_and_grad` for the array problems: srcdiff, each hand-written
    adjoint, JAX and PyTorch, all checked against the first hand adjoint before timing."""
    rows = [
        "| problem | primal (NumPy) | srcdiff | hand, NumPy | hand, Numba | JAX | PyTorch "
        "| srcdiff/primal | srcdiff/hand | hand/primal | srcdiff/JAX | srcdiff/PyTorch "
        "| srcdiff vs hand (rel. diff) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in problems:
        hands = ARRAY_HAND_ADJOINTS[p.name]
        reference = flatten(next(iter(hands.values()))(*p.args))
        calls = {"primal": make_timer(p.func, p.args)}
        for kind, hand in hands.items():
            calls[kind] = make_timer(hand, p.args)
            diff = rel_diff(flatten(hand(*p.args)), reference)
            if not diff <= SRCDIFF_RTOL:
                sys.exit(f"self-check failed: the hand adjoints of {p.name} differ by {diff:.2e}")
        diff = None
        if srcdiff is not None:
            try:
                gradient = differentiate(srcdiff, p)
                diff = rel_diff(flatten(gradient(*p.args)), reference)  # also the warm-up call
                if diff <= SRCDIFF_RTOL:
                    calls["srcdiff"] = make_timer(gradient, p.args)
                else:
                    wrong.append(f"{p.name}: srcdiff differs from the hand adjoint by {diff:.2e}")
            except Exception as exc:
                errors.append(f"{p.name}: srcdiff gradient failed: {one_line(exc)}")
        for framework, make in FRAMEWORKS.items():
            try:
                call, args = make(p)
                err = rel_diff(flatten(call(*args)), reference)  # also compiles (JAX)
            except Unavailable as exc:
                if p is problems[0]:  # said once, not per problem
                    errors.append(f"{framework} column n/a: {exc}")
                continue
            except Exception as exc:
                errors.append(f"{p.name}: {framework} failed: {one_line(exc)}")
                continue
            if err <= FRAMEWORK_RTOL:
                calls[framework] = make_timer(call, args)
            else:
                wrong.append(f"{p.name}: {framework} differs from the hand adjoint by {err:.2e}")
        med, ratio = median_times(calls, samples, min_sample)
        fastest = min(hands, key=lambda kind: med[kind])
        versus = ratio.get(("srcdiff", fastest))
        rows.append(
            f"| {p.name} | {fmt_time(med['primal'])} | {fmt_time(med.get('srcdiff'))} "
            f"| {fmt_time(med.get('NumPy'))} | {fmt_time(med.get('Numba'))} "
            f"| {fmt_time(med.get('JAX'))} | {fmt_time(med.get('PyTorch'))} "
            f"| {fmt_ratio(ratio.get(('srcdiff', 'primal')))} "
            f"| {fmt_ratio(versus)}{'' if versus is None else f' ({fastest})'} "
            f"| {fmt_ratio(ratio[(fastest, 'primal')])} "
            f"| {fmt_ratio(ratio.get(('srcdiff', 'JAX')))} "
            f"| {fmt_ratio(ratio.get(('srcdiff', 'PyTorch')))} "
            f"| {'n/a' if diff is None else f'{diff:.1e}'} |"
        )
    return rows


def backend_of(gradient: Callable) -> str:
    """The backend, "numba" or "numpy", that the `# Backend:` line of the generated module
    names (the variant of the latest call). Auto's line says "compiled with Numba" or "... on
    NumPy (...)"; a forced backend's says "numba (as requested)"."""
    for line in gradient.source.splitlines():
        if line.startswith("# Backend:"):
            said = re.split(r"[(;]", line[len("# Backend:") :])[0].lower()
            found = [b for b in BACKENDS if b in said]
            if len(found) == 1:
                return found[0]
            raise RuntimeError(f"cannot tell the backend from {line!r}")
    raise RuntimeError("no '# Backend:' line in the generated source")


def without_backend_line(gradient: Callable) -> list[str]:
    return [line for line in gradient.source.splitlines() if not line.startswith("# Backend:")]


def parts(gradient) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(g) for g in (gradient if isinstance(gradient, tuple) else (gradient,)))


def same_gradient(a, b) -> bool:
    return all(np.allclose(x, y) for x, y in zip(parts(a), parts(b), strict=True))


def backend_table(
    problems: list[Problem],
    srcdiff: types.ModuleType | None,
    samples: int,
    min_sample: float,
    errors: list[str],
    wrong: list[str],
) -> list[str]:
    """Warm `srcdiff.grad` times with backend="numba" and backend="numpy", and which one
    backend="auto" picks. The two backends' gradients are checked against each other, and
    auto's against the backend it picked, before timing. A backend srcdiff rejects for the
    problem (SrcdiffError) reads n/a, with srcdiff's reason in a note under the table."""
    rows = [
        "| problem | auto picks | numba | numpy | numba/numpy | auto's pick / the faster "
        "| numba vs numpy (rel. diff) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    # one gradient per function and backend, shared by the sizes: Numba compiles each once
    gradients: dict[tuple[Callable, str], Callable] = {}
    for p in problems:
        results, cells = {}, {}
        for backend in ("numba", "numpy", "auto") if srcdiff is not None else ():
            key = (p.func, backend)
            try:
                if key not in gradients:
                    gradients[key] = srcdiff.grad(p.func, wrt=p.wrt, backend=backend)
                results[backend] = gradients[key](*p.args)  # also the warm-up call
            except srcdiff.SrcdiffError as exc:
                reason = one_line(exc).replace(f"{HERE}{os.sep}", "")
                notes.append(f"{p.name}, backend='{backend}': {reason}")
                cells[backend] = f"n/a [{len(notes)}]"
            except Exception as exc:
                errors.append(f"{p.name}: srcdiff, backend='{backend}', failed: {one_line(exc)}")
        picked = diff = None
        if "auto" in results:
            auto = gradients[(p.func, "auto")]
            try:
                picked = backend_of(auto)
            except RuntimeError as exc:
                errors.append(f"{p.name}: auto's choice unknown: {exc}")
            if picked in results:  # auto's code must be the picked backend's, bar that line
                chosen = gradients[(p.func, picked)]
                if without_backend_line(auto) != without_backend_line(chosen):
                    errors.append(f"{p.name}: auto's code differs from backend='{picked}'s")
                if not same_gradient(results["auto"], results[picked]):
                    wrong.append(f"{p.name}: auto's gradient differs from backend='{picked}'s")
        if "numba" in results and "numpy" in results:
            numba_flat, numpy_flat = (
                np.concatenate(parts(results[b]), axis=None) for b in BACKENDS
            )
            diff = rel_diff(numba_flat, numpy_flat)
            if not same_gradient(results["numba"], results["numpy"]):
                wrong.append(f"{p.name}: the numba and numpy gradients differ by {diff:.2e}")
                results = {}  # a wrong gradient is not timed
        calls = {b: make_timer(gradients[(p.func, b)], p.args) for b in BACKENDS if b in results}
        med, ratio = median_times(calls, samples, min_sample) if calls else ({}, {})
        speedup = ratio.get(("numba", "numpy"))
        versus = None
        if speedup is not None and picked is not None:
            faster = "numba" if speedup < 1.0 else "numpy"
            versus = 1.0 if picked == faster else ratio[(picked, faster)]
        rows.append(
            f"| {p.name} | {picked or 'n/a'} "
            + "".join(f"| {cells.get(b) or fmt_time(med.get(b))} " for b in BACKENDS)
            + f"| {fmt_ratio(speedup)} | {fmt_ratio(versus)} "
            f"| {'n/a' if diff is None else f'{diff:.1e}'} |"
        )
    if notes:
        rows += ["", *(f"[{i}] {note}" for i, note in enumerate(notes, 1))]
    return rows


# What srcdiff calls to make its checks (srcdiff/guards.py), and what each returns when none is
# wanted: the checks of kinds (divisions, `**`, int(), array indices) and those around calls
# through `math` (domain before, overflow after).
CHECK_MAKERS = {  # (module, name) -> no-op
    ("guards", "insert_guards"): lambda *args: None,
    ("python_errors", "math_prechecks"): lambda *args: [],
    ("python_errors", "math_checks"): lambda *args: [],
}


@contextlib.contextmanager
def checks_switched_off(srcdiff: types.ModuleType):
    """srcdiff as it was before it made its gradients raise where the function raises: each of
    CHECK_MAKERS replaced by a no-op in every srcdiff module that holds it. Only for this
    benchmark (srcdiff has no such option); gradients generated meanwhile keep their code, and
    the generated modules are content-addressed, so both kinds coexist in the cache."""
    modules = [m for name, m in sys.modules.items() if name.partition(".")[0] == "srcdiff"]
    with contextlib.ExitStack() as stack:
        for (home, name), no_op in CHECK_MAKERS.items():
            # ImportError or AttributeError: srcdiff has changed, say so
            original = getattr(importlib.import_module(f"srcdiff.{home}"), name)
            for module in modules:
                if getattr(module, name, None) is original:
                    stack.enter_context(mock.patch.object(module, name, no_op))
        yield


def raise_lines(source: str) -> list[int]:
    """Indices of the `raise` lines of generated code: one per check."""
    return [i for i, line in enumerate(source.splitlines()) if line.lstrip().startswith("raise ")]


def other_differences(checked: str, unchecked: str) -> int:
    """Lines of code that differ between the two sources once each check (a `raise` line and
    the `if` line above it) is taken out of the checked one; comments (the user's line above a
    check moved before a loop) do not count. 0 when the checks are all that differs."""

    def code(lines: list[str]) -> list[str]:
        return [line for line in lines if not line.lstrip().startswith("#")]

    lines = checked.splitlines()
    drop = {j for i in raise_lines(checked) for j in (i - 1, i)}
    kept = [line for j, line in enumerate(lines) if j not in drop]
    diff = difflib.ndiff(code(kept), code(unchecked.splitlines()))
    return sum(1 for line in diff if line[:2] in ("+ ", "- "))


def flat(result) -> np.ndarray:
    """A gradient, or a value and a gradient, as one vector."""
    if isinstance(result, tuple):
        return np.concatenate([flat(part) for part in result])
    return np.ravel(np.asarray(result, dtype=np.float64))


def checks_table(
    problems: list[Problem],
    srcdiff: types.ModuleType | None,
    samples: int,
    min_sample: float,
    errors: list[str],
    wrong: list[str],
) -> list[str]:
    """The cost of the checks that make a gradient raise where the function raises (math domain
    and overflow, division by zero, int() of nan, indices out of range): warm srcdiff gradients
    against the same gradients generated with the checks switched off. Before timing, the two
    must agree (SRCDIFF_RTOL) and the check-free code must have no `raise` line."""
    rows = [
        "| problem | checks (with / without) | other code lines that differ | with checks "
        "| without checks | with/without | rel. diff |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in problems if srcdiff is not None else ():
        try:
            checked = differentiate(srcdiff, p)
            expected = flat(checked(*p.args))  # also the warm-up call
            with checks_switched_off(srcdiff):
                unchecked = differentiate(srcdiff, p)
                found = flat(unchecked(*p.args))  # generates (and compiles) the variant
        except Exception as exc:
            errors.append(f"{p.name}: gradient with or without checks failed: {one_line(exc)}")
            continue
        n_checked = len(raise_lines(checked.source))
        n_unchecked = len(raise_lines(unchecked.source))
        others = other_differences(checked.source, unchecked.source)
        diff = rel_diff(found, expected)
        calls = {}
        if n_unchecked:
            errors.append(
                f"{p.name}: the code generated without checks has {n_unchecked} `raise` line(s):"
                " srcdiff makes checks where CHECK_MAKERS does not reach"
            )
        elif not diff <= SRCDIFF_RTOL:
            wrong.append(f"{p.name}: the gradients with and without checks differ by {diff:.2e}")
        else:
            calls = {"with": make_timer(checked, p.args), "without": make_timer(unchecked, p.args)}
        med, ratio = median_times(calls, samples, min_sample) if calls else ({}, {})
        rows.append(
            f"| {p.name} | {n_checked} / {n_unchecked} | {others} "
            f"| {fmt_time(med.get('with'))} | {fmt_time(med.get('without'))} "
            f"| {fmt_ratio(ratio.get(('with', 'without')))} | {diff:.1e} |"
        )
    return rows


def transform_times(srcdiff: types.ModuleType, p: Problem, samples: int) -> tuple[float, float]:
    """First and median decoration time; each decoration gets a fresh function object so a
    per-object cache cannot answer (a cache keyed by source text still could)."""
    times = []
    for _ in range(samples + 1):
        fresh = types.FunctionType(p.func.__code__, p.func.__globals__, p.func.__name__)
        start = time.perf_counter()
        differentiate(srcdiff, p, fresh)
        times.append(time.perf_counter() - start)
    return times[0], statistics.median(times[1:])


def first_call_time(problem: str, cache_dir: Path, *flags: str) -> float:
    """Decoration + first gradient call in a fresh process using `cache_dir` as srcdiff's cache.
    Numba's own cache is pointed there too, so 'cold' really starts from nothing. With
    --numba-primal, the first call of the cached njit primal instead: Numba's own floor."""
    env = dict(
        os.environ,
        SRCDIFF_CACHE_DIR=str(cache_dir / "srcdiff"),
        NUMBA_CACHE_DIR=str(cache_dir / "numba"),
    )
    done = subprocess.run(
        [sys.executable, str(HERE / "first_call.py"), problem, *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"child exited {done.returncode}: {last}")
    return float(done.stdout.strip().splitlines()[-1])


def compile_table(
    problems: list[Problem],
    srcdiff: types.ModuleType | None,
    samples: int,
    child_problems: set[str],
    errors: list[str],
) -> list[str]:
    rows = [
        "| problem | transform (first) | transform (median) | first call, cold cache "
        "| first call, warm cache | njit primal first call, warm cache |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in problems:
        first = median = cold = warm = floor = None
        if srcdiff is not None:
            try:
                first, median = transform_times(srcdiff, p, samples)
            except Exception as exc:
                errors.append(f"{p.name}: transform failed: {one_line(exc)}")
        if srcdiff is not None and p.name in child_problems:
            with tempfile.TemporaryDirectory(prefix="srcdiff-bench-") as tmp:
                try:
                    cold = first_call_time(p.name, Path(tmp))
                    warm = first_call_time(p.name, Path(tmp))
                    if not p.value_and_grad:  # array problems: the primal is NumPy's
                        first_call_time(p.name, Path(tmp), "--numba-primal")
                        floor = first_call_time(p.name, Path(tmp), "--numba-primal")
                except Exception as exc:
                    errors.append(f"{p.name}: first call failed: {one_line(exc)}")
        rows.append(
            f"| {p.name} | {fmt_time(first)} | {fmt_time(median)} "
            f"| {fmt_time(cold)} | {fmt_time(warm)} | {fmt_time(floor)} |"
        )
    return rows


def framework_versions() -> str:
    found = []
    for module, name in (("jax", "JAX"), ("torch", "PyTorch")):
        version = getattr(sys.modules.get(module), "__version__", None)
        if version is not None:  # imported by the array table
            found.append(f", {name} {version}")
    return "".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small n, few samples")
    quick = parser.parse_args().quick
    samples, min_sample = (3, 0.002) if quick else (15, 0.02)

    problems = make_problems(quick)
    array_problems = make_array_problems(quick)
    backend_problems = make_backend_problems(quick)
    primals = {p.name: njit_primal(p.func) for p in problems}
    check_hand_adjoints(problems, primals)  # also compiles primals and adjoints before timing
    check_array_hand_adjoints(array_problems)

    # A private cache directory: no stale cache from earlier runs, nothing left behind.
    with tempfile.TemporaryDirectory(prefix="srcdiff-bench-") as cache:
        os.environ["SRCDIFF_CACHE_DIR"] = cache
        srcdiff, import_error = import_srcdiff()
        errors = [import_error] if import_error else []
        wrong: list[str] = []  # wrong gradients: listed last, and the run fails
        # Transforms first: a later decoration could be answered from srcdiff's caches.
        everything = problems + array_problems
        child_problems = {"quiz"} if quick else {p.name for p in everything}
        compiled = compile_table(everything, srcdiff, 3 if quick else 7, child_problems, errors)
        warm = warm_table(problems, primals, srcdiff, samples, min_sample, errors, wrong)
        arrays = array_table(array_problems, srcdiff, samples, min_sample, errors, wrong)
        backends = backend_table(backend_problems, srcdiff, samples, min_sample, errors, wrong)
        checks = checks_table(everything, srcdiff, samples, min_sample, errors, wrong)

    print(f"# srcdiff benchmarks ({datetime.date.today()}, {'quick' if quick else 'full'} run)\n")
    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, numba "
        f"{numba.__version__}{framework_versions()}, {os.cpu_count()} cores; medians of "
        f"{samples} samples >= {min_sample * 1e3:g} ms each; ratios are medians of paired "
        "samples.\n"
    )
    print("\n".join(warm))
    print(f"\n{TARGETS}\n")
    print("\n".join(arrays))
    print(
        "\nvalue and gradient; primal: the function itself on NumPy; hand: the faster"
        " hand-written adjoint; srcdiff/JAX > 1 means srcdiff is slower. One thread everywhere."
        f"\n{TARGETS}\n"
    )
    print("\n".join(backends))
    print(
        "\nbackend choice: srcdiff.grad with backend='numba' and 'numpy'; auto picks: what"
        " backend='auto' generates (its '# Backend:' line); numba/numpy < 1 means Numba is faster;"
        " auto's pick / the faster: 1.00 when auto picks the faster backend.\n"
    )
    print("\n".join(compiled))
    print(
        "\ntargets: transform <= 50 ms, first call with warm cache <= 0.5 s. The last column is"
        " the same first call for Numba's own cached njit of the primal: Numba's fixed cost of"
        " starting in a new process, which srcdiff's first call also pays.\n"
    )
    print("\n".join(checks))
    print(
        "\nchecks: the gradient raises where the function raises (math domain and overflow,"
        " division by zero, int() of nan, indices out of range); without: the same gradient"
        " generated with them switched off, for comparison only. checks (with / without): the"
        " `raise` lines of each generated module; other code lines that differ: besides the"
        " checks, comments aside (0: the checks are the only difference). with/without > 1 is"
        " the checks' cost."
    )
    if errors:
        print("\n" + "\n".join(f"- {e}" for e in errors))
    if wrong:
        print("\nWRONG GRADIENTS (not timed):\n" + "\n".join(f"- {w}" for w in wrong))
        sys.exit(1)


if __name__ == "__main__":
    main()
