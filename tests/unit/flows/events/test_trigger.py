"""S3 upload → Hydra overrides: every field of the event checked, the landing prefix that
holds the new object reaching the config as data, and conflicts with user overrides."""

from __future__ import annotations

from typing import Any

import pytest

from flows import config as conf
from flows.events.landing import Landing, UnsafeValueError
from flows.events.trigger import (
    Upload,
    check_composed,
    checked_upload,
    hydra_quote,
    landing_from_env,
    landing_prefix,
    upload_overrides,
)
from tasks.storage import DATA_SUFFIXES

BASE = ["data=s3", "data.output_path=s3://out/forecast"]
BUCKET = "sales-landing"
LANDING = Landing((BUCKET, "bkt"), "landing/", DATA_SUFFIXES)
ETAG = "0123456789abcdef0123456789abcdef"
INJECT = "${oc.env:SALES_TEST_CANARY}"  # the canary fixture's variable


def compose(overrides: list[str]) -> conf.AppConfig:
    return conf.to_app_config(conf.compose_config(overrides))


def upload(key: str, bucket: str = BUCKET) -> Upload:
    return checked_upload({"bucket": bucket, "key": key}, LANDING)


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
    obj = {"bucket": BUCKET, "key": "landing/date=2024-05-01/part-0.parquet", "etag": ETAG}
    checked = checked_upload(obj, LANDING)
    assert checked.as_dict() == obj
    overrides = upload_overrides(checked, BASE)
    assert overrides == [
        *BASE,
        "data.input_path=s3://sales-landing/landing/",
        "data.file_format=auto",
    ]
    cfg = compose(overrides)
    assert cfg.data.input_path == "s3://sales-landing/landing/"
    assert cfg.data.file_format == "auto"
    assert cfg.data.output_path == "s3://out/forecast"
    check_composed(checked, overrides, cfg.data.input_path)


def test_the_given_overrides_are_not_changed() -> None:
    given = [*BASE]
    upload_overrides(upload("landing/x.csv"), given)
    assert given == BASE


@pytest.mark.parametrize(
    "key",
    [
        "landing/in put/region=x/date=2024-01-01/a.csv",
        "landing/we'ird\\dir/x.csv",
        "landing/a+b%20c@d/x.parquet",
        "landing/(x),y {z}/a.csv",
        "landing/trailing\\/x.csv",
        "landing/ünïcode/x.parquet",
        "landing/{{ event.id }}/x.parquet",
    ],
)
def test_keys_with_special_characters_reach_the_config_unchanged(key: str) -> None:
    checked = upload(key)
    overrides = upload_overrides(checked, BASE)
    cfg = compose(overrides)
    assert cfg.data.input_path == f"s3://{BUCKET}/{landing_prefix(key)}"
    check_composed(checked, overrides, cfg.data.input_path)


@pytest.mark.parametrize(
    ("s3_object", "named"),
    [
        ({"key": "landing/x.csv"}, "s3_object['bucket']=None"),
        ({"bucket": "", "key": "landing/x.csv"}, "s3_object['bucket']=''"),
        ({"bucket": "b/c", "key": "landing/x.csv"}, "s3_object['bucket']='b/c'"),
        ({"bucket": 3, "key": "landing/x.csv"}, "s3_object['bucket']=3"),
        ({"bucket": BUCKET}, "s3_object['key']=None"),
        ({"bucket": BUCKET, "key": ["landing/x.csv"]}, "s3_object['key']=['landing/x.csv']"),
        ({"bucket": BUCKET, "key": "landing/notes.txt"}, "'landing/notes.txt'"),
        ({"bucket": BUCKET, "key": "landing/x.parquet.tmp"}, "'landing/x.parquet.tmp'"),
        ({"bucket": BUCKET, "key": "landing/x.CSV"}, "'landing/x.CSV'"),
        ({"bucket": BUCKET, "key": "sales.csv"}, "outside the landing prefix"),
        ({"bucket": BUCKET, "key": "landing/_temporary/0/x.csv"}, "'_temporary'"),
        ({"bucket": BUCKET, "key": "landing/date=2024-01-01/.x.csv"}, "'.x.csv'"),
        ({"bucket": BUCKET, "key": "landing/land*ing/x.csv"}, "glob characters"),
        ({"bucket": "other-bucket", "key": "landing/x.csv"}, "'other-bucket' is not a landing"),
        ({"bucket": BUCKET, "key": "landing/x.csv", "etag": "e"}, "s3_object['etag']='e'"),
        ({"bucket": BUCKET, "key": "landing/x.csv", "size": 3}, "unexpected field(s) 'size'"),
        ("s3://b/l/x.csv", "'s3://b/l/x.csv'"),
    ],
)
def test_a_bad_object_raises_naming_the_bad_value(s3_object: Any, named: str) -> None:
    with pytest.raises(UnsafeValueError, match="s3_object") as info:
        checked_upload(s3_object, LANDING)
    assert named in str(info.value)


