"""Wiring: the ``sales-forecast`` flow, its config (and ``config_checks``), its step runner,
entry points (with ``cli_errors``: how a user error ends a command), and the event
(``events/``) and operations (``ops/``) code around it."""
