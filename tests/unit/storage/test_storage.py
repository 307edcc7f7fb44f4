"""Unit tests for tasks.storage: listing (hidden files, globs), fingerprints, atomic writes."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
from pathlib import Path

import polars as pl
import pytest

from tasks import storage
from tasks.storage import InputNotFoundError

DATA = [
    "date=2024-01-01/part-0.parquet",
    "date=2024-01-01/part-1.csv",
    "date=2024-01-02/part-0.csv",
]
NOT_DATA = [
    "date=2024-01-01/_SUCCESS",
    "date=2024-01-01/_part-9.parquet",  # hidden file
    "date=2024-01-01/.part-0.parquet.crc",
    "date=2024-01-02/.part-8.csv",  # hidden file
    "_temporary/0/part-0.parquet",  # hidden folder (Spark/Hive writers)
    ".staging/part-0.csv",
    "README.txt",
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A hive-partitioned folder with data files and the litter writers leave around them."""
    root = tmp_path / "raw"
    for rel in DATA + NOT_DATA:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (len(rel) + 1))
    return root


def _rel(files: list[str], root: Path) -> list[str]:
    return [Path(f).resolve().relative_to(root.resolve()).as_posix() for f in files]


@pytest.mark.parametrize("spelling", ["absolute", "trailing_slash", "relative", "dot_relative"])
def test_folder_is_listed_recursively_sorted_without_hidden_files(
    tree: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    monkeypatch.chdir(tree.parent)
    path = {
        "absolute": str(tree),
        "trailing_slash": f"{tree}/",
        "relative": "raw",
        "dot_relative": "./raw",
    }[spelling]
    files = storage.list_data_files(path)
    assert _rel(files, tree) == sorted(DATA)
    assert files == sorted(files)


@pytest.mark.parametrize(
    ("file_format", "expected"),
    [
        ("parquet", ["date=2024-01-01/part-0.parquet"]),
        ("csv", ["date=2024-01-01/part-1.csv", "date=2024-01-02/part-0.csv"]),
        ("auto", sorted(DATA)),
    ],
)
def test_file_format_filters_suffixes(tree: Path, file_format: str, expected: list[str]) -> None:
    assert _rel(storage.list_data_files(str(tree), file_format), tree) == expected


def test_glob_ignores_hidden_names_below_its_fixed_part(tree: Path) -> None:
    files = storage.list_data_files(f"{tree}/**/*.parquet")
    assert _rel(files, tree) == ["date=2024-01-01/part-0.parquet"]


def test_glob_selects_partitions(tree: Path) -> None:
    files = storage.list_data_files(f"{tree}/date=2024-01-0[2]/*")
    assert _rel(files, tree) == ["date=2024-01-02/part-0.csv"]


def test_hidden_folder_named_explicitly_is_read(tree: Path) -> None:
    """Hidden names only count below the input root: naming ``_temporary`` reads it."""
    assert _rel(storage.list_data_files(str(tree / "_temporary")), tree) == [
        "_temporary/0/part-0.parquet"
    ]
    files = storage.list_data_files(f"{tree}/.staging/*.csv")
    assert _rel(files, tree) == [".staging/part-0.csv"]


def test_hidden_folder_above_the_root_does_not_hide_everything(tmp_path: Path) -> None:
    root = tmp_path / ".cache" / "_runs" / "raw"
    (root / "date=2024-01-01").mkdir(parents=True)
    (root / "date=2024-01-01" / "part-0.parquet").write_bytes(b"x")
    assert len(storage.list_data_files(str(root))) == 1


def test_single_file(tree: Path) -> None:
    path = str(tree / "date=2024-01-02" / "part-0.csv")
    assert storage.list_data_files(path) == [path]


def test_missing_path_raises_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope" / "raw")
    with pytest.raises(InputNotFoundError, match="does not exist") as info:
        storage.list_data_files(missing)
    assert missing in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize("pattern", ["folder", "glob"])
def test_nothing_to_read_raises_naming_the_path(tmp_path: Path, pattern: str) -> None:
    root = tmp_path / "empty"
    (root / "_tmp").mkdir(parents=True)
    (root / "_tmp" / "part-0.parquet").write_bytes(b"x")
    (root / "notes.txt").write_text("not data")
    path = str(root) if pattern == "folder" else f"{root}/**/*.csv"
    with pytest.raises(InputNotFoundError) as info:
        storage.list_data_files(path)
    assert repr(path) in str(info.value)


def test_fingerprint_has_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"12345")
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_123_456_789))
    fp = storage.fingerprint(str(path))
    assert fp == storage.FileFingerprint(str(path), 5, "1700000000123456789")
    assert fp.to_dict() == {"path": str(path), "size": 5, "stamp": "1700000000123456789"}


