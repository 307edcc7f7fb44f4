"""Content-based cache keys for Prefect tasks.

* :class:`ContentInputs` hashes task inputs by content: a ``pl.DataFrame`` by schema,
  height and row hashes (a parquet round trip drops sortedness flags, which would break
  pickle-based hashes), a Booster by its model text, dataclasses field by field.
* :class:`StageCode` hashes the code the task runs (:mod:`tasks.caching.digest`), so a
  change to that code invalidates results computed by older code, and only those.
* :class:`InputFiles` hashes the fingerprints of the input files.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import lightgbm as lgb
import polars as pl
from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.utilities.hashing import hash_objects

from tasks import storage
from tasks.caching.digest import stage_digest

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
class StageCode(CachePolicy):
    """Cache key part that changes whenever the code the task runs changes."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The digest of the task function's code and the ``tasks`` code it reaches."""
        return stage_digest(task_ctx.task.fn)


@dataclasses.dataclass
class InputFiles(CachePolicy):
    """Cache key part from the fingerprints (path, size, mtime/ETag) of the input files.

    A changed, added or removed file changes the key, so a stale ingest is never reused.
    """

    source_input: str = "params"  # a tasks.data.ingest.SourceParams
    settings_input: str = SETTINGS_INPUT

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """Digest of the fingerprints (S3: size and ETag, from one listing) of every file."""
        source = inputs[self.source_input]
        fps = storage.list_fingerprints(
            source.input_path, source.file_format, settings=inputs.get(self.settings_input)
        )
        return storage.digest_fingerprints(fps)


# How to reach storage is not what a task computes on: the same objects reached through
# another endpoint or other credentials give the same results, so keys never include it.
STAGE_CACHE = ContentInputs(exclude=[SETTINGS_INPUT]) + StageCode()
INGEST_CACHE = STAGE_CACHE + InputFiles()
