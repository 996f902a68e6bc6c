"""Derivatives of NumPy's array operations: indexing, reductions, linear algebra, shapes.

Elementwise functions reuse the scalar rules (see ``scalar.py``); this table holds the
operations that change shapes. In VJPs, ``g`` has the shape of the result and every
VJP returns an array of its argument's shape (``full_like``, ``expand_like`` and
``reshape_like`` put a reduced or reshaped adjoint back into shape).

Kinds: an argument named in ``arrays`` must be an array; the kind rules below compute
the rank of the result from the ranks (and constant ``axis`` arguments) of the inputs.
Each entry states, besides its VJPs, its forward-mode rule (``tangents``: the result's
tangent for a tangent ``t`` of one argument), its SymPy form, how NumPy calls bind
(``binding``), and what the NumPy backend needs to know of its memory (``fresh``, ``view``,
``layout``...; see ``Primitive``). Helpers of the reverse sweep are declared with ``helper``.
"""

from __future__ import annotations

import ast
import builtins

import numpy as np

from ..ir import Const, Op
from ..kind import BOOL, FLOAT, INT, LIST, MAX_RANK, NONE, SLICE, STR, Kind, KindError
from .table import defcall, defrule, helper, nondiff
from .traits import PRINTED, REQUIRED, SUBSCRIPT, Binding, SymPyForm, UnsupportedCall, whole

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
        raise KindError(
            f"`@` of arrays of ranks {ranks[0]} and {ranks[1]} (srcdiff takes vectors and "
            "matrices); for batches, write np.einsum('bij,bjk->bik', x, y)"
        )
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
    if set(output) != set("".join(operands)) or not 0 < len(output) <= MAX_RANK:
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


def cumulated(kinds, args):
    """np.cumsum along an axis keeps the shape; without one it flattens (1-D arrays only)."""
    ndim = kinds[0].ndim
    axis = _constant(args, 1, "axis")
    if axis is None and ndim != 1:
        raise KindError(f"np.cumsum of a {ndim}-dimensional array needs an axis")
    if axis is not None and (not isinstance(axis, int) or not -ndim <= axis < ndim):
        raise KindError(f"np.cumsum along axis {axis!r} of a {ndim}-dimensional array")
    return Kind.array("float" if kinds[0].element == "float" else "int", ndim)


# --- Numba forms of what Numba lacks (reductions along an axis, and their adjoints) -------


def _dropped(kinds, args):
    return Kind.of_rank("float", kinds[0].ndim - 1)


def _axis(args, position: int, rank: int) -> Const:
    return Const(args[position].value % rank)


def _reduce_along(kernel: str, kinds, args):
    """``np.max(x, axis=k, keepdims=...)`` as ``max_along(x, k)``, its axis put back for
    keepdims. Kernels other than np.sum take 2-D arrays."""
    rank = kinds[0].ndim
    if rank == 1 and not args[2].value:  # along the only axis: the whole array (sum(x))
        return Op(_WHOLE_REDUCTION[kernel], (args[0],))
    if rank == 1 or (kernel != "sum_along" and rank != 2):
        return None
    axis = _axis(args, 1, rank)
    reduced = Op(kernel, (args[0], axis))
    return Op("expand_dims", (reduced, axis)) if args[2].value else reduced


_WHOLE_REDUCTION = {"sum_along": "sum", "max_along": "amax", "min_along": "amin",
                    "prod_along": "prod"}  # fmt: skip


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


# --- how NumPy calls bind ------------------------------------------------------------------
_REDUCTION = (("a", REQUIRED), ("axis", None), ("keepdims", False))


def _reduction(prim: str) -> Binding:
    """``np.sum(x)`` is ``sum``, ``np.sum(x, axis=0)`` is ``sum_axis`` (with keepdims)."""

    def build(bound, site):
        array = site.array_like(bound["a"])
        axis, keepdims = site.constant(bound["axis"]), site.constant(bound["keepdims"])
        if axis.value is None:
            if keepdims.value:
                raise UnsupportedCall("keepdims=True without an axis")
            return Op(prim, (array,))
        return Op(f"{prim}_axis", (array, axis, keepdims))

    return Binding(_REDUCTION, build)


