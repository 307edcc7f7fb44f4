"""Monitoring: data quality, drift and realised accuracy (plain Python: no Prefect).

``quality`` and ``quality_checks`` the data-quality report and its warn/hard checks;
``drift`` training-data profiles and population stability against the champion's;
``realised`` served forecasts joined to the actuals that arrived since; ``store`` the
history tables and profiles on disk. The Prefect tasks over these are in
:mod:`tasks.monitor`, the alert events in :mod:`tasks.alerts`.
"""
