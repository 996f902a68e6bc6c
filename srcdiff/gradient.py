"""Reverse mode, compiled: the state behind a function ``grad`` or ``value_and_grad``
returned, and what the forward-mode functions share with it.

Decorating reads and checks the function, so unsupported syntax is reported at once,
and generates its adjoint for the argument kinds the signature suggests, so ``.source``
is there at once. What depends on the argument types (array ranks, say) is checked when
a call brings them. Each new combination of argument kinds (float, int, bool,
array of a given rank) gets its own generated module, compiled on first call.

A gradient pickles as a reference to ``f`` and its options, so a process pool started
with spawn can take it: the other process imports ``f``'s module and makes the gradient
again (its compiled code from the on-disk cache).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import inspect
import pickle
import sys
import threading
import types
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .analysis.kinds import guess_kinds
from .attributes import attributes_read
from .backends import check_request
from .buffers import Layout, argument_layout
from .errors import SourceLocation, SrcdiffError
from .frontend import takes_containers
from .jit import CompiledAdjoint
from .kind import BOOL, FLOAT, INT, MAX_RANK, Kind
from .normalize.program import Program
from .normalize.statements import normalize_program
from .pytrees import flatten, flatten_instance, float_mask, is_container, unflattener
from .transform import GeneratedModule, generate

Wrt = int | str | tuple[int | str, ...]
Backend = Literal["auto", "numba", "numpy"]


class Gradient:
    """The state behind a differentiated function: the normalized program and one
    compiled variant per combination of argument kinds.

    Users call ``self.function``: the trampoline, a Python function with ``f``'s
    parameters that checks the argument types of the last compiled variant and calls its
    Numba entry point directly, so a warm call costs little more than Numba's own
    dispatch. It is bound as a method to a ``_Handle`` so that it pickles: pickle saves
    a plain function by its module and name only, and for ``grad(f)`` that name is
    ``f``'s, another object; a bound method pickles as ``getattr(handle, name)``, and the
    handle as ``f`` by reference and the options. Binding costs about 2 ns a call (an
    object with ``__call__`` would cost about 40). Attributes (``source``,
    ``__srcdiff__``, ``__wrapped__``) live on the function, read through the method; a
    call with too many positional arguments is reported counting the handle too.
    """

    def __init__(
        self,
        f: Callable,
        wrt: Wrt,
        jit: bool | None,
        backend: str,
        with_value: bool,
        optimize: bool = True,
        flat: tuple[Program, inspect.Signature] | None = None,
    ):
        """``flat``: the program of ``f`` read for the containers of a call, and its
        signature, one parameter per leaf (what ``Structured`` calls)."""
        check_request(backend)
        self.f = f
        # a bound method: its function, called with the instance first (``Structured``)
        self._instance = f.__self__ if isinstance(f, types.MethodType) else None
        self._read = f.__func__ if self._instance is not None else f
        self._backend = backend
        self.__name__ = getattr(f, "__name__", "f")
        if not self.__name__.isidentifier():  # a lambda: the trampoline needs a name
            self.__name__ = "lambda_"
        self.signature = flat[1] if flat is not None else inspect.signature(f)
        self._jit = jit
        self._with_value = with_value
        self._optimize = optimize
        self._params = list(self.signature.parameters)
        self._wrt_tuple = isinstance(wrt, tuple)
        self._variants: dict[tuple, CompiledAdjoint] = {}  # by kinds and layouts
        self._by_types: dict[tuple, tuple[CompiledAdjoint, bool]] = {}
        self._codes: dict[tuple, types.CodeType] = {}  # the fast path, by argument types
        self._lock = threading.RLock()  # one thread generates a variant; others wait for it
        self._structured: Structured | None = None
        with _no_gc_pauses():
            self._wrt = tuple(self._param_name(w) for w in (wrt if self._wrt_tuple else (wrt,)))
            self._wrt_positions = [
                self._params.index(w) if w in self._params else -1 for w in self._wrt
            ]
            self._program: Program | None = flat[0] if flat is not None else self._normalize()
            self._default = None
            if self._program is not None:
                self._check_scalar_result()
                if flat is None:
                    self._default = self._generate_guessed()
            if flat is None and (self._program is None or self._instance is not None):
                self._structured = Structured(self)
        self._handle = _Handle(self)
        self.function = types.MethodType(self._trampoline(), self._handle)

    def _normalize(self) -> Program | None:
        """The program, for arguments that are not containers; None for a method, which
        takes its instance apart, or a function that compiles only for containers
        (``params["W"]``): both wait for a call."""
        if self._instance is not None:
            return None
        try:
            return normalize_program(self._read)
        except SrcdiffError:
            if not takes_containers(self._read):
                raise
            return None  # a call without containers reads the function again, and raises

    def _trampoline(self) -> types.FunctionType:
        """``def f(x, z): if type(x) is _T0_1 and type(z) is _T1_1: return _entry_1(x, z, 1.0)``

        Until a variant is compiled the guard never holds; ``call`` then swaps in the code
        that checks the argument types (and array dtypes and ranks) of the variant it ran.
        Each guard reads the values of its own variant (``_T0_<k>``), set once before its
        code is swapped in: a thread calling while another swaps sees one guard or the
        other, never a mixture.

        Its first parameter takes the handle it is bound to; its signature says so, and a
        bound method's signature leaves it out, so users see ``f``'s."""
        # a function read only for containers always takes its arguments apart
        dispatch = self.call if self._structured is None else self._structured.call
        self._guards: dict[str, object] = {"_dispatch": dispatch}
        for i, param in enumerate(self.signature.parameters.values()):
            self._guards[f"_D{i}"] = param.default
        self._bound = "_srcdiff_handle"
        while self._bound in self._params:
            self._bound += "_"
        exec(self._guard_code(None), self._guards)
        function = self._guards[self.__name__]
        functools.update_wrapper(function, self.f)
        bound = inspect.Parameter(self._bound, inspect.Parameter.POSITIONAL_ONLY)
        parameters = [bound, *self.signature.parameters.values()]
        function.__signature__ = self.signature.replace(parameters=parameters)
        function.source = self.source
        function.__srcdiff__ = self
        self._function = function
        return function

    def _guard_code(self, k: int | None, arrays=(), ones: dict[int, bool] | None = None):
        """The trampoline for the ``k``-th argument types seen (None: before any)."""
        params = [self._bound]
        for i, (name, param) in enumerate(self.signature.parameters.items()):
            if param.kind is param.KEYWORD_ONLY and "*" not in params:
                params.append("*")  # keyword-only parameters stay so
            params.append(f"{name}=_D{i}" if param.default is not param.empty else name)
        args = ", ".join(self._params)
        checks = [f"type({p}) is _T{i}_{k}" for i, p in enumerate(self._params)]
        for i in arrays:  # an array also needs the dtype and rank the variant was made for
            p = self._params[i]
            checks.append(f"{p}.dtype is _A{i}_{k} and {p}.ndim == _N{i}_{k}")
        for i, one in (ones or {}).items():  # and, where the code relies on it, whether a
            # dimension has length 1
            checks.append(f"1 {'in' if one else 'not in'} {self._params[i]}.shape")
        call = f"{args}{', ' if args else ''}1.0"  # with the seed, dy/dy = 1
        code = (
            f"def {self.__name__}({', '.join(params)}):\n"
            f"    if {' and '.join(checks) if k is not None else 'False'}:\n"
            f"        try:\n"
            f"            return _entry_{k}({call})\n"
            f"        except Exception as _srcdiff_error:\n"  # name the user's line
            f"            raise _variant_{k}.located(_srcdiff_error, ({call},)) from None\n"
            f"    return _dispatch({args})\n"
        )
        return compile(code, f"<srcdiff {self.__name__}>", "exec")

    @property
    def wrt(self) -> str | tuple[str, ...]:
        """The differentiated parameters' names, as ``wrt`` gave them (a tuple or one)."""
        return self._wrt if self._wrt_tuple else self._wrt[0]

    @property
    def source(self) -> str:
        """The generated module: the forward and adjoint sweeps as Python source, for
        the argument kinds of the latest call (before any call: as guessed)."""
        if self._default is None:
            return (
                f"# srcdiff generates the gradient of {self.__name__} at its first call, "
                "once the argument types are known\n"
            )
        return self._default.source

    def _generate_guessed(self) -> CompiledAdjoint | None:
        """The variant for the guessed argument kinds; if the guess does not fit the code
        (arrays of another rank, say), wait for the first call."""
        guessed = self._guess_kinds()
        try:
            return self._generate(guessed)
        except SrcdiffError:
            if self._annotated():
                raise
            return None

    def _annotated(self) -> bool:
        params = self.signature.parameters.values()
        return all(_annotation_kind(p.annotation) is not None for p in params)

    def _param_name(self, wrt: int | str) -> str:
        if isinstance(wrt, bool) or not isinstance(wrt, (int, str)):
            raise SrcdiffError(f"wrt must be a parameter position or name, not {wrt!r}")
        if isinstance(wrt, int):
            if not -len(self._params) <= wrt < len(self._params):
                raise SrcdiffError(
                    f"wrt={wrt}: {self.__name__} has {len(self._params)} parameter(s)"
                )
            return self._params[wrt]
        if wrt == "self" and self._instance is not None:
            return wrt
        if wrt not in self._params:
            raise SrcdiffError(f"wrt={wrt!r}: {self.__name__} has no parameter named {wrt!r}")
        return wrt

    def _check_scalar_result(self) -> None:
        main = self._program.main
        if main.n_results != 1:
            ret = main.ir.body[-1]
            raise (ret.loc.error if ret.loc else SrcdiffError)(
                f"{self.__name__} returns {main.n_results} values; grad needs a single float"
            )

    # --- kinds and variants --------------------------------------------------------------
    def _guess_kinds(self) -> tuple[Kind, ...]:
        return guessed_kinds(self._program, self.signature, self._wrt)

    def _generate(
        self, kinds: tuple[Kind, ...], layouts: tuple[Layout | None, ...] = ()
    ) -> CompiledAdjoint:
        if (kinds, layouts) not in self._variants:
            params = self._program.params
            param_kinds = dict(zip(params, kinds, strict=True))
            returns = "value_and_grad" if self._with_value else "grad"
            # the generated code renames parameters that clash with its own names (np -> np_)
            wrt = tuple(self._program.params[p] for p in self._wrt_positions)
            known = {p: lay for p, lay in zip(params, layouts, strict=False) if lay is not None}
            module: GeneratedModule = generate(
                self._program,
                wrt,
                param_kinds,
                returns,
                self._wrt_tuple,
                optimized=self._optimize,
                backend=self._backend,
                layouts=known,
            )
            variant = module.backend.compile(module, self._jit, self.__name__)
            self._variants[kinds, layouts] = variant
        return self._variants[kinds, layouts]

    def _variant_for(self, args: tuple) -> tuple[CompiledAdjoint, bool]:
        key = tuple(_type_key(a) for a in args)
        found = self._by_types.get(key)
        if found is not None:
            return found
        with self._lock:
            return self._new_variant_for(key, args)

    def _new_variant_for(self, key: tuple, args: tuple) -> tuple[CompiledAdjoint, bool]:
        found = self._by_types.get(key)
        if found is None:
            kinds = tuple(_kind_of(a, p) for a, p in zip(args, self._params, strict=True))
            # differentiated arguments are floats, or arrays of floats
            wanted = {p: kinds[p].differentiable() for p in self._wrt_positions}
            convert = any(kinds[p] != k for p, k in wanted.items())
            kinds = tuple(wanted.get(i, k) for i, k in enumerate(kinds))
            layouts = () if convert else tuple(argument_layout(a) for a in args)
            found = self._by_types[key] = (self._generate(kinds, layouts), convert)
        return found

    # --- calling -------------------------------------------------------------------------
    def call(self, *args: Any) -> Any:
        """The slow path: pick (and on first use generate) the variant for these kinds."""
        # a plain call keeps the plain path (and its fast path) even after calls with
        # containers; only a function compiled for containers alone takes them all apart
        if self._program is None or any(is_container(a) for a in args):
            return self._structured_call(args)
        variant, convert = self._variant_for(args)
        if convert:
            args = tuple(
                _as_differentiable(a) if i in self._wrt_positions else a for i, a in enumerate(args)
            )
        widened = self._widened(variant, args)
        result = (widened or variant.call)(*args, 1.0)  # with the seed, as the fast path does
        if not convert:  # the next call with these argument types goes straight to Numba
            self._function.__code__ = self._fast_path(args, variant, widened or variant.run)
            self._default = variant
            self._function.source = variant.source
        return result

    def _structured_call(self, args: tuple) -> Any:
        if self._structured is None:
            with self._lock:
                if self._structured is None:
                    self._structured = Structured(self)
        return self._structured.call(*args)

    def _fast_path(self, args: tuple, variant: CompiledAdjoint, entry: Callable):
        """The trampoline's code for the types of ``args``, its values set in the guards'
        namespace under names of their own first (made once per argument types)."""
        key = tuple(_type_key(a) for a in args)
        with self._lock:
            if key not in self._codes:
                k = len(self._codes)
                arrays = tuple(i for i, a in enumerate(args) if isinstance(a, np.ndarray))
                for i, arg in enumerate(args):
                    self._guards[f"_T{i}_{k}"] = type(arg)
                for i in arrays:
                    self._guards[f"_A{i}_{k}"] = args[i].dtype
                    self._guards[f"_N{i}_{k}"] = args[i].ndim
                self._guards[f"_entry_{k}"], self._guards[f"_variant_{k}"] = entry, variant
                ones = {  # NumPy-backend code is written for the layouts of its arguments
                    i: 1 in args[i].shape
                    for i in arrays
                    if variant.backend.layout_specific and args[i].ndim
                }
                namespace: dict[str, object] = {}
                exec(self._guard_code(k, arrays, ones), self._guards, namespace)
                self._codes[key] = namespace[self.__name__].__code__
            return self._codes[key]

    def _widened(self, variant: CompiledAdjoint, args: tuple) -> Callable | None:
        """Under Numba, float32 arrays are computed in float64 (Numba would otherwise mix
        the two in one variable) and their gradients handed back as float32."""
        narrow = {
            i: a.dtype
            for i, a in enumerate(args)
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype != np.float64
        }
        if not narrow or not variant.backend.widens_float32:
            return None
        dtypes = [narrow.get(p) for p in self._wrt_positions]
        n = len(args)

        def entry(*call_args):
            wide = [a.astype(np.float64) if i in narrow else a for i, a in enumerate(call_args[:n])]
            result = variant.call(*wide, *call_args[n:])
            if self._with_value:
                return result[0], self._narrowed(result[1], dtypes)
            return self._narrowed(result, dtypes)

        return entry

    def _narrowed(self, gradient, dtypes: list) -> Any:
        grads = gradient if self._wrt_tuple else (gradient,)
        cast = tuple(
            g if d is None else np.asarray(g).astype(d) for g, d in zip(grads, dtypes, strict=True)
        )
        return cast if self._wrt_tuple else cast[0]

    def __repr__(self) -> str:
        kind = "value_and_grad" if self._with_value else "grad"
        return f"<srcdiff.{kind} of {self.__name__} with respect to {', '.join(self._wrt)}>"

    # --- pickling ------------------------------------------------------------------------
    def _reduce(self) -> tuple:
        """How pickle saves the gradient: where ``@grad`` put it under ``f``'s name, that
        name; else ``f`` by reference and the options, made again once per process."""
        if getattr(_named(self.f, "gradient"), "__srcdiff__", None) is self:
            return _decorated, (self.f.__module__, self.f.__qualname__)
        options = (self._with_value, self.wrt, self._jit, self._backend, self._optimize)
        return _rebuilt, (_handle_of, _reference(self.f, "gradient"), *options)


