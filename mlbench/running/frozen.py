"""Imported last by the workers' server (``local_executor.start_workers``), by nothing else:
freezes the objects its preloading made, as Python's documentation advises before forking.

A job forked from the server then never walks those objects in a garbage collection (their
memory pages stay shared), and the server exits at once when the run ends instead of
collecting them first (about half a second with scikit-learn loaded, which a command whose
output is piped, or captured by a test, waits for).
"""

import gc

gc.freeze()
