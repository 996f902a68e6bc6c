"""The errors srcdiff raises on purpose: every one names the user's file and line."""

from __future__ import annotations


class SrcdiffError(Exception):
    """Base class of every error srcdiff raises deliberately."""


# Where every refusal points: the page listing what srcdiff accepts and what to write instead.
SUPPORTED_PYTHON = "docs/reference.md"


class UnsupportedSyntaxError(SrcdiffError):
    """A construct srcdiff cannot differentiate, located in the user's source; the message
    says what to write instead (``hint``) where there is a supported form, and ends with a
    pointer to the supported-Python page."""

    def __init__(self, construct: str, filename: str, line: int, col: int = 0, hint: str = ""):
        self.construct = construct
        self.filename = filename
        self.line = line
        self.col = col
        self.hint = hint
        message = f"{filename}:{line}:{col}: {construct} is not supported by srcdiff"
        if hint:
            message += f" ({hint})"
        super().__init__(f"{message}; see {SUPPORTED_PYTHON}")

    def __reduce__(self):  # (pickle would call __init__ with the message alone)
        return type(self), (self.construct, self.filename, self.line, self.col, self.hint)


class SourceLocation:
    """Where a construct sits in the user's file; every IR node carries one."""

    __slots__ = ("filename", "line", "col", "text")

    def __init__(self, filename: str, line: int, col: int = 0, text: str = ""):
        self.filename = filename
        self.line = line
        self.col = col
        self.text = text

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}"

    @property
    def short(self) -> str:
        """``file.py:LINE``, as generated code names the user's lines (the same on any
        machine, so the generated source does not depend on where the file lies)."""
        return f"{self.filename.replace(chr(92), '/').rsplit('/', 1)[-1]}:{self.line}"

    def error(self, message: str) -> SrcdiffError:
        return SrcdiffError(f"{self.filename}:{self.line}:{self.col}: {message}")

    def unsupported(self, construct: str, hint: str = "") -> UnsupportedSyntaxError:
        return UnsupportedSyntaxError(construct, self.filename, self.line, self.col, hint)


def error_at(loc: SourceLocation | None, message: str) -> SrcdiffError:
    """An error at ``loc``, the user's line (code srcdiff wrote itself has none)."""
    return loc.error(message) if loc is not None else SrcdiffError(message)
