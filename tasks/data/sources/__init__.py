"""Where raw data comes from when it is not the user's files: the synthetic generator
(``generate``, with ``defects``) and the bundled real data sets (``datasets``)."""
