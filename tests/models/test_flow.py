"""The flow family: its ODE solvers, classifier-free guidance, the exact inverse and what one training step reports."""

from __future__ import annotations

import pytest
import torch

from genimg.config import ConfigError, ModelConfig, TrainConfig
from genimg.data.datasets import ImageData
from genimg.models import build_model, registry
from genimg.models.flow import MAX_STEPS, FlowModel, Sampling
from genimg.training.engine import FLOW_THIRDS, Progress, train

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is quickest


def tiny_flow(num_classes: int = 0, image_size: int = 28, channels: int = 1, seed: int = 0) -> FlowModel:
    torch.manual_seed(seed)
    config = ModelConfig(kind="flow", image_size=image_size, channels=channels,
                         latent_dim=channels * image_size * image_size, num_classes=num_classes, width=8)
    return build_model(config).eval()


def test_a_flows_latent_is_its_noise_image_and_other_sizes_are_refused():
    assert registry.get("flow").fixed_latent_dim(32, 3) == 3 * 32 * 32
    assert registry.get("dcgan").fixed_latent_dim(32, 3) is None
    assert registry.get("flow").capabilities.inversion == "ode"
    with pytest.raises(ConfigError, match="noise image, 3×32×32 = 3072"):
        build_model(ModelConfig(kind="flow", image_size=32, channels=3, latent_dim=100))


def test_one_euler_step_moves_the_noise_by_its_velocity_at_time_zero():
    model = tiny_flow()
    z = torch.randn(3, 784)
    model.sampling = Sampling(steps=1, solver="euler", guidance=1.0)
    with torch.no_grad():
        velocity = model.velocity(z.view(3, 1, 28, 28), torch.zeros(3))
        drawn = model.generate(z)
    assert torch.allclose(drawn, ((z.view(3, 1, 28, 28) + velocity + 1) / 2).clamp(0, 1), atol=1e-5)


class Decay(torch.nn.Module):
    """A velocity field with a known solution: dx/dt = −x carries x(0) to x(0)·e⁻¹ at t = 1."""

    def forward(self, x, t, classes=None):
        return -x


@pytest.mark.parametrize("solver,factor", [("euler", (1 - 1 / 4) ** 4), ("heun", (1 - 1 / 4 + 1 / 32) ** 4)])
def test_the_solvers_take_the_steps_their_textbook_formulas_give(solver, factor):
    model = tiny_flow()
    model.velocity = Decay()
    start = torch.randn(2, 1, 28, 28)
    end = model.integrate(start, None, 0.0, 1.0, Sampling(steps=4, solver=solver))
    assert torch.allclose(end, start * factor, atol=1e-5)  # Heun's 0.3725 is near e⁻¹ = 0.3679; Euler's 0.316 is not


def test_guidance_one_is_the_conditional_velocity_and_zero_the_unconditional_one():
    model = tiny_flow(num_classes=3, seed=2)
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([0.2, 0.7])
    classes = torch.eye(3)[[0, 2]]
    with torch.no_grad():
        conditional = model.velocity(x, t, classes)
        unconditional = model.velocity(x, t, torch.zeros_like(classes))
        assert torch.allclose(model.guided_velocity(x, t, classes, 1.0), conditional, atol=1e-5)
        assert torch.allclose(model.guided_velocity(x, t, classes, 0.0), unconditional, atol=1e-5)
        twice = model.guided_velocity(x, t, classes, 2.0)
    assert torch.allclose(twice, unconditional + 2 * (conditional - unconditional), atol=1e-5)
    assert not torch.allclose(conditional, unconditional)  # the class reaches the network


@pytest.mark.parametrize("num_classes", [0, 3])
def test_running_the_ode_backwards_then_forwards_redraws_the_picture(num_classes):
    model = tiny_flow(num_classes=num_classes, seed=3)
    torch.manual_seed(4)
    pictures = torch.rand(3, 1, 28, 28)
    labels = torch.tensor([0, 1, 2]) if num_classes else None
    fine = Sampling(steps=50, solver="heun")
    with torch.no_grad():
        latents = model.invert(pictures, labels, fine)
        assert latents.shape == (3, 784)
        model.sampling = fine
        redrawn = model.generate(latents, labels)
        coarse_error = (model.generate(model.invert(pictures, labels, Sampling(steps=1, solver="euler")), labels)
                        - pictures).abs().mean()
    error = (redrawn - pictures).abs().mean()
    assert error <= 0.02, float(error)
    assert error < coarse_error  # the solver's steps are what makes it exact, not a shortcut
    assert not torch.allclose(latents.view(3, 1, 28, 28), pictures * 2 - 1, atol=0.05)  # it went somewhere


