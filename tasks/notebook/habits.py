"""Code habits that do not belong in pipeline code: output side effects, imports spread
over cells, global pandas options and chained assignment."""

from __future__ import annotations

import ast

from tasks.notebook.cells import Cell, root_name
from tasks.notebook.checks import call_name, dotted, finding_at, walk
from tasks.notebook.findings import BLOCKER, NOTE, WARNING, Finding, words

DISPLAY_METHODS = words(
    "head tail describe info value_counts sample nunique unique dtypes shape corr"
)
COLUMN_ACCESSORS = frozenset({"loc", "iloc", "at", "iat"})


def side_effects(cell: Cell) -> list[Finding]:
    """print/display calls and expressions a cell shows as its output."""
    found = []
    fix = (
        "in the pipeline a stage logs counts through the run logger (logger.info('%d rows', n)) "
        "and tables and plots go in the report (tasks/report): drop it from stage code"
    )
    for node in walk(cell):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("print", "display")
        ):
            found.append(
                finding_at(
                    cell,
                    "side-effect",
                    WARNING,
                    node.lineno,
                    f"{node.func.id}() writes to the notebook's output",
                    fix,
                )
            )
    if cell.tree is not None:
        for statement in cell.tree.body:
            value = statement.value if isinstance(statement, ast.Expr) else None
            if value is None or isinstance(value, ast.Constant):
                continue
            shown = not isinstance(value, ast.Call) or call_name(value) in DISPLAY_METHODS
            last = statement is cell.tree.body[-1]
            if (shown and last) or (isinstance(value, ast.Call) and call_name(value) == "info"):
                found.append(
                    finding_at(
                        cell,
                        "side-effect",
                        NOTE,
                        statement.lineno,
                        f"`{ast.unparse(value)[:60]}` is displayed as the cell's output",
                        fix,
                    )
                )
    return found


def scattered_imports(cell: Cell, imports_cell: int | None) -> list[Finding]:
    """Imports in a cell other than the first cell that imports (``imports_cell``)."""
    if imports_cell is None or cell.number == imports_cell or not cell.imports:
        return []
    first = min(cell.imports.values())
    names = ", ".join(cell.imports)
    return [
        finding_at(
            cell,
            "scattered-imports",
            WARNING,
            first,
            f"imports {names} here, not in cell {imports_cell} with the other imports: a "
            "cell run alone fails, and dependencies hide in the middle of the notebook",
            f"move them to cell {imports_cell}; in the pipeline each stage module imports what "
            "it uses at its top, and pyproject.toml lists the packages",
        )
    ]


def pandas_traps(cell: Cell) -> list[Finding]:
    """Global pandas options, silenced warnings, chained assignment and inplace on a slice."""
    found = []

    def trap(line: int, message: str, fix: str) -> Finding:
        return finding_at(cell, "pandas-trap", BLOCKER, line, message, fix)

    for node in walk(cell):
        if isinstance(node, ast.Call) and dotted(node.func).endswith("set_option"):
            option = (
                node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else ""
            )
            found.append(_option_finding(cell, node.lineno, str(option)))
        elif isinstance(node, ast.Assign) and any(
            dotted(t).startswith(("pd.options.", "pandas.options.")) for t in node.targets
        ):
            option_name = next(dotted(t) for t in node.targets if dotted(t))
            found.append(_option_finding(cell, node.lineno, option_name.split(".options.", 1)[1]))
        elif isinstance(node, ast.Call) and dotted(node.func) in (
            "warnings.filterwarnings",
            "warnings.simplefilter",
        ):
            if (
                node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == "ignore"
            ):
                found.append(
                    trap(
                        node.lineno,
                        "warnings are silenced for the whole process",
                        "remove it; fix what warns (pandas' SettingWithCopy and "
                        "FutureWarnings announce wrong or soon-broken results)",
                    )
                )
        elif isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if _chained(target):
                    found.append(
                        trap(
                            node.lineno,
                            f"chained assignment `{ast.unparse(target)} = ...`: it "
                            "sets a temporary copy, the frame may stay unchanged",
                            "assign in one step: df.loc[mask, 'col'] = value",
                        )
                    )
        elif isinstance(node, ast.Call) and _inplace_on_selection(node):
            found.append(
                trap(
                    node.lineno,
                    f"inplace=True on a selection `{ast.unparse(node.func)}`: it "
                    "changes a temporary copy",
                    "assign the result: df['col'] = df['col'].fillna(0)",
                )
            )
    return found


def _option_finding(cell: Cell, line: int, option: str) -> Finding:
    if option.startswith(("display", "max_", "precision")):
        return finding_at(
            cell,
            "pandas-trap",
            NOTE,
            line,
            f"global pandas display option {option!r}",
            "display settings belong to the notebook only: leave them out of pipeline code",
        )
    return finding_at(
        cell,
        "pandas-trap",
        BLOCKER,
        line,
        f"global pandas option {option!r} changes behaviour for all code in the "
        "process" + (" and hides chained-assignment bugs" if "chained" in option else ""),
        "remove it and fix the code it was set for (for chained assignment: "
        "df.loc[mask, 'col'] = value)",
    )


def _is_mask(node: ast.expr) -> bool:
    """A selection by condition or computed value (``df.x > 0``, ``s.isna()``)."""
    return isinstance(node, ast.Compare | ast.BoolOp | ast.UnaryOp | ast.Call | ast.BinOp)


def _chained(target: ast.expr) -> bool:
    """``df[mask]["c"] = ...``, ``df["c"][mask] = ...``, ``df.loc[m]["c"] = ...``,
    ``df.c[mask] = ...`` (nested dict or list assignment by plain keys is not flagged)."""
    if not isinstance(target, ast.Subscript):
        return False
    inner = target.value
    if isinstance(inner, ast.Subscript):
        by_accessor = (
            isinstance(inner.value, ast.Attribute) and inner.value.attr in COLUMN_ACCESSORS
        )
        return by_accessor or _is_mask(inner.slice) or _is_mask(target.slice)
    if isinstance(inner, ast.Attribute) and inner.attr not in COLUMN_ACCESSORS:
        return root_name(inner) is not None and _is_mask(target.slice)
    return False


def _inplace_on_selection(call: ast.Call) -> bool:
    inplace = any(
        k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )
    return (
        inplace
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Subscript)
    )
