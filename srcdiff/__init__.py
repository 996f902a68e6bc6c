"""srcdiff: automatic differentiation of Python by source transformation.

``@srcdiff.grad`` reads a function's source, generates a forward sweep and an adjoint
(reverse) sweep as new Python source, and compiles it with Numba; ``jvp`` generates the
forward-mode (tangent) version, and ``hessian``/``hvp`` differentiate that again.
"""

from . import optim
from ._version import __version__
from .api import grad, value_and_grad
from .check import GradReport, check_grad
from .custom import register_rule
from .errors import SrcdiffError, UnsupportedSyntaxError
from .forward_api import derivative, hessian, hvp, jacobian, jvp

__all__ = [
    "grad",
    "value_and_grad",
    "jvp",
    "derivative",
    "jacobian",
    "hessian",
    "hvp",
    "optim",
    "check_grad",
    "register_rule",
    "GradReport",
    "SrcdiffError",
    "UnsupportedSyntaxError",
    "__version__",
]
