"""What a run leaves: the job record, the results table's schema, job names, and the run
folder that owns every path of a run."""
