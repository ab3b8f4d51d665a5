"""Hyperparameters from the command line: parsing, typing, errors."""

from __future__ import annotations

import re

import pytest

from mlbench.errors import UsageError
from mlbench.running.params import parse_params, parse_sweep

DEFAULTS = {
    "svm": {"C": 5.0, "kernel": "rbf", "gamma": "scale", "shrinking": True},
    "knn": {"n_neighbors": 3, "weights": "uniform"},
    "mlp": {"hidden_layer_sizes": (100,), "alpha": None},
}


def test_values_take_the_type_of_their_default() -> None:
    params = parse_params(
        ["svm.C=10", "svm.gamma=0.01", "svm.kernel=poly", "svm.shrinking=False",
         "knn.n_neighbors=7", "mlp.hidden_layer_sizes=(256, 128)", "mlp.alpha=1e-3"],
        DEFAULTS,
    )
    assert params == {
        "svm": {"C": 10.0, "gamma": 0.01, "kernel": "poly", "shrinking": False},
        "knn": {"n_neighbors": 7},
        "mlp": {"hidden_layer_sizes": (256, 128), "alpha": 1e-3},
    }
    assert isinstance(params["svm"]["C"], float)


def test_a_single_int_fills_a_tuple_param() -> None:
    assert parse_params(["mlp.hidden_layer_sizes=64"], DEFAULTS) == {
        "mlp": {"hidden_layer_sizes": (64,)}}


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("svm.C", "is not of the form MODEL.NAME=VALUE"),
        ("C=10", "is not of the form MODEL.NAME=VALUE"),
        ("rf.n_estimators=10", "model 'rf' is not selected"),
        ("svm.c=10", "Did you mean 'C'?"),
        ("svm.C=big", "svm.C expects float (default 5.0), got 'big'"),
        ("knn.n_neighbors=2.5", "knn.n_neighbors expects int"),
        ("svm.shrinking=maybe", "svm.shrinking expects true or false (also yes/no"),
        ("svm.shrinking=2", "got 2"),
        ("svm.shrinking=1.0", "got 1.0"),
    ],
)
def test_bad_params_name_the_problem(assignment: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_params([assignment], DEFAULTS)


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("True", True), ("TRUE", True), ("yes", True), ("On", True), ("1", True),
    ("false", False), ("False", False), ("no", False), ("OFF", False), ("0", False),
])
def test_a_bool_param_takes_the_words_people_type(text: str, value: bool) -> None:
    assert parse_params([f"svm.shrinking={text}"], DEFAULTS) == {"svm": {"shrinking": value}}
    sweep = parse_sweep([f"svm.shrinking={text},{'no' if value else 'yes'}"], DEFAULTS)
    assert sweep == {"svm": {"shrinking": [value, not value]}}
