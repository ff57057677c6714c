"""What every registered model kind must do, as checks any test can run on a kind's name.

tests/test_model_kinds.py runs them for each built-in kind; tests/models/test_throwaway_kind.py registers a kind
of its own (a few lines, in that file alone) and runs the same checks, which proves that a new kind needs no
other file to change for the model code, the catalog, the Explore tabs and the command line to accept it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genimg import cli
from genimg.bench.explore import sketch_of_a_one
from genimg.config import ModelConfig
from genimg.explore.catalog import Renderer, discover
from genimg.explore.directions import DirectionCache, principal_directions
from genimg.models import build_model, registry
from genimg.models.latent import seeded_latents
from genimg.store.checkpoint import save_checkpoint
from genimg.ui.context import ExploreContext
from genimg.ui.encode_tab import EncodeHandlers
from genimg.ui.explore import ExploreHandlers
from genimg.ui.gan_tab import GanHandlers
from genimg.ui.interpolate_tab import InterpolateHandlers
from genimg.ui.latent_tab import LatentHandlers, shown_dims

LATENT = 6


def latent_size(name: str, channels: int = 1) -> int:
    """The tiny models' latent size: LATENT, or what the kind's smallest pictures fix (a flow's noise image)."""
    kind = registry.get(name)
    return kind.fixed_latent_dim(min(kind.image_sizes), channels) or LATENT


def tiny_model_config(name: str, num_classes: int = 0, channels: int = 1) -> ModelConfig:
    kind = registry.get(name)
    return ModelConfig(kind=name, image_size=min(kind.image_sizes), channels=channels, latent_dim=latent_size(name),
                       num_classes=num_classes, width=8)


def check_model(name: str) -> None:
    """Builds, draws images in [0, 1] of the right shape, and keeps every promise its capabilities make."""
    kind = registry.get(name)
    latent = latent_size(name)
    for num_classes in (0, 3):
        torch.manual_seed(0)
        config = tiny_model_config(name, num_classes)
        model = build_model(config).eval()
        assert model.kind == name and registry.kind_of(model) is kind
        size = config.image_size
        z = torch.randn(4, latent)
        labels = torch.tensor([0, 1, 2, 0]) if num_classes else None
        with torch.no_grad():
            images = model.generate(z, labels)
            assert images.shape == (4, 1, size, size)
            assert images.min() >= 0 and images.max() <= 1
            inputs = model.condition(z, labels)
            assert inputs.shape == (4, latent + num_classes)
            assert torch.allclose(model.generate_from_input(inputs), images, atol=1e-6)
            features = model.first_features(inputs)
            assert features.ndim == 2 and features.shape[0] == 4
            # what an EMA copy samples with draws the same images as the model itself
            assert torch.allclose(model.generate_with(model.sampling_network(), z, labels), images, atol=1e-6)
            if kind.capabilities.encoder:
                mean, log_variance = model.encode(images, labels)
                assert mean.shape == log_variance.shape == (4, latent)
            if kind.capabilities.discriminator:
                logits = model.discriminator_logits(images, labels)
                assert logits.shape == (4,) and torch.isfinite(logits).all()
        if num_classes:  # the class changes the picture
            same = torch.zeros(2, latent)
            with torch.no_grad():
                pair = model.generate(same, torch.tensor([0, 2]))
            assert not torch.allclose(pair[0], pair[1])


def save_tiny_checkpoint(name: str, folder: Path, num_classes: int = 0) -> Path:
    """A freshly initialised tiny model of kind `name`, saved as a checkpoint folder (no training)."""
    config = tiny_model_config(name, num_classes)
    torch.manual_seed(0)
    model = build_model(config).eval()
    return save_checkpoint(folder, model_config=config.to_dict(), weights=model.state_dict(), step=0,
                           dataset="shapes")


def check_catalog(name: str, tmp_path: Path) -> None:
    """Discovered, labelled with its family, and drawn by the renderer from a seed, the same on every call."""
    folder = tmp_path / "catalog"
    save_tiny_checkpoint(name, folder / f"tiny-{name}")
    save_tiny_checkpoint(name, folder / f"tiny-{name}-conditional", num_classes=3)
    problems: list[str] = []
    entries = discover(folder, problems=problems)
    assert problems == []
    assert [entry.name for entry in entries] == [f"tiny-{name}", f"tiny-{name}-conditional"]
    kind = registry.get(name)
    for entry in entries:
        assert entry.kind == name and entry.family == kind.family
        assert kind.family_name in entry.label
    renderer = Renderer("cpu")
    first = renderer.sample_grid(entries[0].path, seed=3, count=4, scale=1)
    assert first.dtype == np.uint8 and first.ndim == 2
    assert np.array_equal(first, renderer.sample_grid(entries[0].path, seed=3, count=4, scale=1))
    assert renderer.sample_grid(entries[1].path, seed=3, count=6, label=2, scale=1).ndim == 2


def check_explore(name: str, tmp_path: Path) -> None:
    """The Samples, Latent (sliders, principal directions) and Interpolate tabs' handlers serve it."""
    folder = tmp_path / "explore"
    path = str(save_tiny_checkpoint(name, folder / f"tiny-{name}"))
    context = ExploreContext(Renderer("cpu"), discover(folder))
    grid = ExploreHandlers(context).samples(path, 7, 4, None)
    assert isinstance(grid, np.ndarray) and grid.dtype == np.uint8

    model, _ = context.renderer.model(path)
    directions = principal_directions(model, count=3, samples=256)
    assert directions.vectors.shape == (len(directions), latent_size(name)) and 1 <= len(directions) <= 3
    assert torch.allclose(directions.vectors.norm(dim=1), torch.ones(len(directions)), atol=1e-4)
    latent = LatentHandlers(context, DirectionCache(samples=256))
    still, moved = (latent.render(path, 5, None, 0, strength, 1.0, None, [0.0] * shown_dims(latent_size(name)))[0]
                    for strength in (0.0, 3.0))
    assert isinstance(still, np.ndarray) and still.shape == moved.shape
    assert not np.array_equal(still, moved)  # a step along the first direction changes the picture

    view = InterpolateHandlers(context).compute(path, "seeds", 0, 1, frames=5)
    for method in ("lerp", "slerp"):
        frames = view.interpolation.frames[method]
        assert frames.shape[0] == 5 and frames.dtype == np.uint8
        assert view.gifs[method][:6] in (b"GIF87a", b"GIF89a")
    with torch.no_grad():  # the walk starts at seed 0's picture
        start = model.generate(seeded_latents(0, 1, latent_size(name)))[0, 0]
    assert np.abs(frames[0].astype(int) - (start * 255).round().numpy().astype(int)).max() <= 1


def check_tools(name: str, tmp_path: Path) -> None:
    """The tabs its capabilities open: with a discriminator, GAN tools (ask D, invert a seed's picture); with an
    encoder, Encode (a drawing's code, reconstruction and numbers). A kind without either is offered by neither."""
    folder = tmp_path / "tools"
    path = str(save_tiny_checkpoint(name, folder / f"tiny-{name}"))
    context = ExploreContext(Renderer("cpu"), discover(folder))
    capabilities = registry.get(name).capabilities
    gan_tools, encode = GanHandlers(context), EncodeHandlers(context)
    assert bool(gan_tools.gan_choices()) == capabilities.discriminator
    assert bool(encode.vae_choices()) == capabilities.encoder
    if capabilities.discriminator:
        judged, verdict = gan_tools.ask(path, None, "seed", 3, None, None)
        assert judged.dtype == np.uint8 and verdict
        reports = list(gan_tools.invert(path, None, "seed", 3, None, None, 4, 1, 1e-3))
        target, best, curve, status = reports[-1]
        assert best.shape == target.shape and len(curve) >= 1 and status
    if capabilities.encoder:
        prepared, reconstruction, chart, latent_map, numbers, notes = encode.encode(
            path, None, None, "draw", sketch_of_a_one(), None)
        assert reconstruction.shape == prepared.shape and len(numbers) == latent_size(name) and notes


def check_cli(name: str, tmp_path: Path) -> None:
    """`python -m genimg train --model NAME` trains it for two steps with its recipe, and `sample` draws it."""
    out = tmp_path / "cli-run"
    size = min(registry.get(name).image_sizes)
    code = cli.main(["train", "--model", name, "--dataset", "shapes", "--data-limit", "32", "--image-size",
                     str(size), "--channels", "1", "--steps", "2", "--batch-size", "8", "--width", "8",
                     "--latent-dim", str(latent_size(name)), "--device", "cpu", "--precision", "fp32", "--out", str(out),
                     "--quiet"])
    assert code == 0
    grid = tmp_path / "grid.png"
    assert cli.main(["sample", "--checkpoint", str(out), "--seed", "1", "--n", "4", "--out", str(grid)]) == 0
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
