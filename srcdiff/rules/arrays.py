"""Derivatives of NumPy's array operations: indexing, reductions, linear algebra, shapes.

Elementwise functions reuse the scalar rules (see ``scalar.py``); this table holds the
operations that change shapes. In VJPs, ``g`` has the shape of the result and every
VJP returns an array of its argument's shape (``full_like``, ``expand_like`` and
``reshape_like`` put a reduced or reshaped adjoint back into shape).

Kinds: an argument named in ``arrays`` must be an array; the kind rules below compute
the rank of the result from the ranks (and constant ``axis`` arguments) of the inputs.
"""

from __future__ import annotations

import numpy as np

from ..ir import Const, Op
from ..kind import BOOL, FLOAT, INT, LIST, NONE, SLICE, Kind, KindError
from . import PRIMITIVES, alias, defrule, nondiff, tangent

# --- kind rules ----------------------------------------------------------------------


def same_as(position: int):
    return lambda kinds, args: kinds[position]


def float_like(position: int):
    def kind(kinds, args):
        return Kind.array("float", kinds[position].ndim)

    return kind


def _constant(args, position: int, what: str):
    arg = args[position]
    if not isinstance(arg, Const):
        raise KindError(f"{what} must be a constant")
    return arg.value


def reduced(kinds, args):
    """The kind of a reduction along ``axis`` (argument 2), ``keepdims`` (argument 3)."""
    ndim = kinds[0].ndim
    axis = _constant(args, 1, "axis")
    keepdims = _constant(args, 2, "keepdims")
    if not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise KindError(f"axis {axis!r} is out of range for a {ndim}-dimensional array")
    rank = ndim if keepdims else ndim - 1
    return Kind.of_rank("float", rank)


def indexed(kinds, args):
    """``x[i, :, None]``: integers drop a dimension, slices keep one, None adds one, and
    integer arrays (advanced indexing) give the rank of the index arrays."""
    ndim = kinds[0].ndim
    indices = kinds[1:]
    consumed = sum(1 for k in indices if k != NONE)
    if consumed > ndim:
        raise KindError(f"{consumed} indices for a {ndim}-dimensional array")
    rank = ndim - consumed
    advanced = [k.ndim for k in indices if k.is_array]
    rank += sum(1 for k in indices if k in (SLICE, NONE)) + max(advanced, default=0)
    return Kind.of_rank(kinds[0].element, rank)


def matmul_kind(kinds, args):
    ranks = (kinds[0].ndim, kinds[1].ndim)
    if ranks not in MATMUL_RANKS:
        raise KindError(f"`@` of arrays of ranks {ranks[0]} and {ranks[1]}")
    return Kind.of_rank("float", MATMUL_RANKS[ranks])


MATMUL_RANKS = {(2, 2): 2, (1, 2): 1, (2, 1): 1, (1, 1): 0}


def shape_rank(kind: Kind) -> int:
    """The rank of an array of this shape: a tuple's length, 1 for a single integer."""
    if kind.what == "shape":
        return kind.length
    if kind.is_integer:
        return 1
    raise KindError(f"a shape must be an integer or a tuple of integers, not {kind.describe()}")


def created(kinds, args):
    return Kind.array("float", shape_rank(kinds[0]))


def reshaped(kinds, args):
    return Kind.array(kinds[0].element, shape_rank(kinds[1]))


def with_rank(rank: int):
    def kind(kinds, args):
        return Kind.array(kinds[0].element, rank)

    return kind


def expanded(kinds, args):
    return Kind.array(kinds[0].element, kinds[0].ndim + 1)


def concatenated(kinds, args):
    if kinds[0].ndim != kinds[1].ndim:
        raise KindError("np.concatenate needs arrays of the same rank")
    return Kind.array("float", kinds[0].ndim)


def rank_between(low: int, high: int, kind_rule):
    def kind(kinds, args):
        for k in kinds:
            if k.is_array and not low <= k.ndim <= high:
                raise KindError(f"needs arrays of rank {low} to {high}, not {k.ndim}")
        return kind_rule(kinds, args)

    return kind


