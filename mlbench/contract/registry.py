"""Plugin discovery: the core's datasets, installed ``mlbench`` entry points (the built-in
models among them) and local plugin files, each loaded and called in isolation so that one
broken plugin is reported in one line and never takes the others down."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from mlbench.contract import hookspecs
from mlbench.contract.model import Model, ReferenceAccuracy, contract_problems
from mlbench.errors import UsageError

ENTRY_POINT_GROUP = "mlbench"
CORE_PLUGINS = ("mlbench.datasets.builtin",)
HOOKS = ("mlbench_register_models", "mlbench_register_datasets")


@dataclass(frozen=True)
class ModelEntry:
    cls: type
    plugin: str

    @property
    def name(self) -> str:
        return str(getattr(self.cls, "name"))  # noqa: B009 - set by the plugin

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(getattr(self.cls, "tags", ()))

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(getattr(self.cls, "devices", ("cpu",)))

    @property
    def input(self) -> str:
        return str(getattr(self.cls, "input", "flat"))

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(getattr(self.cls, "defaults", {}))

    @property
    def fit_growth(self) -> float:
        return float(getattr(self.cls, "fit_growth", Model.fit_growth))

    @property
    def predict_growth(self) -> float:
        return float(getattr(self.cls, "predict_growth", Model.predict_growth))

    @property
    def requires(self) -> tuple[str, ...]:
        return tuple(getattr(self.cls, "requires", ()))

    @property
    def install(self) -> str:
        return str(getattr(self.cls, "install", "") or "")

    @property
    def colour(self) -> str | None:
        return getattr(self.cls, "colour", None)

    @property
    def reference_accuracy(self) -> tuple[ReferenceAccuracy, ...]:
        return tuple(getattr(self.cls, "reference_accuracy", ()))

    def missing(self) -> list[str]:
        """The required modules that cannot be found, looked up without importing them
        (TensorFlow's import alone takes seconds): how a missing package looks to Python."""
        return [name for name in self.requires if not _findable(name)]

    @property
    def description(self) -> str:
        doc = getattr(self.cls, "description", "") or (self.cls.__doc__ or "")
        return doc.strip().splitlines()[0] if doc.strip() else ""


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package, a bad name
        return False


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    loader: Callable[[Any], Any]
    description: str
    plugin: str


@dataclass
class PluginInfo:
    name: str
    source: str
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    error: str | None = None
    problems: list[str] = field(default_factory=list)  # what it registered and was refused


@dataclass
class Registry:
    """Everything the plugins registered, where it came from, and what went wrong."""

    models: dict[str, ModelEntry] = field(default_factory=dict)
    datasets: dict[str, DatasetEntry] = field(default_factory=dict)
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    plugin_paths: tuple[str, ...] = ()
    # Model names a plugin tried to register and was refused, with why (one line each).
    refused: dict[str, str] = field(default_factory=dict)

    def tags(self) -> dict[str, list[str]]:
        """Each tag (``all`` included) and the models that carry it."""
        tags: dict[str, list[str]] = {"all": sorted(self.models)}
        for entry in self.models.values():
            for tag in entry.tags:
                tags.setdefault(tag, []).append(entry.name)
        return {tag: sorted(names) for tag, names in sorted(tags.items())}

    def select_models(self, spec: str | Iterable[str]) -> list[str]:
        """Model names for a comma-separated list of names and tags, in the order given."""
        words = spec.split(",") if isinstance(spec, str) else list(spec)
        words = [word.strip() for word in words if word.strip()]
        if not words:
            raise UsageError("no models given; name some with --models, e.g. --models svm,knn")
        twice = sorted({word for word in words if words.count(word) > 1})
        if twice:
            raise UsageError(f"--models names {', '.join(repr(w) for w in twice)} more than "
                             "once; give each model or tag once")
        tags = self.tags()
        selected: list[str] = []
        for word in words:
            if word in self.models:
                found = [word]
            elif word in tags:
                found = tags[word]
            elif word in self.refused:
                raise UsageError(self.refused[word])
            else:
                message = unknown_message("model or tag", word, [*self.models, *tags])
                if self.problems:  # the model may be in a plugin that failed to load
                    message += ". Plugin problems: " + "; ".join(self.problems)
                raise UsageError(message)
            selected += [name for name in found if name not in selected]
        return selected

    def dataset(self, name: str) -> DatasetEntry:
        if name not in self.datasets:
            raise UsageError(unknown_message("dataset", name, self.datasets))
        return self.datasets[name]


def unknown_message(kind: str, word: str, valid: Iterable[str]) -> str:
    valid = sorted(set(valid))
    same_but_case = [name for name in valid if name.lower() == word.lower()]
    close = same_but_case or difflib.get_close_matches(word, valid, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"unknown {kind} '{word}'.{hint} Valid: {', '.join(valid)}"


def plugin_paths_from_env() -> list[str]:
    return [path for path in os.environ.get("MLBENCH_PLUGINS", "").split(os.pathsep) if path]


def load_registry(plugin_paths: Sequence[str | os.PathLike[str]] = ()) -> Registry:
    """Discover every plugin and collect what it registers.

    Order (the first registration of a name wins): the core's datasets, installed entry
    points by name, then local files and folders (``plugin_paths``, then ``MLBENCH_PLUGINS``).
    A path that does not exist is a usage error; a plugin that fails is reported and skipped.
    """
    from_env = plugin_paths_from_env()
    for path in from_env:
        try:
            _plugin_files(Path(path))
        except UsageError as error:  # the user may not know the variable is set: name it
            raise UsageError(f"{error} (it comes from MLBENCH_PLUGINS="
                             f"{os.environ['MLBENCH_PLUGINS']!r}: fix or unset it)") from None
    paths = [str(Path(p).resolve()) for p in [*plugin_paths, *from_env]]
    registry = Registry(plugin_paths=tuple(dict.fromkeys(paths)))
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)

    for module_name in CORE_PLUGINS:
        _add(registry, manager, "mlbench", "mlbench core", partial(importlib.import_module,
                                                                  module_name))
    for entry_point in _entry_points():
        dist = entry_point.dist
        source = f"entry point {entry_point.value}" + (
            f" ({dist.name} {dist.version})" if dist else ""
        )
        _add(registry, manager, entry_point.name, source, entry_point.load)
    for path in registry.plugin_paths:
        for file in _plugin_files(Path(path)):
            _add(registry, manager, file.stem, str(file), partial(_import_file, file))

    loaded = [plugin for plugin in registry.plugins.values() if plugin.error is None]
    reported = _collect(registry, manager, loaded)
    for plugin in loaded:
        if not (plugin.models or plugin.datasets) and plugin.name not in reported:
            plugin.error = ("registered nothing: is its hook function named "
                            "mlbench_register_models and decorated with @mlbench.hookimpl?")
            registry.problems.append(f"plugin '{plugin.name}' ({plugin.source}) "
                                     f"{plugin.error}")
    return registry


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """Installed entry points, optionally narrowed by MLBENCH_LOAD_PLUGINS (comma-separated
    names; empty loads none), so that a test run or a bug report can exclude stray plugins."""
    points = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    wanted = os.environ.get("MLBENCH_LOAD_PLUGINS")
    if wanted is not None:
        names = {name.strip() for name in wanted.split(",")}
        points = [point for point in points if point.name in names]
    return points


def _plugin_files(path: Path) -> list[Path]:
    if not path.exists():
        raise UsageError(f"plugin path {path} does not exist; give a .py file or a folder of them")
    if path.is_dir():
        # Every module of the folder but private ones and tests (test_*.py import the plugin).
        return sorted(p for p in path.glob("*.py") if not p.name.startswith(("_", "test_")))
    if path.suffix != ".py":
        raise UsageError(f"plugin path {path} is not a .py file; give a .py file or a folder")
    return [path]


def _import_file(path: Path) -> ModuleType:
    """Import a local plugin file under a name unique to its path."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    module_name = f"mlbench_local_{path.stem.replace('-', '_')}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    if str(path.parent) not in sys.path:  # so it can import the modules beside it
        sys.path.append(str(path.parent))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _add(
    registry: Registry,
    manager: pluggy.PluginManager,
    name: str,
    source: str,
    load: Callable[[], Any],
) -> None:
    if name in registry.plugins:
        name = f"{name}@{source}"
    info = registry.plugins[name] = PluginInfo(name=name, source=source)
    try:
        manager.register(load(), name=name)
        manager.check_pending()
    except Exception as error:
        if manager.get_plugin(name) is not None:
            manager.unregister(name=name)
        info.error = _one_line(error)
        registry.problems.append(f"plugin '{name}' ({source}) failed to load: {info.error}")


def _collect(
    registry: Registry, manager: pluggy.PluginManager, plugins: list[PluginInfo]
) -> set[str]:
    """Call each hook through pluggy, one plugin at a time, so that every registration is
    traced to its plugin and one plugin raising costs only its own registrations. A plugin's
    ``tryfirst``/``trylast`` put its calls ahead of/behind the others' (else they come in
    discovery order, so the first plugin found keeps a name), and its hook wrappers wrap its
    own implementations. Returns the names of the plugins a problem was reported for."""
    reported: set[str] = set()
    for hook_name in HOOKS:
        for plugin in _call_order(manager, hook_name, plugins):
            others = [manager.get_plugin(other.name) for other in plugins if other is not plugin]
            call = manager.subset_hook_caller(hook_name, remove_plugins=others)
            register = _registrars(registry, plugin)[hook_name]
            if os.environ.get("MLBENCH_TRACE_PLUGINS"):
                print(f"mlbench: calling {plugin.name}.{hook_name}", file=sys.stderr)
            known = len(registry.problems)
            try:
                call(register=register)
            except Exception as error:
                registry.problems.append(
                    f"plugin '{plugin.name}': {hook_name} raised {_one_line(error)}"
                )
            if len(registry.problems) > known:
                reported.add(plugin.name)
    return reported


def _call_order(
    manager: pluggy.PluginManager, hook_name: str, plugins: list[PluginInfo]
) -> list[PluginInfo]:
    """The plugins that implement ``hook_name``: those marked ``tryfirst`` first, those whose
    every implementation is ``trylast`` last, the rest in discovery order (a stable sort)."""
    impls = getattr(manager.hook, hook_name).get_hookimpls()

    def rank(plugin: PluginInfo) -> int:
        own = [impl for impl in impls if impl.plugin_name == plugin.name]
        if any(impl.tryfirst for impl in own):
            return 0
        return 2 if all(impl.trylast for impl in own) else 1

    implementing = {impl.plugin_name for impl in impls}
    return sorted((plugin for plugin in plugins if plugin.name in implementing), key=rank)


def _registrars(registry: Registry, plugin: PluginInfo) -> dict[str, Callable[..., None]]:
    """The ``register`` callback each hook of ``plugin`` is given: it checks what the plugin
    registers and records where it came from."""

    def register_model(cls: Any) -> None:
        problems = contract_problems(cls)
        label = getattr(cls, "__name__", repr(cls))
        if problems:
            problem = (f"plugin '{plugin.name}': model class {label} left out: "
                       f"{'; '.join(problems)}")
            registry.problems.append(problem)
            plugin.problems.append(problem)
            if isinstance(getattr(cls, "name", None), str):
                registry.refused.setdefault(cls.name, problem)
        elif cls.name in registry.models:
            owner = registry.models[cls.name].plugin
            problem = (f"plugin '{plugin.name}': model name '{cls.name}' is already "
                       f"registered by plugin '{owner}'; rename {label}.name")
            registry.problems.append(problem)
            plugin.problems.append(problem)
        else:
            registry.models[cls.name] = ModelEntry(cls=cls, plugin=plugin.name)
            plugin.models.append(cls.name)

    def register_dataset(name: str, loader: Callable[[Any], Any], description: str = "") -> None:
        if not isinstance(name, str) or not callable(loader):
            registry.problems.append(
                f"plugin '{plugin.name}': register(name, loader) needs a string and a callable"
            )
        elif name in registry.datasets:
            owner = registry.datasets[name].plugin
            registry.problems.append(
                f"plugin '{plugin.name}': dataset name '{name}' is already registered by "
                f"plugin '{owner}'"
            )
        else:
            registry.datasets[name] = DatasetEntry(name, loader, description, plugin.name)
            plugin.datasets.append(name)

    return {"mlbench_register_models": register_model,
            "mlbench_register_datasets": register_dataset}
