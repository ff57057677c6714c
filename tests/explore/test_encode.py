"""genimg.explore.encode: a VAE's code for one picture, latent maps and their clicks, the manifold grid, latent
arithmetic, GAN inversion and the discriminator's logits.

(The Encode and GAN tabs built on it — handlers, refusals in the user's language, layout — are tested in
tests/ui/test_encode_tab.py.)
"""

import math

import numpy as np
import pytest
import torch

from genimg.config import ModelConfig
from genimg.data.datasets import DatasetError
from genimg.explore import encode as encode_module
from genimg.explore.encode import (
    CHART_FONT,
    LatentMapCache,
    MapView,
    build_latent_map,
    class_tensor,
    decode,
    encode_image,
    encode_means,
    latent_arithmetic,
    manifold_grid,
    principal_axes,
    render_code_chart,
    sample_images,
    to_picture,
)
from genimg.explore.invert import (
    MAX_INVERSION_STEPS,
    MAX_RESTARTS,
    discriminator_logits,
    invert_generator,
)
from genimg.models import build_model
from genimg.models.latent import seeded_latents
from tests.helpers import load_all

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tiny_models) -> dict:
    """name → (model, ModelConfig) for the tiny checkpoints: gan, cgan, vae, vae2d, cvae (1×28×28, 10 classes)."""
    return load_all(tiny_models)