def einsum_parts(subscripts: str, n_operands: int) -> tuple[list[str], str]:
    """The operands' subscripts and the output's of ``'ij,jk->ik'``, checked."""
    if not isinstance(subscripts, str) or "->" not in subscripts:
        raise KindError("np.einsum needs constant subscripts with an output, like 'ij,jk->ik'")
    inputs, output = subscripts.replace(" ", "").split("->")
    operands = inputs.split(",")
    letters = [*operands, output]
    if len(operands) != n_operands or not all(part.isalpha() or part == "" for part in letters):
        raise KindError(f"np.einsum subscripts {subscripts!r} for {n_operands} operand(s)")
    for part in letters:
        if len(set(part)) != len(part):
            raise KindError(f"np.einsum subscripts {subscripts!r} repeat an index (a diagonal)")
    if not set(output) <= set("".join(operands)):
        raise KindError(f"np.einsum output {output!r} names an index no operand has")
    return operands, output


def einsum_kind(kinds, args):
    operands, output = einsum_parts(args[0].value if isinstance(args[0], Const) else None,
                                    len(args) - 1)  # fmt: skip
    for part, kind in zip(operands, kinds[1:], strict=True):
        if kind.ndim != len(part):
            raise KindError(f"np.einsum subscripts {part!r} for an array of rank {kind.ndim}")
    return Kind.of_rank("float", len(output))


def einsum_adjoint(subscripts: str, position: int, n_operands: int) -> str | None:
    """The subscripts of the adjoint of operand ``position`` as an einsum of g and the
    other operand, or None when the operand has an index found nowhere else."""
    operands, output = einsum_parts(subscripts, n_operands)
    others = [p for k, p in enumerate(operands) if k != position]
    wanted = operands[position]
    if not set(wanted) <= set(output + "".join(others)):
        return None
    return f"{','.join([output, *others])}->{wanted}"


# --- Numba forms of what Numba lacks (reductions along an axis, and their adjoints) -------


def _dropped(kinds, args):
    return Kind.of_rank("float", kinds[0].ndim - 1)


def _axis(args, position: int, rank: int) -> Const:
    return Const(args[position].value % rank)


def _reduce_along(kernel: str, kinds, args):
    """``np.max(x, axis=k, keepdims=...)`` as ``max_along(x, k)``, its axis put back for
    keepdims. Kernels other than np.sum take 2-D arrays."""
    rank = kinds[0].ndim
    if rank == 1 or (kernel != "sum_along" and rank != 2):
        return None
    axis = _axis(args, 1, rank)
    reduced = Op(kernel, (args[0], axis))
    return Op("expand_dims", (reduced, axis)) if args[2].value else reduced


def _along(kernel: str):
    return lambda kinds, args: _reduce_along(kernel, kinds, args)


def _lower_mean(kinds, args):
    total = _reduce_along("sum_along", kinds, args)
    return None if total is None else Op("div", (total, Op("shape", (args[0], args[1]))))


def _lower_expand(kinds, args):
    g, x, axis, keepdims = args
    rank = kinds[1].ndim
    if rank == 1:
        return Op("full_like", (x, g))
    spread = g if keepdims.value else Op("expand_dims", (g, _axis(args, 2, rank)))
    return Op("broadcast_like", (spread, x))


def _lower_unbroadcast(kinds, args):
    g, x = args
    rank, target = kinds[0].ndim, kinds[1].ndim
    if rank < target:
        return Op("broadcast_like", (g, x)) if rank else Op("full_like", (x, g))
    for _ in range(rank - target):  # leading axes that x did not have
        g = Op("sum_along", (g, Const(0)))
    if target == 1:
        return Op("sum_if_stretched1", (g, x))
    for k in range(target):  # axes of length 1 in x
        g = Op("sum_if_stretched", (g, x, Const(k)))
    return g


def _lower_extremum_weight(kinds, args):
    x, extremum, axis, keepdims = args
    rank = kinds[0].ndim
    if rank == 1:
        return Op("extremum_weight", (x, extremum))
    axis = _axis(args, 2, rank)
    kept = extremum if keepdims.value else Op("expand_dims", (extremum, axis))
    return Op("extremum_share", (x, kept, axis))


