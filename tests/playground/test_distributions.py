"""The playground's 2-D distributions: shapes, bounds, seeds, modes, and the user-drawn one's validation."""

import math

import pytest
import torch

from genimg.playground.distributions import (
    DISTRIBUTION_NAMES,
    GAUSSIANS8_STD,
    MAX_DRAWN_POINTS,
    PLOT_LIMIT,
    get_distribution,
)


@pytest.mark.parametrize("name", [name for name in DISTRIBUTION_NAMES if name != "drawn"])
def test_each_distribution_gives_seeded_points_inside_the_plot(name):
    distribution = get_distribution(name)
    first = distribution.sample(3000, torch.Generator().manual_seed(5))
    again = distribution.sample(3000, torch.Generator().manual_seed(5))
    other = distribution.sample(3000, torch.Generator().manual_seed(6))
    assert first.shape == (3000, 2) and first.dtype == torch.float32
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert first.abs().max() < PLOT_LIMIT
    assert first.abs().max() > 1.0  # spread over the plane, not a dot at the centre


def test_gaussians8_points_sit_near_their_eight_modes():
    distribution = get_distribution("gaussians8")
    assert distribution.modes.shape == (8, 2) and distribution.mode_std == GAUSSIANS8_STD
    points = distribution.sample(4000, torch.Generator().manual_seed(0))
    nearest = torch.cdist(points, distribution.modes).min(dim=1)
    assert (nearest.values < 4 * GAUSSIANS8_STD).float().mean() > 0.99
    counts = torch.bincount(nearest.indices, minlength=8)
    assert counts.min() > 4000 / 8 * 0.8  # every mode gets its share
    assert get_distribution("gaussians25").modes.shape == (25, 2)
    assert get_distribution("moons").modes is None


def test_drawn_points_are_sampled_with_jitter():
    points = [(0.0, 0.0), (1.0, -1.0)]
    samples = get_distribution("drawn", points).sample(2000, torch.Generator().manual_seed(0))
    distances = torch.cdist(samples, torch.tensor(points)).min(dim=1).values
    assert distances.max() < 0.3 and distances.mean() > 0.01
    assert (samples[:, 0] > 0.5).float().mean() == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    "points, words",
    [
        ([(0.0, math.nan)], "finite"),
        ([(0.0, math.inf)], "finite"),
        ([(0.0, PLOT_LIMIT + 0.1)], "[-2.5, 2.5]"),
        ([(0.1, 0.1)] * (MAX_DRAWN_POINTS + 1), "from 1 to 500"),
        ([], "from 1 to 500"),
        ([(1.0, 2.0, 3.0)], "(K, 2)"),
        ("not points", "pairs"),
    ],
)
def test_bad_drawn_points_are_rejected_with_what_is_accepted(points, words):
    with pytest.raises(ValueError) as error:
        get_distribution("drawn", points)
    assert words in str(error.value)


def test_unknown_names_and_counts_are_rejected():
    with pytest.raises(ValueError, match="'swirl'.*moons"):
        get_distribution("swirl")
    with pytest.raises(ValueError, match="needs points"):
        get_distribution("drawn")
    with pytest.raises(ValueError, match="only for distribution"):
        get_distribution("moons", [(0.0, 0.0)])
    for count in (0, -3, 2.5, 10**9):
        with pytest.raises(ValueError, match="sample count"):
            get_distribution("moons").sample(count, torch.Generator())
