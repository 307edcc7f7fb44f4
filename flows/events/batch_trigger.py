"""A run started by an upload batch: the ``s3_batch`` parameter checked, and its overrides.

The ``on-upload`` deployment's trigger passes the payload of the bridge's
``sales-forecast.upload.batch`` event (:mod:`flows.events.batching`) as ``s3_batch``:
``{"bucket", "prefix", "batch_id", "closed_by", "notifications", "objects": [{"key",
"etag", "size"}, ...]}``. Like ``s3_object`` it is not trusted: every object is checked as
an upload (:func:`flows.events.trigger.checked_upload`: landing bucket, safe key under the
landing prefix, allowed suffix, ETag), every object must sit under the batch's ``prefix``
(the landing prefix the run reads), and the ``batch_id`` must be the one its bucket, prefix
and objects give, so a batch cannot name one set of files and claim another's id.

:func:`from_parameters` is what the flow calls: for a batch or a single ``s3_object`` it
returns an upload whose landing prefix the run reads, the overrides, and the record that
goes into the manifest's ``trigger`` section.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flows.events.batching import CLOSED_BY, batch_id
from flows.events.landing import (
    Landing,
    UnsafeValueError,
    check_bucket,
    check_size,
    shown,
)
from flows.events.trigger import (
    Upload,
    checked_fields,
    checked_upload,
    landing_from_env,
    landing_prefix,
    upload_overrides,
)
from tasks.storage import DATA_SUFFIXES

FIELDS = ("bucket", "prefix", "batch_id", "closed_by", "notifications", "objects")
OBJECT_FIELDS = ("key", "etag", "size")
MAX_OBJECTS = 10_000  # the bridge closes batches far earlier (SALES_BRIDGE_BATCH_MAX_OBJECTS)


@dataclass(frozen=True)
class UploadBatch:
    """A checked batch: the uploads under one landing prefix, and how the batch closed."""

    bucket: str
    prefix: str
    batch_id: str
    closed_by: str
    notifications: int
    uploads: tuple[Upload, ...]

    def as_dict(self) -> dict[str, Any]:
        """What the run records as its trigger (the manifest's ``trigger`` section)."""
        return {
            "kind": "batch",
            "bucket": self.bucket,
            "prefix": self.prefix,
            "batch_id": self.batch_id,
            "closed_by": self.closed_by,
            "notifications": self.notifications,
            "object_count": len(self.uploads),
            "objects": [{"key": u.key, "etag": u.etag} for u in self.uploads],
        }


def checked_batch(s3_batch: object, landing: Landing) -> UploadBatch:
    """``s3_batch`` checked field by field; :class:`UnsafeValueError` names the bad field."""
    batch = checked_fields(s3_batch, FIELDS, "s3_batch")
    bucket = check_bucket(batch.get("bucket"), "s3_batch['bucket']")
    objects = batch.get("objects")
    if not isinstance(objects, list) or not 1 <= len(objects) <= MAX_OBJECTS:
        raise UnsafeValueError(
            f"s3_batch['objects'] must be a list of 1..{MAX_OBJECTS} objects, got {shown(objects)}"
        )
    uploads = []
    for i, raw in enumerate(objects):
        where = f"s3_batch['objects'][{i}]"
        obj = checked_fields(raw, OBJECT_FIELDS, where)
        check_size(obj.get("size"), f"{where}['size']")
        try:
            upload = checked_upload(
                {"bucket": bucket, **{k: obj.get(k) for k in ("key", "etag")}}, landing
            )
        except UnsafeValueError as exc:
            raise UnsafeValueError(f"{where}: {exc}") from exc
        uploads.append(upload)
    prefix = batch.get("prefix")
    strays = [u.key for u in uploads if landing_prefix(u.key) != prefix]
    if strays:
        raise UnsafeValueError(
            f"s3_batch['prefix']={shown(prefix)} is not the landing prefix of "
            f"{shown(strays[0])} ({len(strays)} of {len(uploads)} objects): a batch is one prefix"
        )
    assert isinstance(prefix, str)  # every key's landing prefix is a string
    pairs = [(u.key, u.etag) for u in uploads]
    if len(set(pairs)) != len(pairs):
        raise UnsafeValueError("s3_batch['objects'] lists an object (key and ETag) twice")
    closed_by = batch.get("closed_by")
    if closed_by not in CLOSED_BY:
        raise UnsafeValueError(f"s3_batch['closed_by']={shown(closed_by)}: want one of {CLOSED_BY}")
    notifications = batch.get("notifications")
    if (
        not isinstance(notifications, int)
        or isinstance(notifications, bool)
        or not (len(uploads) <= notifications <= 100 * MAX_OBJECTS)
    ):
        raise UnsafeValueError(
            f"s3_batch['notifications']={shown(notifications)}: want a count of at least "
            f"the {len(uploads)} objects"
        )
    expected = str(batch_id(bucket, prefix, pairs))
    if batch.get("batch_id") != expected:
        raise UnsafeValueError(
            f"s3_batch['batch_id']={shown(batch.get('batch_id'))} is not the id of its bucket, "
            "prefix and objects: the batch was altered or not made by the bridge"
        )
    ordered = tuple(sorted(uploads, key=lambda u: (u.key, u.etag)))
    return UploadBatch(bucket, prefix, expected, str(closed_by), notifications, ordered)


def batch_landing(env: Mapping[str, str] | None = None) -> Landing:
    """The landing allow-list for a batch-triggered run; ``ValueError`` when it is unset."""
    try:
        return Landing.from_env(os.environ if env is None else env, DATA_SUFFIXES)
    except UnsafeValueError as exc:
        raise UnsafeValueError(f"s3_batch given but {exc}") from exc


def from_parameters(
    s3_object: object, s3_batch: object, overrides: Sequence[str]
) -> tuple[Upload | None, list[str], dict[str, Any] | None]:
    """The run's upload (one object of the batch), overrides and manifest trigger record.

    Without ``s3_object`` and ``s3_batch``: ``(None, overrides, None)``. Each object of a
    batch must be read by the overrides (a user ``data.input_path`` or ``data.file_format``
    that would skip one fails, naming it); they share one landing prefix, so one upload
    stands for all in :func:`flows.events.trigger.check_composed`.
    """
    if s3_object is not None and s3_batch is not None:
        raise UnsafeValueError("give s3_object or s3_batch, not both")
    if s3_batch is not None:
        batch = checked_batch(s3_batch, batch_landing())
        runs = {tuple(upload_overrides(u, overrides)) for u in batch.uploads}
        (extended,) = runs  # one prefix: the same overrides for every object
        return batch.uploads[0], list(extended), batch.as_dict()
    if s3_object is not None:
        upload = checked_upload(s3_object, landing_from_env())
        return upload, upload_overrides(upload, overrides), dict(upload.as_dict())
    return None, list(overrides), None
