"""Which attributes of ``self`` a method reads: only those are taken apart at a call.

An instance may hold a logger, a cache, a history that grows or a reference back to
itself that the method never reads; taking those apart would fail, or change the
structure at each call and compile the method again. The method's source (and that of the
methods it calls through ``self``, the properties it reads and the functions it passes
``self`` to) says which attributes it reads; where ``self`` goes anywhere else (returned,
stored, passed to a function srcdiff cannot read) that cannot be known, and every
attribute is taken apart as before.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types


def attributes_read(method: types.FunctionType, cls: type) -> tuple[str, ...] | None:
    """The names ``self.<name>`` that ``method`` of ``cls`` reads, sorted; None where
    that cannot be known."""
    found: set[str] = set()
    if not _scan(method, 0, cls, found, set()):
        return None
    return tuple(sorted(found))


def _scan(function: object, position: int, cls: type, found: set, seen: set) -> bool:
    """Add to ``found`` what ``function`` reads of its ``position``-th parameter; False
    where it does something else with it."""
    if not isinstance(function, types.FunctionType):
        return False
    if (function, position) in seen:
        return True
    seen.add((function, position))
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return False
    if not isinstance(tree, ast.FunctionDef) or position >= len(tree.args.args):
        return False
    name = tree.args.args[position].arg
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and node.id == name) or node is tree:
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            found.add(parent.attr)
            if not _follow(parent, parents.get(parent), cls, found, seen):
                return False
            continue
        if isinstance(parent, ast.Call) and node in parent.args:
            callee = _callee(parent.func, function)
            if _scan(callee, parent.args.index(node), cls, found, seen):
                continue
        return False
    return True


def _follow(read: ast.Attribute, parent: ast.AST | None, cls: type, found: set, seen) -> bool:
    """What a method called through ``self``, or a property read, reads in turn."""
    member = inspect.getattr_static(cls, read.attr, None)
    if isinstance(member, property):
        return _scan(member.fget, 0, cls, found, seen)
    if isinstance(parent, ast.Call) and parent.func is read and callable(member):
        return _scan(member, 0, cls, found, seen)
    return True


def _callee(func: ast.expr, caller: types.FunctionType) -> object:
    """The function a call names, where it is a name of the caller's module."""
    if isinstance(func, ast.Name):
        return caller.__globals__.get(func.id)
    return None
