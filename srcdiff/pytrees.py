"""Containers of parameters as values: taking them apart into leaves and putting a gradient
back together in their shape.

A *container* is a dict, list or tuple, a NamedTuple, a dataclass instance, or (as ``self``
of a method) any other object, holding numbers, arrays and containers again. Its *treedef*
is a nested tuple, hashable and cheap to build at each call, that says everything the
compiled code depends on: the container types, keys and field names, which leaves are
floats (differentiated) and which are other numbers (passed through), and the strings and
``None`` the container holds (part of the structure, not arguments). A node is
``(tag, cls, keys, *children)``; a leaf is ``FLOAT`` or ``OTHER``; a string or ``None`` is
``(STATIC, value)``.

``flatten`` is on the call path of a gradient taking containers: one pass, no allocation
beyond the treedef and the list of leaves.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .errors import SrcdiffError

FLOAT = "float"  # a float, or an array of floats: differentiated
OTHER = "other"  # an int, a bool, or an array of them: passed, never differentiated
STATIC = "static"  # a string or None: part of the structure


def is_container(value: object) -> bool:
    """Whether srcdiff takes ``value`` apart rather than passing it whole."""
    kind = type(value)
    if kind in (dict, list, tuple):
        return True
    if kind in _NUMBERS or kind is np.ndarray or value is None or kind is str:
        return False
    return _tag_of(kind) is not None


def flatten(value: object, leaves: list) -> object:
    """The treedef of ``value``; its leaves (numbers and arrays) are appended to ``leaves``
    in the order the treedef lists them."""
    kind = type(value)
    if kind is np.ndarray:
        leaves.append(value)
        return FLOAT if value.dtype.kind == "f" else OTHER
    if kind is float:
        leaves.append(value)
        return FLOAT
    if kind is dict:
        return ("dict", dict, tuple(value), *_children(value.values(), leaves))
    if kind is list or kind is tuple:
        return (kind.__name__, kind, len(value), *_children(value, leaves))
    return _flatten_other(value, kind, leaves)


def flatten_instance(value: object, names: tuple[str, ...] | None, leaves: list) -> object:
    """``flatten`` of a method's instance, taking apart only the attributes ``names`` (those
    the method reads; None: all); an error names the attribute it comes from."""
    kind = type(value)
    if names is None or _tag_of(kind) != "object":
        return flatten(value, leaves)
    attributes = vars(value)
    fields = tuple(n for n in names if n in attributes and _readable(attributes[n]))
    children = []
    for name in fields:
        try:
            children.append(flatten(attributes[name], leaves))
        except RecursionError:
            raise SrcdiffError(
                f"self.{name} refers back to itself (or is nested too deeply) to be taken "
                "apart: hold the parameters in a dict, list or dataclass of their own"
            ) from None
        except SrcdiffError as error:
            raise SrcdiffError(f"self.{name}: {error}") from None
    return ("object", kind, fields, *children)


def _children(values, leaves: list) -> list:
    """``flatten`` of each value, arrays and floats without a call of their own."""
    found = []
    for v in values:
        kind = type(v)
        if kind is np.ndarray:
            leaves.append(v)
            found.append(FLOAT if v.dtype.kind == "f" else OTHER)
        elif kind is float:
            leaves.append(v)
            found.append(FLOAT)
        else:
            found.append(flatten(v, leaves))
    return found


def _flatten_other(value: object, kind: type, leaves: list) -> object:
    if kind in _NUMBERS:
        leaves.append(value)
        return FLOAT if issubclass(kind, (float, np.floating)) else OTHER
    if value is None or kind is str:
        return (STATIC, value)
    tag = _tag_of(kind)
    if tag is None and issubclass(kind, _NUMBER_BASES):
        raise SrcdiffError(
            f"a container holds a number of type {kind.__name__}; srcdiff takes float, int, "
            "bool and NumPy's float64, float32, int64, int32 and bool_ (convert it: float(x), "
            "or an array of float64 or float32)"
        )
    if tag is None:
        raise SrcdiffError(
            f"a container holds a {kind.__name__}; srcdiff takes numbers, numeric arrays, "
            "strings, None, and dicts, lists, tuples, NamedTuples and dataclasses of them"
        )
    names = _fields(value, kind, tag)
    children = [flatten(getattr(value, name), leaves) for name in names]
    return (tag, kind, names, *children)


_NUMBERS = frozenset({float, int, bool, np.float64, np.float32, np.int64, np.int32, np.bool_})
# number types outside _NUMBERS (float16, int8, complex, ...) are refused, at every call alike
_NUMBER_BASES = (float, int, complex, np.number, np.bool_)


@functools.cache
def _tag_of(kind: type) -> str | None:
    if issubclass(kind, _NUMBER_BASES):
        return None
    if issubclass(kind, tuple) and hasattr(kind, "_fields"):
        return "namedtuple"
    if dataclasses.is_dataclass(kind):
        return "dataclass"
    # another object (``self`` of a method): its attributes, if it keeps them in a __dict__
    foreign = issubclass(kind, _NOT_OBJECTS) or kind.__module__ in ("builtins", "numpy")
    has_dict = any("__dict__" in vars(c) for c in kind.__mro__[:-1])
    return "object" if has_dict and not foreign else None


_NOT_OBJECTS = (type, types.ModuleType, types.FunctionType, types.MethodType, np.ndarray)


def _fields(value: object, kind: type, tag: str) -> tuple[str, ...]:
    if tag == "namedtuple":
        return kind._fields
    if tag == "dataclass":
        return _dataclass_fields(kind)
    # another object (``self``): its attributes that hold numbers, arrays, strings, None or
    # containers (not a random generator, say)
    return tuple(name for name, v in vars(value).items() if _readable(v))


@functools.cache
def _dataclass_fields(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


def _readable(value: object) -> bool:
    kind = type(value)
    return (
        kind in _NUMBERS
        or kind is np.ndarray
        or kind is str
        or value is None
        or (is_container(value))
    )


def unflatten(treedef: object, leaves: Iterator, static: Callable[[object], object]) -> Any:
    """A container shaped like ``treedef`` holding the next of ``leaves`` at each number or
    array leaf, and ``static(value)`` at each string or None. An object other than a
    dataclass or NamedTuple comes back as a dict of its attributes."""
    if treedef is FLOAT or treedef is OTHER:
        return next(leaves)
    tag, kind = treedef[0], treedef[1]
    if tag == STATIC:
        return static(kind)
    children = [unflatten(child, leaves, static) for child in treedef[3:]]
    if tag == "dict" or tag == "object":
        return dict(zip(treedef[2], children, strict=True))
    if tag == "list":
        return children
    if tag == "tuple":
        return tuple(children)
    if tag == "namedtuple":
        return kind._make(children)
    return _made(kind, treedef[2], children)  # a dataclass, without running __init__


def unflattener(treedefs: list[object]) -> Callable[[Any], tuple]:
    """A function of a flat sequence of gradients (one per float leaf, in order) that puts
    them back into the shapes of ``treedefs`` (None: one plain value), as ``unflatten``
    would with None at the other leaves, but written out for these shapes: the gradient's
    call path does this at every call."""
    namespace: dict[str, object] = {"_made": _made}
    counter = iter(range(1 << 30))

    def constant(value: object) -> str:
        name = f"_c{len(namespace)}"
        namespace[name] = value
        return name

    def expression(treedef: object) -> str:
        if treedef is None or treedef is FLOAT:
            return f"g[{next(counter)}]"
        if treedef is OTHER or treedef[0] == STATIC:
            return "None"
        tag, kind, keys = treedef[0], treedef[1], treedef[2]
        children = [expression(child) for child in treedef[3:]]
        if tag == "dict" or tag == "object":
            return (
                "{"
                + ", ".join(f"{constant(k)}: {c}" for k, c in zip(keys, children, strict=True))
                + "}"
            )
        listed = ", ".join(children)
        if tag == "list":
            return f"[{listed}]"
        if tag == "tuple":
            return f"({listed}{',' if len(children) == 1 else ''})"
        if tag == "namedtuple":
            return f"{constant(kind)}({listed})"
        return f"_made({constant(kind)}, {constant(keys)}, ({listed},))"

    shaped = ", ".join(expression(t) for t in treedefs)
    exec(f"def unflatten(g):\n    return ({shaped},)\n", namespace)
    return namespace["unflatten"]


def _made(kind: type, names: tuple[str, ...], values: tuple) -> object:
    """A dataclass instance holding ``values`` in its fields, made without ``__init__``."""
    made = kind.__new__(kind)
    for name, value in zip(names, values, strict=True):
        object.__setattr__(made, name, value)
    return made


def float_mask(treedef: object) -> list[bool]:
    """For each leaf of ``treedef`` in order, whether it is differentiated."""
    if treedef is FLOAT or treedef is OTHER:
        return [treedef is FLOAT]
    if treedef[0] == STATIC:
        return []
    return [m for child in treedef[3:] for m in float_mask(child)]


def items(container: object) -> list[tuple[object, object]]:
    """The (key, value) pairs of a container: keys, indices or field names."""
    if isinstance(container, dict):
        return list(container.items())
    if isinstance(container, (list, tuple)) and not hasattr(type(container), "_fields"):
        return list(enumerate(container))
    kind = type(container)
    tag = _tag_of(kind)
    if tag is None:
        raise SrcdiffError(f"a {kind.__name__} is not a container of parameters")
    return [(name, getattr(container, name)) for name in _fields(container, kind, tag)]
