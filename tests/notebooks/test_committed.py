"""Notebooks are committed clean: no outputs, no execution counts, valid nbformat.

The pre-commit hook (nbstripout, ``.pre-commit-config.yaml``) strips them; this test fails
when a notebook was committed without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.support.notebooks import AFTER, BEFORE, NOTEBOOKS

COMMITTED = sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def unstripped(nb: Any) -> list[str]:
    """What nbstripout would remove: outputs, execution counts, per-run cell metadata."""
    problems = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {number} has {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {number} has execution count {cell.execution_count}")
        if "execution" in cell.metadata or "ExecuteTime" in cell.metadata:
            problems.append(f"cell {number} has execution timing metadata")
    return problems


def test_both_notebooks_are_committed() -> None:
    assert BEFORE in COMMITTED
    assert AFTER in COMMITTED


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_notebook_is_valid_and_has_no_outputs_or_counts(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert unstripped(nb) == []


def test_the_check_finds_outputs_and_counts() -> None:
    cell = nbformat.v4.new_code_cell("1 + 1", execution_count=3)
    cell.outputs = [
        nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=3)
    ]
    dirty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("x"), cell])
    assert unstripped(dirty) == ["cell 2 has 1 output(s)", "cell 2 has execution count 3"]
