"""Model cards: the reproduce command parses back to the same run, titles come from the registry, notes survive
(the English notes and their Chinese translation)."""

import argparse
import re
import shlex
import shutil

import pytest
import torch

from genimg.config import SHIPPED_DIR, ModelConfig, TrainConfig
from genimg.eval.cards import (
    NOTES_END,
    NOTES_START,
    NOTES_ZH_END,
    NOTES_ZH_START,
    train_command,
    write_card,
)
from genimg.models import build_model, registry
from genimg.recipes import add_recipe_options
from genimg.store.checkpoint import save_checkpoint

SETTINGS = {
    "dcgan": dict(gan_loss="hinge", lr_discriminator=4e-4, ema_decay=0.999, lr_decay_from=30,
                  model=dict(spectral_norm=True)),
    "vae": dict(beta=0.5, kl_warmup_steps=100, mmd_weight=250.0, binarise=True, model=dict(depth=1, likelihood="gaussian", channels=3, image_size=32)),
    "seed-gan": dict(model=dict(image_size=32)),
    "seed-vae": dict(model=dict(num_classes=10)),
}


def training(kind: str) -> TrainConfig:
    settings = dict(SETTINGS.get(kind, {}))  # a kind added later is checked with its defaults
    model_settings = {"image_size": min(registry.get(kind).image_sizes), **settings.pop("model", {})}
    model = ModelConfig(kind=kind, latent_dim=5, width=8, **model_settings)
    return TrainConfig(model=model, dataset="mnist", steps=40, batch_size=16, lr_generator=3e-4, adam_beta1=0.25,
                       seed=9, **settings)


def parse(command: str) -> argparse.Namespace:
    words = shlex.split(command)
    assert words[:4] == ["python", "-m", "genimg", "train"]
    parser = argparse.ArgumentParser()
    add_recipe_options(parser)
    return parser.parse_args(words[4:])


@pytest.mark.parametrize("kind", registry.names())
def test_the_reproduce_command_asks_for_the_same_run(kind):
    config = training(kind)
    args = parse(train_command(config.to_dict(), steps=40, out="runs/x"))
    model, family = config.model, registry.get(kind).family
    assert (args.model, args.latent_dim, args.width, args.image_size, args.channels) == (
        kind, model.latent_dim, model.width, model.image_size, model.channels)
    assert (args.steps, args.batch_size, args.lr, args.adam_beta1, args.seed, args.out) == (40, 16, 3e-4, 0.25, 9, "runs/x")
    assert args.conditional == bool(model.num_classes)
    assert (args.depth or 0) == model.depth and args.spectral_norm == model.spectral_norm
    assert args.binarise == config.binarise and args.lr_decay_from == config.lr_decay_from
    if family == "gan":  # the discriminator's settings, and no VAE flags
        assert (args.lr_d, args.gan_loss, args.beta) == (config.lr_discriminator, config.gan_loss, None)
    elif family == "vae":
        assert (args.beta, args.kl_warmup or 0, args.mmd or 0, args.likelihood, args.lr_d) == (
            config.beta, config.kl_warmup_steps, config.mmd_weight, model.likelihood, None)
    else:  # a flow reads neither the discriminator's nor the VAE's settings
        assert (args.beta, args.kl_warmup, args.mmd, args.likelihood, args.lr_d, args.gan_loss) == (None,) * 6
    assert args.ema == (config.ema_decay or None)


def test_a_card_names_the_kind_by_its_registered_title_and_keeps_the_notes(tmp_path):
    config = ModelConfig(kind="seed-vae", latent_dim=3, width=8, num_classes=10)
    folder = save_checkpoint(tmp_path / "model", model_config=config.to_dict(),
                             weights=build_model(config).state_dict(), step=12, dataset="mnist")
    card = write_card(folder).read_text()
    assert card.startswith("# model\n\nA seed-article VAE (corrected), class-conditional with a 3-dimensional latent")
    (folder / "README.md").write_text(card.replace("Nothing to add yet.", "Drawn by hand."))
    card = write_card(folder, evaluation_table="metric  value").read_text()
    assert f"{NOTES_START}\nDrawn by hand.\n{NOTES_END}" in card and "metric  value" in card


def test_a_judge_and_an_unknown_kind_are_named_plainly(tmp_path):
    for kind, title in (("judge", "judge classifier"), ("kind-from-elsewhere", "kind-from-elsewhere")):
        folder = save_checkpoint(tmp_path / kind, model_config={"kind": kind, "image_size": 28, "channels": 1},
                                 weights={"w": torch.zeros(1)}, step=1, dataset="mnist")
        assert f"A {title}, for 1×28×28 images" in write_card(folder).read_text()


def _block(card: str, start: str, end: str) -> str:
    """The text from `start` to `end`, markers included ("" when the card has no such block)."""
    match = re.search(re.escape(start) + ".*?" + re.escape(end), card, re.DOTALL)
    return match.group(0) if match else ""


def test_a_regenerated_card_keeps_the_chinese_notes_and_adds_none_when_there_are_none(tmp_path):
    config = ModelConfig(kind="seed-vae", latent_dim=3, width=8)
    folder = save_checkpoint(tmp_path / "model", model_config=config.to_dict(),
                             weights=build_model(config).state_dict(), step=12, dataset="mnist")
    plain = write_card(folder).read_text()
    assert NOTES_ZH_START not in plain  # a user's own model: no empty Chinese block appears
    chinese = f"{NOTES_ZH_START}\n手写的说明：**已达成**。\n\n第二段，FD 21.8。\n{NOTES_ZH_END}"
    written = plain.replace(NOTES_END, f"{NOTES_END}\n\n<details>\n<summary>说明（中文）</summary>\n\n{chinese}\n\n</details>")
    (folder / "README.md").write_text(written.replace("Nothing to add yet.", "Drawn by hand."))
    card = write_card(folder, evaluation_table="metric  value").read_text()
    assert f"{NOTES_START}\nDrawn by hand.\n{NOTES_END}" in card and "metric  value" in card
    assert _block(card, NOTES_ZH_START, NOTES_ZH_END) == chinese
    assert card.index(NOTES_END) < card.index(NOTES_ZH_START)  # after the English notes
    assert write_card(folder, evaluation_table="metric  value").read_text() == card  # stable on every rewrite


@pytest.mark.parametrize("name", ["mnist-cdcgan", "mnist-cvae", "mnist-dcgan", "mnist-vae-2d", "mnist-vae",
                                  "mnist-vae-binarised", "shapes-dcgan", "shapes-vae"])
def test_a_shipped_card_regenerated_from_its_own_data_is_unchanged_with_both_notes(name, tmp_path):
    shipped = SHIPPED_DIR / name
    card = (shipped / "README.md").read_text()
    assert _block(card, NOTES_START, NOTES_END) and _block(card, NOTES_ZH_START, NOTES_ZH_END)
    folder = tmp_path / name
    shutil.copytree(shipped, folder)
    # what `python -m genimg eval` passes: the table and the command as the card shows them
    command, seconds = re.search(r"^`(python -m genimg eval [^`]*)` \(took (\d+) s\):$", card, re.MULTILINE).groups()
    table = re.search(r"## Evaluation\n\n.*?\n\n```\n(.*?)\n```", card, re.DOTALL).group(1)
    assert write_card(folder, table, command, float(seconds)).read_text() == card
