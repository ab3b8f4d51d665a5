"""The extra-trees plugin keeps mlbench's model contract."""

from mlbench.testing import check_model

from mlbench_extra_trees import ExtraTrees


def test_extra_trees_passes_check_model() -> None:
    check_model(ExtraTrees)


def test_other_seeds_reproduce_too() -> None:
    check_model(ExtraTrees, seed=7, params={"n_estimators": 20})
