"""Containers of parameters, compiled away: a function taking dicts, lists, tuples,
NamedTuples, dataclasses or (as ``self``) other objects becomes a function of their leaves.

Given the structure of each container argument at the call (its treedef, ``pytrees``),
the function's syntax tree is rewritten before anything else reads it:

* each container parameter becomes one parameter per number or array in it, named by its
  path (``params["W1"]`` -> ``params_W1``, ``layers[0][1]`` -> ``layers_0_1``);
* reads with constant keys, indices and field names (``params["W1"]``, ``layers[-1]``,
  ``layer.W``, ``self.b``) become those names, ``len(layers)`` a constant;
* ``W, b = layer`` assigns the leaves; a name bound to a container (``layer =
  layers[0]``) is followed at compile time and assigns nothing;
* ``for`` loops over a container (``for W, b in layers``, ``enumerate``, ``zip``,
  ``.items()``), and ``for i in range(len(layers))`` whose body indexes a container with
  ``i``, are unrolled: the structure is fixed at compile time;
* a call of a user function (or of a method through ``self``) with a container passes its
  leaves; the callee is read again for that structure.

Line numbers stay the user's, so every later message names the user's line. What cannot be
known at compile time (a key computed at run time, a container written into or returned)
is an error at the line that does it, saying what to write instead.
"""

from __future__ import annotations

import ast
import builtins
import copy
import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import SourceLocation
from .pytrees import STATIC
from .rules import attribute_for, method_for

READING = (
    "srcdiff reads a container's entries with constant keys (params['W'], layers[0], "
    "layer.W), unpacks it (W, b = layer), loops over it (for W, b in layers) and takes its "
    "len()"
)


@dataclass(frozen=True)
class Leaf:
    """A number or array of a container: a parameter of the flat function."""

    name: str


@dataclass(frozen=True)
class Static:
    """A string or None held by a container: known at compile time, not an argument."""

    value: object


@dataclass
class Node:
    """A container, with what each of its entries became."""

    treedef: tuple
    children: list  # Node, Leaf or Static, in the treedef's order

    @property
    def tag(self) -> str:
        return self.treedef[0]

    @property
    def keys(self) -> tuple:
        keys = self.treedef[2]
        return tuple(range(keys)) if isinstance(keys, int) else keys

    def describe(self) -> str:
        if self.tag in ("dict", "list", "tuple"):
            return f"a {self.tag}"
        return f"a {self.treedef[1].__name__}"

    def leaves(self) -> list[str]:
        found = []
        for child in self.children:
            if isinstance(child, Leaf):
                found.append(child.name)
            elif isinstance(child, Node):
                found.extend(child.leaves())
        return found


Entry = Node | Leaf | Static


@dataclass
class FlatFunction:
    """The rewritten function, and what the frontend needs to read it."""

    tree: ast.FunctionDef
    # id(call) -> the treedef (or None) of each positional argument of a user function
    call_structures: dict[int, tuple] = field(default_factory=dict)
    scope: dict[str, object] = field(default_factory=dict)  # methods called through self


def flatten_function(
    tree: ast.FunctionDef,
    structures: dict[str, tuple],
    loc: Callable[[ast.AST], SourceLocation],
    scope: dict[str, object],
) -> FlatFunction:
    """``tree`` with the parameters named in ``structures`` (name -> treedef) taken apart."""
    return _Flattener(tree, loc, scope).function(structures)


_UNKNOWN = object()


