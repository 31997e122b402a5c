"""A weighted average of estimators: point, lower and upper bounds averaged member by member."""

from __future__ import annotations

import numpy as np

from predictor.features import RunView
from predictor.models import Estimate, code_shrink_of


class Ensemble:
    name = "ensemble"

    def __init__(self, members: dict, weights: dict[str, float] | None = None) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = members
        total = sum((weights or {m: 1.0 for m in members}).values())
        self.weights = {m: (weights or {}).get(m, 1.0) / total if weights else 1.0 / len(members) for m in members}

    def fit(self, views: list[RunView], targets: np.ndarray, groups: list[str], codes: list[str] | None = None) -> "Ensemble":
        for est in self.members.values():
            est.fit(views, targets, groups, codes=codes)
        return self

    def code_shrink(self, views: list[RunView]) -> np.ndarray:
        """The members' largest lambda, the most cautious shift (inf, no correction, when a member learned none)."""
        return np.max([code_shrink_of(est, views) for est in self.members.values()], axis=0)

    def predict(self, views: list[RunView]) -> Estimate:
        parts = {m: est.predict(views) for m, est in self.members.items()}
        point = sum(self.weights[m] * e.point for m, e in parts.items())
        lo = sum(self.weights[m] * e.lo for m, e in parts.items())
        hi = sum(self.weights[m] * e.hi for m, e in parts.items())
        return Estimate(point, lo, hi).clip()