def varied_generator():
    """A small untrained DCGAN whose images change clearly with z (the tiny trained one draws almost flat grey)."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="dcgan", latent_dim=8, width=8)).eval()
    with torch.no_grad():
        for layer in model.generator.modules():
            if isinstance(layer, torch.nn.ConvTranspose2d):
                fan_in = layer.weight.shape[0] * layer.weight.shape[2] * layer.weight.shape[3] / 4
                layer.weight.normal_(0.0, 1.5 / fan_in ** 0.5)
    return model


# ---------------------------------------------------------------------------------------------- VAE codes
def test_encode_returns_code_and_reconstruction(models):
    model, _ = models["vae"]
    image = torch.rand(1, 1, 28, 28)
    encoding = encode_image(model, image)
    assert encoding.mean.shape == encoding.sigma.shape == encoding.kl_per_dimension.shape == (8,)
    assert encoding.reconstruction.shape == (1, 1, 28, 28)
    assert 0 <= float(encoding.reconstruction.min()) and float(encoding.reconstruction.max()) <= 1
    assert torch.allclose(encoding.sigma, (0.5 * encoding.log_variance).exp())
    with torch.inference_mode():
        mean, _ = model.encode(image)
        assert torch.allclose(encoding.reconstruction, model.generate(mean), atol=1e-6)


def test_the_code_of_an_image_is_the_encoders_mean_in_batches(models):
    model, _ = models["vae"]
    images = (torch.rand(11, 1, 28, 28) * 255).to(torch.uint8)
    in_one = encode_means(model, images)
    assert in_one.shape == (11, 8) and in_one.dtype == torch.float32
    assert torch.allclose(encode_means(model, images, batch_size=4), in_one, atol=1e-6)
    assert torch.allclose(encode_means(model, images.float() / 255.0), in_one, atol=1e-6)  # uint8 is scaled
    assert torch.allclose(encode_image(model, images[3:4].float() / 255.0).mean, in_one[3], atol=1e-5)


def test_kl_per_dimension_is_zero_only_at_the_prior():
    encoding = encode_module.Encoding(torch.zeros(1, 1, 2, 2), mean=torch.tensor([0.0, 1.0, 0.0]),
                                      log_variance=torch.tensor([0.0, 0.0, math.log(4.0)]),
                                      reconstruction=torch.zeros(1, 1, 2, 2))
    assert torch.allclose(encoding.sigma, torch.tensor([1.0, 1.0, 2.0]))
    # ½(μ² + σ² − 1 − log σ²): 0 for N(0, 1); ½ for a unit shift; ½(4 − 1 − log 4) for σ = 2
    assert torch.allclose(encoding.kl_per_dimension, torch.tensor([0.0, 0.5, 0.5 * (3.0 - math.log(4.0))]))


def test_conditional_models_need_a_class_in_range(models):
    cvae, _ = models["cvae"]
    gan, _ = models["gan"]
    assert class_tensor(gan, None) is None and class_tensor(gan, 7) is None  # unconditional: no class at all
    labels = class_tensor(cvae, 4, count=3)
    assert labels.tolist() == [4, 4, 4] and labels.dtype == torch.long
    for bad in (None, -1, 10):
        with pytest.raises(ValueError, match="class .* is not accepted"):
            class_tensor(cvae, bad)
    with pytest.raises(ValueError, match="class"):
        decode(cvae, torch.zeros(8))
    as_two, as_nine = decode(cvae, torch.zeros(8), 2), decode(cvae, torch.zeros(8), 9)
    assert as_two.shape == (1, 1, 28, 28) and not torch.equal(as_two, as_nine)


def test_decode_takes_one_latent_or_a_batch(models):
    model, _ = models["vae"]
    z = seeded_latents(3, 5, 8)
    batch = decode(model, z)
    assert batch.shape == (5, 1, 28, 28) and batch.device.type == "cpu"
    assert torch.allclose(decode(model, z[2]), batch[2:3], atol=1e-6)


def test_code_chart_keeps_the_most_informative_rows():
    mean, sigma, kl = np.zeros(100), np.ones(100), np.zeros(100)
    kl[[3, 50, 97]] = 5.0
    chart, shown = render_code_chart(mean, sigma, kl, max_rows=64)
    assert shown == 64 and chart.dtype == np.uint8
    assert render_code_chart(mean[:5], sigma[:5])[1] == 5


def test_code_chart_is_not_shrunk_on_a_phone():
    """A 390 px phone shows an image at most ~326 px wide (the page's margins): a wider chart is scaled down and its
    labels become too small to read. The chart fits, so its labels keep their size (≥ 12 px)."""
    chart, _ = render_code_chart(np.linspace(-2, 2, 8), np.full(8, 0.5))
    assert chart.shape[1] <= 326
    assert CHART_FONT >= 12
    ink = (chart.min(axis=2) < 128).any(axis=0)  # columns with dark marks: labels, dots
    assert ink[: chart.shape[1] // 8].any()  # the z1…z8 labels are drawn inside the picture, at its left


# ---------------------------------------------------------------------------------------------- latent maps
def test_map_view_round_trip():
    view = MapView(left=44, top=12, size=480, radius=3.5)
    points = np.array([[0.0, 0.0], [1.25, -2.0], [-3.5, 3.5], [3.4, 0.1]])
    pixels = view.to_pixels(points)
    assert np.allclose(pixels[0], [44 + 240, 12 + 240])
    assert pixels[1, 0] > pixels[0, 0] and pixels[1, 1] > pixels[0, 1]  # right and down: v grows upwards
    for point, pixel in zip(points, pixels):
        assert np.allclose(view.to_coordinates(*pixel), point)
    assert view.to_coordinates(10, 100) is None and view.to_coordinates(300, 600) is None


def test_latent_map_from_a_test_split_and_principal_axes(models):
    model, _ = models["vae"]
    cache = LatentMapCache(download=False, limit=200)
    latent_map = cache.get(model, "shapes", 28, 1)  # built in: no download
    assert latent_map.source == "test" and latent_map.labels is not None and len(latent_map.codes) == 200
    assert latent_map.class_names == ("circle", "square", "triangle")
    assert latent_map.axes.shape == (8, 2) and np.allclose(latent_map.axes.T @ latent_map.axes, np.eye(2), atol=1e-6)
    assert np.allclose(latent_map.project(latent_map.codes), latent_map.points)
    u, v = 0.7, -0.4
    assert np.allclose(latent_map.project(latent_map.to_latent(u, v)), [[u, v]], atol=1e-6)
    grid = manifold_grid(model, latent_map.axes, steps=5)
    assert grid.shape == (5 * 28, 5 * 28)
    images = torch.rand(12, 1, 28, 28)
    labels = torch.arange(12) % 3
    built = build_latent_map(model, images, labels, ["a", "b", "c"])
    assert built.image.dtype == np.uint8 and built.points.shape == (12, 2)


def test_a_map_of_a_data_set_without_a_test_split_shows_the_models_samples(models):
    model, _ = models["vae2d"]
    maps = LatentMapCache(download=False, sample_count=300)
    latent_map = maps.get(model, "blobs", 28, 1)  # no test split for "blobs": the model's own samples
    assert latent_map.source == "samples" and "blobs" in latent_map.note and len(latent_map.codes) == 300
    assert np.array_equal(latent_map.axes, np.eye(2)) and maps.get(model, "blobs", 28, 1) is latent_map
    assert latent_map.explained == (1.0, 1.0) and np.allclose(latent_map.points, latent_map.codes)


def test_principal_axes_find_the_spread_and_fix_their_signs():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(500, 6)) * np.array([0.1, 5.0, 0.1, 0.1, 2.0, 0.1])  # spread along dims 1, then 4
    axes, explained = principal_axes(codes)
    assert axes.shape == (6, 2) and np.allclose(axes.T @ axes, np.eye(2), atol=1e-9)
    assert abs(axes[1, 0]) > 0.99 and abs(axes[4, 1]) > 0.99
    assert axes[1, 0] > 0 and axes[4, 1] > 0  # the largest entry of each axis is positive
    assert explained[0] > explained[1] > 0 and sum(explained) <= 1 + 1e-9
    flipped, _ = principal_axes(-codes)
    assert np.allclose(flipped, axes)


def test_maps_refuse_what_they_cannot_draw(models):
    cvae, _ = models["cvae"]
    with pytest.raises(ValueError, match="needs the images' labels"):
        build_latent_map(cvae, torch.rand(4, 1, 28, 28), None, [])
    torch.manual_seed(0)
    one_dimensional = build_model(ModelConfig(kind="vae", latent_dim=1, width=8)).eval()
    with pytest.raises(ValueError, match="at least 2 latent dimensions"):
        build_latent_map(one_dimensional, torch.rand(4, 1, 28, 28), None, [])


def test_a_marker_is_drawn_on_a_copy(models):
    model, _ = models["vae2d"]
    latent_map = build_latent_map(model, torch.rand(20, 1, 28, 28), None, [])
    before = latent_map.image.copy()
    marked = latent_map.with_marker(np.zeros(2), sigma=np.ones(2))
    assert marked.shape == before.shape and not np.array_equal(marked, before)
    assert np.array_equal(latent_map.image, before)
    assert latent_map.latent_at_pixel(0, 0) is None  # outside the plot


def test_the_map_cache_remembers_a_data_set_it_could_not_load(models, monkeypatch):
    calls = []

    def unavailable(name, **settings):
        calls.append(name)
        raise DatasetError(f"{name} is not on this machine\nsecond line")

    monkeypatch.setattr(encode_module, "load_dataset", unavailable)
    cache = LatentMapCache(download=False, sample_count=50, retry_after_s=3600)
    data, reason = cache.dataset("mnist", 28, 1)
    assert data is None and reason == "mnist is not on this machine" and calls == ["mnist"]
    assert cache.dataset("mnist", 28, 1) == (None, reason) and calls == ["mnist"]  # not retried yet
    assert cache.dataset("my-pictures", 28, 1)[0] is None and calls == ["mnist"]  # no test split: not even tried
    model, _ = models["vae"]
    latent_map = cache.get(model, "mnist", 28, 1)
    assert latent_map.source == "samples" and latent_map.note == reason and len(latent_map.codes) == 50


def test_the_map_cache_memo_computes_once_per_model(models):
    cache = LatentMapCache(download=False)
    gan, vae = models["gan"][0], models["vae"][0]
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert cache.memo(gan, ("grid", 3), compute) == 1 and cache.memo(gan, ("grid", 3), compute) == 1
    assert cache.memo(gan, ("grid", 4), compute) == 2 and cache.memo(vae, ("grid", 3), compute) == 3


def test_sample_images_are_seeded_and_cycle_the_classes(models):
    cgan, _ = models["cgan"]
    images, labels = sample_images(cgan, 23, seed=4)
    assert images.shape == (23, 1, 28, 28) and labels.tolist() == [index % 10 for index in range(23)]
    assert torch.equal(sample_images(cgan, 23, seed=4)[0], images)
    assert sample_images(models["vae"][0], 3)[1] is None


def test_manifold_grid_size_and_orientation(models):
    model, _ = models["vae2d"]
    grid = manifold_grid(model, steps=20)
    assert grid.shape == (560, 560) and grid.dtype == np.uint8
    top_right = decode(model, torch.special.ndtri(torch.tensor([19.5 / 20, 19.5 / 20])).float())
    cell = grid[:28, -28:]
    assert np.abs(cell.astype(int) - np.round(top_right[0, 0].numpy() * 255).astype(int)).max() <= 1
    with pytest.raises(ValueError):
        manifold_grid(model, steps=100)


# ---------------------------------------------------------------------------------------------- arithmetic
def test_latent_arithmetic_decodes_a_minus_b_plus_c(models):
    vae_model, _ = models["vae"]
    images, z = latent_arithmetic(vae_model, *(seeded_latents(seed, 1, 8)[0] for seed in (4, 5, 6)))
    assert images.shape == (4, 1, 28, 28) and z.shape == (8,)
    model, _ = models["vae"]
    z_a, z_b, z_c = (seeded_latents(seed, 1, 8)[0] for seed in (4, 5, 6))
    images, z = latent_arithmetic(model, z_a, z_b, z_c)
    assert torch.allclose(z, z_a - z_b + z_c)
    assert torch.allclose(images[3:], decode(model, z_a - z_b + z_c), atol=1e-6)
    assert torch.allclose(images[:1], decode(model, z_a), atol=1e-6)


def test_to_picture_scales_without_gaps_for_one_image():
    one = torch.rand(1, 1, 3, 4)
    picture = to_picture(one, scale=5)
    assert picture.shape == (15, 20)
    assert np.array_equal(picture[::5, ::5], (one[0, 0] * 255).round().to(torch.uint8).numpy())
    assert to_picture(torch.rand(2, 1, 3, 3), scale=1).shape == (3 + 4, 2 * 5 + 2)  # several: 2-px gaps


# ---------------------------------------------------------------------------------------------- GAN tools
def test_inversion_recovers_a_generated_target():
    model = varied_generator()
    weights = [parameter.detach().clone() for parameter in model.parameters()]
    target = decode(model, seeded_latents(123, 1, model.latent_dim)[0])
    assert float(decode(model, seeded_latents(7, 4, 8)).std(dim=0).mean()) > 0.05
    reports = list(invert_generator(model, target, steps=150, restarts=3, candidates=16, report_every=25))
    assert reports[-1].done and not any(report.done for report in reports[:-1]) and len(reports) >= 3
    assert reports[-1].mse < reports[0].mse / 10
    assert all(torch.equal(before, after) for before, after in zip(weights, model.parameters()))
    assert all(parameter.grad is None for parameter in model.parameters())
    with pytest.raises(ValueError, match="steps"):
        next(invert_generator(model, target, steps=5000))


@pytest.mark.parametrize(("setting", "value"), [("steps", 0), ("steps", MAX_INVERSION_STEPS + 1), ("restarts", 0),
                                                ("restarts", MAX_RESTARTS + 1), ("lr", 0.0), ("lr", math.nan),
                                                ("lr", 2.0), ("prior_weight", -1.0), ("prior_weight", math.inf)])
def test_inversion_settings_out_of_range_are_refused(setting, value):
    model = varied_generator()
    with pytest.raises(ValueError, match=f"{setting} = .* is not accepted"):
        next(invert_generator(model, torch.rand(1, 1, 28, 28), **{setting: value}))


def test_the_discriminator_gives_one_finite_logit_per_image(models):
    model, _ = models["gan"]
    logits = discriminator_logits(model, torch.rand(3, 1, 28, 28))
    assert logits.shape == (3,) and torch.isfinite(logits).all()
    cgan, _ = models["cgan"]
    images = torch.rand(2, 1, 28, 28)
    as_three, as_eight = discriminator_logits(cgan, images, 3), discriminator_logits(cgan, images, 8)
    assert as_three.shape == (2,) and not torch.equal(as_three, as_eight)  # the class is part of the question
    with torch.inference_mode():  # images in [0, 1] are shown to D in its own [-1, 1]
        expected = cgan.discriminator(images * 2 - 1, torch.tensor([3, 3]))
    assert torch.allclose(as_three, expected.float())


def test_total_kl_and_the_dimensions_in_use():
    """The Encode tab's summary line: the KL summed over dimensions and how many carry more than ACTIVE_KL nats."""
    encoding = encode_module.Encoding(torch.zeros(1, 1, 2, 2), mean=torch.tensor([0.0, 1.0, 0.0, 0.3]),
                                      log_variance=torch.tensor([0.0, 0.0, math.log(4.0), 0.0]),
                                      reconstruction=torch.zeros(1, 1, 2, 2))
    per_dimension = [0.0, 0.5, 0.5 * (3.0 - math.log(4.0)), 0.5 * 0.09]  # the last: ½μ² = 0.045 nats
    assert encoding.kl == pytest.approx(sum(per_dimension), rel=1e-6)
    assert encoding.active_dimensions(0.1) == 2  # 0.5 and 0.807 nats; 0 and 0.045 are below 0.1
    assert encoding.active_dimensions() == encoding.active_dimensions(encode_module.ACTIVE_KL)
    assert encoding.active_dimensions(0.04) == 3 and encoding.active_dimensions(0.6) == 1
    assert encoding.active_dimensions(0.0) == 3  # strictly more than the threshold: the unused dimension is left out
