"""Random programs (hypothesis): srcdiff's gradient agrees with finite differences.

Programs are written to files and imported, exactly as a user's module would be. Every value
stays bounded (large intermediates are squashed with tanh and every denominator is >= 1), so
there are no singularities; points whose finite-difference stencil would take a different
branch than the centre are discarded, so the reference is always a smooth function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from conftest import (
    assert_values_close,
    call_or_fail,
    check_structure,
    fd_grad,
    load_function,
    no_fallback_warning,
)
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import srcdiff

REL_STEP = 1e-5
SQUASH_ABOVE = 10.0  # an expression whose bound exceeds this is wrapped in tanh

PYTHON_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
NUMBA_SETTINGS = settings(
    max_examples=5,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def program_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("programs")


# --- expressions with a known bound ------------------------------------------------------------

CONSTANTS = ["0.5", "1.5", "-2.0", "3.0", "0.25", "-0.75"]


def _unary(text: str, bound: float, kind: str, module: str) -> tuple[str, float]:
    if kind in ("sin", "cos", "tanh"):
        return f"{module}.{kind}({text})", 1.0
    if kind == "exp":
        if bound <= 3.0:
            return f"{module}.exp({text})", math.exp(bound)
        return f"{module}.exp({module}.tanh({text}))", math.e
    if kind == "log":
        return f"{module}.log(1.0 + {text} * {text})", math.log1p(bound * bound)
    if kind == "sqrt":
        return f"{module}.sqrt(1.0 + {text} * {text})", math.sqrt(1.0 + bound * bound)
    if kind == "square":
        return f"{text} ** 2", bound * bound
    raise AssertionError(kind)


def _binary(left, right, kind: str) -> tuple[str, float]:
    (a, ba), (b, bb) = left, right
    if kind == "+":
        return f"{a} + {b}", ba + bb
    if kind == "-":
        return f"{a} - {b}", ba + bb
    if kind == "*":
        return f"{a} * {b}", ba * bb
    if kind == "/":
        return f"{a} / (1.0 + {b} * {b})", ba
    if kind == "/sin":
        return f"{a} / (2.0 + math.sin({b}))", ba
    raise AssertionError(kind)


def squash(text: str, bound: float) -> tuple[str, float]:
    if bound > SQUASH_ABOVE:
        return f"math.tanh({text})", 1.0
    return text, bound


@st.composite
def expressions(draw, variables: dict[str, float], depth: int = 2):
    """An expression over ``variables`` (name -> bound), as (text, bound), parenthesised."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.integers(0, 4)) == 0:
            constant = draw(st.sampled_from(CONSTANTS))
            return f"({constant})", abs(float(constant))
        name = draw(st.sampled_from(sorted(variables)))
        return name, variables[name]
    if draw(st.booleans()):
        operand = draw(expressions(variables, depth - 1))
        kind = draw(st.sampled_from(["sin", "cos", "tanh", "exp", "log", "sqrt", "square"]))
        module = draw(st.sampled_from(["math", "np"]))
        text, bound = _unary(*operand, kind, module)
    else:
        left = draw(expressions(variables, depth - 1))
        right = draw(expressions(variables, depth - 1))
        text, bound = _binary(left, right, draw(st.sampled_from(["+", "-", "*", "/", "/sin"])))
    text, bound = squash(text, bound)
    return f"({text})", bound


# --- programs ------------------------------------------------------------------------------------


@dataclass
class Program:
    params: list[str]
    lines: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    helpers: list[str] = field(default_factory=list)

    def condition(self, text: str) -> str:
        """A placeholder for a branch condition, so a traced copy can record its outcomes."""
        self.conditions.append(text)
        return f"@COND{len(self.conditions) - 1}@"

    def render(self, traced: bool = False) -> str:
        body = "\n".join(self.lines)
        for index, condition in enumerate(self.conditions):
            body = body.replace(f"@COND{index}@", f"_trace({condition})" if traced else condition)
        header = "import math\n\nimport numpy as np\n\n\n"
        helpers = "".join(f"{helper}\n\n" for helper in self.helpers)
        return f"{header}{helpers}def program({', '.join(self.params)}):\n{body}\n"


@st.composite
def straight_line_programs(draw):
    n_params = draw(st.integers(1, 3))
    params = [f"p{i}" for i in range(n_params)]
    variables = dict.fromkeys(params, 1.5)
    program = Program(params)
    helper_bound = None
    if draw(st.booleans()):
        # A module-level helper, called with arguments bounded like every variable.
        text, helper_bound = squash(*draw(expressions(dict.fromkeys("ab", SQUASH_ABOVE))))
        program.helpers.append(f"def helper(a, b):\n    return {text}\n")
    for k in range(draw(st.integers(1, 8))):
        if helper_bound is not None and draw(st.integers(0, 2)) == 0:
            first = draw(expressions(variables, depth=1))[0]
            second = draw(expressions(variables, depth=1))[0]
            text, bound = f"helper({first}, {second})", helper_bound
        else:
            text, bound = draw(expressions(variables))
        program.lines.append(f"    v{k} = {text}")
        variables[f"v{k}"] = bound
    names = sorted(variables, key=lambda name: (name[0] == "v", int(name[1:])))
    last = names[-1]
    extra = draw(st.lists(st.sampled_from(names), max_size=3))
    terms = [last, *(f"{0.5 + i} * {name}" for i, name in enumerate(extra))]
    program.lines.append(f"    return {' + '.join(terms)}")
    return program


