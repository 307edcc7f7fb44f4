"""Magic numbers and the config keys they belong to.

A literal is mapped to a key by the name it is bound to (``HORIZON = 28``), the dict key
or keyword it is passed as (``"num_leaves": 31``, ``num_boost_round=300``), or the call it
feeds (``.rolling(7)``, ``.shift(7)``, ``holidays.US()``). Numbers with no such context are
reported as unmapped (0, 1 and -1 never are, nor numbers in display and plotting calls).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from tasks.notebook.cells import Cell
from tasks.notebook.checks import call_name, parents, walk
from tasks.notebook.findings import WARNING, Finding, excerpt, words

HYPERPARAMETERS = {
    "objective": "objective",
    "learning_rate": "learning_rate",
    "eta": "learning_rate",
    "num_leaves": "num_leaves",
    "max_depth": "max_depth",
    "min_data_in_leaf": "min_data_in_leaf",
    "min_child_samples": "min_data_in_leaf",
    "feature_fraction": "feature_fraction",
    "colsample_bytree": "feature_fraction",
    "bagging_fraction": "bagging_fraction",
    "subsample": "bagging_fraction",
    "bagging_freq": "bagging_freq",
    "subsample_freq": "bagging_freq",
    "lambda_l2": "lambda_l2",
    "reg_lambda": "lambda_l2",
    "num_threads": "num_threads",
    "n_jobs": "num_threads",
}
KEYS = {
    **{alias: f"model.hyperparameters.{key}" for alias, key in HYPERPARAMETERS.items()},
    "horizon": "forecast.horizon",
    "forecast_horizon": "forecast.horizon",
    "lags": "features.lags",
    "lag_days": "features.lags",
    "windows": "features.window_sizes",
    "window_sizes": "features.window_sizes",
    "rolling_windows": "features.window_sizes",
    "seed": "random_seed",
    "random_seed": "random_seed",
    "random_state": "random_seed",
    "num_boost_round": "model.num_boost_round",
    "num_rounds": "model.num_boost_round",
    "n_estimators": "model.num_boost_round",
    "num_iterations": "model.num_boost_round",
    "min_revenue": "preprocessing.min_revenue",
    "regions": "data.allowed_categories.region",
    "products": "data.allowed_categories.product_type",
    "product_types": "data.allowed_categories.product_type",
    "backtest_windows": "evaluation.backtest_windows",
    "n_windows": "evaluation.backtest_windows",
    "season_length": "evaluation.season_length",
    "holiday_country": "features.holiday_country",
    "country": "features.holiday_country",
    "frequency": "data.frequency",
    "freq": "data.frequency",
}
BY_CALL = {"rolling": "features.window_sizes", "shift": "features.lags"}
QUIET_CALLS = words(
    "head tail figure subplots plot set_option round set_size_inches legend hist bar barh "
    "scatter describe print display set_title set_xlabel set_ylabel xticks yticks text "
    "annotate tight_layout format len enumerate zip isocalendar astype sample show "
    "savefig sleep"
)
QUIET_KEYWORDS = words(
    "figsize dpi alpha rotation fontsize linewidth lw bins n ncols nrows width height "
    "verbose verbosity axis decimals ddof min_periods index_col skiprows"
)


@dataclass(frozen=True)
class Literal:
    """A constant found in the notebook and where it goes (``key`` is empty when unknown)."""

    cell: int
    line: int
    value: object
    key: str
    context: str  # how it appears, with {} for the value: "HORIZON = {}", "num_leaves={}"


def _value(node: ast.expr) -> object | None:
    """A number, a string, or a list/tuple of them; ``None`` for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str):
        return None if isinstance(node.value, bool) else node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _value(node.operand)
        return -inner if isinstance(inner, int | float) else None
    if isinstance(node, ast.List | ast.Tuple) and node.elts:
        items = [_value(e) for e in node.elts]
        return None if any(i is None for i in items) else items
    return None


def _key_for(name: str) -> str:
    return KEYS.get(re.sub(r"^_+", "", name).lower(), "")


