"""All path handling: listing, fingerprinting and atomic writes, for local paths and URLs.

Every other module goes through these helpers, so no stage knows where its bytes live.

Object storage (``s3://``) is reached with the settings and clients of
:mod:`tasks.storage.s3`. Failures are re-raised as :class:`StorageError` naming the bucket
and key, and flagged transient (5xx, throttling, timeouts, resets) or permanent (no such
bucket or key, access denied, other 4xx); see :func:`is_transient_error`.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import fsspec
import polars as pl

from tasks import faults
from tasks.storage.errors import (
    InputNotFoundError,
    StorageNotFoundError,
    io_errors,
    is_remote,
    is_s3,
    split_s3_url,
    storage_error,
)
from tasks.storage.s3 import StorageSettings, _fs

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


def join(root: str, *parts: str) -> str:
    """Join path parts with ``/`` for URLs and the OS separator for local paths."""
    if is_remote(root):
        return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])
    return str(Path(root, *parts))


def _has_magic(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def list_data_files(
    input_path: str, file_format: str = "auto", *, settings: StorageSettings | None = None
) -> list[str]:
    """Data files under a file, folder (recursive, hive partitions allowed) or glob, sorted.

    Parameters
    ----------
    input_path
        A file, a folder or a glob pattern, local or a URL.
    file_format
        ``parquet``, ``csv`` or ``auto`` (both suffixes).
    settings
        How to reach object storage (URLs only).
    """
    return sorted(_listing(input_path, file_format, settings))


def list_fingerprints(
    input_path: str, file_format: str = "auto", *, settings: StorageSettings | None = None
) -> list[FileFingerprint]:
    """Fingerprints of the files :func:`list_data_files` finds, in the same order.

    For object stores they come from the listing itself (size and ETag), one request per
    1000 objects rather than one per file.
    """
    found = _listing(input_path, file_format, settings)
    return [
        fingerprint(path) if info is None else _remote_fingerprint(path, info)
        for path, info in sorted(found.items())
    ]


def _listing(
    input_path: str, file_format: str, settings: StorageSettings | None
) -> dict[str, dict[str, Any] | None]:
    """Data file → its listing entry (URLs) or ``None`` (local files)."""
    suffixes = DATA_SUFFIXES if file_format == "auto" else (f".{file_format}",)
    found: dict[str, dict[str, Any] | None]
    if is_remote(input_path):
        protocol = input_path.split("://", 1)[0]
        fs, root = _fs(input_path, settings)
        with io_errors(input_path):
            infos = _find(fs, root, input_path)
        found = {f"{protocol}://{name}": info for name, info in infos.items()}
        root_url = f"{protocol}://{root}"
    else:
        root_url = input_path
        found = dict.fromkeys(_find_local(input_path))
    files = {
        f: info for f, info in found.items() if f.endswith(suffixes) and not _hidden(f, root_url)
    }
    if not files:
        raise InputNotFoundError(
            f"data.input_path={input_path!r} holds no {'/'.join(suffixes)} files"
        )
    return files


def _find_local(input_path: str) -> list[str]:
    p = Path(input_path)
    if _has_magic(input_path):
        return [f for f in glob.glob(input_path, recursive=True) if Path(f).is_file()]
    if p.is_dir():
        return [str(f) for f in p.rglob("*") if f.is_file()]
    if p.is_file():
        return [str(p)]
    raise InputNotFoundError(f"data.input_path={input_path!r} does not exist")


def _find(fs: fsspec.AbstractFileSystem, root: str, input_path: str) -> dict[str, dict[str, Any]]:
    """Object name → listing entry for every object under a prefix, one key, or a glob."""
    if _has_magic(root):
        found: dict[str, dict[str, Any]] = fs.glob(root, detail=True)
    else:
        found = fs.find(root, detail=True)  # a prefix's objects, or the one object ``root``
    found = {name: info for name, info in found.items() if info.get("type") != "directory"}
    if found:
        return found
    if is_s3(input_path):
        _check_bucket(fs, input_path)
    raise InputNotFoundError(f"data.input_path={input_path!r} does not exist")


def _check_bucket(fs: fsspec.AbstractFileSystem, url: str) -> None:
    """Raise :class:`StorageNotFoundError` naming the bucket when it does not exist.

    Anything else (a role allowed to list only some prefixes gets 403 here) is left to the
    caller's "nothing under that path" error.
    """
    bucket, _ = split_s3_url(url)
    try:
        fs.call_s3("head_bucket", Bucket=bucket)
    except Exception as exc:
        error = storage_error(exc, url)
        if error is not None and (error.status == 404 or error.code == "NoSuchBucket"):
            message = f"S3 bucket {bucket!r} does not exist (NoSuchBucket) while reading {url}"
            raise StorageNotFoundError(message, url=url, code="NoSuchBucket", status=404) from exc
        if error is not None and error.transient:
            raise error from exc


def _remote_fingerprint(url: str, info: dict[str, Any]) -> FileFingerprint:
    stamp = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("mtime")
    return FileFingerprint(path=url, size=int(info.get("size", 0)), stamp=str(stamp).strip('"'))


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


def fingerprint(path: str, *, settings: StorageSettings | None = None) -> FileFingerprint:
    """Size and modification stamp of one file (mtime locally, ETag or mtime remotely).

    An ETag changes with the content and is the same from every machine, so cache keys
    built on it are shared across pods.
    """
    if not is_remote(path):
        st = os.stat(path)
        return FileFingerprint(path=path, size=st.st_size, stamp=str(st.st_mtime_ns))
    fs, fs_path = _fs(path, settings)
    with io_errors(path):
        info = fs.info(fs_path)
    return _remote_fingerprint(path, info)


def fingerprints(
    files: list[str], *, settings: StorageSettings | None = None
) -> list[FileFingerprint]:
    """Fingerprints of several files, in the given order."""
    return [fingerprint(f, settings=settings) for f in files]


def digest_fingerprints(fps: list[FileFingerprint]) -> str:
    """One short digest for a set of file fingerprints."""
    payload = json.dumps([fp.to_dict() for fp in fps], sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()


def exists(path: str, *, settings: StorageSettings | None = None) -> bool:
    """True when a file or folder exists at ``path``."""
    if not is_remote(path):
        return Path(path).exists()
    fs, fs_path = _fs(path, settings)
    with io_errors(path):
        return bool(fs.exists(fs_path))


def read_bytes(path: str, *, settings: StorageSettings | None = None) -> bytes:
    """The whole content of a file."""
    if not is_remote(path):
        return Path(path).read_bytes()
    fs, fs_path = _fs(path, settings)
    with io_errors(path):
        data = fs.cat_file(fs_path)
    assert isinstance(data, bytes)
    return data


def read_text(path: str, *, settings: StorageSettings | None = None) -> str:
    """A UTF-8 text file."""
    return read_bytes(path, settings=settings).decode("utf-8")


def write_bytes_atomic(path: str, data: bytes, *, settings: StorageSettings | None = None) -> str:
    """Write ``data`` so that readers see the old file or the whole new one, never a part.

    Locally: a temp file in the same folder, fsync, then ``os.replace``. For object
    stores an object only becomes visible once it is complete (one PUT, or a completed
    multipart upload; botocore adds a checksum the store verifies), so the write is
    all-or-nothing; publish pointers (manifests, ``champion.json``) after what they name.
    """
    if is_remote(path):
        fs, fs_path = _fs(path, settings)
        with io_errors(path):
            fs.pipe_file(fs_path, data)
        return path
    target = Path(path)
    fd, tmp = _temp_file(target)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        faults.checkpoint(f"tmp:{target}")  # test hook; a no-op unless set
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(target)


def _temp_file(target: Path) -> tuple[int, str]:
    """A new temp file next to ``target``: ``.{name}.{pid}.{random}.tmp``; the pid lets
    :func:`tasks.registry.recovery.remove_stale_temp_files` tell a dead writer's from a live
    one's."""
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.{os.getpid()}."
    return tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)