class Structured:
    """Calls with containers (``pytrees``), and calls of a method: the arguments are taken
    apart into their leaves, and each structure gets a ``Gradient`` of its own of the
    function read for it (``structures``), one parameter per leaf, made at the first call
    with that structure. Its gradients are put back together in the shape of each
    differentiated argument: floats and arrays of floats get gradients, other leaves None.
    A method's instance is the first argument, passed at each call (its attributes are
    read then); ``wrt="self"`` differentiates them."""

    def __init__(self, gradient: Gradient):
        self.gradient = gradient
        self.instance = gradient._instance
        shift = 0 if self.instance is None else 1
        self.wrt = [
            0 if name == "self" and p < 0 else p + shift
            for name, p in zip(gradient._wrt, gradient._wrt_positions, strict=True)
        ]
        self.flats: dict[tuple, _Flat] = {}
        self.last: _Flat | None = None
        # only the attributes the method reads are part of the structure
        self.names = (
            None if self.instance is None else attributes_read(gradient._read, type(self.instance))
        )

    def call(self, *args: Any) -> Any:
        leaves: list = []
        if self.instance is not None:
            key = (
                self._instance_structure(leaves),
                *(flatten(a, leaves) if is_container(a) else _plain(a, leaves) for a in args),
            )
            args = (self.instance, *args)
        else:
            key = tuple(flatten(a, leaves) if is_container(a) else _plain(a, leaves) for a in args)
        flat = self.flats.get(key)
        if flat is None:
            with self.gradient._lock:
                flat = self.flats.get(key) or self._make(key)
        result = flat.gradient.function(*leaves)
        if flat is not self.last:  # .source shows the variant called last
            self.last = flat
            self.gradient._default = flat.gradient._default
            self.gradient._function.source = flat.gradient.source
        return flat.rebuild(result)

    def _instance_structure(self, leaves: list) -> object:
        try:
            return flatten_instance(self.instance, self.names, leaves)
        except SrcdiffError as error:  # name the method's line
            code = self.gradient._read.__code__
            raise SourceLocation(code.co_filename, code.co_firstlineno).error(str(error)) from None

    def _make(self, key: tuple) -> _Flat:
        gradient = self.gradient
        if len(self.flats) == _MANY_STRUCTURES:
            warnings.warn(
                f"{gradient!r} has compiled {len(self.flats)} structures of its arguments; "
                "each new one (a key added to a dict, a list that grows, an attribute read "
                "that changes type) compiles again: keep the structure fixed between calls",
                RuntimeWarning,
                stacklevel=4,
            )
        with _no_gc_pauses():
            program = normalize_program(gradient._read, key)
        params = program.main.source.params
        positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
        signature = inspect.Signature([inspect.Parameter(p, positional) for p in params])
        counts = [1 if t is None else len(float_mask(t)) for t in key]
        starts = [sum(counts[:k]) for k in range(len(counts))]
        assert sum(counts) == len(params), "the flat function's parameters are its leaves"
        wrt: list[int] = []
        for p in self.wrt:
            if key[p] is None:
                wrt.append(starts[p])
                continue
            mask = float_mask(key[p])
            wrt.extend(starts[p] + k for k, differentiated in enumerate(mask) if differentiated)
        if not wrt:
            raise SrcdiffError(
                f"wrt={gradient.wrt!r}: nothing of {gradient.__name__}'s argument(s) there is a "
                "float or an array of floats to differentiate"
            )
        flat = Gradient(
            gradient._read, tuple(wrt), gradient._jit, gradient._backend,
            gradient._with_value, gradient._optimize, flat=(program, signature),
        )  # fmt: skip
        treedefs = [key[p] for p in self.wrt]
        self.flats[key] = made = _Flat(flat, treedefs, gradient._with_value, gradient._wrt_tuple)
        return made


