"""Stage 3: what the transforms need to know about a normalized function, one module each.

* ``kinds``: which variables hold bools, ints, floats or arrays (from the argument kinds);
* ``activity``: which float variables depend on a differentiated input AND influence a
  result; only those get adjoints;
  to-be-recorded: which variables the reverse sweep reads after they may have been
  overwritten; only those are saved on a tape;
* ``writes``: writes into arrays: only into arrays the function made, never seen through
  stale views;
* ``placement``: what the backends' cost models read (``backends.choose``): operations on
  whole arrays, every primitive applied; the printed form of each primitive once every
  kind is known is ``kinds.specialize``.

Each analysis is a small fixed point over the statement list, insensitive to order
(a sound over-approximation: an extra active or taped variable costs time, never
correctness).
"""
