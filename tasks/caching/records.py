"""Storage blocks that sign every task-result record and verify it on read.

Prefect 3 picks the deserializer a stored record names in its own metadata, already when it
checks whether the record exists, so anyone who can write the result storage could make the
flow unpickle their bytes. Here the storage itself stands between Prefect and the bytes:
``write_path`` seals each record with an HMAC (:mod:`tasks.caching.signing`) and
``read_path`` hands Prefect a record only when its signature verifies and its metadata
names the project's :class:`~tasks.caching.serializer.BundleSerializer`. Otherwise it logs a warning
naming the record and raises :class:`~tasks.caching.signing.UntrustedRecordError`: Prefect's
``exists()`` treats any exception as "no record", so the step is recomputed and its result
written over the rejected one. (A record replaced between ``exists()`` and ``read()`` fails
that read; the task retries, see ``tasks.stages.is_transient``, and then recomputes.)
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, ClassVar

from prefect import get_run_logger
from prefect.blocks.system import Secret
from prefect.exceptions import MissingContextError
from prefect.filesystems import LocalFileSystem, RemoteFileSystem
from prefect.logging import get_logger
from prefect.settings import get_current_settings
from pydantic import BaseModel, Field, PrivateAttr

from tasks.caching.serializer import BundleSerializer
from tasks.caching.signing import (
    CACHE_KEY_ENV,
    HOW_TO_SET,
    LOCAL_KEY_NAME,
    UntrustedRecordError,
    checked_key,
    local_key,
    seal,
    unseal,
)

RECORD_SERIALIZER: str = BundleSerializer.model_fields["type"].default
_METADATA_PREFIX = b'{"metadata":'
_METADATA_SCAN = 64 * 1024  # Prefect writes the metadata (well under 1 KiB) first


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run logger inside a flow or task run, else this module's Prefect logger."""
    try:
        return get_run_logger()
    except MissingContextError:
        return get_logger("sales_forecast.cache")


def signing_key(key_block: str | None, location: str, *, shared: bool) -> tuple[bytes, str]:
    """The HMAC key for result storage at ``location`` and where it came from (never the key).

    A Secret block named in config wins, then ``$SALES_CACHE_HMAC_KEY``; a local cache
    falls back to a key kept in ``$PREFECT_HOME``; a shared cache without a key is refused.
    """
    if key_block:
        source = f"the Secret block output.cache_key_block={key_block!r}"
        try:
            secret: Any = Secret.load(key_block, _sync=True)  # type: ignore[call-arg]
        except ValueError as exc:
            raise ValueError(
                f"{source} could not be loaded ({exc}); create it with "
                f"`Secret(value=...).save({key_block!r})` or unset output.cache_key_block"
            ) from None
        return checked_key(str(secret.get()), source), source
    if os.environ.get(CACHE_KEY_ENV):
        source = f"${CACHE_KEY_ENV}"
        return checked_key(os.environ[CACHE_KEY_ENV], source), source
    if shared:
        raise ValueError(
            f"output.result_storage={location} is a shared cache, and a shared cache is only "
            f"read with a signing key that every process sharing it holds: {HOW_TO_SET}"
        )
    home = get_current_settings().home
    return local_key(home), str(home / LOCAL_KEY_NAME)


def record_serializer(content: bytes) -> str | None:
    """The serializer type a result record names in its metadata (``None``: not a record)."""
    record: Any = None
    if content.startswith(_METADATA_PREFIX):
        head = content[len(_METADATA_PREFIX) : _METADATA_SCAN].decode("ascii", "replace")
        try:
            record = {"metadata": json.JSONDecoder().raw_decode(head)[0]}
        except ValueError:
            record = None
    if record is None:
        try:
            record = json.loads(content)
        except ValueError:
            return None
    try:
        named = record["metadata"]["serializer"]["type"]
    except (TypeError, KeyError):
        return None
    return named if isinstance(named, str) else None


