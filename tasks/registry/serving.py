"""Serving output: the forecasts consumers read, at a stable location.

```
{output_path}/serving/{model_name}/{YYYY-MM-DD}/{run_id}.parquet   immutable copy per run
{output_path}/serving/{model_name}/latest.parquet                  the champion's newest copy
{output_path}/serving/{model_name}/latest.json                     pointer to both, with the version
```
A run writes its dated copy (:func:`write_dated`) before the registry's champion pointer
moves; ``latest`` then follows the champion (:func:`sync_latest`): it serves the newest
dated copy made by the champion version, ``latest.parquet`` first, then the pointer. Two
files cannot be replaced together, so every run also calls :func:`sync_latest` first
thing, which repairs a ``latest`` that a killed run left behind the champion. Readers that
must never see a mix follow ``latest.json``'s ``dated_uri`` (never overwritten).
A damaged ``latest.json`` (truncated, not JSON, fields missing) is named by
:func:`read_pointer`; :func:`sync_latest` replaces it from the champion's copy and says so
(``replaced_damaged``), so a damaged pointer never blocks a run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NotRequired, TypedDict, cast

import polars as pl

from tasks import storage
from tasks.storage import state

LATEST_POINTER = "latest.json"
LATEST_FRAME = "latest.parquet"
LOCK_FILE = ".serving.lock"
POINTER_FIELDS: state.Schema = {
    "model_name": str,
    "model_version": str,
    "model_role": str,
    "run_id": str,
    "as_of": str,
    "rows": int,
    "first_date": str,
    "last_date": str,
    "dated_uri": str,
    "latest_uri": str,
    "written_at": str,
}
POINTER_FIX = (
    "delete it (or let the next pipeline run replace it): the dated copies under the same "
    "folder are the record of what was served"
)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ServingPointer(TypedDict):
    """``latest.json``: which dated copy ``latest.parquet`` serves (:data:`POINTER_FIELDS`)."""

    model_name: str
    model_version: str | None  # the version whose forecasts the copy holds
    model_role: str
    run_id: str
    as_of: str
    rows: int
    first_date: str
    last_date: str
    dated_uri: str
    latest_uri: str
    sha256: NotRequired[str]  # absent from pointers written before it was recorded
    written_at: str
    replaced_damaged: NotRequired[str]  # only in what ``serve`` returns, never on disk


class SyncResult(TypedDict):
    """What :func:`sync_latest` found and did."""

    champion: str | None
    pointer: ServingPointer | None  # latest.json as it is now (None: nothing or damaged)
    changed: bool
    problems: list[str]
    replaced_damaged: str | None  # the error that named a damaged latest.json replaced


def serving_root(output_path: str, model_name: str) -> str:
    """``{output_path}/serving/{model_name}``."""
    return storage.join(output_path, "serving", model_name)


def serving_frame(forecasts: pl.DataFrame, model_version: str, role: str) -> pl.DataFrame:
    """Forecasts with the model version and its role (champion or challenger) on every row."""
    return forecasts.with_columns(
        pl.lit(model_version).alias("model_version"), pl.lit(role).alias("model_role")
    )


def read_pointer(
    output_path: str, model_name: str, *, settings: storage.StorageSettings | None = None
) -> ServingPointer | None:
    """The current ``latest.json``, or ``None`` before anything was served.

    Raises
    ------
    state.CorruptStateError
        The pointer is unusable (names the file and what to do).
    """
    path = storage.join(serving_root(output_path, model_name), LATEST_POINTER)
    found = state.read_json(
        path,
        what="serving pointer",
        fix=POINTER_FIX,
        required=POINTER_FIELDS,
        optional={"sha256": str},  # absent from pointers written before it was recorded
        settings=settings,
    )
    return cast("ServingPointer | None", found)  # fields and types checked just above


def write_dated(
    output_path: str,
    model_name: str,
    forecasts: pl.DataFrame,
    *,
    model_version: str,
    run_id: str,
    as_of: dt.date,
    settings: storage.StorageSettings | None = None,
) -> ServingPointer:
    """Write a run's immutable serving copy; returns the ``latest.json`` that would name it.

    Only the copy is written: ``latest`` follows the champion (:func:`sync_latest`), so a
    run writes its copy before it moves the champion pointer and serves it after.
    """
    frame = serving_frame(forecasts, model_version, "champion")
    data = storage.frame_to_parquet_bytes(frame)
    copy = DatedCopy(serving_root(output_path, model_name), as_of.isoformat(), run_id)
    storage.write_bytes_atomic(copy.path, data, settings=settings)
    return copy.pointer(model_name, frame, data)


def sync_latest(
    output_path: str,
    model_name: str,
    champion: Callable[[], str | None],
    *,
    settings: storage.StorageSettings | None = None,
) -> SyncResult:
    """Make ``latest.parquet`` and ``latest.json`` serve the champion; returns what was done.

    Under the serving lock, ``champion()`` says which version is champion (asked there, so
    a run that learnt it earlier cannot move ``latest`` back), and the newest dated copy
    made by that version (by day, then run id) is the target. If ``latest.json`` names it
    and ``latest.parquet`` has its SHA-256, nothing is written; otherwise (a run killed
    between the champion pointer and ``latest``, a damaged ``latest.json``, a replaced
    ``latest.parquet``) both are rewritten from that copy, ``latest.json`` last.

    The result has ``champion``, ``pointer`` (``latest.json`` as it is now; ``None`` when
    nothing serves or it is damaged), ``changed``, ``problems`` (what was found wrong, in
    words) and ``replaced_damaged`` (the error that named a damaged ``latest.json`` this
    call replaced, else ``None``). With no champion, no copy made by it, or a champion
    pointer that raises :class:`tasks.storage.state.CorruptStateError` (which version should serve
    is unknown), ``latest`` is left as it is.
    """
    root = serving_root(output_path, model_name)
    with storage.lock(storage.join(root, LOCK_FILE), settings=settings):
        current, damaged = _current(output_path, model_name, settings)
        problems = [] if damaged is None else [damaged]
        try:
            version = champion()
        except state.CorruptStateError as exc:
            problems.append(f"serving left as it is until the champion pointer is usable: {exc}")
            version = None
        result: SyncResult = {
            "champion": version,
            "pointer": current,
            "changed": False,
            "problems": problems,
            "replaced_damaged": None,
        }
        found = None if version is None else _newest_copy(root, version, settings)
        if found is None:
            if version is not None:
                problems.append(f"no dated copy made by champion {version} under {root}")
            return result
        copy, data = found
        sha = hashlib.sha256(data).hexdigest()
        latest_frame = storage.join(root, LATEST_FRAME)
        if current is not None and current["dated_uri"] == storage.uri(copy.path):
            if current.get("sha256") == sha == _sha256_of(latest_frame, settings):
                return result
            if "sha256" not in current:  # written before latest.json carried it
                problems.append("latest.json has no sha256 (an older format): rewritten")
            else:
                problems.append(
                    f"{latest_frame} is not the copy {copy.path} that latest.json names"
                )
        elif current is not None:
            problems.append(f"latest.json names {current['dated_uri']}, not {copy.path}")
        pointer = copy.pointer(model_name, pl.read_parquet(io.BytesIO(data)), data)
        storage.write_bytes_atomic(latest_frame, data, settings=settings)
        storage.write_json_atomic(storage.join(root, LATEST_POINTER), pointer, settings=settings)
    return SyncResult(
        champion=version, pointer=pointer, changed=True, problems=problems, replaced_damaged=damaged
    )


@dataclass(frozen=True)
class DatedCopy:
    """One run's serving copy: ``{root}/{day}/{run_id}.parquet``."""

    root: str
    day: str
    run_id: str

    @property
    def path(self) -> str:
        """Where it is."""
        return storage.join(self.root, self.day, f"{self.run_id}.parquet")

    def pointer(self, model_name: str, frame: pl.DataFrame, data: bytes) -> ServingPointer:
        """The ``latest.json`` content that serves this copy (``frame``, as ``data``)."""
        return {
            "model_name": model_name,
            "model_version": str(frame["model_version"][0]) if frame.height else None,
            "model_role": "champion",
            "run_id": self.run_id,
            "as_of": self.day,
            "rows": frame.height,
            "first_date": str(frame["date"].min()),
            "last_date": str(frame["date"].max()),
            "dated_uri": storage.uri(self.path),
            "latest_uri": storage.uri(storage.join(self.root, LATEST_FRAME)),
            "sha256": hashlib.sha256(data).hexdigest(),
            "written_at": dt.datetime.now(dt.UTC).isoformat(),
        }


