"""User errors: one short block on the terminal, no traceback; bugs keep theirs."""

from __future__ import annotations

import errno
import io
import logging
import pickle

import pytest

from flows import cli_errors
from tasks.data.clean import NoCleanRowsError
from tasks.data.ingest import UnreadableFilesError
from tasks.errors import ConfigError, DataError, Problem, UserError
from tasks.model.backtest import ShortHistoryError
from tasks.monitoring.quality import DataQualityError
from tasks.storage.errors import LocalStorageError, StorageNotFoundError


def test_block_has_kind_message_where_and_fix() -> None:
    error = DataError("ingest: 1 file cannot be read", where="/data/a.parquet", fix="remove it")
    assert error.block().splitlines() == [
        "data error: ingest: 1 file cannot be read",
        "  where: /data/a.parquet",
        "  fix: remove it",
    ]
    assert repr(error) == "DataError('ingest: 1 file cannot be read')"


def test_where_is_not_repeated_when_the_message_names_it() -> None:
    error = DataError("cannot read /data/a.parquet", where="/data/a.parquet", fix="remove it")
    assert error.block().count("/data/a.parquet") == 1


def test_a_long_message_is_cut_to_a_short_block() -> None:
    error = DataError("\n".join(f"  line {i}" for i in range(100)), fix="x")
    assert len(error.block().splitlines()) <= 30
    assert "more lines" in error.block()


def test_config_error_lists_each_problem() -> None:
    error = ConfigError(
        [
            Problem("forecast.horizon", 0, "must be >= 1", "e.g. forecast.horizon=28"),
            Problem("data.name", "a b", "must be a safe name", "e.g. data.name=ab"),
        ]
    )
    assert error.block().splitlines() == [
        "config error: 2 config values are not valid:",
        "  - forecast.horizon=0: must be >= 1; e.g. forecast.horizon=28",
        "  - data.name='a b': must be a safe name; e.g. data.name=ab",
    ]


@pytest.mark.parametrize(
    "error",
    [
        DataError("bad", where="w", fix="f"),
        NoCleanRowsError("all quarantined", where="q.parquet", fix="look"),
        ShortHistoryError("too short", fix="set forecast.horizon=7"),
        UnreadableFilesError("1 file", where="a.parquet"),
        ConfigError([Problem("forecast.horizon", 0, "must be >= 1", "e.g. 28")]),
        DataQualityError({"run_id": "r1", "checks": [{"level": "breach", "message": "q > 0.2"}]}),
    ],
)
def test_user_errors_survive_pickling(error: UserError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert again.block() == error.block()


def test_user_error_is_found_behind_a_wrapping_exception() -> None:
    try:
        try:
            raise DataError("bad rows")
        except DataError as inner:
            raise RuntimeError("stage failed") from inner
    except RuntimeError as outer:
        found = cli_errors.user_error(outer)
    assert isinstance(found, DataError)


@pytest.mark.parametrize(
    ("exc", "fix"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/out/runs/x"), "free disk space"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/out/runs/x"), "is a file"),
        (OSError(errno.EROFS, "Read-only file system", "/out"), "read-only"),
        (PermissionError(errno.EACCES, "Permission denied", "/out"), "access"),
    ],
)
def test_a_permanent_local_error_becomes_a_short_storage_error(exc: OSError, fix: str) -> None:
    found = cli_errors.user_error(exc)
    assert isinstance(found, LocalStorageError)
    assert str(exc.filename) in found.block()
    assert fix in found.block()


@pytest.mark.parametrize(
    "exc",
    [ValueError("a bug"), KeyError("x"), OSError(errno.EIO, "I/O error"), OSError("no file")],
)
def test_a_bug_or_a_transient_failure_is_not_a_user_error(exc: BaseException) -> None:
    assert cli_errors.user_error(exc) is None


def test_storage_errors_are_user_errors_with_a_fix() -> None:
    error = StorageNotFoundError("no such S3 object: bucket 'b', key 'k'", url="s3://b/k")
    assert cli_errors.user_error(error) is error
    assert "fix: check the bucket and key" in error.block()


def _log_exception(exc: BaseException) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(cli_errors.ShortUserErrors())
    logger = logging.getLogger("tests.short-user-errors")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise exc
        except Exception:
            logger.exception("Encountered exception during execution: %r", exc)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_console_log_keeps_the_line_but_drops_the_traceback_of_a_user_error() -> None:
    text = _log_exception(DataError("ingest: 1 of 3 files cannot be read:\n  a.parquet: empty"))
    assert "Encountered exception during execution: DataError('ingest: 1 of 3 files" in text
    assert "Traceback" not in text


def test_console_log_keeps_the_traceback_of_a_bug() -> None:
    assert "Traceback" in _log_exception(ValueError("a bug"))


def _run(exc: BaseException, capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str]:
    with pytest.raises(SystemExit) as exit_info, cli_errors.reported_errors():
        raise exc
    return exit_info.value.code, capsys.readouterr().err


def test_reported_errors_end_a_data_error_with_its_block_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cli_errors.DEBUG_ENV, raising=False)
    code, err = _run(DataError("no rows", fix="add rows"), capsys)
    assert code == 1
    assert "data error: no rows\n  fix: add rows\n" in err
    assert "Traceback" not in err
    assert f"{cli_errors.DEBUG_ENV}=1" in err


def test_reported_errors_exit_2_on_a_config_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cli_errors.DEBUG_ENV, raising=False)
    problem = Problem("forecast.horizon", 0, "must be >= 1", "e.g. forecast.horizon=28")
    code, err = _run(ConfigError([problem]), capsys)
    assert code == 2
    assert err.strip().splitlines()[0] == "config error: " + problem.text()


def test_debug_switch_prints_the_traceback_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cli_errors.DEBUG_ENV, "1")
    code, err = _run(DataError("no rows"), capsys)
    assert code == 1
    assert "Traceback" in err
    assert "data error: no rows" in err


def test_reported_errors_let_a_bug_through() -> None:
    with pytest.raises(ZeroDivisionError), cli_errors.reported_errors():
        _ = 1 / 0


def test_reported_errors_filter_prefects_console_only_while_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(cli_errors.DEBUG_ENV, raising=False)
    with cli_errors.reported_errors():
        handlers = cli_errors._console_handlers()
        assert handlers
        assert all(
            any(isinstance(f, cli_errors.ShortUserErrors) for f in h.filters) for h in handlers
        )
    assert not any(isinstance(f, cli_errors.ShortUserErrors) for h in handlers for f in h.filters)
