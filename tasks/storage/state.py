"""Reading persisted state: checked against its contract, or an error that names the file.

The registry, the serving pointer and the monitoring tables are files that other runs
wrote and that anyone with write access to the output path can change. Everything read
from them goes through here: a missing file is ``None`` (the caller decides what "nothing
yet" means); a file that is empty, truncated, not JSON or not parquet, lacks a field or
column, holds a value of the wrong type, or does not match its recorded SHA-256 raises
:class:`CorruptStateError`, which names the file, says what is wrong and what to do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeAlias

import polars as pl

from tasks.storage import files
from tasks.storage.s3 import StorageSettings

Types: TypeAlias = type | tuple[type, ...]
Schema: TypeAlias = Mapping[str, Types]
Settings: TypeAlias = StorageSettings | None
NULL = type(None)
NOTHING: Mapping[str, Any] = MappingProxyType({})
_JSON_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
    NULL: "null",
}


class CorruptStateError(ValueError):
    """A state file exists but cannot be used: which file, what is wrong, what to do.

    Attributes
    ----------
    path
        The file (local path or ``s3://`` URL).
    what
        What the file is, in words (``champion pointer``, ``registry version summary``).
    problem
        What is wrong with it (``truncated after 41 bytes``, ``field 'version' is missing``).
    fix
        What to do, with the exact command where there is one.
    """

    def __init__(self, path: str, problem: str, fix: str, what: str = "state file") -> None:
        self.path, self.problem, self.fix, self.what = path, problem, fix, what
        super().__init__(f"{what} {path} is damaged: {problem}. To repair: {fix}")

    def with_fix(self, fix: str) -> CorruptStateError:
        """The same error with another repair advice."""
        return CorruptStateError(self.path, self.problem, fix, self.what)

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (Prefect task states) with every field
        return (CorruptStateError, (self.path, self.problem, self.fix, self.what))


def json_type(value: Any) -> str:
    """The JSON name of a value's type (``an object``, ``a string``...)."""
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _fits(value: Any, types: Types) -> bool:
    allowed = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool):  # JSON true is not a number, although bool subclasses int
        return bool in allowed
    if isinstance(value, int) and float in allowed:
        return True
    return isinstance(value, allowed)


def _names(types: Types) -> str:
    allowed = types if isinstance(types, tuple) else (types,)
    return " or ".join(_JSON_NAMES.get(t, t.__name__) for t in allowed)


def field_problems(
    data: Mapping[str, Any], required: Schema, optional: Schema = NOTHING
) -> list[str]:
    """What is wrong with the fields of a JSON object: missing or of the wrong type."""
    problems = [f"field {k!r} is missing" for k in required if k not in data]
    for key, types in {**optional, **required}.items():
        if key in data and not _fits(data[key], types):
            found = json_type(data[key])
            problems.append(f"field {key!r} is {found}, expected {_names(types)}")
    return problems


def parse_json(data: bytes, path: str, *, what: str, fix: str) -> Any:
    """The JSON value in ``data`` (read from ``path``), or :class:`CorruptStateError`."""
    if not data.strip():
        raise CorruptStateError(path, f"it is empty ({len(data)} bytes)", fix, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptStateError(path, f"not UTF-8 text (byte {exc.start})", fix, what) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            problem = f"truncated: the JSON stops after {len(data)} bytes"
        else:
            problem = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise CorruptStateError(path, problem, fix, what) from exc


def check_object(
    value: Any,
    path: str,
    *,
    what: str,
    fix: str,
    required: Schema = NOTHING,
    optional: Schema = NOTHING,
) -> dict[str, Any]:
    """``value`` if it is a JSON object with the fields asked for, else the error."""
    if not isinstance(value, dict):
        raise CorruptStateError(path, f"it holds {json_type(value)}, not an object", fix, what)
    problems = field_problems(value, required, optional)
    if problems:
        raise CorruptStateError(path, "; ".join(problems), fix, what)
    return value


def read_bytes(path: str, *, what: str, fix: str, settings: Settings = None) -> bytes | None:
    """The content of ``path``; ``None`` when it does not exist."""
    try:
        return files.read_bytes(path, settings=settings)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError as exc:
        raise CorruptStateError(path, "it is a folder, not a file", fix, what) from exc


def read_json(
    path: str,
    *,
    what: str,
    fix: str,
    required: Schema = NOTHING,
    optional: Schema = NOTHING,
    settings: Settings = None,
) -> dict[str, Any] | None:
    """A JSON object with the ``required`` fields (and ``optional`` ones of the right type).

    Returns ``None`` when the file does not exist; raises :class:`CorruptStateError` when it
    exists but is unusable. ``fix`` is what the error tells the reader to do.
    """
    data = read_bytes(path, what=what, fix=fix, settings=settings)
    if data is None:
        return None
    value = parse_json(data, path, what=what, fix=fix)
    return check_object(value, path, what=what, fix=fix, required=required, optional=optional)


def check_digest(
    data: bytes, path: str, recorded: Mapping[str, Any], *, source: str, what: str, fix: str
) -> bytes:
    """``data`` if its size and SHA-256 are those ``recorded`` (``{"bytes", "sha256"}``)."""
    actual = hashlib.sha256(data).hexdigest()
    expected = recorded.get("sha256")
    if actual != expected:
        problem = (
            f"its SHA-256 is {actual} ({len(data)} bytes) but {source} records {expected} "
            f"({recorded.get('bytes')} bytes): it was changed or damaged after it was written"
        )
        raise CorruptStateError(path, problem, fix, what)
    return data


def read_parquet(
    path: str,
    *,
    what: str,
    fix: str,
    schema: Mapping[str, pl.DataType | type[pl.DataType]] = NOTHING,
    columns: Sequence[str] = (),
    settings: Settings = None,
) -> pl.DataFrame | None:
    """A parquet table with ``columns`` and ``schema``'s columns and types; ``None``: no file."""
    data = read_bytes(path, what=what, fix=fix, settings=settings)
    if data is None:
        return None
    if not data:
        raise CorruptStateError(path, "it is empty (0 bytes)", fix, what)
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # Polars raises ComputeError, OSError, PanicException...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CorruptStateError(path, f"not a readable parquet file ({first})", fix, what) from exc
    missing = [c for c in [*columns, *schema] if c not in frame.columns]
    wrong = [
        f"column {c!r} is {frame.schema[c]}, expected {dtype}"
        for c, dtype in schema.items()
        if c in frame.columns and frame.schema[c] != dtype
    ]
    problems = ([f"columns {missing} are missing"] if missing else []) + wrong
    if problems:
        raise CorruptStateError(path, "; ".join(problems), fix, what)
    return frame


def set_aside_name(path: str, now: dt.datetime | None = None) -> str:
    """Where a damaged file is kept: ``{path}.damaged-{UTC time}``."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{path}.damaged-{stamp}"


def set_aside(path: str, *, settings: Settings = None) -> str:
    """Rename a damaged file out of the way (nothing is deleted); returns its new name."""
    return files.move(path, set_aside_name(path), settings=settings)
