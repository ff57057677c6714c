"""Each family learns two moons and the 8-Gaussians ring at a fixed seed; the mode-collapse preset collapses, its fix covers.

Bars are measured figures with a margin (the measured values sit in the comments); each test also checks that the
untrained model fails the same bar, so the bar can fail. Samples: 2000 from the trainer's fixed display noise; the
reference: 2000 true points from seed 123.
"""

import pytest
import torch

from genimg.playground.distributions import get_distribution
from genimg.playground.metrics import mmd, mode_coverage
from genimg.playground.models import MODE_COLLAPSE_FIX, MODE_COLLAPSE_PRESET, make_trainer

pytestmark = pytest.mark.usefixtures("one_thread")
SEED = 0
SAMPLES = 2000


def _reference(name: str) -> torch.Tensor:
    return get_distribution(name).sample(SAMPLES, torch.Generator().manual_seed(123))


def _train(family: str, name: str, steps: int, settings=None, seed: int = SEED):
    trainer = make_trainer(family, get_distribution(name), settings, seed=seed)
    untrained = trainer.samples(SAMPLES)
    for _ in range(steps):
        trainer.step()
    return trainer, untrained


# (family, distribution, updates, MMD bar); the comment: MMD untrained -> reached at seed 0, as measured.
CASES = [
    ("gan", "moons", 800, 0.13),  # 0.99 -> 0.105
    ("vae", "moons", 600, 0.13),  # 0.83 -> 0.110
    ("flow", "moons", 600, 0.13),  # 0.19 -> 0.105
    ("gan", "gaussians8", 600, 0.20),  # 1.03 -> 0.158, 8 of 8 modes
    ("vae", "gaussians8", 800, 0.22),  # 0.86 -> 0.192, 8 of 8 modes
    ("flow", "gaussians8", 800, 0.17),  # 0.30 -> 0.144, 8 of 8 modes
]


@pytest.mark.parametrize("family, name, steps, bar", CASES)
def test_each_family_learns_the_distribution_within_a_bounded_number_of_updates(family, name, steps, bar):
    trainer, untrained = _train(family, name, steps)
    reference = _reference(name)
    reached = mmd(trainer.samples(SAMPLES), reference)
    print(f"{family} on {name}: MMD {mmd(untrained, reference):.3f} untrained -> {reached:.3f} after {steps} updates")
    assert mmd(untrained, reference) > bar
    assert reached < bar
    if name == "gaussians8":
        distribution = get_distribution(name)
        coverage = mode_coverage(trainer.samples(SAMPLES), distribution.modes, distribution.mode_std)
        untrained_coverage = mode_coverage(untrained, distribution.modes, distribution.mode_std)
        print(f"  covers {untrained_coverage.covered_modes} -> {coverage.covered_modes} of 8 modes, "
              f"{coverage.high_quality_share:.2f} of samples within 3 sigma")
        assert untrained_coverage.covered_modes < 8
        assert coverage.covered_modes == 8


COLLAPSE_UPDATES = 1000


def test_the_mode_collapse_preset_collapses_and_packing_fixes_it():
    """Measured at seed 0 after 1000 updates: the preset covers 0-1 of 8 modes (all samples in one streak), the fix
    8 of 8 with earlier torch releases and 7 of 8 with torch 2.14.1 (0.46 of the samples within 3 sigma; 7 at 1200
    updates, 6 at 1500): the same arithmetic in another order moves a 2-D GAN this much, so the test asks for the
    fix's effect (at least 6 modes, 5 more than without it), not for one version's exact count."""
    distribution = get_distribution("gaussians8")
    collapsed, _ = _train("gan", "gaussians8", COLLAPSE_UPDATES, MODE_COLLAPSE_PRESET)
    fixed, untrained = _train("gan", "gaussians8", COLLAPSE_UPDATES, MODE_COLLAPSE_FIX)
    assert MODE_COLLAPSE_FIX.pack_size > 1 == MODE_COLLAPSE_PRESET.pack_size
    without = mode_coverage(collapsed.samples(SAMPLES), distribution.modes, distribution.mode_std)
    with_fix = mode_coverage(fixed.samples(SAMPLES), distribution.modes, distribution.mode_std)
    before = mode_coverage(untrained, distribution.modes, distribution.mode_std)
    print(f"without the fix {without.covered_modes}/8 modes, with it {with_fix.covered_modes}/8 "
          f"({with_fix.high_quality_share:.2f} high quality); untrained {before.covered_modes}/8")
    assert without.covered_modes <= 2
    # Collapse, not a spread-out failure: the generated points crowd into a small patch of the ring.
    assert collapsed.samples(SAMPLES).std(dim=0).max() < 0.5 * fixed.samples(SAMPLES).std(dim=0).min()
    assert before.covered_modes < 8
    assert with_fix.covered_modes >= 6 and with_fix.covered_modes >= without.covered_modes + 5
