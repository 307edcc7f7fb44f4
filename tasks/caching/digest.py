"""Per-stage code digests: a stage's cache key covers the code that stage runs, no more.

A task function's digest hashes its own source and, followed from what it refers to:

* functions and classes of the wiring modules (:data:`WIRING`: ``tasks.stages``,
  ``tasks.chain``), source by source, so that editing one stage's wiring leaves the
  others' keys alone;
* every other ``tasks`` module it reaches (a module it names, or the module of a function
  or class it names), with the modules those import, recursively (parsed with ``ast``:
  ``import tasks.x``, ``from tasks.x import y`` where ``y`` may be a sub-module, relative
  imports), and the ``__init__`` of every package on the way (the facades).

Editing ``tasks/report/render.py`` therefore keeps every ingest-to-forecast result cached,
and editing ``tasks/model/features.py`` invalidates features, train, evaluate and
forecast, not ingest, clean or aggregate. Sources are read with ``source_of`` (the files
on disk by default; tests pass another), and digests are memoised per process.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = "tasks"
WIRING = ("tasks.stages", "tasks.chain")  # hashed function by function, not as modules
SourceOf = Callable[[str], bytes]  # a module's name → its source


def module_source(name: str) -> bytes:
    """The source of module ``name`` as it is on disk."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"no source for module {name}")
    return Path(spec.origin).read_bytes()


def stage_digest(fn: Callable[..., Any], source_of: SourceOf = module_source) -> str:
    """Digest of ``fn``'s source and of all the ``tasks`` code it reaches (module doc)."""
    if source_of is module_source:
        return _cached_digest(fn)
    return _digest(fn, source_of)


@functools.cache
def _cached_digest(fn: Callable[..., Any]) -> str:
    return _digest(fn, module_source)


def _digest(fn: Callable[..., Any], source_of: SourceOf) -> str:
    parts, modules = code_reached(fn)
    h = hashlib.sha256()
    for name, source in sorted(parts.items()):
        h.update(f"{name}\n".encode())
        h.update(source.encode())
    for module in module_closure(modules, source_of):
        h.update(f"{module}\n".encode())
        h.update(source_of(module))
    return h.hexdigest()


def code_reached(fn: Callable[..., Any]) -> tuple[dict[str, str], set[str]]:
    """(wiring functions and classes reached → source, other ``tasks`` modules named)."""
    parts: dict[str, str] = {}
    modules: set[str] = set()
    pending: list[Any] = [fn]
    while pending:
        obj = pending.pop()
        obj = getattr(obj, "fn", obj)  # a Prefect task: its function
        key = f"{obj.__module__}.{obj.__qualname__}"
        if key in parts:
            continue
        parts[key] = textwrap.dedent(inspect.getsource(obj))
        for value in _referenced(obj):
            if inspect.ismodule(value):
                if _in_tasks(value.__name__) and value.__name__ not in WIRING:
                    modules.add(value.__name__)
                continue
            module = getattr(value, "__module__", None)
            if module in WIRING and _is_code(value):
                pending.append(value)
            elif isinstance(module, str) and _in_tasks(module) and module not in WIRING:
                modules.add(module)
    return parts, modules


def _referenced(obj: Any) -> Iterator[Any]:
    """The global objects ``obj`` names, and ``module.attr`` of the wiring modules it uses."""
    namespace = vars(inspect.getmodule(obj))
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in namespace:
            yield namespace[node.id]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = namespace.get(node.value.id)
            if isinstance(owner, ModuleType) and owner.__name__ in WIRING:
                found = getattr(owner, node.attr, None)
                if found is not None:
                    yield found


def _is_code(value: Any) -> bool:
    return inspect.isfunction(value) or inspect.isclass(value) or hasattr(value, "fn")


def _in_tasks(module: str) -> bool:
    return module == ROOT or module.startswith(f"{ROOT}.")


def module_closure(seeds: set[str], source_of: SourceOf = module_source) -> list[str]:
    """``seeds``, the ``tasks`` modules they import (recursively) and their packages, sorted."""
    seen: set[str] = set()
    pending = list(seeds)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        pending.extend(_packages_of(name))
        pending.extend(imported_modules(name, source_of(name)))
    return sorted(seen)


def _packages_of(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(name: str, source: bytes) -> set[str]:
    """The ``tasks`` modules that module ``name``'s source imports."""
    package = name if _is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if _in_tasks(a.name))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            if base is None or not _in_tasks(base):
                continue
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}"))
    return found - set(WIRING)


def _absolute(node: ast.ImportFrom, package: str) -> str | None:
    if node.level == 0:
        return node.module
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


@functools.cache
def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def _is_package(name: str) -> bool:
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.submodule_search_locations is not None
