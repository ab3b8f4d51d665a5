"""The hooks a plugin may implement, and the markers that tag them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "mlbench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mlbench_register_models(register: Callable[[type], None]) -> None:
    """Register model classes: call ``register(ModelClass)`` once per model.

    :param register: validates the class against the model contract and adds it under
        ``ModelClass.name``; a broken class is reported and left out, never fatal.
    """


@hookspec
def mlbench_register_datasets(register: Callable[..., None]) -> None:
    """Register datasets: call ``register(name, loader, description="")`` once per dataset.

    :param register: ``loader(request: mlbench.LoadRequest) -> mlbench.Dataset`` is called
        only when the dataset is used, once per run, in the main process; it should cache
        what it builds under ``request.cache_dir``.
    """


# Re-exported so that type checkers see the hook signatures as plain functions.
HOOKSPECS: tuple[Any, ...] = (mlbench_register_models, mlbench_register_datasets)