class _Flattener:
    def __init__(self, tree: ast.FunctionDef, loc, scope: dict[str, object]):
        self.tree = tree
        self.loc = loc
        self.scope = scope
        self.taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        self.taken |= {a.arg for a in tree.args.args}
        self.locals = {
            n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        } | {a.arg for a in tree.args.args}
        self.env: dict[str, Entry] = {}  # names bound to containers (or to their strings)
        self.consts: dict[str, int] = {}  # int names known at compile time
        self.loops: list[bool] = []  # enclosing loops: unrolled or not
        self.depth = 0  # enclosing blocks that may not run, or run more than once
        self.flat = FlatFunction(tree)

    # --- the function ---------------------------------------------------------------------
    def function(self, structures: dict[str, tuple]) -> FlatFunction:
        args: list[ast.arg] = []
        for arg in self.tree.args.args:
            treedef = structures.get(arg.arg)
            if treedef is None:
                args.append(arg)
                continue
            node = self.bind_tree(treedef, arg.arg)
            self.env[arg.arg] = node
            args.extend(ast.copy_location(ast.arg(name), arg) for name in node.leaves())
        tree = copy.copy(self.tree)
        tree.args = copy.copy(self.tree.args)
        tree.args.args = args
        tree.args.defaults = [d for d in self.tree.args.defaults]
        tree.body = self.block(self.tree.body)
        self.flat.tree = tree
        return self.flat

    def bind_tree(self, treedef, path: str) -> Entry:
        if not isinstance(treedef, tuple):
            return Leaf(self.fresh(path))
        if treedef[0] == STATIC:
            return Static(treedef[1])
        node = Node(treedef, [])
        keys = node.keys
        for key, child in zip(keys, treedef[3:], strict=True):
            node.children.append(self.bind_tree(child, f"{path}_{_identifier(key)}"))
        return node

    def fresh(self, base: str) -> str:
        name, n = base, 0
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name

    # --- statements -----------------------------------------------------------------------
    def block(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in stmts:
            out.extend(self.statement(stmt))
        return out

    def statement(self, node: ast.stmt) -> list[ast.stmt]:
        method = getattr(self, f"stmt_{type(node).__name__}", None)
        if method is not None:
            return method(node)
        return [self.expressions(node)]

    def stmt_Assign(self, node: ast.Assign) -> list[ast.stmt]:
        for target in node.targets:
            self.check_target(target)
        if len(node.targets) == 1:
            target = node.targets[0]
            entry = self.structure(node.value)
            if entry is not None and not isinstance(entry, Leaf):
                return self.bind(target, entry, node)
            if _pairs(target, node.value):
                return self.assign_pairs(target.elts, node.value.elts, node)
        rewritten = self.expressions(node)  # reads first, then the names assigned
        for name in assigned_names(node.targets):
            self.rebind(name, node)
        if isinstance(node.targets[0], ast.Name) and len(node.targets) == 1 and not self.depth:
            value = self.constant(node.value)
            if isinstance(value, int):
                self.consts[node.targets[0].id] = value
        return [rewritten]

    def assign_pairs(
        self, targets: list[ast.expr], values: list[ast.expr], node: ast.Assign
    ) -> list[ast.stmt]:
        """``a, b = params["a"], x + 1``: containers are bound at compile time, the other
        values assigned together, as Python evaluates them all before assigning."""
        entries = [self.structure(v) for v in values]
        if all(e is None or isinstance(e, Leaf) for e in entries):
            rewritten = self.expressions(node)
            for name in assigned_names(targets):
                self.rebind(name, node)
            return [rewritten]
        out: list[ast.stmt] = []
        rest = [(t, v) for t, v, e in zip(targets, values, entries, strict=True)
                if e is None or isinstance(e, Leaf)]  # fmt: skip
        if rest:
            assign = ast.Assign(
                [ast.Tuple([t for t, _ in rest], ast.Store())],
                ast.Tuple([v for _, v in rest], ast.Load()),
            )
            out.extend(self.stmt_Assign(ast.fix_missing_locations(ast.copy_location(assign, node))))
        for target, entry in zip(targets, entries, strict=True):
            if entry is not None and not isinstance(entry, Leaf):
                out.extend(self.bind(target, entry, node))
        return out

    def stmt_AnnAssign(self, node: ast.AnnAssign) -> list[ast.stmt]:
        if node.value is None:
            return [node]
        assign = ast.copy_location(ast.Assign([node.target], node.value), node)
        return self.stmt_Assign(assign)

    def stmt_AugAssign(self, node: ast.AugAssign) -> list[ast.stmt]:
        self.check_target(node.target)
        target = node.target
        if isinstance(target, ast.Name) and isinstance(self.env.get(target.id), Leaf):
            # ``p += g`` where ``p`` reads a leaf: ``p = <leaf> + g``
            value = ast.BinOp(ast.Name(target.id, ast.Load()), node.op, node.value)
            assign = ast.Assign([ast.Name(target.id, ast.Store())], value)
            return self.stmt_Assign(ast.fix_missing_locations(ast.copy_location(assign, node)))
        rewritten = self.expressions(node)
        if isinstance(node.target, ast.Name):
            self.rebind(node.target.id, node)
        return [rewritten]

    def check_target(self, target: ast.expr) -> None:
        """Containers are read, never written: a write is an error saying what to write."""
        if isinstance(target, ast.Subscript | ast.Attribute):
            base = self.structure(target.value)
            if isinstance(base, Node):
                raise self.loc(target).unsupported(
                    f"writing into {base.describe()} (`{ast.unparse(target)}`)",
                    "srcdiff reads containers passed as arguments and never writes into them: "
                    "compute the new value under a name of its own and return what depends on it",
                )
        if isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self.check_target(element)

    def rebind(self, name: str, node: ast.stmt) -> None:
        """``name`` is assigned a value that is no container."""
        self.consts.pop(name, None)
        if name in self.env:
            if isinstance(self.env[name], Node) and name in self.params_of_tree():
                raise self.loc(node).unsupported(
                    f"assigning to the container argument `{name}`",
                    "a container's structure is fixed at compile time: use another name",
                )
            del self.env[name]

    def params_of_tree(self) -> set[str]:
        return {a.arg for a in self.tree.args.args}

    def bind(
        self, target: ast.expr, entry: Entry, node: ast.stmt, alias: bool = False
    ) -> list[ast.stmt]:
        """``target = entry``: a container is followed at compile time, a leaf assigned, or
        with ``alias`` (a loop's target in an unrolled iteration) read under the leaf's
        own name: each iteration's leaf may be of another shape."""
        if isinstance(target, ast.Name):
            if isinstance(entry, _Int):  # an unrolled loop's counter
                self.rebind(target.id, node)
                self.consts[target.id] = int(entry)
                assign = ast.Assign([ast.Name(target.id, ast.Store())], ast.Constant(int(entry)))
                return [ast.fix_missing_locations(ast.copy_location(assign, node))]
            if isinstance(entry, tuple):
                raise self.loc(node).unsupported(
                    f"the loop target `{target.id}` of zip() or enumerate() over containers",
                    "name each element: `for i, layer in enumerate(layers)`",
                )
            if isinstance(entry, Leaf) and alias:
                self.consts.pop(target.id, None)
                self.env[target.id] = entry
                return []
            if isinstance(entry, Leaf):
                self.rebind(target.id, node)
                value = ast.copy_location(ast.Name(entry.name, ast.Load()), node)
                assign = ast.Assign([ast.Name(target.id, ast.Store())], value)
                return [ast.fix_missing_locations(ast.copy_location(assign, node))]
            if target.id in self.params_of_tree() and target.id not in self.env:
                raise self.loc(node).unsupported(
                    f"assigning a container to the parameter `{target.id}`", "use another name"
                )
            self.consts.pop(target.id, None)
            self.env[target.id] = entry
            return []
        if isinstance(target, ast.Tuple | ast.List):
            if any(isinstance(e, ast.Starred) for e in target.elts):
                return self.bind_starred(target.elts, entry, node)
            elements = self.unpacked(entry, len(target.elts), node)
            out = []
            for element_target, element in zip(target.elts, elements, strict=True):
                out.extend(self.bind(element_target, element, node, alias))
            return out
        raise self.loc(node).unsupported(f"assigning a container to `{ast.unparse(target)}`")

    def bind_starred(self, targets: list[ast.expr], entry: Entry, node: ast.stmt) -> list:
        """``*hidden, last = layers``: the starred name gets a list of the middle entries."""
        star = next(k for k, t in enumerate(targets) if isinstance(t, ast.Starred))
        after = len(targets) - star - 1
        if not isinstance(entry, Node) or entry.tag in ("dict", "object"):
            self.unpacked(entry, len(targets), node)  # the error for what cannot be unpacked
        if len(entry.children) < len(targets) - 1:
            raise self.loc(node).error(
                f"not enough values to unpack (expected at least {len(targets) - 1}, "
                f"got {len(entry.children)})"
            )
        middle = range(star, len(entry.children) - after)
        treedef = ("list", list, len(middle), *[entry.treedef[3 + k] for k in middle])
        elements = [
            *entry.children[:star],
            Node(treedef, [entry.children[k] for k in middle]),
            *entry.children[len(entry.children) - after :],
        ]
        out = []
        for target, element in zip(targets, elements, strict=True):
            name = target.value if isinstance(target, ast.Starred) else target
            out.extend(self.bind(name, element, node))
        return out

    def unpacked(self, entry: Entry, count: int, node: ast.AST) -> list:
        if isinstance(entry, tuple):  # enumerate's (index, element), zip's elements
            elements = list(entry)
        elif isinstance(entry, Node) and entry.tag != "dict" and entry.tag != "object":
            elements = entry.children
        else:
            what = entry.describe() if isinstance(entry, Node) else "a number or array"
            raise self.loc(node).unsupported(
                f"unpacking {what}",
                "unpack a list, tuple, NamedTuple or dataclass; read a dict's entries by key",
            )
        if len(elements) != count:
            raise self.loc(node).error(f"cannot unpack {len(elements)} values into {count} names")
        return elements

    def stmt_Return(self, node: ast.Return) -> list[ast.stmt]:
        values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
        for value in values:
            entry = self.structure(value) if value is not None else None
            if isinstance(entry, Node):
                raise self.loc(node).unsupported(
                    f"returning {entry.describe()}",
                    "a differentiated function returns a float; a helper numbers or arrays",
                )
        return [self.expressions(node)]

    def stmt_If(self, node: ast.If) -> list[ast.stmt]:
        test = self.expression(node.test)
        if isinstance(test, ast.Constant) and not isinstance(node.test, ast.Constant):
            # decided by the structure (``if self.bias is None:``): only that branch is code
            return self.block(node.body if test.value else node.orelse)
        body, orelse = self.branch(node.body), self.branch(node.orelse)
        self.forget(node.body + node.orelse)
        return [ast.copy_location(ast.If(test, body, orelse), node)]

    def branch(self, stmts: list[ast.stmt], loop: bool = False) -> list[ast.stmt]:
        """A block that may not run (or, for a ``loop``, run again): what it binds stays
        inside it."""
        env, consts = dict(self.env), dict(self.consts)
        self.depth += 1
        if loop:
            self.loops.append(False)
        try:
            return self.block(stmts)
        finally:
            self.depth -= 1
            if loop:
                self.loops.pop()
            self.env, self.consts = env, consts

    def forget(self, stmts: list[ast.stmt]) -> None:
        for name in assigned_names(stmts):
            self.consts.pop(name, None)
            self.env.pop(name, None)

    def stmt_While(self, node: ast.While) -> list[ast.stmt]:
        self.forget(node.body)
        test = self.expression(node.test)
        body = self.branch(node.body, loop=True)
        return [ast.copy_location(ast.While(test, body, node.orelse), node)]

    def stmt_Break(self, node: ast.stmt) -> list[ast.stmt]:
        if self.loops and self.loops[-1]:
            raise self.loc(node).unsupported(
                f"`{ast.unparse(node)}` in a loop over a container",
                "such a loop is unrolled at compile time: test a condition with if instead",
            )
        return [node]

    stmt_Continue = stmt_Break

    def stmt_For(self, node: ast.For) -> list[ast.stmt]:
        iterations = self.unrolled(node)
        if iterations is None:
            if node.orelse:
                return [node]  # the frontend reports for ... else
            self.forget([node])
            iterable = self.expression(node.iter)
            body = self.branch(node.body, loop=True)
            return [ast.copy_location(ast.For(node.target, iterable, body, []), node)]
        if node.orelse:
            raise self.loc(node).unsupported("for ... else")
        out: list[ast.stmt] = []
        self.loops.append(True)
        # a target the body assigns is a variable: a branch may leave the element in it
        alias = not (names_in(node.target) & assigned_names(node.body))
        try:
            for element in iterations:
                out.extend(self.bind(node.target, element, node, alias=alias))
                out.extend(self.block(copy.deepcopy(node.body)))
        finally:
            self.loops.pop()
        return self.versions(out)

    def versions(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        """Unrolled iterations, each assignment under a name of its own (``h =
        tanh(h @ W0)``, ``h = tanh(h @ W1)`` become ``h_0 = tanh(h @ W0)``, ``h_1 =
        tanh(h_0 @ W1)``, and ``h_1`` is read for ``h`` after the loop): each value then
        has one shape, and the reverse sweep reads it without a tape (the Numba backend
        has none for arrays). Only names assigned one at a time at this level; a name
        also assigned otherwise (in a branch, an inner loop, a tuple) keeps its name."""
        others = assigned_names([s for s in stmts if _single_target(s) is None])
        versioned = {_single_target(s) for s in stmts} - others - {None}
        current: dict[str, str] = {}
        out = []
        for stmt in stmts:
            stmt = _Renamer(current).visit(stmt)
            name = _single_target(stmt)
            if name in versioned:  # the last one too: the name may hold what is still read
                current[name] = self.fresh(f"{name}_{len(out)}")
                stmt.targets = [ast.copy_location(ast.Name(current[name], ast.Store()), stmt)]
            out.append(stmt)
        if not self.depth:  # names read as a renamed one (an inner unrolled loop's): its version
            for key, entry in list(self.env.items()):
                if isinstance(entry, Leaf) and entry.name in current:
                    self.env[key] = Leaf(current[entry.name])
        for name, version in current.items():  # after the loop, the name holds the last
            copied = ast.Assign([ast.Name(name, ast.Store())], ast.Name(version, ast.Load()))
            out.append(ast.fix_missing_locations(ast.copy_location(copied, out[-1])))
            if not self.depth:  # straight-line reads take the last version's name; a block
                # that forgets it (a branch, a loop, a closure) reads the name, which holds it
                self.consts.pop(name, None)
                self.env[name] = Leaf(version)
        return out

    def unrolled(self, node: ast.For) -> list | None:
        """The elements of each iteration of a loop unrolled at compile time, else None."""
        iterable = node.iter
        entry = self.structure(iterable)
        if isinstance(entry, Node):
            return self.elements(entry, iterable)
        if not isinstance(iterable, ast.Call) or iterable.keywords:
            return None
        callee = self.builtin(iterable.func)
        args = iterable.args
        if callee is builtins.range and self.indexes_with(node.body, node.target):
            bounds = [self.constant(a) for a in args]
            if all(isinstance(b, int) for b in bounds):
                return [_Int(i) for i in range(*bounds)]
            return None
        if isinstance(iterable.func, ast.Attribute) and not args:
            base = self.structure(iterable.func.value)
            if isinstance(base, Node) and base.tag == "dict":
                keys = [Static(k) for k in base.keys]
                by_method = {
                    "keys": keys,
                    "values": list(base.children),
                    "items": list(zip(keys, base.children, strict=True)),
                }
                if iterable.func.attr in by_method:
                    return by_method[iterable.func.attr]
            return None
        entries = [self.structure(a) for a in args]
        if not any(isinstance(e, Node) for e in entries):
            return None
        if callee is builtins.enumerate and len(args) in (1, 2) and isinstance(entries[0], Node):
            start = self.constant(args[1]) if len(args) == 2 else 0
            if not isinstance(start, int):
                raise self.loc(node).error("enumerate's start must be a constant here")
            elements = self.elements(entries[0], args[0])
            return [(_Int(start + k), e) for k, e in enumerate(elements)]
        if callee is builtins.zip and all(isinstance(e, Node) for e in entries):
            columns = [self.elements(e, a) for e, a in zip(entries, args, strict=True)]
            return list(zip(*columns, strict=False))
        raise self.loc(node).unsupported(
            f"iterating over `{ast.unparse(iterable)}`",
            "loop over a container with `for a in layers`, enumerate(layers), "
            "zip(...) of containers, or params.items()",
        )

    def elements(self, entry: Node, node: ast.AST) -> list:
        if entry.tag == "dict":
            return [Static(k) for k in entry.keys]  # iterating a dict gives its keys
        if entry.tag == "object":
            raise self.loc(node).unsupported(f"iterating over {entry.describe()}")
        return list(entry.children)

    def indexes_with(self, body: list[ast.stmt], target: ast.expr) -> bool:
        """Whether the body reads a container at an index that uses the loop's variable."""
        if not isinstance(target, ast.Name):
            return False
        for node in ast.walk(ast.Module(body, [])):
            if isinstance(node, ast.Subscript) and _root(node.value) in self.env:
                if any(isinstance(n, ast.Name) and n.id == target.id for n in ast.walk(node.slice)):
                    return True
        return False

    def builtin(self, func: ast.expr) -> object:
        if isinstance(func, ast.Name) and func.id not in self.locals:
            return self.scope.get(func.id)
        return None

    # --- expressions ----------------------------------------------------------------------
    def expressions(self, node: ast.stmt) -> ast.stmt:
        """The statement with every expression in it rewritten."""
        return _Rewriter(self).visit(copy.copy(node))

    def expression(self, node: ast.expr) -> ast.expr:
        return _Rewriter(self).visit(node)

    def structure(self, node: ast.expr) -> Entry | None:
        """What ``node`` reads of a container (a container, a leaf, a string), or None
        where it reads no container."""
        if isinstance(node, ast.Name):
            return self.env.get(node.id)
        if isinstance(node, ast.Subscript):
            base = self.structure(node.value)
            if not isinstance(base, Node):
                return None
            return self.entry_at(base, node)
        if isinstance(node, ast.Attribute):
            base = self.structure(node.value)
            if not isinstance(base, Node) or base.tag in ("dict", "list", "tuple"):
                return None
            if node.attr in base.keys:
                return base.children[base.keys.index(node.attr)]
            found = getattr(base.treedef[1], node.attr, None)
            if isinstance(found, (int, float)):  # a class attribute: a constant, as a global
                return Static(found)
            if base.tag == "namedtuple" or callable(found):
                return None  # a method: the rewriter decides
            raise self.loc(node).error(
                f"`{ast.unparse(node)}`: {base.describe()} has no number, array or container "
                f"attribute {node.attr!r} (srcdiff reads those of the instance at each call)"
            )
        return None

    def entry_at(self, base: Node, node: ast.Subscript) -> Entry:
        index = node.slice
        if isinstance(index, ast.Slice) and base.tag in ("list", "tuple"):
            bounds = [self.constant(p) if p is not None else None for p in
                      (index.lower, index.upper, index.step)]  # fmt: skip
            if any(b is _UNKNOWN or isinstance(b, str) for b in bounds):
                raise self.loc(node).unsupported(
                    f"the slice `{ast.unparse(node)}` of a container with bounds known only at "
                    "run time", "use constant bounds, or len(...)",
                )  # fmt: skip
            picked = list(range(len(base.children)))[slice(*bounds)]
            children = [base.children[k] for k in picked]
            treedef = (base.tag, base.treedef[1], len(picked),
                       *[base.treedef[3 + k] for k in picked])  # fmt: skip
            return Node(treedef, children)
        key = self.constant(index)
        if key is _UNKNOWN:
            raise self.loc(node).unsupported(
                f"`{ast.unparse(node)}`, {base.describe()} read at a key known only at run time",
                f"{READING}; to loop over a list, write `for layer in {ast.unparse(node.value)}` "
                f"or `for i in range(len({ast.unparse(node.value)}))`, which srcdiff unrolls",
            )
        keys = base.keys
        if base.tag in ("list", "tuple", "namedtuple") and isinstance(key, int):
            if not -len(keys) <= key < len(keys):
                raise self.loc(node).error(
                    f"`{ast.unparse(node)}`: index {key} out of range ({base.describe()} of "
                    f"{len(keys)})"
                )
            return base.children[key]
        if base.tag == "dict" and key in keys:
            return base.children[keys.index(key)]
        raise self.loc(node).error(
            f"`{ast.unparse(node)}`: {base.describe()} with keys {list(keys)} has no key {key!r}"
        )

    def constant(self, node: ast.expr) -> object:
        """The value of an int or string expression known at compile time, else _UNKNOWN."""
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, str)):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.consts:
                return self.consts[node.id]
            entry = self.env.get(node.id)
            if isinstance(entry, Static) and isinstance(entry.value, (int, str)):
                return entry.value
            return _UNKNOWN
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self.constant(node.operand)
            return -value if isinstance(value, int) else _UNKNOWN
        if isinstance(node, ast.BinOp) and type(node.op) in _INT_OPS:
            left, right = self.constant(node.left), self.constant(node.right)
            if isinstance(left, int) and isinstance(right, int):
                try:
                    return _INT_OPS[type(node.op)](left, right)
                except ZeroDivisionError:
                    return _UNKNOWN
            return _UNKNOWN
        if self.is_len(node):
            return len(self.structure(node.args[0]).children)
        return _UNKNOWN

    def static(self, node: ast.expr) -> object:
        """A constant, or a string, None or number a container holds, else _UNKNOWN."""
        if isinstance(node, ast.Constant):
            return node.value
        entry = self.structure(node)
        if isinstance(entry, Static):
            return entry.value
        return _NOT_NONE if isinstance(entry, Leaf | Node) else _UNKNOWN

    def is_len(self, node: ast.expr) -> bool:
        return (
            isinstance(node, ast.Call)
            and self.builtin(node.func) is builtins.len
            and len(node.args) == 1
            and isinstance(self.structure(node.args[0]), Node)
        )

    def user_function(self, node: ast.Call) -> tuple[ast.expr, object, Node | None] | None:
        """A call of a user function (or of a method through a container, ``self.f(x)``)
        that passes containers: (the callee's name, the function, the container passed as
        ``self``)."""
        func = node.func
        if isinstance(func, ast.Attribute):
            base = self.structure(func.value)
            if isinstance(base, Node) and base.tag in ("object", "dataclass", "namedtuple"):
                method = getattr(base.treedef[1], func.attr, None)
                if isinstance(method, types.FunctionType):
                    name = self.fresh(f"{base.treedef[1].__name__}_{func.attr}")
                    self.flat.scope[name] = method
                    return ast.copy_location(ast.Name(name, ast.Load()), func), method, base
                raise self.loc(node).unsupported(
                    f"the call `{ast.unparse(node)}`",
                    "srcdiff calls methods defined with def in the instance's class",
                )
            return None
        callee = self.builtin(func)
        if not isinstance(callee, types.FunctionType):
            return None
        if not any(isinstance(self.structure(a), Node) for a in node.args):
            return None
        return func, callee, None


