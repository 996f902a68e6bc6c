"""The lecture's computation graph, J = cos(sin(x^2) + 3 x^2), with named intermediates.

The forward sweep computes each node in topological order; the reverse sweep visits
them in reverse order, each adding its local derivative times g_<node> = dJ/d<node>
to the adjoints of its inputs.

Run: python examples/computation_graph.py
"""

import math

import srcdiff


def J(x):
    a = x**2
    b = math.sin(a)
    c = 3 * a
    d = b + c
    return math.cos(d)


def main() -> None:
    dJ = srcdiff.value_and_grad(J)
    x = 0.7
    value, slope = dJ(x)
    by_hand = -math.sin(math.sin(x**2) + 3 * x**2) * (math.cos(x**2) * 2 * x + 6 * x)
    print(f"J({x}) = {value:.6f}")
    print(f"dJ/dx  = {slope:.6f}   (chain rule by hand: {by_hand:.6f})")
    print()
    print(dJ.source)


if __name__ == "__main__":
    main()