def _joined(stack: bool):
    """np.concatenate([a, b, c], axis) as concatenations of two; np.stack is concatenate
    along a new axis."""

    def build(bound, site):
        axis = site.constant(bound["axis"])
        arrays = site.sequence(bound["arrays"])
        if stack:
            arrays = [site.atom_of(Op("expand_dims", (a, axis))) for a in arrays]
        joined = arrays[0]
        for array in arrays[1:-1]:
            joined = site.atom_of(Op("concatenate", (joined, array, axis)))
        return Op("concatenate", (joined, arrays[-1], axis))

    return Binding((("arrays", REQUIRED), ("axis", 0)), build)


def _reshape(bound, site):
    lengths = [bound["shape"], *bound.get("lengths", ())]  # x.reshape(n, m)
    if len(lengths) == 1:
        shape = lengths[0]
        if isinstance(shape, ast.Attribute) and shape.attr == "shape":  # x.reshape(y.shape)
            return Op("reshape", (site.atom(bound["a"]), site.atom(shape)))
        lengths = shape.elts if isinstance(shape, (ast.Tuple, ast.List)) else [shape]
    return Op("reshape", (site.atom(bound["a"]), site.shape(lengths)))


def _einsum(bound, site):
    """np.einsum('ij,jk->ik', a, b): einsum1 or einsum2 by the number of operands."""
    operands = bound["operands"]
    if not 1 <= len(operands) <= 2:
        raise UnsupportedCall(f"np.einsum with {len(operands)} operands")
    atoms = [site.atom(a) for a in operands]
    return Op(f"einsum{len(atoms)}", (Const(bound["subscripts"].value), *atoms))


def _transpose(bound, site):
    """np.transpose(x), or with axes, ``x.transpose(0, 2, 3, 1)``: a permutation of the axes,
    written as the einsum that permutes them (``'abcd->acdb'``), whose adjoint permutes back."""
    axes = bound["axes"]
    if isinstance(axes, ast.Constant) and axes.value is None:
        axes = list(bound.get("more", ()))
    elif isinstance(axes, (ast.Tuple, ast.List)):
        axes = list(axes.elts)
    else:
        axes = [axes, *bound.get("more", ())]
    array = site.atom(bound["a"])
    if not axes:
        return Op("transpose", (array,))
    order = [site.constant(a).value for a in axes]
    rank = len(order)
    if sorted(o % rank if isinstance(o, int) else o for o in order) != list(range(rank)):
        raise UnsupportedCall(f"the axes {tuple(order)!r}", "give each axis once")
    letters = "abcdefghijklmnopqrstuvwxyz"[:rank]
    permuted = "".join(letters[o % rank] for o in order)
    return Op("einsum1", (Const(f"{letters}->{permuted}"), array))


def _axis_call(prim: str):
    def build(bound, site):
        return Op(prim, (site.atom(bound["a"]), site.constant(bound["axis"])))

    return build


# --- SymPy forms of reductions: (x, axis, keepdims, values of x at the point) ---------------
def _sum(sympy):
    def reduce(x, axis, keepdims, values):
        return np.sum(x, axis=axis, keepdims=bool(keepdims)) if axis is not None else sum(x.flat)

    return reduce


def _mean(sympy):
    total = _sum(sympy)

    def reduce(x, axis, keepdims, values):
        count = x.size if axis is None else x.shape[axis]
        return total(x, axis, keepdims, values) / count

    return reduce


def _prod(sympy):
    def reduce(x, axis, keepdims, values):
        if axis is None:
            return sympy.Mul(*x.flat)
        return np.prod(x, axis=axis, keepdims=bool(keepdims))

    return reduce


def _extremum(pick):
    def build(sympy):
        def reduce(x, axis, keepdims, values):
            if axis is None:
                return x.flat[int(pick(values))]
            chosen = np.expand_dims(pick(values, axis=axis), axis)
            found = np.take_along_axis(x, chosen, axis=axis)
            return found if keepdims else np.squeeze(found, axis=axis)

        return reduce

    return build


def _norm(sympy):
    return lambda x: sympy.sqrt(sum(v**2 for v in np.ravel(x)))


