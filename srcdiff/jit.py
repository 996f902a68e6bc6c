"""Stage 7b: turn generated source into callables.

The module is written to a content-addressed file in the user's cache directory, so
tracebacks and pdb show the generated code, and Numba's ``cache=True`` finds its machine code
again in the next process. What runs is always the source generated in this process,
compiled from memory under the file's name: the file is there for tracebacks and for Numba,
which files its cache under the file's path and stamps it with the file's timestamp and size
(or a hash of its bytes).

Only the user may write the cache directory. srcdiff creates it with mode 0700, and its
``__pycache__`` too (where Numba keeps its cache), and will not use a directory that belongs
to someone else or that others can write. A file whose bytes are not the module's (truncated,
emptied, planted, another user's) is replaced; every file is written to a temporary file,
synced and renamed into place, so no process sees half a file, and a replacement gets a
timestamp clearly apart from the replaced file's, so Numba cannot take it for a file it
compiled before. Good files are never rewritten (that would throw Numba's cache away).

Numba's index and code files (``__pycache__/*.nbi``, ``*.nbc``) are pickles, and loading a
pickle runs whatever its writer put in it. They hold machine code that srcdiff cannot check
the way it checks modules, so srcdiff lets Numba read them only from a directory that passed
the same check (``NUMBA_CACHE_DIR`` moves them elsewhere: that directory is checked too):
one that only the user can write, so that only the user can have put them there.

A cache directory that cannot be used (read-only, full, under a regular file, or failing the
check) costs speed, nothing else: one warning names it and the reason, and the module stays
in memory, compiled again in each process, its lines still shown in tracebacks.
"""

from __future__ import annotations

import contextlib
import hashlib
import linecache
import os
import re
import stat
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import runtime
from ._version import __version__
from .errors import SrcdiffError
from .frontend import array_kind
from .numba_cache import njit

if TYPE_CHECKING:  # for the annotations only: jit does not depend on the pipeline
    from .backends import Backend
    from .transform import GeneratedModule


