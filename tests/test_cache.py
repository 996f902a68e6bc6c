"""The on-disk cache: content-addressed modules, atomic writes, and Numba's machine-code cache.

Tests whose names contain ``processes`` start fresh Python interpreters (a cold Numba cache
cannot be had in-process); deselect them with ``-k "not processes"``. Every child gets its
own cache directory through ``SRCDIFF_CACHE_DIR`` and a timeout.
"""

from __future__ import annotations

import builtins
import errno
import inspect
import json
import linecache
import os
import pickle
import shutil
import stat
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import pytest
from conftest import fd_grad, load_function, no_fallback_warning
from numba.core import event
from numba.core.caching import FunctionCache, IndexDataCacheFile

import srcdiff
from srcdiff.jit import cache_dir, module_path, write_module

PACKAGE_ROOT = Path(srcdiff.__file__).resolve().parent.parent
CHILD_TIMEOUT = 120  # seconds; generous, so a loaded machine fails slowly rather than falsely

PROGRAM = """\
import math


def quiz(x, z):
    xz = x * z
    return math.exp(xz) + xz / math.log(x) + math.sin(math.log(x)) / xz


def damped(x, n):
    s = x
    for i in range(n):
        s = math.sin(s) * x + 0.1 * i
    return s
"""
QUIZ_ARGS = (1.5, 0.7)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty cache directory for this test, also seen by ``srcdiff.jit`` in-process."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("SRCDIFF_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def program(tmp_path):
    """The module holding ``quiz`` and ``damped``; children import it from ``program_dir``."""
    quiz = load_function(tmp_path, PROGRAM, "quiz")
    return sys.modules[quiz.__module__]


def program_dir(program: types.ModuleType) -> Path:
    # load_function imports a program once per session, so it may live in another test's tmp_path
    return Path(program.__file__).parent


def generated_modules(directory: Path) -> list[Path]:
    return sorted(directory.glob("srcdiff_*.py"))


def numba_files(directory: Path, stem: str | None = None) -> dict[str, int]:
    """Numba's index and code files in ``directory/__pycache__``, name -> mtime in ns."""
    pycache = directory / "__pycache__"
    if not pycache.is_dir():
        return {}
    return {
        entry.name: entry.stat().st_mtime_ns
        for entry in pycache.iterdir()
        if entry.suffix in (".nbi", ".nbc") and (stem is None or entry.name.startswith(stem + "."))
    }


def temp_files(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.startswith(".tmp-"))


def child_env(cache: Path, *paths: Path) -> dict[str, str]:
    env = dict(os.environ, SRCDIFF_CACHE_DIR=str(cache))
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_ROOT), *map(str, paths), *filter(None, [env.get("PYTHONPATH")])]
    )
    return env


def run_children(
    script: str, args_per_child: list[list[str]], env: dict[str, str], cwd: Path | None = None
) -> list[dict]:
    """Start one child per argument list at once; return each one's JSON report."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        for args in args_per_child
    ]
    reports = []
    for number, child in enumerate(children):
        try:
            out, err = child.communicate(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            for other in children:
                other.kill()
            raise
        assert child.returncode == 0, f"child {number} exited with {child.returncode}:\n{err}"
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


# --- one process compiles, the next loads ------------------------------------------------------

# Reports, after the first call of the gradient: the value, Numba's cache statistics for every
# generated function of the module, and which generated files Numba actually compiled (a
# "numba:compile" event fires only when code is compiled, never when it is loaded from disk).
GRADIENT_CHILD = """
import json, sys
from numba.core import event
from numba.core.dispatcher import Dispatcher
import srcdiff
from srcdiff.jit import module_path

module = __import__(sys.argv[1])
wrt = json.loads(sys.argv[3])
g = srcdiff.grad(getattr(module, sys.argv[2]), wrt=tuple(wrt), jit=True)
with event.install_recorder("numba:compile") as recorder:
    value = g(*json.loads(sys.argv[4]))
path = module_path(g.source)
generated = sys.modules["_srcdiff_generated." + path.stem]
hits = misses = 0
for name in g.__srcdiff__._default.functions:
    dispatcher = getattr(generated, name)
    assert isinstance(dispatcher, Dispatcher), name
    hits += sum(dispatcher.stats.cache_hits.values())
    misses += sum(dispatcher.stats.cache_misses.values())
