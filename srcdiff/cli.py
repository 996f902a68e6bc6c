"""The command line: ``srcdiff show FILE.py:FUNCTION`` prints the adjoint srcdiff generates,
``srcdiff check FILE.py:FUNCTION --at x=2 z=3`` compares its gradient with references.

Anything srcdiff or the command line cannot do is one line on stderr,
``srcdiff: error: file.py:12:4: <message>``, and exit status 2 (``--debug`` adds the
traceback). ``check`` exits 1 when a reference disagrees.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import inspect
import io
import keyword
import linecache
import os
import re
import sys
import tokenize
import traceback
import types
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ._version import __version__
from .api import grad
from .backends import REQUESTS
from .errors import SrcdiffError
from .forward_api import jvp

EPILOG = """examples:
  srcdiff show examples/quiz.py:quiz
  srcdiff show model.py:loss --wrt W,b --at W='rand(3,4)' b='[0.1,0.2,0.3]' X=X.npy
  srcdiff check examples/computation_graph.py:J --at x=0.7
"""

AT_HELP = (
    "argument values, NAME=VALUE: a Python literal (2, 0.5, [1.0, 2.0]; a list becomes a "
    "float array), FILE.npy, rand(3,4) (standard normal, seeded by --seed) or randint(0,10,(5,))"
)


class CliError(Exception):
    """A mistake on the command line or in the user's file that is not srcdiff's to report:
    the message is printed as it is, after ``srcdiff: error:``."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors: argparse has printed
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except (SrcdiffError, CliError) as err:
        return _fail(str(err), args.debug)
    except Exception as err:  # a bug, or the user's code failing at --at: still one line
        hint = "" if args.debug else " (run with --debug for the traceback)"
        return _fail(f"{type(err).__name__}: {err}{hint}", args.debug)


