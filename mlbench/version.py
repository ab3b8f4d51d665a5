"""mlbench's version, in a module of its own: the runner records it in run.json without
importing the package's top level (which reaches every layer through ``mlbench.run``)."""

__version__ = "0.1.0"
