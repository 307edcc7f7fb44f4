"""Code-pattern checks, one function per anti-pattern, each over one parsed code cell.

Every check returns findings with the cell number, the line, and a fix that names where
the thing belongs in the pipeline (a config key, a stage module, the run logger).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from tasks.notebook.cells import Cell, root_name
from tasks.notebook.findings import BLOCKER, NOTE, WARNING, Finding, excerpt, mask, words

DATA_EXTENSIONS = words(
    "csv tsv parquet pq json jsonl ndjson xlsx xls pkl pickle feather arrow h5 hdf5 txt "
    "png jpg jpeg svg pdf html db sqlite zip gz bz2 joblib model"
)
_EXTENSION = re.compile(r"\.(" + "|".join(sorted(DATA_EXTENSIONS)) + r")$", re.IGNORECASE)
_ABSOLUTE = re.compile(r"^(/|~/|\./|\.\./|[A-Za-z]:[\\/]|\\\\)")
_STORAGE_URL = re.compile(r"^(s3|s3a|gs|gcs|abfs|abfss|az|adl|hdfs|file)://", re.IGNORECASE)
_STRFTIME = re.compile(r"%[a-zA-Z]")
WRITERS = words(
    "to_csv to_parquet to_excel to_json to_pickle to_feather savefig write_csv write_parquet "
    "dump save save_model write_text write_bytes"
)
_SECRET_NAME = re.compile(  # a name segment: db_password, AWS_SECRET_ACCESS_KEY, apiKey
    r"(^|_)(pass(word|wd)?|pwd|secret|token|api_?key|access_?key|private_?key|credentials?"
    r"|auth)(_|$)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----|[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"
)
DISPLAY_METHODS = words(
    "head tail describe info value_counts sample nunique unique dtypes shape corr"
)
LEGACY_RANDOM = words(
    "rand randn randint random random_sample ranf sample choice shuffle permutation normal "
    "uniform poisson binomial exponential gamma beta lognormal standard_normal integers"
)
STDLIB_RANDOM = words("random randint randrange choice choices shuffle sample uniform gauss")
NEEDS_RANDOM_STATE = words(
    "train_test_split KFold StratifiedKFold ShuffleSplit TimeSeriesSplit RandomForestRegressor "
    "RandomForestClassifier ExtraTreesRegressor GradientBoostingRegressor LGBMRegressor "
    "LGBMClassifier XGBRegressor XGBClassifier KMeans"
)
SEED_KEYS = words("seed random_state random_seed bagging_seed feature_fraction_seed")
LIGHTGBM_FIX = (
    "train through the pipeline's train stage, which seeds LightGBM from random_seed and "
    "turns on deterministic mode (or add 'seed' and 'deterministic': True to the params)"
)
COLUMN_ACCESSORS = frozenset({"loc", "iloc", "at", "iat"})


def walk(cell: Cell) -> Iterator[ast.AST]:
    """Every node of the cell's tree (nothing for a cell that does not parse)."""
    return ast.walk(cell.tree) if cell.tree is not None else iter(())


def parents(cell: Cell) -> dict[ast.AST, ast.AST]:
    """Each node's parent, for the context checks need."""
    return {child: node for node in walk(cell) for child in ast.iter_child_nodes(node)}


def call_name(call: ast.Call) -> str:
    """``pd.read_csv`` → ``read_csv``; ``glob.glob`` → ``glob``; ``print`` → ``print``."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def dotted(node: ast.expr) -> str:
    """``np.random.choice`` for that attribute chain, ``""`` when it is not one."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


def _finding(
    cell: Cell, check: str, severity: str, line: int | None, message: str, fix: str
) -> Finding:
    return Finding(check, severity, cell.number, line, message, fix, excerpt(cell.source, line))


def looks_like_path(text: str) -> bool:
    """A file, folder, glob or storage URL written into the code."""
    s = text.strip()
    if len(s) < 2 or "\n" in s or not re.search(r"[A-Za-z0-9*]", s) or _STRFTIME.search(s):
        return False
    if _STORAGE_URL.match(s) or _ABSOLUTE.match(s):
        return True
    if s.lower().startswith(("http://", "https://")):
        return bool(_EXTENSION.search(s))
    return bool(_EXTENSION.search(s)) and " " not in s


def hard_coded_paths(cell: Cell) -> list[Finding]:
    """String literals that are file or folder locations."""
    up = parents(cell)
    found = []
    for node in walk(cell):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        if not looks_like_path(node.value) or _is_docstring(node, up):
            continue
        writes = _inside_call(node, up, WRITERS)
        key = "data.output_path" if writes else "data.input_path"
        role = "an output location" if writes else "an input location"
        found.append(
            _finding(
                cell,
                "hard-coded-path",
                BLOCKER,
                node.lineno,
                f"{node.value!r} is {role} written into the code: it only exists on the "
                "machine the notebook ran on",
                f"take it from config ({key}; local paths, globs and s3:// URLs all work) "
                "and let the pipeline's "
                + ("publish step write the run directory" if writes else "ingest step read it"),
            )
        )
    return found


def _is_docstring(node: ast.Constant, up: dict[ast.AST, ast.AST]) -> bool:
    parent = up.get(node)
    return isinstance(parent, ast.Expr) and isinstance(
        up.get(parent), ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module
    )


def _inside_call(node: ast.AST, up: dict[ast.AST, ast.AST], names: frozenset[str]) -> bool:
    while node in up:
        node = up[node]
        if isinstance(node, ast.Call) and call_name(node) in names:
            return True
    return False


