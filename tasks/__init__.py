"""The pipeline's work: Prefect task modules at this level, plain-Python packages below.

Modules here (``stages``, ``release``, ``monitor``, ``publish``, ``alerts``) and the
``caching`` package use Prefect; the packages (``data``, ``model``, ``registry``,
``monitoring``, ``report``, ``storage``) never do. ``errors`` (the errors a person can act
on) and ``faults`` (the kill-matrix test hook) sit under them all. ``make lint`` checks
the layering (``[tool.importlinter]`` in ``pyproject.toml``).
"""
