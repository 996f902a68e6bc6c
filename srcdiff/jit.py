"""Stage 7b: turn generated source into callables.

The module is written to a content-addressed file in the user's cache directory and
imported from there, so tracebacks and pdb show the generated code, and Numba's
``cache=True`` finds its machine code again in the next process. Files are written
atomically and never overwritten (Numba keys its cache on the file's timestamp).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import __version__, runtime
from .errors import SrcdiffError

if TYPE_CHECKING:  # for the annotation only: jit does not depend on the pipeline
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
    # Numba's cache does not notice a changed callee: the runtime's source is in the key
    key = f"{__version__}\n{RUNTIME_SOURCE}\n{source}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return cache_dir() / f"srcdiff_{digest}.py"


def write_module(source: str) -> Path:
    """Write ``source`` to its content-addressed path, unless a previous process did."""
    path = module_path(source)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(source)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a cache may be shared
        try:
            os.link(tmp, path)  # atomic, and fails rather than replace a concurrent writer's file
        except FileExistsError:
            pass
        except OSError:
            os.replace(tmp, path)  # file systems without hard links
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def import_module(path: Path) -> types.ModuleType:
    name = f"_srcdiff_generated.{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def python_functions(source: str, path: Path) -> dict[str, object]:
    """The generated functions as plain Python (tapes and helpers too)."""
    namespace: dict[str, object] = {"__name__": f"_srcdiff_python.{path.stem}"}
    exec(compile(source, str(path), "exec"), namespace)
    namespace.update(runtime.PYTHON_VERSIONS)
    return namespace


def numba_functions(path: Path, names: list[str]) -> types.ModuleType:
    """Import the module and replace each generated function by its Numba dispatcher, so
    calls between generated functions stay inside compiled code."""
    import numba

    module = import_module(path)
    for name in names:
        function = getattr(module, name)
        if not isinstance(function, numba.core.dispatcher.Dispatcher):
            # error_model="numpy": an infinite derivative (sqrt at 0) is inf, not an exception
            setattr(module, name, numba.njit(cache=True, error_model="numpy")(function))
    return module


class CompiledAdjoint:
    """The entry adjoint of one generated module, compiled on first call.

    Under the "numba" backend every generated function is compiled; under "numpy" the
    functions run as plain Python and only the loop ``kernels`` are compiled.
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
        backend: str = "numba",
        kernels: tuple[str, ...] = (),
    ):
        self.source = source
        self.entry = entry
        self.functions = functions
        self.jit = jit
        self.what = what
        self.backend = backend
        self.compiled = functions if backend == "numba" else list(kernels)
        self.path = write_module(source)
        uses_numba = jit is not False and self.compiled
        self.call: Callable = self.first_numba_call if uses_numba else self.python

    @classmethod
    def of(cls, module: GeneratedModule, jit: bool | None, what: str) -> CompiledAdjoint:
        """The compiled entry of a generated module (``what`` names it in messages)."""
        return cls(
            module.source, module.entry, module.functions, jit, what, module.backend,
            tuple(module.kernels),
        )  # fmt: skip

    def python(self, *args):
        self.call = self.plain_python_entry()
        if self.backend == "numpy":
            runtime.keep_freed_memory()
        return self.call(*args)

    def plain_python_entry(self) -> Callable:
        return _returning_floats(python_functions(self.source, self.path)[self.entry])

    def numba_entry(self) -> Callable:
        module = numba_functions(self.path, self.compiled)
        if self.entry in self.compiled:
            return getattr(module, self.entry)
        runtime.keep_freed_memory()
        # Python code calling compiled kernels
        namespace = python_functions(self.source, self.path)
        for name in self.compiled:
            namespace[name] = getattr(module, name)
        return _returning_floats(namespace[self.entry])

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
            self.call = self.plain_python_entry()
            return self.call(*args)
        self.call = entry
        return result


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
