"""Run every check over a notebook and collect the report's content."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tasks.notebook import checks, config_keys, habits, stages, state
from tasks.notebook.cells import Cell, read_notebook
from tasks.notebook.findings import BLOCKER, CHECKS, SEVERITIES, Finding, redact


@dataclass(frozen=True)
class Assessment:
    """Everything the report shows about one notebook."""

    name: str
    cells: list[Cell]
    findings: list[Finding]
    stage_of: dict[int, list[str]]  # code cell number: its stages, main one first
    plan: list[stages.StagePlan]
    config: dict[str, list[config_keys.Literal]]

    def count(self, severity: str) -> int:
        """Findings of one severity."""
        return sum(f.severity == severity for f in self.findings)

    @property
    def blocks_production(self) -> bool:
        """True when at least one finding blocks production."""
        return self.count(BLOCKER) > 0

    def overrides(self) -> list[str]:
        """Hydra overrides that carry the notebook's settings (first value of each key)."""
        return [config_keys.override(key, lits[0].value) for key, lits in self.config.items()]


def assess(text: str, name: str) -> Assessment:
    """Assess the notebook in ``text`` (``name`` labels the report and error messages).

    Raises
    ------
    tasks.notebook.cells.NotebookError
        When the text is not a valid notebook.
    """
    cells = read_notebook(text, name)
    code = [c for c in cells if c.is_code]
    findings: list[Finding] = []
    secrets: set[str] = set()
    seeded: set[str] = set()
    params: dict[str, ast.Dict] = {}
    found_literals: list[config_keys.Literal] = []
    imports_cell = next((c.number for c in code if c.imports), None)
    for cell in code:
        if cell.error is not None:
            findings.append(
                Finding(
                    "syntax",
                    BLOCKER,
                    cell.number,
                    None,
                    f"the cell is not Python ({cell.error}); nothing else was checked in it",
                    "fix or delete it: the pipeline's modules must import cleanly",
                )
            )
            continue
        creds, values = checks.credentials(cell)
        findings += creds
        secrets |= values
        findings += checks.hard_coded_paths(cell)
        params.update(_dict_literals(cell))
        findings += checks.unseeded_randomness(cell, seeded, params)
        findings += habits.pandas_traps(cell)
        findings += habits.side_effects(cell)
        findings += habits.scattered_imports(cell, imports_cell)
        found_literals += config_keys.literals(cell)
    findings += state.execution_order(cells)
    findings += state.hidden_state(cells)
    findings += state.redefinitions(cells)
    findings += config_keys.magic_numbers(found_literals, {c.number: c.source for c in code})
    order = list(CHECKS)
    findings.sort(
        key=lambda f: (SEVERITIES.index(f.severity), f.cell or 0, order.index(f.check), f.line or 0)
    )
    stage_of, plan = stages.split(cells)
    return Assessment(
        name=name,
        cells=cells,
        findings=redact(findings, secrets),
        stage_of=stage_of,
        plan=plan,
        config=config_keys.config_table(found_literals),
    )


def _dict_literals(cell: Cell) -> dict[str, ast.Dict]:
    assert cell.tree is not None
    out = {}
    for statement in cell.tree.body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Dict):
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = statement.value
    return out