class _Int(int):
    """A loop counter's value in an unrolled iteration: assigned to the loop's name."""


_INT_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}


_NOT_NONE = object()  # a number, array or container: ``is None`` is False at compile time

_COMPARISONS = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
}


class _Rewriter(ast.NodeTransformer):
    """Rewrites the expressions of one statement: leaves for container reads, constants for
    ``len``, flat calls for containers passed to user functions."""

    def __init__(self, flattener: _Flattener):
        self.f = flattener

    def visit_Name(self, node: ast.Name) -> ast.AST:
        entry = self.f.env.get(node.id) if isinstance(node.ctx, ast.Load) else None
        if isinstance(entry, Leaf):
            return ast.copy_location(ast.Name(entry.name, ast.Load()), node)
        if entry is not None:
            self.misuse(node, entry)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        return self.read(node) or self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        base = self.f.structure(node.value)
        if isinstance(base, Node) and base.tag in ("dict", "list", "tuple"):
            raise self.f.loc(node).unsupported(
                f"`{ast.unparse(node)}` of {base.describe()}", READING
            )
        return self.read(node) or self.generic_visit(node)

    def read(self, node: ast.expr) -> ast.expr | None:
        if not isinstance(node.ctx, ast.Load):
            return None
        entry = self.f.structure(node)
        if entry is None:
            return None
        if isinstance(entry, Leaf):
            return ast.copy_location(ast.Name(entry.name, ast.Load()), node)
        if isinstance(entry, Static) and isinstance(entry.value, (int, float)):
            return ast.copy_location(ast.Constant(entry.value), node)
        self.misuse(node, entry)
        return None

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        """A string or None of a container compared with a constant (``params["act"] ==
        "relu"``, ``self.bias is None``) is decided at compile time."""
        if len(node.ops) == 1 and type(node.ops[0]) in _COMPARISONS:
            left, right = self.f.static(node.left), self.f.static(node.comparators[0])
            textual = any(v is None or isinstance(v, str) for v in (left, right))
            if _NOT_NONE in (left, right) and type(node.ops[0]) not in (ast.Is, ast.IsNot):
                textual = False  # a number or array compared: decided at run time
            if textual and left is not _UNKNOWN and right is not _UNKNOWN:
                value = _COMPARISONS[type(node.ops[0])](left, right)
                return ast.copy_location(ast.Constant(value), node)
        return self.generic_visit(node)

    def misuse(self, node: ast.expr, entry: Entry) -> None:
        if isinstance(entry, Static):
            raise self.f.loc(node).unsupported(
                f"`{ast.unparse(node)}`, the {type(entry.value).__name__} {entry.value!r}, used "
                "as a value", "srcdiff computes with numbers and arrays; a string may be a key",
            )  # fmt: skip
        if isinstance(entry, tuple):
            raise self.f.loc(node).unsupported(f"`{ast.unparse(node)}` used as a value")
        raise self.f.loc(node).unsupported(
            f"`{ast.unparse(node)}`, {entry.describe()}, used as a value", READING
        )

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if self.f.is_len(node):
            length = len(self.f.structure(node.args[0]).children)
            return ast.copy_location(ast.Constant(length), node)
        called = self.f.user_function(node)
        if called is None:
            return self.generic_visit(node)
        func, _, self_node = called
        args: list[ast.expr] = []
        treedefs: list = []
        for arg in ([None] if self_node is not None else []) + list(node.args):
            entry = self_node if arg is None else self.f.structure(arg)
            if isinstance(entry, Node):
                names = entry.leaves()
                args.extend(ast.copy_location(ast.Name(n, ast.Load()), node) for n in names)
                treedefs.append(entry.treedef)
            else:
                args.append(self.visit(arg))
                treedefs.append(None)
        for keyword in node.keywords:
            if isinstance(self.f.structure(keyword.value), Node):
                raise self.f.loc(node).unsupported(
                    "a container passed by keyword", "pass it by position"
                )
        keywords = [self.visit(k) for k in node.keywords]
        call = ast.copy_location(ast.Call(func, args, keywords), node)
        self.f.flat.call_structures[id(call)] = tuple(treedefs)
        return call