def _lower_extremum_adjoint(kinds, args):
    g, x, extremum, axis, keepdims = args
    spread = Op("expand_like", (g, x, axis, keepdims))
    return Op("mul", (spread, Op("extremum_weight_along", (x, extremum, axis, keepdims))))


def _lower_prod_others(kinds, args):
    rank = kinds[0].ndim
    if rank == 1:
        return Op("prod_others", (args[0],))
    if rank == 2:
        return Op("prod_others_along2", (args[0], _axis(args, 1, rank)))
    return None


def _lower_split(head: bool):
    """The first (or the remaining) ``n`` entries along an axis, as a slice."""

    def lower(kinds, args):
        g, n, axis = args
        rank = kinds[0].ndim
        everything = Op("slice", (Const(None), Const(None), Const(None)))
        part = Op("slice", (Const(None), n, Const(None)) if head else (n, Const(None), Const(None)))
        indices = [everything] * rank
        indices[axis.value % rank] = part
        return Op(f"index{rank}", (g, *indices))

    return lower


# --- indexing and slicing ------------------------------------------------------------
# The adjoint of reading x[i] is g added at position i: ``at(i, g)`` stands for that sparse
# array, and the reverse transform turns its accumulation into ``g_x[i] += g``.
defrule(
    "index1", "x[y]", "at1(y, g)", None,
    result=indexed, arrays=(0,), integers=(1,), cheap=True,
)  # fmt: skip
defrule(
    "index2", "x[y, z]", "at2(y, z, g)", None, None,
    result=indexed, arrays=(0,), integers=(1, 2), cheap=True,
)  # fmt: skip
defrule(
    "index3", "x[y, z, a]", "at3(y, z, a, g)", None, None, None,
    result=indexed, arrays=(0,), integers=(1, 2, 3), cheap=True,
)  # fmt: skip
nondiff("at1", "at(x, y)", result=FLOAT)
nondiff("at2", "at(x, y, z)", result=FLOAT)
nondiff("at3", "at(x, y, z, a)", result=FLOAT)
# start:stop:step inside a subscript (printed as slice syntax there)
nondiff("slice", "slice(x, y, z)", result=SLICE)

# --- sizes and shapes ----------------------------------------------------------------------
nondiff("shape", "x.shape[y]", result=INT, arrays=(0,), integers=(1,), cheap=True)
nondiff("size", "x.size", result=INT, arrays=(0,), cheap=True)
nondiff("ndim", "x.ndim", result=INT, arrays=(0,), cheap=True)
nondiff("len", "len(x)", result=INT, arrays=(0,), cheap=True)
nondiff(
    "shape_of", "x.shape",
    result=lambda kinds, args: Kind.shape(kinds[0].ndim), arrays=(0,), cheap=True,
)  # fmt: skip
nondiff("tuple1", "(x,)", result=Kind.shape(1), cheap=True)
nondiff("tuple2", "(x, y)", result=Kind.shape(2), cheap=True)
nondiff("tuple3", "(x, y, z)", result=Kind.shape(3), cheap=True)