@st.composite
def looped_programs(draw):
    """A for loop with loop-carried states in [-1, 1]; optionally a data-dependent if/else,
    an inner while loop with a data-dependent trip count, and a data-dependent break."""
    n_params = draw(st.integers(1, 3))
    params = [f"p{i}" for i in range(n_params)]
    n_states = draw(st.integers(1, 2))
    trips = draw(st.integers(0, 5))
    outside = dict.fromkeys(params, 1.5)
    program = Program(params)
    states = {}
    for j in range(n_states):
        text, _ = draw(expressions(outside))
        program.lines.append(f"    s{j} = math.tanh({text})")
        states[f"s{j}"] = 1.0
    inside = {**outside, **states, "i": float(max(trips - 1, 0))}
    program.lines.append(f"    for i in range({trips}):")

    def update(indent: str) -> str:
        target = draw(st.sampled_from(sorted(states)))
        text, _ = draw(expressions(inside))
        form = draw(st.sampled_from(["tanh", "sin", "cos", "blend"]))
        if form == "blend":
            return f"{indent}{target} = 0.5 * {target} + 0.5 * math.tanh({text})"
        return f"{indent}{target} = math.{form}({text})"

    def state_test() -> str:
        left = draw(st.sampled_from(sorted(states)))
        threshold = draw(st.sampled_from(["-0.5", "0.0", "0.3"]))
        test = f"{left} > {threshold}"
        if draw(st.booleans()):
            other = draw(st.sampled_from(params))
            test = f"{test} and {other} * {left} < 0.7"
        return test

    pieces = ["update"] * draw(st.integers(1, 3))
    pieces += [piece for piece in ("if", "while", "break") if draw(st.booleans())]
    for piece in draw(st.permutations(pieces)):
        if piece == "update":
            program.lines.append(update("        "))
        elif piece == "if":
            program.lines.append(f"        if {program.condition(state_test())}:")
            program.lines.append(update("            "))
            if draw(st.booleans()):
                program.lines.append("        else:")
                program.lines.append(update("            "))
        elif piece == "while":
            limit = draw(st.integers(1, 4))
            program.lines.append("        k = 0")
            test = program.condition(f"k < {limit} and {state_test()}")
            program.lines.append(f"        while {test}:")
            program.lines.append(update("            "))
            program.lines.append("            k += 1")
        else:
            program.lines.append(f"        if {program.condition(state_test())}:")
            program.lines.append("            break")
    result, _ = draw(expressions({**outside, **states}))
    program.lines.append(f"    return {result} + {' + '.join(sorted(states))}")
    return program


points = st.floats(-1.5, 1.5, allow_nan=False, allow_infinity=False)


def branch_trace(program: Program, args) -> list[bool]:
    trace: list[bool] = []

    def record(value):
        trace.append(bool(value))
        return value

    namespace = {"math": math, "np": np, "_trace": record}
    exec(compile(program.render(traced=True), "<traced program>", "exec"), namespace)
    namespace["program"](*args)
    return trace


def stencil_takes_same_branches(program: Program, args) -> bool:
    """True if every finite-difference evaluation point follows the centre's branches."""
    if not program.conditions:
        return True
    centre = branch_trace(program, args)
    for pos, x0 in enumerate(args):
        h = REL_STEP * max(1.0, abs(x0))
        for step in (h, -h, h / 2, -h / 2):
            shifted = list(args)
            shifted[pos] = x0 + step
            if branch_trace(program, shifted) != centre:
                return False
    return True


def check_program(program: Program, args, program_dir, jit):
    source = program.render()
    note(source)
    note(f"args = {args!r}")
    assume(stencil_takes_same_branches(program, args))
    f = load_function(program_dir, source, "program")
    wrt = tuple(range(len(program.params)))
    g = srcdiff.grad(f, wrt=wrt, jit=jit)
    got = call_or_fail(g, args)
    check_structure(g, got, wrt)
    expected = fd_grad(f, args, wrt, rel_step=REL_STEP)
    assert_values_close(g, got, expected, rtol=1e-6, atol=1e-6, what="random program vs FD")
    return f, g, wrt


@PYTHON_SETTINGS
@given(program=straight_line_programs(), data=st.data())
def test_straight_line_programs(program, data, program_dir):
    args = data.draw(st.tuples(*[points] * len(program.params)), label="args")
    f, g, wrt = check_program(program, args, program_dir, jit=False)
    # Same function, decorated again: byte-identical source.
    assert srcdiff.grad(f, wrt=wrt, jit=False).source == g.source
    value, grads = srcdiff.value_and_grad(f, wrt=wrt, jit=False)(*args)
    assert value == pytest.approx(f(*args), rel=1e-12, abs=1e-12), g.source
    assert grads == pytest.approx(g(*args), rel=1e-12, abs=1e-12), g.source


@PYTHON_SETTINGS
@given(program=looped_programs(), data=st.data())
def test_looped_programs(program, data, program_dir):
    args = data.draw(st.tuples(*[points] * len(program.params)), label="args")
    f, g, wrt = check_program(program, args, program_dir, jit=False)
    value, _ = srcdiff.value_and_grad(f, wrt=wrt, jit=False)(*args)
    assert value == pytest.approx(f(*args), rel=1e-12, abs=1e-12), g.source


@NUMBA_SETTINGS
@given(program=straight_line_programs(), data=st.data())
def test_straight_line_programs_numba(program, data, program_dir):
    args = data.draw(st.tuples(*[points] * len(program.params)), label="args")
    with no_fallback_warning():
        check_program(program, args, program_dir, jit=None)


@NUMBA_SETTINGS
@given(program=looped_programs(), data=st.data())
def test_looped_programs_numba(program, data, program_dir):
    args = data.draw(st.tuples(*[points] * len(program.params)), label="args")
    with no_fallback_warning():
        check_program(program, args, program_dir, jit=None)
