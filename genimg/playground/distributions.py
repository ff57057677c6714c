"""Named 2-D toy distributions (moons, rings, Gaussian mixtures, spiral, checkerboard, user-drawn) small enough to see whole.

Every sampler is a function (count, generator) -> (count, 2) float32 tensor, roughly inside [-2, 2]²; the page's plot
shows [-PLOT_LIMIT, PLOT_LIMIT]². Randomness comes only from the torch.Generator passed in, so a seed fixes the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

PLOT_LIMIT = 2.5  # the plot spans [-2.5, 2.5]² so points near the data's edge stay visible
MAX_SAMPLE_COUNT = 100_000
MAX_DRAWN_POINTS = 500
DRAWN_JITTER = 0.05  # the standard deviation of the noise added around each drawn point

GAUSSIANS8_RADIUS = 1.5
GAUSSIANS8_STD = 0.08
GAUSSIANS25_SPACING = 0.8
GAUSSIANS25_STD = 0.06

Sampler = Callable[[int, torch.Generator], torch.Tensor]


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SAMPLE_COUNT:
        raise ValueError(f"sample count {count!r} is not accepted: a whole number from 1 to {MAX_SAMPLE_COUNT}")


def _normal(count: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(count, 2, generator=generator)


def _uniform(count: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(count, generator=generator)


def gaussians8_modes() -> torch.Tensor:
    """The 8 centres on a ring of radius GAUSSIANS8_RADIUS, (8, 2), the first at angle 0, counter-clockwise."""
    angles = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
    return GAUSSIANS8_RADIUS * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def gaussians25_modes() -> torch.Tensor:
    """The 25 centres of a 5×5 grid with spacing GAUSSIANS25_SPACING, (25, 2), row by row."""
    axis = (torch.arange(5, dtype=torch.float32) - 2) * GAUSSIANS25_SPACING
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)


def _mixture(modes: torch.Tensor, std: float, count: int, generator: torch.Generator) -> torch.Tensor:
    _check_count(count)
    picks = torch.randint(len(modes), (count,), generator=generator)
    return modes[picks] + std * _normal(count, generator)


def gaussians8(count: int, generator: torch.Generator) -> torch.Tensor:
    """8 equal Gaussians (σ = GAUSSIANS8_STD) on a ring: (count, 2)."""
    return _mixture(gaussians8_modes(), GAUSSIANS8_STD, count, generator)


def gaussians25(count: int, generator: torch.Generator) -> torch.Tensor:
    """25 equal Gaussians (σ = GAUSSIANS25_STD) on a 5×5 grid: (count, 2)."""
    return _mixture(gaussians25_modes(), GAUSSIANS25_STD, count, generator)


def moons(count: int, generator: torch.Generator) -> torch.Tensor:
    """Two interleaving half circles with a little noise, centred and scaled to about [-1.8, 1.8] × [-1, 1]: (count, 2)."""
    _check_count(count)
    angles = math.pi * _uniform(count, generator)
    lower = torch.rand(count, generator=generator) < 0.5
    upper_moon = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    lower_moon = torch.stack([1 - torch.cos(angles), 0.5 - torch.sin(angles)], dim=1)
    points = torch.where(lower[:, None], lower_moon, upper_moon)
    points = (points - torch.tensor([0.5, 0.25])) * 1.2
    return points + 0.06 * _normal(count, generator)


def rings(count: int, generator: torch.Generator) -> torch.Tensor:
    """Two concentric rings (radius 0.8 and 1.7, half the points each) with a little noise: (count, 2)."""
    _check_count(count)
    angles = 2 * math.pi * _uniform(count, generator)
    radii = torch.where(torch.rand(count, generator=generator) < 0.5, 0.8, 1.7)
    points = radii[:, None] * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return points + 0.05 * _normal(count, generator)


def spiral(count: int, generator: torch.Generator) -> torch.Tensor:
    """One arm winding out 1.5 turns to radius 1.8, points spread evenly along its length, with noise: (count, 2)."""
    _check_count(count)
    turn = torch.sqrt(_uniform(count, generator)) * 3 * math.pi  # sqrt: even density along the arm
    radius = turn / (3 * math.pi) * 1.8
    points = radius[:, None] * torch.stack([torch.cos(turn), torch.sin(turn)], dim=1)
    return points + 0.05 * _normal(count, generator)


def checkerboard(count: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform on the dark squares of a 4×4 board covering [-2, 2]²: (count, 2)."""
    _check_count(count)
    x = 4 * _uniform(count, generator) - 2
    row_in_pair = torch.randint(2, (count,), generator=generator).float()
    # A column's dark squares sit at even rows when floor(x) is even, at odd rows otherwise.
    y = _uniform(count, generator) - 2 * row_in_pair + torch.remainder(torch.floor(x), 2)
    return torch.stack([x, y], dim=1)


