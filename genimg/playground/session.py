"""The playground side by side: a GAN, a VAE and a flow on the same distribution and seed, stepped together.

One Playground per browser session (kept in the page's per-user state, never shared): the page calls step() on play
or on the step button and draws each trainer's views.
"""

from __future__ import annotations

import torch

from genimg.playground.distributions import Distribution
from genimg.playground.models import FAMILIES, SETTINGS_CLASSES, Settings, Trainer, make_trainer

REAL_POINTS = 500  # the true points drawn on every view, fixed per distribution and seed


class Playground:
    """Trainers for `families` (a subset of "gan", "vae", "flow", in that order) on one distribution and seed.

    step() = exactly one update of each trainer (see each trainer's docstring for what one update is).
    """

    def __init__(self, distribution: Distribution, seed: int = 0, settings: dict[str, Settings] | None = None,
                 families: tuple[str, ...] = FAMILIES) -> None:
        if not families or len(set(families)) != len(families) or not set(families) <= set(FAMILIES):
            raise ValueError(f"families {families!r} are not accepted: one or more of {', '.join(FAMILIES)}, once each")
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(families))
        if unknown:
            raise ValueError(f"settings for {unknown[0]!r} are not accepted: settings only for {', '.join(families)}")
        self.families = tuple(family for family in FAMILIES if family in families)
        self.trainers: dict[str, Trainer] = {
            family: make_trainer(family, distribution, settings.get(family, SETTINGS_CLASSES[family]()), seed)
            for family in self.families
        }
        self._set_real_points()

    @property
    def distribution(self) -> Distribution:
        return self.trainers[self.families[0]].distribution

    @property
    def seed(self) -> int:
        return self.trainers[self.families[0]].seed

    @property
    def update_counts(self) -> dict[str, int]:
        """Updates so far per family (they differ only after set_settings restarted one family)."""
        return {family: trainer.update_count for family, trainer in self.trainers.items()}

    def _set_real_points(self) -> None:
        self.real_points: torch.Tensor = self.distribution.sample(REAL_POINTS, torch.Generator().manual_seed(self.seed))

    def step(self) -> dict[str, dict[str, float]]:
        """One update of every family; its losses: {family: {loss name: value}}."""
        return {family: trainer.step() for family, trainer in self.trainers.items()}

    def reset(self, seed: int | None = None) -> None:
        """Every family back to fresh weights from `seed` (the current seed when None)."""
        for trainer in self.trainers.values():
            trainer.reset(seed)
        self._set_real_points()

    def set_distribution(self, distribution: Distribution) -> None:
        """Switch every family to `distribution` and start over (same seed)."""
        if not isinstance(distribution, Distribution):
            raise ValueError(f"distribution {distribution!r:.60} is not accepted: a playground Distribution")
        for trainer in self.trainers.values():
            trainer.distribution = distribution
        self.reset()

    def set_settings(self, family: str, settings: Settings) -> None:
        """Give `family` new settings; that family alone starts over (same seed and distribution)."""
        if family not in self.trainers:
            raise ValueError(f"family {family!r} is not accepted: one of {', '.join(self.families)}")
        self.trainers[family] = make_trainer(family, self.distribution, settings, self.seed)
