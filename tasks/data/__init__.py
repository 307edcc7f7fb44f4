"""Data: from raw files to the modelling panel (plain Python: no Prefect, no flows).

``schemas`` the Pandera contracts at each boundary; ``ingest`` lists, fingerprints and scans
raw files; ``clean`` flags each row (kept or quarantined with a reason) and rolls kept rows
up to (series, day); ``aggregate`` builds the (series, period) panel at the run's frequency;
``sources/`` the synthetic generator, its defects and the bundled real data sets.
"""