def credentials(cell: Cell) -> tuple[list[Finding], set[str]]:
    """Secrets written into the code: by name (``password = "..."``) or by their shape.

    Returns the findings (values masked) and the secret values, so every other finding's
    text can be redacted too.
    """
    found: list[Finding] = []
    secrets: set[str] = set()

    def add(value: str, line: int, what: str) -> None:
        secrets.add(value)
        found.append(
            Finding(
                "credential",
                BLOCKER,
                cell.number,
                line,
                f"{what}: {mask(value)}",
                "delete it from the notebook and rotate it (it is in the file's history); "
                "read it at run time from the environment or a Prefect Secret block, never "
                "from code or config",
                "",
            )
        )

    for node in walk(cell):
        pairs: list[tuple[str, ast.expr, int]] = []
        if isinstance(node, ast.Assign):
            pairs = [(_target_name(t), node.value, node.lineno) for t in node.targets]
        elif isinstance(node, ast.keyword) and node.arg:
            pairs = [(node.arg, node.value, node.value.lineno)]
        elif isinstance(node, ast.Dict):
            pairs = [
                (k.value, v, v.lineno)
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            ]
        for name, value, line in pairs:
            if (
                _SECRET_NAME.search(re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name))
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
                and value.value.strip()
            ):
                add(value.value, line, f"`{name}` is set to a literal secret")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in _SECRET_VALUE.finditer(node.value):
                if match.group(0) not in secrets:
                    add(match.group(0), node.lineno, "a string has the shape of a key or token")
    return found, secrets


def _target_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return str(node.slice.value)
    return ""


def unseeded_randomness(cell: Cell, seeded: set[str], params: dict[str, ast.Dict]) -> list[Finding]:
    """Random draws without a seed.

    ``seeded`` holds ``"numpy"`` / ``"random"`` once an earlier cell called
    ``np.random.seed`` / ``random.seed`` (updated here); ``params`` maps names to the dict
    literals bound to them so far (for ``lgb.train(params, ...)``).
    """
    found = []
    fix = "draw from a generator seeded by the config's random_seed (np.random.default_rng(seed))"
    for node in walk(cell):
        if not isinstance(node, ast.Call):
            continue
        name, chain = call_name(node), dotted(node.func)
        kwargs = {k.arg for k in node.keywords}
        if chain.endswith("random.seed"):
            seeded.add("numpy" if "np" in chain or "numpy" in chain else "random")
            continue
        message = ""
        if re.fullmatch(r"(np|numpy)\.random\.\w+", chain) and name in LEGACY_RANDOM:
            if "numpy" not in seeded:
                message = f"{chain}() draws from NumPy's global generator, never seeded here"
        elif chain.endswith(("random.default_rng", "random.RandomState", "random.Random")):
            if not node.args and not kwargs:
                message = f"{chain}() is created without a seed"
        elif chain.startswith("random.") and name in STDLIB_RANDOM and "random" not in seeded:
            message = f"{chain}() draws from Python's global generator, never seeded here"
        elif (
            name == "sample"
            and "random_state" not in kwargs
            and not chain.startswith(("random", "np", "numpy"))
        ):
            message = ".sample() without random_state picks different rows on every run"
        elif name in NEEDS_RANDOM_STATE and "random_state" not in kwargs:
            message = f"{name}() without random_state"
        elif name == "train" and chain.startswith(("lgb.", "lightgbm.")):
            message = _lightgbm_seed(node, params)
        if message:
            lightgbm = name == "train"
            found.append(
                _finding(
                    cell,
                    "unseeded-random",
                    WARNING if lightgbm else BLOCKER,
                    node.lineno,
                    message,
                    LIGHTGBM_FIX if lightgbm else fix,
                )
            )
    return found


def _lightgbm_seed(call: ast.Call, params: dict[str, ast.Dict]) -> str:
    first = call.args[0] if call.args else None
    literal = params.get(first.id) if isinstance(first, ast.Name) else first
    if not isinstance(literal, ast.Dict):
        return ""
    keys = {k.value for k in literal.keys if isinstance(k, ast.Constant)}
    if keys & SEED_KEYS:
        return ""
    return (
        "LightGBM trains with its built-in default seeds and without deterministic=True "
        "(the pipeline sets seed, bagging_seed, feature_fraction_seed, data_random_seed "
        "from random_seed and deterministic mode)"
    )


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
                _finding(
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
                    _finding(
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
        _finding(
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
                    _finding(
                        cell,
                        "pandas-trap",
                        BLOCKER,
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
                        _finding(
                            cell,
                            "pandas-trap",
                            BLOCKER,
                            node.lineno,
                            f"chained assignment `{ast.unparse(target)} = ...`: it "
                            "sets a temporary copy, the frame may stay unchanged",
                            "assign in one step: df.loc[mask, 'col'] = value",
                        )
                    )
        elif isinstance(node, ast.Call) and _inplace_on_selection(node):
            found.append(
                _finding(
                    cell,
                    "pandas-trap",
                    BLOCKER,
                    node.lineno,
                    f"inplace=True on a selection `{ast.unparse(node.func)}`: it "
                    "changes a temporary copy",
                    "assign the result: df['col'] = df['col'].fillna(0)",
                )
            )
    return found


def _option_finding(cell: Cell, line: int, option: str) -> Finding:
    if option.startswith(("display", "max_", "precision")):
        return _finding(
            cell,
            "pandas-trap",
            NOTE,
            line,
            f"global pandas display option {option!r}",
            "display settings belong to the notebook only: leave them out of pipeline code",
        )
    return _finding(
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
