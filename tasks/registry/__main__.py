"""``python -m tasks.registry``: the registry's command line (:mod:`tasks.registry.cli`)."""

from __future__ import annotations

from tasks.registry.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