def literals(cell: Cell) -> list[Literal]:
    """The cell's mapped constants, then its unmapped numbers."""
    found: list[Literal] = []
    seen: set[int] = set()

    def add(node: ast.expr, key: str, context: str) -> None:
        value = _value(node)
        if value is None or not key or (context.startswith(".") and value in (0, 1, -1)):
            return
        found.append(Literal(cell.number, node.lineno, value, key, context))
        seen.update(id(n) for n in ast.walk(node))

    for node in walk(cell):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    add(node.value, _key_for(target.id), f"{target.id} = {{}}")
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and isinstance(k.value, str):
                    add(v, _key_for(k.value), f"{k.value!r}: {{}}")
        elif isinstance(node, ast.keyword) and node.arg:
            add(node.value, _key_for(node.arg), f"{node.arg}={{}}")
        elif isinstance(node, ast.Call):
            name = call_name(node)
            if name in BY_CALL and node.args:
                add(node.args[0], BY_CALL[name], f".{name}({{}})")
            elif isinstance(node.func, ast.Attribute) and _is_holidays(node):
                country = node.args[0] if name == "country_holidays" and node.args else None
                value = country if country is not None else ast.Constant(node.func.attr)
                ast.copy_location(value, node)
                add(value, "features.holiday_country", ast.unparse(node.func) + "(...): {}")
    return found + _unmapped(cell, seen)


def _is_holidays(call: ast.Call) -> bool:
    func = call.func
    assert isinstance(func, ast.Attribute)
    root = func.value
    is_module = isinstance(root, ast.Name) and root.id == "holidays"
    return is_module and (
        func.attr == "country_holidays" or bool(re.fullmatch(r"[A-Z]{2,3}", func.attr))
    )


def _unmapped(cell: Cell, seen: set[int]) -> list[Literal]:
    up = parents(cell)
    found = []
    for node in walk(cell):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, int | float)):
            continue
        if isinstance(node.value, bool) or node.value in (0, 1, -1) or id(node) in seen:
            continue
        if _quiet(node, up):
            continue
        found.append(Literal(cell.number, node.lineno, node.value, "", "{}"))
    return found


def _quiet(node: ast.AST, up: dict[ast.AST, ast.AST]) -> bool:
    """In a display or plotting call, a quiet keyword, an index, or a format."""
    child = node
    while child in up:
        parent = up[child]
        if isinstance(parent, ast.keyword) and parent.arg in QUIET_KEYWORDS:
            return True
        if isinstance(parent, ast.Call) and call_name(parent) in QUIET_CALLS:
            return True
        if isinstance(parent, ast.Subscript) and child is parent.slice:
            return True
        if isinstance(parent, ast.FormattedValue | ast.JoinedStr):
            return True
        child = parent
    return False


def magic_numbers(found: list[Literal], source: dict[int, str]) -> list[Finding]:
    """One finding per literal: mapped ones name their key, unmapped ones ask for one."""
    findings = []
    for lit in found:
        if isinstance(lit.value, str) and not lit.key:
            continue
        if lit.key:
            shown = lit.context.replace("{}", repr(lit.value))
            message = f"`{shown}` is a setting written into the code"
            fix = (
                f"set it as config key {lit.key} (a Hydra override: {override(lit.key, lit.value)})"
            )
        else:
            message = (
                f"the number {lit.value!r} has no name: what it means and who may change it "
                "is unclear"
            )
            fix = (
                "name it and move it to config (a new key in the stage's config group) or "
                "derive it from the data"
            )
        findings.append(
            Finding(
                "magic-number",
                WARNING,
                lit.cell,
                lit.line,
                message,
                fix,
                excerpt(source.get(lit.cell, ""), lit.line),
            )
        )
    return findings


def override(key: str, value: object) -> str:
    """``key=value`` as a Hydra command-line override."""
    if isinstance(value, list):
        return f"{key}=[{','.join(str(v) for v in value)}]"
    return f"{key}={value}"


def config_table(found: list[Literal]) -> dict[str, list[Literal]]:
    """Mapped literals by config key, in first-seen order."""
    table: dict[str, list[Literal]] = {}
    for lit in found:
        if lit.key:
            table.setdefault(lit.key, []).append(lit)
    return table
