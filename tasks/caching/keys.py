"""Content-based cache keys for Prefect tasks.

* :class:`ContentInputs` hashes task inputs by content: a ``pl.DataFrame`` by schema,
  height and row hashes (a parquet round trip drops sortedness flags, which would break
  pickle-based hashes), a Booster by its model text, dataclasses field by field.
* :class:`CodeVersion` hashes the source of the ``tasks`` package, so a code change
  invalidates results computed by older code.
* :class:`InputFiles` hashes the fingerprints of the input files.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path
from typing import Any

import lightgbm as lgb
import polars as pl
from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.utilities.hashing import hash_objects

from tasks import storage

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # tasks/
SETTINGS_INPUT = "storage_settings"  # the task parameter carrying storage.StorageSettings


def frame_digest(frame: pl.DataFrame) -> str:
    """Content digest of a frame: schema, height and the hash of every row."""
    h = hashlib.sha256()
    h.update(repr(list(frame.schema.items())).encode())
    h.update(str(frame.height).encode())
    if frame.height and frame.width:
        h.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return h.hexdigest()


def stable_form(value: Any) -> Any:
    """A JSON-able stand-in for ``value`` whose hash depends on content only."""
    if isinstance(value, pl.DataFrame):
        return {"__frame__": frame_digest(value)}
    if isinstance(value, pl.LazyFrame):
        raise TypeError(
            "a LazyFrame cannot be a cached task input: its pickle is the query plan, "
            "not the data; collect it or pass the file fingerprints instead"
        )
    if isinstance(value, lgb.Booster):
        text = value.model_to_string()
        return {"__booster__": hashlib.sha256(text.encode()).hexdigest()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: stable_form(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__dataclass__": type(value).__qualname__, **fields}
    if isinstance(value, dict):
        return {str(k): stable_form(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [stable_form(v) for v in value]
    return value


@functools.cache
def code_digest() -> str:
    """Digest of every ``tasks/**/*.py`` source file, sub-packages too (once per process)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def task_identity(task: Any) -> str:
    """What a task computes: its function, else its name.

    A renamed copy (``task.with_options(name="evaluate-champion")``) runs the same function,
    so on the same inputs it shares the original's cached result instead of recomputing it.
    """
    fn = getattr(task, "fn", None)
    if fn is None:
        return str(task.name)
    return f"{fn.__module__}.{fn.__qualname__}"


@dataclasses.dataclass
class ContentInputs(CachePolicy):
    """Cache key from the content of the task's inputs (frames hashed by value)."""

    exclude: list[str] = dataclasses.field(default_factory=list)

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """Hash what the task computes and the stable form of every input not excluded."""
        kept = {k: stable_form(v) for k, v in (inputs or {}).items() if k not in self.exclude}
        return hash_objects(task_identity(task_ctx.task), kept, raise_on_failure=True)


@dataclasses.dataclass
class CodeVersion(CachePolicy):
    """Cache key part that changes whenever the pipeline's code changes."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The digest of the ``tasks`` package sources."""
        return code_digest()


@dataclasses.dataclass
class InputFiles(CachePolicy):
    """Cache key part from the fingerprints (path, size, mtime/ETag) of the input files.

    A changed, added or removed file changes the key, so a stale ingest is never reused.
    """

    path_input: str = "input_path"
    format_input: str = "file_format"
    settings_input: str = SETTINGS_INPUT

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """Digest of the fingerprints (S3: size and ETag, from one listing) of every file."""
        fps = storage.list_fingerprints(
            inputs[self.path_input],
            inputs[self.format_input],
            settings=inputs.get(self.settings_input),
        )
        return storage.digest_fingerprints(fps)


# How to reach storage is not what a task computes on: the same objects reached through
# another endpoint or other credentials give the same results, so keys never include it.
STAGE_CACHE = ContentInputs(exclude=[SETTINGS_INPUT]) + CodeVersion()
INGEST_CACHE = STAGE_CACHE + InputFiles()
