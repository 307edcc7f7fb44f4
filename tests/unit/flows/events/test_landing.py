"""Landing rules: S3 bucket naming, safe keys, ETags, the allow-list, and how values are shown."""

from __future__ import annotations

import pytest

from flows.events.landing import (
    Landing,
    UnsafeValueError,
    bucket_problem,
    check_bucket,
    check_etag,
    check_key,
    check_size,
    key_problem,
    shown,
)

SUFFIXES = (".parquet", ".csv")
LANDING = Landing(("sales-landing", "sales.landing.eu"), "landing/", SUFFIXES)
HEX = "0123456789abcdef0123456789ABCDEF"


@pytest.mark.parametrize(
    "name", ["abc", "sales-landing", "sales.landing.eu", "a1-b2.c3", "1bucket9", "x" * 63]
)
def test_valid_bucket_names_pass(name: str) -> None:
    assert bucket_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ab", "3-63"),
        ("x" * 64, "3-63"),
        ("Sales", "3-63"),
        ("sales_landing", "3-63"),
        ("-sales", "3-63"),
        ("sales.", "3-63"),
        ("sales landing", "3-63"),
        ("${oc.env:AWS_SECRET_ACCESS_KEY}", "3-63"),
        ("sales/landing", "3-63"),
        ("sales..landing", "adjacent dots"),
        ("192.168.5.4", "IP address"),
        ("xn--sales", "reserves"),
        ("sthree-sales", "reserves"),
        ("amzn-s3-demo-sales", "reserves"),
        ("sales-s3alias", "reserves"),
        ("sales--ol-s3", "reserves"),
        ("sales.mrap", "reserves"),
        ("sales--x-s3", "reserves"),
        ("sales--table-s3", "reserves"),
    ],
)
def test_invalid_bucket_names_say_why(name: str, why: str) -> None:
    problem = bucket_problem(name)
    assert problem is not None
    assert why in problem


@pytest.mark.parametrize(
    "key",
    [
        "landing/date=2024-05-01/part-0.parquet",
        "landing/in put/we'ird\\dir/(x),y {z}/a+b%20c@d.csv",
        "landing/ünïcode/日本.parquet",
        "landing/" + "k" * (1024 - len("landing/")),
    ],
)
def test_safe_keys_pass(key: str) -> None:
    assert key_problem(key) is None
    assert check_key(key, "k") == key


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "empty"),
        ("landing/" + "k" * 1017, "1025 UTF-8 bytes"),
        ("landing/" + "é" * 509, "1026 UTF-8 bytes"),
        ("landing/\ud800.csv", "not valid UTF-8"),
        ("landing/a\x00.csv", "U+0000"),
        ("landing/a\tb.csv", "U+0009"),
        ("landing/a\x7f.csv", "U+007F"),
        ("landing/a\x85.csv", "U+0085"),
        ("landing/a\u200bb.csv", "U+200B"),
        ("landing/a\u2028b.csv", "U+2028"),
        ("landing/${oc.env:HOME}/a.csv", "'$'"),
        ("landing/$HOME/a.csv", "'$'"),
        ("landing/../a.csv", "'..'"),
        ("landing/./a.csv", "'.'"),
        ("landing//a.csv", "''"),
        ("/landing/a.csv", "''"),
        ("landing/", "''"),
        ("..", "'..'"),
    ],
)
def test_unsafe_keys_say_why(key: str, why: str) -> None:
    problem = key_problem(key)
    assert problem is not None
    assert why in problem
    with pytest.raises(UnsafeValueError, match=r"^where="):
        check_key(key, "where")


