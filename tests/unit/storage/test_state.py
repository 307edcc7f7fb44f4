"""Unit tests for tasks.storage.state: damaged JSON and parquet state is named, with what to do."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import polars as pl
import pytest

from tasks.storage import state

FIX = "run the repair command"
FIELDS: state.Schema = {"version": str, "rows": int, "ok": bool}
OPTIONAL: state.Schema = {"previous": (str, state.NULL), "wape": (float, state.NULL)}


def _read(path: Path) -> dict[str, object] | None:
    return state.read_json(
        str(path), what="test pointer", fix=FIX, required=FIELDS, optional=OPTIONAL
    )


GOOD = b'{"version": "v1", "rows": 3, "ok": true, "previous": null, "wape": 1}'


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty (0 bytes)"),
        (b"  \n", "empty (3 bytes)"),
        (GOOD[:30], "truncated: the JSON stops after 30 bytes"),
        (b'{"version": "v1",, }', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'["v1"]', "holds an array, not an object"),
        (b'{"rows": 3, "ok": true}', "field 'version' is missing"),
        (b'{"version": 1, "rows": 3, "ok": true}', "'version' is an integer, expected a string"),
        (b'{"version": "v", "rows": true, "ok": true}', "'rows' is a boolean, expected an integer"),
        (b'{"version": "v", "rows": 3, "ok": 1}', "field 'ok' is an integer, expected a boolean"),
        (b'{"version": "v", "rows": 3, "ok": true, "wape": "x"}', "field 'wape' is a string"),
    ],
)  # fmt: skip
def test_damaged_json_names_the_file_what_is_wrong_and_the_fix(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "pointer.json"
    path.write_bytes(content)
    with pytest.raises(state.CorruptStateError) as caught:
        _read(path)
    message = str(caught.value)
    assert str(path) in message
    assert problem in message
    assert message.endswith(f"To repair: {FIX}")
    assert caught.value.path == str(path)
    assert problem in caught.value.problem


def test_a_good_file_is_returned_and_a_missing_one_is_none(tmp_path: Path) -> None:
    path = tmp_path / "pointer.json"
    assert _read(path) is None
    path.write_bytes(GOOD)
    assert _read(path) == {"version": "v1", "rows": 3, "ok": True, "previous": None, "wape": 1}


def test_a_folder_in_place_of_the_file_is_damage_not_absence(tmp_path: Path) -> None:
    (tmp_path / "pointer.json").mkdir()
    with pytest.raises(state.CorruptStateError, match="is a folder, not a file"):
        _read(tmp_path / "pointer.json")


def test_the_error_survives_pickling_with_every_field() -> None:
    error = state.CorruptStateError("/x/champion.json", "truncated", FIX, "champion pointer")
    again = pickle.loads(pickle.dumps(error))
    fields = (again.path, again.problem, again.fix, again.what)
    assert fields == ("/x/champion.json", "truncated", FIX, "champion pointer")
    assert str(again) == str(error)


def test_digest_mismatch_names_both_digests(tmp_path: Path) -> None:
    recorded = {"bytes": 5, "sha256": "0" * 64}
    with pytest.raises(state.CorruptStateError) as caught:
        state.check_digest(
            b"hello", "/r/model.txt", recorded, source="version.json", what="model", fix=FIX
        )
    message = str(caught.value)
    assert "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" in message
    assert "0" * 64 in message
    assert "/r/model.txt" in message


def _parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


TABLE = pl.DataFrame({"run_id": ["a", "b"], "rows_in": [1, 2]})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty (0 bytes)"),
        (_parquet(TABLE)[:40], "not a readable parquet file"),
        (b"PAR1 not really", "not a readable parquet file"),
        (_parquet(TABLE.drop("rows_in")), "columns ['rows_in'] are missing"),
        (
            _parquet(TABLE.with_columns(pl.col("rows_in").cast(pl.String))),
            "column 'rows_in' is String, expected Int64",
        ),
    ],
)
def test_damaged_parquet_names_the_file(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "history.parquet"
    path.write_bytes(content)
    with pytest.raises(state.CorruptStateError) as caught:
        state.read_parquet(
            str(path), what="table", fix=FIX, schema={"rows_in": pl.Int64}, columns=["run_id"]
        )
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_parquet_reads_a_good_table_and_none_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    assert state.read_parquet(str(path), what="t", fix=FIX) is None
    path.write_bytes(_parquet(TABLE))
    frame = state.read_parquet(str(path), what="t", fix=FIX, schema={"rows_in": pl.Int64})
    assert frame is not None
    assert frame.equals(TABLE)


def test_set_aside_renames_and_keeps_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    path.write_bytes(b"junk")
    moved = state.set_aside(str(path))
    assert not path.exists()
    assert Path(moved).read_bytes() == b"junk"
    assert Path(moved).name.startswith("history.parquet.damaged-")


def test_a_damaged_prepared_data_marker_means_prepare_again(tmp_path: Path) -> None:
    from tasks.data.sources import datasets

    root = str(tmp_path / "aus")
    assert datasets.prepare_aus_retail(root).reused is False
    marker = tmp_path / "aus" / datasets.MARKER
    marker.write_text('{"source_sha256": ')
    assert datasets.prepare_aus_retail(root).reused is False  # not a JSONDecodeError
    assert datasets.prepare_aus_retail(root).reused is True
