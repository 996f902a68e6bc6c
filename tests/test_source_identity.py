"""The program srcdiff differentiates is the one that runs: the source it reads from the file
must compile to the function's own code. A file changed after its module was imported, or
code run with ``exec`` under a file's name, is refused; code that merely needs a context to
compile as it did (closures, methods with private names, ``super()``) is read as before.
"""

from __future__ import annotations

import importlib
import linecache
import sys
import textwrap

import pytest

import srcdiff
from srcdiff.frontend import compiles_to


@pytest.fixture
def module_file(tmp_path, monkeypatch):
    """Write a module, import it, and hand back (module, path)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made = []

    def make(name: str, source: str):
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        made.append(name)
        return importlib.import_module(name), path

    yield make
    for name in made:
        sys.modules.pop(name, None)


def test_a_file_edited_after_import_is_refused(module_file):
    module, path = module_file("edited_after_import", "def f(x):\n    return x**2\n")
    path.write_text("def f(x):\n    return x**3\n")  # the running f still squares
    linecache.checkcache(str(path))
    with pytest.raises(srcdiff.SrcdiffError, match=r"edited_after_import.py:1: .*not the code"):
        srcdiff.grad(module.f)(2.0)


def test_lines_moved_after_import_are_refused(module_file):
    source = "def g(x):\n    return 3.0 * x\n\n\ndef f(x):\n    return x**2\n"
    module, path = module_file("moved_after_import", source)
    path.write_text("def f(x):\n    return x**2\n\n\ndef g(x):\n    return 3.0 * x\n")
    linecache.checkcache(str(path))
    with pytest.raises(srcdiff.SrcdiffError, match="not the code that runs"):
        srcdiff.grad(module.f)(2.0)


def test_exec_under_the_name_of_another_file_is_refused(module_file):
    _, path = module_file("reused_name", "def f(x):\n    return x * x\n")
    namespace: dict = {}
    exec(compile("def f(x):\n    return x + 1.0\n", str(path), "exec"), namespace)
    with pytest.raises(srcdiff.SrcdiffError, match="not the code that runs"):
        srcdiff.grad(namespace["f"])(2.0)


def test_closures_methods_and_private_names_compile_as_they_did(module_file):
    module, _ = module_file(
        "needs_context",
        """
        class Model:
            __scale = 3.0

            def loss(self, x):
                return self.__scale * x * x


        class Child(Model):
            def loss(self, x):
                return super().loss(x) + 0.0 * x


        def make(c):
            def f(x):
                return c * x * x
            return f
        """,
    )
    for function in (module.Model.loss, module.Child.loss):  # (srcdiff reads no self.x yet)
        assert compiles_to(function, function.__code__.co_filename), function
    assert srcdiff.grad(module.make(2.0))(3.0) == pytest.approx(12.0)