@functools.cache
def _umask() -> int:
    """The process umask, read once (reading it means setting it, so not on every write)."""
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(path: str, text: str, *, settings: StorageSettings | None = None) -> str:
    """Atomic UTF-8 text write."""
    return write_bytes_atomic(path, text.encode("utf-8"), settings=settings)


def write_json_atomic(path: str, obj: Any, *, settings: StorageSettings | None = None) -> str:
    """Atomic JSON write, pretty-printed with sorted keys for stable diffs."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    return write_text_atomic(path, text, settings=settings)


def frame_to_parquet_bytes(frame: pl.DataFrame) -> bytes:
    """Parquet bytes of a frame (zstd), identical for identical frames."""
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


def write_parquet_atomic(
    path: str, frame: pl.DataFrame, *, settings: StorageSettings | None = None
) -> str:
    """Atomic parquet write."""
    return write_bytes_atomic(path, frame_to_parquet_bytes(frame), settings=settings)


def read_parquet(path: str, *, settings: StorageSettings | None = None) -> pl.DataFrame:
    """Read one parquet file from any supported location."""
    return pl.read_parquet(io.BytesIO(read_bytes(path, settings=settings)))


def uri(path: str) -> str:
    """An absolute URI for a path: URLs unchanged, local paths as ``file://``."""
    return path if is_remote(path) else Path(path).resolve().as_uri()