# --- reductions ----------------------------------------------------------------------------
# g flows back to every element that was summed; max and min send it to the largest
# (smallest) elements, split evenly between ties; prod to each element times the others.
defrule("sum", "np.sum(x)", "full_like(x, g)", result=FLOAT, arrays=(0,))
defrule(
    "sum_axis", "np.sum(x, axis=y, keepdims=z)", "expand_like(g, x, y, z)", None, None,
    result=reduced, arrays=(0,), numba_lower=_along("sum_along"),
)  # fmt: skip
defrule("mean", "np.mean(x)", "full_like(x, g / size(x))", result=FLOAT, arrays=(0,))
defrule(
    "mean_axis", "np.mean(x, axis=y, keepdims=z)",
    "expand_like(g, x, y, z) / shape(x, y)", None, None,
    result=reduced, arrays=(0,), numba_lower=_lower_mean,
)  # fmt: skip
defrule("amax", "np.max(x)", "g * extremum_weight(x, ans)", result=FLOAT, arrays=(0,))
defrule("amin", "np.min(x)", "g * extremum_weight(x, ans)", result=FLOAT, arrays=(0,))
defrule(
    "amax_axis", "np.max(x, axis=y, keepdims=z)", "extremum_adjoint(g, x, ans, y, z)", None, None,
    result=reduced, arrays=(0,), numba_lower=_along("max_along"),
)  # fmt: skip
defrule(
    "amin_axis", "np.min(x, axis=y, keepdims=z)", "extremum_adjoint(g, x, ans, y, z)", None, None,
    result=reduced, arrays=(0,), numba_lower=_along("min_along"),
)  # fmt: skip
defrule("prod", "np.prod(x)", "g * prod_others(x)", result=FLOAT, arrays=(0,))
defrule(
    "prod_axis", "np.prod(x, axis=y, keepdims=z)",
    "expand_like(g, x, y, z) * prod_others_along(x, y)", None, None,
    result=reduced, arrays=(0,), numba_lower=_along("prod_along"),
)  # fmt: skip
defrule("norm", "np.linalg.norm(x)", "g * div0(x, ans)", result=FLOAT, arrays=(0,))

# --- linear algebra ------------------------------------------------------------------------
defrule(
    "matmul", "x @ y",
    result=matmul_kind, arrays=(0, 1),
    by_rank={
        (2, 2): ("g @ transpose(y)", "transpose(x) @ g"),
        (1, 2): ("y @ g", "outer(x, g)"),
        (2, 1): ("outer(g, y)", "transpose(x) @ g"),
        (1, 1): ("g * y", "g * x"),
    },
)  # fmt: skip
defrule(
    "outer", "np.outer(x, y)", "g @ y", "transpose(g) @ x",
    result=rank_between(1, 1, lambda kinds, args: Kind.array("float", 2)), arrays=(0, 1),
)  # fmt: skip
defrule(
    "inner", "np.inner(x, y)", "g * y", "g * x",
    result=rank_between(1, 1, lambda kinds, args: FLOAT), arrays=(0, 1),
)  # fmt: skip
defrule("transpose", "np.transpose(x)", "transpose(g)", result=same_as(0), arrays=(0,))
defrule(
    "trace", "np.trace(x)", "g * eye_like(x)",
    result=rank_between(2, 2, lambda kinds, args: FLOAT), arrays=(0,),
)  # fmt: skip

# np.einsum with one or two operands and an explicit output ('ij,jk->ik'): the adjoint of
# an operand is the einsum of g with the other operand, back to the operand's subscripts
# (spread over any index only it has).
defrule(
    "einsum1", "np.einsum(s, x)", None, "einsum_grad(s, g, x, x, 0)",
    result=lambda kinds, args: einsum_kind(kinds, args), arrays=(1,),
)  # fmt: skip
defrule(
    "einsum2", "np.einsum(s, x, y)", None,
    "einsum_grad(s, g, x, y, 0)", "einsum_grad(s, g, x, y, 1)",
    result=lambda kinds, args: einsum_kind(kinds, args), arrays=(1, 2),
)  # fmt: skip
nondiff("einsum_grad", "einsum_grad(s, x, y, z, a)", result=float_like(2), numba=False)


def _expand_einsum_grad(kinds, args):
    subscripts, g, x, y, position = args
    operands = subscripts.value.split("->")[0].split(",")
    adjoint = einsum_adjoint(subscripts.value, position.value, len(operands))
    if adjoint is None:
        return None  # an index only this operand has: einsum_grad spreads over it
    other = () if len(operands) == 1 else ((y,) if position.value == 0 else (x,))
    return Op(f"einsum{1 + len(other)}", (Const(adjoint), g, *other))