def _as_index(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _indexing(x, *indices):
    found = tuple(_as_index(i) for i in indices)
    return x[found[0] if len(found) == 1 else found]


# --- sample arguments (tests/test_rule_table.py): small arrays of generic values -------------
def _matrix(rng, rows=3, columns=4):
    return rng.uniform(0.5, 1.5, (rows, columns))


def _vector(rng, n=4):
    return rng.uniform(0.5, 1.5, n)


# --- indexing and slicing ------------------------------------------------------------
# The adjoint of reading x[i] is g added at position i: ``at(i, g)`` stands for that sparse
# array, and the reverse transform turns its accumulation into ``g_x[i] += g``.
_INDEXING = dict(
    arrays=(0,), cheap=True, index_read=True, element_level=True, view=True, dtype="first",
    layout="indexed", sympy=whole(_indexing),
)  # fmt: skip
# One entry per number of indices: their parameters are the letters after x (g is the adjoint,
# t a tangent).
_LETTERS = "xyzabcdefhijklmnopqrsuvw"
_INDEX_SAMPLES = {
    1: lambda rng: [(_vector(rng), 2), (_matrix(rng), 1), (_vector(rng), np.array([0, 2]))],
    2: lambda rng: [(_matrix(rng), 1, 2), (_matrix(rng), slice(None), 3)],
    3: lambda rng: [(rng.uniform(0.5, 1.5, (2, 3, 4)), 1, 0, 2)],
}


def _index_samples(rank: int):
    """A small array of that rank (length 2 along the first three axes) and an element."""
    shape = (2,) * min(rank, 3) + (1,) * max(rank - 3, 0)
    return lambda rng: [(rng.uniform(0.5, 1.5, shape), *([1, 0, 1] + [0] * rank)[:rank])]


for _k in range(1, MAX_RANK + 1):
    _indices = ", ".join(_LETTERS[1 : _k + 1])
    defrule(
        f"index{_k}", f"x[{_indices}]", f"at{_k}({_indices}, g)", *[None] * _k,
        result=indexed, integers=tuple(range(1, _k + 1)),
        tangents=(f"index{_k}(t, {_indices})", *[None] * _k), **_INDEXING,
        samples=_INDEX_SAMPLES.get(_k, _index_samples(_k)),
    )  # fmt: skip
    # (element reads inside loops, to SymPy: the same as indexing)
    helper(
        f"at{_k}", f"at({', '.join(_LETTERS[: _k + 1])})",
        result=FLOAT, scatter=True, element_level=True, sympy=whole(_indexing),
    )  # fmt: skip
# start:stop:step inside a subscript (printed as slice syntax there)
nondiff("slice", "slice(x, y, z)", result=SLICE, subscript=True, element_level=True,
        sympy=SUBSCRIPT, samples=lambda rng: [(1, 3, None)])  # fmt: skip

# --- sizes and shapes ----------------------------------------------------------------------
_SIZE = dict(
    arrays=(0,), cheap=True, element_level=True, python_int=True, shape_only=(0,),
    sympy=PRINTED,
)  # fmt: skip
nondiff(
    "shape", "x.shape[y]",
    result=INT, integers=(1,), length_axis=lambda args: args[1], layout="length", **_SIZE,
)  # fmt: skip
nondiff("size", "x.size", result=INT, attributes=("size",), **_SIZE)
nondiff("ndim", "x.ndim", result=INT, attributes=("ndim",), **_SIZE)
# len(xs) of a list made in the function is a constant, known when it compiles
_LEN = Binding((("obj", REQUIRED),), lambda bound, site: site.length(bound["obj"]))
nondiff("len", "len(x)", result=INT, length_axis=lambda args: Const(0), binding=_LEN, **_SIZE)
nondiff(
    "shape_of", "x.shape",
    result=lambda kinds, args: Kind.shape(kinds[0].ndim), arrays=(0,), cheap=True,
    element_level=True, shape_only=(0,), attributes=("shape",), sympy=PRINTED,
)  # fmt: skip


# (the tuples of lengths a shape is written as: numbers, never symbols)
def _lengths_of(kinds) -> Kind:
    for kind in kinds:
        if kind.what == "shape":  # x.reshape(s) for s = y.shape
            raise KindError("a shape in place of a length; write x.reshape(y.shape) directly")
    return Kind.shape(len(kinds))


for _k in range(1, MAX_RANK + 1):
    _lengths = ", ".join(_LETTERS[:_k])
    nondiff(
        f"tuple{_k}", f"({_lengths},)" if _k == 1 else f"({_lengths})",
        result=lambda kinds, args: _lengths_of(kinds), cheap=True, element_level=True,
        layout="tuple", sympy=None, samples=lambda rng, k=_k: [tuple(range(2, 2 + k))],
    )  # fmt: skip

# --- reductions ----------------------------------------------------------------------------
# g flows back to every element that was summed; max and min send it to the largest
# (smallest) elements, split evenly between ties; prod to each element times the others.
_WHOLE = lambda rng: [(_vector(rng),), (_matrix(rng),)]  # noqa: E731
_ALONG = lambda rng: [(_matrix(rng), 1, False), (_matrix(rng), 0, True), (_matrix(rng), -1, False)]  # noqa: E731,E501
defrule(
    "sum", "np.sum(x)", "full_like(x, g)",
    result=FLOAT, arrays=(0,), tangents=("sum(t)",), fresh=True, scale_after=True,
    binding=_reduction("sum"), methods=("sum",), aliases=(np.sum,),
    sympy=SymPyForm("reduction", _sum), samples=_WHOLE,
)  # fmt: skip
defrule(
    "sum_axis", "np.sum(x, axis=y, keepdims=z)", "expand_like(g, x, y, z)", None, None,
    result=reduced, arrays=(0,), numba_lower=_along("sum_along"),
    tangents=("sum_axis(t, y, z)", None, None), fresh=True, layout="reduced",
    sympy=SymPyForm("reduction", _sum), samples=_ALONG,
)  # fmt: skip
defrule(
    "mean", "np.mean(x)", "full_like(x, g / size(x))",
    result=FLOAT, arrays=(0,), tangents=("mean(t)",), fresh=True,
    binding=_reduction("mean"), methods=("mean",), aliases=(np.mean,),
    sympy=SymPyForm("reduction", _mean), samples=_WHOLE,
)  # fmt: skip
defrule(
    "mean_axis", "np.mean(x, axis=y, keepdims=z)",
    "expand_like(g, x, y, z) / shape(x, y)", None, None,
    result=reduced, arrays=(0,), numba_lower=_lower_mean,
    tangents=("mean_axis(t, y, z)", None, None), fresh=True, layout="reduced",
    sympy=SymPyForm("reduction", _mean), samples=_ALONG,
)  # fmt: skip
defrule(
    "amax", "np.max(x)", "g * extremum_weight(x, ans)",
    result=FLOAT, arrays=(0,), tangents=("sum(extremum_weight(x, ans) * t)",), fresh=True,
    binding=_reduction("amax"), methods=("max",), aliases=(np.max, np.amax),
    sympy=SymPyForm("reduction", _extremum(np.argmax)), samples=_WHOLE,
)  # fmt: skip
defrule(
    "amin", "np.min(x)", "g * extremum_weight(x, ans)",
    result=FLOAT, arrays=(0,), tangents=("sum(extremum_weight(x, ans) * t)",), fresh=True,
    binding=_reduction("amin"), methods=("min",), aliases=(np.min, np.amin),
    sympy=SymPyForm("reduction", _extremum(np.argmin)), samples=_WHOLE,
)  # fmt: skip
defrule(
    "amax_axis", "np.max(x, axis=y, keepdims=z)", "extremum_adjoint(g, x, ans, y, z)", None, None,
    result=reduced, arrays=(0,), numba_lower=_along("max_along"),
    tangents=("sum_axis(extremum_weight_along(x, ans, y, z) * t, y, z)", None, None),
    fresh=True, layout="reduced", sympy=SymPyForm("reduction", _extremum(np.argmax)),
    samples=_ALONG,
)  # fmt: skip
defrule(
    "amin_axis", "np.min(x, axis=y, keepdims=z)", "extremum_adjoint(g, x, ans, y, z)", None, None,
    result=reduced, arrays=(0,), numba_lower=_along("min_along"),
    tangents=("sum_axis(extremum_weight_along(x, ans, y, z) * t, y, z)", None, None),
    fresh=True, layout="reduced", sympy=SymPyForm("reduction", _extremum(np.argmin)),
    samples=_ALONG,
)  # fmt: skip
defrule(
    "prod", "np.prod(x)", "g * prod_others(x)",
    result=FLOAT, arrays=(0,), tangents=("sum(prod_others(x) * t)",), fresh=True,
    binding=_reduction("prod"), methods=("prod",), aliases=(np.prod,),
    sympy=SymPyForm("reduction", _prod), samples=_WHOLE,
)  # fmt: skip
defrule(
    "prod_axis", "np.prod(x, axis=y, keepdims=z)",
    "expand_like(g, x, y, z) * prod_others_along(x, y)", None, None,
    result=reduced, arrays=(0,), numba_lower=_along("prod_along"),
    tangents=("sum_axis(prod_others_along(x, y) * t, y, z)", None, None), fresh=True,
    layout="reduced", sympy=SymPyForm("reduction", _prod), samples=_ALONG,
)  # fmt: skip
defrule(
    "norm", "np.linalg.norm(x)", "g * div0(x, ans)",
    result=FLOAT, arrays=(0,), tangents=("sum(div0(x, ans) * t)",), fresh=True,
    aliases=(np.linalg.norm,), sympy=SymPyForm("whole", _norm), samples=_WHOLE,
)  # fmt: skip
# np.cumsum: the adjoint of a running sum is the running sum from the end,
# sum(g) - cumsum(g) + g. Numba's np.cumsum takes no axis: NumPy only.
defrule(
    "cumsum", "np.cumsum(x, axis=y)",
    result=cumulated, arrays=(0,), numba=False,
    by_rank={
        (1, 0): ("sum(g) - cumsum(g, y) + g", None),
        **{(rank, 0): ("sum_axis(g, y, True) - cumsum(g, y) + g", None)
           for rank in range(2, MAX_RANK + 1)},
    },
    tangents=("cumsum(t, y)", None), fresh=True, methods=("cumsum",), aliases=(np.cumsum,),
    binding=Binding((("a", REQUIRED), ("axis", None)), _axis_call("cumsum")),
    sympy=whole(lambda x, axis: np.cumsum(x, axis=axis)),
    samples=lambda rng: [(_vector(rng), None), (_vector(rng), 0), (_matrix(rng), 1),
                         (_matrix(rng), 0), (_matrix(rng), -1)],
)  # fmt: skip

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
    tangents=("t @ y", "x @ t"), fresh=True, layout="matmul", methods=("dot",),
    aliases=(np.matmul, np.dot), sympy=whole(lambda x, y: x @ y),
    samples=lambda rng: [(_matrix(rng), _matrix(rng, 4, 2)), (_vector(rng, 3), _matrix(rng)),
                         (_matrix(rng), _vector(rng)), (_vector(rng), _vector(rng))],
)  # fmt: skip
defrule(
    "outer", "np.outer(x, y)", "g @ y", "transpose(g) @ x",
    result=rank_between(1, 1, lambda kinds, args: Kind.array("float", 2)), arrays=(0, 1),
    tangents=("outer(t, y)", "outer(x, t)"), fresh=True, aliases=(np.outer,),
    sympy=whole(np.multiply.outer), samples=lambda rng: [(_vector(rng, 3), _vector(rng))],
)  # fmt: skip
defrule(
    "inner", "np.inner(x, y)", "g * y", "g * x",
    result=rank_between(1, 1, lambda kinds, args: FLOAT), arrays=(0, 1),
    tangents=("inner(t, y)", "inner(x, t)"), fresh=True, aliases=(np.inner,),
    sympy=whole(np.inner), samples=lambda rng: [(_vector(rng), _vector(rng))],
)  # fmt: skip
defrule(
    "transpose", "np.transpose(x)", "transpose(g)",
    result=same_as(0), arrays=(0,), tangents=("transpose(t)",), view=True, dtype="first",
    layout="reversed", methods=("transpose",), attributes=("T",), aliases=(np.transpose,),
    binding=Binding((("a", REQUIRED), ("axes", None)), _transpose),
    method_binding=Binding((("a", REQUIRED), ("axes", None)), _transpose, rest="more"),
    sympy=whole(np.transpose), samples=_WHOLE,
)  # fmt: skip
defrule(
    "trace", "np.trace(x)", "g * eye_like(x)",
    result=rank_between(2, 2, lambda kinds, args: FLOAT), arrays=(0,),
    tangents=("trace(t)",), fresh=True, aliases=(np.trace,),
    sympy=whole(lambda x: sum(np.diagonal(x))), samples=lambda rng: [(_matrix(rng),)],
)  # fmt: skip

