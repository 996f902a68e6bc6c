"""The version of srcdiff, in a module of its own so that any stage may print it."""

__version__ = "0.1.0"
