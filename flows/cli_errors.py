"""How ``python flows/main.py`` ends on an error the user can fix: one short block, no traceback.

A :class:`tasks.errors.UserError` (bad config value, bad data, storage) or a permanent
local file-system error ends the command with its short block on stderr and a non-zero
exit code (2 for a config error, 1 otherwise). Prefect's console log lines for it keep
their message but lose the traceback; the Prefect API log (the UI) keeps it, and
``SALES_FORECAST_DEBUG=1`` prints it to the console as well. Any other exception is a bug
and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator

from tasks.errors import ConfigError, UserError
from tasks.storage.errors import local_error

DEBUG_ENV = "SALES_FORECAST_DEBUG"
HINT = f"(full traceback: set {DEBUG_ENV}=1"
_RUN_LOG = ", or read the flow run's log in the Prefect UI"
CONFIG_EXIT_CODE = 2
ERROR_EXIT_CODE = 1


def debugging() -> bool:
    """True when ``SALES_FORECAST_DEBUG`` asks for full tracebacks on the console."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def user_error(exc: BaseException) -> UserError | None:
    """The user error behind ``exc`` (itself or a cause), or ``None`` for a bug."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, UserError):
            return current
        local = local_error(current)
        if local is not None:
            return local
        current = current.__cause__ or current.__context__
    return None


def _in_flow(exc: BaseException) -> bool:
    """True when ``exc`` was raised inside a Prefect flow run (its log holds the traceback)."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith("flow_engine.py"):
            return True
        tb = tb.tb_next
    return False


class ShortUserErrors(logging.Filter):
    """Drops the traceback from console log records about a user error (keeps the line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Strip ``exc_info`` when it holds a user error; never drops a record."""
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and user_error(exc) is not None:
            record.exc_info = None
            record.exc_text = None
        return True


def _console_handlers() -> list[logging.Handler]:
    """The handlers that print to the terminal: Prefect's console handler (on the root)."""
    from prefect.logging.configuration import ensure_logging_setup  # noqa: PLC0415
    from prefect.logging.handlers import PrefectConsoleHandler  # noqa: PLC0415

    ensure_logging_setup()  # what ``from prefect import flow`` would do a moment later
    return [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """Run the block; end a user error with its short block on stderr and ``SystemExit``."""
    debug = debugging()
    quiet = ShortUserErrors()
    handlers = [] if debug else _console_handlers()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    except Exception as exc:
        error = user_error(exc)
        if error is None:
            raise
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        hint = "" if debug else f"{HINT}{_RUN_LOG if _in_flow(exc) else ''})\n"
        sys.stderr.write(f"\n{error.block()}\n{hint}")
        sys.stderr.flush()
        code = CONFIG_EXIT_CODE if isinstance(error, ConfigError) else ERROR_EXIT_CODE
        raise SystemExit(code) from None
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)