# np.einsum with one or two operands and an explicit output ('ij,jk->ik'): the adjoint of
# an operand is the einsum of g with the other operand, back to the operand's subscripts
# (spread over any index only it has).
defrule(
    "einsum1", "np.einsum(s, x)", None, "einsum_grad(s, g, x, x, 0)",
    result=lambda kinds, args: einsum_kind(kinds, args), arrays=(1,),
    tangents=(None, "einsum1(s, t)"), layout="einsum", sympy=None,
    samples=lambda rng: [("ij->ji", _matrix(rng)), ("ij->i", _matrix(rng)),
                         ("i->", _vector(rng))],
)  # fmt: skip
defrule(
    "einsum2", "np.einsum(s, x, y)", None,
    "einsum_grad(s, g, x, y, 0)", "einsum_grad(s, g, x, y, 1)",
    result=lambda kinds, args: einsum_kind(kinds, args), arrays=(1, 2),
    tangents=(None, "einsum2(s, t, y)", "einsum2(s, x, t)"), fresh=True, layout="einsum",
    expand=_einsum_as_product, sympy=None,
    samples=lambda rng: [("ij,jk->ik", _matrix(rng), _matrix(rng, 4, 2)),
                         ("ij,j->i", _matrix(rng), _vector(rng)),
                         ("ij,ik->jk", _matrix(rng), _matrix(rng))],
)  # fmt: skip
defcall(
    "einsum",
    Binding((("subscripts", REQUIRED),), _einsum, rest="operands", text=("subscripts",)),
    aliases=(np.einsum,),
)  # fmt: skip
helper(
    "einsum_grad", "einsum_grad(s, x, y, z, a)",
    result=float_like(2), numba=False, expand=_expand_einsum_grad, loose=True,
)  # fmt: skip