compiled = sorted(
    ev.data["dispatcher"].py_func.__code__.co_filename
    for _, ev in recorder.buffer
    if ev.is_start
)
print(json.dumps({
    "value": [repr(v) for v in value],
    "entry_is_dispatcher": isinstance(g.__srcdiff__._default.run, Dispatcher),
    "path": str(path),
    "hits": hits,
    "misses": misses,
    "compiled_generated": [f for f in compiled if f == str(path)],
}))
"""


def test_second_process_loads_the_gradient_from_numbas_cache(program, tmp_path):
    cache = tmp_path / "shared-cache"
    env = child_env(cache, program_dir(program))
    args = [program.__name__, "quiz", "[0, 1]", json.dumps(QUIZ_ARGS)]

    (first,) = run_children(GRADIENT_CHILD, [args], env)
    module = Path(first["path"])
    assert module.parent == cache and module.is_file()
    files_after_first = numba_files(cache, module.stem)
    module_mtime = module.stat().st_mtime_ns
    assert first["entry_is_dispatcher"]
    assert first["misses"] >= 1 and first["hits"] == 0, first
    assert first["compiled_generated"], f"Numba compiled nothing from {module}: {first}"
    assert any(name.endswith(".nbi") for name in files_after_first), files_after_first
    assert any(name.endswith(".nbc") for name in files_after_first), files_after_first

    (second,) = run_children(GRADIENT_CHILD, [args], env)
    assert second["path"] == first["path"]
    assert second["entry_is_dispatcher"]
    assert second["misses"] == 0 and second["hits"] >= 1, second
    assert second["compiled_generated"] == [], second
    assert numba_files(cache, module.stem) == files_after_first, "Numba rewrote its cache"
    assert module.stat().st_mtime_ns == module_mtime, "the generated module was rewritten"
    assert second["value"] == first["value"]
    expected = fd_grad(program.quiz, QUIZ_ARGS, (0, 1))
    assert [float(v) for v in first["value"]] == pytest.approx(expected, rel=1e-6)


# --- content addressing ------------------------------------------------------------------------


def test_the_module_path_is_the_address_of_the_content(program, fresh_cache):
    first = srcdiff.grad(program.quiz, wrt=(0, 1), jit=False)
    again = srcdiff.grad(program.quiz, wrt=(0, 1), jit=False)
    compiled = srcdiff.grad(program.quiz, wrt=(0, 1))
    other_wrt = srcdiff.grad(program.quiz, wrt=0, jit=False)
    other_function = srcdiff.grad(program.damped, jit=False)

    path = module_path(first.source)
    assert path.parent == cache_dir() == fresh_cache
    assert module_path(again.source) == path
    assert module_path(compiled.source) == path, "jit= must not change the generated module"
    assert len({path, module_path(other_wrt.source), module_path(other_function.source)}) == 3
    assert generated_modules(fresh_cache) == sorted(
        {path, module_path(other_wrt.source), module_path(other_function.source)}
    )
    for g in (first, other_wrt, other_function):
        assert module_path(g.source).read_text(encoding="utf-8") == g.source
    assert temp_files(fresh_cache) == []


def test_an_existing_module_is_never_rewritten(program, fresh_cache):
    # Numba keys its cache on the module's timestamp: rewriting it would discard compiled code.
    source = srcdiff.grad(program.quiz, jit=False).source
    path = module_path(source)
    before = path.stat().st_mtime_ns
    time.sleep(0.01)  # so a rewrite would show in the timestamp, even on coarse clocks
    assert write_module(source) == path
    srcdiff.grad(program.quiz, jit=False)
    assert path.stat().st_mtime_ns == before
    assert path.read_text(encoding="utf-8") == source


# --- concurrent writers ------------------------------------------------------------------------

# Waits for the start signal, then writes the same module 50 times and imports it.
WRITER_CHILD = """
import json, os, sys, time
from pathlib import Path
from srcdiff.jit import import_module, module_path, write_module

