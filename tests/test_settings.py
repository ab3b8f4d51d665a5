"""The run settings are declared once: the command's options and the Python API's keyword
arguments both come from mlbench.running.settings, with the same names and defaults; what a
run saves of them, and what its reports read back, from one RunConfig."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import field, fields, make_dataclass
from pathlib import Path

import click
import pytest
from click.testing import Result

import mlbench
from mlbench.cli.commands import run as run_command
from mlbench.errors import UsageError
from mlbench.results.run_config import RunConfig
from mlbench.results.run_info import RunInfo
from mlbench.running.params import parse_sweep
from mlbench.running.settings import SETTINGS

DEFAULTS = {"svm": {"C": 5.0, "kernel": "rbf"}, "knn": {"n_neighbors": 3}}


def test_cli_options_and_api_keywords_come_from_one_declaration() -> None:
    options = {param.name: param for param in run_command.params
               if isinstance(param, click.Option) and param.name != "help"}
    keywords = inspect.signature(mlbench.run).parameters

    assert set(options) == {setting.name for setting in SETTINGS if setting.cli}
    assert set(keywords) == {setting.name for setting in SETTINGS if setting.api}
    for setting in SETTINGS:
        if setting.cli:
            option = options[setting.name]
            assert setting.option in option.opts, option.opts
            assert option.default == setting.default, setting.name
            assert option.multiple == setting.multiple and option.is_flag == setting.is_flag
        if setting.api:
            assert keywords[setting.name].default == setting.default, setting.name
        if setting.cli and setting.api:  # the same default on both surfaces
            assert options[setting.name].default == keywords[setting.name].default
        else:  # a setting of one surface says what the other does instead
            assert setting.instead, setting.name
    # The positional pair of mlbench.run(models, dataset), the rest by keyword only.
    assert list(keywords)[:2] == ["models", "dataset"]


def test_an_option_of_the_command_alone_says_what_the_api_does_instead() -> None:
    with pytest.raises(TypeError, match=re.escape("--quiet is the command's alone; mlbench.run "
                                                  "shows no progress")):
        mlbench.run(models=["knn"], dataset="digits", quiet=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'modles'"):
        mlbench.run(modles=["knn"])


def test_api_values_are_checked_as_the_command_line_s_are() -> None:
    with pytest.raises(UsageError, match=re.escape("knn.n_neighbors expects int (default 3), "
                                                   "got 'three'")):
        mlbench.run(["knn"], "digits", params={"knn": {"n_neighbors": "three"}})
    with pytest.raises(UsageError, match="no models given"):
        mlbench.run(dataset="digits")
    with pytest.raises(UsageError, match="--repeats must be at least 1, got 0"):
        mlbench.run("knn", "digits", repeats=0)
    with pytest.raises(UsageError, match=re.escape("--target-accuracy must be a fraction above "
                                                   "0 and at most 1, e.g. 0.99; got nan")):
        mlbench.run("knn", "digits", target_accuracy=float("nan"))


def test_a_sweep_from_python_keeps_its_values() -> None:
    """Python values are values: the text "10" stays a string, not the number the command
    line's 10 would be."""
    assert parse_sweep({"svm": {"kernel": ["rbf", "poly"], "C": [1, 10]}}, DEFAULTS) == {
        "svm": {"kernel": ["rbf", "poly"], "C": [1.0, 10.0]}}
    assert parse_sweep({"svm": {"kernel": ["10"]}}, DEFAULTS) == {"svm": {"kernel": ["10"]}}
    assert parse_sweep(["svm.kernel=10"], DEFAULTS) == {"svm": {"kernel": [10]}}
    with pytest.raises(UsageError, match="value 'rbf' is given twice"):
        parse_sweep({"svm": {"kernel": ["rbf", "rbf"]}}, DEFAULTS)


def test_validation_defaults_to_a_tenth_only_where_a_sweep_chooses() -> None:
    """The fraction is resolved once, into the RunConfig that run.json keeps."""
    from mlbench.running.settings import bind, to_config

    def resolved(**given: object) -> float:
        return to_config(bind((), {"models": "knn", "dataset": "digits", **given}))[0].validation

    assert resolved() == 0
    assert resolved(train_size=[100, 300]) == 0  # sizes alone choose nothing
    assert resolved(sweep=["knn.n_neighbors=1,3"]) == 0.1
    assert resolved(sweep=["knn.n_neighbors=3"]) == 0  # one value: nothing to choose
    assert resolved(sweep=["knn.n_neighbors=1,3"], validation=0) == 0
    assert resolved(validation=0.25) == 0.25
    with pytest.raises(UsageError, match=re.escape("--validation takes a fraction of the "
                                                   "training set, e.g. 0.1; got 'a tenth'")):
        resolved(validation="a tenth")
    with pytest.raises(UsageError, match=re.escape("(not including) 1, e.g. 0.1; got 1.0")):
        resolved(validation=1)
    assert RunConfig.from_json({"models": ["knn"]}).validation == 0  # run.json from before


def test_reports_read_the_settings_back_from_the_declaration_run_json_was_written_from(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    """A real run's run.json: every field of RunConfig saved, and read back by RunInfo (what
    the reports use) as the same RunConfig that --resume rebuilds; no second schema."""
    result = cli("run", "-m", "knn,linear", "-d", "digits", "--repeats", "2", "--seed", "3",
                 "--param", "knn.n_neighbors=5", "--timeout", "120", "--validation", "0.2",
                 "--train-size", "400", "--name", "r", "-q")
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "results" / "r" / "run.json").read_text())
    assert set(saved["config"]) == {setting.name for setting in fields(RunConfig)}
    settings = RunInfo.from_json(saved).settings
    assert settings == RunConfig.from_json(saved["config"])
    assert (settings.repeats, settings.seed, settings.timeout, settings.validation,
            settings.params) == (2, 3, 120.0, 0.2, {"knn": {"n_neighbors": 5}})


def test_a_setting_added_to_the_declaration_is_saved_and_read_back() -> None:
    """What adding a field to RunConfig gives, shown with a subclass that adds one: run.json
    gets it, and reports read it back (its default where an older run.json lacks it)."""
    Extended = make_dataclass("Extended", [("new_setting", int, field(default=7))],
                              bases=(RunConfig,), frozen=True)
    saved = Extended(models=["knn"], new_setting=3).to_json()
    assert saved["new_setting"] == 3
    assert Extended.read(saved).new_setting == 3
    assert Extended.read({"models": ["knn"]}).new_setting == 7  # an older run.json


def test_settings_that_cannot_be_read_read_as_their_defaults() -> None:
    """A run.json from an older version, or edited by hand, still reports."""
    settings = RunInfo.from_json({"config": {"models": "knn", "validation": None,
                                             "sweep": [1], "repeats": 4}}).settings
    assert (settings.models, settings.validation, settings.sweep, settings.repeats) == (
        [], 0.0, {}, 4)
    assert RunInfo.from_json({}).settings == RunConfig()
