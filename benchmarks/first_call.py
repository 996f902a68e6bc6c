"""Child process for run.py: time `srcdiff.grad` decoration plus the first gradient call.

Usage: python benchmarks/first_call.py PROBLEM [--numba-primal]   (prints seconds on stdout)
Imports (numba, srcdiff) happen before the clock starts: only srcdiff's own work is timed.
SRCDIFF_CACHE_DIR, set by the parent, decides whether srcdiff's on-disk cache is cold or warm.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numba  # noqa: F401  (imported before timing on purpose)
from problems import make_array_problems, make_problems

if importlib.util.find_spec("srcdiff") is None:  # benchmark the working tree if not installed
    sys.path.insert(1, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import srcdiff

    problems = make_problems() + make_array_problems()
    problem = next(p for p in problems if p.name == sys.argv[1])
    try:
        if "--numba-primal" in sys.argv:  # Numba's own floor: its cached primal's first call
            from run import njit_primal

            primal = njit_primal(problem.func, cache=True)
            start = time.perf_counter()
            primal(*problem.args)
        else:
            transform = srcdiff.value_and_grad if problem.value_and_grad else srcdiff.grad
            start = time.perf_counter()
            gradient = transform(problem.func, wrt=problem.wrt)
            gradient(*problem.args)
        elapsed = time.perf_counter() - start
    except Exception as exc:
        # One line on stderr, last: the parent reports it under its table.
        sys.exit(f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
    print(elapsed)


if __name__ == "__main__":
    main()