def _fail(message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    one_line = " ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"srcdiff: error: {one_line}", file=sys.stderr)
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srcdiff",
        description="Reverse-mode automatic differentiation of Python by source transformation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"srcdiff {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of errors")
    # --debug after the subcommand as well; SUPPRESS keeps it from resetting the main flag
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of errors",
    )
    common.add_argument("target", metavar="FILE.py:FUNCTION", help="the function to differentiate")
    common.add_argument(
        "--wrt",
        metavar="NAMES",
        help="comma-separated parameter names (default: the first parameter, or the wrt of "
        "an @srcdiff.grad decorator on the function)",
    )
    common.add_argument(
        "--at", nargs="+", action="extend", default=[], metavar="NAME=VALUE", help=AT_HELP
    )
    common.add_argument("--seed", type=int, default=0, help="seed of rand(...) and randint(...)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    show = commands.add_parser(
        "show",
        parents=[common],
        help="print the generated adjoint source",
        description="Print the adjoint srcdiff generates: for the argument kinds it guesses, "
        "or, with --at, for those arguments (the gradient runs once, as plain Python).",
    )
    show.add_argument("--mode", choices=("reverse", "forward"), default="reverse")
    show.add_argument(
        "--no-optimize", action="store_true", help="skip the optimization passes (raw adjoint)"
    )
    show.add_argument("--backend", choices=REQUESTS, default="auto")
    show.set_defaults(run=_show)

    check = commands.add_parser(
        "check",
        parents=[common],
        help="compare the gradient with finite differences and SymPy",
        description="Compare srcdiff's gradient at --at with independent references; "
        "exit status 0 when all agree, 1 when one does not.",
    )
    check.add_argument(
        "--method",
        dest="methods",
        action="append",
        choices=("finite_differences", "sympy"),
        help="a reference to compare with (repeatable; default: all)",
    )
    check.add_argument("--rtol", type=float, help="relative tolerance")
    check.add_argument("--atol", type=float, help="absolute tolerance")
    check.set_defaults(run=_check)

    return parser


# --- the two commands ---------------------------------------------------------------------------


def _show(args: argparse.Namespace) -> int:
    func, default_wrt = load_function(args.target)
    wrt = _wrt(args.wrt, default_wrt)
    # the source does not depend on Numba, so a call at --at need not wait for it to compile
    options = {"wrt": wrt, "backend": args.backend, "optimize": not args.no_optimize}
    if args.mode == "forward":
        generated = jvp(func, jit=False, **options)
        if args.at:
            values = bind_arguments(func, args.at, args.seed)
            generated(*values, _unit_tangents(func, values, wrt))
    else:
        generated = grad(func, jit=False, **options)
        if args.at:
            generated(*bind_arguments(func, args.at, args.seed))
    source = generated.source
    if not source.endswith("\n"):
        source += "\n"
    print(highlight(source) if use_colour(sys.stdout) else source, end="")
    return 0


def _unit_tangents(func: Callable, values: list, wrt: str | tuple[str, ...]) -> object:
    """Tangents of ones for the arguments ``wrt`` names (to generate the code at --at)."""
    params = list(inspect.signature(func).parameters)
    names = wrt if isinstance(wrt, tuple) else (wrt,)
    ones = [
        np.ones_like(v, dtype=float) if np.ndim(v) else 1.0
        for v in (values[params.index(n)] for n in names)
    ]
    return tuple(ones) if isinstance(wrt, tuple) else ones[0]


def _check(args: argparse.Namespace) -> int:
    try:
        from .check import check_grad
    except ImportError as err:
        raise CliError("this srcdiff has no check_grad (srcdiff/check.py) yet") from err
    func, default_wrt = load_function(args.target)
    values = bind_arguments(func, args.at, args.seed)
    options: dict[str, object] = {"wrt": _wrt(args.wrt, default_wrt), "seed": args.seed}
    if args.methods:
        options["methods"] = tuple(dict.fromkeys(args.methods))
    if args.rtol is not None:
        options["rtol"] = args.rtol
    if args.atol is not None:
        options["atol"] = args.atol
    report = check_grad(func, *values, **options)
    print(report)
    return 0 if report.ok else 1


def _wrt(option: str | None, default: str | tuple[str, ...]) -> str | tuple[str, ...]:
    if option is None:
        return default
    names = tuple(name.strip() for name in option.split(",") if name.strip())
    if not names:
        raise CliError(f"--wrt {option!r}: expected parameter names, e.g. --wrt x,z")
    return names[0] if len(names) == 1 and "," not in option else names


# --- loading the user's function ----------------------------------------------------------------


def load_function(target: str) -> tuple[Callable, str | tuple[str, ...]]:
    """The function ``FILE.py:FUNCTION`` names, and the ``wrt`` to use by default: the first
    parameter, or the decorator's for a function decorated with ``srcdiff.grad``."""
    path_text, colon, name = target.rpartition(":")
    if not colon or not path_text or not name.isidentifier():
        raise CliError(f"{target!r}: expected FILE.py:FUNCTION, e.g. examples/quiz.py:quiz")
    path = Path(path_text)
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    module = load_module(path)
    found = getattr(module, name, None)
    if found is None:
        defined = ", ".join(_functions_in(module)) or "none"
        raise CliError(f"{path}: no function {name!r} (functions defined there: {defined})")
    gradient = getattr(found, "__srcdiff__", None)  # already decorated with srcdiff.grad
    if gradient is not None:
        return gradient.f, gradient.wrt
    if not isinstance(found, types.FunctionType):
        raise CliError(f"{path}: {name} is a {type(found).__name__}, not a function")
    params = list(inspect.signature(found).parameters)
    if not params:
        raise CliError(f"{path}: {name} has no parameters to differentiate with respect to")
    return found, params[0]


def load_module(path: Path) -> types.ModuleType:
    """Import ``path`` as a module of its own, with its directory first on ``sys.path``
    meanwhile so that its imports of neighbouring files work."""
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    linecache.checkcache(str(path))
    directory = str(path.resolve().parent)
    sys.path.insert(0, directory)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SrcdiffError:  # a decorator in the file rejected its function: already located
        raise
    except SyntaxError as err:
        raise CliError(f"{err.filename}:{err.lineno}: syntax error: {err.msg}") from err
    except (Exception, SystemExit) as err:
        frames = traceback.extract_tb(err.__traceback__)
        lines = [f.lineno for f in frames if os.path.abspath(f.filename) == str(path.resolve())]
        where = f"{path}:{lines[-1]}" if lines else str(path)
        raise CliError(f"{where}: importing it raised {type(err).__name__}: {err}") from err
    finally:
        if directory in sys.path:
            sys.path.remove(directory)
    return module


def _module_name(path: Path) -> str:
    """The file's own name where it is free, so that its functions say where they are from."""
    stem = re.sub(r"\W", "_", path.stem)
    name = stem if stem.isidentifier() and not keyword.iskeyword(stem) else f"_srcdiff_{stem}"
    candidate, count = name, 1
    while candidate in sys.modules:
        count += 1
        candidate = f"_srcdiff_{name}_{count}"
    return candidate


def _functions_in(module: types.ModuleType) -> list[str]:
    return [
        name
        for name, value in vars(module).items()
        if callable(value)
        and (isinstance(value, types.FunctionType) or hasattr(value, "__srcdiff__"))
        and getattr(value, "__module__", None) == module.__name__
    ]


# --- argument values ----------------------------------------------------------------------------


def bind_arguments(func: Callable, items: Sequence[str], seed: int = 0) -> tuple:
    """The positional arguments ``--at NAME=VALUE ...`` gives ``func``; parameters with a
    default may be left out. Random arrays are seeded by ``seed`` and the parameter's
    position, so they do not depend on the order of the items."""
    params = inspect.signature(func).parameters
    given: dict[str, object] = {}
    for item in items:
        name, equals, text = item.partition("=")
        name = name.strip()
        if not equals or not name:
            raise CliError(f"--at {item!r}: expected NAME=VALUE, e.g. --at x=2.0")
        if name not in params:
            raise CliError(
                f"--at {item}: {func.__name__} has no parameter {name!r} "
                f"(its parameters: {', '.join(params)})"
            )
        if name in given:
            raise CliError(f"--at {item}: {name} is given twice")
        rng = np.random.default_rng([seed, list(params).index(name)])
        given[name] = parse_value(text, rng, f"--at {item}")
    missing = [n for n, p in params.items() if n not in given and p.default is p.empty]
    if missing:
        raise CliError(
            f"{func.__name__} needs a value for {', '.join(missing)}: pass --at "
            + " ".join(f"{n}=..." for n in missing)
        )
    return tuple(given[n] if n in given else p.default for n, p in params.items())


def parse_value(text: str, rng: np.random.Generator, what: str = "value") -> object:
    """One ``--at`` value: a literal, ``FILE.npy``, ``rand(shape...)`` or ``randint(...)``."""
    text = text.strip()
    if text.endswith(".npy"):
        try:
            return np.load(text)
        except (OSError, ValueError) as err:
            raise CliError(f"{what}: cannot load {text}: {err}") from err
    try:
        node = ast.parse(text, mode="eval").body
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            call_args = [ast.literal_eval(arg) for arg in node.args]
            if node.func.id == "rand":  # rand(3, 4) or rand((3, 4)); rand() is a float
                shape = (
                    call_args[0]
                    if len(call_args) == 1 and isinstance(call_args[0], tuple)
                    else call_args
                )
                return rng.standard_normal(tuple(shape)) if shape else float(rng.standard_normal())
            if node.func.id == "randint" and len(call_args) in (2, 3):
                return rng.integers(*call_args)
        value = ast.literal_eval(node)
    except (SyntaxError, ValueError, TypeError) as err:
        raise CliError(f"{what}: {_AT_FORMS}") from err
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value, dtype=np.float64)
        except ValueError as err:
            raise CliError(f"{what}: not a rectangular list of numbers ({err})") from err
    if isinstance(value, (bool, int, float)):
        return value
    raise CliError(f"{what}: {_AT_FORMS}")


