"""``python -m srcdiff``: the command line (see ``srcdiff.cli``)."""

from .cli import main

raise SystemExit(main())
