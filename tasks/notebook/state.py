"""Checks across cells: execution counts, and hidden state between cells.

Production runs the cells once, top to bottom, in a fresh process. A notebook's saved
state may come from another order (execution counts), a name may only exist because a
later or deleted cell ran before (hidden state), and a name bound in several cells means
what a cell sees depends on which of them ran last.
"""

from __future__ import annotations

from tasks.notebook.cells import BUILTIN_NAMES, Cell
from tasks.notebook.findings import BLOCKER, NOTE, WARNING, Finding, excerpt

THROWAWAY = frozenset({"_", "fig", "ax", "axes", "i", "j", "k", "col", "row", "x", "y"})


def execution_order(cells: list[Cell]) -> list[Finding]:
    """Counts missing on some cells, or not increasing top to bottom."""
    code = [c for c in cells if c.is_code]
    counted = [c for c in code if c.execution_count is not None]
    if not counted:
        return [
            Finding(
                "execution-order",
                NOTE,
                None,
                None,
                "no cell has an execution count (outputs stripped, or never run): the order "
                "the saved results came from cannot be checked from the file",
                "run it top to bottom in a fresh kernel before trusting any result "
                "(Restart & Run All); the pipeline always runs its stages in order",
            )
        ]
    found = []
    for cell in code:
        if cell.execution_count is None:
            found.append(
                Finding(
                    "execution-order",
                    BLOCKER,
                    cell.number,
                    None,
                    "this cell has no execution count while others do: it did not run in "
                    "the session whose results are saved",
                    "Restart & Run All; if the notebook then fails or changes, the saved "
                    "results depended on state this cell never produced",
                    excerpt(cell.source, 1),
                )
            )
    previous: Cell | None = None
    for cell in counted:
        if previous is not None and cell.execution_count is not None:
            assert previous.execution_count is not None
            if cell.execution_count <= previous.execution_count:
                found.append(
                    Finding(
                        "execution-order",
                        BLOCKER,
                        cell.number,
                        None,
                        f"ran as [{cell.execution_count}], before cell {previous.number} "
                        f"([{previous.execution_count}]) above it: the saved results come "
                        "from an order other than top to bottom",
                        "Restart & Run All and check the results still hold; move cells "
                        "into the order they must run in",
                        excerpt(cell.source, 1),
                    )
                )
        previous = cell
    return found


def hidden_state(cells: list[Cell]) -> list[Finding]:
    """Names read before any cell above has bound them (top-to-bottom order)."""
    code = [c for c in cells if c.is_code and c.tree is not None]
    first_bound: dict[str, int] = {}
    for cell in code:
        for name in cell.defines:
            first_bound.setdefault(name, cell.number)
    found = []
    bound: set[str] = set()
    for cell in code:
        for name, line in cell.inputs.items():
            if name in bound or name in BUILTIN_NAMES:
                continue
            found.append(_use_before_definition(cell, name, line, first_bound.get(name)))
        bound |= set(cell.defines)
        for use in cell.late:
            where = first_bound.get(use.name)
            if use.name in bound or use.name in BUILTIN_NAMES:
                continue
            if where is None:
                found.append(_use_before_definition(cell, use.name, use.line, None, use.function))
                continue
            found.append(
                Finding(
                    "hidden-state",
                    WARNING,
                    cell.number,
                    use.line,
                    f"{use.function}() reads the global {use.name!r}, which is first bound "
                    f"in cell {where}, below: it works only if cell {where} ran before the "
                    "function is called",
                    f"pass {use.name} to {use.function}() as a parameter (in the pipeline: a "
                    "stage function's explicit argument, filled from config)",
                    excerpt(cell.source, use.line),
                )
            )
    return found


def _use_before_definition(
    cell: Cell, name: str, line: int, where: int | None, function: str | None = None
) -> Finding:
    reader = f"{function}() in this cell reads" if function else "this cell reads"
    if where is None:
        message = (
            f"{reader} {name!r}, which no cell binds: it came from a deleted cell or "
            "from the kernel's history"
        )
        fix = f"add the code that makes {name!r} (or remove its use), then Restart & Run All"
    else:
        message = (
            f"{reader} {name!r} before any cell above binds it (cell {where}, below, "
            "does): top to bottom this fails"
        )
        fix = f"move the code that binds {name!r} above this cell"
    return Finding(
        "hidden-state", BLOCKER, cell.number, line, message, fix, excerpt(cell.source, line)
    )


def redefinitions(cells: list[Cell]) -> list[Finding]:
    """Names bound in more than one cell (imports and throwaway names aside)."""
    code = [c for c in cells if c.is_code and c.tree is not None]
    bound_in: dict[str, list[int]] = {}
    changed_in: dict[str, list[int]] = {}
    for cell in code:
        for name in cell.defines:
            if name not in cell.imports and name not in THROWAWAY:
                bound_in.setdefault(name, []).append(cell.number)
        for name in cell.modifies:
            changed_in.setdefault(name, []).append(cell.number)
    found = []
    for name, numbers in bound_in.items():
        if len(numbers) < 2:
            continue
        changed = [n for n in changed_in.get(name, []) if n != numbers[0]]
        also = f"; changed in place in cells {_list(changed)}" if changed else ""
        found.append(
            Finding(
                "redefined",
                WARNING,
                numbers[1],
                None,
                f"{name!r} is bound in cells {_list(numbers)}{also}: what a cell sees "
                "depends on which of them ran last, and re-running one cell changes it",
                "give each step's result its own name (raw, cleaned, daily, ...); in the "
                "pipeline each stage returns a new frame",
            )
        )
    return found


def _list(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)