class SignedRecords(BaseModel):
    """Sign on write, verify before Prefect parses on read (mixed in before a storage block)."""

    key_block: str | None = Field(
        default=None, description="Name of the Secret block holding the HMAC key (not the key)."
    )
    _signing_key: bytes | None = PrivateAttr(default=None)
    shared: ClassVar[bool] = True

    def use_key(self, key: bytes) -> None:
        """Sign and verify with ``key`` (kept in memory only, never saved with the block)."""
        self._signing_key = key

    def record_location(self, path: str) -> str:
        """Where the record ``path`` lives, as a person would look for it."""
        return path

    def record_name(self, path: str) -> str:
        """The record's name inside this storage, bound into its signature (no moving)."""
        return self.record_location(path)

    def _key(self, path: str) -> bytes:
        if self._signing_key is None:
            where = self.record_location(path)
            self._signing_key = signing_key(self.key_block, where, shared=self.shared)[0]
        return self._signing_key

    def _open(self, path: str, blob: bytes) -> bytes:
        location = self.record_location(path)
        try:
            content = unseal(self._key(path), self.record_name(path), blob, location)
            named = record_serializer(content)
            if named != RECORD_SERIALIZER:
                what = "no result record" if named is None else f"serializer {named!r}"
                raise UntrustedRecordError(
                    location, f"it names {what}; only {RECORD_SERIALIZER!r} is accepted"
                )
        except UntrustedRecordError as exc:
            run_logger().warning(
                "cache record %s rejected: %s; not deserialized, the step is recomputed and "
                "the record replaced",
                exc.location,
                exc.reason,
            )
            raise
        return content

    def _seal(self, path: str, content: bytes) -> bytes:
        named = record_serializer(content)
        if named != RECORD_SERIALIZER:
            raise TypeError(
                f"not storing {self.record_location(path)}: its serializer is {named!r}; "
                f"cached tasks must use result_serializer=BundleSerializer()"
            )
        return seal(self._key(path), self.record_name(path), content)

    def read_path(self, path: str, _sync: bool | None = None) -> bytes:
        """The verified record at ``path``; :class:`UntrustedRecordError` if it does not verify."""
        blob: bytes = getattr(super(), "read_path")(path, _sync=True)  # noqa: B009
        return self._open(path, blob)

    async def aread_path(self, path: str) -> bytes:
        """Async :meth:`read_path`."""
        blob: bytes = await getattr(super(), "aread_path")(path)  # noqa: B009
        return self._open(path, blob)

    def write_path(self, path: str, content: bytes, _sync: bool | None = None) -> str:
        """Store ``content`` at ``path`` under its signature."""
        where: str = getattr(super(), "write_path")(path, self._seal(path, content), _sync=True)  # noqa: B009
        return where

    async def awrite_path(self, path: str, content: bytes) -> str:
        """Async :meth:`write_path`."""
        where: str = await getattr(super(), "awrite_path")(path, self._seal(path, content))  # noqa: B009
        return where


# Prefect's abstract base declares async read/write methods; concrete blocks (and Prefect's
# callers) use a sync method plus an ``a``-prefixed async one, as SignedRecords provides.
class SignedLocalFileSystem(SignedRecords, LocalFileSystem):  # type: ignore[misc]
    """Task results in a local folder, signed; the key may default to one in PREFECT_HOME."""

    _block_type_name = "Sales Forecast Signed Local Results"
    shared: ClassVar[bool] = False

    def record_location(self, path: str) -> str:
        """The record's absolute file path."""
        return str(self._resolve_path(path))

    def record_name(self, path: str) -> str:
        """The record's path under the folder (the folder itself may move)."""
        return self._resolve_path(path).relative_to(self._resolve_path("")).as_posix()


class SignedRemoteFileSystem(SignedRecords, RemoteFileSystem):  # type: ignore[misc]
    """Task results at an fsspec URL other than ``s3://``, signed."""

    _block_type_name = "Sales Forecast Signed Remote Results"

    def record_location(self, path: str) -> str:
        """The record's URL."""
        return self._resolve_path(path)
