"""Playground: the three families side by side, stepped together, switched and reset together."""

import pytest
import torch

from genimg.playground.distributions import get_distribution
from genimg.playground.models import FlowSettings, GanSettings, VaeSettings, make_trainer
from genimg.playground.render import render_view
from genimg.playground.session import REAL_POINTS, Playground
from genimg.playground.views import main_view

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = {
    "gan": GanSettings(width=16, depth=2, batch_size=32, discriminator_steps=2),
    "vae": VaeSettings(width=16, depth=2, batch_size=32),
    "flow": FlowSettings(width=16, depth=2, batch_size=32, sample_steps=4),
}


def test_step_advances_every_family_by_exactly_one_update():
    playground = Playground(get_distribution("moons"), seed=3, settings=SMALL)
    steps = {"discriminator": 0, "generator": 0, "vae": 0, "flow": 0}
    optimizers = {
        "discriminator": playground.trainers["gan"].discriminator_optimizer,
        "generator": playground.trainers["gan"].generator_optimizer,
        "vae": playground.trainers["vae"].optimizer,
        "flow": playground.trainers["flow"].optimizer,
    }
    for name, optimizer in optimizers.items():
        optimizer.register_step_post_hook(lambda *arguments, name=name: steps.__setitem__(name, steps[name] + 1))
    losses = playground.step()
    assert set(losses) == {"gan", "vae", "flow"}
    assert steps == {"discriminator": 2, "generator": 1, "vae": 1, "flow": 1}
    assert playground.update_counts == {"gan": 1, "vae": 1, "flow": 1}


def test_side_by_side_trainers_match_lone_trainers_of_the_same_seed():
    distribution = get_distribution("gaussians8")
    playground = Playground(distribution, seed=5, settings=SMALL)
    together = [playground.step() for _ in range(3)]
    for family in ("gan", "vae", "flow"):
        alone = make_trainer(family, distribution, SMALL[family], seed=5)
        assert [alone.step() for _ in range(3)] == [losses[family] for losses in together]


def test_switching_distribution_and_reset_start_over():
    playground = Playground(get_distribution("moons"), seed=1, settings={"gan": SMALL["gan"], "vae": SMALL["vae"]},
                            families=("vae", "gan"))
    assert playground.families == ("gan", "vae")
    moons_points = playground.real_points.clone()
    assert moons_points.shape == (REAL_POINTS, 2)
    first = playground.step()
    playground.step()
    playground.set_distribution(get_distribution("rings"))
    assert playground.update_counts == {"gan": 0, "vae": 0}
    assert playground.distribution.name == "rings" and not torch.equal(playground.real_points, moons_points)
    playground.set_distribution(get_distribution("moons"))
    assert playground.step() == first and torch.equal(playground.real_points, moons_points)
    playground.set_settings("vae", VaeSettings(width=16, depth=2, batch_size=32, latent_dim=1))
    assert playground.update_counts == {"gan": 1, "vae": 0}
    playground.reset(2)
    assert playground.seed == 2 and playground.update_counts == {"gan": 0, "vae": 0}


def test_each_family_main_view_renders():
    playground = Playground(get_distribution("spiral"), settings=SMALL)
    playground.step()
    for family, trainer in playground.trainers.items():
        layers = main_view(trainer, playground.real_points, sample_count=100, trajectory_count=10)
        assert layers["generated"].shape == (100, 2)
        assert render_view(**layers, size=360).size == (360, 360)
    assert main_view(playground.trainers["flow"], playground.real_points, 100, 10)["trajectories"].shape == (5, 10, 2)


def test_bad_families_and_settings_are_rejected():
    distribution = get_distribution("moons")
    for families in ((), ("gan", "gan"), ("gan", "diffusion")):
        with pytest.raises(ValueError, match="families"):
            Playground(distribution, families=families)
    with pytest.raises(ValueError, match="settings for 'flow'"):
        Playground(distribution, settings={"flow": SMALL["flow"]}, families=("gan",))
    with pytest.raises(ValueError, match="VaeSettings"):
        Playground(distribution, settings={"vae": SMALL["gan"]})
    playground = Playground(distribution, settings={"gan": SMALL["gan"]}, families=("gan",))
    with pytest.raises(ValueError, match="family 'vae'"):
        playground.set_settings("vae", SMALL["vae"])
    with pytest.raises(ValueError, match="Distribution"):
        playground.set_distribution("rings")
