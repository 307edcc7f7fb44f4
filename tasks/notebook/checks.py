"""Code-pattern checks over one parsed code cell: paths, credentials, randomness.

Every check returns findings with the cell number, the line, and a fix that names where
the thing belongs in the pipeline (a config key, a stage module, the run logger).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from tasks.notebook.cells import Cell
from tasks.notebook.findings import BLOCKER, WARNING, Finding, excerpt, mask, words

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


def finding_at(
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
            finding_at(
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
                finding_at(
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
