"""run.json read into typed objects: what a run was asked to do, on which data and machine.

Reading is lenient on purpose: run.json files written by older mlbench versions, or by a run
killed before it loaded its dataset, lack some keys; a missing key reads as None (or empty),
and whoever shows it decides how to say so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlbench.contract.model import ReferenceAccuracy
from mlbench.contract.registry import ModelEntry
from mlbench.results.run_config import RunConfig


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


@dataclass(frozen=True)
class DatasetInfo:
    """The dataset a run used (``name``), and the one asked for (``requested``)."""

    name: str | None = None
    requested: str | None = None
    source: str = ""
    train_size: int | list[int] | None = None  # a list: a grid's sizes
    test_size: int | None = None
    fallback_warning: str | None = None
    validation_size: int | None = None  # training images held out; None: from before it

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetInfo:
        return cls(name=data.get("name"), requested=data.get("requested"),
                   source=data.get("source") or "", train_size=data.get("train_size"),
                   test_size=data.get("test_size"),
                   fallback_warning=data.get("fallback_warning"),
                   validation_size=data.get("validation_size"))


@dataclass(frozen=True)
class MachineInfo:
    """The machine a run ran on, as ``running.environment.describe_machine`` saw it."""

    cpu: str | None = None
    cpu_count: int | None = None
    usable_cpus: int | None = None
    platform: str | None = None
    python: str | None = None
    gpus: list[str] = field(default_factory=list)
    libraries: dict[str, str] = field(default_factory=dict)
    framework_builds: dict[str, str] = field(default_factory=dict)  # torch: "CUDA 12.8"
    thread_pools: list[dict[str, Any]] = field(default_factory=list)  # threadpoolctl's info
    git_commit: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MachineInfo:
        return cls(cpu=data.get("cpu"), cpu_count=data.get("cpu_count"),
                   usable_cpus=data.get("usable_cpus"), platform=data.get("platform"),
                   python=data.get("python"), gpus=_list(data.get("gpus")),
                   libraries=_section(data, "libraries"),
                   framework_builds=_section(data, "framework_builds"),
                   thread_pools=[pool for pool in _list(data.get("threads"))
                                 if isinstance(pool, dict)],
                   git_commit=data.get("git_commit"))


@dataclass(frozen=True)
class ModelInfo:
    """What a run recorded of one model's plugin class as it started, so that reports never
    need the plugin: the colour it is drawn in (None: hashed from its name) and its
    published accuracy ranges. Absent from runs made before it was recorded."""

    plugin: str | None = None
    colour: str | None = None
    reference_accuracy: list[ReferenceAccuracy] = field(default_factory=list)

    @classmethod
    def of(cls, entry: ModelEntry) -> ModelInfo:
        return cls(plugin=entry.plugin, colour=entry.colour,
                   reference_accuracy=list(entry.reference_accuracy))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        ranges = []
        for item in _list(data.get("reference_accuracy")):
            try:
                ranges.append(ReferenceAccuracy(**item))
            except TypeError:  # another version's fields: left out, not judged
                continue
        colour = data.get("colour")
        return cls(plugin=data.get("plugin"), colour=colour if isinstance(colour, str) else None,
                   reference_accuracy=ranges)


@dataclass(frozen=True)
class RunInfo:
    """One run.json: the settings, dataset, machine and versions, the command and times."""

    settings: RunConfig = field(default_factory=RunConfig)  # read leniently (RunConfig.read)
    dataset: DatasetInfo = field(default_factory=DatasetInfo)
    machine: MachineInfo = field(default_factory=MachineInfo)
    mlbench: str | None = None  # the version that wrote it
    command: list[str] = field(default_factory=list)
    started_at: str | None = None
    finished_at: str | None = None
    resumed_at: list[str] = field(default_factory=list)
    complete: bool | None = None  # None: the run has not finished (or predates the key)
    models: dict[str, ModelInfo] = field(default_factory=dict)  # by model name

    def model_colours(self) -> dict[str, str]:
        """The colour each model's plugin gave it, where it gave one."""
        return {name: model.colour for name, model in self.models.items() if model.colour}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunInfo:
        return cls(settings=RunConfig.read(_section(data, "config")),
                   dataset=DatasetInfo.from_json(_section(data, "dataset")),
                   machine=MachineInfo.from_json(_section(data, "machine")),
                   mlbench=data.get("mlbench"),
                   command=[str(part) for part in _list(data.get("command"))],
                   started_at=data.get("started_at"), finished_at=data.get("finished_at"),
                   resumed_at=_list(data.get("resumed_at")), complete=data.get("complete"),
                   models={str(name): ModelInfo.from_json(model) for name, model
                           in _section(data, "models").items() if isinstance(model, dict)})
