"""The lecture's differentiation quiz, solved by srcdiff.

    y = exp(x z) + x z / log(x) + sin(log(x)) / (x z)     at x = 2, z = 3

Run: python examples/quiz.py
"""

import math

import srcdiff


@srcdiff.grad(wrt=("x", "z"))
def quiz(x, z):
    return math.exp(x * z) + x * z / math.log(x) + math.sin(math.log(x)) / (x * z)


def main() -> None:
    dy_dx, dy_dz = quiz(2.0, 3.0)
    print(f"dy/dx = {dy_dx:.3f}")
    print(f"dy/dz = {dy_dz:.3f}")
    print()
    print("The adjoint srcdiff generated (forward sweep, then reverse sweep):")
    print()
    print(quiz.source)
    print(f"Rounded to the nearest integer: [{round(dy_dx)}, {round(dy_dz)}]")
    print()
    print("Cross-checked against finite differences and SymPy:")
    print(srcdiff.check_grad(quiz, 2.0, 3.0))


if __name__ == "__main__":
    main()
