"""The NumPy backend: generated functions run as plain Python calling NumPy.

Fast for whole-array statements outside loops (NumPy's array functions are several times
faster than Numba's), and it runs everything: a list tape records whole arrays, and
functions Numba cannot call are called as they are. Loops Numba can run move into Numba
kernels of their own; array adjoints start as the number 0.0 (NumPy broadcasts), and the
code is written for its arguments' layouts, overwriting arrays nothing reads any more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import ir
from ..buffers import Layout, reuse_buffers
from ..errors import SourceLocation, SrcdiffError
from ..ir import Expr, For, While
from ..jit import CompiledAdjoint
from ..kind import Kind
from ..rules import Primitive
from .numba import NUMBA

if TYPE_CHECKING:
    from ..transform import GeneratedModule

REUSED = (
    "Arrays nothing reads any more are overwritten (out=, *=): this variant is for arrays "
    "without dimensions of length 1."
)


class Numpy:
    name = "numpy"
    title = "plain Python on NumPy"
    records_arrays = True  # on a list
    lazy_array_adjoints = True
    layout_specific = True
    widens_float32 = False
    allocates_temporaries = True
    declined_recording = ""  # it records them

    def check(self, fn: ir.Function, kinds: dict[str, Kind]) -> None:
        """It runs everything."""

    def assess(self, fn: ir.Function, kinds: dict[str, Kind]) -> tuple[bool, str]:
        """It takes what the backends before it in ``AUTO_ORDER`` left, for their reason."""
        return True, ""

    def cannot_record(self, at: SourceLocation) -> SrcdiffError:
        raise AssertionError("the NumPy backend records whole arrays")

    def lower(
        self, prim: Primitive, kinds: tuple[Kind, ...], args: tuple[Expr, ...]
    ) -> Expr | None:
        return None

    def worth_a_kernel(self, fn: ir.Function, loop: For | While) -> bool:
        """Every loop Numba can run on its own: Python would run it a hundred times slower."""
        return NUMBA.runs_loop(fn, loop)

    def reuse_buffers(self, fn: ir.Function, layouts: dict[str, Layout]) -> str | None:
        return REUSED if layouts and reuse_buffers(fn, layouts) else None

    def compile(self, module: GeneratedModule, jit: bool | None, what: str) -> CompiledAdjoint:
        """Python, with the loop kernels compiled by Numba."""
        return CompiledAdjoint.of(module, jit, what, compiled=tuple(module.kernels))

    def __repr__(self) -> str:
        return "<srcdiff backend numpy>"


NUMPY = Numpy()
