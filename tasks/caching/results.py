"""Where task results live: a signed storage block for a folder or URL, saved once.

Local folders and fsspec URLs get the blocks of :mod:`tasks.caching.records`; ``s3://``
gets the bucket block of :mod:`tasks.caching.records_s3` (imported on first use: prefect-aws
takes seconds to import and local runs never need it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from prefect.filesystems import WritableFileSystem

from tasks import storage
from tasks.caching.records import (
    SignedLocalFileSystem,
    SignedRemoteFileSystem,
    run_logger,
    signing_key,
)


def result_storage(
    path: str, settings: storage.StorageSettings | None = None, key_block: str | None = None
) -> WritableFileSystem:
    """Signed result storage for ``path`` (a folder or URL), saved as a Prefect block.

    Prefect needs result storage as a saved block; it is saved under a name derived from
    the URL, the storage settings and the key block's name, so every process that points
    at the same URL shares the same results. For ``s3://`` it is an ``S3Bucket`` (see
    :mod:`tasks.caching.records_s3`). The signing key is resolved first (a shared cache
    without one fails here, before any work) and is never part of the saved document.
    """
    settings = settings or storage.DEFAULT_SETTINGS
    shared = storage.is_remote(path)
    location = path if shared else str(Path(path).resolve())
    key, source = signing_key(key_block, location, shared=shared)
    identity = json.dumps([location, dataclasses.asdict(settings), key_block], sort_keys=True)
    name = "sales-forecast-results-" + hashlib.sha256(identity.encode()).hexdigest()[:12]
    block: SignedLocalFileSystem | SignedRemoteFileSystem | WritableFileSystem
    if storage.is_s3(path):
        from tasks.caching.records_s3 import signed_s3_block  # noqa: PLC0415  (slow import)

        block = signed_s3_block(path, settings, key_block, key)
    elif shared:
        block = SignedRemoteFileSystem(basepath=path, key_block=key_block)
        block.use_key(key)
    else:
        block = SignedLocalFileSystem(basepath=location, key_block=key_block)
        block.use_key(key)
    block.save(name=name, overwrite=True)
    run_logger().info("task results: %s, records signed with the key from %s", location, source)
    return block