def _single_target(stmt: ast.stmt) -> str | None:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        return target.id if isinstance(target, ast.Name) else None
    return None


class _Renamer(ast.NodeTransformer):
    """Reads of names under their current versions (``versions``)."""

    def __init__(self, current: dict[str, str]):
        self.current = current

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if isinstance(node.ctx, ast.Load) and node.id in self.current:
            return ast.copy_location(ast.Name(self.current[node.id], ast.Load()), node)
        return node


def _pairs(target: ast.expr, value: ast.expr) -> bool:
    """``a, b = c, d``: as many names as values."""
    return (
        isinstance(target, ast.Tuple | ast.List)
        and isinstance(value, ast.Tuple | ast.List)
        and len(target.elts) == len(value.elts)
    )


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Subscript | ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def assigned_names(stmts: list[ast.AST]) -> set[str]:
    """The names ``stmts`` assign anywhere in them."""
    return {
        n.id
        for s in stmts
        for n in ast.walk(s)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def names_in(node: ast.AST) -> set[str]:
    """The names ``node`` reads or assigns."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _identifier(key: object) -> str:
    text = re.sub(r"\W", "_", str(key)).strip("_")
    return text or "k"


def container_parameters(
    tree: ast.FunctionDef, callee: Callable[[ast.expr], ast.FunctionDef | None], depth: int = 0
) -> set[str]:
    """The parameters the function reads as containers only can be read (a string key,
    a field that no array has, unpacking, a loop with several names), directly or through
    the user functions it passes them to (``callee`` reads those). Syntax alone: whether
    to wait for a call's containers before reporting what cannot be compiled without them."""
    params = {a.arg for a in tree.args.args}
    # names a parameter's parts are given (``for layer in layers``, ``layer = layers[0]``)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, ast.For):
            iterables = node.iter.args if isinstance(node.iter, ast.Call) else [node.iter]
            pairs = [(node.target, i) for i in iterables]
        elif isinstance(node, ast.Assign):
            pairs = [(t, node.value) for t in node.targets]
        for target, value in pairs:
            root = _root(value)
            if root in params:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name) and name.id not in params:
                        aliases[name.id] = root

    def root_of(node: ast.expr) -> str | None:
        name = _root(node)
        return aliases.get(name, name)

    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            if isinstance(node.slice.value, str):
                found.add(root_of(node))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            if attribute_for(node.attr) is None and method_for(node.attr) is None:
                found.add(root_of(node))
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple | ast.List):
            found.add(root_of(node.value))
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Tuple | ast.List):
            iterables = node.iter.args if isinstance(node.iter, ast.Call) else [node.iter]
            found |= {root_of(i) for i in iterables}
        elif isinstance(node, ast.Call) and depth < 8:
            passed = [(k, root_of(a)) for k, a in enumerate(node.args) if root_of(a) in params]
            inner = callee(node.func) if passed else None
            if inner is not None:
                wanted = container_parameters(inner, callee, depth + 1)
                names = [a.arg for a in inner.args.args]
                found |= {p for k, p in passed if k < len(names) and names[k] in wanted}
    return found & params