@pytest.mark.parametrize("settings,needle", [
    (dict(steps=0), "steps = 0"), (dict(steps=MAX_STEPS + 1), f"steps = {MAX_STEPS + 1}"), (dict(steps=2.5), "2.5"),
    (dict(solver="rk4"), "solver = 'rk4'"), (dict(guidance=float("nan")), "guidance = nan"),
    (dict(guidance=-1), "guidance = -1"), (dict(guidance=11), "guidance = 11"),
])
def test_absurd_sampling_settings_are_refused_in_words(settings, needle):
    with pytest.raises(ValueError, match=needle):
        Sampling(**settings)


def test_dropping_the_class_gives_the_unconditional_loss():
    model = tiny_flow(num_classes=3, seed=5)
    pictures, noise = torch.rand(4, 1, 28, 28) * 2 - 1, torch.randn(4, 1, 28, 28)
    times, labels = torch.rand(4), torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        dropped = model.loss_terms(pictures, labels, noise, times, torch.ones(4, dtype=torch.bool))["per_image"]
        kept = model.loss_terms(pictures, labels, noise, times, torch.zeros(4, dtype=torch.bool))["per_image"]
        t = times[:, None, None, None]
        velocity = model.velocity((1 - t) * noise + t * pictures, times, torch.zeros(4, 3))
    expected = (velocity - (pictures - noise)).pow(2).flatten(1).mean(dim=1)
    assert torch.allclose(dropped, expected, atol=1e-5)
    assert not torch.allclose(kept, dropped)


def test_training_reports_the_loss_on_each_third_of_the_path_and_lowers_it(tmp_path):
    torch.manual_seed(0)
    images = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    images[:32, :, 8:20, 8:20] = 255  # two pictures to learn: a square and an empty frame
    data = ImageData(images=images, labels=torch.tensor([0, 1] * 32), class_names=["square", "blank"],
                     name="two pictures")
    config = TrainConfig(model=ModelConfig(kind="flow", latent_dim=784, width=8, num_classes=2), dataset="shapes",
                         steps=60, batch_size=16, lr_generator=3e-3, log_every=10, sample_every=1000,
                         checkpoint_every=1000, ema_decay=0.0, device="cpu", precision="fp32",
                         out=str(tmp_path / "run"))
    reports = [event for event in train(config, data=data) if isinstance(event, Progress)]
    first, last = reports[0].losses, reports[-1].losses
    assert set(FLOW_THIRDS) | {"loss"} <= set(last)
    # stratified times: each third holds a third of the batch, so the thirds' mean is the loss
    assert abs(sum(last[name] for name in FLOW_THIRDS) / 3 - last["loss"]) < 0.05 * last["loss"] + 1e-3
    assert last["loss"] < 0.5 * first["loss"], (first, last)


@pytest.mark.parametrize("batch", [2, 6, 7])
def test_every_third_of_the_path_is_in_every_batch_of_six_or_more_and_small_batches_report_the_loss_alone(batch):
    from genimg.training.engine import _Run

    torch.manual_seed(0)
    images = torch.zeros(16, 1, 28, 28, dtype=torch.uint8)
    data = ImageData(images=images, labels=None, class_names=[], name="blank")
    config = TrainConfig(model=ModelConfig(kind="flow", latent_dim=784, width=8), dataset="shapes", steps=5,
                         batch_size=batch, device="cpu", precision="fp32")
    run = _Run(config, data, None)
    seen = []
    original = run.model.loss_terms
    run.model.loss_terms = lambda pictures, labels, noise, times, drop: (seen.append(times.clone()),
                                                                         original(pictures, labels, noise, times,
                                                                                  drop))[1]
    for _ in range(20):
        losses = run.flow_step(images[:batch], None)
        if batch < 6:
            assert set(losses) == {"loss"}
            continue
        assert set(losses) == {"loss", *FLOW_THIRDS}
        counts = torch.bincount((seen[-1] * 3).long().clamp(max=2), minlength=3)
        assert counts.min() >= 1 and counts.max() - counts.min() <= 2, counts  # stratified, not uniform at random
