"""Wiring: the ``sales-forecast`` flow, its config, its step runner, entry points, and the
event (``events/``) and operations (``ops/``) code around it."""
