"""What an upload event may name: S3 bucket/key/ETag rules and the landing allow-list (no I/O).

Bucket names, object keys and ETags arrive from S3 notifications, Prefect events and
deployment-trigger parameters: anyone who can write the landing bucket, the SQS queue or
the Prefect events API chooses them. Before such a value reaches an event, a config or a
log line it must pass these checks:

* a bucket follows S3's naming rules (3-63 characters of ``a-z 0-9 . -``, alphanumeric at
  both ends, no ``..``, not an IP address, no reserved prefix or suffix) and is one of the
  configured landing buckets (``SALES_LANDING_BUCKET``, comma-separated);
* a key is at most 1024 UTF-8 bytes, has no control or format characters, no empty, ``.``
  or ``..`` segment, no ``$`` (Hydra/OmegaConf interpolation, shell expansion), sits under
  the landing prefix (``SALES_LANDING_PREFIX``), ends in an allowed suffix and has no
  hidden (``.``/``_``) part;
* an ETag is 32 hex digits with an optional multipart ``-N``, optionally double-quoted.

Errors show a rejected value through :func:`shown`: escaped and cut short, so that a log
line never carries a long outside string (which might be a secret) in full.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

MAX_KEY_BYTES = 1024
MAX_SIZE = 2**53  # bytes; larger than any S3 object, and exact as a JSON number
SHOWN_CHARS = 32
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_ETAG = re.compile(r'(?P<q>"?)(?P<tag>[0-9a-fA-F]{32}(?:-[1-9][0-9]{0,4})?)(?P=q)')
_HEX = re.compile(r"[0-9A-Fa-f]{1,64}")
_EVENT_NAME = re.compile(r"ObjectCreated:[A-Za-z]{1,40}")
_BAD_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")  # controls, format, separators
_GLOB_CHARS = ("*", "?", "[")


class UnsafeValueError(ValueError):
    """A value from an event or trigger that breaks S3's rules or this project's."""


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``value`` fit for a log line: ``repr``-escaped, cut after ``limit`` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} chars" if isinstance(value, str) else type(value).__name__
    return f"{text[:limit]}… ({size})"


def bucket_problem(name: str) -> str | None:
    """Why ``name`` is not a valid S3 (general purpose) bucket name, or None."""
    if not _BUCKET.fullmatch(name):
        return (
            "a bucket name has 3-63 characters of a-z, 0-9, '.' and '-', and starts and "
            "ends with a letter or digit"
        )
    if ".." in name:
        return "a bucket name has no two adjacent dots"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return "a bucket name is not an IP address"
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return f"S3 reserves the prefixes {_RESERVED_PREFIXES} and suffixes {_RESERVED_SUFFIXES}"
    return None


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a safe object key (length, characters, segments, ``$``), or None."""
    if not key:
        return "the key is empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "the key is not valid UTF-8"
    if size > MAX_KEY_BYTES:
        return f"the key has {size} UTF-8 bytes; S3 allows {MAX_KEY_BYTES}"
    bad = next((c for c in key if unicodedata.category(c) in _BAD_CATEGORIES), None)
    if bad is not None:
        return f"the key holds the control or format character U+{ord(bad):04X}"
    if "$" in key:
        return "the key holds '$' (interpolation in Hydra/OmegaConf and shells)"
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            return f"the key has an empty, '.' or '..' segment ({segment!r})"
    return None


def check_bucket(value: object, where: str) -> str:
    """``value`` when it is a valid bucket name; :class:`UnsafeValueError` names ``where``."""
    problem = bucket_problem(value) if isinstance(value, str) else "not a string"
    if problem:
        raise UnsafeValueError(f"{where}={shown(value)} is not an S3 bucket name: {problem}")
    return str(value)


def check_key(value: object, where: str) -> str:
    """``value`` when it is a safe object key; :class:`UnsafeValueError` names ``where``."""
    problem = key_problem(value) if isinstance(value, str) else "not a string"
    if problem:
        raise UnsafeValueError(f"{where}={shown(value)} is not a safe object key: {problem}")
    return str(value)


