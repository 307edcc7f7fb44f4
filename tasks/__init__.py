"""The pipeline's work: Prefect task modules at this level, plain-Python packages below.

Modules here (``stages``, ``release``, ``monitor``, ``publish``, ``alerts``, ``caching``)
use Prefect; the packages (``data``, ``model``, ``registry``, ``monitoring``, ``report``,
``storage``) never do. ``make lint`` checks the layering (``[tool.importlinter]`` in
``pyproject.toml``).
"""