_MANY_STRUCTURES = 16  # structures compiled before a warning that they keep changing


def _plain(value: object, leaves: list) -> None:
    leaves.append(value)


class _Flat:
    """The gradient for one structure of the arguments, and how to shape its result."""

    __slots__ = ("gradient", "shape", "with_value", "wrt_tuple")

    def __init__(self, gradient: Gradient, treedefs: list, with_value: bool, wrt_tuple: bool):
        self.gradient = gradient
        self.shape = unflattener(treedefs)
        self.with_value = with_value
        self.wrt_tuple = wrt_tuple

    def rebuild(self, result: Any) -> Any:
        if self.with_value:
            shaped = self.shape(result[1])
            return result[0], (shaped if self.wrt_tuple else shaped[0])
        shaped = self.shape(result)
        return shaped if self.wrt_tuple else shaped[0]


class _Handle:
    """What a gradient's trampoline is bound to. Unpickling a bound method asks the
    handle for the method by the function's name; pickling the handle saves the
    gradient's ``_reduce``."""

    __slots__ = ("gradient",)

    def __init__(self, gradient: Gradient):
        self.gradient = gradient

    def __getattribute__(self, name: str) -> Any:
        gradient = object.__getattribute__(self, "gradient")
        if name == gradient.__name__:  # before any other attribute, whatever f is named
            return gradient.function
        return object.__getattribute__(self, name)

    def __reduce__(self) -> tuple:
        return object.__getattribute__(self, "gradient")._reduce()

    def __repr__(self) -> str:
        return repr(object.__getattribute__(self, "gradient"))


