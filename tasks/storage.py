"""All path handling: listing, fingerprinting and atomic writes, for local paths and URLs.

Every other module goes through these helpers, so no stage knows where its bytes live.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import hashlib
import io
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import fsspec
import polars as pl

DATA_SUFFIXES = (".parquet", ".csv")


@dataclass(frozen=True)
class FileFingerprint:
    """Identity of one input file: path, size and modification stamp (mtime or ETag)."""

    path: str
    size: int
    stamp: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


class InputNotFoundError(FileNotFoundError):
    """No data file matched ``data.input_path``."""


def is_remote(path: str) -> bool:
    """True for URLs such as ``s3://bucket/key``."""
    return "://" in path and not path.startswith("file://")


def join(root: str, *parts: str) -> str:
    """Join path parts with ``/`` for URLs and the OS separator for local paths."""
    if is_remote(root):
        return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])
    return str(Path(root, *parts))


def _fs(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, fs_path = fsspec.core.url_to_fs(path)
    return fs, fs_path


def _has_magic(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def list_data_files(input_path: str, file_format: str = "auto") -> list[str]:
    """Data files under a file, folder (recursive, hive partitions allowed) or glob, sorted.

    Parameters
    ----------
    input_path
        A file, a folder or a glob pattern, local or a URL.
    file_format
        ``parquet``, ``csv`` or ``auto`` (both suffixes).
    """
    suffixes = DATA_SUFFIXES if file_format == "auto" else (f".{file_format}",)
    if is_remote(input_path):
        protocol = input_path.split("://", 1)[0]
        fs, root = _fs(input_path)
        found = [f"{protocol}://{f}" for f in _find(fs, root, input_path)]
        root_url = f"{protocol}://{root}"
    else:
        root_url = input_path
        found = _find_local(input_path)
    files = [f for f in found if f.endswith(suffixes) and not _hidden(f, root_url)]
    if not files:
        raise InputNotFoundError(
            f"data.input_path={input_path!r} holds no {'/'.join(suffixes)} files"
        )
    return sorted(files)


def _find_local(input_path: str) -> list[str]:
    p = Path(input_path)
    if _has_magic(input_path):
        return [f for f in glob.glob(input_path, recursive=True) if Path(f).is_file()]
    if p.is_dir():
        return [str(f) for f in p.rglob("*") if f.is_file()]
    if p.is_file():
        return [str(p)]
    raise InputNotFoundError(f"data.input_path={input_path!r} does not exist")


def _find(fs: fsspec.AbstractFileSystem, root: str, input_path: str) -> list[str]:
    if _has_magic(root):
        return list(fs.glob(root))
    if fs.isdir(root):
        return list(fs.find(root))
    if fs.exists(root):
        return [root]
    raise InputNotFoundError(f"data.input_path={input_path!r} does not exist")


def _parts(path: str) -> list[str]:
    return [p for p in path.replace("\\", "/").split("/") if p and p != "."]


def _hidden(path: str, root: str) -> bool:
    """Names starting with ``.`` or ``_`` below the input root (or the file itself) are not data.

    For a glob the root is its fixed part, before the first component with a wildcard.
    """
    base = _parts(root)
    if _has_magic(root):
        base = base[: next(i for i, p in enumerate(base) if _has_magic(p))]
    parts = _parts(path)
    below_root = parts[len(base) :] if parts[: len(base)] == base else parts[-1:]
    return any(part.startswith((".", "_")) for part in below_root)


def fingerprint(path: str) -> FileFingerprint:
    """Size and modification stamp of one file (mtime locally, ETag or mtime remotely)."""
    if not is_remote(path):
        st = os.stat(path)
        return FileFingerprint(path=path, size=st.st_size, stamp=str(st.st_mtime_ns))
    fs, fs_path = _fs(path)
    info = fs.info(fs_path)
    stamp = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("mtime")
    return FileFingerprint(path=path, size=int(info.get("size", 0)), stamp=str(stamp))


def fingerprints(files: list[str]) -> list[FileFingerprint]:
    """Fingerprints of several files, in the given order."""
    return [fingerprint(f) for f in files]


def digest_fingerprints(fps: list[FileFingerprint]) -> str:
    """One short digest for a set of file fingerprints."""
    payload = json.dumps([fp.to_dict() for fp in fps], sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()


def exists(path: str) -> bool:
    """True when a file or folder exists at ``path``."""
    if not is_remote(path):
        return Path(path).exists()
    fs, fs_path = _fs(path)
    return bool(fs.exists(fs_path))


def read_bytes(path: str) -> bytes:
    """The whole content of a file."""
    if not is_remote(path):
        return Path(path).read_bytes()
    fs, fs_path = _fs(path)
    data = fs.cat_file(fs_path)
    assert isinstance(data, bytes)
    return data


def read_text(path: str) -> str:
    """A UTF-8 text file."""
    return read_bytes(path).decode("utf-8")


def write_bytes_atomic(path: str, data: bytes) -> str:
    """Write ``data`` so that readers see the old file or the whole new one, never a part.

    Locally: a temp file in the same folder, fsync, then ``os.replace``. For object
    stores a single PUT is already all-or-nothing.
    """
    if is_remote(path):
        fs, fs_path = _fs(path)
        fs.pipe_file(fs_path, data)
        return path
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(target)


@functools.cache
def _umask() -> int:
    """The process umask, read once (reading it means setting it, so not on every write)."""
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(path: str, text: str) -> str:
    """Atomic UTF-8 text write."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str, obj: Any) -> str:
    """Atomic JSON write, pretty-printed with sorted keys for stable diffs."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def frame_to_parquet_bytes(frame: pl.DataFrame) -> bytes:
    """Parquet bytes of a frame (zstd), identical for identical frames."""
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


def write_parquet_atomic(path: str, frame: pl.DataFrame) -> str:
    """Atomic parquet write."""
    return write_bytes_atomic(path, frame_to_parquet_bytes(frame))


def read_parquet(path: str) -> pl.DataFrame:
    """Read one parquet file from any supported location."""
    return pl.read_parquet(io.BytesIO(read_bytes(path)))


def uri(path: str) -> str:
    """An absolute URI for a path: URLs unchanged, local paths as ``file://``."""
    return path if is_remote(path) else Path(path).resolve().as_uri()


# --- Listing, create-if-absent writes and locks (used by the model registry) ---------------


def list_names(path: str) -> list[str]:
    """Names of the files and folders directly under ``path``, sorted; ``[]`` if it is missing.

    Remote listings bypass fsspec's directory cache, so writes by other processes show up.
    """
    if not is_remote(path):
        folder = Path(path)
        return sorted(child.name for child in folder.iterdir()) if folder.is_dir() else []
    fs, fs_path = _fs(path)
    try:
        entries = fs.ls(fs_path, detail=False, refresh=True)
    except FileNotFoundError:
        return []
    names = {str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries}
    return sorted(names - {"", fs_path.rstrip("/").rsplit("/", 1)[-1]})


def write_bytes_exclusive(path: str, data: bytes) -> bool:
    """Create ``path`` holding ``data`` only if nothing is there yet; True if this call did.

    Readers never see a partial file. Locally: a temp file hard-linked into place (the link
    fails when the target exists). For object stores: a conditional PUT
    (``If-None-Match: *``).
    """
    if is_remote(path):
        fs, fs_path = _fs(path)
        try:
            fs.pipe_file(fs_path, data, mode="create")
        except FileExistsError:
            return False
        return True
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True


class LockTimeoutError(TimeoutError):
    """A lock was not acquired within its timeout."""


def lock(path: str, timeout: float = 30.0, *, lease_seconds: float = 60.0) -> _Lock:
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
    """
    if is_remote(path):
        return _ObjectLock(path, timeout, lease_seconds)
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

    poll_seconds = 0.2

    def __init__(self, path: str, timeout: float, lease_seconds: float) -> None:
        super().__init__(path, timeout)
        self.lease_seconds = lease_seconds
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{os.urandom(8).hex()}"
        self._fs, fs_path = _fs(path)
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
        return self._fs.call_s3(method, Bucket=self._bucket, Key=self._key, **kwargs)


_S3_CONFLICTS = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


def _s3_error_code(exc: BaseException) -> str | None:
    """The S3 error code behind an exception s3fs translated from a botocore ClientError."""
    response = getattr(exc.__cause__, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return None if code is None else str(code)
