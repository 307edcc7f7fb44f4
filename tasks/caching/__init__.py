"""Caching of task results: content keys, a non-pickle serializer, signed result storage.

``keys`` computes cache keys from what a task computes on (input content, the code it
runs (``digest``), input files); ``serializer`` stores results as parquet, LightGBM text
and JSON, never pickle;
``signing`` seals records with an HMAC and ``records``/``records_s3`` are the storage
blocks that verify a record before Prefect reads it; ``results`` picks and saves the block
for ``output.result_storage``. Import from here (``from tasks.caching import STAGE_CACHE``).
"""

from __future__ import annotations

from tasks.caching.keys import (
    INGEST_CACHE,
    SETTINGS_INPUT,
    STAGE_CACHE,
    ContentInputs,
    InputFiles,
    StageCode,
    frame_digest,
    stable_form,
    task_identity,
)
from tasks.caching.results import result_storage
from tasks.caching.serializer import BundleSerializer
from tasks.caching.signing import UntrustedRecordError

__all__ = [
    "INGEST_CACHE",
    "SETTINGS_INPUT",
    "STAGE_CACHE",
    "BundleSerializer",
    "ContentInputs",
    "InputFiles",
    "StageCode",
    "UntrustedRecordError",
    "frame_digest",
    "result_storage",
    "stable_form",
    "task_identity",
]
