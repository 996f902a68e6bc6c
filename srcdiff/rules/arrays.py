"""Reading arrays that are not differentiated: element access and sizes.

An array argument that is only read (the data of a recurrence, say) passes through the
gradient untouched, so these primitives have no VJP for the array.
"""

from __future__ import annotations

from . import KindError, defrule, nondiff


def element_kind(kinds, args):
    # kinds[0] is "array:<element kind>:<ndim>"
    _, element, ndim = kinds[0].split(":")
    if len(args) - 1 != int(ndim):
        raise KindError(f"{len(args) - 1} indices for a {ndim}-dimensional array")
    return element


# The adjoint of reading x[i] is g added at position i: ``at(i, g)`` stands for that sparse
# array, and the reverse transform turns its accumulation into ``g_x[i] += g``.
defrule(
    "index1", "x[y]", "at1(y, g)", None,
    result=element_kind, arrays=(0,), integers=(1,), cheap=True,
)  # fmt: skip
defrule(
    "index2", "x[y, z]", "at2(y, z, g)", None, None,
    result=element_kind, arrays=(0,), integers=(1, 2), cheap=True,
)  # fmt: skip
defrule(
    "index3", "x[y, z, a]", "at3(y, z, a, g)", None, None, None,
    result=element_kind, arrays=(0,), integers=(1, 2, 3), cheap=True,
)  # fmt: skip
nondiff("at1", "at(x, y)", result="float")
nondiff("at2", "at(x, y, z)", result="float")
nondiff("at3", "at(x, y, z, a)", result="float")
nondiff("zeros_like", "np.zeros_like(x)", result=lambda kinds, args: kinds[0], arrays=(0,))
nondiff("shape", "x.shape[y]", result="int", arrays=(0,), integers=(1,), cheap=True)
nondiff("size", "x.size", result="int", arrays=(0,), cheap=True)
nondiff("ndim", "x.ndim", result="int", arrays=(0,), cheap=True)
nondiff("len", "len(x)", result="int", arrays=(0,), cheap=True)

# The reverse sweep's own bookkeeping: typed tapes, and trip counts of reversed loops.
nondiff("tape_f", "np.empty(x, np.float64)", result=lambda kinds, args: "array:float:1")
nondiff("tape_i", "np.empty(x, np.int64)", result=lambda kinds, args: "array:int:1")
nondiff("tape_b", "np.empty(x, np.bool_)", result=lambda kinds, args: "array:bool:1")
nondiff("reserve", "reserve(x, y, z)", result=lambda kinds, args: kinds[0], arrays=(0,))
nondiff("range_len", "len(range(x, y, z))", result="int")
