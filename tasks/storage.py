"""All path handling: listing, fingerprinting and atomic writes, for local paths and URLs.

Every other module goes through these helpers, so no stage knows where its bytes live.
"""

from __future__ import annotations

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


def _umask() -> int:
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
