"""Running a benchmark: settings, planning jobs, the executors (local and Dask), the worker
that drives one model, the --estimate mode, and the progress a run reports."""
