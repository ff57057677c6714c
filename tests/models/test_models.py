"""Every network at a tiny configuration: output shapes, value ranges, conditioning, the VAE's terms."""

import math

import pytest
import torch

from genimg.config import ConfigError, ModelConfig
from genimg.models import GAN, build_model, registry
from genimg.models.vae import gaussian_kl, prior_mmd

CASES = [("dcgan", 28), ("dcgan", 32), ("dcgan", 64), ("vae", 28), ("vae", 32), ("vae", 64),
         ("seed-gan", 32), ("seed-gan", 64), ("seed-vae", 28), ("seed-vae", 32), ("seed-vae", 64)]


@pytest.mark.parametrize("kind,size", CASES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes_and_ranges(kind, size, channels, num_classes):
    torch.manual_seed(0)
    config = ModelConfig(kind=kind, image_size=size, channels=channels, latent_dim=6, num_classes=num_classes,
                         width=8)
    model = build_model(config).eval()
    z = torch.randn(5, 6)
    labels = torch.arange(5) if num_classes else None
    with torch.no_grad():
        images = model.generate(z, labels)
    assert images.shape == (5, channels, size, size)
    assert images.min() >= 0 and images.max() <= 1
    if isinstance(model, GAN):
        raw = model.generator(z, labels)
        assert raw.min() >= -1 and raw.max() <= 1
        logits = model.discriminator(raw, labels)
        assert logits.shape == (5,) and torch.isfinite(logits).all()
    else:
        mean, log_variance = model.encode(images, labels)
        assert mean.shape == log_variance.shape == (5, 6)
        logits, _, _ = model(images, labels)
        assert logits.shape == images.shape


def test_conditioning_changes_output():
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="dcgan", latent_dim=6, num_classes=10, width=8)).eval()
    z = torch.randn(1, 6).repeat(2, 1)
    with torch.no_grad():
        images = model.generate(z, torch.tensor([1, 7]))
    assert not torch.allclose(images[0], images[1])


def test_conditional_model_requires_labels():
    model = build_model(ModelConfig(kind="vae", latent_dim=4, num_classes=10, width=8))
    with pytest.raises(ValueError, match="class-conditional"):
        model.generate(torch.zeros(2, 4))


@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_a_deeper_dcgan_keeps_its_shapes_and_grows_by_one_3x3_layer_per_scale(size, spectral_norm):
    """depth d adds d shape-preserving 3×3 convolutions at each feature map of G and of D: the pictures and the
    logits keep their shapes, and each network gains exactly the weights of those layers."""
    torch.manual_seed(0)
    settings = dict(kind="dcgan", image_size=size, latent_dim=6, num_classes=10, width=8, spectral_norm=spectral_norm)
    plain, deeper = (build_model(ModelConfig(**settings, depth=depth)).eval() for depth in (0, 2))
    z, labels = torch.randn(3, 6), torch.tensor([0, 4, 9])
    with torch.no_grad():
        images = deeper.generator(z, labels)
        assert images.shape == (3, 1, size, size) and images.abs().max() <= 1
        assert deeper.discriminator(images, labels).shape == (3,)
        assert deeper.generator.first_features(torch.cat([z, torch.eye(10)[labels]], 1)).shape == \
            plain.generator.first_features(torch.cat([z, torch.eye(10)[labels]], 1)).shape

    def convolutions(network):
        return [layer for layer in network.modules() if isinstance(layer, torch.nn.Conv2d)
                and layer.kernel_size == (3, 3) and layer.in_channels == layer.out_channels]

    scales = math.log2(size // (7 if size == 28 else 4))  # feature maps = ×2 steps
    for network in ("generator", "discriminator"):
        assert not convolutions(getattr(plain, network))
        added = convolutions(getattr(deeper, network))
        assert len(added) == 2 * scales, network
        assert sorted({layer.in_channels for layer in added}) == [8 * 2 ** k for k in range(int(scales))]


def test_dcgan_weight_init():
    model = build_model(ModelConfig(kind="dcgan", width=16))
    first_conv = model.generator.net[0].weight
    assert abs(first_conv.std().item() - 0.02) < 0.003
    assert abs(first_conv.mean().item()) < 0.003


def test_vae_terms_in_nats():
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="vae", latent_dim=4, width=8))
    images = torch.rand(3, 1, 28, 28)
    terms = model.loss_terms(images, beta=0.5)
    assert terms["neg_elbo"].item() == pytest.approx(terms["reconstruction"].item() + terms["kl"].item(), rel=1e-5)
    assert terms["loss"].item() == pytest.approx(terms["reconstruction"].item() + 0.5 * terms["kl"].item(), rel=1e-5)
    # 784 pixels of Bernoulli cross-entropy near ln 2 each at initialisation
    assert 300 < terms["reconstruction"].item() < 1500
    assert terms["kl"].item() >= 0


def test_prior_mmd_is_near_zero_for_prior_draws_and_large_for_codes_that_leave_holes():
    generator = torch.Generator().manual_seed(0)
    draws = [torch.randn(256, 8, generator=generator) for _ in range(3)]
    same = prior_mmd(draws[0], draws[1]).item()
    crowded = prior_mmd(0.2 * draws[2], draws[1]).item()  # all codes near the centre: most of the prior is a hole
    clustered = prior_mmd(torch.sign(draws[2]) * 1.5 + 0.05 * draws[0], draws[1]).item()  # codes in 256 corners
    shifted = prior_mmd(draws[2] + 1.0, draws[1]).item()
    assert abs(same) < 0.01 and min(crowded, clustered, shifted) > 10 * max(abs(same), 1e-3), (same, crowded,
                                                                                            clustered, shifted)
    with pytest.raises(ValueError, match="B ≥ 2"):
        prior_mmd(torch.zeros(1, 8), torch.zeros(1, 8))


