"""``numba.njit`` whose ``cache=True`` can make code faster but never makes it fail.

Numba's own cache raises at decoration when it finds no writable place for its files
("cannot cache function ...: no locator available": a read-only install and no writable
home), fails the call when the disk is full, and fails every call after a cache file was
damaged. srcdiff decorates its runtime at import, so each of these would break
``import srcdiff``. Here, without a place for the cache a function is compiled in each
process; a cache file that cannot be read is compiled again (and rewritten); one that
cannot be written is not kept (with one warning per directory).

``trust(directory)``, if given, is asked before Numba may read the cache: its index and code
files are pickles, so whoever can write that directory can run code in this process.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numba
from numba.core.caching import FunctionCache

_warned: set[str] = set()


class BestEffortCache(FunctionCache):
    """Numba's per-function cache, where a failure to load compiles and a failure to save
    skips."""

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception:  # a damaged file, or one of another Numba: compile instead
            return None

    def save_overload(self, sig, data):
        try:
            self._save_or_start_again(sig, data)
        except OSError as error:  # a full disk, or a directory made read-only since
            self.disable()
            if self.cache_path not in _warned:
                _warned.add(self.cache_path)
                warnings.warn(
                    f"srcdiff: cannot write Numba's cache in {self.cache_path} "
                    f"({error.strerror or error}); compiled code is not kept for the next "
                    "process",
                    RuntimeWarning,
                    stacklevel=2,
                )

    def _save_or_start_again(self, sig, data):
        try:
            super().save_overload(sig, data)  # reads the index first
        except OSError:
            raise
        except Exception:  # the index is damaged: start a new one
            self.flush()
            super().save_overload(sig, data)


def njit(
    function: Callable | None = None,
    *,
    cache: bool = False,
    trust: Callable[[str], bool] | None = None,
    **options,
):
    """``numba.njit(function, **options)``, cached where Numba can (and ``trust`` allows)."""
    if function is None:
        return lambda function: njit(function, cache=cache, trust=trust, **options)
    dispatcher = numba.njit(**options)(function)
    if cache:
        try:
            function_cache = BestEffortCache(function)
        except RuntimeError:  # "no locator available": nowhere Numba can write
            return dispatcher
        if trust is None or trust(function_cache.cache_path):
            dispatcher._cache = function_cache  # what Dispatcher.enable_caching() does
    return dispatcher
