"""A proposed split of the notebook's code cells into the pipeline's stages.

Each code cell is scored by the calls, attributes and names it contains (``read_parquet``
→ ingest, ``dropna`` → clean, ``groupby``/``resample`` → aggregate, ``shift``/``rolling``
→ features, ``lgb.train`` → train, ``wape`` → evaluate, ``predict`` → forecast, ``plot``
→ report). Cells that only import or set options are setup; cells that only display data
are exploration, which the pipeline does not keep. Names that cross from one stage's cells
to a later stage's cells are the stage's inputs and outputs: the frames its function takes
and returns.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from tasks.notebook.cells import Cell
from tasks.notebook.checks import call_name, walk
from tasks.notebook.findings import words
from tasks.notebook.habits import DISPLAY_METHODS

STAGES = ("ingest", "clean", "aggregate", "features", "train", "evaluate", "forecast", "report")
SETUP, EXPLORE = "setup", "explore"
MODULES = {
    SETUP: "conf/ (settings) and each module's imports",
    EXPLORE: "not kept: exploration; checks become Pandera schemas or quality checks",
    "ingest": "tasks/data/ingest.py",
    "clean": "tasks/data/clean.py",
    "aggregate": "tasks/data/aggregate.py",
    "features": "tasks/model/features.py",
    "train": "tasks/model/train.py",
    "evaluate": "tasks/model/backtest.py, tasks/model/metrics.py",
    "forecast": "tasks/model/forecast.py",
    "report": "tasks/report/",
}
SIGNALS: dict[str, frozenset[str]] = {
    "ingest": words(
        "read_csv read_parquet read_excel read_json read_sql read_table read_feather glob "
        "iglob listdir scandir scan_csv scan_parquet read_database load_dataset"
    ),
    "clean": words(
        "dropna drop_duplicates fillna isna notna isnull strip lower upper replace isin "
        "clip to_datetime to_numeric query between duplicated clean"
    ),
    "aggregate": words(
        "groupby agg aggregate resample asfreq pivot pivot_table reindex unstack stack date_range"
    ),
    "features": words(
        "shift rolling ewm diff pct_change dayofweek weekday isocalendar holidays "
        "country_holidays transform features feats lag lags windows"
    ),
    "train": words("train fit Dataset LGBMRegressor XGBRegressor params model"),
    "evaluate": words(
        "wape mape mae rmse smape mean_absolute_error mean_squared_error score naive "
        "backtest cutoff test holdout validation"
    ),
    "forecast": words("predict forecast future horizon fc"),
    "report": words(
        "plot show savefig subplots figure legend set_title bar scatter to_csv to_parquet to_excel"
    ),
}


@dataclass
class StagePlan:
    """The cells proposed for one stage, and the names that flow in and out of it."""

    stage: str
    cells: list[int] = field(default_factory=list)
    takes: list[str] = field(default_factory=list)
    gives: list[str] = field(default_factory=list)

    @property
    def module(self) -> str:
        """Where this stage lives in the pipeline."""
        return MODULES[self.stage]


def _tokens(cell: Cell) -> list[str]:
    tokens: list[str] = []
    for node in walk(cell):
        word = ""
        if isinstance(node, ast.Attribute):
            word = node.attr
        elif isinstance(node, ast.Name | ast.arg):
            word = node.id if isinstance(node, ast.Name) else node.arg
        elif isinstance(node, ast.FunctionDef):
            word = node.name
        parts = word.lower().split("_")
        tokens += [word] if len(parts) == 1 else [word, *parts]
    return tokens


def _only(cell: Cell, kinds: tuple[type[ast.stmt], ...]) -> bool:
    assert cell.tree is not None
    return bool(cell.tree.body) and all(isinstance(s, kinds) for s in cell.tree.body)


def _displays_only(cell: Cell) -> bool:
    assert cell.tree is not None
    for statement in cell.tree.body:
        value = statement.value if isinstance(statement, ast.Expr) else None
        if value is None:
            return False
        if isinstance(value, ast.Call) and call_name(value) not in (
            *DISPLAY_METHODS,
            "print",
            "display",
        ):
            return False
    return bool(cell.tree.body)


def _setup(cell: Cell) -> bool:
    assert cell.tree is not None
    for statement in cell.tree.body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            continue
        if isinstance(statement, ast.Expr | ast.Assign) and "option" in ast.unparse(statement):
            continue
        return False
    return bool(cell.tree.body)


def stages_of(cell: Cell) -> list[str]:
    """The stages this cell's code belongs to, main one first (``setup`` or ``explore``
    when none). A second stage scoring at least three quarters of the first's means the
    cell mixes two stages and should be split; ties go to the later stage."""
    if cell.tree is None:
        return [EXPLORE]
    if _setup(cell):
        return [SETUP]
    if _displays_only(cell):
        return [EXPLORE]
    tokens = _tokens(cell)
    scores = {stage: sum(t in SIGNALS[stage] for t in tokens) for stage in STAGES}
    ranked = sorted(STAGES, key=lambda s: (-scores[s], -STAGES.index(s)))  # ties: later stage
    best = ranked[0]
    if scores[best] == 0:
        only_constants = _only(cell, (ast.Assign, ast.AnnAssign))
        return [SETUP if only_constants else EXPLORE]
    also = [s for s in ranked[1:] if scores[s] > 2 and 4 * scores[s] >= 3 * scores[best]]
    return [best, *also[:1]]


def split(cells: list[Cell]) -> tuple[dict[int, list[str]], list[StagePlan]]:
    """Each code cell's stages, and the plan per stage in pipeline order."""
    code = [c for c in cells if c.is_code]
    found = {c.number: stages_of(c) for c in code}
    plans = {s: StagePlan(s) for s in (SETUP, *STAGES, EXPLORE)}
    for cell in code:
        for stage in found[cell.number]:
            plans[stage].cells.append(cell.number)
    bound_by: dict[str, str] = {}
    for cell in code:
        mixed = [s for s in found[cell.number] if s in STAGES]
        reader = min(mixed, key=STAGES.index) if mixed else ""  # a mixed cell reads first
        writer = max(mixed, key=STAGES.index) if mixed else ""  # and hands on last
        for name in [*cell.inputs, *(u.name for u in cell.late)]:
            origin = bound_by.get(name)
            if origin and reader and origin != reader:
                _add(plans[reader].takes, name)
                _add(plans[origin].gives, name)
        for name in cell.defines:
            if name not in cell.imports and writer:
                bound_by[name] = writer
    return found, [p for p in plans.values() if p.cells]


def _add(items: list[str], name: str) -> None:
    if name not in items:
        items.append(name)
