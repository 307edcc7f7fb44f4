"""S3 upload → Hydra overrides: the landing prefix that holds the new object, and conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from flows import config as conf
from flows.events.trigger import landing_prefix, upload_overrides

BASE = ["data=s3", "data.output_path=s3://out/forecast"]


def compose(overrides: list[str]) -> conf.AppConfig:
    return conf.to_app_config(conf.compose_config(overrides))


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        ("landing/date=2024-05-01/part-0.parquet", "landing/"),
        ("landing/2024/05/sales.csv", "landing/2024/05/"),
        ("a/b/date=2024-05-01/hour=3/x.parquet", "a/b/"),
        ("landing/region=north/date=2024-05-01/x.csv", "landing/region=north/"),
        ("landing/sales.csv", "landing/"),
        ("sales.csv", ""),
        ("date=2024-05-01/x.parquet", ""),
    ],
)
def test_the_landing_prefix_is_the_part_before_the_first_date_folder(key: str, prefix: str) -> None:
    assert landing_prefix(key) == prefix


def test_the_run_reads_the_whole_landing_prefix_in_either_format() -> None:
    obj = {"bucket": "sales-landing", "key": "landing/date=2024-05-01/part-0.parquet"}
    overrides = upload_overrides(obj, BASE)
    assert overrides == [
        *BASE,
        "data.input_path=s3://sales-landing/landing/",
        "data.file_format=auto",
    ]
    cfg = compose(overrides)
    assert cfg.data.input_path == "s3://sales-landing/landing/"
    assert cfg.data.file_format == "auto"
    assert cfg.data.output_path == "s3://out/forecast"


def test_the_given_overrides_are_not_changed() -> None:
    given = [*BASE]
    upload_overrides({"bucket": "b", "key": "l/x.csv"}, given)
    assert given == BASE


@pytest.mark.parametrize(
    "key",
    [
        "in put/region=x/date=2024-01-01/a.csv",
        "we'ird\\dir/x.csv",
        "a+b%20c@d/x.parquet",
        "l/(x),y {z}/a.csv",
        "trailing\\/x.csv",
        "ünïcode/x.parquet",
    ],
)
def test_keys_with_special_characters_reach_the_config_unchanged(key: str) -> None:
    cfg = compose(upload_overrides({"bucket": "b", "key": key}, BASE))
    assert cfg.data.input_path == f"s3://b/{landing_prefix(key)}"


@pytest.mark.parametrize(
    ("s3_object", "named"),
    [
        ({"key": "l/x.csv"}, "None"),
        ({"bucket": "", "key": "l/x.csv"}, "''"),
        ({"bucket": "b/c", "key": "l/x.csv"}, "'b/c'"),
        ({"bucket": 3, "key": "l/x.csv"}, "3"),
        ({"bucket": "b"}, "None"),
        ({"bucket": "b", "key": ["l/x.csv"]}, "['l/x.csv']"),
        ({"bucket": "b", "key": "landing/notes.txt"}, "'landing/notes.txt'"),
        ({"bucket": "b", "key": "landing/x.parquet.tmp"}, "'landing/x.parquet.tmp'"),
        ({"bucket": "b", "key": "landing/x.CSV"}, "'landing/x.CSV'"),
        ({"bucket": "b", "key": "sales.csv"}, "'sales.csv'"),
        ({"bucket": "b", "key": "landing/_temporary/0/x.csv"}, "'_temporary'"),
        ({"bucket": "b", "key": "landing/date=2024-01-01/.x.csv"}, "'.x.csv'"),
        ({"bucket": "b", "key": "land*ing/x.csv"}, "'land*ing/x.csv'"),
        ({"bucket": "b", "key": "l/${oc.env:HOME}/x.csv"}, "'l/${oc.env:HOME}/x.csv'"),
        ("s3://b/l/x.csv", "'s3://b/l/x.csv'"),
    ],
)
def test_a_bad_object_raises_naming_the_bad_value(s3_object: Any, named: str) -> None:
    with pytest.raises(ValueError, match="s3_object") as info:
        upload_overrides(s3_object, BASE)
    assert named in str(info.value)


@pytest.mark.parametrize(
    "user_path",
    [
        "s3://b/landing/",
        "s3://b/landing",
        "s3://b/",
        "'s3://b/landing/date=2024-05-01/part-0.parquet'",
        "'s3://b/landing/date=2024-*/*.parquet'",
    ],
)
def test_a_user_input_path_that_holds_the_object_wins(user_path: str) -> None:
    given = [*BASE, f"data.input_path={user_path}"]
    obj = {"bucket": "b", "key": "landing/date=2024-05-01/part-0.parquet"}
    assert upload_overrides(obj, given) == [*given, "data.file_format=auto"]


@pytest.mark.parametrize(
    "user_path",
    ["s3://b/archive/", "s3://other/landing/", "s3://b/land", "'s3://b/landing/*.csv'"],
)
def test_a_user_input_path_that_misses_the_object_conflicts(user_path: str) -> None:
    obj = {"bucket": "b", "key": "landing/date=2024-05-01/part-0.parquet"}
    with pytest.raises(ValueError, match="does not include the uploaded object") as info:
        upload_overrides(obj, [*BASE, f"++data.input_path={user_path}"])
    assert "s3://b/landing/date=2024-05-01/part-0.parquet" in str(info.value)
    assert "s3://b/landing/" in str(info.value)


@pytest.mark.parametrize(("user_format", "ok"), [("auto", True), ("csv", True), ("parquet", False)])
def test_a_user_file_format_must_include_the_object(user_format: str, ok: bool) -> None:
    given = [*BASE, f"data.file_format={user_format}"]
    obj = {"bucket": "b", "key": "landing/x.csv"}
    if ok:
        assert upload_overrides(obj, given) == [*given, "data.input_path=s3://b/landing/"]
    else:
        with pytest.raises(ValueError, match="would skip the uploaded csv object"):
            upload_overrides(obj, given)


def test_an_override_that_does_not_parse_is_named() -> None:
    with pytest.raises(ValueError, match="does not parse"):
        upload_overrides({"bucket": "b", "key": "l/x.csv"}, ["data.input_path=s3://b/date=x/"])
