"""Prefect's own ResultStore on the signed result storage: planted records are never loaded.

The records are planted where Prefect looks for them (``<folder>/<cache key>``) and read
through Prefect's ``ResultStore.exists``/``read``, the calls a cached task makes.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import polars as pl
import pytest
from prefect.filesystems import LocalFileSystem
from prefect.results import ResultStore
from prefect.serializers import PickleSerializer

from tasks.caching import BundleSerializer
from tasks.caching.records import SignedLocalFileSystem, signing_key
from tasks.caching.signing import CACHE_KEY_ENV, LOCAL_KEY_NAME, UntrustedRecordError, seal
from tests.support.cache_records import bundle_record, forged, pickle_record, record_content

KEY = b"unit-test-cache-key-not-a-secret-0000"
CACHE_KEY = "5f1c0ffee5f1c0ffee5f1c0ffee5f1c0"
VALUE = {"frame": pl.DataFrame({"x": [1.0, 2.0, 3.0]}), "n": 3}


def signed_store(folder: Path) -> ResultStore:
    block = SignedLocalFileSystem(basepath=str(folder))
    block.use_key(KEY)
    return ResultStore(result_storage=block, serializer=BundleSerializer())


def fresh(store: ResultStore) -> ResultStore:
    """The same storage without the in-memory copies of what it wrote."""
    store.cache.clear()
    return store


def assert_rejected(
    store: ResultStore, path: Path, marker: Path, caplog: pytest.LogCaptureFixture, why: str
) -> None:
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert fresh(store).exists(CACHE_KEY) is False  # a miss: the task recomputes
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(path) in warnings[0]
    assert why in warnings[0]
    assert "not deserialized" in warnings[0]
    with pytest.raises(UntrustedRecordError, match=why):
        fresh(store).read(CACHE_KEY)
    assert not marker.exists()


def test_the_planted_pickle_record_runs_code_in_an_unsigned_store(tmp_path: Path) -> None:
    """The threat, and proof that the payload works: Prefect alone unpickles it on exists()."""
    marker = tmp_path / "marker"
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / CACHE_KEY).write_bytes(pickle_record(marker, CACHE_KEY))
    plain = ResultStore(
        result_storage=LocalFileSystem(basepath=str(tmp_path / "cache")),
        serializer=BundleSerializer(),
    )
    assert plain.exists(CACHE_KEY)
    assert marker.exists()


def test_a_record_round_trips_through_the_signed_store(tmp_path: Path) -> None:
    store = signed_store(tmp_path)
    store.write(VALUE, key=CACHE_KEY)
    assert (tmp_path / CACHE_KEY).read_bytes().startswith(b"sales-forecast-cache/v1 ")
    assert fresh(store).exists(CACHE_KEY)
    value = fresh(store).read(CACHE_KEY).result
    assert value["n"] == 3
    assert value["frame"].equals(VALUE["frame"])


def test_a_planted_pickle_record_is_not_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker, path = tmp_path / "marker", tmp_path / CACHE_KEY
    path.write_bytes(pickle_record(marker, CACHE_KEY))
    assert_rejected(signed_store(tmp_path), path, marker, caplog, "no signature header")


def test_a_pickle_record_signed_with_the_key_is_still_not_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Whoever holds the key still cannot make the flow unpickle: only the bundle format loads."""
    marker, path = tmp_path / "marker", tmp_path / CACHE_KEY
    path.write_bytes(seal(KEY, CACHE_KEY, pickle_record(marker, CACHE_KEY)))
    assert_rejected(signed_store(tmp_path), path, marker, caplog, "serializer 'pickle'")


def test_a_project_format_record_with_a_wrong_signature_is_not_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / CACHE_KEY
    path.write_bytes(forged(bundle_record({"n": -1}, CACHE_KEY), CACHE_KEY))
    why = "signature does not match"
    assert_rejected(signed_store(tmp_path), path, tmp_path / "marker", caplog, why)


def test_a_truncated_record_is_not_loaded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, path = signed_store(tmp_path), tmp_path / CACHE_KEY
    store.write(VALUE, key=CACHE_KEY)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) * 2 // 3])
    assert_rejected(store, path, tmp_path / "marker", caplog, "truncated")


def test_a_valid_record_copied_to_another_cache_key_is_not_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = signed_store(tmp_path)
    store.write({"n": -1}, key="another-cache-key")
    shutil.copy(tmp_path / "another-cache-key", tmp_path / CACHE_KEY)
    why = "signature does not match"
    assert_rejected(store, tmp_path / CACHE_KEY, tmp_path / "marker", caplog, why)


def test_a_rejected_record_is_replaced_by_the_next_write(tmp_path: Path) -> None:
    marker, path = tmp_path / "marker", tmp_path / CACHE_KEY
    path.write_bytes(pickle_record(marker, CACHE_KEY))
    store = signed_store(tmp_path)
    assert not store.exists(CACHE_KEY)
    store.write(VALUE, key=CACHE_KEY)
    assert fresh(store).exists(CACHE_KEY)
    assert b"pickle" not in record_content(path.read_bytes())
    assert not marker.exists()


def test_a_result_with_another_serializer_is_never_stored(tmp_path: Path) -> None:
    block = SignedLocalFileSystem(basepath=str(tmp_path))
    block.use_key(KEY)
    store = ResultStore(result_storage=block, serializer=PickleSerializer())
    with pytest.raises(TypeError, match="BundleSerializer"):
        store.write({"n": 1}, key=CACHE_KEY)
    assert not (tmp_path / CACHE_KEY).exists()


def test_a_shared_cache_without_a_key_fails_fast_saying_how_to_set_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(CACHE_KEY_ENV, raising=False)
    with pytest.raises(ValueError, match="s3://bucket/cache") as info:
        signing_key(None, "s3://bucket/cache", shared=True)
    for hint in (CACHE_KEY_ENV, "output.cache_key_block", "token_hex"):
        assert hint in str(info.value)


def test_the_key_comes_from_the_environment_else_from_prefect_home(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.settings import get_current_settings

    monkeypatch.setenv(CACHE_KEY_ENV, KEY.decode())
    assert signing_key(None, "s3://bucket/cache", shared=True) == (KEY, f"${CACHE_KEY_ENV}")
    monkeypatch.delenv(CACHE_KEY_ENV)
    key, source = signing_key(None, "/some/cache", shared=False)
    assert source == str(get_current_settings().home / LOCAL_KEY_NAME)
    assert key == Path(source).read_text().strip().encode()


def test_a_record_rejected_while_being_read_makes_the_task_retry() -> None:
    """A record swapped after Prefect found it fails that read; the retry then recomputes."""
    from prefect.states import Failed

    from tasks.stages import is_transient

    rejected = UntrustedRecordError("/cache/x", "the signature does not match")
    assert is_transient(None, None, Failed(data=rejected))  # type: ignore[arg-type]
