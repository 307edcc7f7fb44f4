"""Exclusive locks named by a path: ``flock`` on local files, leased objects on S3.

Used where a read-modify-write must not interleave with another process: the registry's
champion pointer, the serving pointer and the monitoring history tables.
:mod:`tasks.storage` re-exports :func:`lock` and :class:`LockTimeoutError`.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from tasks.storage.errors import is_remote, storage_error
from tasks.storage.s3 import StorageSettings, _fs


class LockTimeoutError(TimeoutError):
    """A lock was not acquired within its timeout."""


def lock(
    path: str,
    timeout: float = 30.0,
    *,
    lease_seconds: float = 60.0,
    settings: StorageSettings | None = None,
) -> _Lock:
    """An exclusive lock named by ``path``, held for the duration of a ``with`` block.

    Locally it is an ``fcntl.flock`` on the file at ``path`` (created if missing and left in
    place): it excludes other processes and other ``lock()`` calls in this process, and the
    OS releases it when the holder dies. For URLs (S3) it is an object created with a
    conditional PUT (``If-None-Match: *``) that records its owner and a lease expiry; a
    waiter deletes it (only if its ETag is unchanged) once the lease has expired, so a
    crashed holder blocks others for at most ``lease_seconds``. A holder must finish its
    critical section well within the lease.

    Parameters
    ----------
    path
        The lock file or object, e.g. ``{folder}/.champion.lock``.
    timeout
        Seconds to wait for the lock before raising :class:`LockTimeoutError`.
    lease_seconds
        URLs only: how long a lock object is honoured after it was created.
    settings
        How to reach object storage (URLs only).
    """
    if is_remote(path):
        return _ObjectLock(path, timeout, lease_seconds, settings)
    return _FileLock(path, timeout)


class _Lock:
    """Context-manager base: ``_acquire`` until it succeeds or the timeout passes."""

    poll_seconds = 0.02

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout

    def _try_acquire(self) -> bool:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self._try_acquire():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockTimeoutError(f"could not lock {self.path!r} within {self.timeout:g} s")
            jitter = 0.5 + os.urandom(1)[0] / 255  # spread retries of waiters apart
            time.sleep(min(remaining, self.poll_seconds * jitter))

    def __exit__(self, *exc: object) -> None:
        self._release()


class _FileLock(_Lock):
    """``fcntl.flock`` on a local file (works across processes on one machine)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__(path, timeout)
        self._fd: int | None = None

    def _try_acquire(self) -> bool:
        if self._fd is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def __enter__(self) -> None:
        try:
            super().__enter__()
        except BaseException:
            self._close()
            raise

    def _release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _ObjectLock(_Lock):
    """A lock object in S3, created with ``If-None-Match: *`` and carrying a lease."""

    poll_seconds = 0.1

    def __init__(
        self, path: str, timeout: float, lease_seconds: float, settings: StorageSettings | None
    ) -> None:
        super().__init__(path, timeout)
        self.lease_seconds = lease_seconds
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{os.urandom(8).hex()}"
        self._fs, fs_path = _fs(path, settings)
        self._bucket, self._key, _ = self._fs.split_path(fs_path)

    def _try_acquire(self) -> bool:
        now = time.time()
        expires = now + self.lease_seconds
        body = json.dumps({"owner": self.owner, "acquired_at": now, "expires_at": expires})
        try:
            self._call(
                "put_object",
                Body=body.encode(),
                IfNoneMatch="*",
                Metadata={"owner": self.owner, "expires-at": f"{expires:.3f}"},
            )
        except FileExistsError:
            self._break_if_expired(now)
            return False
        except OSError as exc:
            if _s3_error_code(exc) in _S3_CONFLICTS:  # a concurrent conditional create
                return False
            raise
        return True

    def _break_if_expired(self, now: float) -> None:
        head = self._head()
        if head is None:
            return
        meta = head.get("Metadata") or {}
        modified = head.get("LastModified")
        fallback = modified.timestamp() + self.lease_seconds if modified else now
        if float(meta.get("expires-at", fallback)) <= now:
            self._delete_if_unchanged(str(head["ETag"]))

    def _release(self) -> None:
        head = self._head()
        if head is not None and (head.get("Metadata") or {}).get("owner") == self.owner:
            self._delete_if_unchanged(str(head["ETag"]))

    def _head(self) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self._call("head_object")
        except FileNotFoundError:
            return None
        return head

    def _delete_if_unchanged(self, etag: str) -> None:
        try:
            self._call("delete_object", IfMatch=etag)
        except FileNotFoundError:
            return
        except OSError as exc:
            if _s3_error_code(exc) not in _S3_CONFLICTS:
                raise

    def _call(self, method: str, **kwargs: Any) -> Any:
        """One S3 request; failures other than "exists"/"missing"/"condition failed" are
        re-raised as :class:`StorageError` (outside the wait loop, so a
        :class:`LockTimeoutError` is never reclassified)."""
        try:
            return self._fs.call_s3(method, Bucket=self._bucket, Key=self._key, **kwargs)
        except (FileExistsError, FileNotFoundError):
            raise
        except OSError as exc:
            error = None if _s3_error_code(exc) in _S3_CONFLICTS else storage_error(exc, self.path)
            if error is None:
                raise
            raise error from exc


_S3_CONFLICTS = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


def _s3_error_code(exc: BaseException) -> str | None:
    """The S3 error code behind an exception s3fs translated from a botocore ClientError."""
    response = getattr(exc.__cause__, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return None if code is None else str(code)
