"""``python -m benchmarks.accuracy``: see :mod:`benchmarks.accuracy.cli`."""

from benchmarks.accuracy.cli import main

raise SystemExit(main())
