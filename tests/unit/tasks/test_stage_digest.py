"""Per-stage code digests: a stage's cache key follows the code it runs, and only that."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flows.promotion import evaluate_champion_task
from tasks import stages
from tasks.caching.digest import module_closure, module_source, stage_digest

CHAIN = {
    "ingest": stages.ingest_task,
    "clean": stages.clean_task,
    "aggregate": stages.aggregate_task,
    "features": stages.features_task,
    "train": stages.train_task,
    "evaluate": stages.evaluate_task,
    "forecast": stages.forecast_task,
}


def edited(module: str) -> Callable[[str], bytes]:
    """Sources as on disk, except ``module``, which has one more line."""

    def source_of(name: str) -> bytes:
        text = module_source(name)
        return text + b"\n# edited\n" if name == module else text

    return source_of


def digests(source_of: Callable[[str], bytes] = module_source) -> dict[str, str]:
    return {name: stage_digest(task.fn, source_of) for name, task in CHAIN.items()}


def changed_by(module: str) -> set[str]:
    before, after = digests(), digests(edited(module))
    return {name for name in CHAIN if before[name] != after[name]}


def test_every_stage_has_its_own_digest() -> None:
    found = digests()
    assert len(set(found.values())) == len(CHAIN)
    assert found == digests()  # stable


def test_editing_the_report_keeps_every_stage_cached() -> None:
    assert changed_by("tasks.report.render") == set()
    assert changed_by("tasks.report.plots") == set()


def test_editing_features_invalidates_features_and_everything_after_it() -> None:
    assert changed_by("tasks.model.features") == {"features", "train", "evaluate", "forecast"}


def test_editing_file_storage_invalidates_the_stages_that_read_files() -> None:
    changed = changed_by("tasks.storage.files")
    assert {"ingest", "clean", "forecast"} <= changed  # raw files; the promotion plan
    assert not changed & {"features", "train", "evaluate"}


def test_editing_one_stage_in_the_chain_leaves_the_others_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wiring modules are hashed function by function."""
    from tasks.caching import digest

    real = digest.inspect.getsource

    def getsource(obj: Any) -> str:
        text = real(obj)
        return text + "\n# edited\n" if getattr(obj, "__qualname__", "") == "aggregate" else text

    def uncached(name: str) -> bytes:
        return module_source(name)

    before = digests(uncached)
    monkeypatch.setattr(digest.inspect, "getsource", getsource)
    after = digests(uncached)
    assert {name for name in CHAIN if before[name] != after[name]} == {"aggregate"}


def test_the_champion_rescore_shares_the_evaluate_digest() -> None:
    assert evaluate_champion_task.fn is stages.evaluate_task.fn
    assert stage_digest(evaluate_champion_task.fn) == stage_digest(stages.evaluate_task.fn)


def test_the_closure_follows_sub_packages_and_their_facades() -> None:
    closure = module_closure({"tasks.model.forecast"})
    assert {"tasks", "tasks.model", "tasks.model.features", "tasks.data.aggregate"} <= set(closure)
    assert "tasks.report.render" not in closure
