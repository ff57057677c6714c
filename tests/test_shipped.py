"""Every shipped checkpoint loads, samples, is small, and carries a model card whose numbers match config.json."""

from pathlib import Path

import pytest
import torch

from genimg.config import SHIPPED_DIR
from genimg.eval.judge import load_judge
from genimg.models.latent import class_labels, seeded_latents
from genimg.models.loading import load_model
from genimg.store.checkpoint import load_checkpoint

FOLDERS = sorted(path for path in SHIPPED_DIR.iterdir() if (path / "config.json").is_file()) if SHIPPED_DIR.is_dir() else []
GENERATORS = [path for path in FOLDERS if not path.name.endswith("-judge")]
JUDGES = [path for path in FOLDERS if path.name.endswith("-judge")]


def test_the_promised_models_are_shipped():
    names = {path.name for path in FOLDERS}
    for expected in ("mnist-dcgan", "mnist-cdcgan", "mnist-vae", "mnist-vae-2d", "mnist-cvae", "mnist-flow", "mnist-cflow",
                     "mnist-vae-binarised", "shapes-dcgan", "shapes-vae", "mnist-judge", "shapes-judge"):
        assert expected in names


def test_shipped_folders_are_small():
    total = sum(file.stat().st_size for file in SHIPPED_DIR.rglob("*") if file.is_file())
    assert total < 50 * 2**20
    for folder in FOLDERS:
        size = sum(file.stat().st_size for file in folder.iterdir())
        assert size < 8 * 2**20, folder.name


@pytest.mark.parametrize("folder", GENERATORS, ids=lambda path: path.name)
def test_generator_loads_samples_and_has_a_card(folder: Path):
    model, config, saved = load_model(folder)
    z = seeded_latents(0, 10, config.latent_dim)
    with torch.inference_mode():
        images = model.generate(z, class_labels(10, config.num_classes))
    assert images.shape == (10, config.channels, config.image_size, config.image_size)
    assert torch.isfinite(images).all() and images.std() > 0.05  # not a blank or constant image
    assert load_checkpoint(folder, with_training_state=True).training_state is None  # weights only
    card = (folder / "README.md").read_text()
    metrics = saved["metrics"]
    assert "python -m genimg train" in card and "## Evaluation" in card
    for name in ("classifier_fd", "test_neg_elbo", "test_iwae_nll"):
        if name in metrics:
            assert f"{metrics[name]:.2f}" in card, name
    assert (folder / "samples.png").is_file()
    # the Latent tab's directions, saved for these very weights (a model shipped again needs them written again:
    # python -m genimg directions --checkpoint checkpoints/NAME)
    from genimg.explore.directions import DirectionCache, load_directions

    page = DirectionCache()
    assert load_directions(folder, model, count=page.count, samples=page.samples, seed=page.seed) is not None


@pytest.mark.parametrize("folder", JUDGES, ids=lambda path: path.name)
def test_judge_loads(folder: Path):
    judge, config = load_judge(folder)
    assert config["metrics"]["test_accuracy"] > 0.97
    logits, features = judge(torch.zeros(2, judge.channels, judge.image_size, judge.image_size))
    assert logits.shape == (2, judge.num_classes) and features.shape == (2, 128)


@pytest.mark.parametrize("name", ["mnist-dcgan", "mnist-cdcgan", "shapes-dcgan", "mnist-cflow", "mnist-flow",
                                  "shapes-vae", "mnist-vae-binarised"])
def test_one_command_retrains_a_shipped_model(name):
    """`python -m genimg train --recipe NAME` asks for the very settings the shipped model NAME was trained with, for
    as many steps as it was trained."""
    import argparse

    from genimg import recipes
    from genimg.config import ConfigError

    assert name in recipes.NAMED_RECIPES
    saved = load_checkpoint(SHIPPED_DIR / name).config
    parser = argparse.ArgumentParser()
    recipes.add_recipe_options(parser)
    config, _ = recipes.train_config_from_options(parser.parse_args(
        ["--recipe", name, "--dataset", "shapes", "--data-limit", "8", "--image-size",
         str(saved["model"]["image_size"]), "--channels", str(saved["model"]["channels"])]))  # no MNIST needed
    trained = saved["training"]
    asked = config.to_dict()
    for name in ("batch_size", "lr_generator", "lr_discriminator", "adam_beta1", "gan_loss", "ema_decay", "seed",
                 "beta", "kl_warmup_steps", "lr_decay_from"):
        assert asked.get(name) == trained.get(name), name
    assert asked["mmd_weight"] == trained.get("mmd_weight", 0.0)  # a model trained before the setting had none
    assert asked["binarise"] == bool(trained.get("binarise"))
    for name in ("kind", "latent_dim", "width", "spectral_norm", "depth", "likelihood"):
        assert asked["model"][name] == saved["model"][name], name
    assert bool(asked["model"]["num_classes"]) == bool(saved["model"]["num_classes"])  # conditional as shipped
    assert config.steps == saved["step"]
    with pytest.raises(ConfigError, match="--recipe mnist-dcgan trains a dcgan, not a vae"):
        recipes.train_config_from_options(parser.parse_args(["--recipe", "mnist-dcgan", "--model", "vae",
                                                             "--dataset", "shapes", "--data-limit", "8"]))
