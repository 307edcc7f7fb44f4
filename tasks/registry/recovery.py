"""Repair what a killed run left: serving behind the champion pointer, and temp files.

:func:`follow_champion` makes ``serving/{model}/latest.*`` serve the version that
``champion.json`` names (every run calls it first, then again after promoting; the
registry CLI after a rollback).

Local atomic writes (:func:`tasks.storage.write_bytes_atomic`) go through a temp file
``.{name}.{pid}.{random}.tmp`` next to the target and rename it into place; a writer
killed in between leaves the temp file. One is stale when the process that wrote it no
longer runs on this machine, or when it is older than ``max_age`` seconds (a temp file
lives for the length of one write, well under a second, so an hour-old one is dead
whatever its pid says). A temp file of a live writer is never touched: another run may be
writing next to this one. Object stores have no temp files (a PUT is all or nothing).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

from tasks import storage
from tasks.registry import serving
from tasks.registry import versions as registry

TEMP_NAME = re.compile(r"^\.(?P<name>.+?)(?:\.(?P<pid>\d+))?\.[A-Za-z0-9_]+\.tmp$")
MAX_AGE_SECONDS = 3600.0


def follow_champion(
    output_path: str, model_name: str, *, settings: storage.StorageSettings | None = None
) -> serving.SyncResult:
    """:func:`tasks.registry.serving.sync_latest` against the registry's ``champion.json``."""

    def champion_version() -> str | None:
        current = registry.champion(output_path, model_name, settings=settings)
        return None if current is None else current.version

    return serving.sync_latest(output_path, model_name, champion_version, settings=settings)


def pid_alive(pid: int) -> bool:
    """True when a process with this id runs on this machine (or may: not ours to signal)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def is_stale_temp(path: Path, *, now: float, max_age: float = MAX_AGE_SECONDS) -> bool:
    """True for a temp file of an atomic write whose writer is gone (see the module doc)."""
    match = TEMP_NAME.match(path.name)
    if match is None:
        return False
    try:
        age = now - path.stat().st_mtime
    except FileNotFoundError:  # its writer renamed or removed it just now
        return False
    pid = match.group("pid")
    return age > max_age or (pid is not None and not pid_alive(int(pid)))


def remove_stale_temp_files(
    roots: Iterable[str], *, max_age: float = MAX_AGE_SECONDS, now: float | None = None
) -> list[str]:
    """Delete the stale temp files under each local folder in ``roots`` (recursively).

    URLs and missing folders are skipped. Returns the paths removed, sorted.
    """
    now = time.time() if now is None else now
    removed = []
    for root in dict.fromkeys(roots):
        if storage.is_remote(root) or not Path(root).is_dir():
            continue
        for folder, _dirs, files in os.walk(root):
            for name in files:
                path = Path(folder, name)
                if is_stale_temp(path, now=now, max_age=max_age):
                    path.unlink(missing_ok=True)
                    removed.append(str(path))
    return sorted(removed)
