"""A result serializer that never pickles: frames as parquet, boosters as LightGBM text.

:class:`BundleSerializer` stores a task result as a zip of parquet (frames), LightGBM text
(boosters) and JSON (everything else); dataclasses are rebuilt only when their module is
under ``tasks.``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import importlib
import io
import json
import zipfile
from typing import Any, Literal

import lightgbm as lgb
import polars as pl
from prefect.serializers import Serializer

_ALLOWED_MODULE_PREFIX = "tasks."


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