def _handle_of(f: Callable, with_value: bool, wrt: Wrt, jit, backend, optimize) -> _Handle:
    return Gradient(f, wrt, jit, backend, with_value, optimize)._handle


def _decorated(module: str, qualname: str) -> _Handle:
    """The gradient ``@grad`` put under ``module.qualname``, imported in this process."""
    gradient = getattr(_lookup(module, qualname), "__srcdiff__", None)
    if not isinstance(gradient, Gradient):
        raise pickle.UnpicklingError(f"{module}.{qualname} is not a srcdiff gradient here")
    return gradient._handle


_made: dict[tuple, Any] = {}
_made_lock = threading.RLock()


def _rebuilt(make: Callable, *args: Any) -> Any:
    """``make(*args)``, made once per process: what a pickled gradient (or jvp, ...)
    becomes on the other side, where a pool unpickles it with each batch of tasks."""
    key = (make, *args)
    with _made_lock:
        if key not in _made:
            _made[key] = make(*args)
        return _made[key]


def _reference(f: Callable, what: str) -> Any:
    """What pickle saves for ``f``: ``f`` itself, which pickle saves by module and name,
    or, where ``@grad`` put a gradient of ``f`` under that name, a stand-in that unpickles
    as that gradient's ``f``. A gradient saves itself. Otherwise a PicklingError says why."""
    if isinstance(getattr(f, "__srcdiff__", None), Gradient):
        return f
    if isinstance(f, types.MethodType):  # pickle saves it as getattr(instance, name)
        return f
    named = _named(f, what)
    if named is f:
        return f
    gradient = getattr(named, "__srcdiff__", None)
    if isinstance(gradient, Gradient) and gradient.f is f:
        return _FunctionOf(named)
    raise _unpicklable(f, what, f"{f.__module__}.{f.__qualname__} is another object")