# --- shapes --------------------------------------------------------------------------------
defrule(
    "reshape", "np.reshape(x, y)", "reshape_like(g, x)", None,
    result=reshaped, arrays=(0,), tangents=("reshape(t, y)", None), view=True, dtype="first",
    layout="reshaped", methods=("reshape",), aliases=(np.reshape,),
    binding=Binding((("a", REQUIRED), ("shape", REQUIRED)), _reshape),
    method_binding=Binding((("a", REQUIRED), ("shape", REQUIRED)), _reshape, rest="lengths"),
    sympy=whole(np.reshape), samples=lambda rng: [(_matrix(rng), (2, 6)), (_vector(rng), (4, 1))],
)  # fmt: skip
defrule(
    "ravel", "np.ravel(x)", "reshape_like(g, x)",
    result=with_rank(1), arrays=(0,), tangents=("ravel(t)",), view=True, dtype="first",
    methods=("ravel", "flatten"), aliases=(np.ravel,), sympy=whole(np.ravel), samples=_WHOLE,
)  # fmt: skip
defrule(
    "expand_dims", "np.expand_dims(x, y)", "reshape_like(g, x)", None,
    result=expanded, arrays=(0,), tangents=("expand_dims(t, y)", None), view=True,
    dtype="first", aliases=(np.expand_dims,),
    binding=Binding((("a", REQUIRED), ("axis", REQUIRED)), _axis_call("expand_dims")),
    sympy=whole(np.expand_dims), samples=lambda rng: [(_vector(rng), 0), (_matrix(rng), 1)],
)  # fmt: skip
defrule(
    "concatenate", "np.concatenate((x, y), axis=z)",
    "head_along(g, shape(x, z), z)", "tail_along(g, shape(x, z), z)", None,
    result=concatenated, arrays=(0, 1),
    tangents=("concatenate(t, zeros_like(y), z)", "concatenate(zeros_like(x), t, z)", None),
    fresh=True, dtype="joined", binding=_joined(stack=False), aliases=(np.concatenate,),
    sympy=whole(lambda x, y, axis: np.concatenate((x, y), axis=axis)),
    samples=lambda rng: [(_vector(rng), _vector(rng, 3), 0), (_matrix(rng), _matrix(rng, 2), 0),
                         (_matrix(rng), _matrix(rng, 3, 2), 1)],
)  # fmt: skip
# np.stack is written with the primitives above: expand_dims, then concatenate
defcall("stack", _joined(stack=True), aliases=(np.stack,))

