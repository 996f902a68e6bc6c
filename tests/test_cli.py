"""The command line, ``srcdiff show`` and ``srcdiff check``: end to end in a subprocess for
what only a real process shows (exit status, no traceback, ``python -m srcdiff``), in
process through ``main([...])`` for the rest (each subprocess costs a second of imports).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

import srcdiff
from srcdiff import cli

REPO = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")

UNSUPPORTED = """\
import math


def f(x):
    try:
        y = math.sin(x)
    except ValueError:
        y = 0.0
    return y
"""

ARRAYS = """\
import numpy as np


def loss(W, b, X, scale=2.0):
    h = np.tanh(X @ W + b)
    return scale * np.sum(h * h)
"""

GRAPH = """\
import math


def J(x):
    a = x**2
    b = math.sin(a)
    c = 3 * a
    d = b + c
    return math.cos(d)
"""


def run_srcdiff(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)  # conftest has pointed SRCDIFF_CACHE_DIR at a temporary directory
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "srcdiff", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture(autouse=True)
def forget_loaded_files(tmp_path):
    """``main`` imports the user's file as a module; drop the ones these tests wrote."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", "")).startswith(str(tmp_path)):
            del sys.modules[name]


def error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("srcdiff: error: "), stderr
    return lines[0]


# --- end to end ---------------------------------------------------------------------------------


def test_version_and_help():
    version = run_srcdiff("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"srcdiff {srcdiff.__version__}"
    helped = run_srcdiff("--help")
    assert helped.returncode == 0, helped.stderr
    assert "show" in helped.stdout and "check" in helped.stdout


def test_show_quiz_uses_the_decorators_wrt():
    done = run_srcdiff("show", "examples/quiz.py:quiz")
    assert done.returncode == 0, done.stderr
    assert "def quiz_adjoint(x, z, g_y=1.0):" in done.stdout
    assert "return (g_x, g_z)" in done.stdout
    assert "\x1b[" not in done.stdout  # not a terminal: plain text


def test_show_computation_graph_at_a_point():
    done = run_srcdiff("show", "examples/computation_graph.py:J", "--at", "x=0.7")
    assert done.returncode == 0, done.stderr
    assert "def J_adjoint(x, g_y=1.0):" in done.stdout
    assert "# computation_graph.py:17  b = math.sin(a)" in done.stdout


def test_unsupported_construct_is_one_line_with_file_and_line(tmp_path):
    path = write(tmp_path, "cli_unsupported.py", UNSUPPORTED)
    done = run_srcdiff("show", f"{path}:f")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    line = error_line(done.stderr)
    assert line.startswith(f"srcdiff: error: {path}:5:")  # the line of `try:`
    assert "try/except" in line


def test_missing_function_and_forward_mode(tmp_path):
    path = write(tmp_path, "cli_graph.py", GRAPH)
    missing = run_srcdiff("show", f"{path}:K")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "no function 'K'" in error_line(missing.stderr)
    assert "J" in missing.stderr  # lists what the file does define
    forward = run_srcdiff("show", f"{path}:J", "--mode", "forward", "--at", "x=0.7")
    assert forward.returncode == 0, forward.stderr
    assert "def J_jvp(x, d_x):" in forward.stdout
    assert "forward mode" in forward.stdout.splitlines()[0]


def test_check_a_good_gradient():
    if not hasattr(srcdiff, "check_grad"):
        pytest.skip("srcdiff.check_grad is not there yet")
    done = run_srcdiff("check", "examples/computation_graph.py:J", "--at", "x=0.7")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "finite_differences" in done.stdout


# --- in process ---------------------------------------------------------------------------------


def test_show_arrays_with_wrt_rand_and_npy(tmp_path, capsys):
    path = write(tmp_path, "cli_arrays.py", ARRAYS)
    np.save(tmp_path / "b.npy", np.linspace(-1.0, 1.0, 4))
    at = ["W=rand(3,4)", f"b={tmp_path / 'b.npy'}", "X=rand(5, 3)"]
    assert cli.main(["show", f"{path}:loss", "--wrt", "W,b", "--at", *at]) == 0
    out = capsys.readouterr().out
    assert "def loss_adjoint(W, b, X, scale, g_y=1.0):" in out
    assert "g_W" in out and "g_b" in out and "g_X" not in out
    assert "\x1b[" not in out


def test_wrt_defaults_to_the_first_parameter(tmp_path, capsys):
    path = write(tmp_path, "cli_arrays_first.py", ARRAYS)
    assert (
        cli.main(["show", f"{path}:loss", "--at", "W=rand(3,4)", "b=[0,1,2,3]", "X=rand(2,3)"]) == 0
    )
    out = capsys.readouterr().out
    assert "returns dloss/dW." in out


def test_no_optimize_shows_the_raw_adjoint(tmp_path, capsys):
    path = write(tmp_path, "cli_graph_raw.py", GRAPH)
    assert cli.main(["show", f"{path}:J"]) == 0
    optimized = capsys.readouterr().out
    assert cli.main(["show", f"{path}:J", "--no-optimize"]) == 0
    raw = capsys.readouterr().out
    assert raw != optimized
    assert "g_a = 0.0" in raw and "g_a = 0.0" not in optimized


def test_colour_on_a_terminal_unless_no_color(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "cli_graph_colour.py", GRAPH)
    terminal, pipe = types.SimpleNamespace(isatty=lambda: True), types.SimpleNamespace()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert cli.use_colour(terminal) and not cli.use_colour(pipe)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli.use_colour(terminal)
    plain = "def f(x):  # comment\n    return 'a' + 1.5\n"
    coloured = cli.highlight(plain)
    assert ANSI.sub("", coloured) == plain
    assert "\x1b[1;35mdef\x1b[0m" in coloured and "\x1b[36m1.5\x1b[0m" in coloured
    assert "\x1b[90m# comment\x1b[0m" in coloured and "\x1b[32m'a'\x1b[0m" in coloured
    monkeypatch.setattr(cli, "use_colour", lambda stream: True)
    assert cli.main(["show", f"{path}:J"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" in out and "def J_adjoint" in ANSI.sub("", out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "cli_graph_errors.py"], "expected FILE.py:FUNCTION"),
        (["show", "no/such/file.py:J"], "no such file"),
        (["show", "{path}:J", "--at", "x=hello"], "--at x=hello: expected a number"),
        (["show", "{path}:J", "--at", "y=1"], "J has no parameter 'y'"),
        (["show", "{path}:J", "--at", "x"], "expected NAME=VALUE"),
        (["show", "{path}:J", "--at", "x=1", "x=2"], "x is given twice"),
        (["show", "{path}:J", "--at", "x=missing.npy"], "cannot load missing.npy"),
        (["show", "{path}:J", "--wrt", "q"], "has no parameter named 'q'"),
        (["check", "{path}:J"], "J needs a value for x: pass --at x=..."),
    ],
)
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, args, message):
    path = write(tmp_path, "cli_graph_errors.py", GRAPH)
    assert cli.main([a.format(path=path) for a in args]) == 2
    captured = capsys.readouterr()
    assert message in error_line(captured.err)
    assert "Traceback" not in captured.err


