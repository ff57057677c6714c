"""A new model kind costs one registration: a throwaway kind, written in this file alone, passes the contract
every built-in kind passes (model, catalog, Explore tabs, command line) without any other file changing."""

import pytest
import torch
from torch import nn

from genimg.config import Recipe
from genimg.models import GAN, registry
from tests.kind_contract import check_catalog, check_cli, check_explore, check_model, check_tools


class TinyGenerator(nn.Module):
    """z (B, D) [+ one-hot (B, K)] → one linear layer → tanh pixels (B, C, S, S)."""

    def __init__(self, latent_dim: int, image_size: int, channels: int, num_classes: int) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.shape = latent_dim, num_classes, (channels, image_size, image_size)
        self.layer = nn.Linear(latent_dim + num_classes, channels * image_size * image_size)

    def forward_input(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.layer(inputs)).view(-1, *self.shape)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, nn.functional.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        return self.forward_input(z)


class TinyDiscriminator(nn.Module):
    def __init__(self, image_size: int, channels: int) -> None:
        super().__init__()
        self.layer = nn.Linear(channels * image_size * image_size, 1)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.layer(images.flatten(1)).flatten()


def build_tiny(config):
    return GAN(TinyGenerator(config.latent_dim, config.image_size, config.channels, config.num_classes),
               TinyDiscriminator(config.image_size, config.channels))


TINY = registry.ModelKind(
    name="tiny-gan", family="gan", title="tiny linear GAN", build=build_tiny, image_sizes=(16, 28),
    capabilities=registry.Capabilities(discriminator=True),
    recipe=Recipe(latent_dim=4, width=8, learning_rate=1e-3, adam_beta1=0.5))


@pytest.fixture(autouse=True)
def tiny_kind():
    registry.register(TINY)
    yield TINY
    registry.unregister(TINY.name)


def test_the_kind_is_offered_while_registered_only():
    assert "tiny-gan" in registry.names()
    registry.unregister("tiny-gan")
    try:
        with pytest.raises(registry.ConfigError, match="tiny-gan.*not accepted"):
            registry.get("tiny-gan")
    finally:
        registry.register(TINY)


def test_model(tiny_kind):
    check_model(tiny_kind.name)


def test_catalog(tiny_kind, tmp_path):
    check_catalog(tiny_kind.name, tmp_path)


def test_explore(tiny_kind, tmp_path):
    check_explore(tiny_kind.name, tmp_path)


def test_tools(tiny_kind, tmp_path):
    check_tools(tiny_kind.name, tmp_path)


def test_cli(tiny_kind, tmp_path):
    check_cli(tiny_kind.name, tmp_path)
