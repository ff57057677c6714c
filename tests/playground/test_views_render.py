"""The playground's views (shapes, meaning) and pictures (size, layers drawn where they belong)."""

import pytest
import torch

from genimg.playground import views
from genimg.playground.distributions import PLOT_LIMIT, get_distribution
from genimg.playground.models import FlowSettings, GanSettings, VaeSettings, make_trainer
from genimg.playground.render import GENERATED_COLOUR, REAL_COLOUR, render_view

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained():
    """A GAN (noise 3-D, packs of 2), a 2-D and a 1-D VAE and a flow, 60 updates each on moons."""
    distribution = get_distribution("moons")
    trainers = {
        "gan": make_trainer("gan", distribution, GanSettings(width=32, noise_dim=3, pack_size=2, batch_size=64)),
        "vae": make_trainer("vae", distribution, VaeSettings(width=32, batch_size=64)),
        "vae1": make_trainer("vae", distribution, VaeSettings(width=32, batch_size=64, latent_dim=1)),
        "flow": make_trainer("flow", distribution, FlowSettings(width=32, batch_size=64, sample_steps=8)),
    }
    for trainer in trainers.values():
        for _ in range(60):
            trainer.step()
    return trainers


def test_plane_grid_is_laid_out_like_a_picture():
    grid = views.plane_grid(4)
    assert grid.shape == (4, 4, 2)
    assert grid[0, 0].tolist() == pytest.approx([-PLOT_LIMIT * 3 / 4, PLOT_LIMIT * 3 / 4])  # top left
    assert grid[3, 3].tolist() == pytest.approx([PLOT_LIMIT * 3 / 4, -PLOT_LIMIT * 3 / 4])  # bottom right


def test_gan_views(trained):
    gan = trained["gan"]
    heatmap = views.discriminator_heatmap(gan, resolution=24)
    assert heatmap.shape == (24, 24) and 0 <= heatmap.min() and heatmap.max() <= 1
    assert heatmap.std() > 0  # D is not a constant after training
    manifold = views.generator_manifold(gan, lines=9)
    assert manifold.shape == (9, 9, 2)
    assert torch.allclose(manifold[4, 4], gan.generator_network(torch.zeros(1, 3))[0], atol=1e-5)  # centre = G(0)
    arrows = views.generator_gradients(gan, count=64)
    assert arrows.origins.shape == arrows.directions.shape == (64, 2)
    assert torch.equal(arrows.origins, gan.samples(64))
    # The arrows are the way down the G loss: a small move along them lowers it, against them raises it.
    with torch.no_grad():
        before = float(gan.generator_loss(arrows.origins))
        assert float(gan.generator_loss(arrows.origins + 1e-3 * arrows.directions)) < before
        assert float(gan.generator_loss(arrows.origins - 1e-3 * arrows.directions)) > before


def test_vae_views(trained):
    vae, vae1 = trained["vae"], trained["vae1"]
    points = torch.tensor([[-1.0, 0.5], [1.0, -0.5], [0.0, 0.0]])
    ellipses = views.posterior_ellipses(vae, points)
    mean, log_variance = vae.encode(points)
    assert torch.allclose(ellipses.centres, mean) and torch.allclose(ellipses.stds, torch.exp(0.5 * log_variance))
    assert views.decoder_mesh(vae, lines=7).shape == (7, 7, 2)
    bars = views.posterior_ellipses(vae1, points)
    assert bars.centres.shape == bars.stds.shape == (3, 2)
    assert bars.centres[:, 1].tolist() == [-1.0, 0.0, 1.0] and bars.stds[:, 1].abs().sum() == 0
    curve = views.decoder_mesh(vae1, lines=7)
    assert curve.shape == (1, 7, 2)
    with pytest.raises(ValueError, match="shape"):
        views.posterior_ellipses(vae, torch.zeros(3))


def test_flow_views(trained):
    flow = trained["flow"]
    field = views.velocity_field(flow, 0.5, resolution=5)
    assert field.origins.shape == field.directions.shape == (25, 2)
    assert torch.allclose(field.directions, flow.velocity(field.origins, 0.5))
    paths = views.trajectories(flow, count=6)
    assert paths.shape == (flow.settings.sample_steps + 1, 6, 2)
    assert torch.allclose(paths[-1], flow.samples(6), atol=1e-6)  # the particles end where samples() does
    euler = views.trajectories(flow, count=6, steps=3, sampler="euler")
    assert euler.shape == (4, 6, 2) and torch.allclose(euler[0], paths[0])
    for time in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="time"):
            views.velocity_field(flow, time)
    with pytest.raises(ValueError, match="sampler"):
        views.trajectories(flow, sampler="rk4")


def _pixel(image, point):
    """The colour at a plot point (x, y) of a rendered picture."""
    size = image.size[0]
    column = int((point[0] + PLOT_LIMIT) / (2 * PLOT_LIMIT) * size)
    row = int((PLOT_LIMIT - point[1]) / (2 * PLOT_LIMIT) * size)
    return image.getpixel((column, row))


def test_render_draws_each_layer_where_it_belongs(trained):
    real = torch.tensor([[-1.5, 1.5]])
    generated = torch.tensor([[1.5, -1.5]])
    image = render_view(real=real, generated=generated, size=400)
    assert image.size == (400, 400) and image.mode == "RGB"
    red, green, blue = _pixel(image, (-1.5, 1.5))
    assert blue > red + 40  # real: blue
    red, green, blue = _pixel(image, (1.5, -1.5))
    assert red > blue + 60  # generated: orange
    assert _pixel(image, (1.5, 1.5)) == (255, 255, 255)  # nothing drawn there
    assert REAL_COLOUR[:3] != GENERATED_COLOUR[:3]
    # D says "real" (1) on the left half, "generated" (0) on the right half: blue and orange backgrounds.
    heat = torch.zeros(8, 8)
    heat[:, :4] = 1.0
    halves = render_view(heatmap=heat, size=200)
    left, right = _pixel(halves, (-2.0, 0.7)), _pixel(halves, (2.0, 0.7))
    assert left[2] > left[0] and right[0] > right[2]
    gan, flow, vae = trained["gan"], trained["flow"], trained["vae"]
    pictures = [
        render_view(heatmap=views.discriminator_heatmap(gan), mesh=views.generator_manifold(gan),
                    arrows=views.generator_gradients(gan), generated=gan.samples(200)),
        render_view(arrows=views.velocity_field(flow, 0.3), trajectories=views.trajectories(flow)),
        render_view(ellipses=views.posterior_ellipses(vae, torch.tensor([[0.0, 0.0], [1.0, 0.0]])), prior_circles=True,
                    marked=torch.tensor([[0.0, 0.0], [1.0, 0.0]])),
        render_view(mesh=views.decoder_mesh(trained["vae1"])),
    ]
    for picture in pictures:
        white = dict((colour, count) for count, colour in picture.getcolors(maxcolors=420 * 420)).get((255, 255, 255), 0)
        assert 500 < 420 * 420 - white  # something was drawn


def test_render_rejects_bad_sizes():
    for size in (0, 10_000, 300.5):
        with pytest.raises(ValueError, match="size"):
            render_view(size=size)
