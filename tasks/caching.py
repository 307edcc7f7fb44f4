"""Content-based cache keys and a non-pickle result serializer for Prefect tasks.

* :class:`ContentInputs` hashes task inputs by content: a ``pl.DataFrame`` by schema,
  height and row hashes (a parquet round trip drops sortedness flags, which would break
  pickle-based hashes), a Booster by its model text, dataclasses field by field.
* :class:`CodeVersion` hashes the source of the ``tasks`` package, so a code change
  invalidates results computed by older code.
* :class:`BundleSerializer` stores results as a zip of parquet (frames), LightGBM text
  (boosters) and JSON (everything else), never pickle.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import functools
import hashlib
import importlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import polars as pl
from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.filesystems import RemoteFileSystem, WritableFileSystem
from prefect.serializers import Serializer
from prefect.utilities.hashing import hash_objects

from tasks import storage

PACKAGE_DIR = Path(__file__).resolve().parent
SETTINGS_INPUT = "storage_settings"  # the task parameter carrying storage.StorageSettings
_ALLOWED_MODULE_PREFIX = "tasks."


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


def result_storage(
    path: str, settings: storage.StorageSettings | None = None
) -> Path | WritableFileSystem:
    """Where task results live: a local folder, or a saved storage block for a URL.

    Prefect needs remote storage as a saved block; one is saved under a name derived from
    the URL and the storage settings, so every process that points at the same URL shares
    the same results. For ``s3://`` it is a prefect-aws ``S3Bucket`` whose credentials are
    the block named by ``settings.credentials_block`` (saved by reference) or an
    ``AwsCredentials`` without keys (the default AWS chain: environment, IAM role); the
    saved document holds the bucket, folder, endpoint and region, never a secret.
    """
    if not storage.is_remote(path):
        return Path(path).resolve()
    settings = settings or storage.DEFAULT_SETTINGS
    identity = json.dumps([path, dataclasses.asdict(settings)], sort_keys=True)
    name = "sales-forecast-results-" + hashlib.sha256(identity.encode()).hexdigest()[:12]
    block: WritableFileSystem
    if storage.is_s3(path):
        block = _s3_result_block(path, settings)
    else:
        block = RemoteFileSystem(basepath=path)
    block.save(name=name, overwrite=True)
    return block


def _s3_result_block(path: str, settings: storage.StorageSettings) -> WritableFileSystem:
    # Imported on first use: prefect-aws takes seconds to import and local runs never need it.
    from prefect_aws import AwsCredentials, S3Bucket  # noqa: PLC0415
    from prefect_aws.client_parameters import AwsClientParameters  # noqa: PLC0415

    retries = {"retries": {"mode": "standard", "max_attempts": storage.CLIENT_MAX_ATTEMPTS}}
    if settings.credentials_block:
        credentials = storage.credentials_block(settings.credentials_block)
        updates: dict[str, Any] = {}
        if settings.endpoint_url:
            params = credentials.aws_client_parameters
            updates["aws_client_parameters"] = params.model_copy(
                update={"endpoint_url": settings.endpoint_url}
            )
        if settings.region:
            updates["region_name"] = settings.region
        if updates:  # an in-memory copy that still references the saved block: config wins
            credentials = credentials.model_copy(update=updates)
    else:
        credentials = AwsCredentials(
            region_name=settings.region,
            aws_client_parameters=AwsClientParameters(
                endpoint_url=settings.endpoint_url, config=retries
            ),
        )
    bucket, folder = storage.split_s3_url(path)
    block: WritableFileSystem = S3Bucket(
        bucket_name=bucket, bucket_folder=folder.strip("/"), credentials=credentials
    )
    return block


def _encode_value(value: Any, name: str, zf: zipfile.ZipFile) -> Any:
    if isinstance(value, pl.DataFrame):
        buf = io.BytesIO()
        value.write_parquet(buf, compression="zstd")
        zf.writestr(f"{name}.parquet", buf.getvalue())
        return {"__frame__": f"{name}.parquet"}
    if isinstance(value, datetime.date):
        return {"__date__": value.isoformat()}
    if isinstance(value, lgb.Booster):
        zf.writestr(f"{name}.txt", value.model_to_string())
        return {"__booster__": f"{name}.txt"}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_dataclass(value, name, zf)
    if isinstance(value, dict):
        return {str(k): _encode_value(v, f"{name}.{k}", zf) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode_value(v, f"{name}.{i}", zf) for i, v in enumerate(value)]
    return value


def _encode_dataclass(value: Any, name: str, zf: zipfile.ZipFile) -> dict[str, Any]:
    cls = type(value)
    if not cls.__module__.startswith(_ALLOWED_MODULE_PREFIX):
        raise TypeError(f"{cls.__qualname__} is not a pipeline result type")
    fields = {
        f.name: _encode_value(getattr(value, f.name), f"{name}.{f.name}", zf)
        for f in dataclasses.fields(value)
    }
    return {"__dataclass__": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}


def _decode_value(value: Any, zf: zipfile.ZipFile) -> Any:
    if isinstance(value, dict):
        if "__frame__" in value:
            return pl.read_parquet(io.BytesIO(zf.read(value["__frame__"])))
        if "__date__" in value:
            return datetime.date.fromisoformat(value["__date__"])
        if "__booster__" in value:
            return lgb.Booster(model_str=zf.read(value["__booster__"]).decode())
        if "__dataclass__" in value:
            module, _, qualname = value["__dataclass__"].partition(":")
            if not module.startswith(_ALLOWED_MODULE_PREFIX):
                raise TypeError(f"refusing to build {value['__dataclass__']!r} from a result")
            cls = getattr(importlib.import_module(module), qualname)
            return cls(**{k: _decode_value(v, zf) for k, v in value["fields"].items()})
        return {k: _decode_value(v, zf) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_value(v, zf) for v in value]
    return value


class BundleSerializer(Serializer):
    """Results as a zip of parquet, LightGBM text and JSON members (base64 in the record)."""

    type: Literal["sales-forecast-bundle"] = "sales-forecast-bundle"

    def dumps(self, obj: Any) -> bytes:
        """Serialize a result to base64 of a zip archive."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            root = _encode_value(obj, "result", zf)
            zf.writestr("result.json", json.dumps(root, sort_keys=True, default=str))
        return base64.b64encode(buf.getvalue())

    def loads(self, blob: bytes) -> Any:
        """Rebuild a result from :meth:`dumps` output."""
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(blob))) as zf:
            return _decode_value(json.loads(zf.read("result.json")), zf)