class _FunctionOf:
    """Pickles as ``gradient.__srcdiff__.f``: ``f`` where ``@grad`` put its gradient."""

    def __init__(self, gradient: Callable):
        self.gradient = gradient

    def __reduce__(self) -> tuple:
        return _function_of, (self.gradient,)


def _function_of(gradient: Callable) -> Callable:
    return gradient.__srcdiff__.f


def _named(f: Callable, what: str) -> Any:
    """What ``f``'s module and qualified name lead to, as another process would import
    it; a PicklingError where nothing does (a lambda, a function made inside another)."""
    module = getattr(f, "__module__", None)
    qualname = getattr(f, "__qualname__", None) or getattr(f, "__name__", "")
    if "<lambda>" in qualname:
        raise _unpicklable(f, what, "it is a lambda")
    if "<locals>" in qualname:
        raise _unpicklable(f, what, "it is defined inside another function")
    found = _lookup(module, qualname) if module and qualname else None
    if found is None:
        raise _unpicklable(f, what, f"{module}.{qualname} cannot be found")
    return found


def _lookup(module: str, qualname: str) -> Any:
    found: Any = sys.modules.get(module)
    if found is None:
        try:
            found = importlib.import_module(module)
        except ImportError:
            return None
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def _unpicklable(f: Callable, what: str, why: str) -> pickle.PicklingError:
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", repr(f))
    return pickle.PicklingError(
        f"cannot pickle the srcdiff {what} of {name}: {why}. srcdiff pickles a {what} as "
        "a reference to its function, which the other process imports by module and "
        "name: define the function at the top level of a module"
    )


