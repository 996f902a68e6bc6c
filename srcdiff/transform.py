"""The pipeline, end to end: normalized program -> analyses -> adjoints -> optimized
module source. One entry point, ``generate``; each stage lives in its own module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from . import backends, ir
from ._version import __version__
from .analysis.activity import find_active
from .analysis.kinds import expr_kind, infer_kinds, lower_for_kinds, specialize
from .analysis.webs import split_webs
from .analysis.writes import check_writes
from .backends import NUMBA, Backend
from .buffers import Layout, resolve_broadcasts
from .codegen import module_source
from .errors import SourceLocation, SrcdiffError
from .forward import TangentRequest, tangent_function, three_address
from .frontend import FreeArray
from .guards import insert_guards
from .kernels import outline_loops
from .kind import FLOAT, Kind
from .normalize.program import NameAllocator, NormalizedFunction, Program
from .optimize import optimize, renumber_temporaries, simplify_block
from .reverse import AdjointRequest, adjoint, arrays_recorded


@dataclass
class GeneratedModule:
    source: str
    entry: str  # the adjoint of the differentiated function
    functions: list[str]  # every function the module defines, callees first
    backend: Backend  # what runs it (``backend.compile``)
    kernels: list[str] = field(default_factory=list)  # loops in Numba functions of their own
    locations: dict[int, str] = field(default_factory=dict)  # line -> the user's file:line
    # arrays of modules and closures the entry takes as parameters from ``inputs_at`` on,
    # read at each call, with the kinds the module was generated for
    inputs: tuple[tuple[FreeArray, Kind], ...] = ()
    inputs_at: int = 0


def generate(
    program: Program,
    wrt: tuple[str, ...],
    param_kinds: dict[str, Kind],
    returns: str = "value_and_grad",
    grad_tuple: bool = True,
    optimized: bool = True,
    backend: str = "auto",
    layouts: dict[str, Layout] | None = None,
    array_result: bool = False,
) -> GeneratedModule:
    """The module for the gradient of ``program.main`` with respect to ``wrt``; its entry
    returns what ``returns`` names ("grad" or "value_and_grad"), the gradient as a tuple
    when ``grad_tuple``. ``backend``: "auto", "numba" or "numpy" (see ``backends.choose``).
    ``layouts``: what the call shows of array arguments (see ``buffers``).
    ``array_result``: ``f`` may return an array; the seed ``g_y`` is then an array of its
    shape, and the entry returns the vector-Jacobian product (a Jacobian's row for a seed
    of one 1.0)."""
    generator = _Generator(program, optimized, backend, layouts or {})
    generator.array_result = array_result
    param_kinds = _with_inputs(program, param_kinds)
    return _reading_inputs(generator.module(wrt, param_kinds, returns, grad_tuple), program)


def _with_inputs(program: Program, param_kinds: dict[str, Kind]) -> dict[str, Kind]:
    """The kinds of the parameters, with those of the arrays the function reads from its
    module or closure, as they are now."""
    return {**param_kinds, **{name: free.kind() for name, free in program.inputs}}


def _reading_inputs(module: GeneratedModule, program: Program) -> GeneratedModule:
    """``module``, told which of its entry's parameters take the arrays of modules and
    closures (the kinds it was made for, to check them at each call)."""
    if program.inputs:
        module.inputs = tuple((free, free.kind()) for _, free in program.inputs)
        module.inputs_at = program.main.ir.params.index(program.inputs[0][0])
    return module


def _inputs_note(program: Program) -> str:
    """What ``.source``'s header says of the arrays the function reads from its module or
    closure."""
    if not program.inputs:
        return ""
    read = ", ".join(f"{free.describe()} ({free.kind().describe()})" for _, free in program.inputs)
    return f"\nRead at each call, as constants (no derivative), and passed as parameters: {read}."


class _Generator:
    def __init__(self, program: Program, optimized: bool, backend: str, layouts: dict[str, Layout]):
        self.program = program
        self.layouts = layouts if optimized else {}
        self.optimized = optimized
        self.requested_backend = backend  # "auto" or a backend's name
        self.backend: Backend = NUMBA  # until chosen
        self.kind_cache: dict[tuple[str, tuple[Kind, ...]], dict[str, Kind]] = {}
        self.adjoints: dict[tuple, str] = {}  # (callee, mask, kinds) -> adjoint name
        self.emitted: list[ir.Function] = []  # callee adjoints, callees first
        self.taken = set(program.functions)
        self.array_result = False
        # functions are printed (primitives in their printed forms, which under Numba may be
        # routines without derivative rules), unless they are to be differentiated again
        self.printed = True

    def module(
        self, wrt: tuple[str, ...], param_kinds: dict[str, Kind], returns: str, grad_tuple: bool
    ) -> GeneratedModule:
        main = self.program.main
        kinds = self.kinds(main.ir.name, tuple(param_kinds[p] for p in main.ir.params))
        if not self.array_result:
            _check_scalar_result(main, kinds)

        def recorded(backend: Backend) -> SourceLocation | None:
            return self.arrays_recorded(backend, main, kinds, wrt, returns, grad_tuple)

        self.backend, reason = self.choose_backend(recorded)
        fn, entry = self.entry_adjoint(main, kinds, wrt, returns, grad_tuple)
        primals = [f for name, f in self.program.functions.items() if name != main.ir.name]
        functions = [self.primal(f) for f in primals]
        functions += self.emitted
        functions.append(fn)
        kernels: list[ir.Function] = []
        for function in functions:
            kernels += outline_loops(function, self.taken, self.backend.worth_a_kernel)
        header = _header(main, wrt, returns, grad_tuple, self.backend, reason)
        header += _inputs_note(self.program)
        reused = self.backend.reuse_buffers(fn, self.layouts)
        if reused:
            header += "\n" + reused
        if kernels:
            header += "\nLoops run in Numba kernels of their own: " + ", ".join(
                k.name for k in kernels
            )
        text = module_source(kernels + functions, header)
        names = [f.name for f in kernels + functions]
        kernels_ = [k.name for k in kernels]
        return GeneratedModule(text.source, entry, names, self.backend, kernels_, text.locations)

    def entry_adjoint(self, main, kinds, wrt, returns, grad_tuple) -> tuple[ir.Function, str]:
        self.adjoints, self.emitted = {}, []
        self.taken = set(self.program.functions)
        entry = self.fresh_function_name(f"{main.ir.name}_adjoint")
        layouts = self.layouts if self.backend.layout_specific else {}
        return self.adjoint_of(main, kinds, wrt, entry, returns, grad_tuple, layouts=layouts), entry

    def choose_backend(
        self, recorded: Callable[[Backend], SourceLocation | None] | None = None
    ) -> tuple[Backend, str]:
        """One backend for the module (generated functions call each other), from every
        function with the kinds it is called with, before any is transformed."""

        def functions():
            for (name, _), kinds in self.kind_cache.items():
                fn = self.program.functions[name].ir
                check_writes(fn, kinds)
                yield fn, kinds

        return backends.choose(self.requested_backend, functions(), recorded)

    def arrays_recorded(
        self, backend: Backend, main: NormalizedFunction, kinds, wrt, returns, grad_tuple
    ) -> SourceLocation | None:
        """Where the adjoints the module needs (the entry's, and its callees') would first
        record a whole array if generated for ``backend``; None if nowhere."""
        found: list[SourceLocation] = []
        predicted: set[tuple] = set()

        def callee(name: str, mask, arg_kinds, candidates) -> tuple[str, tuple[bool, ...]]:
            handed = self.handed_over(name, candidates)
            if (name, mask, arg_kinds, handed) not in predicted:
                predicted.add((name, mask, arg_kinds, handed))
                fn = self.program.functions[name]
                wrt, through = _differentiated(fn, mask, handed)
                request = self.adjoint_request(
                    fn, self.kinds(name, arg_kinds), wrt, name, backend, handed_over=through
                )
                arrays_recorded(request, callee, found)
            return name, handed

        request = self.adjoint_request(main, kinds, wrt, main.ir.name, backend, returns, grad_tuple)
        arrays_recorded(request, callee, found)
        return found[0] if found else None

    def adjoint_of(
        self,
        fn: NormalizedFunction,
        kinds: dict[str, Kind],
        wrt: tuple[str, ...],
        name: str,
        returns: str = "grads",
        grad_tuple: bool = False,
        handed_over: tuple[str, ...] = (),
        layouts: dict[str, Layout] | None = None,
    ) -> ir.Function:
        request = self.adjoint_request(
            fn, kinds, wrt, name, self.backend, returns, grad_tuple, handed_over
        )
        result = self.finish(adjoint(request, self.callee_adjoint))
        specialize(result, result.kinds, self.backend)
        if layouts:
            resolve_broadcasts(result, layouts)
        if self.optimized:  # forms specialized alike may now simplify (e + e -> 2 * e)
            result.body = simplify_block(result.body)
        renumber_temporaries(result, request.names.temporaries)
        return result

    def adjoint_request(
        self,
        fn: NormalizedFunction,
        kinds: dict[str, Kind],
        wrt: tuple[str, ...],
        name: str,
        backend: Backend,
        returns: str = "grads",
        grad_tuple: bool = False,
        handed_over: tuple[str, ...] = (),
    ) -> AdjointRequest:
        """What ``adjoint`` takes: a fresh copy of ``fn``, optimized, lowered for its kinds,
        guarded, and its active variables."""
        function = self.prepare(fn)
        lower_for_kinds(function, [kinds])
        names, kinds = copy.deepcopy(fn.names), dict(kinds)
        insert_guards(function, [kinds], _temporaries(names, kinds))
        results = {v.id for v in function.body[-1].values}
        active = find_active(function, kinds, set(wrt), results)
        return AdjointRequest(
            fn=function,
            names=names,
            kinds=kinds,
            active=active,
            wrt=wrt,
            name=name,
            backend=backend,
            returns=returns,
            grad_tuple=grad_tuple,
            handed_over=handed_over,
        )

    def handed_over(self, callee: str, candidates: tuple[bool, ...]) -> tuple[bool, ...]:
        """Of the array arguments whose adjoint the caller could hand over, those the
        callee takes: a parameter the callee reassigns cannot take the caller's adjoint
        (the adjoint of its new value is another quantity)."""
        fn = self.program.functions[callee]
        reassigned = ir.assigned_in(fn.ir.body)
        return tuple(
            c and p not in reassigned for c, p in zip(candidates, fn.ir.params, strict=True)
        )

    def callee_adjoint(
        self,
        callee: str,
        mask: tuple[bool, ...],
        arg_kinds: tuple[Kind, ...],
        candidates: tuple[bool, ...],
    ) -> tuple[str, tuple[bool, ...]]:
        fn = self.program.functions[callee]
        handed = self.handed_over(callee, candidates)
        key = (callee, mask, arg_kinds, handed)
        if key not in self.adjoints:
            name = self.fresh_function_name(f"{callee}_adjoint")
            self.adjoints[key] = name
            kinds = self.kinds(callee, arg_kinds)
            wrt, through = _differentiated(fn, mask, handed)
            adjoint_fn = self.adjoint_of(fn, kinds, wrt, name, handed_over=through)
            self.emitted.append(adjoint_fn)
        return self.adjoints[key], handed

    def kinds(self, name: str, arg_kinds: tuple[Kind, ...]) -> dict[str, Kind]:
        key = (name, arg_kinds)
        if key not in self.kind_cache:
            function = self.program.functions[name]
            params = dict(zip(function.ir.params, arg_kinds, strict=True))

            def split(variable: str) -> bool:  # a name rebound to another kind
                if not split_webs(function.ir, variable, function.names.taken):
                    return False
                for cached in [k for k in self.kind_cache if k[0] == name]:
                    del self.kind_cache[cached]  # (inferred before the renaming)
                return True

            self.kind_cache[key] = infer_kinds(function.ir, params, self.result_kinds, split)
        return self.kind_cache[key]

    def result_kinds(self, name: str, arg_kinds: tuple[Kind, ...]) -> tuple[Kind, ...]:
        kinds = self.kinds(name, arg_kinds)
        ret = self.program.functions[name].ir.body[-1]
        return tuple(expr_kind(v, kinds) or FLOAT for v in ret.values)

    def fresh_function_name(self, base: str) -> str:
        name, n = base, 1
        while name in self.taken:
            name, n = f"{base}{n}", n + 1
        self.taken.add(name)
        return name

    def primal(self, fn: NormalizedFunction) -> ir.Function:
        """A helper's own code, as the caller's forward sweep calls it."""
        function = self.prepare(fn)
        variants = [dict(k) for (name, _), k in self.kind_cache.items() if name == fn.ir.name]
        lower_for_kinds(function, variants)
        names = copy.deepcopy(fn.names)
        insert_guards(function, variants, _temporaries(names, variants))
        if self.optimized:  # checks that the kinds decide (a constant exponent's sign)
            function.body = simplify_block(function.body)
        # printed for the widest kinds it is called with (np.exp also takes a float)
        function.kinds = {v: k for kinds in variants for v, k in kinds.items()}
        if self.printed:
            specialize(function, function.kinds, self.backend)
        renumber_temporaries(function, names.temporaries)
        return function

    def prepare(self, fn: NormalizedFunction) -> ir.Function:
        """A fresh copy of a normalized function, optimized before it is differentiated."""
        function = copy.deepcopy(fn.ir)
        return optimize(function, keep_results=True) if self.optimized else function

    def finish(self, fn: ir.Function) -> ir.Function:
        return optimize(fn) if self.optimized else fn


def generate_tangent(
    program: Program,
    wrt: tuple[str, ...],
    param_kinds: dict[str, Kind],
    optimized: bool = True,
    backend: str = "auto",
) -> GeneratedModule:
    """The module for forward mode: its entry ``<f>_jvp(*params, *tangents of wrt)``
    returns ``f``'s value and that value's directional derivative."""
    generator = _TangentGenerator(program, optimized, backend, {})
    return _reading_inputs(generator.module(wrt, _with_inputs(program, param_kinds)), program)


class _TangentGenerator(_Generator):
    """The forward-mode module: tangent functions instead of adjoints."""

    def module(self, wrt: tuple[str, ...], param_kinds: dict[str, Kind]) -> GeneratedModule:
        main = self.program.main
        functions, reason = self.functions(wrt, param_kinds)
        entry = functions[-1].name
        kernels: list[ir.Function] = []
        for function in functions:
            kernels += outline_loops(function, self.taken, self.backend.worth_a_kernel)
        src = main.source
        tangents = ", ".join(f"d_{w}" for w in wrt)
        header = (
            f"Generated by srcdiff {__version__} from {src.short_filename}:{src.tree.lineno} "
            f"({src.name}), forward mode.\n"
            f"{entry}(..., {tangents}) returns ({src.name}(...), its derivative along the "
            f"tangents {tangents}).\n"
            f"Backend: {self.backend.title} ({reason}); choose with backend='numba' or "
            "'numpy'."
        ) + _inputs_note(self.program)
        text = module_source(kernels + functions, header)
        names = [f.name for f in kernels + functions]
        kernels_ = [k.name for k in kernels]
        return GeneratedModule(text.source, entry, names, self.backend, kernels_, text.locations)

    def functions(
        self, wrt: tuple[str, ...], param_kinds: dict[str, Kind]
    ) -> tuple[list[ir.Function], str]:
        """The module's functions, callees first (the entry last), and why the backend."""
        main = self.program.main
        kinds = self.kinds(main.ir.name, tuple(param_kinds[p] for p in main.ir.params))
        self.backend, reason = self.choose_backend()
        self.emitted, self.adjoints, self.origins = [], {}, {}
        self.taken = set(self.program.functions)
        entry = self.fresh_function_name(f"{main.ir.name}_jvp")
        self.origins[entry] = main.ir.name
        fn = self.tangent_of(main, kinds, wrt, entry)
        primals = [f for name, f in self.program.functions.items() if name != main.ir.name]
        return [self.primal(f) for f in primals] + self.emitted + [fn], reason

    def tangent_of(
        self, fn: NormalizedFunction, kinds: dict[str, Kind], wrt: tuple[str, ...], name: str
    ) -> ir.Function:
        function = self.prepare(fn)
        lower_for_kinds(function, [kinds])
        names, kinds = copy.deepcopy(fn.names), dict(kinds)
        insert_guards(function, [kinds], _temporaries(names, kinds))
        results = {v.id for v in function.body[-1].values if isinstance(v, ir.Name)}
        active = find_active(function, kinds, set(wrt), results)
        request = TangentRequest(function, names, kinds, active, wrt, name)
        result = self.finish(tangent_function(request, self.callee_tangent))
        if self.printed:
            specialize(result, result.kinds, self.backend)
        if self.optimized:
            result.body = simplify_block(result.body)
        renumber_temporaries(result, request.names.temporaries)
        return result

    def callee_tangent(self, callee: str, mask: tuple[bool, ...], arg_kinds: tuple[Kind, ...]):
        key = (callee, mask, arg_kinds)
        if key not in self.adjoints:
            fn = self.program.functions[callee]
            name = self.fresh_function_name(f"{callee}_jvp")
            self.adjoints[key] = name
            self.origins[name] = callee
            wrt = tuple(p for p, m in zip(fn.ir.params, mask, strict=True) if m)
            self.emitted.append(self.tangent_of(fn, self.kinds(callee, arg_kinds), wrt, name))
        return self.adjoints[key]