def cache_dir() -> Path:
    """``$SRCDIFF_CACHE_DIR``, else ``$XDG_CACHE_HOME/srcdiff``, else ``~/.cache/srcdiff``."""
    explicit = os.environ.get("SRCDIFF_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "srcdiff"


RUNTIME_SOURCE = Path(runtime.__file__).read_text(encoding="utf-8")


def module_path(source: str) -> Path:
    return cache_dir() / f"{module_name(source)}.py"


def module_name(source: str) -> str:
    # Numba's cache does not notice a changed callee: the runtime's source is in the key
    key = f"{__version__}\n{RUNTIME_SOURCE}\n{source}"
    return "srcdiff_" + hashlib.sha256(key.encode()).hexdigest()[:24]


class CacheUnavailable(Exception):
    """The cache directory cannot be used; ``reason`` says why."""

    def __init__(self, directory: Path, reason: str):
        super().__init__(f"{directory}: {reason}")
        self.directory, self.reason = directory, reason


def private_cache_dir() -> Path:
    """``cache_dir()``, created private to the user with its ``__pycache__``, after checking
    that nobody else can write it. Raises ``CacheUnavailable``."""
    directory = cache_dir()
    try:
        _make_private_directory(directory, parents=True)
        problem = why_not_private(directory)
        if problem is None:
            _make_private_directory(directory / "__pycache__")
    except OSError as error:
        raise CacheUnavailable(directory, _reason(error)) from None
    if problem is not None:
        raise CacheUnavailable(directory, problem)
    return directory


def _make_private_directory(directory: Path, parents: bool = False) -> None:
    try:
        directory.mkdir(mode=0o700, parents=parents)
    except FileExistsError:
        return
    os.chmod(directory, 0o700)  # mkdir's mode went through the umask


def why_not_private(directory: Path) -> str | None:
    """Why code from ``directory`` could be someone else's: None when it is the user's and
    nobody else (root aside) can write there."""
    if not hasattr(os, "geteuid"):  # Windows: no owners and modes to compare
        return None
    try:
        info = os.stat(directory)  # a symbolic link to a directory elsewhere is fine
    except OSError as error:
        return _reason(error)
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a directory"
    if info.st_uid != os.geteuid():
        return f"it belongs to user {info.st_uid}, not to you (user {os.geteuid()})"
    if info.st_mode & 0o022:
        return (
            f"other users can write to it (mode {stat.S_IMODE(info.st_mode):o}); "
            f"`chmod go-w {directory}` makes it private"
        )
    return None


def write_module(source: str) -> Path:
    """Write ``source`` to its content-addressed path, unless a previous process did; a file
    there that does not hold exactly ``source``, or is not the user's, is replaced. Raises
    ``CacheUnavailable``."""
    directory = private_cache_dir()
    path = directory / f"{module_name(source)}.py"
    data = source.encode("utf-8")
    try:
        if not _holds(path, data):
            _write_atomically(path, data)
    except OSError as error:
        raise CacheUnavailable(directory, _reason(error)) from None
    return path


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a regular file of the user's holding exactly ``data``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)  # no symbolic link; a FIFO must not block us
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return False
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            return False
        return handle.read(len(data) + 1) == data


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # atomic, and fails rather than replace a concurrent writer's
        except FileExistsError:
            if _holds(path, data):  # a concurrent writer's
                return
            _replace(temporary, path)  # damaged, or not the user's
        except OSError:
            _replace(temporary, path)  # file systems without hard links
        _sync_directory(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _replace(temporary: str, path: Path) -> None:
    """``os.replace``, giving the new file a timestamp clearly apart from the old one's:
    Numba stamps its cache with the timestamp and size (newer versions hash the bytes, but
    remember the hash by timestamp and size), so the two must not look the same."""
    with contextlib.suppress(FileNotFoundError):
        old = os.lstat(path).st_mtime_ns
        new = time.time_ns()
        if abs(new - old) < 2_000_000_000:  # timestamps as coarse as 2 s (FAT)
            new = old + 2_000_000_000
        os.utime(temporary, ns=(new, new))
    os.replace(temporary, path)


def _sync_directory(directory: Path) -> None:
    """Make a rename durable (some file systems cannot sync a directory: then it is not)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def module_file(source: str) -> Path | None:
    """The module's file in the cache, written or repaired; None (after one warning per
    directory) when the cache directory cannot be used and the module stays in memory."""
    try:
        return write_module(source)
    except CacheUnavailable as error:
        _warn_once(
            str(error.directory),
            f"srcdiff: cannot use the cache directory {error.directory}: {error.reason}. "
            "Generated code stays in memory and is compiled again in each process; set "
            "SRCDIFF_CACHE_DIR to a directory of your own to keep it.",
        )
        return None


def numba_may_read(directory: str) -> bool:
    """Whether Numba may load the pickles in ``directory`` (see the module's docstring)."""
    problem = why_not_private(Path(directory))
    if problem is not None:
        _warn_once(
            directory,
            f"srcdiff: not using Numba's cache in {directory}: {problem}. Gradients are "
            "compiled again in each process.",
        )
    return problem is None


_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=_first_caller_outside_srcdiff())


def _first_caller_outside_srcdiff() -> int:
    """The ``stacklevel`` at which a warning issued here points at the user's code."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level, frame = 2, sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        level, frame = level + 1, frame.f_back
    return level


def import_module(source: str, path: Path | None) -> types.ModuleType:
    """The generated module, run from ``source`` (never from what the file holds) under the
    file's name; ``path`` None: a module in memory."""
    name = f"_srcdiff_generated.{module_name(source)}"
    if name in sys.modules:
        return sys.modules[name]
    module = types.ModuleType(name)
    module.__file__ = _filename(source, path)
    exec(_compile(source, path), module.__dict__)
    sys.modules[name] = module
    return module


def _compile(source: str, path: Path | None) -> types.CodeType:
    filename = _filename(source, path)
    if path is None:  # tracebacks and pdb find the lines here
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, "exec")


def _filename(source: str, path: Path | None) -> str:
    return str(path) if path is not None else f"<srcdiff {module_name(source)}.py>"


