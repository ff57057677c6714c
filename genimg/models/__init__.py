"""Builds any genimg network from its ModelConfig; GANs are wrapped so every model has one state dict."""

from __future__ import annotations

import torch
from torch import nn

from genimg.config import ModelConfig
from genimg.models.dcgan import Discriminator, Generator
from genimg.models.seed import SeedDiscriminator, SeedGenerator, SeedVAE
from genimg.models.vae import ConvVAE, VAEBase

__all__ = ["GAN", "VAEBase", "build_model", "count_parameters"]


class GAN(nn.Module):
    """A generator and its discriminator under one module, so one checkpoint holds both."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim: int = generator.latent_dim
        self.num_classes: int = generator.num_classes

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, latent) → images (B, C, S, S) in [0, 1] (the generator's tanh output rescaled)."""
        return (self.generator(z, labels) + 1.0) * 0.5

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generate(z, labels)


def build_model(config: ModelConfig) -> GAN | VAEBase:
    """A freshly initialised network for `config`: a GAN (generator + discriminator) or a VAE.

    Every model offers `generate(z, labels) → images in [0, 1]`, `latent_dim` and `num_classes`.
    """
    sizes = dict(image_size=config.image_size, channels=config.channels, num_classes=config.num_classes,
                 width=config.width)
    if config.kind == "dcgan":
        return GAN(Generator(config.latent_dim, **sizes),
                   Discriminator(**sizes, spectral_norm=config.spectral_norm))
    if config.kind == "seed-gan":
        return GAN(SeedGenerator(config.latent_dim, **sizes),
                   SeedDiscriminator(**sizes, spectral_norm=config.spectral_norm))
    if config.kind == "vae":
        return ConvVAE(config.latent_dim, **sizes, likelihood=config.likelihood, depth=config.depth)
    if config.kind == "seed-vae":
        return SeedVAE(config.latent_dim, **sizes, likelihood=config.likelihood)
    raise ValueError(f"unknown model kind {config.kind!r}")


def count_parameters(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())