def generate_second_order(
    program: Program,
    wrt: tuple[str, ...],
    direction: str,
    param_kinds: dict[str, Kind],
    grad_tuple: bool,
    backend: str = "auto",
) -> GeneratedModule:
    """Reverse over forward: the gradient with respect to ``wrt`` of ``f``'s derivative
    along a direction for parameter ``direction``, whose value the entry takes after
    ``f``'s parameters. With a direction of 1.0 for a number, the gradient of df/dx (what
    ``grad(grad(f))`` is); with a vector v, a Hessian-vector product H v."""
    tangents = _TangentGenerator(program, True, backend, {})
    tangents.printed = False
    param_kinds = _with_inputs(program, param_kinds)
    functions, _ = tangents.functions((direction,), param_kinds)
    derivative = _tangent_program(program, functions, tangents.origins)
    derivative.main.inputs = program.main.inputs
    kinds = dict(param_kinds)
    along = derivative.main.ir.params[-1]
    kinds[along] = param_kinds[direction]
    module = generate(derivative, wrt, kinds, "grad", grad_tuple, backend=backend)
    lines = module.source.split("\n")
    name = program.main.source.name
    lines[1] = (
        f"# {module.entry}(..., {along}) returns the gradient with respect to "
        f"{', '.join(wrt)} of {name}'s derivative along {along} (reverse mode over forward)."
    )
    module.source = "\n".join(lines)
    return module


