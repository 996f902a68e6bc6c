"""Stage 2: lower a checked Python function to the structured three-address IR.

* Every operation gets its own named result (``t0 = x * z``); the user's names stay.
* Augmented assignment, tuple unpacking, ternaries, ``and``/``or`` and chained
  comparisons become plain assignments and ``if`` statements (keeping Python's lazy
  evaluation).
* ``break``, ``continue`` and early ``return`` become flags: the statements after a
  jump are guarded by ``if not flag``, and a loop ends after an iteration that set its
  stop flag. Later stages therefore only see structured control flow.
* Calls of other user functions become ``Call`` statements; those functions are
  normalized in turn (callees first); recursion is unrolled where constant ints fix its
  depth, and rejected elsewhere.

One module per concern: ``program`` (the model later stages read: ``Program``,
``NormalizedFunction``, ``NameAllocator``), ``statements`` (blocks, jumps, assignments,
the entry point ``normalize_program``), ``calls`` (primitive and NumPy calls, subscripts),
``iteration`` (what a ``for`` loop iterates over, as a range), ``unbound`` (reads of
variables that may be unassigned), ``unrolling`` (recursion whose depth constant ints fix,
one helper per depth) and ``varargs`` (a helper's ``*args``, for the number a call gives).
"""