@pytest.mark.parametrize("value", [None, 3, ["landing/a.csv"], b"landing/a.csv"])
def test_a_key_or_bucket_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(UnsafeValueError, match="not a string"):
        check_key(value, "k")
    with pytest.raises(UnsafeValueError, match="not a string"):
        check_bucket(value, "b")


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        (HEX, HEX),
        (f'"{HEX}"', HEX),
        (f"{HEX}-12", f"{HEX}-12"),
        (f'"{HEX}-1"', f"{HEX}-1"),
        (None, ""),
        ("", ""),
    ],
)
def test_etags_are_hex_with_an_optional_part_count(value: object, tag: str) -> None:
    assert check_etag(value, "etag") == tag


@pytest.mark.parametrize(
    "value",
    [
        "e",
        HEX[:-1],
        HEX + "0",
        f'"{HEX}',
        f"{HEX}-0",
        f"{HEX}-",
        "g" * 32,
        "${oc.env:SALES_TEST_CANARY}",
        f"{HEX}\n",
        32,
    ],
)
def test_anything_else_is_not_an_etag(value: object) -> None:
    with pytest.raises(UnsafeValueError, match="is not an S3 ETag"):
        check_etag(value, "etag")


@pytest.mark.parametrize("value", [-1, True, 1.5, "10", 2**53])
def test_a_size_is_a_non_negative_integer(value: object) -> None:
    assert check_size(10, "size") == 10
    with pytest.raises(UnsafeValueError, match="not an object size"):
        check_size(value, "size")


def test_shown_values_are_escaped_and_cut_short() -> None:
    assert shown("landing/a.csv") == "'landing/a.csv'"
    assert shown("a\nb\x1b\u202e") == "'a\\nb\\x1b\\u202e'"
    secret = "CANARY-" + "s" * 40
    assert secret not in shown(secret)
    assert shown(secret).endswith("… (47 chars)")
    assert len(shown(["x"] * 100)) < 50


def test_the_allow_list_comes_from_the_environment() -> None:
    env = {
        "SALES_LANDING_BUCKET": "sales-landing, sales.landing.eu",
        "SALES_LANDING_PREFIX": "landing/",
    }
    assert Landing.from_env(env, SUFFIXES) == LANDING
    with pytest.raises(UnsafeValueError, match="set SALES_LANDING_BUCKET and SALES_LANDING_PREFIX"):
        Landing.from_env({}, SUFFIXES)
    for bad in (
        {"SALES_LANDING_BUCKET": "ok-bucket,Bad"},
        {"SALES_LANDING_BUCKET": " , "},
        {"SALES_LANDING_PREFIX": "landing"},
    ):
        with pytest.raises(UnsafeValueError, match="SALES_LANDING_"):
            Landing.from_env({**env, **bad}, SUFFIXES)
    for prefix in ("../", "/", "a//", "land*/", "${x}/"):
        with pytest.raises(UnsafeValueError, match="SALES_LANDING_PREFIX"):
            Landing.from_env({**env, "SALES_LANDING_PREFIX": prefix}, SUFFIXES)


@pytest.mark.parametrize(
    ("bucket", "key", "why"),
    [
        ("sales-landing", "landing/date=2024-05-01/a.parquet", None),
        ("sales.landing.eu", "landing/a.csv", None),
        ("other-bucket", "landing/a.csv", "not a landing bucket (sales-landing, sales.landing.eu)"),
        ("sales-landing", "archive/a.csv", "outside the landing prefix 'landing/'"),
        ("sales-landing", "landing-old/a.csv", "outside the landing prefix"),
        ("sales-landing", "landing/a.txt", "does not end in .parquet/.csv"),
        ("sales-landing", "landing/a.CSV", "does not end in"),
        ("sales-landing", "landing/_temporary/0/a.csv", "hidden part '_temporary'"),
        ("sales-landing", "landing/.a.csv", "hidden part '.a.csv'"),
    ],
)
def test_a_landing_file_is_in_an_allowed_bucket_under_the_prefix(
    bucket: str, key: str, why: str | None
) -> None:
    reason = LANDING.outside(bucket, key)
    if why is None:
        assert reason is None
    else:
        assert reason is not None
        assert why in reason