@contextlib.contextmanager
def _no_gc_pauses():
    """The transform makes many short-lived objects and no cycles worth collecting; in a
    process with a large heap (Numba's, say) a full collection mid-transform costs more
    than the transform itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _type_key(value: object) -> object:
    if isinstance(value, np.ndarray):
        return (np.ndarray, value.dtype.str, value.ndim, argument_layout(value))
    return type(value)


def guessed_kinds(
    program: Program, signature: inspect.Signature, wrt: tuple[str, ...]
) -> tuple[Kind, ...]:
    """Argument kinds for ``.source`` before any call: annotations, else how the
    parameter is used (indexed -> array, a range bound -> int), else float."""
    usage = guess_kinds(program)
    kinds = []
    for name, param in signature.parameters.items():
        kind = _annotation_kind(param.annotation) or usage.get(name, FLOAT)
        kinds.append(kind.differentiable() if name in wrt else kind)
    return tuple(kinds)


def _kind_of(value: object, name: str) -> Kind:
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    if isinstance(value, (int, np.integer)):
        return INT
    if isinstance(value, (float, np.floating)):
        return FLOAT
    if isinstance(value, np.ndarray):
        # object arrays are taken to hold floats: plain Python runs them, Numba cannot
        element = {"f": "float", "i": "int", "u": "int", "b": "bool", "O": "float"}.get(
            value.dtype.kind
        )
        if element is not None and value.ndim <= MAX_RANK:
            return Kind.array(element, value.ndim)
    containers = (
        " (forward mode takes no containers; grad and value_and_grad do)"
        if is_container(value)
        else ""
    )
    raise SrcdiffError(
        f"argument {name!r} is a {type(value).__name__}; srcdiff takes floats, ints, bools "
        f"and numeric numpy arrays of up to {MAX_RANK} dimensions{containers}"
    )


def _as_differentiable(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value if value.dtype.kind == "f" else value.astype(np.float64)
    if isinstance(value, (int, float, np.number)):
        return float(value)
    return value  # not a number: ``_kind_of`` says what it is


def _annotation_kind(annotation: object) -> Kind | None:
    return {float: FLOAT, int: INT, bool: BOOL}.get(annotation)
