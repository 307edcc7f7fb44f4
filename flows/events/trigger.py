"""Turn the S3 object of an upload event into the Hydra overrides of the run it triggers.

The ``on-upload`` deployment passes ``s3_object={"bucket": ..., "key": ...}``. The run
reads the *landing prefix* that holds the new object, so it sees the new file plus the
history next to it:

* ``landing/date=2024-05-01/part-0.parquet`` → ``s3://bucket/landing/`` (the part of the
  key before its first ``date=`` hive folder);
* ``landing/sales-2024-05-01.csv`` → ``s3://bucket/landing/`` (the key's folder).

``data.file_format`` is set to ``auto`` (both suffixes), not to the new file's format: a
landing prefix may hold history in the other format, and forcing one would drop it.

User overrides win when they are compatible with the object: a ``data.input_path`` that
already covers the object (the same key, a folder above it, or a glob matching it) and a
``data.file_format`` of ``auto`` or the object's own format are kept as given. Anything
that would make the triggered run skip the new object raises ``ValueError``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException

from tasks.storage import DATA_SUFFIXES

INPUT_KEY = "data.input_path"
FORMAT_KEY = "data.file_format"
PARTITION_MARKER = "date="
_GLOB_CHARS = ("*", "?", "[")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./:@%+-]+")


def upload_overrides(s3_object: Mapping[str, Any], overrides: Sequence[str]) -> list[str]:
    """``overrides`` plus what makes the run read the landing prefix of ``s3_object``."""
    bucket, key = object_location(s3_object)
    url = f"s3://{bucket}/{key}"
    given = {parse(o).key_or_group: o for o in overrides}
    extra: list[str] = []

    if INPUT_KEY in given:
        user_path = override_value(given[INPUT_KEY])
        if user_path is None or not covers(user_path, url):
            raise ValueError(
                f"override {given[INPUT_KEY]!r} does not include the uploaded object {url}; "
                f"drop it (the run then reads {landing_url(bucket, key)}) or point it at a "
                "prefix that holds the object"
            )
    else:
        extra.append(f"{INPUT_KEY}={hydra_quote(landing_url(bucket, key))}")

    file_format = format_of_key(key)
    if FORMAT_KEY in given:
        user_format = override_value(given[FORMAT_KEY])
        if user_format not in ("auto", file_format):
            raise ValueError(
                f"override {given[FORMAT_KEY]!r} would skip the uploaded {file_format} object "
                f"{url}; use {FORMAT_KEY}=auto or {FORMAT_KEY}={file_format}"
            )
    else:
        extra.append(f"{FORMAT_KEY}=auto")
    return [*overrides, *extra]


def object_location(s3_object: Mapping[str, Any]) -> tuple[str, str]:
    """Bucket and key of ``s3_object``, checked; ``ValueError`` names the bad value."""
    if not isinstance(s3_object, Mapping):
        raise ValueError(f"s3_object must be a mapping with 'bucket' and 'key', got {s3_object!r}")
    bucket, key = s3_object.get("bucket"), s3_object.get("key")
    if not isinstance(bucket, str) or not bucket or "/" in bucket:
        raise ValueError(f"s3_object['bucket'] must be a bucket name, got {bucket!r}")
    if not isinstance(key, str) or not key:
        raise ValueError(f"s3_object['key'] must be a non-empty object key, got {key!r}")
    if not key.endswith(DATA_SUFFIXES):
        raise ValueError(
            f"s3_object['key']={key!r} is not a sales file: the key must end in "
            f"{' or '.join(DATA_SUFFIXES)}"
        )
    prefix = landing_prefix(key)
    if not prefix:
        raise ValueError(
            f"s3_object['key']={key!r} is at the top of bucket {bucket!r}: sales files must "
            "sit under a landing prefix (reading the whole bucket would read its outputs too)"
        )
    hidden = [p for p in key.split("/") if p.startswith((".", "_"))]
    if hidden:
        raise ValueError(
            f"s3_object['key']={key!r} has a hidden part {hidden[0]!r} (names starting with "
            "'.' or '_' are temporary or metadata files, not sales data)"
        )
    if any(c in prefix for c in _GLOB_CHARS) or "${" in key:
        raise ValueError(
            f"s3_object['key']={key!r}: its prefix {prefix!r} holds glob or interpolation "
            "characters (*, ?, [, ${), which a path override cannot carry literally"
        )
    return bucket, key


def landing_prefix(key: str) -> str:
    """The key's part before its first ``date=`` folder, else its folder (``""`` at top)."""
    parts = key.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.startswith(PARTITION_MARKER):
            return "".join(f"{p}/" for p in parts[:i])
    return "".join(f"{p}/" for p in parts[:-1])


def landing_url(bucket: str, key: str) -> str:
    """``s3://bucket/prefix/`` that a triggered run reads for the object ``key``."""
    return f"s3://{bucket}/{landing_prefix(key)}"


def format_of_key(key: str) -> str:
    """``parquet`` or ``csv`` from the key's suffix."""
    return next(s.lstrip(".") for s in DATA_SUFFIXES if key.endswith(s))


def covers(path: str, url: str) -> bool:
    """True when reading ``path`` (a key, a folder prefix or a glob) reads the object ``url``."""
    if any(c in path for c in _GLOB_CHARS):
        return fnmatch.fnmatchcase(url, path)
    return url == path or url.startswith(path.rstrip("/") + "/")


def parse(override: str) -> Override:
    """``override`` parsed by Hydra's own grammar; ``ValueError`` when it does not parse."""
    try:
        return OverridesParser.create().parse_override(override)
    except HydraException as exc:
        raise ValueError(f"override {override!r} does not parse: {exc}") from exc


def override_value(override: str) -> str | None:
    """The string value an override sets (quotes undone), ``None`` for deletions and others."""
    value = parse(override).value()
    return value if isinstance(value, str) else None


def hydra_quote(value: str) -> str:
    """``value`` as a Hydra override value: as it is when plain, else single-quoted.

    In Hydra's quoted strings only backslashes before a quote or at the end are escapes.
    """
    if _PLAIN_VALUE.fullmatch(value):
        return value
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
    return f"'{escaped}'"