# --- Listing, create-if-absent writes and locks (used by the model registry) ---------------


def list_names(path: str, *, settings: StorageSettings | None = None) -> list[str]:
    """Names of the files and folders directly under ``path``, sorted; ``[]`` if it is missing.

    Remote listings bypass fsspec's directory cache, so writes by other processes show up.
    """
    if not is_remote(path):
        folder = Path(path)
        return sorted(child.name for child in folder.iterdir()) if folder.is_dir() else []
    fs, fs_path = _fs(path, settings)
    with io_errors(path):
        try:
            entries = fs.ls(fs_path, detail=False, refresh=True)
        except FileNotFoundError:
            return []
    names = {str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries}
    return sorted(names - {"", fs_path.rstrip("/").rsplit("/", 1)[-1]})


def write_bytes_exclusive(
    path: str, data: bytes, *, settings: StorageSettings | None = None
) -> bool:
    """Create ``path`` holding ``data`` only if nothing is there yet; True if this call did.

    Readers never see a partial file. Locally: a temp file hard-linked into place (the link
    fails when the target exists). For object stores: a conditional PUT
    (``If-None-Match: *``).
    """
    if is_remote(path):
        fs, fs_path = _fs(path, settings)
        with io_errors(path):
            try:
                fs.pipe_file(fs_path, data, mode="create")
            except FileExistsError:
                return False
        return True
    target = Path(path)
    fd, tmp = _temp_file(target)
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


def remove(path: str, *, settings: StorageSettings | None = None) -> bool:
    """Delete one file or object; False when there was nothing to delete."""
    if not is_remote(path):
        try:
            Path(path).unlink()
        except FileNotFoundError:
            return False
        return True
    fs, fs_path = _fs(path, settings)
    with io_errors(path):
        try:
            fs.rm_file(fs_path)
        except FileNotFoundError:
            return False
    return True


def move(source: str, target: str, *, settings: StorageSettings | None = None) -> str:
    """Rename a file (an object store copies, then deletes the source); returns ``target``."""
    if not is_remote(source):
        os.replace(source, target)
        return target
    fs, src = _fs(source, settings)
    _, dst = _fs(target, settings)
    with io_errors(source):
        fs.copy(src, dst)
        fs.rm_file(src)
    return target