# --- lists made inside the function (normalize/lists.py) -------------------------------------
# A list of numbers or same-shape arrays becomes one array when it is used as one
# (``np.array(xs)``, ``xs[i]``): each item as a one-row array, rows joined by concatenate
# (a name users rarely give a variable: printed forms' names are reserved in generated code).
defrule(
    "item_row", "item_row(x)", "index1(g, 0)",
    result=expanded, loose=True, tangents=("item_row(t)",), fresh=True, allocates=True,
    dtype="float64", sympy=whole(lambda x: np.asarray(x, dtype=object)[None]),
    samples=lambda rng: [(0.7,), (_vector(rng),), (_matrix(rng),)],
)  # fmt: skip


def _number_item(kinds, args):
    if kinds[0].is_array:
        raise KindError(
            f"a list (or a sum) built in a loop holds numbers, not {kinds[0].describe()}; "
            "for arrays, make one array before the loop and write its rows "
            "(`out = np.zeros((n, m))`, then `out[i] = ...`), or add into one"
        )
    return kinds[0]


# An item written into a list built in a loop: the value itself, once it is known to be a
# number (the list is an array of numbers allocated before the loop)
defrule(
    "number_item", "x", "g",
    result=_number_item, loose=True, cheap=True, sympy=whole(lambda x: x),
    samples=lambda rng: [(0.7,)],
)  # fmt: skip
defcall(
    "array", Binding((("object", REQUIRED),), lambda bound, site: site.stacked(bound["object"])),
    aliases=(np.array, np.asarray),
)  # fmt: skip
defcall(
    "builtin_sum",
    Binding((("iterable", REQUIRED), ("start", 0)),
            lambda bound, site: site.total(bound["iterable"], bound["start"])),
    aliases=(builtins.sum,),
)  # fmt: skip
defrule(
    "array_copy", "x.copy()", "g",
    result=float_like(0), arrays=(0,), tangents=("array_copy(t)",), fresh=True,
    allocates=True, dtype="first", methods=("copy",), aliases=(np.copy,), sympy=whole(np.copy),
    samples=_WHOLE,
)  # fmt: skip

