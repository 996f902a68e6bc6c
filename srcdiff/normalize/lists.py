"""Lists and tuples made inside the function, lowered away: later stages see no list.

A list whose length is known when srcdiff compiles (``[a, b, c]``, a tuple, ``[]`` then
``append`` in straight-line code or in a loop over such a list, a comprehension over one)
is a *static list*: its items are variables of the generated code, ``xs[1]`` is one of
them, ``len(xs)`` a constant, ``sum(xs)`` the sum written out, and ``for v in xs`` runs
the body once per item (``statements.Normalizer.unrolled_for``). Where it is used as one
array (``np.array(xs)``, ``xs[i]`` with ``i`` known only at run time) its items become
the rows of one, joined by ``concatenate`` (``item_row`` makes an item a row).

A list whose length is known at run time only (``xs.append(e)`` in a ``for`` loop, a
comprehension over a range or an array) holds numbers: an array allocated before the
loop, with room for every iteration, written item by item and cut, after the loop, to the
items written. From there on the list *is* that array. ``sum``, ``max`` and ``min`` of a
generator or a comprehension add (compare) inside the loop instead, with no list at all.

What a list stays fixed to, srcdiff must know where it compiles: a list name is assigned
once, appended to only where it was made (or in one loop right below), and never changed
item by item. Everything else is refused at the user's line with what to write instead.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

from ..frontend import Constant
from ..ir import Assign, Check, Const, Expr, Name, Op, SetItem

LIST_FUNCTIONS = (
    "xs[i], len(xs), for v in xs, sum(xs), max(xs), min(xs), np.array(xs), "
    "np.stack(xs) and np.concatenate(xs)"
)
AS_ARRAY = "make it an array first, with np.array(...)"
MAX_UNROLLED = 32  # iterations of a range of constant bounds unrolled to build a list


@dataclass(frozen=True)
class StaticList:
    """A list of known length: its items (values, or lists), and the block it was made in
    (``Scope`` path: appends elsewhere would make its length depend on the run)."""

    items: tuple[Expr | StaticList, ...]
    path: tuple = ()


@dataclass(frozen=True)
class GrowingList:
    """A list appended to inside the ``for`` loop being lowered: ``buffer[count] = item``."""

    buffer: str
    count: str
    path: tuple  # the loop body's


@dataclass(frozen=True)
class ArrayList:
    """A list built in a loop, once the loop is over: the array of its items."""

    array: str


class Scope:
    """A block of the function as lowered: a branch, a runtime loop's body."""

    def __init__(self, kind: str):
        self.kind = kind  # "branch", "for" or "while"


UNROLLED = Scope("unrolled")  # the body of a loop over a static list: no block of its own


class Accumulate(ast.stmt):
    """``target = prim(target, value)`` of numbers: the body of ``sum(...)``/``max(...)``
    of a generator, as a statement the normalizer lowers (``stmt_Accumulate``)."""

    _fields = ("target", "value", "prim", "seen")


