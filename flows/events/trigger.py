"""Turn the S3 object of an upload event into the Hydra overrides of the run it triggers.

The ``on-upload`` deployment passes ``s3_object={"bucket": ..., "key": ..., "etag": ...}``,
rendered from the event's payload. The event is not trusted: :func:`checked_upload`
checks every field against S3's rules and the landing allow-list (:mod:`flows.events.landing`,
``SALES_LANDING_BUCKET``/``SALES_LANDING_PREFIX`` of the run's environment) before any
config is composed, and fails naming the field. Without those variables a triggered run
refuses to start (a local ``python flows/main.py`` run takes no ``s3_object``).

The run reads the *landing prefix* that holds the new object, so it sees the new file plus
the history next to it:

* ``landing/date=2024-05-01/part-0.parquet`` → ``s3://bucket/landing/`` (the part of the
  key before its first ``date=`` hive folder);
* ``landing/sales-2024-05-01.csv`` → ``s3://bucket/landing/`` (the key's folder).

That URL reaches the config as data: quoted, with any ``${`` escaped, so Hydra and
OmegaConf resolve nothing in it, and :func:`check_composed` checks that the composed
``data.input_path`` is exactly that URL.

``data.file_format`` is set to ``auto`` (both suffixes), not to the new file's format: a
landing prefix may hold history in the other format, and forcing one would drop it.

User overrides win when they are compatible with the object: a ``data.input_path`` that
already covers the object (the same key, a folder above it, or a glob matching it) and a
``data.file_format`` of ``auto`` or the object's own format are kept as given. Anything
that would make the triggered run skip the new object raises ``ValueError``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException

from flows.events.landing import (
    Landing,
    UnsafeValueError,
    check_bucket,
    check_etag,
    check_key,
    shown,
)
from tasks.storage import DATA_SUFFIXES

INPUT_KEY = "data.input_path"
FORMAT_KEY = "data.file_format"
PARTITION_MARKER = "date="
FIELDS = ("bucket", "key", "etag")  # what the on-upload trigger passes (prefect.yaml)
_GLOB_CHARS = ("*", "?", "[")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./:@%+-]+")


@dataclass(frozen=True)
class Upload:
    """A checked uploaded object: a landing bucket, a safe key under the prefix, its ETag."""

    bucket: str
    key: str
    etag: str

    @property
    def url(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"

    def as_dict(self) -> dict[str, str]:
        """The checked fields (what the run records as its trigger)."""
        return {"bucket": self.bucket, "key": self.key, "etag": self.etag}


def landing_from_env(env: Mapping[str, str] | None = None) -> Landing:
    """The landing allow-list of this run's environment; ``ValueError`` when it is unset."""
    try:
        return Landing.from_env(os.environ if env is None else env, DATA_SUFFIXES)
    except UnsafeValueError as exc:
        raise UnsafeValueError(f"s3_object given but {exc}") from exc


def checked_fields(value: object, allowed: tuple[str, ...], where: str) -> Mapping[str, Any]:
    """``value`` as a mapping with no field but ``allowed``; :class:`UnsafeValueError` names
    ``where`` otherwise."""
    if not isinstance(value, Mapping):
        raise UnsafeValueError(
            f"{where} must be a mapping of {', '.join(allowed)}, got {shown(value)}"
        )
    unknown = sorted(shown(k) for k in value if k not in allowed)
    if unknown:
        raise UnsafeValueError(
            f"{where} has unexpected field(s) {', '.join(unknown)}: the on-upload trigger "
            f"passes only {', '.join(allowed)} (prefect.yaml)"
        )
    return value


def checked_upload(s3_object: object, landing: Landing) -> Upload:
    """``s3_object`` checked field by field; :class:`UnsafeValueError` names the bad field."""
    s3_object = checked_fields(s3_object, FIELDS, "s3_object")
    bucket = check_bucket(s3_object.get("bucket"), "s3_object['bucket']")
    key = check_key(s3_object.get("key"), "s3_object['key']")
    etag = check_etag(s3_object.get("etag"), "s3_object['etag']")
    named = f"s3_object['key']={shown(key)}"
    why = landing.outside(bucket, key)
    if why is not None:
        raise UnsafeValueError(
            f"s3_object {shown(bucket)}/{shown(key)}: {why}; only objects under "
            "SALES_LANDING_BUCKET/SALES_LANDING_PREFIX start a run"
        )
    prefix = landing_prefix(key)
    if not prefix.startswith(landing.prefix):
        raise UnsafeValueError(
            f"{named}: the run would read s3://{bucket}/{shown(prefix)}, above the landing "
            f"prefix {landing.prefix!r} (a 'date=' folder directly under it?)"
        )
    if any(c in prefix for c in _GLOB_CHARS):
        raise UnsafeValueError(
            f"{named}: its prefix {shown(prefix)} holds glob characters (*, ?, [), which a "
            "path override cannot carry literally"
        )
    return Upload(bucket, key, etag)


def upload_overrides(upload: Upload, overrides: Sequence[str]) -> list[str]:
    """``overrides`` plus what makes the run read the landing prefix of ``upload``."""
    bucket, key, url = upload.bucket, upload.key, upload.url
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


def check_composed(upload: Upload, overrides: Sequence[str], input_path: str) -> None:
    """Fail unless the composed ``data.input_path`` is what ``upload`` asked for, verbatim.

    Guards the quoting: a value Hydra or OmegaConf rewrote (an interpolation resolved, an
    escape lost) never reaches ingest.
    """
    given = {parse(o).key_or_group: o for o in overrides}
    wanted = override_value(given[INPUT_KEY]) if INPUT_KEY in given else None
    if wanted is None:
        wanted = landing_url(upload.bucket, upload.key)
    if input_path != wanted:
        raise UnsafeValueError(
            f"composed data.input_path {shown(input_path)} differs from the requested "
            f"{shown(wanted)}: the override was rewritten while composing; not reading it"
        )


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
    """``value`` as a Hydra override value that composes to ``value`` itself, resolving nothing.

    Plain values stay as they are; others are single-quoted. In Hydra's quoted strings only
    backslashes before a quote or at the end are escapes; OmegaConf then reads ``\\${`` as a
    literal ``${``, and backslashes right before it in pairs.
    """
    if _PLAIN_VALUE.fullmatch(value):
        return value
    escaped = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", value)
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", escaped)
    escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
    return f"'{escaped}'"
