"""A weighted average of estimators: point, lower and upper bounds averaged member by member."""

from __future__ import annotations

import numpy as np

from predictor.features import RunView
from predictor.models import Estimate


class Ensemble:
    name = "ensemble"

    def __init__(self, members: dict, weights: dict[str, float] | None = None) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = members
        total = sum((weights or {m: 1.0 for m in members}).values())
        self.weights = {m: (weights or {}).get(m, 1.0) / total if weights else 1.0 / len(members) for m in members}

    def fit(self, views: list[RunView], targets: np.ndarray, groups: list[str]) -> "Ensemble":
        for est in self.members.values():
            est.fit(views, targets, groups)
        return self

    def predict(self, views: list[RunView]) -> Estimate:
        parts = {m: est.predict(views) for m, est in self.members.items()}
        point = sum(self.weights[m] * e.point for m, e in parts.items())
        lo = sum(self.weights[m] * e.lo for m, e in parts.items())
        hi = sum(self.weights[m] * e.hi for m, e in parts.items())
        return Estimate(point, lo, hi).clip()
