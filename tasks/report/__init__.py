"""Report: the run's self-contained ``report.html`` (plain Python: no Prefect).

``render`` assembles the page and the summaries for the Prefect UI; ``format`` the shared
HTML and number formatting; ``plots`` the matplotlib figures, inlined as PNG;
``monitoring_sections`` the data-quality, drift and realised-accuracy sections.
"""