def _tangent_program(
    program: Program, functions: list[ir.Function], origins: dict[str, Kind]
) -> Program:
    """Tangent functions as a program to differentiate again: in three-address form, the
    entry returning only its derivative."""
    normalized: dict[str, NormalizedFunction] = {}
    for fn in functions:
        origin = program.functions[origins.get(fn.name, fn.name)]
        fn = copy.deepcopy(fn)
        names = NameAllocator(set(ir.names_used(fn.body)) | set(fn.params))
        three_address(fn, names)
        normalized[fn.name] = NormalizedFunction(fn, origin.source, 0, names)
    main = normalized[functions[-1].name]
    ret = main.ir.body[-1]
    main.ir.body[-1] = ir.Return(ret.values[len(ret.values) // 2 :], ret.loc)
    for fn in normalized.values():
        fn.n_results = len(fn.ir.body[-1].values)
    return Program(main, normalized)


def _differentiated(
    fn: NormalizedFunction, mask: tuple[bool, ...], handed: tuple[bool, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The parameters a callee's adjoint differentiates, and those whose adjoint it takes."""
    wrt = tuple(p for p, m in zip(fn.ir.params, mask, strict=True) if m)
    through = tuple(p for p, h in zip(fn.ir.params, handed, strict=True) if h)
    return wrt, through


def _temporaries(names: NameAllocator, kinds: dict[str, Kind] | list[dict[str, Kind]]):
    """``fresh(kind)``: a new temporary, its kind recorded (in every variant)."""
    variants = kinds if isinstance(kinds, list) else [kinds]

    def fresh(kind: Kind) -> str:
        name = names.fresh("t")
        for variant in variants:
            variant[name] = kind
        return name

    return fresh


def _check_scalar_result(main: NormalizedFunction, kinds: dict[str, Kind]) -> None:
    ret = main.ir.body[-1]
    kind = expr_kind(ret.values[0], kinds)
    if kind is not None and not kind.is_number:
        raise (ret.loc.error if ret.loc else SrcdiffError)(
            f"{main.source.name} returns {kind.describe()}; the "
            "gradient needs a single number (reduce it, with np.sum say)"
        )


def _header(
    main: NormalizedFunction,
    wrt: tuple[str, ...],
    returns: str,
    grad_tuple: bool,
    backend: Backend,
    reason: str,
) -> str:
    src = main.source
    grads = ", ".join(f"d{src.name}/d{w}" for w in wrt)
    gradient = f"({grads})" if grad_tuple else grads
    result = f"(value, {gradient})" if returns == "value_and_grad" else gradient
    return (
        f"Generated by srcdiff {__version__} from {src.short_filename}:{src.tree.lineno} "
        f"({src.name}).\n"
        f"{main.ir.name}_adjoint(...) returns {result}.\n"
        f"Backend: {backend.title} ({reason}); choose with backend='numba' or 'numpy'."
    )
