"""srcdiff: automatic differentiation of Python by source transformation.

``@srcdiff.grad`` reads a function's source, generates a forward sweep and an adjoint
(reverse) sweep as new Python source, and compiles it with Numba; ``jvp`` generates the
forward-mode (tangent) version, and ``hessian``/``hvp`` differentiate that again.
"""

__version__ = "0.1.0"

from . import optim  # noqa: E402
from .api import grad, value_and_grad  # noqa: E402
from .check import GradReport, check_grad  # noqa: E402
from .custom import register_rule  # noqa: E402
from .errors import SrcdiffError, UnsupportedSyntaxError  # noqa: E402
from .forward_api import derivative, hessian, hvp, jacobian, jvp  # noqa: E402

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