source = Path(sys.argv[1]).read_text(encoding="utf-8")
deadline = time.monotonic() + 60
while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.001)
paths = {str(write_module(source)) for _ in range(50)}
assert paths == {str(module_path(source))}, paths
module = import_module(source, write_module(source))
print(json.dumps({"value": repr(module.quiz_adjoint(1.5, 0.7))}))
"""


def test_processes_writing_the_same_module_at_once_leave_one_whole_file(program, tmp_path):
    source = srcdiff.grad(program.quiz, wrt=(0, 1), jit=False).source
    source_file = tmp_path / "source.txt"
    source_file.write_text(source, encoding="utf-8")
    cache = tmp_path / "shared-cache"
    go = tmp_path / "go"
    env = child_env(cache)

    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_CHILD, str(source_file), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(6)
    ]
    time.sleep(0.5)  # let the interpreters start, so the writes really overlap
    go.touch()
    values = set()
    for number, child in enumerate(children):
        out, err = child.communicate(timeout=CHILD_TIMEOUT)
        assert child.returncode == 0, f"writer {number} exited with {child.returncode}:\n{err}"
        values.add(json.loads(out)["value"])

    expected_path = cache / module_path(source).name
    assert generated_modules(cache) == [expected_path]
    assert expected_path.read_text(encoding="utf-8") == source
    assert temp_files(cache) == []
    assert len(values) == 1, values


def test_processes_compiling_the_same_gradient_at_once_agree(program, tmp_path):
    cache = tmp_path / "shared-cache"
    env = child_env(cache, program_dir(program))
    quiz = [program.__name__, "quiz", "[0, 1]", json.dumps(QUIZ_ARGS)]
    damped = [program.__name__, "damped", "[0]", json.dumps([0.8, 7])]

    reports = run_children(GRADIENT_CHILD, [quiz, damped] * 3, env)
    by_function = {"quiz": reports[0::2], "damped": reports[1::2]}

    for name, same in by_function.items():
        assert len({r["path"] for r in same}) == 1, (name, same)
        assert len({tuple(r["value"]) for r in same}) == 1, (name, same)
        assert all(r["entry_is_dispatcher"] for r in same), (name, same)
    assert generated_modules(cache) == sorted({Path(r["path"]) for r in reports})
    assert temp_files(cache) == []
    quiz_value = [float(v) for v in by_function["quiz"][0]["value"]]
    assert quiz_value == pytest.approx(fd_grad(program.quiz, QUIZ_ARGS, (0, 1)), rel=1e-6)
    damped_value = [float(v) for v in by_function["damped"][0]["value"]]
    assert damped_value == pytest.approx(fd_grad(program.damped, (0.8, 7), (0,)), rel=1e-6)


# --- jit=False ---------------------------------------------------------------------------------


def test_jit_false_writes_the_module_and_runs_it_as_plain_python(program, fresh_cache):
    g = srcdiff.grad(program.quiz, wrt=(0, 1), jit=False)
    path = module_path(g.source)
    assert path.read_text(encoding="utf-8") == g.source, "written at decoration, before a call"

    with event.install_recorder("numba:compile") as recorder:
        value = g(*QUIZ_ARGS)
        loop_value = srcdiff.grad(program.damped, jit=False)(0.8, 7)
    assert [ev for _, ev in recorder.buffer] == [], "jit=False compiled something with Numba"

    assert type(value) is tuple and all(type(v) is float for v in value), value
    assert value == pytest.approx(fd_grad(program.quiz, QUIZ_ARGS, (0, 1)), rel=1e-6)
    assert isinstance(loop_value, float), loop_value
    assert loop_value == pytest.approx(fd_grad(program.damped, (0.8, 7), 0), rel=1e-6)

    entry = inspect.unwrap(g.__srcdiff__._default.run)
    assert isinstance(entry, types.FunctionType), entry
    assert entry.__code__.co_filename == str(path), "tracebacks should show the generated file"
    assert numba_files(fresh_cache) == {}


# --- what the directory holds is checked -------------------------------------------------------

PLANTED_MARK = "srcdiff_planted_code_ran"
PLANTED_STATEMENT = f"\nimport builtins\nbuiltins.{PLANTED_MARK} = True\n"
DAMAGES = {
    "planted": lambda source: source + PLANTED_STATEMENT,
    "truncated": lambda source: source[: len(source) // 2],
    "empty": lambda source: "",
}


@pytest.fixture
def forget_loaded_modules(monkeypatch):
    """Generated modules this process loaded are loaded again; planted code leaves no mark."""
    for name in [name for name in sys.modules if name.startswith("_srcdiff_generated.")]:
        monkeypatch.delitem(sys.modules, name)
    yield
    if hasattr(builtins, PLANTED_MARK):
        delattr(builtins, PLANTED_MARK)


def srcdiff_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if str(w.message).startswith("srcdiff:")]


@pytest.mark.parametrize("moment", ["before the decoration", "before the first call"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_or_planted_module_is_replaced_and_never_run(
    program, fresh_cache, forget_loaded_modules, damage, moment
):
    source = srcdiff.grad(program.quiz, wrt=(0, 1), jit=False).source
    path = module_path(source)

    with no_fallback_warning():
        if moment == "before the decoration":
            path.write_text(DAMAGES[damage](source), encoding="utf-8")
        g = srcdiff.grad(program.quiz, wrt=(0, 1), jit=True)
        if moment == "before the first call":
            path.write_text(DAMAGES[damage](source), encoding="utf-8")
        value = g(*QUIZ_ARGS)

    assert not hasattr(builtins, PLANTED_MARK), "the planted module ran"
    assert value == pytest.approx(fd_grad(program.quiz, QUIZ_ARGS, (0, 1)), rel=1e-6)
    assert path.read_text(encoding="utf-8") == source
    assert temp_files(fresh_cache) == []


def test_a_module_file_of_another_user_is_replaced(program, fresh_cache):
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    source = srcdiff.grad(program.quiz, jit=False).source
    path = module_path(source)
    os.chown(path, 65534, 65534)  # the right bytes, but its owner could change them at any time
    assert write_module(source) == path
    assert path.stat().st_uid == 0
    assert path.read_text(encoding="utf-8") == source


def test_a_replaced_module_gets_a_timestamp_apart_from_the_damaged_files(program, fresh_cache):
    # Numba knows a source file by its timestamp and size (or by a hash it memoises on them)
    source = srcdiff.grad(program.quiz, jit=False).source
    path = module_path(source)
    path.write_bytes(b"#" * len(source.encode("utf-8")))
    now = time.time_ns()
    os.utime(path, ns=(now, now))

    assert write_module(source) == path
    assert path.read_text(encoding="utf-8") == source
    assert path.stat().st_mtime_ns - now >= 2_000_000_000


# Compiles a planted module with Numba's cache, as srcdiff did when it imported whatever file
# had the right name: Numba's cache then holds machine code for the planted text.
PLANTED_COMPILE_CHILD = """
import importlib.util, json, os, sys
import numba