def _einsum_as_product(kinds, args):
    """An einsum that sums over nothing, like ``'nk,nki->nki'``, is a broadcast product:
    ``x[:, :, None] * y`` (NumPy's einsum loops over it more slowly)."""
    subscripts, x, y = args
    operands, output = einsum_parts(subscripts.value, 2)
    if set(output) != set("".join(operands)) or not 0 < len(output) <= 3:
        return None
    if not all(kind.ndim == len(part) for kind, part in zip(kinds[1:], operands, strict=True)):
        return None  # an adjoint that is still the number 0.0
    views = []
    for letters, operand in zip(operands, (x, y), strict=True):
        if [c for c in output if c in letters] != list(letters):
            return None  # the operand's axes in another order: a transpose, left to einsum
        if letters in (output, ""):  # its own shape, or a number
            views.append(operand)
            continue
        full = Op("slice", (Const(None), Const(None), Const(None)))
        indices = tuple(full if c in letters else Const(None) for c in output)
        views.append(Op(f"index{len(indices)}", (operand, *indices)))
    return Op("mul", tuple(views))


PRIMITIVES["einsum2"].expand = _einsum_as_product
PRIMITIVES["einsum_grad"].expand = _expand_einsum_grad
PRIMITIVES["einsum_grad"].loose = True

# --- shapes --------------------------------------------------------------------------------
defrule("reshape", "np.reshape(x, y)", "reshape_like(g, x)", None, result=reshaped, arrays=(0,))
defrule("ravel", "np.ravel(x)", "reshape_like(g, x)", result=with_rank(1), arrays=(0,))
defrule(
    "expand_dims", "np.expand_dims(x, y)", "reshape_like(g, x)", None,
    result=expanded, arrays=(0,),
)  # fmt: skip
defrule(
    "concatenate", "np.concatenate((x, y), axis=z)",
    "head_along(g, shape(x, z), z)", "tail_along(g, shape(x, z), z)", None,
    result=concatenated, arrays=(0, 1),
)  # fmt: skip
defrule("array_copy", "x.copy()", "g", result=float_like(0), arrays=(0,))

# --- creating arrays (no derivative) ----------------------------------------------------------
nondiff("zeros", "np.zeros(x)", result=created)
nondiff("ones", "np.ones(x)", result=created)
nondiff("empty", "np.empty(x)", result=created)
nondiff("eye", "np.eye(x)", result=Kind.array("float", 2))
nondiff("arange", "np.arange(x)", result=Kind.array("int", 1))
nondiff("zeros_like", "np.zeros_like(x)", result=float_like(0), arrays=(0,))
nondiff("ones_like", "np.ones_like(x)", result=float_like(0), arrays=(0,))

# --- the reverse sweep's helpers: putting adjoints back into shape --------------------------
nondiff("full_like", "np.full_like(x, y)", result=float_like(0), arrays=(0,))
nondiff("expand_like", "expand_like(x, y, z, a)", result=float_like(1), numba_lower=_lower_expand)
nondiff("reshape_like", "np.reshape(x, y.shape)", result=float_like(1))
nondiff("unbroadcast", "unbroadcast(x, y)", result=same_as(1), numba_lower=_lower_unbroadcast)
nondiff("as_grad", "as_grad(x, y)", result=same_as(1), numba=False)
nondiff("eye_like", "np.eye(x.shape[0], x.shape[1])", result=float_like(0), arrays=(0,))
nondiff("extremum_weight", "extremum_weight(x, y)", result=float_like(0), arrays=(0,))
nondiff(
    "extremum_weight_along", "extremum_weight_along(x, y, z, a)",
    result=float_like(0), numba_lower=_lower_extremum_weight,
)  # fmt: skip
nondiff(
    "extremum_adjoint", "extremum_adjoint(x, y, z, a, b)",
    result=float_like(1), numba_lower=_lower_extremum_adjoint,
)  # fmt: skip
# the products of the other elements, differentiated again by second derivatives
defrule(
    "prod_others", "prod_others(x)", "prod_others_vjp(g, x)",
    result=float_like(0), arrays=(0,),
)  # fmt: skip
defrule(
    "prod_others_along", "prod_others_along(x, y)", "prod_others_along_vjp(g, x, y)", None,
    result=float_like(0), arrays=(0,), numba_lower=_lower_prod_others,
)  # fmt: skip
nondiff("prod_others_vjp", "prod_others_vjp(x, y)", result=float_like(1))
nondiff(
    "prod_others_along_vjp", "prod_others_along_vjp(x, y, z)", result=float_like(1), numba=False
)
nondiff("distinct_positions1", "distinct_positions(x)", result=BOOL, numba=False)
nondiff("distinct_positions2", "distinct_positions(x, y)", result=BOOL, numba=False)
nondiff("distinct_positions3", "distinct_positions(x, y, z)", result=BOOL, numba=False)
nondiff("head_along", "head_along(x, y, z)", result=same_as(0), numba_lower=_lower_split(head=True))
nondiff(
    "tail_along", "tail_along(x, y, z)", result=same_as(0), numba_lower=_lower_split(head=False)
)

