"""The recipe book: the Train tab's presets and the `train` flags start from each kind's registered recipe."""

import argparse

import pytest
import torch

from genimg import recipes
from genimg.config import ConfigError
from genimg.models import registry


def options(*flags):
    parser = argparse.ArgumentParser()
    recipes.add_recipe_options(parser)
    return parser.parse_args(["--dataset", "shapes", "--data-limit", "16", *flags])


def test_every_preset_names_a_registered_kind_and_starts_from_its_recipe():
    for key, preset in recipes.PRESETS.items():
        assert preset.key == key and preset.model_kind is registry.get(preset.kind)
        base = preset.model_kind.recipe
        assert preset.recipe.latent_dim == base.latent_dim  # the classroom changes speed settings, never z
    assert {key: preset.conditional for key, preset in recipes.PRESETS.items()} == {
        "dcgan": False, "cdcgan": True, "vae": False, "cvae": True, "seed-gan": False, "seed-vae": False,
        "flow": False, "cflow": True}


def test_the_classroom_gan_recipe():
    recipe = recipes.PRESETS["dcgan"].recipe
    assert (recipe.width, recipe.batch_size, recipe.learning_rate, recipe.adam_beta1, recipe.gan_loss,
            recipe.ema_decay) == (32, 32, 1e-3, 0.0, "hinge", 0.999)
    assert recipes.PRESETS["cdcgan"].recipe == recipe


def test_flags_left_out_take_the_kind_recipe():
    for name in registry.names():
        config, data = recipes.train_config_from_options(options("--model", name))
        recipe = registry.get(name).recipe
        assert (config.model.latent_dim, config.model.width, config.lr_generator, config.lr_discriminator,
                config.adam_beta1, config.steps, config.batch_size, config.ema_decay, config.gan_loss, config.beta) == (
            # a flow's latent is its noise image: the data's shape, not the recipe, decides it
            registry.get(name).fixed_latent_dim(32, 3) or recipe.latent_dim, recipe.width, recipe.learning_rate,
            recipe.lr_discriminator, recipe.adam_beta1,
            recipe.steps, recipe.batch_size, recipe.ema_decay, recipe.gan_loss, recipe.beta)
        assert len(data) == 16


def test_flags_given_win_and_the_discriminator_rate_follows_lr():
    config, _ = recipes.train_config_from_options(options("--model", "dcgan", "--lr", "5e-4", "--latent-dim", "7",
                                                          "--ema", "0.99", "--steps", "12"))
    assert (config.lr_generator, config.lr_discriminator, config.model.latent_dim, config.ema_decay, config.steps) == (
        5e-4, 5e-4, 7, 0.99, 12)
    config, _ = recipes.train_config_from_options(options("--model", "dcgan", "--lr", "5e-4", "--lr-d", "1e-4"))
    assert config.lr_discriminator == 1e-4


def test_the_image_size_fits_the_kind_and_colour_gets_a_gaussian_decoder():
    config, _ = recipes.train_config_from_options(options("--model", "seed-gan"))
    assert config.model.image_size == 32
    mnist_sized, _ = recipes.train_config_from_options(options("--model", "seed-gan", "--image-size", "64"))
    assert mnist_sized.model.image_size == 64
    with pytest.raises(ConfigError, match="image_size = 28 is not accepted: expected one of \\(32, 64\\) for seed-gan"):
        recipes.train_config_from_options(options("--model", "seed-gan", "--image-size", "28"))  # said, not changed
    # shapes are 32 px colour: the VAE gets a Gaussian decoder, a GAN has no decoder likelihood to choose
    vae, _ = recipes.train_config_from_options(options("--model", "vae"))
    gan, _ = recipes.train_config_from_options(options("--model", "dcgan"))
    assert (vae.model.channels, vae.model.likelihood, gan.model.likelihood) == (3, "gaussian", "bernoulli")


def test_a_conditional_model_needs_labelled_data(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    from PIL import Image

    for index in range(4):
        Image.new("RGB", (16, 16), (index * 40, 0, 0)).save(folder / f"{index}.png")
    parser = argparse.ArgumentParser()
    recipes.add_recipe_options(parser)
    with pytest.raises(ConfigError, match="has no class labels"):
        recipes.train_config_from_options(parser.parse_args(["--dataset", f"folder:{folder}", "--conditional"]))
    # a conditional shipped model's recipe trains on the classes by itself, and says why unlabelled pictures cannot do
    with pytest.raises(ConfigError, match="--recipe mnist-cflow draws the class it is asked for: .* no class labels"):
        recipes.train_config_from_options(parser.parse_args(["--dataset", f"folder:{folder}", "--recipe", "mnist-cflow"]))
    conditional, _ = recipes.train_config_from_options(parser.parse_args(
        ["--dataset", "shapes", "--data-limit", "8", "--recipe", "mnist-cflow"]))
    unconditional, _ = recipes.train_config_from_options(parser.parse_args(
        ["--dataset", "shapes", "--data-limit", "8", "--recipe", "mnist-flow"]))
    assert (conditional.model.num_classes, unconditional.model.num_classes) == (3, 0)


def test_dataset_shapes():
    assert recipes.dataset_shape("mnist") == (28, 1, 10)
    assert recipes.dataset_shape("shapes") == (32, 3, 3)
    assert recipes.dataset_shape("folder:/anywhere") == (64, 3, 0)


def test_training_precision_policy(monkeypatch):
    gan, vae = registry.get("dcgan"), registry.get("vae")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert recipes.training_precision(gan) == recipes.training_precision(vae) == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    assert (recipes.training_precision(gan), recipes.training_precision(vae)) == ("bf16", "fp32")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False, raising=False)
    assert recipes.training_precision(gan) == "fp32"


@pytest.mark.parametrize("size", ["999999999", "1024", "7"])
def test_an_absurd_image_size_is_refused_before_any_data_is_built(size, monkeypatch):
    """--image-size takes any whole number now that the kind says which sides it draws; a huge one must be refused
    by the kind's check, not by building a data set of that size first."""
    loaded = []
    monkeypatch.setattr(recipes, "load_dataset", lambda *args, **kwargs: loaded.append(1))
    with pytest.raises(ConfigError, match=f"image_size = {size}"):
        recipes.train_config_from_options(options("--model", "dcgan", "--image-size", size))
    assert loaded == []


def test_the_cli_says_it_in_one_line(tmp_path, capsys):
    from genimg import cli

    assert cli.main(["train", "--model", "dcgan", "--image-size", "999999999", "--out", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "image_size = 999999999 is not accepted" in error[0]


def test_a_recipes_annealing_keeps_its_shape_when_the_run_is_shorter_or_longer():
    from genimg.config import Recipe

    annealed = Recipe(latent_dim=4, width=8, learning_rate=1e-3, adam_beta1=0.9, steps=100, lr_decay_from=60)
    assert recipes._decay_start(annealed, 100) == 60
    assert recipes._decay_start(annealed, 50) == 30 and recipes._decay_start(annealed, 1000) == 600
    assert recipes._decay_start(annealed.replace(lr_decay_from=None), 50) is None
    # every length a run can have gets a start inside it, so a short run from an annealed recipe is never refused
    assert all(0 <= recipes._decay_start(annealed, steps) < steps for steps in range(1, 300))
    config, _ = recipes.train_config_from_options(options("--model", "vae", "--steps", "40", "--lr-decay-from", "10"))
    assert config.lr_decay_from == 10