def python_functions(source: str, path: Path | None) -> dict[str, object]:
    """The generated functions as plain Python (tapes and helpers too)."""
    namespace: dict[str, object] = {"__name__": f"_srcdiff_python.{module_name(source)}"}
    exec(_compile(source, path), namespace)
    namespace.update(runtime.PYTHON_VERSIONS)
    if "math" in namespace:  # nan and inf where math raises, as in compiled code
        namespace["math"] = runtime.QUIET_MATH
    return namespace


def numba_functions(source: str, path: Path | None, names: list[str]) -> types.ModuleType:
    """Import the module and replace each generated function by its Numba dispatcher, so
    calls between generated functions stay inside compiled code. Numba stamps its cache
    with ``path``'s file, so ``module_file`` must have checked it just before."""
    import numba

    module = import_module(source, path)
    for name in names:
        function = getattr(module, name)
        if not isinstance(function, numba.core.dispatcher.Dispatcher):
            # error_model="numpy": an infinite derivative (sqrt at 0) is inf, not an exception
            compiled = njit(
                function, cache=path is not None, trust=numba_may_read, error_model="numpy"
            )
            setattr(module, name, compiled)
    return module


class CompiledAdjoint:
    """The entry adjoint of one generated module, compiled on first call.

    ``compiled``: the functions Numba compiles, as the module's backend says (all of them,
    or only the loop kernels of code that runs as plain Python); the others run as Python.
    ``jit=None`` falls back to Python (with one warning) when Numba cannot compile the
    code, ``jit=True`` raises instead, ``jit=False`` never uses Numba.
    """

    def __init__(
        self,
        source: str,
        entry: str,
        functions: list[str],
        jit: bool | None,
        what: str,
        backend: Backend,
        compiled: tuple[str, ...] = (),
        locations: dict[int, str] | None = None,
        inputs: tuple = (),
        inputs_at: int = 0,
    ):
        self.source = source
        self.entry = entry
        self.functions = functions
        self.jit = jit
        self.what = what
        self.backend = backend  # what callers ask about the code (float32 handling)
        self.compiled = list(compiled)
        self.locations = locations or {}  # line of the source -> the user's file:line
        self.path = module_file(source)  # None: in memory
        # arrays of modules and closures (``FreeArray``, kind) the entry takes from
        # ``inputs_at`` on: read at each call, so the gradient sees their values then
        self.inputs, self.inputs_at = inputs, inputs_at
        uses_numba = jit is not False and self.compiled
        # the entry as it runs: compiled (or made Python) at the first call, then called
        # directly by the fast paths, which locate errors themselves (``located``)
        self.run: Callable = self.first_numba_call if uses_numba else self.python

    @classmethod
    def of(
        cls, module: GeneratedModule, jit: bool | None, what: str, compiled: tuple[str, ...]
    ) -> CompiledAdjoint:
        """The entry of a generated module (``what`` names it in messages), ``compiled``
        its functions that Numba compiles (the backend's ``compile`` says which)."""
        return cls(
            module.source, module.entry, module.functions, jit, what, module.backend,
            compiled, module.locations, module.inputs, module.inputs_at,
        )  # fmt: skip

    def call(self, *args):
        """Run the entry; an error raised in generated code names the user's line."""
        try:
            return self.run(*args)
        except Exception as err:
            raise self.located(err, args) from None

    def located(self, err: Exception, args: tuple) -> Exception:
        """``err`` with the user's ``file.py:LINE`` in front of its message, found from the
        generated line that raised it; compiled code keeps no lines, so the Python version
        runs again to find it (generated code never writes into its arguments). Checks
        srcdiff made already name the line; srcdiff's own errors are left as they are."""
        if isinstance(err, SrcdiffError) or _LOCATED.match(str(err)):
            return err
        line = _generated_line(err.__traceback__, self.path, self.source)
        if line is None and self.run is not self.python:
            line = self._line_of_rerun(args, type(err))
        at = self.locations.get(line) if line is not None else None
        if at is not None:
            words = err.args[1] if len(err.args) == 2 and isinstance(err.args[0], int) else err
            err.args = (f"{at}: {words}",)
        return err

    def _line_of_rerun(self, args: tuple, kind: type) -> int | None:
        try:
            self.plain_python_entry()(*args)
        except kind as again:
            return _generated_line(again.__traceback__, self.path, self.source)
        except Exception:  # another error in Python than in compiled code: no line
            return None
        return None

    def python(self, *args):
        self.run = self.plain_python_entry()
        if self.backend.allocates_temporaries:
            runtime.keep_freed_memory()
        return self.run(*args)

    def plain_python_entry(self) -> Callable:
        """The entry run as Python, on NumPy floats: arithmetic gives inf and nan where
        Python's floats raise, as compiled code does (the errors Python raises in the
        user's own arithmetic are checks of the generated code's own)."""
        entry = python_functions(self.source, self.path)[self.entry]
        return self.reading_inputs(_returning_floats(_on_numpy_floats(entry)))

    def numba_entry(self) -> Callable:
        self.path = module_file(self.source)  # again: the file may have changed since
        module = numba_functions(self.source, self.path, self.compiled)
        if self.entry in self.compiled:
            return self.reading_inputs(getattr(module, self.entry))
        runtime.keep_freed_memory()
        # Python code calling compiled kernels
        namespace = python_functions(self.source, self.path)
        for name in self.compiled:
            namespace[name] = getattr(module, name)
        return self.reading_inputs(_returning_floats(_on_numpy_floats(namespace[self.entry])))

    def reading_inputs(self, entry: Callable) -> Callable:
        """``entry`` called with the arrays of modules and closures it reads, as they are at
        the call, inserted among the caller's arguments (none: ``entry`` itself)."""
        if not self.inputs:
            return entry
        inputs, at = self.inputs, self.inputs_at

        def call(*args):
            return entry(*args[:at], *[_current(free, kind) for free, kind in inputs], *args[at:])

        call.__wrapped__ = entry
        return call

    def first_numba_call(self, *args):
        import numba

        entry = self.numba_entry()
        try:
            result = entry(*args)
        except numba.core.errors.NumbaError as err:
            summary = _first_line(err)
            if self.jit:
                raise SrcdiffError(
                    f"Numba could not compile the gradient of {self.what}: {summary}"
                ) from None
            warnings.warn(
                f"srcdiff: Numba could not compile the gradient of {self.what}; running it as "
                f"plain Python instead (pass jit=False to silence this). Numba said: {summary}",
                RuntimeWarning,
                stacklevel=3,
            )
            self.run = self.plain_python_entry()
            return self.run(*args)
        self.run = entry
        return result


