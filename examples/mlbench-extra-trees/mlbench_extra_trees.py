"""An example mlbench plugin: extremely randomized trees, registered as `extra-trees`.

A scikit-learn estimator needs only `build()`: `mlbench.EstimatorModel` supplies fit,
predict, predict_proba and the params.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import mlbench


class ExtraTrees(mlbench.EstimatorModel):
    """Extremely randomized trees: a random forest with random split thresholds."""

    name = "extra-trees"
    tags = ("ensembles",)
    # scikit-learn's defaults, on all cores, as the built-in random-forest uses them.
    defaults: ClassVar[dict[str, Any]] = {
        "n_estimators": 100, "max_features": "sqrt", "n_jobs": -1,
    }

    def build(self) -> Any:
        # Imported here, not at the top, so that `mlbench list` stays fast.
        from sklearn.ensemble import ExtraTreesClassifier

        return ExtraTreesClassifier(**self.params, random_state=self.seed)


@mlbench.hookimpl
def mlbench_register_models(register: Callable[[type], None]) -> None:
    register(ExtraTrees)