class ListLowering:
    """The part of ``Normalizer`` that lowers lists (it needs ``atom``, ``atom_of``,
    ``emit``, ``names``, ``local``, ``loc``, ``src``, ``path`` and ``statement`` from it)."""

    def start_lists(self) -> None:
        self.lists: dict[str, StaticList | GrowingList | ArrayList] = {}
        self.stores = _store_counts(self.src.tree)
        for param in self.src.params:  # bound by the call, then perhaps again
            self.stores[param] = self.stores.get(param, 0) + 1
        self.rebound = {n for n, count in self.stores.items() if count > 1} | _stored_in_loops(
            self.src.tree
        )
        # id(list) -> (the list, kept so that its id stays its own; the path where its
        # array was made; the array)
        self.made_at: dict[int, tuple[StaticList, tuple, Name]] = {}

    # --- what an expression denotes -------------------------------------------------------
    def list_of(self, node: ast.expr, named: bool = False) -> StaticList | ArrayList | None:
        """The list ``node`` denotes (made here if it is a literal or a comprehension), or
        None when it is no list. ``named``: a literal is given a name, and so keeps the
        values its items have now."""
        if isinstance(node, ast.Name):
            found = self.lists.get(self.local(node.id))
            if isinstance(found, GrowingList):
                raise self.loc.unsupported(
                    f"reading the list `{node.id}` inside the loop that appends to it",
                    "keep the last item in a variable of its own (`h = f(h)`, then "
                    f"`{node.id}.append(h)`)",
                )
            if isinstance(found, StaticList) and self.path[: len(found.path)] != found.path:
                raise self.loc.unsupported(
                    f"reading the list `{node.id}` outside the `if` or loop that made it",
                    "make the list before that block (its items may be set inside)",
                )
            return found
        if isinstance(node, (ast.List, ast.Tuple)):
            return StaticList(tuple(self.item(e, named) for e in node.elts), self.path)
        if isinstance(node, ast.ListComp):
            return self.comprehension(node)
        if isinstance(node, ast.GeneratorExp):
            raise self.loc.unsupported(
                f"the generator expression `{ast.unparse(node)}` here",
                "generators go in sum(), max() and min(); elsewhere write a list "
                "comprehension, [... for ...]",
            )
        if isinstance(node, ast.Subscript):
            return self.peek(node)
        return None

    def is_list(self, node: ast.expr) -> bool:
        """Whether ``node`` is a list expression, without lowering anything."""
        if isinstance(node, (ast.Name, ast.Subscript)):
            return self.peek(node) is not None
        return isinstance(node, (ast.List, ast.Tuple, ast.ListComp, ast.GeneratorExp))

    def peek(self, node: ast.expr) -> StaticList | GrowingList | ArrayList | None:
        """The list a name, or a constant subscript of a list of lists, is."""
        if isinstance(node, ast.Name):
            return self.lists.get(self.local(node.id))
        if isinstance(node, ast.Subscript) and isinstance(self.peek(node.value), StaticList):
            index = _constant_index(node.slice)
            items = self.peek(node.value).items
            if index is not None and -len(items) <= index < len(items):
                item = items[index]
                return item if isinstance(item, StaticList) else None
        return None

    def item(self, node: ast.expr, named: bool = True) -> Expr | StaticList:
        if self.is_list(node):
            found = self.list_of(node, named)
            if isinstance(found, ArrayList):
                return Name(found.array)
            if found is not None:
                return found
        atom = self.atom(node)
        return self.snapshot(atom) if named else atom

    def snapshot(self, atom: Expr) -> Expr:
        """An item's value now: a variable assigned again later is copied."""
        if isinstance(atom, Name) and atom.id in self.rebound:
            return self.atom_of(atom)
        return atom

    def list_value(self, node: ast.expr) -> Expr:
        """A list where a value is expected: a list built in a loop is its array; any
        other is refused."""
        found = self.list_of(node)
        if isinstance(found, ArrayList):
            return Name(found.array)
        raise self.loc.unsupported(
            f"the list `{ast.unparse(node)}` used as a value", f"lists go in {LIST_FUNCTIONS}; "
            f"for anything else {AS_ARRAY}",
        )  # fmt: skip

    # --- assignment, append ------------------------------------------------------------------
    def assign_list(self, target: str, node: ast.expr) -> None:
        """``xs = [a, b]``, ``xs = []``, ``xs = [f(v) for v in x]``."""
        if isinstance(node, ast.Name):
            raise self.loc.unsupported(
                f"a second name for the list `{node.id}`", f"use `{node.id}` itself"
            )
        if self.stores.get(target, 0) > 1:
            raise self.loc.unsupported(
                f"assigning `{target}` a list and, elsewhere, another value",
                "srcdiff fixes a list where it is made: give each value a name of its own",
            )
        found = self.list_of(node, named=True)
        if isinstance(found, ArrayList):
            self.emit(Assign(target, Name(found.array), self.loc))
            found = ArrayList(target)
        self.lists[target] = found

    def bind_item(self, name: str, item: Expr | StaticList) -> None:
        if isinstance(item, StaticList):
            self.lists[name] = item
        else:
            self.emit(Assign(name, item, self.loc))

    def append(self, node: ast.Call) -> None:
        """``xs.append(e)``: one more item of a static list, or of the loop's array."""
        name = self.local(node.func.value.id)
        found = self.lists.get(name)
        if isinstance(found, StaticList) and found.path == self.path:
            self.lists[name] = StaticList((*found.items, self.item(node.args[0])), found.path)
            return
        if isinstance(found, GrowingList) and self.path[: len(found.path)] == found.path:
            if any(s.kind != "branch" for s in self.path[len(found.path) :]):
                raise self.loc.unsupported(
                    f"appending to `{node.func.value.id}` in a loop inside the loop that "
                    "builds it",
                    "append in one loop, or make the array before the loops and write "
                    "`out[i, j] = ...`",
                )  # fmt: skip
            item = self.atom_of(Op("number_item", (self.atom(node.args[0]),)))
            self.emit(SetItem(found.buffer, (Name(found.count),), item, self.loc))
            self.emit(Assign(found.count, Op("add", (Name(found.count), Const(1))), self.loc))
            return
        shown = node.func.value.id
        where = (
            f"`{shown}`, which is no list made in this function"
            if found is None
            else f"`{shown}` in another block than the one that made it"
        )
        raise self.loc.unsupported(
            f"appending to {where}",
            "append where the list is made, or in a for loop right below it (an `if` "
            "inside that loop is fine)",
        )

    def begin_loop_lists(self, body: list[ast.stmt], iteration, scope: Scope) -> list[str]:
        """Before a ``for`` loop: each empty list its body appends to becomes an array with
        room for every append (the trip count times each place that appends)."""
        begun: list[str] = []
        trips = None
        for name, sites in appended_lists(body).items():
            local = self.local(name)
            found = self.lists.get(local)
            if not (isinstance(found, StaticList) and found.path == self.path):
                continue  # append() says why
            if found.items:
                raise self.loc.unsupported(
                    f"appending in a loop to `{name}`, which holds items already",
                    f"start it empty (`{name} = []`) and add the first items inside the loop",
                )
            trips = trips if trips is not None else self.trip_count(iteration)
            room = trips if sites == 1 else self.int_op("mul", trips, Const(sites))
            buffer = self.names.fresh(f"{local}_items", numbered=False)
            count = self.names.fresh(f"len_{local}", numbered=False)
            self.emit(Assign(buffer, Op("zeros", (room,)), self.loc))
            self.emit(Assign(count, Const(0), self.loc))
            self.lists[local] = GrowingList(buffer, count, (*self.path, scope))
            begun.append(local)
        return begun

    def prepare_lists(self, body: list[ast.stmt]) -> None:
        """Before a runtime loop: the static lists its body indexes with a value known at
        run time only are made arrays here, once, rather than at every iteration."""
        for node in (n for stmt in body for n in ast.walk(stmt)):
            if isinstance(node, ast.Subscript) and _constant_index(node.slice) is None:
                found = self.peek(node.value)
                if isinstance(found, StaticList) and not isinstance(node.slice, ast.Slice):
                    self.as_array(found)

    def trip_count(self, iteration) -> Expr:
        """How many times ``for _ in range(start, stop, step)`` runs: ceil((stop - start) /
        step), at least 0."""
        start, stop, step = iteration.start, iteration.stop, iteration.step
        if iteration.counter is None and start == Const(0) and step == Const(1):
            return stop  # the length of an array
        if step == Const(1):
            span = self.int_op("sub", stop, start)
        else:
            span = self.negated(self.int_op("floordiv", self.int_op("sub", start, stop), step))
        if isinstance(span, Const):
            return Const(max(0, span.value))
        return self.atom_of(Op("max", (Const(0), span)))

    def end_loop_lists(self, begun: list[str]) -> None:
        """After the loop: the list is the items written (a view of the array)."""
        for local in begun:
            grown = self.lists[local]
            cut = Op("slice", (Const(None), Name(grown.count), Const(None)))
            self.emit(Assign(local, Op("index1", (Name(grown.buffer), cut)), self.loc))
            self.lists[local] = ArrayList(local)

    def refuse_list_write(self, target: ast.expr) -> None:
        """``xs[i] = e`` or ``xs += ...`` of a list: refused, lists keep their items."""
        base = target.value if isinstance(target, ast.Subscript) else target
        if isinstance(base, ast.Name) and self.local(base.id) in self.lists:
            raise self.loc.unsupported(
                f"changing the list `{base.id}` in place",
                "srcdiff's lists keep the items they are made with: append to it, or make an "
                "array (np.array(...), or np.zeros(n) before a loop) and write into that",
            )

    def refuse_list_arithmetic(self, node: ast.BinOp) -> None:
        """``[0.0] * n``, ``xs + ys``: Python's list repetition and joining, not arithmetic."""
        if not (self.is_list(node.left) or self.is_list(node.right)):
            return
        if isinstance(node.op, ast.Mult):
            raise self.loc.unsupported(
                f"repeating a list, `{ast.unparse(node)}`",
                "make an array, np.zeros(n) or np.full(n, value), and write its items",
            )
        raise self.loc.unsupported(
            f"the list arithmetic `{ast.unparse(node)}`",
            f"append the items, or {AS_ARRAY} for arithmetic on the items",
        )

    # --- reading -------------------------------------------------------------------------
    def list_subscript(self, node: ast.Subscript) -> Expr | None:
        """``xs[k]`` of a static list: the item (the list made an array for a ``k`` known at
        run time only); None for a list that is an array already."""
        found = self.list_of(node.value)
        if not isinstance(found, StaticList):
            return None
        item = self.static_item(found, node)
        if isinstance(item, StaticList):
            return self.list_value(node)
        if item is not None:
            return item
        return Op("index1", (self.as_array(found), self.atom(node.slice)))

    def static_item(self, found: StaticList, node: ast.Subscript) -> Expr | StaticList | None:
        """The item at a constant index (None for an index known at run time only)."""
        index = node.slice
        if isinstance(index, (ast.Slice, ast.Tuple)):
            raise self.loc.unsupported(
                f"the subscript `{ast.unparse(node)}` of a list",
                f"index a list with one integer, or {AS_ARRAY}",
            )
        value = self.atom(index)
        if not isinstance(value, Const):
            return None
        if not isinstance(value.value, int) or isinstance(value.value, bool):
            raise self.loc.error(f"list indices must be integers, not {value.value!r}")
        if not -len(found.items) <= value.value < len(found.items):
            raise self.loc.error(
                f"IndexError: list index {value.value} out of range (the list has "
                f"{len(found.items)} items)"
            )
        return found.items[value.value]

    def as_array(self, found: StaticList, fresh: bool = False) -> Name:
        """The items as rows of one array, made once per block that sees the list whole
        (``fresh``: a new one, which the program may write into)."""
        made = self.made_at.get(id(found))
        if not fresh and made is not None and self.path[: len(made[1])] == made[1]:
            return made[2]
        nested = {isinstance(i, StaticList) for i in found.items}
        if True in nested and (len(nested) > 1 or len({len(i.items) for i in found.items}) > 1):
            raise self.loc.unsupported(
                "an array of lists of different lengths (or of lists and values)",
                "give every row the same number of items",
            )
        if not found.items:
            array = self.atom_of(Op("zeros", (Const(0),)))
        else:
            items = [self.as_array(i) if isinstance(i, StaticList) else i for i in found.items]
            rows = [self.atom_of(Op("item_row", (i,))) for i in items]
            array = rows[0]
            for row in rows[1:]:
                array = self.atom_of(Op("concatenate", (array, row, Const(0))))
        if not fresh:
            self.made_at[id(found)] = (found, self.path, array)
        return array

    # --- the calls that take lists (the rule table's bindings ask for these) ---------------
    def array_like(self, node) -> Expr:
        if not isinstance(node, ast.AST) or not self.is_list(node):
            return self.atom(node)
        found = self.list_of(node)
        if isinstance(found, StaticList):
            return self.as_array(found)
        return self.atom(node) if found is None else Name(found.array)

    def stacked(self, node) -> Expr:
        """``np.array(node)``: a list's items as rows of a new array; an array copied."""
        found = self.list_of(node) if self.is_list(node) else None
        if isinstance(found, StaticList):
            return self.as_array(found, fresh=True)
        array = Name(found.array) if isinstance(found, ArrayList) else self.atom(node)
        return Op("array_copy", (array,))

    def length(self, node) -> Expr:
        found = self.list_of(node) if self.is_list(node) else None
        if isinstance(found, StaticList):
            return Const(len(found.items))
        array = Name(found.array) if isinstance(found, ArrayList) else self.atom(node)
        return Op("len", (array,))

    def sequence(self, node) -> list[Expr]:
        """The arrays of ``np.stack(xs)``/``np.concatenate(xs)``: a static list's items."""
        found = self.list_of(node) if self.is_list(node) else None
        if isinstance(found, ArrayList):
            raise self.loc.unsupported(
                f"joining the items of `{ast.unparse(node)}`, a list of numbers built in a loop",
                "it is one array already: use np.array(...) of it",
            )
        if not isinstance(found, StaticList) or len(found.items) < 2:
            raise self.loc.unsupported(
                f"`{ast.unparse(node)}` as a list of arrays", "write the arrays out: [a, b]"
            )
        return [self.as_array(i) if isinstance(i, StaticList) else i for i in found.items]

    def total(self, node, start) -> Expr:
        """``sum(node, start)``: Python adds from ``start`` (0), item after item."""
        first = self.atom(start)
        node = _as_list_comprehension(node)
        if isinstance(node, ast.ListComp) and not self.static_loop(node):
            return self.accumulate(node, "add", first)
        found = self.list_of(node) if self.is_list(node) else None
        if isinstance(found, StaticList):
            items = [self.number(i, "sum") for i in found.items]
            if first != Const(0) or not items:
                items.insert(0, first)
            return self.chained("add", items)
        if isinstance(found, ArrayList):  # numbers
            added = Op("sum", (Name(found.array),))
        else:  # an array: its rows added
            added = Op("sum_axis", (self.atom(node), Const(0), Const(False)))
        return added if first == Const(0) else Op("add", (first, self.atom_of(added)))

    def extremum(self, prim: str, node) -> Expr:
        """``max(items)``/``min(items)`` of a list or a generator (not of an array)."""
        node = _as_list_comprehension(node)
        if isinstance(node, ast.ListComp) and not self.static_loop(node):
            start = Const(float("-inf") if prim == "max" else float("inf"))
            return self.accumulate(node, prim, start)
        found = self.list_of(node) if self.is_list(node) else None
        if isinstance(found, ArrayList):
            return Op("amax" if prim == "max" else "amin", (Name(found.array),))
        if not isinstance(found, StaticList):
            raise self.loc.unsupported(
                f"{prim}() of one argument that is no list",
                f"write np.{prim}(x) for an array, {prim}(a, b) for numbers",
            )
        if not found.items:
            raise self.loc.error(f"ValueError: {prim}() of an empty list")
        return self.chained(prim, [self.number(i, f"{prim}") for i in found.items])

    def number(self, item: Expr | StaticList, what: str) -> Expr:
        if isinstance(item, StaticList):
            raise self.loc.unsupported(f"{what}() of a list of lists", AS_ARRAY)
        return item

    def chained(self, prim: str, items: list[Expr]) -> Expr:
        """``items[0] prim items[1] prim ...``, left to right as Python evaluates it."""
        value = items[0]
        for item in items[1:-1]:
            value = self.atom_of(Op(prim, (value, item)))
        return Op(prim, (value, items[-1])) if len(items) > 1 else value

    # --- comprehensions --------------------------------------------------------------------
    def comprehension(self, node: ast.ListComp | ast.GeneratorExp) -> StaticList | ArrayList:
        """``[e for v in it if c]`` as the loop ``for v in it: if c: tmp.append(e)``, its
        variables renamed (they are the comprehension's own)."""
        generator = self.only_generator(node)
        if generator.ifs and self.static_iterable(generator.iter, ranges=True):
            raise self.loc.unsupported(
                "a comprehension with an `if` over a list: its length would depend on the run",
                f"make the list an array first: `for v in np.array(...)`; or {AS_ARRAY}",
            )
        name = self.names.fresh("items")
        self.lists[name] = StaticList((), self.path)
        append = ast.Expr(
            ast.Call(ast.Attribute(ast.Name(name, ast.Load()), "append"), [node.elt], [])
        )
        self.comprehension_loop(node, generator, append)
        return self.lists.pop(name)

    def accumulate(self, node: ast.ListComp | ast.GeneratorExp, prim: str, start: Expr) -> Name:
        """``sum``/``max``/``min`` of a generator: ``acc = prim(acc, e)`` in the loop; max and
        min of an empty one raise as Python's do."""
        generator = self.only_generator(node)
        target = self.names.fresh(prim if prim != "add" else "total")
        self.emit(Assign(target, start, self.loc))
        seen = None
        if prim != "add":
            seen = self.names.fresh("_seen")
            self.emit(Assign(seen, Const(False), self.loc))
        step = Accumulate(target=target, value=node.elt, prim=prim, seen=seen)
        self.comprehension_loop(node, generator, step)
        if seen is not None:
            message = f"{prim}() iterable argument is empty"
            self.emit(Check(Name(seen), message, self.loc, "ValueError", verbatim=True))
        return Name(target)

    def stmt_Accumulate(self, node: Accumulate) -> None:
        value = self.atom_of(Op("number_item", (self.atom(node.value),)))
        self.emit(Assign(node.target, Op(node.prim, (Name(node.target), value)), self.loc))
        if node.seen is not None:
            self.emit(Assign(node.seen, Const(True), self.loc))

    def only_generator(self, node: ast.ListComp | ast.GeneratorExp) -> ast.comprehension:
        if len(node.generators) != 1:
            raise self.loc.unsupported(
                "a comprehension with more than one `for`", "write the loops out"
            )
        return node.generators[0]

    def comprehension_loop(self, node, generator: ast.comprehension, step: ast.stmt) -> None:
        body = step
        for test in reversed(generator.ifs):
            body = ast.If(test, [body], [])
        loop = ast.For(generator.target, generator.iter, [body], [])
        for part in (body, loop, step):
            ast.copy_location(part, node)
        own = {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
        saved = {n: self.rename.get(n) for n in own}
        for n in own:
            self.rename[n] = self.names.fresh(n)
            self.rebound.add(self.rename[n])
        loc = self.loc
        try:
            self.statement(loop)
        finally:
            self.loc = loc
            for n, old in saved.items():
                if old is None:
                    del self.rename[n]
                else:
                    self.rename[n] = old

    def static_loop(self, node: ast.ListComp | ast.GeneratorExp) -> bool:
        """Whether the comprehension runs over a list of known length (and so is unrolled)."""
        return self.static_iterable(self.only_generator(node).iter, ranges=True)

    def static_iterable(self, iterable: ast.expr, ranges: bool = False) -> bool:
        """A list of known length, or zip or enumerate of such lists (``ranges``: or a range
        of constant bounds, short enough to unroll)."""
        if ranges and self.constant_range(iterable) is not None:
            return True
        if isinstance(iterable, ast.Call):
            builtin = self.iteration_builtin(iterable)
            if builtin is builtins.enumerate:
                return self.static_iterable(iterable.args[0])
            if builtin is builtins.zip:
                return all(self.static_iterable(a) for a in iterable.args)
            return False
        if isinstance(iterable, ast.Name):
            return isinstance(self.lists.get(self.local(iterable.id)), StaticList)
        if isinstance(iterable, (ast.ListComp, ast.GeneratorExp)):
            return self.static_loop(iterable)
        if isinstance(iterable, ast.Subscript):
            return isinstance(self.peek(iterable), StaticList)
        return isinstance(iterable, (ast.List, ast.Tuple))

    def constant_range(self, iterable: ast.expr) -> range | None:
        """``range(3)``, ``range(1, N)`` (``N`` a constant of the module), unrolled where it
        builds a list: its items may then be arrays."""
        if not (
            isinstance(iterable, ast.Call) and self.iteration_builtin(iterable) is builtins.range
        ):
            return None
        bounds = [self.constant_int(a) for a in iterable.args]
        if None in bounds or (len(bounds) == 3 and bounds[2] == 0):
            return None
        values = range(*bounds)
        return values if len(values) <= MAX_UNROLLED else None

    def constant_int(self, node: ast.expr) -> int | None:
        resolved = self.resolved(node) if isinstance(node, ast.Name) else None
        if isinstance(resolved, Constant):
            value = resolved.value
            return value if isinstance(value, int) and not isinstance(value, bool) else None
        return _constant_index(node)

    def static_rows(self, iterable: ast.expr, ranges: bool = False) -> list | None:
        """The items each iteration of ``for target in iterable`` binds, for a list of known
        length (``zip`` and ``enumerate`` of such lists too, and with ``ranges`` a short
        range of constant bounds); None for any other loop."""
        if not self.static_iterable(iterable, ranges):
            return None
        values = self.constant_range(iterable) if ranges else None
        if values is not None:
            return [Const(k) for k in values]
        if isinstance(iterable, ast.Call):
            if self.iteration_builtin(iterable) is builtins.enumerate:
                start = self.atom(iterable.args[1]) if len(iterable.args) > 1 else Const(0)
                if not isinstance(start, Const):
                    return None
                items = self.static_items(iterable.args[0])
                return [StaticList((Const(start.value + k), i)) for k, i in enumerate(items)]
            columns = [self.static_items(a) for a in iterable.args]
            return [StaticList(row) for row in zip(*columns, strict=False)]
        return self.static_items(iterable)

    def static_items(self, node: ast.expr) -> tuple:
        found = self.list_of(node)
        if isinstance(found, ArrayList):
            raise self.loc.unsupported(
                "zip or enumerate of a list built in a loop", "index it: `for i in range(len(xs))`"
            )
        return found.items

    def bind_target(self, target: ast.expr, item: Expr | StaticList) -> None:
        """``for target in xs``: the target bound to one item (unpacked if a tuple)."""
        if isinstance(target, ast.Name):
            self.bind_item(self.local(target.id), item)
            return
        if not isinstance(item, StaticList):
            raise self.loc.unsupported(
                f"unpacking `{ast.unparse(target)}` from an item that is no list or tuple",
                "loop with one name",
            )
        self.unpack_targets(target.elts, item)

    def unpack_targets(self, targets: list[ast.expr], found: StaticList) -> None:
        """``a, b = xs`` (or a loop's ``for a, b in pairs``) of a list of known length."""
        if len(found.items) != len(targets):
            raise self.loc.error(f"cannot unpack {len(found.items)} values into {len(targets)}")
        for target, item in zip(targets, found.items, strict=True):
            self.bind_target(target, item)


def _as_list_comprehension(node):
    """A generator consumed by sum(), max() or min() lowers as the list it yields."""
    if isinstance(node, ast.GeneratorExp):
        return ast.copy_location(ast.ListComp(node.elt, node.generators), node)
    return node


def _constant_index(node: ast.expr) -> int | None:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _store_counts(tree: ast.FunctionDef) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            counts[node.id] = counts.get(node.id, 0) + 1
    return counts


def _stored_in_loops(tree: ast.FunctionDef) -> set[str]:
    found = set()
    for loop in ast.walk(tree):
        if isinstance(loop, (ast.For, ast.While, ast.comprehension)):
            for node in ast.walk(loop):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    found.add(node.id)
    return found


def appended_lists(body: list[ast.stmt]) -> dict[str, int]:
    """The lists a loop body appends to (by name), and at how many places."""
    counts: dict[str, int] = {}
    for stmt in body:
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr == "append"
                and isinstance(node.value.func.value, ast.Name)
            ):
                name = node.value.func.value.id
                counts[name] = counts.get(name, 0) + 1
    return counts


def appends_in_branches(body: list[ast.stmt]) -> bool:
    """Whether a loop body appends inside an ``if``: how many items the loop adds then
    depends on the run, so the loop is not unrolled into a list of known length."""
    return any(appended_lists(node.body + node.orelse) for node in _ifs(body))


def _ifs(body: list[ast.stmt]):
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.If):
                yield node
