"""The playground trainers: one step is one update, seeds fix everything, bad settings are refused."""

import pytest
import torch

from genimg.playground.distributions import get_distribution
from genimg.playground.models import (
    FAMILIES,
    FlowSettings,
    GanSettings,
    VaeSettings,
    make_trainer,
    settings_from_dict,
)

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = {
    "gan": GanSettings(width=16, depth=2, batch_size=32),
    "vae": VaeSettings(width=16, depth=2, batch_size=32),
    "flow": FlowSettings(width=16, depth=2, batch_size=32, sample_steps=4),
}


def _count_steps(optimizer: torch.optim.Optimizer, counts: dict, name: str) -> None:
    original = optimizer.step

    def counted(*arguments, **keywords):
        counts[name] = counts.get(name, 0) + 1
        return original(*arguments, **keywords)

    optimizer.step = counted


@pytest.mark.parametrize("discriminator_steps", [1, 3])
def test_one_gan_step_is_its_discriminator_steps_then_one_generator_step(discriminator_steps):
    settings = GanSettings(width=16, depth=2, batch_size=32, discriminator_steps=discriminator_steps)
    trainer = make_trainer("gan", get_distribution("moons"), settings)
    counts: dict[str, int] = {}
    order: list[str] = []
    _count_steps(trainer.discriminator_optimizer, counts, "discriminator")
    _count_steps(trainer.generator_optimizer, counts, "generator")
    trainer.discriminator_optimizer.zero_grad = lambda **keywords: order.append("discriminator")
    trainer.generator_optimizer.zero_grad = lambda **keywords: order.append("generator")
    trainer.step()
    assert counts == {"discriminator": discriminator_steps, "generator": 1}
    assert order == ["discriminator"] * discriminator_steps + ["generator"]
    trainer.step()
    assert counts == {"discriminator": 2 * discriminator_steps, "generator": 2}
    assert trainer.update_count == 2 and len(trainer.loss_history["generator"]) == 2


@pytest.mark.parametrize("family", ["vae", "flow"])
def test_one_vae_or_flow_step_is_one_optimizer_step(family):
    trainer = make_trainer(family, get_distribution("rings"), SMALL[family])
    counts: dict[str, int] = {}
    _count_steps(trainer.optimizer, counts, family)
    before = [parameter.detach().clone() for parameter in trainer.optimizer.param_groups[0]["params"]]
    trainer.step()
    after = trainer.optimizer.param_groups[0]["params"]
    assert counts == {family: 1} and trainer.update_count == 1
    assert any(not torch.equal(old, new) for old, new in zip(before, after))
    assert all(len(values) == 1 for values in trainer.loss_history.values())


@pytest.mark.parametrize("family", FAMILIES)
def test_a_seed_fixes_weights_losses_and_samples_and_reset_returns_to_it(family):
    distribution = get_distribution("gaussians8")
    torch.manual_seed(123)  # the global random state must not matter
    first = make_trainer(family, distribution, SMALL[family], seed=7)
    first_losses = [first.step() for _ in range(5)]
    torch.manual_seed(456)
    second = make_trainer(family, distribution, SMALL[family], seed=7)
    second_losses = [second.step() for _ in range(5)]
    assert first_losses == second_losses
    assert torch.equal(first.samples(50), second.samples(50))
    assert torch.equal(first.samples(50), first.samples(50))  # fixed display noise: points glide, not flicker
    other = make_trainer(family, distribution, SMALL[family], seed=8)
    assert [other.step() for _ in range(5)] != first_losses
    fresh_samples = make_trainer(family, distribution, SMALL[family], seed=7).samples(50)
    first.reset()
    assert first.update_count == 0 and first.loss_history == {}
    assert torch.equal(first.samples(50), fresh_samples)
    assert [first.step() for _ in range(5)] == first_losses
    first.reset(8)
    assert [first.step() for _ in range(5)] != first_losses


@pytest.mark.parametrize(
    "family, values, words",
    [
        ("gan", {"generator_learning_rate": 5.0}, "generator_learning_rate = 5.0"),
        ("gan", {"discriminator_learning_rate": float("nan")}, "discriminator_learning_rate = nan"),
        ("gan", {"discriminator_steps": 0}, "from 1 to 10"),
        ("gan", {"width": 100_000}, "width"),
        ("gan", {"width": 2.5}, "whole number"),
        ("gan", {"pack_size": 3, "batch_size": 256}, "multiple of pack_size"),
        ("vae", {"latent_dim": 3}, "latent_dim = 3"),
        ("vae", {"beta": -1.0}, "beta"),
        ("vae", {"learn_decoder_std": "yes"}, "True or False"),
        ("flow", {"sampler": "rk4"}, "'euler' or 'heun'"),
        ("flow", {"sample_steps": 10_000}, "sample_steps"),
        ("flow", {"momentum": 0.9}, "'momentum' is not accepted"),
    ],
)
def test_absurd_settings_are_rejected_with_what_is_accepted(family, values, words):
    with pytest.raises(ValueError) as error:
        settings_from_dict(family, values)
    assert words in str(error.value)


def test_bad_families_seeds_settings_and_counts_are_rejected():
    distribution = get_distribution("moons")
    with pytest.raises(ValueError, match="'diffusion'.*gan, vae, flow"):
        make_trainer("diffusion", distribution)
    with pytest.raises(ValueError, match="GanSettings"):
        make_trainer("gan", distribution, VaeSettings())
    with pytest.raises(ValueError, match="seed -1"):
        make_trainer("vae", distribution, SMALL["vae"], seed=-1)
    with pytest.raises(ValueError, match="Distribution"):
        make_trainer("flow", "moons")
    with pytest.raises(ValueError, match="sample count 0"):
        make_trainer("flow", distribution, SMALL["flow"]).samples(0)


def test_the_vae_decoder_std_is_learned_only_when_asked_and_then_matches_the_reconstruction_error():
    distribution = get_distribution("moons")
    fixed = make_trainer("vae", distribution, VaeSettings(width=32, batch_size=64, decoder_std=0.5))
    learned = make_trainer("vae", distribution, VaeSettings(width=32, batch_size=64, decoder_std=1.0,
                                                             learn_decoder_std=True))
    for _ in range(400):
        fixed.step()
        learned.step()
    assert fixed.decoder_std == pytest.approx(0.5)
    # The Gaussian likelihood is best when σ² is the mean squared error per coordinate.
    points = distribution.sample(2000, torch.Generator().manual_seed(1))
    with torch.no_grad():
        mean, log_variance = learned.encode(points)
        latents = mean + torch.exp(0.5 * log_variance) * torch.randn(mean.shape, generator=torch.Generator().manual_seed(2))
        error = float((learned.decode(latents) - points).square().mean().sqrt())
    print(f"learned decoder sigma {learned.decoder_std:.3f}, reconstruction error per coordinate {error:.3f}")
    assert learned.decoder_std == pytest.approx(error, rel=0.15)
    assert learned.decoder_std < 0.7  # it moved from where it started


def test_a_flow_learns_a_drawn_distribution():
    points = [(-1.0, 1.0), (1.0, 1.0), (0.0, -1.0)]
    trainer = make_trainer("flow", get_distribution("drawn", points), FlowSettings(width=32, batch_size=64), seed=0)
    anchors = torch.tensor(points)

    def mean_distance() -> float:
        return float(torch.cdist(trainer.samples(500), anchors).min(dim=1).values.mean())

    before = mean_distance()
    for _ in range(300):
        trainer.step()
    after = mean_distance()
    assert after < 0.5 * before and after < 0.25