def dated_copies(
    output_path: str,
    model_name: str,
    since: dt.date | None = None,
    *,
    settings: storage.StorageSettings | None = None,
) -> list[DatedCopy]:
    """Every dated serving copy from day ``since`` on, oldest first (by day, then run id)."""
    return _copies_under(serving_root(output_path, model_name), since, settings)


def _copies_under(
    root: str, since: dt.date | None, settings: storage.StorageSettings | None
) -> list[DatedCopy]:
    found = []
    for day in storage.list_names(root, settings=settings):
        if not _DAY.match(day) or (since is not None and dt.date.fromisoformat(day) < since):
            continue
        for name in storage.list_names(storage.join(root, day), settings=settings):
            if name.endswith(".parquet") and not name.startswith((".", "_")):
                found.append(DatedCopy(root, day, name.removesuffix(".parquet")))
    return sorted(found, key=lambda c: (c.day, c.run_id))


def _current(
    output_path: str, model_name: str, settings: storage.StorageSettings | None
) -> tuple[ServingPointer | None, str | None]:
    """``latest.json`` as found (``None`` when missing), or ``None`` and the error naming it."""
    try:
        return read_pointer(output_path, model_name, settings=settings), None
    except state.CorruptStateError as exc:  # rewritten from the champion's copy
        return None, str(exc)


def _sha256_of(path: str, settings: storage.StorageSettings | None) -> str | None:
    try:
        return hashlib.sha256(storage.read_bytes(path, settings=settings)).hexdigest()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _newest_copy(
    root: str, version: str, settings: storage.StorageSettings | None
) -> tuple[DatedCopy, bytes] | None:
    """The newest dated copy whose rows were made by ``version``, and its bytes."""
    for copy in reversed(_copies_under(root, None, settings)):
        data = storage.read_bytes(copy.path, settings=settings)
        try:
            made_by = pl.read_parquet(io.BytesIO(data), columns=["model_version"])
        except (pl.exceptions.PolarsError, OSError, ValueError):
            continue  # not a serving copy (put there by hand?): never served
        if made_by.height and made_by["model_version"][0] == version:
            return copy, data
    return None
