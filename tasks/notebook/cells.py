"""Parse a notebook into cells and map the names each code cell defines, uses and changes.

IPython syntax (``%magic``, ``!shell``, ``%%cell magic``, ``x?``) is blanked out before
``ast`` sees a cell, keeping line numbers. A cell that still does not parse is kept with
its error and no names.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field

import nbformat

IPYTHON_NAMES = frozenset({"display", "get_ipython", "In", "Out", "exit", "quit", "_", "__"})
MODULE_NAMES = frozenset({"__name__", "__doc__", "__file__", "__builtins__"})
BUILTIN_NAMES = frozenset(dir(builtins)) | IPYTHON_NAMES | MODULE_NAMES
_MAGIC = re.compile(r"^\s*(%|!)|\?\s*$")


class NotebookError(ValueError):
    """The text is not a notebook nbformat can read and validate."""


@dataclass(frozen=True)
class FunctionUse:
    """A global name read inside a function body: resolved when the function is called."""

    function: str
    name: str
    line: int


@dataclass
class Cell:
    """One notebook cell; for code cells, its syntax tree and its names.

    ``inputs`` are the names the cell reads before binding them itself (with the line of
    the first read); ``defines`` the names it binds at the top level, in order;
    ``modifies`` the names it changes in place (``df["x"] = ...``, ``inplace=True``);
    ``late`` the globals its functions read.
    """

    number: int
    kind: str
    source: str
    execution_count: int | None = None
    tree: ast.Module | None = None
    error: str | None = None
    defines: list[str] = field(default_factory=list)
    inputs: dict[str, int] = field(default_factory=dict)
    modifies: dict[str, int] = field(default_factory=dict)
    imports: dict[str, int] = field(default_factory=dict)
    late: list[FunctionUse] = field(default_factory=list)

    @property
    def is_code(self) -> bool:
        """A code cell with something in it."""
        return self.kind == "code" and bool(self.source.strip())


def python_source(source: str) -> str:
    """The cell's text with IPython-only lines blanked (line numbers kept)."""
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join("" if _MAGIC.search(line) else line for line in source.splitlines())


def read_notebook(text: str, name: str) -> list[Cell]:
    """Every cell of the notebook in ``text`` (``name`` is for error messages).

    Raises
    ------
    NotebookError
        When the text is not JSON, not a notebook, or fails nbformat's schema.
    """
    try:
        nb = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises JSON, schema and version errors alike
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NotebookError(
            f"{name} is not a valid Jupyter notebook (nbformat 4): {first[:200]}"
        ) from exc
    cells = []
    for number, raw in enumerate(nb.cells, start=1):
        count = raw.get("execution_count") if raw.cell_type == "code" else None
        cell = Cell(number, raw.cell_type, raw.source, count if isinstance(count, int) else None)
        if cell.kind == "code":
            parse(cell)
        cells.append(cell)
    return cells


def parse(cell: Cell) -> None:
    """Fill the cell's tree and names, or its error."""
    try:
        cell.tree = ast.parse(python_source(cell.source))
    except SyntaxError as exc:
        cell.error = f"line {exc.lineno}: {exc.msg}"
        return
    names = _CellNames()
    for statement in cell.tree.body:
        names.visit(statement)
    cell.defines, cell.inputs, cell.modifies = names.defines, names.inputs, names.modifies
    cell.imports, cell.late = names.imports, names.late


def root_name(node: ast.expr) -> ast.Name | None:
    """The name at the root of ``a.b[c].d``, if there is one."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
        node = node.value
    return node if isinstance(node, ast.Name) else None


def _arg_names(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def free_names(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> dict[str, int]:
    """Names a function or lambda body reads that it does not bind (its globals)."""
    body: list[ast.AST] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)
    bound = _arg_names(node.args)
    declared_global: set[str] = set()
    loads: dict[str, int] = {}
    for part in body:
        for sub in ast.walk(part):
            if isinstance(sub, ast.Name):
                if isinstance(sub.ctx, ast.Load):
                    loads.setdefault(sub.id, sub.lineno)
                else:
                    bound.add(sub.id)
            elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bound.add(sub.name)
                if not isinstance(sub, ast.ClassDef):
                    bound |= _arg_names(sub.args)
            elif isinstance(sub, ast.Lambda):
                bound |= _arg_names(sub.args)
            elif isinstance(sub, ast.Import | ast.ImportFrom):
                bound |= {(a.asname or a.name).split(".")[0] for a in sub.names}
            elif isinstance(sub, ast.ExceptHandler) and sub.name:
                bound.add(sub.name)
            elif isinstance(sub, ast.Global):
                declared_global |= set(sub.names)
    bound -= declared_global
    return {n: line for n, line in loads.items() if n not in bound and n not in BUILTIN_NAMES}


class _CellNames(ast.NodeVisitor):
    """Walks a cell's statements in execution order: reads before the binds they feed."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.defines: list[str] = []
        self.inputs: dict[str, int] = {}
        self.modifies: dict[str, int] = {}
        self.imports: dict[str, int] = {}
        self.late: list[FunctionUse] = []

    def load(self, name: str, line: int) -> None:
        if name not in self.bound and name not in BUILTIN_NAMES:
            self.inputs.setdefault(name, line)

    def store(self, name: str) -> None:
        self.bound.add(name)
        if name not in self.defines:
            self.defines.append(name)

    def target(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name):
            self.store(node.id)
        elif isinstance(node, ast.Tuple | ast.List):
            for element in node.elts:
                self.target(element)
        elif isinstance(node, ast.Starred):
            self.target(node.value)
        else:  # df["x"] = ..., obj.attr = ...: reads the object, changes it in place
            self.visit(node)
            base = root_name(node)
            if base is not None:
                self.modifies.setdefault(base.id, node.lineno)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.load(node.id, node.lineno)
        else:
            self.store(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.target(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.target(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self.load(node.target.id, node.lineno)
        self.target(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.target(node.target)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self.target(node.target)
        for statement in [*node.body, *node.orelse]:
            self.visit(statement)

    visit_AsyncFor = visit_For  # noqa: N815

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.target(item.optional_vars)
        for statement in node.body:
            self.visit(statement)

    visit_AsyncWith = visit_With  # noqa: N815

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                name = (alias.asname or alias.name).split(".")[0]
                self.store(name)
                self.imports.setdefault(name, node.lineno)

    visit_ImportFrom = visit_Import  # noqa: N815

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self.visit(expr)
        self.store(node.name)
        for name, line in free_names(node).items():
            self.late.append(FunctionUse(node.name, name, line))

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases]:
            self.visit(expr)
        self.store(node.name)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expr in node.args.defaults:
            self.visit(expr)
        for name, line in free_names(node).items():
            self.load(name, line)

    def _comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> None:
        local = {
            n.id for gen in node.generators for n in ast.walk(gen.target) if isinstance(n, ast.Name)
        }
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in local:
                self.load(sub.id, sub.lineno)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension  # noqa: N815

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.store(node.name)
        for statement in node.body:
            self.visit(statement)

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        inplace = any(
            k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in node.keywords
        )
        base = root_name(node.func) if isinstance(node.func, ast.Attribute) else None
        if inplace and base is not None:
            self.modifies.setdefault(base.id, node.lineno)
