"""The program model every stage after normalize reads: each user function in IR form, with
the names it uses, and the program they form (the differentiated function and its callees)."""

from __future__ import annotations

import types
from dataclasses import dataclass, field

from .. import ir
from ..frontend import FreeArray, SourceFunction
from ..rules import global_names

# Names generated code uses at module level (the rules' printed forms) and for its tapes;
# user variables are renamed around them.
RESERVED = global_names() | {f"_{part}_{t}" for part in ("tape", "top") for t in "fiba"}


class NameAllocator:
    """Deterministic fresh names that never clash with a taken one."""

    def __init__(self, taken: set[str]):
        self.taken = set(taken) | RESERVED
        self.counters: dict[str, int] = {}
        self.temporaries: list[str] = []  # the t0, t1, ... made for intermediate results

    def fresh(self, base: str, numbered: bool = True) -> str:
        if not numbered and base not in self.taken:
            self.taken.add(base)
            return base
        n = self.counters.get(base, 0)
        while f"{base}{n}" in self.taken:
            n += 1
        self.counters[base] = n + 1
        name = f"{base}{n}"
        self.taken.add(name)
        if base == "t":
            self.temporaries.append(name)
        return name


@dataclass
class NormalizedFunction:
    """A user function in IR form, with what later stages need to know about it."""

    ir: ir.Function
    source: SourceFunction
    n_results: int
    names: NameAllocator
    callees: list[types.FunctionType] = field(default_factory=list)
    # arrays of modules and closures it reads (or its callees do), its last parameters:
    # (parameter, where the value is read at each call)
    inputs: list[tuple[str, FreeArray]] = field(default_factory=list)


@dataclass
class Program:
    """The function being differentiated and every user function it calls."""

    main: NormalizedFunction
    functions: dict[str, NormalizedFunction]  # generated name -> function, callees first

    @property
    def params(self) -> list[str]:
        """The parameters of the differentiated function that its callers pass (the
        others, ``inputs``, the gradient reads itself at each call)."""
        params = self.main.ir.params
        return params[: len(params) - len(self.main.inputs)]

    @property
    def inputs(self) -> list[tuple[str, FreeArray]]:
        return self.main.inputs
