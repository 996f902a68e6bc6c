"""Where generated code runs: one object per backend, chosen before the transformation.

A backend says four things, read by the stages that need them:

* what it can run: ``check`` (raise, at the user's line, on what it cannot run; for an
  explicit request) and ``records_arrays`` (whether the reverse sweep may keep whole arrays
  on a tape). Which primitives it can run is a fact of the rule table (``rules/``): the
  backend asks the table, it keeps no list of primitives of its own;
* its cost model: ``assess`` (whether ``backend="auto"`` should run a function here, and
  why);
* how it prints: ``lower`` (a primitive's form for this backend, ``analysis.kinds.specialize``),
  ``lazy_array_adjoints`` (array adjoints may start as the number 0.0: ``reverse``),
  ``worth_a_kernel`` (which loops ``kernels`` moves into Numba functions of their own),
  ``layout_specific`` and ``reuse_buffers`` (code written for the layouts of its array
  arguments: ``buffers``), ``title`` (the header's ``Backend:`` line);
* how it compiles: ``compile`` (a ``jit.CompiledAdjoint``; jit keeps the cache and file
  machinery), ``widens_float32`` and ``allocates_temporaries`` (what the callers and jit do
  around a call).

``choose`` picks one for a module from the requested name and the code, before any adjoint
is generated: the cost model of each backend in ``AUTO_ORDER``, then whether the reverse sweep
would record a whole array (predicted by ``reverse.arrays_recorded``), which a backend
without ``records_arrays`` cannot run.

Adding a backend (JAX, or a GPU one) is one new module, ``backends/<name>.py``, defining
an object with every attribute and method of ``Backend`` below, then one line each in
``BY_NAME`` and ``AUTO_ORDER`` here (and its name in the API's ``Backend`` literal):

* ``check``/``assess``: ask the rule table which primitives it can run (a new trait in
  ``rules/`` next to ``numba``/``numba_lower``, say ``jax_form``), and say when ``auto``
  should pick it (a GPU pays off for large whole-array code only);
* ``records_arrays``: True if its tapes can hold arrays (JAX: a Python list while tracing);
  a backend that cannot is refused code that reassigns an array the gradient needs;
* ``lower``: print primitives in its forms (``jnp.exp``); ``lazy_array_adjoints``: False
  where a variable must keep one type (traced code); ``worth_a_kernel``: False unless
  it has kernels of its own; ``reuse_buffers``: None (arrays are immutable);
* ``compile``: a ``CompiledAdjoint`` with ``compiled=()`` whose entry is wrapped by the
  backend's compiler (``jax.jit``), or a class of its own with ``call``/``run``/``located``;
  codegen would need the module's imports (``import jax.numpy as jnp``) from the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from ..errors import SourceLocation, SrcdiffError
from ..kind import Kind
from .numba import NUMBA
from .numpy import NUMPY

if TYPE_CHECKING:
    from .. import ir
    from ..buffers import Layout
    from ..jit import CompiledAdjoint
    from ..rules import Primitive
    from ..transform import GeneratedModule


class Backend(Protocol):
    """What every backend defines (see the module's docstring)."""

    name: str  # what users pass as backend=...
    title: str  # the header's "Backend: <title> (<reason>)"
    records_arrays: bool  # the reverse sweep may record whole arrays (on a list)
    lazy_array_adjoints: bool  # an array's adjoint may start as the number 0.0
    layout_specific: bool  # code written for its arguments' layouts (see ``buffers``)
    widens_float32: bool  # float32 arrays are computed in float64, handed back as float32
    allocates_temporaries: bool  # Python code allocating large temporaries at every call

    def check(self, fn: ir.Function, kinds: dict[str, Kind]) -> None:
        """Raise, at the user's line, on what this backend cannot run (when requested)."""

    def assess(self, fn: ir.Function, kinds: dict[str, Kind]) -> tuple[bool, str]:
        """The cost model: whether ``auto`` runs ``fn`` here, and why (or why not)."""

    # without ``records_arrays``, where the reverse sweep would record a whole array: the
    # reason ``auto`` gives for the next backend, and (``cannot_record``) the error an
    # explicit request gets
    declined_recording: str

    def cannot_record(self, at: SourceLocation) -> SrcdiffError:
        """The error for a request of this backend for code whose reverse sweep would
        record a whole array at ``at``."""

    def lower(
        self, prim: Primitive, kinds: tuple[Kind, ...], args: tuple[ir.Expr, ...]
    ) -> ir.Expr | None:
        """The form of ``prim`` this backend prints for these arguments (None: as it is)."""

    def worth_a_kernel(self, fn: ir.Function, loop: ir.For | ir.While) -> bool:
        """Whether ``loop`` moves into a Numba function of its own."""

    def reuse_buffers(self, fn: ir.Function, layouts: dict[str, Layout]) -> str | None:
        """Overwrite arrays nothing reads any more; the header's note if it did."""

    def compile(self, module: GeneratedModule, jit: bool | None, what: str) -> CompiledAdjoint:
        """The module's entry, compiled (on first call) the way this backend runs code."""


BY_NAME: dict[str, Backend] = {"numba": NUMBA, "numpy": NUMPY}
# what ``auto`` tries, preferred first; the last runs everything, for the reason the one
# before it gave for declining
AUTO_ORDER: tuple[Backend, ...] = (NUMBA, NUMPY)
REQUESTS = ("auto", *BY_NAME)


def check_request(requested: str) -> None:
    """A ``backend=`` argument srcdiff knows, or a ``SrcdiffError``."""
    if requested not in REQUESTS:
        names = ", ".join(repr(name) for name in REQUESTS[:-1]) + f" or {REQUESTS[-1]!r}"
        raise SrcdiffError(f"backend must be {names}, not {requested!r}")


def choose(
    requested: str,
    functions: Iterable[tuple[ir.Function, dict[str, Kind]]],
    arrays_recorded: Callable[[Backend], SourceLocation | None] | None = None,
) -> tuple[Backend, str]:
    """One backend for a module (its functions call each other), and why.

    ``functions``: each function with the kinds it is called with, taken one at a time.
    ``arrays_recorded(backend)``: where the reverse sweep, generated for ``backend``, would
    first record a whole array (None: nowhere); not given for forward mode."""
    if requested != "auto":
        backend = BY_NAME[requested]
        for fn, kinds in functions:
            backend.check(fn, kinds)
        reason = "as requested"
    else:
        # the backend furthest down the order that some function needs (the first such)
        chosen = [_by_cost(fn, kinds) for fn, kinds in functions]
        backend, reason = max(chosen, key=lambda c: AUTO_ORDER.index(c[0]))
    if arrays_recorded is not None and not backend.records_arrays:
        at = arrays_recorded(backend)
        if at is not None:
            if requested != "auto":
                raise backend.cannot_record(at)
            later = AUTO_ORDER[AUTO_ORDER.index(backend) + 1 :]
            reason = backend.declined_recording
            backend = next(b for b in later if b.records_arrays)
    return backend, reason


def _by_cost(fn: ir.Function, kinds: dict[str, Kind]) -> tuple[Backend, str]:
    reason = ""
    for backend in AUTO_ORDER:
        takes, why = backend.assess(fn, kinds)
        if takes:
            return backend, why or reason
        reason = why
    raise AssertionError("the last backend in AUTO_ORDER runs everything")