_AT_FORMS = "expected a number, a list of numbers, FILE.npy, rand(3,4) or randint(0,10,(5,))"


# --- syntax highlighting ------------------------------------------------------------------------

_RESET = "\033[0m"
_COLOURS = {
    "keyword": "\033[1;35m",  # bold magenta
    "comment": "\033[90m",  # grey
    "string": "\033[32m",  # green
    "number": "\033[36m",  # cyan
}
_STRING_TOKENS = {tokenize.STRING} | {
    getattr(tokenize, name)
    for name in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
    if hasattr(tokenize, name)
}


def use_colour(stream: io.TextIOBase) -> bool:
    """Colour for a terminal, unless ``NO_COLOR`` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def highlight(source: str) -> str:
    """``source`` with ANSI colours on keywords, comments, strings and numbers; unchanged if
    it does not tokenize."""
    starts = [0]  # offset of each line, as tokenize counts lines (split at "\n" only)
    for line in source.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    pieces, done = [], 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            colour = _COLOURS.get(_token_class(token))
            if colour is None:
                continue
            start = starts[token.start[0] - 1] + token.start[1]
            end = starts[token.end[0] - 1] + token.end[1]
            pieces.append(source[done:start])
            # colour each line of a multi-line string on its own, as terminals and pagers expect
            parts = source[start:end].split("\n")
            pieces.append("\n".join(colour + part + _RESET if part else part for part in parts))
            done = end
    except (tokenize.TokenError, SyntaxError):
        return source
    pieces.append(source[done:])
    return "".join(pieces)


def _token_class(token: tokenize.TokenInfo) -> str | None:
    if token.type == tokenize.NAME and keyword.iskeyword(token.string):
        return "keyword"
    if token.type == tokenize.COMMENT:
        return "comment"
    if token.type in _STRING_TOKENS:
        return "string"
    if token.type == tokenize.NUMBER:
        return "number"
    return None
