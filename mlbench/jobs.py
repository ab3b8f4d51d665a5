"""A run's plan: its settings, and the jobs (model x device x repeat) they expand into."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlbench.datasets import DataRef


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides which jobs a run has; saved in run.json so --resume can
    rebuild the same plan."""

    models: list[str]
    dataset: str = "mnist"
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_size: int | None = None
    test_size: int | None = None
    repeats: int = 1
    seed: int = 0
    timeout: float | None = None
    jobs: int = 1
    threads: int | None = None
    plugin_paths: list[str] = field(default_factory=list)
    data_dir: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class JobSpec:
    """One unit of work for a worker process: everything it needs, nothing it must look up
    in the parent, so any executor can run it."""

    job_id: str
    model: str
    plugin: str
    device: str
    repeat: int
    seed: int
    params: dict[str, Any]
    data: DataRef
    plugin_paths: tuple[str, ...] = ()
    threads: int | None = None


    def identity(self) -> dict[str, Any]:
        """The fields every record of this job starts with, whatever becomes of it."""
        return {"job_id": self.job_id, "model": self.model, "plugin": self.plugin,
                "device": self.device, "repeat": self.repeat, "seed": self.seed,
                "params": self.params}


def job_id(model: str, device: str, repeat: int) -> str:
    return f"{model}-{device}-r{repeat}"
