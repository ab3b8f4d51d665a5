"""The mlbench command (click) and its console display, on top of everything else."""

from mlbench.cli.commands import main

__all__ = ["main"]
