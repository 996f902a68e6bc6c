"""Helpers for test suites that use srcdiff."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .check import METHODS, GradReport, check_grad


def assert_grad_close(
    f: Callable,
    *args: Any,
    wrt: int | str | tuple[int | str, ...] | None = None,
    methods: Sequence[str] = METHODS,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    seed: int = 0,
) -> GradReport:
    """``check_grad`` for pytest: raise AssertionError, with the report's table, unless
    srcdiff's gradient agrees with every reference method that ran (and one did)."""
    report = check_grad(f, *args, wrt=wrt, methods=methods, rtol=rtol, atol=atol, seed=seed)
    if not report.ok:
        raise AssertionError(str(report))
    return report