# An adjoint may still be the number 0.0 where an array is expected: the helpers take both.
for _name in (
    "expand_like", "extremum_adjoint", "extremum_weight_along", "reshape_like", "unbroadcast",
    "as_grad", "head_along", "prod_others_vjp", "prod_others_along_vjp",
    "tail_along", "distinct_positions1", "distinct_positions2", "distinct_positions3",
):  # fmt: skip
    PRIMITIVES[_name].loose = True

# --- their Numba forms (2-D kernels where Numba has no axis argument) -------------------------
nondiff("sum_along", "np.sum(x, axis=y)", result=_dropped, arrays=(0,))
nondiff("max_along", "max_along(x, y)", result=_dropped, arrays=(0,))
nondiff("min_along", "min_along(x, y)", result=_dropped, arrays=(0,))
nondiff("prod_along", "prod_along(x, y)", result=_dropped, arrays=(0,))
nondiff("broadcast_like", "np.broadcast_to(x, y.shape)", result=float_like(1))
nondiff("sum_if_stretched", "sum_if_stretched(x, y, z)", result=same_as(0))
nondiff("sum_if_stretched1", "sum_if_stretched1(x, y)", result=same_as(0))
nondiff("extremum_share", "extremum_share(x, y, z)", result=float_like(0))
nondiff("prod_others_along2", "prod_others_along2(x, y)", result=float_like(0), arrays=(0,))
for _name in ("broadcast_like", "sum_if_stretched", "sum_if_stretched1", "extremum_share"):
    PRIMITIVES[_name].loose = True

# The reverse sweep's own bookkeeping: typed tapes, and trip counts of reversed loops.
nondiff("tape_f", "np.empty(x, np.float64)", result=Kind.array("float", 1))
nondiff("tape_i", "np.empty(x, np.int64)", result=Kind.array("int", 1))
nondiff("tape_b", "np.empty(x, np.bool_)", result=Kind.array("bool", 1))
nondiff("tape_a", "[]", result=LIST, numba=False)
nondiff("reserve", "reserve(x, y, z)", result=lambda kinds, args: kinds[0], arrays=(0,))
nondiff("range_len", "len(range(x, y, z))", result=INT)

# Reading an element, a row or a slice: x[i], x[i, j], x[1:, None], x[rows, labels]
INDEX_READS = {"index1", "index2", "index3"}

# Array-valued operations that work on single elements rather than whole arrays: code
# that uses only these (and scalars) is loop code, which Numba runs best.
ELEMENT_LEVEL = {
    "index1", "index2", "index3", "at1", "at2", "at3", "slice", "shape", "size", "ndim",
    "len", "shape_of", "tuple1", "tuple2", "tuple3", "zeros", "ones", "empty",
    "zeros_like", "ones_like", "tape_f", "tape_i", "tape_b", "reserve", "range_len",
}  # fmt: skip

