"""Stage 6c, NumPy backend: array layouts, broadcasting adjoints worked out ahead of time,
and the memory of dead arrays reused.

NumPy allocates a new array for every operation, where a hand-written adjoint overwrites
the arrays it no longer needs (``h *= h`` rather than ``h * h``). The call that compiles
an entry point shows each array argument's dtype and whether any of its dimensions has
length 1; from those, a forward walk over the entry's straight-line code knows, for many
arrays it computes, the rank, the dtype and which dimensions have length 1: a *layout*.
Layouts are enough to

* print ``unbroadcast(g, x)`` as the sums it stands for (or as ``g`` itself), and
* let an elementwise operation write its result into an operand's memory (NumPy's
  ``out=``) when that operand is dead afterwards, has the result's shape and dtype, and
  shares its memory with nothing alive: an array the function made itself, never a
  caller's, never one kept on a tape, returned or passed to a kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ir
from .analysis.kinds import expr_kind
from .ir import Assign, Const, Expr, Name, Op
from .rules import PRIMITIVES, KindError, is_array, ndim_of, ufunc_of


@dataclass(frozen=True)
class Layout:
    """What is known of an array before it exists: its dtype (None: not known) and, per
    dimension, whether its length is 1 (True), is not 1 (False) or is not known (None)."""

    dtype: str | None
    ones: tuple[bool | None, ...]

    @property
    def known(self) -> bool:
        return self.dtype is not None and None not in self.ones


def argument_layout(value: object) -> Layout | None:
    """The layout of an argument, for the entry point's parameters; None unless an array
    of rank 1 or more without dimensions of length 1 (the common case: one variant
    serves)."""
    if not isinstance(value, np.ndarray) or value.ndim == 0 or 1 in value.shape:
        return None
    return Layout(value.dtype.name, (False,) * value.ndim)


class _Scalar:
    """A number operand: ``weak`` for a literal (NumPy keeps the array's dtype), else a
    variable that may be a NumPy scalar of its own dtype. ``one``: for a length read off
    a shape (or a product of such), whether it is 1."""

    def __init__(self, weak: bool, one: bool | None = None):
        self.weak = weak
        self.one = one


@dataclass(frozen=True)
class _Shape:
    """A tuple of lengths, as ``np.reshape`` takes: which of them are 1."""

    ones: tuple[bool | None, ...]


Operand = Layout | _Scalar | _Shape | None


# --- layouts -------------------------------------------------------------------------------
class Layouts:
    """Layouts of the variables of straight-line code, statement after statement."""

    def __init__(self, fn: ir.Function, params: dict[str, Layout]):
        self.kinds = fn.kinds
        self.known: dict[str, Operand] = dict(params)

    def kind_of(self, expr: Expr) -> str | None:
        try:
            return expr_kind(expr, self.kinds)
        except KindError:  # an adjoint that is still the number 0.0, indexed
            return None

    def dtype_of(self, expr: Expr) -> str | None:
        """The dtype of an array whose layout is not known, where it follows from how it
        was made (a view or a copy of a known array, a new array of zeros)."""
        if not isinstance(expr, Op):
            return None
        dtype = PRIMITIVES[expr.prim].dtype
        if dtype == "first":  # a view, a copy or a rearrangement
            first = self.of(expr.args[0])
            return first.dtype if isinstance(first, Layout) else None
        if dtype == "joined":
            parts = [self.of(a) for a in expr.args[:2]]
            if all(isinstance(p, Layout) and p.dtype for p in parts):
                return np.result_type(*(p.dtype for p in parts)).name
            return None
        return dtype

    def after(self, stmt: ir.Stmt) -> None:
        """Update for a top-level statement: what it assigns has the value's layout, or,
        if assigned in a nested block, none known."""
        if isinstance(stmt, Assign):
            layout = self.of(stmt.value)
            if isinstance(layout, Layout) and is_array(self.kinds.get(stmt.target)):
                self.known[stmt.target] = layout
            elif isinstance(layout, _Shape) or isinstance(layout, _Scalar) and layout.one is False:
                self.known[stmt.target] = layout
            else:
                self.known.pop(stmt.target, None)
            return
        if isinstance(stmt, (ir.IndexAdd, ir.SetItem)):
            return  # writes into some elements: the same array
        for name in ir.targets_of(stmt) + tuple(_assigned_in_children(stmt)):
            self.known.pop(name, None)

    def of(self, expr: Expr) -> Operand:
        found = self._of(expr)
        if found is None and not isinstance(expr, Const):  # an array: its rank at least
            kind = self.kind_of(expr)
            if is_array(kind):
                return Layout(self.dtype_of(expr), (None,) * ndim_of(kind))
        return found

    def _of(self, expr: Expr) -> Operand:
        if isinstance(expr, Const):
            return _Scalar(weak=True) if isinstance(expr.value, (int, float)) else None
        if isinstance(expr, Name):
            if is_array(self.kinds.get(expr.id)):
                return self.known.get(expr.id)
            if expr.id in self.known:
                return self.known[expr.id]
            return _Scalar(weak=False) if self.kinds.get(expr.id) in ("float", "int") else None
        operands = [self.of(a) for a in expr.args]
        rule = LAYOUT_RULES.get(PRIMITIVES[expr.prim].layout)
        found = None if rule is None else rule(self, expr.args, operands)
        if found is None and ufunc_of(expr.prim) is not None:
            return _broadcast(operands)
        return found


def _length(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> _Scalar | None:
    x, axis = operands[0], args[1]
    if not isinstance(x, Layout) or not isinstance(axis, Const):
        return None
    return _Scalar(weak=False, one=x.ones[axis.value])


def _product(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> _Scalar | None:
    """Lengths are never negative: a product of lengths other than 1 is not 1."""
    if all(isinstance(o, _Scalar) and o.one is False for o in operands):
        return _Scalar(weak=False, one=False)
    return None


def _tuple(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> _Shape | None:
    if all(isinstance(o, _Scalar) and o.one is not None for o in operands):
        return _Shape(tuple(o.one for o in operands))
    return None


def _reshaped(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> Layout | None:
    x, shape = operands
    dtype = x.dtype if isinstance(x, Layout) else None
    return Layout(dtype, shape.ones) if isinstance(shape, _Shape) else None


def _indexed(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> Layout | None:
    """``x[:, 0, None]``: whole slices keep a dimension, integers drop one, None adds one."""
    x = operands[0]
    if not isinstance(x, Layout) or len(args) - 1 > len(x.ones) + list(args).count(Const(None)):
        return None
    ones, k = [], 0
    for index in args[1:]:
        if index == Const(None):
            ones.append(True)
        elif index == Op("slice", (Const(None), Const(None), Const(None))):
            ones.append(x.ones[k])
            k += 1
        elif layouts.kind_of(index) == "int":
            k += 1
        else:
            return None
    return Layout(x.dtype, (*ones, *x.ones[k:]))


def _matmul_rule(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> Operand:
    return _matmul(*operands)


def _reduced(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> Operand:
    return _reduce(operands[0], args[1], args[2])


def _reversed(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> Operand:
    x = operands[0]
    return Layout(x.dtype, x.ones[::-1]) if isinstance(x, Layout) else None


def _like_first(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> Operand:
    return operands[0] if isinstance(operands[0], Layout) else None


def _like_second(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> Operand:
    return operands[1]


def _spread(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> Operand:
    """g spread over (or summed to) x's shape: g's dtype, x's dimensions."""
    g, x = operands[:2]
    return Layout(g.dtype, x.ones) if isinstance(g, Layout) and isinstance(x, Layout) else None


def _einsum_rule(layouts: Layouts, args: tuple[Expr, ...], operands: list[Operand]) -> Operand:
    return _einsum(args[0].value, operands[1:]) if isinstance(args[0], Const) else None


# A primitive's ``layout`` trait names its rule; an elementwise ufunc without one (or whose
# rule knows nothing) broadcasts its operands.
LAYOUT_RULES = {
    "length": _length, "product": _product, "tuple": _tuple, "reshaped": _reshaped,
    "indexed": _indexed, "matmul": _matmul_rule, "reduced": _reduced, "reversed": _reversed,
    "like_first": _like_first, "like_second": _like_second, "spread": _spread,
    "einsum": _einsum_rule,
}  # fmt: skip


def _assigned_in_children(stmt: ir.Stmt) -> set[str]:
    return {t for block in ir.child_blocks(stmt) for t in ir.assigned_in(block)}


def _broadcast(operands: list[Operand]) -> Layout | None:
    arrays = [o for o in operands if isinstance(o, Layout)]
    if not arrays or any(o is None for o in operands):
        return None
    ndim = max(len(a.ones) for a in arrays)
    ones = []
    for k in range(ndim):
        dims = [a.ones[k - ndim + len(a.ones)] for a in arrays if k >= ndim - len(a.ones)]
        if False in dims:
            ones.append(False)
        else:
            ones.append(True if all(dims) else None)
    scalars = [o for o in operands if isinstance(o, _Scalar)]
    return Layout(_result_dtype([a.dtype for a in arrays], scalars), tuple(ones))


def _result_dtype(dtypes: list[str | None], scalars: list[_Scalar]) -> str | None:
    """The dtype of an arithmetic ufunc's result; None where it is not sure."""
    if None in dtypes:
        return None
    dtype = np.result_type(*dtypes)
    if dtype.kind != "f":
        return None  # integer arithmetic may give floats (true division): leave it
    if dtype != np.float64 and not all(s.weak for s in scalars):
        return None  # a NumPy float64 scalar would widen the result
    return dtype.name


def _matmul(x: Operand, y: Operand) -> Layout | None:
    if not (isinstance(x, Layout) and isinstance(y, Layout)) or None in (x.dtype, y.dtype):
        return None
    dtype = np.result_type(x.dtype, y.dtype).name
    ones = {(2, 2): x.ones[:1] + y.ones[1:], (2, 1): x.ones[:1], (1, 2): y.ones[1:]}
    found = ones.get((len(x.ones), len(y.ones)))
    return None if found is None else Layout(dtype, found)


def _einsum(subscripts: str, operands: list[Operand]) -> Layout | None:
    inputs, output = subscripts.replace(" ", "").split("->")
    if not all(isinstance(o, Layout) and o.dtype for o in operands) or "." in subscripts:
        return None
    dims: dict[str, list[bool | None]] = {}
    for letters, layout in zip(inputs.split(","), operands, strict=True):
        for letter, one in zip(letters, layout.ones, strict=True):
            dims.setdefault(letter, []).append(one)
    ones = tuple(False if False in dims[c] else (True if all(dims[c]) else None) for c in output)
    dtype = np.result_type(*(o.dtype for o in operands)).name
    return Layout(dtype, ones) if ones else None


def _reduce(x: Operand, axis: Expr, keepdims: Expr) -> Layout | None:
    if not isinstance(x, Layout) or not isinstance(axis, Const) or not isinstance(keepdims, Const):
        return None
    if x.dtype is None or np.dtype(x.dtype).kind != "f":
        x = Layout(None, x.ones)  # integer sums widen, means become floats
    k = axis.value % len(x.ones)
    if keepdims.value:
        return Layout(x.dtype, x.ones[:k] + (True,) + x.ones[k + 1 :])
    rest = x.ones[:k] + x.ones[k + 1 :]
    return Layout(x.dtype, rest) if rest else None


def _fits(part: Operand, whole: Layout | None) -> bool:
    """Whether an operand of a broadcast certainly has the result's shape and dtype."""
    if not isinstance(part, Layout) or whole is None or not whole.known or not part.known:
        return False
    if part.dtype != whole.dtype or len(part.ones) != len(whole.ones) or not part.ones:
        return False  # (a 0-D result is a NumPy scalar, not memory to write into)
    return all(p is False or w is True for p, w in zip(part.ones, whole.ones, strict=True))


# --- broadcasting adjoints ahead of time ---------------------------------------------------
def resolve_broadcasts(fn: ir.Function, params: dict[str, Layout]) -> None:
    """Replace ``unbroadcast(g, x)`` in ``fn``'s top-level code by the sums it stands for,
    where both layouts are known."""
    layouts = Layouts(fn, params)

    def resolve(expr: Expr) -> Expr:
        if not isinstance(expr, Op):
            return expr
        expr = Op(expr.prim, tuple(resolve(a) for a in expr.args))
        if expr.prim != "unbroadcast":  # (the one primitive this pass rewrites)
            return expr
        return _sums_for(expr.args[0], layouts.of(expr.args[0]), layouts.of(expr.args[1])) or expr

    for stmt in fn.body:
        if isinstance(stmt, Assign):
            stmt.value = resolve(stmt.value)
        layouts.after(stmt)


def _sums_for(g: Expr, layout: Operand, target: Operand) -> Expr | None:
    if not (isinstance(layout, Layout) and isinstance(target, Layout)):
        return None
    if None in layout.ones or None in target.ones or len(layout.ones) < len(target.ones):
        return None
    ones = layout.ones
    for _ in range(len(ones) - len(target.ones)):  # leading axes the target lacks
        g, ones = Op("sum_axis", (g, Const(0), Const(False))), ones[1:]
    for k, (mine, theirs) in enumerate(zip(ones, target.ones, strict=True)):
        if theirs and not mine:  # stretched from length 1
            g = Op("sum_axis", (g, Const(k), Const(True)))
    return g


# --- reusing memory --------------------------------------------------------------------------
def reuse_buffers(fn: ir.Function, params: dict[str, Layout]) -> bool:
    """Let elementwise operations in ``fn``'s top-level code write into the memory of an
    operand that is dead afterwards (or, for a nested expression, into the memory of its
    own innermost result), where layouts show the shapes and dtypes agree. Returns whether
    any does."""
    owners = _Owners(fn)
    layouts = Layouts(fn, params)
    body: list[ir.Stmt] = []
    for i, stmt in enumerate(fn.body):
        steps = None
        if isinstance(stmt, Assign) and isinstance(stmt.value, Op):
            steps = _in_place(stmt, i, layouts, owners)
        body += steps or [stmt]
        for step in steps or ():
            owners.share(step.target, step.out)
        layouts.after(stmt)
    fn.body = body
    return any(isinstance(s, Assign) and s.out for s in body)


def _in_place(stmt: Assign, i: int, layouts: Layouts, owners: _Owners) -> list[Assign] | None:
    root = stmt.value
    result = layouts.of(root)
    if not isinstance(result, Layout) or ufunc_of(root.prim) is None:
        return None
    spine = [root]  # root, then the operand it can write into, and so on down
    while True:
        child = next(
            (
                a
                for a in spine[-1].args
                if isinstance(a, Op) and ufunc_of(a.prim) and _fits(layouts.of(a), result)
            ),
            None,
        )
        if child is None:
            break
        spine.append(child)
    bottom = spine[-1]
    names = list(ir.names_in(root))
    buffer = next(
        (
            a.id
            for a in bottom.args
            if isinstance(a, Name)
            and _fits(layouts.of(a), result)
            and owners.free_after(a.id, i, stmt.target)
            and _read_only_by(bottom, a.id, names, owners)
        ),
        None,
    )
    if buffer is None and (len(spine) == 1 or stmt.target in names):
        return None  # nothing to reuse; or the target, still to be read, as scratch
    # the steps below the root hold their results in the memory they write (its variable
    # is dead, so it may be rebound), the root in the target
    scratch = buffer or stmt.target
    steps = [Assign(scratch if len(spine) > 1 else stmt.target, bottom, stmt.loc, out=buffer)]
    for k in range(len(spine) - 2, -1, -1):
        op, inner = spine[k], spine[k + 1]
        args = tuple(Name(scratch) if a is inner else a for a in op.args)
        target = stmt.target if k == 0 else scratch
        steps.append(Assign(target, Op(op.prim, args), stmt.loc, out=scratch))
    return steps


def _read_only_by(op: Op, name: str, names: list[str], owners: _Owners) -> bool:
    """Whether, of the whole expression, only ``op`` itself reads ``name``'s memory: the
    later steps would read it overwritten. (A ufunc reading its own output is fine.)"""
    group = owners.root(name)
    direct = [a.id for a in op.args if isinstance(a, Name)]
    return sum(owners.root(n) == group for n in names) == sum(
        owners.root(n) == group for n in direct
    )


class _Owners:
    """Which variables may share memory, and which memory the function owns outright: a
    variable's memory is free once every variable that may share it is dead."""

    def __init__(self, fn: ir.Function):
        self.kinds = fn.kinds
        self.group: dict[str, str] = {}
        self.last_read: dict[str, int] = {}
        self.blocked = set(fn.params)  # the caller's arrays
        self.stretched: set[str] = set()  # views that repeat elements (np.broadcast_to)
        for i, stmt in enumerate(fn.body):
            self._scan(stmt, i, top=True)

    def _scan(self, stmt: ir.Stmt, i: int, top: bool) -> None:
        for name in _value_reads(stmt):
            self.last_read[name] = i
        if isinstance(stmt, Assign):
            shared = _may_share(stmt.value, self.kinds)
            for name in shared:
                self.share(stmt.target, name)
            if shared & self.stretched or _stretches(stmt.value):
                self.stretched.add(stmt.target)
            if not top:
                self.blocked.add(stmt.target)
        elif isinstance(stmt, (ir.Call, ir.Return, ir.Push)):  # kept or handed elsewhere
            for value in ir.expressions(stmt):
                self.blocked.update(_may_share(value, self.kinds))
            self.blocked.update(ir.targets_of(stmt))
        else:
            self.blocked.update(ir.targets_of(stmt))
        for block in ir.child_blocks(stmt):
            for inner in block:
                self._scan(inner, i, top=False)

    def root(self, name: str) -> str:
        while self.group.get(name, name) != name:
            name = self.group[name]
        return name

    def share(self, a: str, b: str | None) -> None:
        if b is not None:
            self.group[self.root(a)] = self.root(b)

    def free_after(self, name: str, i: int, rebound: str) -> bool:
        """Whether ``name``'s memory is unused after statement ``i``, which assigns
        ``rebound`` (whose later reads are of the new value: ``g = g + e``)."""
        root = self.root(name)
        members = [m for m in {*self.group, *self.last_read, name} if self.root(m) == root]
        if name in self.stretched or any(m in self.blocked for m in members):
            return False
        return all(self.last_read.get(m, -1) <= i for m in members if m != rebound)


def _may_share(expr: Expr, kinds: dict[str, str]) -> set[str]:
    """The arrays whose memory ``expr``'s value may share (a view, or the value itself)."""
    if isinstance(expr, Name):
        return {expr.id} if kinds.get(expr.id, "array").startswith("array") else set()
    if isinstance(expr, Const) or PRIMITIVES[expr.prim].fresh or ufunc_of(expr.prim) is not None:
        return set()
    skip = PRIMITIVES[expr.prim].shape_only
    return {n for k, a in enumerate(expr.args) if k not in skip for n in _may_share(a, kinds)}


def _stretches(expr: Expr) -> bool:
    """Whether ``expr`` may be a view repeating elements (its memory smaller than it)."""
    if not isinstance(expr, Op) or PRIMITIVES[expr.prim].fresh or ufunc_of(expr.prim) is not None:
        return False
    return PRIMITIVES[expr.prim].stretching or any(_stretches(a) for a in expr.args)


def _value_reads(stmt: ir.Stmt) -> set[str]:
    """What a statement reads, leaving out reads of only a shape or dtype."""
    reads = {n for e in ir.expressions(stmt) for n in _values_in(e)}
    return reads | set(ir.element_writes_of(stmt))


def _values_in(expr: Expr):
    if isinstance(expr, Name):
        yield expr.id
    elif isinstance(expr, Op):
        skip = PRIMITIVES[expr.prim].shape_only
        for k, arg in enumerate(expr.args):
            if k not in skip:
                yield from _values_in(arg)