def check_etag(value: object, where: str) -> str:
    """The ETag without quotes (``""`` when absent); :class:`UnsafeValueError` otherwise."""
    if value is None or value == "":
        return ""
    match = _ETAG.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise UnsafeValueError(
            f"{where}={shown(value)} is not an S3 ETag (32 hex digits, optionally '-N' for a "
            "multipart upload, optionally in double quotes)"
        )
    return match["tag"]


def check_size(value: object, where: str) -> int | None:
    """An object size in bytes (None when absent); :class:`UnsafeValueError` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_SIZE:
        raise UnsafeValueError(f"{where}={shown(value)} is not an object size in bytes")
    return value


def check_hex(value: object, where: str) -> str | None:
    """A hex token such as an S3 sequencer (None when absent); :class:`UnsafeValueError`."""
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise UnsafeValueError(f"{where}={shown(value)} is not a hex token of 1-64 digits")
    return value


def check_event_name(value: object, where: str) -> str:
    """An ``ObjectCreated:*`` event name; :class:`UnsafeValueError` otherwise."""
    if not isinstance(value, str) or not _EVENT_NAME.fullmatch(value):
        raise UnsafeValueError(f"{where}={shown(value)} is not an ObjectCreated:* event name")
    return value


def hidden_part(key: str) -> str | None:
    """The first ``.``/``_`` segment of ``key`` (temporary or metadata files), or None."""
    return next((p for p in key.split("/") if p.startswith((".", "_"))), None)


@dataclass(frozen=True)
class Landing:
    """Where sales files land: the allowed buckets, the key prefix and suffixes."""

    buckets: tuple[str, ...]
    prefix: str
    suffixes: tuple[str, ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str], suffixes: tuple[str, ...]) -> Landing:
        """``SALES_LANDING_BUCKET`` (comma-separated) and ``SALES_LANDING_PREFIX``, checked."""
        raw, prefix = env.get("SALES_LANDING_BUCKET", ""), env.get("SALES_LANDING_PREFIX", "")
        missing = [
            k for k, v in (("SALES_LANDING_BUCKET", raw), ("SALES_LANDING_PREFIX", prefix)) if not v
        ]
        if missing:
            raise UnsafeValueError(
                f"set {' and '.join(missing)}: upload events are accepted only for the "
                "landing bucket(s) and prefix named there (e.g. sales-landing and landing/)"
            )
        buckets = tuple(b.strip() for b in raw.split(",") if b.strip())
        if not buckets:
            raise UnsafeValueError(f"SALES_LANDING_BUCKET={shown(raw)} names no bucket")
        for bucket in buckets:
            check_bucket(bucket, "SALES_LANDING_BUCKET")
        if not prefix.endswith("/") or key_problem(prefix.removesuffix("/")):
            raise UnsafeValueError(
                f"SALES_LANDING_PREFIX={shown(prefix)} must be a safe key prefix ending in '/' "
                "(e.g. landing/)"
            )
        if any(c in prefix for c in _GLOB_CHARS):
            raise UnsafeValueError(f"SALES_LANDING_PREFIX={shown(prefix)} holds glob characters")
        return cls(buckets, prefix, suffixes)

    def outside(self, bucket: str, key: str) -> str | None:
        """Why a (valid) ``bucket``/``key`` is not a landing file for this deployment, or None."""
        if bucket not in self.buckets:
            return f"bucket {bucket!r} is not a landing bucket ({', '.join(self.buckets)})"
        if not key.startswith(self.prefix):
            return f"key is outside the landing prefix {self.prefix!r}"
        if not key.endswith(self.suffixes):
            return f"key does not end in {'/'.join(self.suffixes)}"
        hidden = hidden_part(key)
        if hidden is not None:
            return f"key has a hidden part {shown(hidden)} (temporary or metadata file)"
        return None