@pytest.mark.parametrize(
    ("s3_object", "named"),
    [
        ({"bucket": INJECT, "key": "landing/x.csv"}, "s3_object['bucket']"),
        ({"bucket": f"sales-{INJECT}", "key": "landing/x.csv"}, "s3_object['bucket']"),
        ({"bucket": BUCKET, "key": f"landing/{INJECT}/x.csv"}, "s3_object['key']"),
        ({"bucket": BUCKET, "key": f"landing/date=2024-05-01/{INJECT}"}, "s3_object['key']"),
        ({"bucket": BUCKET, "key": f"{INJECT}/x.csv"}, "s3_object['key']"),
        ({"bucket": BUCKET, "key": "landing/x.csv", "etag": INJECT}, "s3_object['etag']"),
        ({"bucket": BUCKET, "key": "landing/x.csv", "note": INJECT}, "unexpected field(s) 'note'"),
        ({"bucket": BUCKET, "key": "landing/x.csv", INJECT: "x"}, "unexpected field(s)"),
        ({"bucket": BUCKET, "key": "landing/../outputs/x.csv"}, "'..'"),
        ({"bucket": BUCKET, "key": "landing/./x.csv"}, "'.'"),
        ({"bucket": BUCKET, "key": "landing//x.csv"}, "empty"),
        ({"bucket": BUCKET, "key": "landing/x\n.csv"}, "U+000A"),
        ({"bucket": BUCKET, "key": "landing/x\x1b]0;t\x07.csv"}, "U+001B"),
        ({"bucket": BUCKET, "key": "landing/" + "k" * 1100 + ".csv"}, "1112 UTF-8 bytes"),
        ({"bucket": "s" * 64, "key": "landing/x.csv"}, "s3_object['bucket']"),
        ({"bucket": "other-bucket", "key": "landing/x.csv"}, "not a landing bucket"),
    ],
)
def test_an_injected_or_unsafe_field_fails_before_any_config(
    canary: str, s3_object: dict[str, Any], named: str
) -> None:
    with pytest.raises(UnsafeValueError) as info:
        checked_upload(s3_object, LANDING)
    message = str(info.value)
    assert named in message
    assert canary not in message
    assert "\n" not in message
    assert "\x1b" not in message
    assert "k" * 100 not in message  # long values are cut short


def test_a_key_whose_read_prefix_is_above_the_landing_prefix_is_refused() -> None:
    landing = Landing((BUCKET,), "landing/date=2024-05-01/", DATA_SUFFIXES)
    obj = {"bucket": BUCKET, "key": "landing/date=2024-05-01/x.csv"}
    with pytest.raises(UnsafeValueError, match="above the landing prefix"):
        checked_upload(obj, landing)


def test_without_the_landing_variables_a_triggered_run_refuses_to_start() -> None:
    with pytest.raises(UnsafeValueError, match="s3_object given but set SALES_LANDING_BUCKET"):
        landing_from_env({})
    env = {"SALES_LANDING_BUCKET": f"{BUCKET},bkt", "SALES_LANDING_PREFIX": "landing/"}
    assert landing_from_env(env) == LANDING


@pytest.mark.parametrize(
    "value",
    [
        f"s3://{BUCKET}/{INJECT}/",
        f"s3://{BUCKET}/a\\{INJECT}/",
        f"s3://{BUCKET}/a\\\\{INJECT}'/",
        f"s3://{BUCKET}/$" + "{oc.decode:x}/",
        f"s3://{BUCKET}/it's {INJECT}\\",
    ],
)
def test_quoted_values_compose_verbatim_and_resolve_nothing(canary: str, value: str) -> None:
    """The second line of defence: even a value the checks would refuse stays data."""
    node = conf.compose_config([*BASE, f"data.input_path={hydra_quote(value)}"])
    assert conf.to_app_config(node).data.input_path == value
    assert canary not in str(conf.as_dict(node))


def test_a_rewritten_input_path_is_caught_after_composing(canary: str) -> None:
    checked = upload("landing/x.csv")
    overrides = [*BASE, f"data.input_path=s3://{BUCKET}/landing/{INJECT}"]  # not quoted
    with pytest.raises(UnsafeValueError, match="differs from the requested") as info:
        check_composed(checked, overrides, compose(overrides).data.input_path)
    assert canary not in str(info.value)


@pytest.mark.parametrize(
    "user_path",
    [
        "s3://bkt/landing/",
        "s3://bkt/landing",
        "s3://bkt/",
        "'s3://bkt/landing/date=2024-05-01/part-0.parquet'",
        "'s3://bkt/landing/date=2024-*/*.parquet'",
    ],
)
def test_a_user_input_path_that_holds_the_object_wins(user_path: str) -> None:
    given = [*BASE, f"data.input_path={user_path}"]
    obj = upload("landing/date=2024-05-01/part-0.parquet", "bkt")
    assert upload_overrides(obj, given) == [*given, "data.file_format=auto"]


@pytest.mark.parametrize(
    "user_path",
    ["s3://bkt/archive/", "s3://other/landing/", "s3://bkt/land", "'s3://bkt/landing/*.csv'"],
)
def test_a_user_input_path_that_misses_the_object_conflicts(user_path: str) -> None:
    obj = upload("landing/date=2024-05-01/part-0.parquet", "bkt")
    with pytest.raises(ValueError, match="does not include the uploaded object") as info:
        upload_overrides(obj, [*BASE, f"++data.input_path={user_path}"])
    assert "s3://bkt/landing/date=2024-05-01/part-0.parquet" in str(info.value)
    assert "s3://bkt/landing/" in str(info.value)


@pytest.mark.parametrize(("user_format", "ok"), [("auto", True), ("csv", True), ("parquet", False)])
def test_a_user_file_format_must_include_the_object(user_format: str, ok: bool) -> None:
    given = [*BASE, f"data.file_format={user_format}"]
    obj = upload("landing/x.csv", "bkt")
    if ok:
        assert upload_overrides(obj, given) == [*given, "data.input_path=s3://bkt/landing/"]
    else:
        with pytest.raises(ValueError, match="would skip the uploaded csv object"):
            upload_overrides(obj, given)


def test_an_override_that_does_not_parse_is_named() -> None:
    with pytest.raises(ValueError, match="does not parse"):
        upload_overrides(upload("landing/x.csv"), ["data.input_path=s3://bkt/date=x/"])