# --- creating arrays (no derivative; their arguments are shapes, never symbols) --------------
_NEW = dict(fresh=True, allocates=True, sympy=None)
nondiff("zeros", "np.zeros(x)", result=created, element_level=True, dtype="float64",
        aliases=(np.zeros,), **_NEW)  # fmt: skip
nondiff("ones", "np.ones(x)", result=created, element_level=True, dtype="float64",
        aliases=(np.ones,), **_NEW)  # fmt: skip
nondiff("empty", "np.empty(x)", result=created, element_level=True, dtype="float64",
        aliases=(np.empty,), **_NEW)  # fmt: skip
nondiff("eye", "np.eye(x)", result=Kind.array("float", 2), dtype="float64",
        aliases=(np.eye,), **_NEW)  # fmt: skip
nondiff("arange", "np.arange(x)", result=Kind.array("int", 1),
        distinct=True, fresh=True, aliases=(np.arange,), sympy=None)  # fmt: skip
_LIKE = dict(
    result=float_like(0), arrays=(0,), element_level=True, fresh=True, allocates=True,
    shape_only=(0,), layout="like_first", sympy=PRINTED,
)  # fmt: skip
nondiff("zeros_like", "np.zeros_like(x)", aliases=(np.zeros_like,), **_LIKE)
nondiff("ones_like", "np.ones_like(x)", aliases=(np.ones_like,), **_LIKE)

# --- the reverse sweep's helpers: putting adjoints back into shape --------------------------
# (``loose``: an adjoint may still be the number 0.0 where an array is expected)
helper(
    "full_like", "np.full_like(x, y)",
    result=float_like(0), arrays=(0,), fresh=True, allocates=True, shape_only=(0,),
    layout="like_first",
)  # fmt: skip
helper(
    "expand_like", "expand_like(x, y, z, a)",
    result=float_like(1), numba_lower=_lower_expand, loose=True, stretching=True,
    shape_only=(1,), layout="spread",
)  # fmt: skip
helper(
    "reshape_like", "np.reshape(x, y.shape)",
    result=float_like(1), loose=True, shape_only=(1,),
)  # fmt: skip
helper(
    "unbroadcast", "unbroadcast(x, y)",
    result=same_as(1), numba_lower=_lower_unbroadcast, loose=True, stretching=True,
    shape_only=(1,), layout="spread", scale_after=True,
)  # fmt: skip
helper(
    "as_grad", "as_grad(x, y)",
    result=same_as(1), numba=False, loose=True, stretching=True, shape_only=(1,),
)  # fmt: skip
helper(
    "eye_like", "np.eye(x.shape[0], x.shape[1])",
    result=float_like(0), arrays=(0,), shape_only=(0,),
)  # fmt: skip
# the weights of the extreme elements (and their tangents' weights): zero derivative, as the
# extremum moves with x (no samples: x alone cannot move without leaving the extremum)
nondiff(
    "extremum_weight", "extremum_weight(x, y)",
    result=float_like(0), arrays=(0,), fresh=True, layout="like_first", selecting=True,
    sympy=None, samples=lambda rng: [],
)  # fmt: skip
nondiff(
    "extremum_weight_along", "extremum_weight_along(x, y, z, a)",
    result=float_like(0), numba_lower=_lower_extremum_weight, loose=True, fresh=True,
    layout="like_first", sympy=None,
    samples=lambda rng: [],
)  # fmt: skip
helper(
    "extremum_adjoint", "extremum_adjoint(x, y, z, a, b)",
    result=float_like(1), numba_lower=_lower_extremum_adjoint, loose=True, fresh=True,
    layout="like_second",
)  # fmt: skip
# the products of the other elements, differentiated again by second derivatives (reverse
# mode over the tangent code they appear in; no forward-mode rule: tangents=(None,))
defrule(
    "prod_others", "prod_others(x)", "prod_others_vjp(g, x)",
    result=float_like(0), arrays=(0,), tangents=(None,), fresh=True,
    layout="like_first", sympy=None, samples=lambda rng: [(_vector(rng),)],
)  # fmt: skip
defrule(
    "prod_others_along", "prod_others_along(x, y)", "prod_others_along_vjp(g, x, y)", None,
    result=float_like(0), arrays=(0,), numba_lower=_lower_prod_others,
    tangents=(None, None), fresh=True, layout="like_first",
    sympy=None, samples=lambda rng: [(_matrix(rng), 1), (_matrix(rng), 0)],
)  # fmt: skip
helper("prod_others_vjp", "prod_others_vjp(x, y)", result=float_like(1), loose=True)
helper(
    "prod_others_along_vjp", "prod_others_along_vjp(x, y, z)",
    result=float_like(1), numba=False, loose=True,
)  # fmt: skip
for _k in range(1, MAX_RANK + 1):
    helper(
        f"distinct_positions{_k}", f"distinct_positions({', '.join(_LETTERS[:_k])})",
        result=BOOL, numba=False, loose=True,
    )  # fmt: skip