def validate_drawn_points(points: Sequence[Sequence[float]] | torch.Tensor) -> torch.Tensor:
    """The user's points as a (K, 2) float32 tensor, or ValueError: 1 to MAX_DRAWN_POINTS finite (x, y) pairs in the plot."""
    try:
        tensor = torch.as_tensor(points, dtype=torch.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"drawn points {points!r:.80} are not accepted: a list of (x, y) number pairs") from error
    if tensor.numel() == 0:
        raise ValueError(f"0 drawn points are not accepted: from 1 to {MAX_DRAWN_POINTS} points")
    if tensor.ndim != 2 or tensor.shape[1] != 2:
        raise ValueError(f"drawn points of shape {tuple(tensor.shape)} are not accepted: a list of (x, y) pairs, shape (K, 2)")
    if not 1 <= len(tensor) <= MAX_DRAWN_POINTS:
        raise ValueError(f"{len(tensor)} drawn points are not accepted: from 1 to {MAX_DRAWN_POINTS} points")
    finite = torch.isfinite(tensor).all(dim=1)
    if not finite.all():
        index = int((~finite).nonzero()[0])
        raise ValueError(f"drawn point {index} = {tensor[index].tolist()} is not accepted: x and y must be finite numbers")
    outside = (tensor.abs() > PLOT_LIMIT).any(dim=1)
    if outside.any():
        index = int(outside.nonzero()[0])
        raise ValueError(
            f"drawn point {index} = {tensor[index].tolist()} is not accepted: x and y must lie in "
            f"[-{PLOT_LIMIT}, {PLOT_LIMIT}]"
        )
    return tensor


def drawn(points: Sequence[Sequence[float]] | torch.Tensor, jitter: float = DRAWN_JITTER) -> Sampler:
    """A sampler for the user's points: each sample is a drawn point chosen uniformly plus Gaussian jitter (σ = jitter)."""
    anchors = validate_drawn_points(points)
    if not (isinstance(jitter, (int, float)) and math.isfinite(jitter) and 0 <= jitter <= 0.5):
        raise ValueError(f"jitter {jitter!r} is not accepted: a number from 0 to 0.5")

    def sample(count: int, generator: torch.Generator) -> torch.Tensor:
        return _mixture(anchors, float(jitter), count, generator)

    return sample


@dataclass(frozen=True)
class Distribution:
    """A named 2-D distribution: its sampler, and for mixtures the modes (M, 2) and each mode's σ."""

    name: str
    sample: Sampler
    modes: torch.Tensor | None = None
    mode_std: float | None = None


SAMPLERS: dict[str, Sampler] = {
    "moons": moons,
    "rings": rings,
    "gaussians8": gaussians8,
    "gaussians25": gaussians25,
    "spiral": spiral,
    "checkerboard": checkerboard,
}
DISTRIBUTION_NAMES = (*SAMPLERS, "drawn")


def get_distribution(name: str, points: Sequence[Sequence[float]] | torch.Tensor | None = None) -> Distribution:
    """The distribution called `name` (one of DISTRIBUTION_NAMES); "drawn" needs `points`, the others take none."""
    if name == "drawn":
        if points is None:
            raise ValueError('distribution "drawn" needs points: a list of 1 to 500 (x, y) pairs')
        return Distribution("drawn", drawn(points))
    if name not in SAMPLERS:
        raise ValueError(f"distribution {name!r} is not accepted: one of {', '.join(DISTRIBUTION_NAMES)}")
    if points is not None:
        raise ValueError(f'points are accepted only for distribution "drawn", not {name!r}')
    if name == "gaussians8":
        return Distribution(name, gaussians8, gaussians8_modes(), GAUSSIANS8_STD)
    if name == "gaussians25":
        return Distribution(name, gaussians25, gaussians25_modes(), GAUSSIANS25_STD)
    return Distribution(name, SAMPLERS[name])