def test_fingerprint_digest_changes_with_size_mtime_and_file_set(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(b"1")
    b.write_bytes(b"2")
    os.utime(a, ns=(10**18, 10**18))

    def digest(*paths: Path) -> str:
        return storage.digest_fingerprints(storage.fingerprints([str(p) for p in paths]))

    first = digest(a, b)
    assert digest(a, b) == first
    assert len(first) == 64
    os.utime(a, ns=(10**18, 10**18 + 1))  # touched, same bytes
    touched = digest(a, b)
    assert touched != first
    a.write_bytes(b"11")
    os.utime(a, ns=(10**18, 10**18 + 1))  # same stamp, new size
    assert digest(a, b) != touched
    assert digest(a) != digest(a, b)


def test_fingerprints_keep_order(tmp_path: Path) -> None:
    paths = [str(tmp_path / n) for n in ("b.csv", "a.csv")]
    for p in paths:
        Path(p).write_text("x")
    assert [fp.path for fp in storage.fingerprints(paths)] == paths


def test_atomic_write_creates_parents_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "champion.json"
    assert storage.write_bytes_atomic(str(target), b"old") == str(target)
    storage.write_bytes_atomic(str(target), b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["champion.json"]


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "champion.json"
    target.write_bytes(b"old")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        storage.write_bytes_atomic(str(target), b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["champion.json"]


def test_atomic_write_gets_the_mode_of_an_ordinary_write(tmp_path: Path) -> None:
    """Artifacts must be readable like any file the process writes (mkstemp makes 0600)."""
    old = os.umask(0o022)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        atomic = Path(storage.write_text_atomic(str(tmp_path / "atomic.txt"), "x"))
    finally:
        os.umask(old)
    assert atomic.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644


def test_write_json_atomic_is_stable(tmp_path: Path) -> None:
    path = str(tmp_path / "m.json")
    storage.write_json_atomic(path, {"b": 1, "a": {"d": dt.date(2024, 1, 2), "c": [1]}})
    text = storage.read_text(path)
    assert text.endswith("}\n")
    assert text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": {"c": [1], "d": "2024-01-02"}, "b": 1}


def test_parquet_bytes_are_deterministic_and_round_trip(tmp_path: Path) -> None:
    frame = pl.DataFrame({"d": [dt.date(2024, 1, 1), None], "x": [1.5, 2.0], "s": ["a", None]})
    assert storage.frame_to_parquet_bytes(frame) == storage.frame_to_parquet_bytes(frame.clone())
    path = storage.write_parquet_atomic(str(tmp_path / "q" / "f.parquet"), frame)
    assert storage.read_parquet(path).equals(frame)
    assert storage.exists(path)
    assert not storage.exists(str(tmp_path / "q" / "g.parquet"))


def test_paths_and_urls(tmp_path: Path) -> None:
    assert storage.is_remote("s3://bucket/key")
    assert not storage.is_remote("file:///tmp/x")
    assert not storage.is_remote("/tmp/x")
    assert storage.join("s3://bucket/root/", "/runs/", "a") == "s3://bucket/root/runs/a"
    assert storage.join(str(tmp_path), "runs", "a") == str(tmp_path / "runs" / "a")
    assert storage.uri("s3://b/k") == "s3://b/k"
    assert storage.uri(str(tmp_path / "x")) == (tmp_path / "x").resolve().as_uri()


# --- which local failures are retried ----------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device", "/out/x"),
        OSError(errno.EDQUOT, "Disk quota exceeded", "/out/x"),
        OSError(errno.EROFS, "Read-only file system", "/out/x"),
        NotADirectoryError(errno.ENOTDIR, "Not a directory", "/out/runs/x"),
        IsADirectoryError(errno.EISDIR, "Is a directory", "/out/x"),
        PermissionError(errno.EACCES, "Permission denied", "/out/x"),
        FileNotFoundError(errno.ENOENT, "No such file or directory", "/in/x"),
        OSError(errno.ENAMETOOLONG, "File name too long", "/out/x"),
    ],
    ids=lambda exc: errno.errorcode[exc.errno],
)
def test_permanent_local_errors_are_not_retried(exc: OSError) -> None:
    from prefect.states import Failed

    from tasks.stages import is_transient

    assert not storage.is_transient_error(exc)
    assert not is_transient(None, None, Failed(data=exc))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.EIO, "Input/output error"),
        OSError(errno.EAGAIN, "Resource temporarily unavailable"),
        OSError(errno.ESTALE, "Stale file handle"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        TimeoutError("timed out"),
        OSError("disk hiccup"),
    ],
    ids=str,
)
def test_transient_local_errors_are_retried(exc: OSError) -> None:
    assert storage.is_transient_error(exc)