helper(
    "head_along", "head_along(x, y, z)",
    result=same_as(0), numba_lower=_lower_split(head=True), loose=True,
)  # fmt: skip
helper(
    "tail_along", "tail_along(x, y, z)",
    result=same_as(0), numba_lower=_lower_split(head=False), loose=True,
)  # fmt: skip

# --- their Numba forms (2-D kernels where Numba has no axis argument) -------------------------
helper("sum_along", "np.sum(x, axis=y)", result=_dropped, arrays=(0,))
helper("max_along", "max_along(x, y)", result=_dropped, arrays=(0,))
helper("min_along", "min_along(x, y)", result=_dropped, arrays=(0,))
helper("prod_along", "prod_along(x, y)", result=_dropped, arrays=(0,))
helper(
    "broadcast_like", "np.broadcast_to(x, y.shape)",
    result=float_like(1), loose=True, stretching=True,
)  # fmt: skip
helper("sum_if_stretched", "sum_if_stretched(x, y, z)", result=same_as(0), loose=True)
helper("sum_if_stretched1", "sum_if_stretched1(x, y)", result=same_as(0), loose=True)
helper("extremum_share", "extremum_share(x, y, z)", result=float_like(0), loose=True)
helper("prod_others_along2", "prod_others_along2(x, y)", result=float_like(0), arrays=(0,))

# f-strings in print: the str.format call of their template, ``'loss {:.3f}'.format(x)`` (any
# values; plain Python only, as Numba formats no strings)
MAX_FORMATTED = 12
for _k in range(1, MAX_FORMATTED + 1):
    nondiff(
        f"format{_k}", f"s.format({', '.join(_LETTERS[:_k])})",
        result=STR, loose=True, numba=False, sympy=None,
        numba_missing="an f-string, which Numba cannot format",
        samples=lambda rng, k=_k: [("{}" * k, *range(k))],
    )  # fmt: skip

# The reverse sweep's own bookkeeping: typed tapes, and trip counts of reversed loops.
_TAPE = dict(element_level=True, allocates=True)
helper("tape_f", "np.empty(x, np.float64)", result=Kind.array("float", 1), **_TAPE)
helper("tape_i", "np.empty(x, np.int64)", result=Kind.array("int", 1), **_TAPE)
helper("tape_b", "np.empty(x, np.bool_)", result=Kind.array("bool", 1), **_TAPE)
helper("tape_a", "[]", result=LIST, numba=False, allocates=True)
helper(
    "reserve", "reserve(x, y, z)",
    result=lambda kinds, args: kinds[0], arrays=(0,), element_level=True,
)  # fmt: skip
helper("range_len", "len(range(x, y, z))", result=INT, element_level=True, python_int=True)
