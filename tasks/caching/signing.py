"""Authenticated task-result records: an HMAC-SHA256 seal, checked before anything parses them.

A sealed record is one header line and then the record exactly as Prefect wrote it::

    sales-forecast-cache/v1 len=<bytes of the record> hmac-sha256=<64 hex digits>\\n<record>

The MAC covers the storage key (the record's name) and every byte of the record, so a record
cannot be forged, edited, truncated or moved to another key by anyone without the key.
``len`` is only there to say "truncated" instead of "does not match" in a warning.

The key comes, in this order, from the Prefect ``Secret`` block named by
``output.cache_key_block``, from ``$SALES_CACHE_HMAC_KEY``, or (local result storage only)
from a random key created once with mode 0600 at ``$PREFECT_HOME/sales-forecast-cache.key``:
outside the cache folder, so write access to the cache does not give the key. A shared
(remote) cache with none of the first two is refused: see :func:`signing_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
import struct
from pathlib import Path

CACHE_KEY_ENV = "SALES_CACHE_HMAC_KEY"
LOCAL_KEY_NAME = "sales-forecast-cache.key"
MIN_KEY_BYTES = 32
MAGIC = b"sales-forecast-cache/v1"
_HEADER = re.compile(rb"sales-forecast-cache/v1 len=(\d{1,15}) hmac-sha256=([0-9a-f]{64})\n")
_MAX_HEADER = 128
HOW_TO_SET = (
    f"set {CACHE_KEY_ENV} to the same random secret (at least {MIN_KEY_BYTES} characters, "
    "e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`) in every process that "
    "shares the cache, or store it in a Prefect Secret block and name the block with "
    "output.cache_key_block=<block name> (or $SALES_CACHE_KEY_BLOCK)"
)


class UntrustedRecordError(ValueError):
    """A stored task result that is not deserialized (not signed, tampered, foreign format)."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"cache record {location} rejected: {reason}")
        self.location = location
        self.reason = reason


def _mac(key: bytes, name: str, content: bytes | memoryview) -> str:
    raw = name.encode()
    mac = hmac.new(key, MAGIC + b"\0" + struct.pack(">Q", len(raw)) + raw, hashlib.sha256)
    mac.update(content)  # no copy of a large record
    return mac.hexdigest()


def seal(key: bytes, name: str, content: bytes) -> bytes:
    """``content`` with a header line carrying its length and its HMAC under ``key``."""
    header = b"%s len=%d hmac-sha256=%s\n" % (
        MAGIC,
        len(content),
        _mac(key, name, content).encode(),
    )
    return header + content


def unseal(key: bytes, name: str, blob: bytes, location: str) -> bytes:
    """The record inside ``blob``, or :class:`UntrustedRecordError` saying why it is not trusted."""
    if not blob:
        raise UntrustedRecordError(location, "the file is empty")
    match = _HEADER.match(blob[:_MAX_HEADER])
    if match is None:
        what = "a malformed" if blob.startswith(MAGIC) else "no"
        raise UntrustedRecordError(
            location, f"{what} signature header (written without the project's signing key)"
        )
    content = blob[match.end() :]
    expected = int(match.group(1))
    if len(content) != expected:
        raise UntrustedRecordError(
            location, f"truncated or padded: {len(content)} bytes, the header says {expected}"
        )
    if not hmac.compare_digest(match.group(2).decode(), _mac(key, name, content)):
        raise UntrustedRecordError(
            location, "the signature does not match (edited, or signed with another key)"
        )
    return content


def checked_key(value: str, source: str) -> bytes:
    """``value`` as key bytes, refused when shorter than :data:`MIN_KEY_BYTES`."""
    key = value.strip().encode()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"the cache signing key from {source} has {len(key)} bytes; it needs at least "
            f"{MIN_KEY_BYTES}: {HOW_TO_SET}"
        )
    return key


def local_key(home: Path) -> bytes:
    """The key at ``home/sales-forecast-cache.key``, created once (mode 0600) if missing."""
    path = home / LOCAL_KEY_NAME
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        tmp = home / f".{LOCAL_KEY_NAME}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process created
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ValueError(
            f"cannot open the cache signing key {path} ({exc.strerror}): it must be a regular "
            f"file (not a symlink) readable by this user; remove it to have a new one created"
        ) from None
    with os.fdopen(fd) as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode) or mode & 0o077:
            raise ValueError(
                f"the cache signing key {path} must be a regular file readable only by its "
                f"owner (mode {stat.filemode(mode)}): run `chmod 600 {path}`"
            )
        return checked_key(fh.read(), str(path))
