"""Unit tests for tasks.caching.signing: the record seal and the local default key."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from tasks.caching.signing import (
    LOCAL_KEY_NAME,
    MIN_KEY_BYTES,
    UntrustedRecordError,
    checked_key,
    local_key,
    seal,
    unseal,
)

KEY = b"unit-test-cache-key-not-a-secret-0000"
OTHER_KEY = b"unit-test-other-key-not-a-secret-1111"
RECORD = b'{"metadata": {"serializer": {"type": "sales-forecast-bundle"}}, "result": "%s"}' % (
    b"UEsDBA" * 200
)
NAME = "0123abcd"


def rejected(blob: bytes, key: bytes = KEY, name: str = NAME) -> str:
    with pytest.raises(UntrustedRecordError) as info:
        unseal(key, name, blob, f"/cache/{name}")
    assert info.value.location == f"/cache/{name}"
    assert f"/cache/{name}" in str(info.value)
    return info.value.reason


def test_a_sealed_record_unseals_to_the_same_bytes() -> None:
    blob = seal(KEY, NAME, RECORD)
    assert blob.endswith(RECORD)
    assert blob.split(b"\n", 1)[0].startswith(b"sales-forecast-cache/v1 len=")
    assert unseal(KEY, NAME, blob, "x") == RECORD


@pytest.mark.parametrize("offset", [0, 10, len(RECORD) // 2, len(RECORD) - 1])
def test_any_changed_byte_of_the_record_is_rejected(offset: int) -> None:
    blob = bytearray(seal(KEY, NAME, RECORD))
    at = len(blob) - len(RECORD) + offset
    blob[at] ^= 0x01
    assert "signature does not match" in rejected(bytes(blob))


def test_a_changed_signature_digit_is_rejected() -> None:
    blob = seal(KEY, NAME, RECORD)
    header, body = blob.split(b"\n", 1)
    digit = b"0" if header[-1:] != b"0" else b"1"
    assert "signature does not match" in rejected(header[:-1] + digit + b"\n" + body)


def test_a_record_signed_with_another_key_is_rejected() -> None:
    assert "signature does not match" in rejected(seal(OTHER_KEY, NAME, RECORD))


def test_a_record_moved_to_another_name_is_rejected() -> None:
    assert "signature does not match" in rejected(seal(KEY, "another-key", RECORD))


def test_a_record_without_signature_is_rejected() -> None:
    assert "no signature header" in rejected(RECORD)


def test_a_malformed_header_is_rejected() -> None:
    assert "malformed signature header" in rejected(b"sales-forecast-cache/v1 len=x\n" + RECORD)


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_a_truncated_record_is_rejected_as_truncated(keep: float) -> None:
    blob = seal(KEY, NAME, RECORD)
    reason = rejected(blob[: int(len(blob) * keep)])
    assert "truncated" in reason


def test_a_record_cut_inside_its_header_and_an_empty_file_are_rejected() -> None:
    assert "signature header" in rejected(seal(KEY, NAME, RECORD)[:40])
    assert "empty" in rejected(b"")


def test_bytes_appended_to_a_record_are_rejected() -> None:
    assert "padded" in rejected(seal(KEY, NAME, RECORD) + b" ")


def test_a_short_key_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_KEY_BYTES}") as info:
        checked_key("short-key-value", "$SALES_CACHE_HMAC_KEY")
    assert "short-key-value" not in str(info.value)
    assert "SALES_CACHE_HMAC_KEY" in str(info.value)
    assert checked_key(KEY.decode() + "\n", "env") == KEY  # a trailing newline is ignored


def test_the_local_key_is_created_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "prefect-home"
    first = local_key(home)
    path = home / LOCAL_KEY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= MIN_KEY_BYTES
    assert local_key(home) == first
    assert [p.name for p in home.iterdir()] == [LOCAL_KEY_NAME]  # no temp file left
    assert local_key(tmp_path / "another-home") != first


def test_processes_racing_to_create_the_local_key_agree(tmp_path: Path) -> None:
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(local_key(tmp_path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8
    assert len(set(keys)) == 1


def test_a_local_key_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    local_key(tmp_path)
    path = tmp_path / LOCAL_KEY_NAME
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match=f"chmod 600 {path}"):
        local_key(tmp_path)


def test_a_symlinked_local_key_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.key"
    target.write_text("x" * 64)
    target.chmod(0o600)
    home = tmp_path / "home"
    home.mkdir()
    (home / LOCAL_KEY_NAME).symlink_to(target)
    with pytest.raises(ValueError, match="not a symlink"):
        local_key(home)
