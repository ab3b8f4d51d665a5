"""The plugins a job uses, discovered once per workers' server instead of once per job.

Every job runs in a fresh process forked from the workers' server (``local_executor.
start_workers``), on this machine or on a Dask worker. A registry discovered in the server,
before it forks, is every job's for nothing: the plugins are imported, their hooks called and
their model classes checked once per run, not once per job. The server learns the run's
plugin paths from ``PATHS_VARIABLE``, set only while it starts; a job whose plugin paths are
not those (a second run of one Python session with other plugins, whose server was started
by the first) discovers its own, as every job did before.

Plugins import their frameworks inside the methods that need them (docs/plugins.md), so the
server stays free of a framework's threads and of settings made before ``--threads``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence

from mlbench.contract.registry import Registry, load_registry

PATHS_VARIABLE = "MLBENCH_SERVER_PLUGIN_PATHS"

_discovered: tuple[tuple[str, ...], Registry] | None = None  # in the server: paths, registry


@contextlib.contextmanager
def told_to_server(plugin_paths: Sequence[str]) -> Iterator[None]:
    """Around starting the server: it discovers the plugins of ``plugin_paths`` (as
    ``settings.to_config`` resolved them) as it starts."""
    os.environ[PATHS_VARIABLE] = json.dumps(list(plugin_paths))
    try:
        yield
    finally:
        os.environ.pop(PATHS_VARIABLE, None)


def discover_in_server() -> None:
    """Run as the server imports this module: discover the plugins it was told of. Any
    failure leaves the jobs to discover them (and report the problem) themselves."""
    global _discovered
    told = os.environ.pop(PATHS_VARIABLE, None)  # the server's alone: jobs do not inherit it
    if told is None:
        return
    try:
        paths = tuple(json.loads(told))
        _discovered = (paths, load_registry(paths))
    except Exception:  # never fail the server: that would cost every job, not one plugin
        _discovered = None


def registry_for(plugin_paths: Sequence[str]) -> Registry:
    """The registry a job of ``plugin_paths`` uses: the server's, where it discovered the
    same paths; else discovered now."""
    if _discovered is not None and _discovered[0] == tuple(plugin_paths):
        return _discovered[1]
    return load_registry(plugin_paths)


discover_in_server()
