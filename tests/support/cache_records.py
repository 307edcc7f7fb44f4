"""Hostile task-result records for the cache tests: what someone who can write the cache plants.

Every builder returns the bytes to put at a record's location. The pickle payload opens
``marker`` for writing when it is unpickled: if that file exists, planted code ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect._internal.result_records import ResultRecord, ResultRecordMetadata
from prefect.serializers import PickleSerializer

from tasks.caching import BundleSerializer
from tasks.caching.signing import seal

WRONG_KEY = b"an-attackers-own-key-not-the-projects-0000"


class Payload:
    """Unpickling this creates ``marker`` (``open(marker, "w")``): code from the record ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def pickle_record(marker: Path, storage_key: str) -> bytes:
    """A record exactly as Prefect writes one with its pickle serializer (no signature)."""
    record = ResultRecord(
        result=Payload(marker),
        metadata=ResultRecordMetadata(serializer=PickleSerializer(), storage_key=storage_key),
    )
    return record.serialize()


def bundle_record(value: Any, storage_key: str) -> bytes:
    """A record in the project's own format (BundleSerializer), unsigned."""
    record = ResultRecord(
        result=value,
        metadata=ResultRecordMetadata(serializer=BundleSerializer(), storage_key=storage_key),
    )
    return record.serialize()


def forged(content: bytes, name: str) -> bytes:
    """``content`` sealed like a real record, but with a key that is not the project's."""
    return seal(WRONG_KEY, name, content)


def storage_key(task_run: Any) -> str | None:
    """The key of the record a task run's result went to, from its state as the server has it."""
    data = task_run.state.data if task_run.state is not None else None
    if isinstance(data, dict):
        return data.get("storage_key")
    return getattr(data, "storage_key", None)


def record_content(blob: bytes) -> bytes:
    """The record inside a sealed blob (its header line dropped, nothing verified)."""
    return blob.split(b"\n", 1)[1]


def record_value(content: bytes) -> Any:
    """The result inside a project-format record."""
    return ResultRecord.deserialize(content).result