_LOCATED = re.compile(r"^[^\s:]+\.py:\d+: ")  # a message that names a file and line already


def _current(free, kind) -> object:
    """The value of a module's or closure's array now, if it still has the kind the code
    was generated for (a dtype or rank changed since needs a gradient made again)."""
    value = free.read()
    if array_kind(value) != kind:
        raise SrcdiffError(
            f"{free.describe()} is now {_described(value)}; the gradient was made when it was "
            f"{kind.describe()}, and srcdiff reads it at each call as such: make the gradient "
            "again (srcdiff.grad(f)), or pass it as an argument"
        )
    return value


def _described(value: object) -> str:
    kind = array_kind(value)
    return kind.describe() if kind is not None else f"a {type(value).__name__}"


def _generated_line(traceback, path: Path | None, source: str) -> int | None:
    """The line of the generated module (innermost) a traceback passes through."""
    filename = _filename(source, path)
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _on_numpy_floats(function: Callable) -> Callable:
    """``function`` called with its Python floats as NumPy floats, silently: an infinite or
    undefined derivative is inf or nan without a warning, as in compiled code."""

    def call(*args):
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return function(*(np.float64(a) if type(a) is float else a for a in args))

    call.__wrapped__ = function
    return call


def _returning_floats(function: Callable) -> Callable:
    """Plain Python runs return NumPy scalars where values came off a tape; Numba returns
    Python floats. Make both return the same. Two gradients that came out as the same
    array (x + y spreads one adjoint to both) are returned as two arrays."""

    def call(*args):
        return _to_python(function(*args), set())

    call.__wrapped__ = function
    return call


def _to_python(value, seen: set[int]):
    if isinstance(value, tuple):
        return tuple(_to_python(v, seen) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if id(value) in seen:
            return value.copy()
        seen.add(id(value))
    return value


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
