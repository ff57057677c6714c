"""MMD and nearest-mode coverage on known point clouds."""

import pytest
import torch

from genimg.playground.distributions import get_distribution
from genimg.playground.metrics import mmd, mode_coverage


def test_mmd_is_small_for_the_same_distribution_and_large_for_another():
    distribution = get_distribution("moons")
    first = distribution.sample(1500, torch.Generator().manual_seed(0))
    second = distribution.sample(1500, torch.Generator().manual_seed(1))
    assert mmd(first, first) == pytest.approx(0.0, abs=1e-6)
    same = mmd(first, second)
    shifted = mmd(first, second + torch.tensor([0.5, 0.0]))
    assert same < 0.05 < 0.2 < shifted


def test_coverage_counts_modes_and_high_quality_samples():
    distribution = get_distribution("gaussians8")
    everything = distribution.sample(2000, torch.Generator().manual_seed(0))
    one_mode = distribution.modes[3] + distribution.mode_std * torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
    far_away = torch.zeros(2000, 2)  # the ring's centre is 1.5 from every mode
    full = mode_coverage(everything, distribution.modes, distribution.mode_std)
    collapsed = mode_coverage(one_mode, distribution.modes, distribution.mode_std)
    missed = mode_coverage(far_away, distribution.modes, distribution.mode_std)
    assert (full.covered_modes, full.total_modes) == (8, 8) and full.high_quality_share > 0.98
    assert collapsed.covered_modes == 1 and int(collapsed.mode_shares.argmax()) == 3
    assert missed.covered_modes == 0 and missed.high_quality_share == 0.0


def test_bad_shapes_and_bandwidths_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        mmd(torch.zeros(10, 3), torch.zeros(10, 2))
    with pytest.raises(ValueError, match="bandwidth"):
        mmd(torch.zeros(10, 2), torch.zeros(10, 2), bandwidth=0.0)