# --- the names users call them by --------------------------------------------------------
alias("sum", np.sum)
alias("mean", np.mean)
alias("amax", np.max, np.amax)
alias("amin", np.min, np.amin)
alias("prod", np.prod)
alias("norm", np.linalg.norm)
alias("matmul", np.matmul, np.dot)
alias("outer", np.outer)
alias("inner", np.inner)
alias("transpose", np.transpose)
alias("trace", np.trace)
alias("reshape", np.reshape)
alias("ravel", np.ravel)
alias("expand_dims", np.expand_dims)
alias("concatenate", np.concatenate)
alias("zeros", np.zeros)
alias("ones", np.ones)
alias("empty", np.empty)
alias("eye", np.eye)
alias("arange", np.arange)
alias("zeros_like", np.zeros_like)
alias("ones_like", np.ones_like)
alias("array_copy", np.copy)

# Methods and attributes of arrays, as the primitive they stand for (``x.sum(axis=0)``).
METHODS = {
    "sum": "sum", "mean": "mean", "max": "amax", "min": "amin", "prod": "prod",
    "reshape": "reshape", "ravel": "ravel", "flatten": "ravel", "copy": "array_copy",
    "dot": "matmul", "transpose": "transpose",
}  # fmt: skip
ATTRIBUTES = {"T": "transpose", "shape": "shape_of", "size": "size", "ndim": "ndim"}

# Reductions take ``axis`` and ``keepdims``; with an axis they are another primitive.
REDUCTIONS = {
    "sum": "sum_axis", "mean": "mean_axis", "amax": "amax_axis", "amin": "amin_axis",
    "prod": "prod_axis",
}  # fmt: skip

# Keyword arguments NumPy functions accept here, with their defaults (REQUIRED: none).
REQUIRED = object()
_REDUCTION = (("a", REQUIRED), ("axis", None), ("keepdims", False))
SIGNATURES = {
    **dict.fromkeys(REDUCTIONS, _REDUCTION),
    "concatenate": (("arrays", REQUIRED), ("axis", 0)),
    "stack": (("arrays", REQUIRED), ("axis", 0)),
    "expand_dims": (("a", REQUIRED), ("axis", REQUIRED)),
    "reshape": (("a", REQUIRED), ("shape", REQUIRED)),
}
# np.stack is written with the primitives above: expand_dims, then concatenate; np.einsum
# is einsum1 or einsum2 by its number of operands
alias("stack", np.stack)
alias("einsum", np.einsum)


# --- forward mode: how a tangent t of an argument moves the result ---------------------------
# (elementwise primitives need no entry: their VJPs g * J give J * t)
tangent("index1", "index1(t, y)", None)
tangent("index2", "index2(t, y, z)", None, None)
tangent("index3", "index3(t, y, z, a)", None, None, None)
tangent("sum", "sum(t)")
tangent("sum_axis", "sum_axis(t, y, z)", None, None)
tangent("mean", "mean(t)")
tangent("mean_axis", "mean_axis(t, y, z)", None, None)
tangent("amax", "sum(extremum_weight(x, ans) * t)")
tangent("amin", "sum(extremum_weight(x, ans) * t)")
tangent("amax_axis", "sum_axis(extremum_weight_along(x, ans, y, z) * t, y, z)", None, None)
tangent("amin_axis", "sum_axis(extremum_weight_along(x, ans, y, z) * t, y, z)", None, None)
tangent("prod", "sum(prod_others(x) * t)")
tangent("prod_axis", "sum_axis(prod_others_along(x, y) * t, y, z)", None, None)
tangent("norm", "sum(div0(x, ans) * t)")
tangent("matmul", "t @ y", "x @ t")
tangent("outer", "outer(t, y)", "outer(x, t)")
tangent("inner", "inner(t, y)", "inner(x, t)")
tangent("transpose", "transpose(t)")
tangent("trace", "trace(t)")
tangent("einsum1", None, "einsum1(s, t)")
tangent("einsum2", None, "einsum2(s, t, y)", "einsum2(s, x, t)")
tangent("reshape", "reshape(t, y)", None)
tangent("ravel", "ravel(t)")
tangent("expand_dims", "expand_dims(t, y)", None)
tangent("concatenate", "concatenate(t, zeros_like(y), z)", "concatenate(zeros_like(x), t, z)", None)
tangent("array_copy", "array_copy(t)")
