"""A run's settings, declared once: ``RunConfig`` is what ``mlbench run`` and ``mlbench.run``
check their settings into (``running.settings.to_config``), what run.json keeps under
"config", and what reports read back (``RunInfo.settings``). It lives in the results layer so
that the runner and the reports share it: a setting added here is saved and read back with no
second schema to keep in step."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides which jobs a run has; saved in run.json so --resume can
    rebuild the same plan."""

    models: list[str] = field(default_factory=list)
    dataset: str = "mnist"
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_size: int | list[int] | None = None  # a list: one job per size (a grid)
    test_size: int | None = None  # as asked for (None: the whole test set)
    repeats: int = 1
    seed: int = 0
    timeout: float | None = None
    jobs: int = 1
    threads: int | None = None
    plugin_paths: list[str] = field(default_factory=list)
    data_dir: str | None = None
    sweep: dict[str, dict[str, list[Any]]] = field(default_factory=dict)  # model, param: values
    executor: str = "local"
    scheduler: str | None = None  # a Dask scheduler's address; None: a local cluster
    retries: int = 2  # times a job is re-run after its Dask worker died under it
    target_accuracy: float = 0.99  # time_to_target_seconds: training until test accuracy >= it
    # The fraction of the training set held out to choose among a grid's settings, resolved
    # (--validation, else 0.1 with a --sweep, else 0). 0 in a run.json from before it: those
    # runs held nothing out, and resume as they were made.
    validation: float = 0.0

    def train_sizes(self) -> list[int | None]:
        """Every training-set size of the run (None: the whole set)."""
        return list(self.train_size) if isinstance(self.train_size, list) else [self.train_size]

    def model_settings(self, model: str, defaults: Mapping[str, Any]
                       ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Each setting ``model`` runs with: its swept values (one combination of the grid),
        and its whole params (``defaults``, then --param, then those values)."""
        swept = self.sweep.get(model, {})
        for values in itertools.product(*swept.values()):
            sweep = dict(zip(swept, values, strict=True))
            yield sweep, {**defaults, **self.params.get(model, {}), **sweep}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        """run.json's settings as saved, for --resume (which checks them again); keys of
        other versions left out."""
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        return cls(**known)

    @classmethod
    def read(cls, data: dict[str, Any]) -> RunConfig:
        """run.json's settings as far as they can be read, for reports: a key that is
        missing (an older run.json, a run killed as it started), null, or not the list or
        mapping its default is, reads as the default."""
        values: dict[str, Any] = {}
        for setting in fields(cls):
            default: Any = (setting.default_factory() if setting.default_factory is not MISSING
                       else setting.default)
            value = data.get(setting.name)
            container = isinstance(default, list | dict)
            if value is None or (container and not isinstance(value, type(default))):
                value = default
            values[setting.name] = value
        return cls(**values)
