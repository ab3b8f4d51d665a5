"""Reports from saved runs: tables, charts, statistics, reference ranges, the report document
and run comparison. Nothing here imports the runner."""