def test_the_mmd_term_joins_a_vaes_loss_only_when_weighted_and_leaves_the_elbo_alone():
    model = build_model(ModelConfig(kind="vae", latent_dim=4, width=8))
    images = torch.rand(6, 1, 28, 28)
    torch.manual_seed(1)
    plain = model.loss_terms(images, beta=0.5)
    torch.manual_seed(1)
    weighted = model.loss_terms(images, beta=0.5, mmd_weight=300.0)
    assert plain["mmd"].item() == 0.0 and weighted["mmd"].item() != 0.0
    for name in ("reconstruction", "kl", "neg_elbo"):  # the same codes were drawn: the ELBO's terms are the same
        assert weighted[name].item() == pytest.approx(plain[name].item(), rel=1e-6), name
    assert weighted["loss"].item() == pytest.approx(
        weighted["reconstruction"].item() + 0.5 * weighted["kl"].item() + 300.0 * weighted["mmd"].item(), rel=1e-5)
    model.zero_grad()
    weighted["mmd"].backward()  # the term reaches the encoder, which places the codes
    assert any(parameter.grad is not None and parameter.grad.abs().sum() > 0
               for name, parameter in model.named_parameters() if "encoder" in name)


def test_gaussian_kl_known_values():
    assert gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).tolist() == [0.0, 0.0]
    value = gaussian_kl(torch.ones(1, 1), torch.zeros(1, 1)).item()
    assert value == pytest.approx(0.5)
    value = gaussian_kl(torch.zeros(1, 1), torch.full((1, 1), math.log(4.0))).item()
    assert value == pytest.approx(0.5 * (4 - 1 - math.log(4)))


def test_gaussian_decoder_has_learned_sigma():
    model = build_model(ModelConfig(kind="vae", channels=3, image_size=32, likelihood="gaussian", latent_dim=4,
                                    width=8))
    assert model.log_sigma is not None and model.log_sigma.requires_grad
    bernoulli = build_model(ModelConfig(kind="vae", latent_dim=4, width=8))
    assert bernoulli.log_sigma is None


def test_seed_presets_fix_the_article():
    generator = build_model(ModelConfig(kind="seed-gan", image_size=64, channels=3, width=8)).generator
    assert generator.first == 8  # 8 → 16 → 32 → 64 rather than the article's 5 → 40
    discriminator = build_model(ModelConfig(kind="seed-gan", image_size=64, channels=3, width=8)).discriminator
    assert discriminator(torch.zeros(2, 3, 64, 64)).shape == (2,)  # one logit, not a 4×4 map
    vae = build_model(ModelConfig(kind="seed-vae", latent_dim=5, width=8))
    assert hasattr(vae, "to_mean") and hasattr(vae, "to_log_variance")


@pytest.mark.parametrize("settings,needle", [
    (dict(kind="gan"), "model kind = 'gan' is not accepted: expected one of dcgan, vae"),
    (dict(image_size=48), "image_size = 48 .* one of \\(28, 32, 64\\) for dcgan"),
    (dict(kind="seed-gan", image_size=28), "image_size = 28 .* one of \\(32, 64\\) for seed-gan"),
    (dict(kind="seed-gan", image_size=64, depth=1), "depth = 1 .* seed-gan does not use it"),
    (dict(kind="seed-vae", depth=2), "depth = 2 .* seed-vae does not use it"),
    (dict(kind="flow", latent_dim=100), "latent_dim = 100 .* noise image, 1×28×28 = 784"),
])
def test_settings_a_kind_cannot_build_are_refused_by_the_registry(settings, needle):
    config = ModelConfig(**settings)  # generic checks pass: only the kind knows these are wrong
    with pytest.raises(ConfigError, match=needle):
        registry.check(config)
    with pytest.raises(ConfigError, match=needle):
        build_model(config)


@pytest.mark.parametrize("settings,needle", [
    (dict(kind=""), "model kind"),
    (dict(kind=["dcgan"]), "model kind"),
    (dict(image_size=10**6), "image_size"),
    (dict(channels=2), "channels"),
    (dict(latent_dim=0), "latent_dim"),
    (dict(latent_dim=10**9), "latent_dim"),
    (dict(num_classes=1), "num_classes"),
    (dict(width="64"), "width"),
    (dict(likelihood="poisson"), "likelihood"),
])
def test_bad_model_settings_name_the_setting(settings, needle):
    with pytest.raises(ConfigError, match=needle):
        ModelConfig(**settings)


def test_unused_settings_of_old_checkpoints_still_load():
    """A GAN saved with a likelihood or a VAE with spectral norm (settings they never read) keeps building."""
    assert registry.check(ModelConfig(kind="dcgan", likelihood="gaussian")).name == "dcgan"
    assert registry.check(ModelConfig(kind="vae", latent_dim=4, spectral_norm=True)).name == "vae"


def test_model_config_round_trip():
    config = ModelConfig(kind="vae", latent_dim=2, num_classes=10)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown model setting"):
        ModelConfig.from_dict({**config.to_dict(), "evil": 1})
