"""Hooks are called through pluggy: a plugin's tryfirst/trylast markers and its hook
wrappers work, while one plugin raising still costs only its own registrations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlbench.contract.registry import load_registry

WritePlugin = Callable[[str, str], Path]

TWIN = '''
import numpy as np
import mlbench

class Twin(mlbench.Model):
    """Predicts the first class."""
    name = "twin"

    def fit(self, X, y):
        self.first_ = np.unique(y)[0]
        return self

    def predict(self, X):
        return np.full(len(X), self.first_)

@mlbench.hookimpl{marker}
def mlbench_register_models(register):
{body}
'''


def plugin(marker: str = "", body: str = "    register(Twin)") -> str:
    return TWIN.format(marker=marker, body=body)


def test_a_tryfirst_registration_is_seen_first(write_plugin: WritePlugin) -> None:
    """Plugins are found in name order, and the first registration of a name wins: the later
    plugin's tryfirst puts its registration first."""
    write_plugin("a_plain", plugin())
    path = write_plugin("b_first", plugin("(tryfirst=True)"))
    registry = load_registry([path.parent])
    assert registry.models["twin"].plugin == "b_first"
    assert any(problem.startswith("plugin 'a_plain': model name 'twin' is already registered "
                                  "by plugin 'b_first'") for problem in registry.problems)

    write_plugin("b_first", plugin())  # without the marker, discovery order decides
    write_plugin("a_plain", plugin("(trylast=True)"))
    assert load_registry([path.parent]).models["twin"].plugin == "b_first"


def test_a_hook_wrapper_runs_around_its_plugin_s_hook(write_plugin: WritePlugin) -> None:
    """A wrapper (pluggy's new-style ``wrapper=True``) runs before and after its plugin's
    own implementation; here it registers what the implementation left out."""
    wrapped = plugin(body="    pass") + '''
@mlbench.hookimpl(wrapper=True, specname="mlbench_register_models")
def wrap_models(register):
    yield
    register(Twin)
'''
    path = write_plugin("wrapped", wrapped)
    registry = load_registry([path])
    assert registry.models["twin"].plugin == "wrapped", registry.problems


def test_one_plugin_raising_costs_only_its_own_registrations(write_plugin: WritePlugin) -> None:
    write_plugin("a_raises", plugin(body="    register(Twin)\n    raise ValueError('boom')"))
    path = write_plugin("b_fine", plugin(body="    Twin.name = 'other'\n    register(Twin)"))
    registry = load_registry([path.parent])
    assert registry.models["twin"].plugin == "a_raises"  # what it registered before raising
    assert registry.models["other"].plugin == "b_fine"
    assert "plugin 'a_raises': mlbench_register_models raised ValueError: boom" in (
        registry.problems)