def test_errors_in_the_users_module(tmp_path, capsys):
    path = write(tmp_path, "cli_boom.py", "x = 1\nraise RuntimeError('kaboom')\n")
    assert cli.main(["show", f"{path}:f"]) == 2
    assert f"{path}:2: importing it raised RuntimeError: kaboom" in error_line(
        capsys.readouterr().err
    )


def test_the_users_file_imports_its_neighbours(tmp_path, capsys):
    write(tmp_path, "cli_neighbour_constants.py", "SCALE = 2.0\n")
    path = write(
        tmp_path,
        "cli_uses_neighbour.py",
        "from cli_neighbour_constants import SCALE\n\n\ndef g(x):\n    return SCALE * x * x\n",
    )
    assert cli.main(["show", f"{path}:g", "--at", "x=3"]) == 0
    assert "def g_adjoint(x, g_y=1.0):" in capsys.readouterr().out
    assert str(tmp_path) not in sys.path


def test_debug_shows_the_traceback(tmp_path, capsys):
    path = write(tmp_path, "cli_unsupported_debug.py", UNSUPPORTED)
    assert cli.main(["show", f"{path}:f", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("srcdiff: error: ")


def test_argument_values():
    rng = np.random.default_rng(0)
    assert cli.parse_value("2", rng) == 2 and isinstance(cli.parse_value("2", rng), int)
    assert cli.parse_value("-1.5e-3", rng) == -1.5e-3
    array = cli.parse_value("[[1, 2], [3, 4]]", rng)
    assert array.dtype == np.float64 and array.shape == (2, 2)
    assert cli.parse_value("rand(3,4)", rng).shape == (3, 4)
    assert cli.parse_value("rand((2, 5))", rng).shape == (2, 5)
    labels = cli.parse_value("randint(0, 10, (5,))", rng)
    assert labels.shape == (5,) and labels.dtype.kind == "i" and labels.max() < 10


def test_random_arguments_are_seeded_by_parameter_not_order():
    def f(a, b, n=3):
        return a

    one = cli.bind_arguments(f, ["a=rand(3)", "b=rand(3)"], seed=0)
    two = cli.bind_arguments(f, ["b=rand(3)", "a=rand(3)"], seed=0)
    other = cli.bind_arguments(f, ["a=rand(3)", "b=rand(3)"], seed=1)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])
    assert not np.array_equal(one[0], one[1]) and not np.array_equal(one[0], other[0])
    assert one[2] == 3  # the default


def test_check_passes_its_options_and_exits_1_on_a_mismatch(tmp_path, capsys, monkeypatch):
    """The plumbing of ``check``, against a stand-in for ``check_grad``."""
    calls = []

    class Report(types.SimpleNamespace):
        def __str__(self):
            return "method  status\nstand-in table"

    def fake(f, *args, **options):
        calls.append((f.__name__, args, options))
        return Report(ok=options.get("rtol", 0) > 1e-3)

    monkeypatch.setitem(sys.modules, "srcdiff.check", types.SimpleNamespace(check_grad=fake))
    path = write(tmp_path, "cli_graph_check.py", GRAPH)
    common = ["check", f"{path}:J", "--at", "x=0.7", "--method", "sympy", "--seed", "4"]
    assert cli.main([*common, "--rtol", "0.01", "--atol", "0"]) == 0
    assert "stand-in table" in capsys.readouterr().out
    assert calls[-1] == (
        "J",
        (0.7,),
        {"wrt": "x", "seed": 4, "methods": ("sympy",), "rtol": 0.01, "atol": 0.0},
    )
    assert cli.main([*common, "--rtol", "1e-9", "--wrt", "x"]) == 1
