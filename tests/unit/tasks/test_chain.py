"""The chain ingest → forecast is wired once (tasks.chain): the Prefect tasks, the model
tests' pipeline and the benchmarks all run it, none re-wires the stage functions."""

from __future__ import annotations

import ast
import inspect

import pytest

from tasks import chain, stages
from tests.support import REPO

# Callers that run the chain outside the flow.
CALLERS = ("tests/support/pipeline.py", "benchmarks/ours.py", "benchmarks/accuracy/pipeline.py")
# The domain functions that only tasks.chain strings together.
WIRED_IN_CHAIN = {"discover", "scan", "flag_rows", "collect", "build_panel", "train_model"}
STAGE_TASKS = {
    "ingest_task": "ingest",
    "clean_task": "clean",
    "aggregate_task": "aggregate",
    "features_task": "features",
    "train_task": "train",
    "evaluate_task": "evaluate",
    "forecast_task": "forecast",
}


def names_used(path: str) -> tuple[set[str], set[str]]:
    """Modules imported and every name or attribute used in ``path``."""
    tree = ast.parse((REPO / path).read_text())
    modules: set[str] = set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Name):
            names.add(node.id)
    return modules, names


@pytest.mark.parametrize("path", CALLERS)
def test_callers_run_the_chain_not_their_own_wiring(path: str) -> None:
    modules, names = names_used(path)
    assert "tasks.chain" in modules
    assert not names & WIRED_IN_CHAIN, f"{path} wires stage functions itself"


@pytest.mark.parametrize(("name", "stage"), sorted(STAGE_TASKS.items()))
def test_each_stage_task_runs_its_chain_stage(name: str, stage: str) -> None:
    task = getattr(stages, name)
    assert f"chain.{stage}(" in inspect.getsource(task.fn)
    assert callable(getattr(chain, stage))


def test_stage_tasks_take_keyword_arguments_only() -> None:
    for name in [*STAGE_TASKS, "generate_task", "prepare_aus_retail_task", "no_clean_rows_task"]:
        params = inspect.signature(getattr(stages, name).fn).parameters.values()
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params), name