name = "_srcdiff_generated." + os.path.basename(sys.argv[1])[: -len(".py")]
spec = importlib.util.spec_from_file_location(name, sys.argv[1])
module = sys.modules[name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
entry = numba.njit(cache=True, error_model="numpy")(getattr(module, sys.argv[2]))
print(json.dumps({"value": [repr(v) for v in entry(*json.loads(sys.argv[3]))]}))
"""


def test_processes_never_load_machine_code_compiled_from_a_planted_module(program, tmp_path):
    source = srcdiff.grad(program.quiz, wrt=(0, 1), jit=False).source
    # same size, and the same bytecode (part of Numba's key): cos becomes tan, a new name too
    assert source.count("math.cos(") == 1 and "math.tan(" not in source, source
    planted = source.replace("math.cos(", "math.tan(")
    cache = tmp_path / "shared-cache"
    cache.mkdir(mode=0o700)
    path = cache / module_path(source).name
    path.write_text(planted, encoding="utf-8")
    env = child_env(cache, program_dir(program))

    entry = srcdiff.grad(program.quiz, wrt=(0, 1), jit=False).__srcdiff__._default.entry
    seeded = json.dumps([*QUIZ_ARGS, 1.0])  # the arguments srcdiff passes, so the same signature
    (plant,) = run_children(PLANTED_COMPILE_CHILD, [[str(path), entry, seeded]], env)
    assert numba_files(cache, path.stem), "the planted module left no Numba cache"
    expected = fd_grad(program.quiz, QUIZ_ARGS, (0, 1))
    assert [float(v) for v in plant["value"]] != pytest.approx(expected, rel=1e-3)

    args = [program.__name__, "quiz", "[0, 1]", json.dumps(QUIZ_ARGS)]
    (report,) = run_children(GRADIENT_CHILD, [args], env)
    assert report["path"] == str(path)
    assert [float(v) for v in report["value"]] == pytest.approx(expected, rel=1e-6)
    assert report["hits"] == 0 and report["compiled_generated"] == [str(path)], report
    assert path.read_text(encoding="utf-8") == source


def test_processes_compile_again_over_a_damaged_numba_cache(program, tmp_path):
    cache = tmp_path / "shared-cache"
    env = child_env(cache, program_dir(program))
    args = [program.__name__, "quiz", "[0, 1]", json.dumps(QUIZ_ARGS)]
    (first,) = run_children(GRADIENT_CHILD, [args], env)
    stem = Path(first["path"]).stem
    damaged = numba_files(cache, stem)
    assert damaged, first
    for name in damaged:
        (cache / "__pycache__" / name).write_bytes(b"")

    (second,) = run_children(GRADIENT_CHILD, [args], env)
    assert second["value"] == first["value"]
    assert second["misses"] >= 1 and second["compiled_generated"] == [first["path"]], second
    written_again = [cache / "__pycache__" / name for name in numba_files(cache, stem)]
    assert written_again and all(path.stat().st_size > 0 for path in written_again)


# --- a private directory -----------------------------------------------------------------------


def test_the_cache_directory_is_created_private(program, fresh_cache):
    umask = os.umask(0o022)  # what most users have: directories 0755, files 0644
    try:
        g = srcdiff.grad(program.quiz, jit=False)
    finally:
        os.umask(umask)
    mode = lambda path: stat.S_IMODE(path.stat().st_mode)  # noqa: E731
    assert mode(fresh_cache) == 0o700
    assert mode(fresh_cache / "__pycache__") == 0o700, "Numba's cache lives there"
    assert mode(module_path(g.source)) == 0o600


@pytest.mark.parametrize("others", ["group-writable", "world-writable", "another user's"])
def test_a_cache_directory_others_can_write_is_not_used(
    program, fresh_cache, forget_loaded_modules, monkeypatch, others
):
    source = srcdiff.grad(program.quiz, wrt=(0, 1), jit=False).source
    path = module_path(source)
    path.write_text(source + PLANTED_STATEMENT, encoding="utf-8")  # someone else's code
    if others == "group-writable":
        os.chmod(fresh_cache, 0o770)
        reason = "other users can write to it (mode 770)"
    elif others == "world-writable":
        os.chmod(fresh_cache, 0o1777)
        reason = "other users can write to it (mode 1777)"
    elif os.geteuid() == 0:
        os.chown(fresh_cache, 65534, 65534)
        reason = "it belongs to user 65534, not to you (user 0)"
    else:  # simulated: only root can give a directory away
        uid = os.geteuid()
        monkeypatch.setattr(os, "geteuid", lambda: uid + 1)
        reason = f"it belongs to user {uid}, not to you (user {uid + 1})"
    listing = sorted(os.listdir(fresh_cache))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = srcdiff.grad(program.quiz, wrt=(0, 1), jit=True)(*QUIZ_ARGS)
        loop_value = srcdiff.grad(program.damped, jit=True)(0.8, 7)

    assert not hasattr(builtins, PLANTED_MARK), "the planted module ran"
    assert value == pytest.approx(fd_grad(program.quiz, QUIZ_ARGS, (0, 1)), rel=1e-6)
    assert loop_value == pytest.approx(fd_grad(program.damped, (0.8, 7), 0), rel=1e-6)
    (message,) = srcdiff_warnings(caught)
    assert f"cannot use the cache directory {fresh_cache}: {reason}" in message
    assert sorted(os.listdir(fresh_cache)) == listing, "srcdiff wrote into the directory"
    assert path.read_text(encoding="utf-8") == source + PLANTED_STATEMENT


class RunsWhenLoaded:
    """Unpickling this runs code, as any pickle may."""

    def __reduce__(self):
        return exec, (f"import builtins; builtins.{PLANTED_MARK} = True",)


def test_numba_reads_no_cache_file_from_a_directory_others_can_write(
    program, fresh_cache, forget_loaded_modules
):
    source = srcdiff.grad(program.quiz, wrt=(0, 1), jit=False).source
    path = module_path(source)
    pycache = fresh_cache / "__pycache__"
    pycache.mkdir(exist_ok=True)
    os.chmod(pycache, 0o777)
    # a planted index for every generated function, where Numba's own code looks for it
    generated: dict[str, object] = {}
    exec(compile(source, str(path), "exec"), generated)
    functions = [
        f
        for f in generated.values()
        if isinstance(f, types.FunctionType) and f.__code__.co_filename == str(path)
    ]
    assert functions, "the generated module defines no function"
    for function in functions:
        index = Path(FunctionCache(function)._cache_file._index_path)
        assert index.parent == pycache
        index.write_bytes(pickle.dumps(RunsWhenLoaded()))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = srcdiff.grad(program.quiz, wrt=(0, 1), jit=True)(*QUIZ_ARGS)

    assert not hasattr(builtins, PLANTED_MARK), "Numba loaded a pickle others could have planted"
    assert value == pytest.approx(fd_grad(program.quiz, QUIZ_ARGS, (0, 1)), rel=1e-6)
    (message,) = srcdiff_warnings(caught)
    assert f"not using Numba's cache in {pycache}: other users can write to it" in message


# --- nowhere to write --------------------------------------------------------------------------


@pytest.mark.parametrize("unusable", ["under a regular file", "read-only", "full"])
def test_an_unusable_cache_directory_costs_one_warning(
    program, tmp_path, monkeypatch, forget_loaded_modules, writable_again, unusable
):
    if unusable == "under a regular file":
        (tmp_path / "a-file").write_text("")
        directory, reason = tmp_path / "a-file" / "cache", "Not a directory"
    elif unusable == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes through chmod 0500 (the other cases run)")
        directory, reason = tmp_path / "read-only", "Permission denied"
        directory.mkdir()
        os.chmod(directory, 0o500)
    else:  # simulated: no test machine lends a full file system
        directory, reason = tmp_path / "full", "No space left on device"

        def disk_full(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "fsync", disk_full)
    monkeypatch.setenv("SRCDIFF_CACHE_DIR", str(directory))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = srcdiff.grad(program.quiz, wrt=(0, 1), jit=True)(*QUIZ_ARGS)
        loop_value = srcdiff.grad(program.damped, jit=True)(0.8, 7)
        plain = srcdiff.grad(program.quiz, wrt=(0, 1), jit=False)
        plain_value = plain(*QUIZ_ARGS)

    expected = fd_grad(program.quiz, QUIZ_ARGS, (0, 1))
    assert value == pytest.approx(expected, rel=1e-6)
    assert plain_value == pytest.approx(expected, rel=1e-6)
    assert loop_value == pytest.approx(fd_grad(program.damped, (0.8, 7), 0), rel=1e-6)
    (message,) = srcdiff_warnings(caught)
    assert f"cannot use the cache directory {directory}: {reason}" in message
    # the module lives in memory, and tracebacks still show its lines
    filename = inspect.unwrap(plain.__srcdiff__._default.run).__code__.co_filename
    assert linecache.getlines(filename) == plain.source.splitlines(keepends=True)
    if directory.is_dir():
        assert temp_files(directory) == [] and generated_modules(directory) == []

def test_numba_failing_to_write_its_cache_costs_one_warning(
    program, fresh_cache, forget_loaded_modules, monkeypatch
):
    def disk_full(self, key, data):  # simulated, as above
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(IndexDataCacheFile, "save", disk_full)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = srcdiff.grad(program.quiz, wrt=(0, 1), jit=True)(*QUIZ_ARGS)
        loop_value = srcdiff.grad(program.damped, jit=True)(0.8, 7)

    assert value == pytest.approx(fd_grad(program.quiz, QUIZ_ARGS, (0, 1)), rel=1e-6)
    assert loop_value == pytest.approx(fd_grad(program.damped, (0.8, 7), 0), rel=1e-6)
    (message,) = srcdiff_warnings(caught)
    pycache = fresh_cache / "__pycache__"
    assert f"cannot write Numba's cache in {pycache} (No space left on device)" in message


# Checks first that Numba itself finds no place for a cache of a function in the package, then
# imports srcdiff, runs its Numba-compiled optimizers and a gradient.
NO_LOCATOR_CHILD = """
import importlib.util, json, os, sys, warnings
import numba
import numpy as np

package = os.path.dirname(importlib.util.find_spec("srcdiff").origin)
probe = {}
exec(compile("def probe(x):\\n    return x\\n", os.path.join(package, "optim.py"), "exec"), probe)
try:
    numba.njit(cache=True)(probe["probe"])
    no_locator = False
except RuntimeError as error:
    no_locator = "no locator available" in str(error)

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import srcdiff
    from srcdiff import optim

    params = (np.ones(3), np.ones(2))
    grads = (np.full(3, 2.0), np.full(2, -1.0))
    optim.SGD(params, lr=0.5, momentum=0.9).step(grads)
    optim.Adam(params, lr=0.25).step(grads)
    program = __import__(sys.argv[1])
    value = srcdiff.grad(program.quiz, wrt=(0, 1), jit=True)(*json.loads(sys.argv[2]))
print(json.dumps({
    "no_locator": no_locator,
    "package": os.path.dirname(srcdiff.__file__),
    "params": [p.tolist() for p in params],
    "value": value,
    "warnings": [str(w.message) for w in caught if "srcdiff" in str(w.message)],
}))
"""


def read_only_install(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the package where Numba cannot cache, and a home where nothing can be written:
    (the directory to put on PYTHONPATH, HOME).

    Read-only for real (``chmod``) for a normal user; root writes through permissions, so there
    the package's ``__pycache__`` is a regular file and HOME lies under a regular file: Numba
    then finds no cache directory either (the child checks that it does not)."""
    site = tmp_path / "site"
    shutil.copytree(
        PACKAGE_ROOT / "srcdiff", site / "srcdiff", ignore=shutil.ignore_patterns("__pycache__")
    )
    if os.geteuid() == 0:
        (site / "srcdiff" / "__pycache__").write_text("not a directory")
        (tmp_path / "not-a-directory").write_text("")
        return site, tmp_path / "not-a-directory" / "home"
    home = tmp_path / "home"
    home.mkdir()
    for directory, _, files in os.walk(site):
        for name in files:
            os.chmod(os.path.join(directory, name), 0o444)
    for directory in [home, *(Path(d) for d, _, _ in os.walk(site))]:
        os.chmod(directory, 0o555)
    return site, home


@pytest.fixture
def writable_again(tmp_path):
    """Give tmp_path's directories their write permission back, so pytest can remove them."""
    yield
    for directory, _, _ in os.walk(tmp_path):
        os.chmod(directory, 0o755)


def test_processes_import_srcdiff_and_differentiate_where_nothing_can_be_written(
    program, tmp_path, writable_again
):
    site, home = read_only_install(tmp_path)
    env = child_env(tmp_path / "unused", site, program_dir(program))
    for name in ("SRCDIFF_CACHE_DIR", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME"):
        env.pop(name, None)
    env.update(HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(program_dir(program))])

    # cwd: `python -c` puts it first on sys.path, and the repository's package must not be found
    args = [program.__name__, json.dumps(QUIZ_ARGS)]
    (report,) = run_children(NO_LOCATOR_CHILD, [args], env, cwd=tmp_path)
    assert report["no_locator"], f"the setup left Numba a place for its cache: {report}"
    assert report["package"] == str(site / "srcdiff")
    # by hand: SGD's first step is p - lr g, whatever the momentum; Adam's is p - lr sign(g)
    assert report["params"] == [pytest.approx([-0.25] * 3), pytest.approx([1.75] * 2)]
    assert report["value"] == pytest.approx(fd_grad(program.quiz, QUIZ_ARGS, (0, 1)), rel=1e-6)
    (message,) = report["warnings"]
    assert f"cannot use the cache directory {home / '.cache' / 'srcdiff'}: " in message
